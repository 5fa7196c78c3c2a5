//! Every limit the sandbox enforces, set in one place.

/// Limits applied to one challenge instance. Defaults suit a verifier's checks and small
/// local runs; a miner host sets `device_budget_bytes` and `host_ops_budget` from the claimed
/// device and the challenge's declared work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Largest guest linear memory, in bytes (a Rust cdylib needs ≥ 1.1 MiB for its stack).
    pub guest_memory_bytes: usize,
    /// Guest instructions allowed per call (wasmtime fuel).
    pub fuel: u64,
    /// Device memory one challenge may hold at once (live buffers plus committed outputs).
    pub device_budget_bytes: u64,
    /// Live buffers one challenge may hold at once.
    pub max_buffers: u32,
    /// Outputs one challenge may commit.
    pub max_outputs: u32,
    /// Host work one challenge may ask for, in ops (GEMM: `2·m·n·k`; fills, passes, commits:
    /// bytes touched; tile checks: `2·16·16·k`).
    pub host_ops_budget: u64,
    /// Log lines kept per instance; further ones are dropped.
    pub max_log_lines: u32,
    /// Most instances alive at once in one sandbox (the pooling allocator's slots).
    pub max_instances: u32,
    /// Compiled modules the sandbox keeps, besides the pinned ones
    /// ([`crate::Sandbox::load_pinned`]); loading one more evicts the least recently used.
    /// Bounds the memory a peer who may send modules can make the process hold.
    pub max_cached_modules: u32,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            guest_memory_bytes: 32 << 20,
            fuel: 2_000_000_000,
            device_budget_bytes: 1 << 30,
            max_buffers: 64,
            max_outputs: 4096,
            host_ops_budget: 1 << 50,
            max_log_lines: 64,
            max_instances: 64,
            max_cached_modules: 16,
        }
    }
}
