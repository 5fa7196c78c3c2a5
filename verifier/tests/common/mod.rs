//! Support shared by the verifier's integration tests.
#![allow(dead_code)]

/// splitmix64: a deterministic stand-in for the OS random source (reproducible runs).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One opening as it goes on the wire: the spec's `Opening` of leaf `leaf` of `output`, its
/// path's node pairs in protocol form.
pub(crate) fn opening_wire(
    output: u32,
    leaf: u64,
    opening: challenges::commitment::Opening,
) -> protocol::OpeningWire {
    protocol::OpeningWire {
        output,
        leaf,
        chunk: opening.chunk,
        path: opening
            .path
            .iter()
            .map(|p| protocol::NodePair {
                left: p.left,
                right: p.right,
            })
            .collect(),
    }
}

/// The verifier's checker over the built-in modules, built once per test binary.
pub(crate) fn checker() -> &'static verifier::session::SandboxChecker {
    static CHECKER: std::sync::OnceLock<verifier::session::SandboxChecker> =
        std::sync::OnceLock::new();
    CHECKER.get_or_init(|| verifier::session::SandboxChecker::new().expect("a checker"))
}

/// A sandbox with the default limits (the miner's side), built once per test binary.
pub(crate) fn sandbox() -> &'static challenge_runtime::Sandbox {
    static SANDBOX: std::sync::OnceLock<challenge_runtime::Sandbox> = std::sync::OnceLock::new();
    SANDBOX.get_or_init(|| {
        challenge_runtime::Sandbox::new(challenge_runtime::SandboxLimits::default())
            .expect("a sandbox")
    })
}
