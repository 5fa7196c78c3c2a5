//! Writes the seed corpora of the gpuproof fuzz targets into `fuzz/seeds/<target>/`: real
//! frames of every message kind, real params, ABI records, openings, the built-in modules,
//! call programs, the example config files and the class table. Deterministic; rerun after a
//! format change with
//! `cargo run --manifest-path fuzz/seedgen/Cargo.toml` (from the repository root).

use std::fs;
use std::path::{Path, PathBuf};

use challenges::abi::{CheckRequest, WorkRecord};
use challenges::commitment::OutputTree;
use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use protocol::ed25519_dalek::SigningKey;
use protocol::*;

type Res = Result<(), Box<dyn std::error::Error>>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(target: &str, name: &str, bytes: &[u8]) -> Res {
    let dir = repo().join("fuzz/seeds").join(target);
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn copy(target: &str, name: &str, from: &str) -> Res {
    write(target, name, &fs::read(repo().join(from))?)
}

fn messages() -> Result<Vec<(&'static str, Message)>, Box<dyn std::error::Error>> {
    let key = SigningKey::from_bytes(&[7; 32]);
    let prepare = Prepare {
        protocol_version: PROTOCOL_VERSION,
        abi_version: ABI_VERSION,
        challenge_id: ChallengeId::new([1; 16]),
        validator: Hotkey::new([2; 32]),
        miner: Hotkey::new([3; 32]),
        module_hash: ModuleHash::new([4; 32]),
        module_bytes: None,
        params: MatmulParams { m: 16, n: 16, k: 16, count: 1 }.encode().to_vec(),
        device: 0,
        expires_at_ms: 1_700_000_000_000,
    };
    let go = Go {
        challenge_id: ChallengeId::new([1; 16]),
        prepare: Digest::new([5; 32]),
        nonce: Nonce::new([6; 32]),
    };
    let commitment = Commitment {
        challenge: Digest::new([5; 32]),
        roots: vec![Root::new([8; 32]), Root::new([9; 32])],
        timings: MinerTimings { total_ms: 40, fill_ms: 10, compute_ms: 20, hash_ms: 10 },
    };
    let output: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let tree = OutputTree::new(&output);
    let opening = tree.open(&output, 1)?;
    let openings = Openings {
        challenge: Digest::new([5; 32]),
        openings: vec![OpeningWire {
            output: 0,
            leaf: 1,
            chunk: opening.chunk,
            path: opening
                .path
                .iter()
                .map(|p| NodePair { left: p.left, right: p.right })
                .collect(),
        }],
    };
    Ok(vec![
        ("hello", Message::Hello(Hello {
            protocol_versions: vec![PROTOCOL_VERSION],
            abi_versions: vec![ABI_VERSION],
            role: Role::Validator,
        })),
        ("inventory", Message::Inventory(Inventory {
            gpus: vec![GpuInfo {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                uuid: "GPU-0000".into(),
                memory_bytes: 85_520_809_984,
                pci_bus_id: "00000000:01:00.0".into(),
                pcie_gen: Some(5),
                pcie_width: Some(16),
            }],
            host: HostFacts {
                cpu_model: "cpu".into(),
                cpu_cores: 16,
                memory_bytes: 1 << 37,
                os: "linux".into(),
            },
        })),
        ("prepare", Message::Prepare(Signed::sign(&key, &prepare)?)),
        ("ready", Message::Ready(Ready {
            challenge_id: ChallengeId::new([1; 16]),
            prepare: Digest::new([5; 32]),
        })),
        ("go", Message::Go(Signed::sign(&key, &go)?)),
        ("commitment", Message::Commitment(Signed::sign(&key, &commitment)?)),
        ("open", Message::Open(Open {
            challenge: Digest::new([5; 32]),
            leaves: vec![LeafRef { output: 0, leaf: 1 }, LeafRef { output: 1, leaf: 0 }],
        })),
        ("openings", Message::Openings(openings)),
        ("probe_request", Message::ProbeRequest(ProbeRequest {
            direction: ProbeDirection::VerifierToMiner,
            bytes: 1 << 20,
            streams: 4,
            seed: Nonce::new([10; 32]),
        })),
        ("probe_chunk", Message::ProbeChunk(ProbeChunk { offset: 0, data: vec![0xab; 64] })),
        ("error", Message::Error(ErrorMsg::new(ErrorCode::RateLimited, "slow down"))),
        ("certificate", Message::Certificate(SessionCertificate {
            role: Role::Miner,
            session_key: SessionKey::of(&key),
            hotkey: Hotkey::new([3; 32]),
            not_after_ms: 1_700_000_000_000,
            signature: [11; 64],
        })),
        ("ping", Message::Ping(Ping { seq: 1 })),
        ("pong", Message::Pong(Pong { seq: 1 })),
        ("probe_ticket", Message::ProbeTicket(ProbeTicket {
            port: 8091,
            tokens: vec![Nonce::new([12; 32]), Nonce::new([13; 32])],
        })),
    ])
}

/// `frame_decode`: each kind as a stream fed in 16-byte pieces (selector 16), each payload in
/// direct mode (selector `2·kind_index + 1`), and one stream of several frames (selector 3·2).
fn frame_seeds() -> Res {
    let all = messages()?;
    let mut stream = vec![6u8];
    for (i, (name, message)) in all.iter().enumerate() {
        let frame = message.encode()?;
        let mut seed = vec![16u8];
        seed.extend_from_slice(&frame);
        write("frame_decode", &format!("stream-{name}"), &seed)?;
        let mut direct = vec![2 * i as u8 + 1];
        direct.extend_from_slice(&message.encode_payload()?);
        write("frame_decode", &format!("payload-{name}"), &direct)?;
        if matches!(*name, "hello" | "certificate" | "ping" | "probe_ticket") {
            stream.extend_from_slice(&frame);
        }
    }
    write("frame_decode", "stream-handshake", &stream)
}

fn params_seeds() -> Res {
    let matmul = MatmulParams { m: 16, n: 16, k: 16, count: 1 };
    let membw = MembwParams { bytes: 256, group: 128, rounds: 0, passes: 1 };
    write("params_decode", "matmul", &matmul.encode())?;
    write("params_decode", "membw", &membw.encode())?;
    let work = WorkRecord::from_work(&challenges::matmul::work(&matmul));
    write("params_decode", "work-record-matmul", &work.encode())?;
    let work = WorkRecord::from_work(&challenges::membw::work(&membw));
    write("params_decode", "work-record-membw", &work.encode())?;
    let request = CheckRequest { output: 0, leaf: 3, samples: 4, salt: [9; 32], chunk: &[1; 64] };
    write("params_decode", "check-request", &request.encode())
}

/// `opening_verify`: true openings in the target's layout (`len/16` u16 LE, leaf, byte
/// multiplier, split/8, 4 spare bytes, then chunk ‖ path).
fn opening_seeds() -> Res {
    for (units, leaf, mult) in [(64u16, 0u8, 1u8), (128, 1, 3), (640, 7, 5), (641, 10, 7)] {
        let len = u64::from(units) * 16;
        let output: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(mult | 1)).collect();
        let tree = OutputTree::new(&output);
        let opening = tree.open(&output, u64::from(leaf))?;
        let split = opening.chunk.len();
        let mut seed = units.to_le_bytes().to_vec();
        seed.extend_from_slice(&[leaf, mult, (split / 8) as u8, 0, 0, 0, 0]);
        seed.extend_from_slice(&opening.chunk);
        for p in &opening.path {
            seed.extend_from_slice(&p.left);
            seed.extend_from_slice(&p.right);
        }
        // The target splits at `head[4]·8 mod (rest + 1)`, so this only lands on the chunk
        // boundary when the chunk is a multiple of 8 bytes and under 2 KiB: true here.
        write("opening_verify", &format!("open-{len}-{leaf}"), &seed)?;
    }
    Ok(())
}

fn module_seeds() -> Res {
    for m in builtin_modules::ALL {
        write("sandbox_load", &format!("{}.wasm", m.name), m.bytes)?;
    }
    write("sandbox_load", "empty.wasm", b"\0asm\x01\0\0\0")
}

/// `sandbox_smith`: the generator reads any bytes; a few deterministic blobs of each size.
fn smith_seeds() -> Res {
    for len in [64usize, 512, 2048, 4096] {
        let mut out = vec![0u8; len];
        let mut xof = blake3::Hasher::new_derive_key("gpuproof fuzz smith seed").finalize_xof();
        xof.fill(&mut out);
        write("sandbox_smith", &format!("blob-{len}"), &out)?;
    }
    Ok(())
}

/// `abi_calls`: programs in `gpuproof_fuzz::decode_program`'s byte format. Import indices:
/// 0 abi_version, 1 device_info, 2 alloc, 3 free, 4 prf_fill, 5 gemm_i8, 6 membw_fill,
/// 7 membw_pass, 8 commit, 9 root, 10 philox_key, 11 sync, 12 log, 13 tile_i8, 14 membw_output.
/// Argument selectors: `0 i` listed value `i`, `1` last result, `2 ..` raw LE, `3 v` small `v`.
fn abi_seeds() -> Res {
    let small = |v: u8| [3u8, v];
    let raw64 = |v: i64| {
        let mut out = vec![2u8];
        out.extend_from_slice(&v.to_le_bytes());
        out
    };
    let raw32 = |v: i32| {
        let mut out = vec![2u8];
        out.extend_from_slice(&v.to_le_bytes());
        out
    };
    let last = [1u8];
    // alloc(1024) → prf_fill(h, 0, 1024, 0, 0, 0) → commit(h) → root(0, 1024) → sync.
    let mut fill_commit = vec![2];
    fill_commit.extend(raw64(1024));
    fill_commit.push(4);
    fill_commit.extend(last);
    fill_commit.extend(raw64(0));
    fill_commit.extend(raw64(1024));
    fill_commit.extend(raw64(0));
    fill_commit.extend(small(0));
    fill_commit.extend(raw64(0));
    fill_commit.push(8);
    fill_commit.extend(small(1));
    fill_commit.push(9);
    fill_commit.extend(small(0));
    fill_commit.extend(raw32(1024));
    fill_commit.push(11);
    write("abi_calls", "fill-commit-root", &fill_commit)?;
    // Three buffers (256, 256, 1024) → gemm_i8(1, 2, 3, 16, 16, 16) → commit(3).
    let mut gemm = Vec::new();
    for bytes in [256i64, 256, 1024] {
        gemm.push(2);
        gemm.extend(raw64(bytes));
    }
    gemm.push(5);
    for v in [1u8, 2, 3, 16, 16, 16] {
        gemm.extend(small(v));
    }
    gemm.push(8);
    gemm.extend(small(3));
    write("abi_calls", "gemm", &gemm)?;
    // alloc(256) → membw_fill(1, 0, 0) → alloc(16) → membw_pass(1, 2, 128, 0, key, 32)
    // (the module keeps 32 key bytes at 512 and membw params at 256) → commit(2).
    let mut membw = vec![2];
    membw.extend(raw64(256));
    membw.push(6);
    membw.extend(small(1));
    membw.extend(raw64(0));
    membw.extend(small(0));
    membw.push(2);
    membw.extend(raw64(16));
    membw.push(7);
    membw.extend(small(1));
    membw.extend(small(2));
    membw.extend(raw32(128));
    membw.extend(small(0));
    membw.extend(raw32(512));
    membw.extend(small(32));
    membw.push(8);
    membw.extend(small(2));
    write("abi_calls", "membw", &membw)?;
    // Check side: tile_i8(1024, 0, 0, 1, 16, 16, 0, 0), membw_output(1024, 0, 256, 20, 0,
    // 512, 32, 1), philox_key(0, 1024), device_info(1024), log(512, 32), abi_version.
    let mut check = vec![13];
    check.extend(raw32(1024));
    check.extend(raw64(0));
    for v in [0u8, 1, 16, 16, 0, 0] {
        check.extend(small(v));
    }
    check.push(14);
    check.extend(raw32(1024));
    check.extend(raw64(0));
    check.extend(raw32(256));
    check.extend(small(20));
    check.extend(small(0));
    check.extend(raw32(512));
    check.extend(small(32));
    check.extend(raw64(1));
    check.push(10);
    check.extend(raw64(0));
    check.extend(raw32(1024));
    check.push(1);
    check.extend(raw32(1024));
    check.push(12);
    check.extend(raw32(512));
    check.extend(small(32));
    check.push(0);
    write("abi_calls", "check-side", &check)?;
    // Handles freed twice, a forged handle, extremes.
    let mut bad = vec![2];
    bad.extend(raw64(64));
    bad.push(3);
    bad.extend(small(1));
    bad.push(3);
    bad.extend(small(1));
    bad.push(8);
    bad.extend(raw32(i32::MAX));
    bad.push(2);
    bad.extend(raw64(i64::MAX));
    bad.push(4);
    bad.extend(small(2));
    bad.extend(raw64(i64::MAX));
    bad.extend(raw64(i64::MAX));
    bad.extend(raw64(-1));
    bad.extend(raw32(-1));
    bad.extend(raw64(i64::MAX));
    write("abi_calls", "bad-handles-extremes", &bad)
}

fn text_seeds() -> Res {
    copy("yuma_scenario", "example.json", "chain/examples/scenario.json")?;
    write(
        "yuma_scenario",
        "defaults.json",
        br#"{"n": 3, "stakes": [10, 5, 0], "emission": 1000, "epochs": [{"set_weights": [{"uid": 0, "dests": [2], "weights": [1]}, {"uid": 1, "dests": [1, 2], "weights": [3, 65535]}]}, {}, {"set_weights": [{"uid": 2, "dests": [2], "weights": [7]}]}]}"#,
    )?;
    write(
        "yuma_scenario",
        "yuma2-no-liquid.json",
        br#"{"n": 4, "stakes": [1000000, 1, 0, 0], "emission": 18446744073709551615, "hyperparameters": {"yuma3": false, "liquid_alpha": false, "kappa": 65535, "bonds_penalty": 65535, "bonds_moving_average": 0, "max_allowed_validators": 1, "activity_cutoff": 1, "stake_threshold": 0}, "epochs": [{"set_weights": [{"uid": 0, "dests": [1, 2, 3], "weights": [0, 0, 0]}]}, {}, {}]}"#,
    )?;

    copy("miner_config", "example.toml", "miner-host/miner.example.toml")?;
    let example = fs::read_to_string(repo().join("miner-host/miner.example.toml"))?;
    let with_chain = example
        .replace("# [chain]", "[chain]")
        .replace("# url", "url")
        .replace("# netuid", "netuid")
        .replace("# external_addr", "external_addr")
        .replace("# refresh_s", "refresh_s");
    write("miner_config", "example-chain.toml", with_chain.as_bytes())?;
    write(
        "miner_config",
        "minimal.toml",
        b"listen = \"198.51.100.4:9000\"\n[hotkey]\nuri = \"//Bob\"\n[access]\nallow = [\"*\"]\n[limits]\nmessage_timeout_s = 60\ncertificate_validity_h = 24\n",
    )?;

    copy("validator_config", "example.toml", "verifier/validator.example.toml")?;
    write(
        "validator_config",
        "static.toml",
        br#"[hotkey]
uri = "//Alice"
[miners]
source = "static"
static = [{ hotkey = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", addr = "127.0.0.1:8091", uid = 1 }]
[round]
interval_s = 60
openings = 8
target_scale = 0.01
[metrics]
listen = ""
"#,
    )?;
    write(
        "validator_config",
        "env-overrides.toml",
        br#"#!env GPUPROOF_VALIDATOR_CHAIN_URL=ws://127.0.0.1:9944
#!env GPUPROOF_VALIDATOR_NETUID=51
#!env GPUPROOF_VALIDATOR_ROUND_INTERVAL_S=30
#!env GPUPROOF_VALIDATOR_METRICS_LISTEN=127.0.0.1:9465
#!env GPUPROOF_VALIDATOR_STORE=/var/lib/validator.sqlite
[hotkey]
uri = "//Alice"
[miners]
source = "static"
static = [{ hotkey = "0x0101010101010101010101010101010101010101010101010101010101010101", addr = "[::1]:8091" }]
[round]
target_scale = 2.5
"#,
    )?;

    copy("class_table", "classes.toml", "verifier/classes.toml")?;
    // The same table without its comment lines, and its first class alone.
    let table = fs::read_to_string(repo().join("verifier/classes.toml"))?;
    let bare: String = table
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    write("class_table", "classes-bare.toml", bare.as_bytes())?;
    let mut blocks = bare.split("[[class]]");
    let head = blocks.next().unwrap_or_default();
    let first = blocks.next().unwrap_or_default();
    write("class_table", "one-class.toml", format!("{head}[[class]]{first}").as_bytes())?;
    let cpu = bare
        .split("[[class]]")
        .find(|b| b.contains("kind = \"cpu\""))
        .unwrap_or_default();
    write("class_table", "cpu-class.toml", format!("{head}[[class]]{cpu}").as_bytes())
}

fn main() -> Res {
    frame_seeds()?;
    params_seeds()?;
    opening_seeds()?;
    module_seeds()?;
    smith_seeds()?;
    abi_seeds()?;
    text_seeds()?;
    println!("seeds written under {}", repo().join("fuzz/seeds").display());
    Ok(())
}
