//! The PCIe link of a device, as Linux reports it: `current_link_speed` and
//! `current_link_width` under `/sys/bus/pci/devices/<address>/`. The CUDA backend reads the
//! device's PCI address from the driver and its link from here (no NVML needed). Untrusted by
//! the verifier like the rest of the inventory: informational, never scored.

use std::path::Path;

/// Where Linux lists PCI devices.
pub const SYSFS_PCI_DEVICES: &str = "/sys/bus/pci/devices";

/// The current generation and width (lanes) of the PCIe link of the device at `bus_id`
/// (`DDDDDDDD:BB:DD.F` as CUDA writes it, or sysfs' `DDDD:BB:DD.F`); `None` for what cannot be
/// read.
pub fn pcie_link(bus_id: &str) -> (Option<u8>, Option<u8>) {
    pcie_link_in(Path::new(SYSFS_PCI_DEVICES), bus_id)
}

/// [`pcie_link`] under another sysfs directory (tests).
pub fn pcie_link_in(devices: &Path, bus_id: &str) -> (Option<u8>, Option<u8>) {
    let Some(address) = sysfs_address(bus_id) else {
        return (None, None);
    };
    let dir = devices.join(address);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let generation = read("current_link_speed").and_then(|s| pcie_generation(&s));
    let width = read("current_link_width").and_then(|s| s.trim().parse::<u8>().ok());
    (generation, width.filter(|w| *w > 0))
}

/// sysfs' name for a PCI address: a 4-digit domain (CUDA writes 8), lower case.
fn sysfs_address(bus_id: &str) -> Option<String> {
    let (domain, rest) = bus_id.trim().split_once(':')?;
    let domain = u32::from_str_radix(domain, 16).ok()?;
    let ok = rest.len() == 7
        && rest.chars().enumerate().all(|(i, c)| match i {
            2 => c == ':',
            5 => c == '.',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| format!("{domain:04x}:{}", rest.to_ascii_lowercase()))
}

/// The PCIe generation of a `current_link_speed` such as `16.0 GT/s PCIe` (or `8 GT/s`).
fn pcie_generation(speed: &str) -> Option<u8> {
    let rate: f64 = speed.split_whitespace().next()?.parse().ok()?;
    // Gen 1..6: 2.5, 5, 8, 16, 32, 64 GT/s.
    [2.5, 5.0, 8.0, 16.0, 32.0, 64.0]
        .iter()
        .position(|r| (rate - r).abs() < 0.1)
        .and_then(|i| u8::try_from(i + 1).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn link_speed_and_width_are_read_from_the_devices_sysfs_entry() {
        let root = std::env::temp_dir().join(format!("gpuproof-pci-{}", std::process::id()));
        let dir = root.join("0000:18:00.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("current_link_speed"), "32.0 GT/s PCIe\n").unwrap();
        std::fs::write(dir.join("current_link_width"), "16\n").unwrap();
        // CUDA's 8-digit domain and upper-case hex name the same entry.
        assert_eq!(pcie_link_in(&root, "00000000:18:00.0"), (Some(5), Some(16)));
        assert_eq!(pcie_link_in(&root, "0000:18:00.0"), (Some(5), Some(16)));
        // A link the kernel reports as down (width 0), an unknown speed, a missing entry.
        std::fs::write(dir.join("current_link_width"), "0\n").unwrap();
        std::fs::write(dir.join("current_link_speed"), "Unknown\n").unwrap();
        assert_eq!(pcie_link_in(&root, "00000000:18:00.0"), (None, None));
        assert_eq!(pcie_link_in(&root, "00000000:19:00.0"), (None, None));
        // Not an address: nothing is read, nothing outside the directory is named.
        for bad in [
            "",
            "18:00.0",
            "0000:18:00.0/../../x",
            "zz:18:00.0",
            "0000:18:00:0",
        ] {
            assert_eq!(pcie_link_in(&root, bad), (None, None), "{bad:?}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn generations_follow_the_transfer_rate() {
        for (speed, generation) in [
            ("2.5 GT/s PCIe", 1),
            ("5.0 GT/s PCIe", 2),
            ("8.0 GT/s PCIe", 3),
            ("16.0 GT/s PCIe", 4),
            ("32.0 GT/s PCIe", 5),
            ("64.0 GT/s PCIe", 6),
            ("8 GT/s", 3),
        ] {
            assert_eq!(pcie_generation(speed), Some(generation), "{speed}");
        }
        assert_eq!(pcie_generation("12.0 GT/s"), None);
    }
}
