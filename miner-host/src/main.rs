//! `miner-host`: the miner's side of gpuproof. The commands live in `cli/`, one file each:
//! `serve` answers validators' challenges over QUIC; `keygen` writes the session key;
//! `run-local` runs one challenge module in the sandbox on this machine and checks openings as
//! a verifier would; `bench` measures a device's throughput for the class table; `doctor`
//! checks a miner.toml from the inside; `completions` and `man` document the CLI.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    transport::logging::quiet_broken_pipe();
    match cli::run(cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
