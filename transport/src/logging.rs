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

/// The status a command exits with when its reader went away: 128 + `SIGPIPE`, what a shell
/// reports for a program a pipe's end closed.
pub const BROKEN_PIPE_STATUS: i32 = 141;

/// Makes a closed standard output (`verifier status | head`) end the command quietly with
/// [`BROKEN_PIPE_STATUS`] instead of a panic message: Rust ignores `SIGPIPE`, so `println!`
/// to a closed pipe panics. Any other panic is reported as before. Call once, first thing in
/// `main`.
pub fn quiet_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_broken_pipe(message) {
            std::process::exit(BROKEN_PIPE_STATUS);
        }
        previous(info);
    }));
}

/// Whether a panic message is the standard library's for printing to a closed pipe
/// (`failed printing to stdout: Broken pipe (os error 32)`).
fn is_broken_pipe(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_closed_pipe_message_is_quiet() {
        assert!(is_broken_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(is_broken_pipe(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe("index out of bounds"));
        assert!(!is_broken_pipe(
            "failed printing to stdout: No space left on device"
        ));
    }
}
