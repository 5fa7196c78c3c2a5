//! [`Inventory`]: what a miner says it has. Claims only.
//!
//! Nothing in an inventory is trusted: names, UUIDs and memory sizes are the driver's (or the
//! miner's) word. The verifier uses them to pick the GPU class to expect and to index devices;
//! the challenges prove what is really there.

use serde::{Deserialize, Serialize};

use crate::bytes;
use crate::limits::MAX_GPUS;

/// The GPUs and host a miner claims (miner → verifier). Untrusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// One entry per GPU, as the driver reports it (at most [`MAX_GPUS`]).
    #[serde(
        serialize_with = "bytes::seq_max::serialize::<_, _, MAX_GPUS>",
        deserialize_with = "bytes::seq_max::deserialize::<_, _, MAX_GPUS>"
    )]
    pub gpus: Vec<GpuInfo>,
    /// Facts about the host machine.
    pub host: HostFacts,
}

/// One GPU as the driver reports it. Untrusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuInfo {
    /// Device index used in [`Prepare::device`](crate::Prepare::device).
    pub index: u32,
    /// Driver's product name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub name: String,
    /// Driver's UUID string, e.g. `"GPU-5c2f…"`.
    pub uuid: String,
    /// Total device memory in bytes.
    pub memory_bytes: u64,
    /// PCI bus id, e.g. `"00000000:18:00.0"`; empty for a device without one (the CPU
    /// backend).
    pub pci_bus_id: String,
    /// Current PCIe generation, if the driver reports it.
    pub pcie_gen: Option<u8>,
    /// Current PCIe link width (lanes), if the driver reports it.
    pub pcie_width: Option<u8>,
}

/// Facts about the host machine. Untrusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPU cores.
    pub cpu_cores: u32,
    /// Host memory in bytes.
    pub memory_bytes: u64,
    /// Operating system description, e.g. `"Ubuntu 22.04, Linux 6.5"`.
    pub os: String,
}

/// The form driver names are compared in: surrounding space trimmed, inner runs of white space
/// made one space, ASCII lower case, and a leading `nvidia ` dropped (older drivers report
/// `A100-SXM4-40GB` where newer ones report `NVIDIA A100-SXM4-40GB`; every leading `nvidia `,
/// so that the form is a fixed point: normalizing it again changes nothing).
pub fn normalize_driver_name(name: &str) -> String {
    let joined = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let mut rest = joined.as_str();
    while let Some(shorter) = rest.strip_prefix("nvidia ") {
        rest = shorter;
    }
    rest.to_string()
}
