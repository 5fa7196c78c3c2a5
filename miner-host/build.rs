//! Records the optimisation level this crate is built with (`GPUPROOF_OPT_LEVEL`), shown in
//! `--version`: `verifier localnet` refuses a `miner-host` built at another level, whose
//! kernels would run at another speed than the `cpu-reference` calibration measured.
#![allow(missing_docs)]

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=GPUPROOF_OPT_LEVEL={level}");
    println!("cargo:rerun-if-env-changed=OPT_LEVEL");
}
