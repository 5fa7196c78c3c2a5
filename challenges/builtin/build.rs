//! Compiles the built-in challenge modules (`challenges/modules/*`) to
//! `wasm32-unknown-unknown` with a nested `cargo build --release`, so the normal workspace build
//! produces them with no manual step, and copies them into `OUT_DIR` for `include_bytes!`.
//!
//! Reproducible: the toolchain is pinned by `rust-toolchain.toml`, the modules' `Cargo.lock`
//! is committed (`--locked`), and absolute paths are remapped, so the same sources give the
//! same bytes on any machine (a test compares them with `challenges/modules/module-hashes.txt`).
#![allow(clippy::panic, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The module crates: the `members` of `challenges/modules/Cargo.toml` (the modules' own
/// workspace), each built to `<crate name with '_' for '-'>.wasm`.
fn module_files(modules: &Path) -> Vec<String> {
    let manifest = modules.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let start = text
        .find("members")
        .and_then(|i| text[i..].find('[').map(|j| i + j + 1))
        .unwrap_or_else(|| panic!("{} has no `members = [...]`", manifest.display()));
    let end = text[start..]
        .find(']')
        .map(|j| start + j)
        .unwrap_or_else(|| panic!("{}: unterminated `members`", manifest.display()));
    text[start..end]
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| m.replace('-', "_"))
        .collect()
}

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let challenges = manifest
        .parent()
        .expect("challenges/builtin has a parent")
        .to_path_buf();
    let repo = challenges
        .parent()
        .expect("challenges has a parent")
        .to_path_buf();
    let modules = challenges.join("modules");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // A target dir of their own, shared by every profile of the host build so modules are
    // compiled once; never the host's target dir (cargo's lock on it would deadlock).
    let target = repo.join("target").join("wasm-modules");

    for dir in ["src", "sdk/src", "modules"] {
        println!("cargo:rerun-if-changed={}", challenges.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        challenges.join("Cargo.toml").display()
    );

    // The pinned toolchain, not the outer one: under `cargo +nightly …` (cargo-fuzz with a
    // sanitizer, say) the outer build passes its own `RUSTC` and sets `RUSTUP_TOOLCHAIN`, and
    // the modules would be rebuilt with that toolchain into the shared `target/wasm-modules`
    // (or fail, where it lacks the wasm32 target). So the nested build runs rustup's `cargo`
    // from the repository root, where `rust-toolchain.toml` decides, with those variables
    // removed. Without rustup (no `cargo` on PATH answering `+toolchain`), the outer cargo.
    let cargo = if rustup_cargo_works(&repo) {
        "cargo".to_string()
    } else {
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
    };
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| home().join(".cargo"));
    let flags = [
        format!("--remap-path-prefix={}=/gpuproof", repo.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
        "-Clink-arg=-zstack-size=262144".to_string(),
    ]
    .join("\x1f");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-unknown-unknown",
        "--manifest-path",
    ])
    .arg(modules.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target)
    .current_dir(&repo)
    .env("CARGO_ENCODED_RUSTFLAGS", flags);
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    // Profile overrides meant for the outer build (`CARGO_PROFILE_RELEASE_OPT_LEVEL`, set by
    // `scripts/fuzz-smoke`, say) would change the modules' bytes.
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("CARGO_PROFILE_") {
            cmd.env_remove(var);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not start cargo to build the challenge modules: {e}"));
    if !status.success() {
        panic!(
            "building the challenge modules for wasm32-unknown-unknown failed (see above). If the \
             error says the target may not be installed, run `scripts/setup` (it runs `rustup \
             target add wasm32-unknown-unknown`; RUSTUP_AUTO_INSTALL=0 keeps rustup from doing it)."
        );
    }
    for file in module_files(&modules) {
        let built = target
            .join("wasm32-unknown-unknown")
            .join("release")
            .join(format!("{file}.wasm"));
        std::fs::copy(&built, out.join(format!("{file}.wasm")))
            .unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    }
}

/// Whether `cargo` on PATH is rustup's proxy, resolving the toolchain from
/// `rust-toolchain.toml` in `repo` (a plain cargo refuses the `+toolchain` argument).
fn rustup_cargo_works(repo: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(repo.join("rust-toolchain.toml")) else {
        return false;
    };
    let Some(channel) = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.split('"').nth(1))
        .next()
    else {
        return false;
    };
    Command::new("cargo")
        .arg(format!("+{channel}"))
        .arg("--version")
        .current_dir(repo)
        .env_remove("RUSTUP_TOOLCHAIN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn home() -> PathBuf {
    std::env::var("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new("/root").to_path_buf())
}
