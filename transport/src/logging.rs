//! Logging setup shared by both binaries: `tracing` to stderr, filtered by `GPUPROOF_LOG`
//! (`info` by default; e.g. `GPUPROOF_LOG=debug` or `GPUPROOF_LOG=miner_host=debug,warn`), as
//! text or as one JSON object per line.

/// Installs the global subscriber. Call once, at the start of a command; a second call is
/// ignored.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GPUPROOF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
