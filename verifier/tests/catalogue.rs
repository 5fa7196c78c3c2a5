//! The catalogue of a real local network (`verifier localnet --catalogue ADDR --receipts DIR`,
//! real `miner-host` processes, one cheater): its JSON matches `verifier/catalogue.schema.json`
//! (checked by the small checker below: the schema's keywords only) and the store; its page,
//! loaded in headless Chromium, lists every machine with the figures the store holds, sorted
//! as asked; the run's receipts were written and hold; Ctrl-C stops it.
//!
//! Without Chromium the browser test prints "skipped: no Chromium" on stderr (run
//! `scripts/install-chromium`); with `GPUPROOF_CI=1` it fails instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod process;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use process::miner_host_bin;
use serde_json::Value;
use validator_store::Store;
use verifier::localnet::TempDir;

/// One local network at a time: each is timing-sensitive (`cpu-reference` devices).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running `verifier localnet --catalogue`, stopped (Ctrl-C) on drop.
struct Localnet {
    child: Child,
    addr: SocketAddr,
    store: PathBuf,
    receipts: TempDir,
}

impl Localnet {
    /// 3 miners (one cheating), 2 rounds, 1 validator; waits until the catalogue is up.
    fn start() -> Self {
        let receipts = TempDir::new("catalogue-receipts").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_verifier"))
            .args([
                "localnet",
                "--miners",
                "3",
                "--cheaters",
                "1",
                "--seed",
                "7",
                "--rounds",
                "2",
                "--validators",
                "1",
                "--probe-mib",
                "0",
                "--min-link-mbps",
                "0",
                "--catalogue",
                "127.0.0.1:0",
                "--receipts",
            ])
            .arg(receipts.path())
            .arg("--miner-host")
            .arg(miner_host_bin())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let line = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("catalogue at http://") => break line,
                Some(Ok(_)) => {}
                _ => panic!("localnet ended before serving its catalogue"),
            }
        };
        // Keep draining stderr so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .parse()
            .unwrap();
        let store = line
            .split("store ")
            .nth(1)
            .and_then(|r| r.split("; JSON").next())
            .map(PathBuf::from)
            .unwrap();
        Self {
            child,
            addr,
            store,
            receipts,
        }
    }

    /// Ctrl-C, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "localnet did not stop on Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 request: the status line and the body.
fn http(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&out[..split])
        .lines()
        .next()
        .unwrap()
        .to_string();
    (status, out[split + 4..].to_vec())
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(
        status,
        "HTTP/1.1 200 OK",
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

// ---- the schema checker ---------------------------------------------------------------------

/// Checks `value` against `schema` (resolving `$ref`s in `root`): `type` (a name or a list of
/// names), `enum`, `minimum`, `properties`, `required`, `additionalProperties` (false or a
/// schema), `items`. Any other keyword in the schema fails the check, so the schema cannot
/// say more than this checks. Returns every violation with its JSON path.
fn check_schema(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("only #/$defs refs");
            &root["$defs"][name]
        }
        None => schema,
    };
    let object = schema.as_object().expect("a schema is an object");
    for key in object.keys() {
        let known = [
            "$schema",
            "$id",
            "$defs",
            "$ref",
            "title",
            "description",
            "type",
            "enum",
            "minimum",
            "properties",
            "required",
            "additionalProperties",
            "items",
        ];
        assert!(
            known.contains(&key.as_str()),
            "the checker does not know `{key}`"
        );
    }
    if let Some(types) = schema.get("type") {
        let names: Vec<&str> = match types {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
            _ => panic!("bad type keyword"),
        };
        let fits = |name: &str| match name {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            other => panic!("unknown type {other}"),
        };
        if !names.iter().any(|n| fits(n)) {
            errors.push(format!("{at}: {value} is not {names:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(min), Some(x)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && x < min
    {
        errors.push(format!("{at}: {x} < minimum {min}"));
    }
    if let Some(fields) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !fields.contains_key(name.as_str().unwrap()) {
                errors.push(format!("{at}: missing {name}"));
            }
        }
        for (name, v) in fields {
            let path = format!("{at}.{name}");
            match (
                properties.and_then(|p| p.get(name)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => check_schema(root, s, v, &path, errors),
                (None, Some(Value::Bool(false))) => errors.push(format!("{path}: not allowed")),
                (None, Some(extra)) if extra.is_object() => {
                    check_schema(root, extra, v, &path, errors)
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check_schema(root, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn schema() -> Value {
    serde_json::from_str(include_str!("../catalogue.schema.json")).unwrap()
}

fn schema_errors(value: &Value, def: Option<&str>) -> Vec<String> {
    let root = schema();
    let mut errors = Vec::new();
    let target = match def {
        Some(d) => root["$defs"][d].clone(),
        None => root.clone(),
    };
    check_schema(&root, &target, value, "$", &mut errors);
    errors
}

#[test]
fn the_schema_checker_catches_what_the_schema_forbids() {
    let ok = serde_json::json!({
        "generated_at": 1, "last_round": 0, "sort": "uid", "order": "asc", "class": null,
        "classes": [], "truncated": false, "machines": []
    });
    assert!(schema_errors(&ok, None).is_empty());
    for (change, path) in [
        (serde_json::json!({"sort": "price"}), "$"),
        (serde_json::json!({"extra": 1}), "$.extra"),
        (
            serde_json::json!({"machines": [{"hotkey": 3}]}),
            "$.machines[0]",
        ),
        (serde_json::json!({"last_round": -1}), "$"),
    ] {
        let mut v = ok.clone();
        for (k, x) in change.as_object().unwrap() {
            v[k] = x.clone();
        }
        let errors = schema_errors(&v, None);
        assert!(
            errors.iter().any(|e| e.starts_with(path)),
            "{change}: {errors:?}"
        );
    }
    let mut v = ok.clone();
    v.as_object_mut().unwrap().remove("truncated");
    assert!(!schema_errors(&v, None).is_empty());
}

// ---- what the store says --------------------------------------------------------------------

/// A miner's hotkey, UID, TOPS and GB/s as the store gives them.
type Expected = (String, Option<u16>, Option<f64>, Option<f64>);

/// Per miner (hotkey): its UID, and the TOPS and GB/s the catalogue must show (the sums over
/// its devices of each one's last passing round), from the store.
fn expected(store: &Path) -> Vec<Expected> {
    let store = Store::open_read_only(store).unwrap();
    let passes = store.last_pass_receipts().unwrap();
    store
        .miners_seen()
        .unwrap()
        .into_iter()
        .map(|m| {
            let mine: Vec<_> = passes.iter().filter(|p| p.hotkey == m.hotkey).collect();
            let sum = |f: &dyn Fn(&validator_store::ReceiptRow) -> Option<f64>| {
                mine.iter().filter_map(|p| f(p)).reduce(|a, b| a + b)
            };
            let tops = sum(&|p| Some(p.figures.int8_ops? / p.figures.int8_s? / 1e12));
            let gbs = sum(&|p| Some(p.figures.dram_bytes? / p.figures.dram_s? / 1e9));
            (m.hotkey, m.uid, tops, gbs)
        })
        .collect()
}

/// Both absent, or equal within a relative 1e-12.
fn near(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
        _ => false,
    }
}

#[test]
fn the_json_matches_its_schema_and_the_store() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let net = Localnet::start();
    let machines = get_json(net.addr, "/v1/machines?sort=gbs&order=desc");
    let errors = schema_errors(&machines, None);
    assert!(errors.is_empty(), "{errors:#?}");
    let want = expected(&net.store);
    let got = machines["machines"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(want.len(), 3, "every miner is listed");
    let honest = want
        .iter()
        .filter(|w| w.2.is_some() && w.3.is_some())
        .count();
    assert!(honest >= 2, "the honest miners proved figures: {want:?}");
    for (hotkey, uid, tops, gbs) in &want {
        let m = got.iter().find(|m| m["hotkey"] == *hotkey).unwrap();
        assert_eq!(m["uid"].as_u64().map(|u| u as u16), *uid);
        // serde_json parses floats to within an ulp (no `float_roundtrip`); the page test
        // compares the exact figures.
        assert!(near(m["int8_tops"].as_f64(), *tops), "{hotkey}: {m}");
        assert!(near(m["memory_gbs"].as_f64(), *gbs), "{hotkey}: {m}");
        if tops.is_some() {
            let device = &m["devices"][0];
            assert_eq!(device["class"], "cpu-reference");
            assert!(
                device["proven_memory_bytes"].as_u64().unwrap() > 0,
                "{device}"
            );
            // Every kept receipt link serves a receipt.
            let url = device["receipts"][0]["url"].as_str().unwrap();
            let (status, body) = http(net.addr, &format!("GET {url} HTTP/1.1\r\n\r\n"));
            assert_eq!(status, "HTTP/1.1 200 OK");
            assert!(!body.is_empty());
        }
        // One machine alone validates against its definition.
        let one = get_json(net.addr, &format!("/v1/machines/{hotkey}"));
        assert!(schema_errors(&one, Some("machine")).is_empty());
    }
    // Sorted by GB/s, largest first (missing figures last).
    let gbs: Vec<f64> = got
        .iter()
        .map(|m| m["memory_gbs"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(gbs.windows(2).all(|w| w[0] >= w[1]), "{gbs:?}");
    // Filtered by class.
    let none = get_json(net.addr, "/v1/machines?class=h100-sxm");
    assert!(none["machines"].as_array().unwrap().is_empty());
    let cpu = get_json(net.addr, "/v1/machines?class=cpu-reference");
    assert!(cpu["machines"].as_array().unwrap().len() >= 2);
    // GET only; bad queries and unknown paths are refused with their status.
    let (status, _) = http(net.addr, "DELETE /v1/machines HTTP/1.1\r\n\r\n");
    assert!(status.contains("405"), "{status}");
    let (status, _) = http(net.addr, "GET /v1/machines?sort=price HTTP/1.1\r\n\r\n");
    assert!(status.contains("400"), "{status}");
    let (status, _) = http(net.addr, "GET /v1/machines/5Nobody HTTP/1.1\r\n\r\n");
    assert!(status.contains("404"), "{status}");

    // The run's receipts were written; one of them holds alone.
    let dir = net.receipts.path().join("validator0");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    let pass = files
        .iter()
        .find(|p| p.to_string_lossy().contains("-matmul-i8-pass-"))
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .arg("audit")
        .arg(pass)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    let status = net.stop();
    assert!(status.success(), "localnet after Ctrl-C: {status}");
}

// ---- the page in a browser ------------------------------------------------------------------

fn chromium() -> Option<PathBuf> {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .find_map(on_path)
        })
}

/// The DOM Chromium built from `url`, after its scripts ran.
fn dump_dom(bin: &Path, url: &str, dir: &Path) -> String {
    let out = dir.join("dom.html");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(out).unwrap()
}

/// Each `<tr data-hotkey=…>` row's hotkey and the `data-value` of its cells `cells`.
fn rows(dom: &str, cells: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for part in dom.split("<tr data-hotkey=\"").skip(1) {
        let hotkey = part[..part.find('"').unwrap()].to_string();
        let row = &part[..part.find("</tr>").unwrap()];
        let values = cells
            .iter()
            .map(|c| {
                let key = format!("class=\"{c} num\" data-value=\"");
                let from = row.find(&key).unwrap_or_else(|| panic!("no {c} cell")) + key.len();
                row[from..from + row[from..].find('"').unwrap()].to_string()
            })
            .collect();
        out.push((hotkey, values));
    }
    out
}

#[test]
fn the_page_lists_the_localnet_machines_with_their_figures_in_chromium() {
    let Some(bin) = chromium() else {
        if std::env::var("GPUPROOF_CI").as_deref() == Ok("1") {
            panic!("GPUPROOF_CI=1 but no Chromium found: run scripts/install-chromium");
        }
        eprintln!("skipped: no Chromium (run scripts/install-chromium)");
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let net = Localnet::start();
    let scratch = TempDir::new("catalogue-chromium").unwrap();
    let url = format!("http://{}/?sort=tops&order=desc", net.addr);
    let dom = dump_dom(&bin, &url, scratch.path());
    assert!(dom.contains("</html>"), "no DOM: {dom}");
    assert!(dom.contains("gpuproof catalogue"));
    let table = rows(&dom, &["tops", "gbs", "reliability"]);
    let want = expected(&net.store);
    assert_eq!(table.len(), want.len(), "one row per machine");
    let store = Store::open_read_only(&net.store).unwrap();
    for (hotkey, uid, tops, gbs) in &want {
        let (_, values) = table
            .iter()
            .find(|(h, _)| h == hotkey)
            .unwrap_or_else(|| panic!("no row for {hotkey}"));
        let shown = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x}"));
        assert_eq!(values[0], shown(*tops), "TOPS of {hotkey}");
        assert_eq!(values[1], shown(*gbs), "GB/s of {hotkey}");
        let reliability = store.standing(hotkey).unwrap().map(|s| s.reliability);
        assert_eq!(values[2], shown(reliability), "reliability of {hotkey}");
        let uid_cell = format!("<td class=\"uid num\">{}</td>", uid.unwrap());
        assert!(dom.contains(&uid_cell), "{uid_cell}");
    }
    // Sorted by TOPS, largest first, as the link asked.
    let tops: Vec<f64> = table
        .iter()
        .map(|(_, v)| v[0].parse().unwrap_or(-1.0))
        .collect();
    assert!(tops.windows(2).all(|w| w[0] >= w[1]), "{tops:?}");
    // The sort links and the class filter are there; the page has no script.
    for link in [
        "id=\"sort-tops\"",
        "id=\"sort-gbs\"",
        "id=\"sort-reliability\"",
        "id=\"sort-class\"",
    ] {
        assert!(dom.contains(link), "{link}");
    }
    assert!(dom.contains("class=cpu-reference"));
    assert!(!dom.contains("<script"));
    assert!(dom.contains("class=\"receipt\" href=\"/v1/receipts/"));
    // The class filter in the browser too.
    let dom = dump_dom(
        &bin,
        &format!("http://{}/?class=h100-sxm", net.addr),
        scratch.path(),
    );
    assert!(rows(&dom, &["tops"]).is_empty());
    assert!(net.stop().success());
}
