//! `miner-host keygen`: a fresh session key file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `miner-host keygen`.
#[derive(Args)]
pub(super) struct KeygenArgs {
    /// Where to write it.
    #[arg(long, default_value = "miner-session.key")]
    out: PathBuf,
    /// Replace an existing file (the old key is lost).
    #[arg(long)]
    force: bool,
}

pub(super) fn run(args: &KeygenArgs) -> Result<()> {
    let key = transport::identity::keygen(&args.out, args.force)?;
    println!(
        "wrote {} (mode 0600); session public key {key}",
        args.out.display()
    );
    Ok(())
}
