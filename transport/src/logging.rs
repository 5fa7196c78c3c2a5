//! Logging setup shared by both binaries: `tracing` to stderr, filtered by `GPUPROOF_LOG`
//! (`info` by default; e.g. `GPUPROOF_LOG=debug` or `GPUPROOF_LOG=miner_host=debug,warn`), as
//! text with the local date and time (`2026-12-05 20:14:03.512 +01:00`), or as one JSON
//! object per line (RFC 3339 UTC timestamps, for machines).

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The local date and time, with its UTC offset, to the millisecond.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTime;

impl FormatTime for LocalTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = jiff::Zoned::now();
        write!(w, "{}", now.strftime("%Y-%m-%d %H:%M:%S%.3f %:z"))
    }
}

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
        builder.with_timer(LocalTime).try_init()
    };
}
