//! Shared harness of the loopback tests (`adversaries.rs`, `scale.rs`): start a real
//! `miner-host` QUIC server on 127.0.0.1 with CPU devices and, optionally, an [`Adversary`];
//! build a verifier [`ClientContext`] (real endpoint, real sandbox checker) around a
//! [`FixedPlanner`]; read the verdicts out of a [`MinerReport`].
//!
//! [`FixedPlanner`] is a test *configuration*, not a mock: it gives fixed, valid params and an
//! explicit timing envelope per claimed device name, so each test states the window it judges
//! by. Everything else is the production code: miner server, sandbox, CPU backend, QUIC, TLS,
//! certificates, the verifier's session machine and its checker.
//!
//! Lives under `tests/tests/` (each test binary does `mod harness;`) so that the crate keeps
//! dev-dependencies only.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use builtin_modules::Builtin;
use challenge_runtime::cpu::{CpuBackend, CpuConfig};
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use miner_host::serve::{Adversary, ServeLimits, ServerHandle, ServerSettings};
use protocol::ed25519_dalek::SigningKey;
use protocol::{GpuInfo, Hotkey, Role};
use subxt_signer::sr25519::Keypair;
use transport::{AllowList, ConnectionLimits, Identity};
use verifier::client::{
    ChallengeOptions, ClientContext, MinerReport, MinerTarget, PlanError, Planned, Planner,
    ProbeSettings,
};
use verifier::session::{Envelope, SandboxChecker, Verdict};

pub use builtin_modules::{MATMUL_I8, MEMBW};

/// Validity of every certificate the tests issue.
pub const VALIDITY: Duration = Duration::from_secs(3600);

/// Timing-sensitive tests take this for writing (nothing else of the same binary runs beside
/// them); every other CPU-using test takes it for reading.
pub static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A fresh ed25519 session key (deterministic per process and call: tests need no secrecy).
pub fn session_key() -> SigningKey {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut seed = [0x5a; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    seed[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    SigningKey::from_bytes(&seed)
}

/// The validator's sr25519 hotkey (`//Alice`).
pub fn validator_hotkey() -> Keypair {
    subxt_signer::sr25519::dev::alice()
}

/// A miner hotkey, one per `n` (an sr25519 key from the 32-byte seed `[n+1; 32]`).
pub fn miner_hotkey(n: u8) -> Keypair {
    Keypair::from_secret_key([n.wrapping_add(1); 32]).unwrap()
}

/// The [`Hotkey`] of a keypair.
pub fn hotkey(keypair: &Keypair) -> Hotkey {
    transport::identity::hotkey_of(keypair)
}

/// The one verifier-side checker of this test process (compiling the built-in modules once).
pub fn checker() -> Arc<SandboxChecker> {
    static CHECKER: OnceLock<Arc<SandboxChecker>> = OnceLock::new();
    Arc::clone(CHECKER.get_or_init(|| Arc::new(SandboxChecker::with_builtins().unwrap())))
}

/// How to start one miner.
pub struct MinerSpec {
    /// CPU devices offered.
    pub devices: u32,
    /// Threads of each device (1 = a `cpu-reference` device).
    pub threads_per_device: usize,
    /// Memory each device reports.
    pub memory_bytes: u64,
    /// How it cheats, if it does.
    pub adversary: Option<Adversary>,
    /// Its hotkey.
    pub hotkey: Keypair,
    /// Validators served (default: the test validator).
    pub allow: Vec<Hotkey>,
    /// Server limits.
    pub limits: ServeLimits,
    /// Its identity, when a test forges one (default: a fresh key certified by `hotkey`).
    pub identity: Option<Identity>,
}

impl MinerSpec {
    /// An honest miner `n` with `devices` one-thread CPU devices, serving the test validator.
    pub fn honest(n: u8, devices: u32) -> Self {
        Self {
            devices,
            threads_per_device: 1,
            memory_bytes: 256 << 20,
            adversary: None,
            hotkey: miner_hotkey(n),
            allow: vec![hotkey(&validator_hotkey())],
            limits: ServeLimits::default(),
            identity: None,
        }
    }

    /// Miner `n` with one device, cheating as `adversary`.
    pub fn cheating(n: u8, adversary: Adversary) -> Self {
        Self {
            adversary: Some(adversary),
            ..Self::honest(n, 1)
        }
    }
}

/// A running miner.
pub struct Miner {
    /// The server.
    pub handle: ServerHandle,
    /// Its hotkey.
    pub hotkey: Hotkey,
}

impl Miner {
    /// The target a verifier challenges (with the expected hotkey, not rented).
    pub fn target(&self) -> MinerTarget {
        MinerTarget {
            addr: self.handle.addr,
            hotkey: Some(self.hotkey),
            rented: false,
            proven_only: None,
            probe_share: None,
        }
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.shutdown().await;
    }
}

/// Starts a miner on 127.0.0.1 (any free port) on the current tokio runtime.
pub fn start_miner(spec: MinerSpec) -> Miner {
    let backend = CpuBackend::new(CpuConfig {
        devices: spec.devices,
        threads_per_device: spec.threads_per_device,
        memory_bytes: spec.memory_bytes,
    })
    .unwrap();
    let identity = spec
        .identity
        .unwrap_or_else(|| Identity::issue(session_key(), &spec.hotkey, Role::Miner, VALIDITY));
    let handle = miner_host::serve::start(ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        identity,
        backend: Arc::new(backend),
        allow: Arc::new(RwLock::new(AllowList::of(spec.allow))),
        limits: spec.limits,
        adversary: spec.adversary,
    })
    .unwrap();
    Miner {
        handle,
        hotkey: hotkey(&spec.hotkey),
    }
}

/// Params and envelope of one claimed device name.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// `matmul-i8` params.
    pub matmul: MatmulParams,
    /// `membw` params.
    pub membw: MembwParams,
    /// The window both modules are judged by.
    pub envelope: Envelope,
}

/// A window: faster than `peak_floor_s` is `too-fast`, slower than `max_s` is `too-slow`.
pub fn window(peak_floor_s: f64, max_s: f64) -> Envelope {
    Envelope {
        min_s: peak_floor_s,
        max_s,
        peak_floor_s,
    }
}

/// `matmul-i8` with `M = N = 32`: 4 tiles, i.e. 4 leaves per product.
pub const TINY_MATMUL: MatmulParams = MatmulParams {
    m: 32,
    n: 32,
    k: 64,
    count: 1,
};

/// `membw` over 64 KiB (64 groups of 1 KiB, one leaf per pass), 2 passes.
pub const TINY_MEMBW: MembwParams = MembwParams {
    bytes: 64 << 10,
    group: 1024,
    rounds: 1,
    passes: 2,
};

/// A planner with fixed params and an explicit envelope per claimed device name (a test
/// configuration; see the module docs). Unknown names cannot be planned.
#[derive(Debug, Clone, Default)]
pub struct FixedPlanner {
    classes: HashMap<String, Profile>,
}

impl FixedPlanner {
    /// No class yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Devices claiming `name` get `profile`.
    pub fn with(mut self, name: &str, profile: Profile) -> Self {
        self.classes.insert(name.to_string(), profile);
        self
    }
}

impl Planner for FixedPlanner {
    fn plan(&self, gpu: &GpuInfo, module: Builtin, _rented: bool) -> Result<Planned, PlanError> {
        let profile = self
            .classes
            .get(&gpu.name)
            .ok_or_else(|| PlanError::UnknownDevice {
                name: gpu.name.clone(),
            })?;
        let params = match module.name {
            "matmul-i8" => profile.matmul.encode().to_vec(),
            "membw" => profile.membw.encode().to_vec(),
            other => return Err(PlanError::NoSuchModule { module: other }),
        };
        // membw has two interactive phases (the fill, then the passes): each is judged on
        // the profile's window too.
        let phases = if module.name == "membw" {
            challenges::membw::PHASES as usize
        } else {
            0
        };
        Ok(Planned {
            module,
            params,
            envelope: profile.envelope,
            phase_envelopes: vec![profile.envelope; phases],
            class: gpu.name.clone(),
            cpu_rates: None,
        })
    }
}

/// Options for fast tests: no bandwidth probe, 3 pings, short timeouts, `modules` only.
pub fn options(modules: &[Builtin]) -> ChallengeOptions {
    ChallengeOptions {
        pings: 3,
        probe: ProbeSettings {
            max_bytes: 0,
            ..ProbeSettings::default()
        },
        connect_timeout: Duration::from_secs(10),
        miner_timeout: Duration::from_secs(60),
        ready_timeout: Duration::from_secs(20),
        openings_timeout: Duration::from_secs(10),
        ping_timeout: Duration::from_secs(2),
        modules: modules.to_vec(),
        ..ChallengeOptions::default()
    }
}

/// A validator (hotkey `//Alice`) with a client endpoint on the current tokio runtime.
pub fn validator(planner: impl Planner + 'static, options: ChallengeOptions) -> ClientContext {
    validator_with(
        Identity::issue(
            session_key(),
            &validator_hotkey(),
            Role::Validator,
            VALIDITY,
        ),
        planner,
        options,
    )
}

/// A validator with the given identity.
pub fn validator_with(
    identity: Identity,
    planner: impl Planner + 'static,
    options: ChallengeOptions,
) -> ClientContext {
    let endpoint = transport::client_endpoint(
        "127.0.0.1:0".parse().unwrap(),
        identity.signing_key(),
        &ConnectionLimits::default(),
    )
    .unwrap();
    ClientContext {
        identity,
        endpoint,
        checker: checker(),
        planner: Arc::new(planner),
        options,
    }
}

/// The verdict of `module` on device `device`, or a panic that prints the whole report.
pub fn verdict<'a>(report: &'a MinerReport, device: u32, module: &str) -> &'a Verdict {
    report
        .devices
        .iter()
        .find(|d| d.index == device)
        .and_then(|d| d.challenges.iter().find(|c| c.module == module))
        .and_then(|c| c.verdict.as_ref())
        .unwrap_or_else(|| {
            panic!(
                "no verdict for device {device} / {module}: {}",
                describe(report)
            )
        })
}

/// The report as JSON, for failure messages.
pub fn describe(report: &MinerReport) -> String {
    serde_json::to_string(report).unwrap_or_else(|e| format!("(unprintable: {e})"))
}

/// The measured time of a verdict that has one.
pub fn measured_s(verdict: &Verdict) -> f64 {
    verdict.timing().map_or(f64::NAN, |t| t.measured_s)
}

/// Caches both built-in modules in `miner`'s sandbox: one `Prepare` with the module bytes per
/// module (tiny params, device 0), each abandoned after `Ready`.
///
/// Works around a race in `miner-host` (see `tests/README.md`): a fresh miner answers the
/// verifier's first `Prepare` (without bytes) with `unknown-module` *before* releasing the
/// device it reserved for it, and the verifier's immediate retry with the bytes can find the
/// device still reserved (`busy-device`, a `protocol-error` charged to an honest miner). With
/// the modules cached, the verifier's first `Prepare` is accepted and there is no retry.
pub async fn preload_modules(miner: &Miner) {
    use protocol::{ChallengeId, Message, MessageKind, ModuleHash, Prepare, Signed};
    use transport::FramedStream;
    let wait = Duration::from_secs(20);
    let identity = Identity::issue(
        session_key(),
        &validator_hotkey(),
        Role::Validator,
        VALIDITY,
    );
    let endpoint = transport::client_endpoint(
        miner.handle.addr,
        identity.signing_key(),
        &ConnectionLimits::default(),
    )
    .unwrap();
    let connection = transport::connect(&endpoint, miner.handle.addr, wait)
        .await
        .unwrap();
    let mut control = FramedStream::open(&connection).await.unwrap();
    let (peer, _) = transport::client_handshake(
        &connection,
        &mut control,
        &identity,
        Some(&miner.hotkey),
        wait,
    )
    .await
    .unwrap();
    for (i, (module, params)) in [
        (MATMUL_I8, TINY_MATMUL.encode().to_vec()),
        (MEMBW, TINY_MEMBW.encode().to_vec()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut id = [0xee; 16];
        id[0] = u8::try_from(i).unwrap();
        let prepare = Prepare {
            protocol_version: peer.versions.protocol_version,
            abi_version: peer.versions.abi_version,
            challenge_id: ChallengeId::new(id),
            validator: identity.hotkey(),
            miner: peer.hotkey,
            module_hash: ModuleHash::new(module.hash()),
            module_bytes: Some(module.bytes.to_vec()),
            params,
            device: 0,
            expires_at_ms: transport::identity::unix_ms_now() + 60_000,
        };
        let signed = Signed::sign(identity.signing_key(), &prepare).unwrap();
        let mut stream = FramedStream::open(&connection).await.unwrap();
        stream.send(&Message::Prepare(signed)).await.unwrap();
        stream.expect(MessageKind::Ready, wait).await.unwrap();
        // Abandon it: the miner's wait for `Go` ends and the device is released.
        stream.reset(0);
        // Let the miner's task see the reset before the next Prepare for device 0.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    connection.close(quinn::VarInt::from_u32(0), b"modules loaded");
    endpoint.wait_idle().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}
