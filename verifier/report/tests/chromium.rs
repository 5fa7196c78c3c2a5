//! Renders a realistic report and opens it in headless Chromium: the page's script runs (it
//! counts the plots), every plot has its marks, a hostile GPU name stays text, and a
//! screenshot comes out. Without Chromium the tests skip (run `scripts/install-chromium`);
//! with `GPUPROOF_CI=1` they fail instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use validator_report::{
    DuplicateUuid, ReportInput, RoundRow, StandingRow, SubmissionRow, VerdictRecord, VerdictRow,
    render_html,
};

/// A browser that hangs is killed after this long, so CI never hangs on it.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

const HOSTILE_GPU: &str = "<img src=x onerror=alert(1)>";
const T0: i64 = 1_750_000_000;

// ---- the input ----------------------------------------------------------------------------

struct Builder {
    verdicts: Vec<VerdictRow>,
}

struct Gpu<'a> {
    name: &'a str,
    uuid: &'a str,
    class: Option<&'a str>,
}

const H100: Gpu<'static> = Gpu {
    name: "NVIDIA H100 80GB HBM3",
    uuid: "GPU-1111",
    class: Some("H100"),
};
const A100: Gpu<'static> = Gpu {
    name: "NVIDIA A100-SXM4-80GB",
    uuid: "GPU-2222",
    class: Some("A100"),
};

/// The H100 and A100 envelopes per module: (peak floor, min, max), seconds.
fn envelope(class: Option<&str>, module: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    match (class, module) {
        (Some("H100"), "matmul-i8") => (Some(0.040), Some(0.080), Some(0.160)),
        (Some("H100"), "membw") => (Some(0.020), Some(0.030), Some(0.060)),
        (Some("A100"), "matmul-i8") => (Some(0.090), Some(0.180), Some(0.360)),
        (Some("A100"), "membw") => (Some(0.030), Some(0.045), Some(0.090)),
        _ => (None, None, None),
    }
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        round: i64,
        hotkey: &str,
        uid: u16,
        device: u32,
        gpu: &Gpu<'_>,
        module: &str,
        verdict: Option<&str>,
        measured: Option<f64>,
    ) {
        let (floor, min, max) = envelope(gpu.class, module);
        let id = self.verdicts.len() as i64 + 1;
        let detail = match verdict {
            Some("wrong-result") => format!(
                "{{\"kind\":\"wrong-result\",\"module\":\"{module}\",\"mismatch\":\"row 17\"}}"
            ),
            Some(v) => format!("{{\"kind\":\"{v}\",\"module\":\"{module}\"}}"),
            None => "{\"error\":\"verifier: module cache full\"}".to_owned(),
        };
        self.verdicts.push(VerdictRow {
            id,
            round_id: round,
            hotkey: hotkey.to_owned(),
            uid: Some(uid),
            recorded_at: T0 + round * 600 + id,
            record: VerdictRecord {
                device_index: device,
                gpu_name: gpu.name.to_owned(),
                gpu_uuid: gpu.uuid.to_owned(),
                claimed_class: gpu.class.map(str::to_owned),
                module: module.to_owned(),
                verdict: verdict
                    .map(|k| validator_store::VerdictKind::parse(k).expect("a verdict kind")),
                measured_s: measured,
                peak_floor_s: floor,
                min_s: min,
                max_s: max,
                detail_json: detail,
            },
        });
    }
}

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHEAT: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
const FLAKY: &str = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy";
const EVIL: &str = "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw";

fn input() -> ReportInput {
    let mut b = Builder {
        verdicts: Vec::new(),
    };
    let evil_gpu = Gpu {
        name: HOSTILE_GPU,
        uuid: "GPU-\"quoted\"<b>",
        class: None,
    };
    for round in 1..=4 {
        let r = round as f64;
        // uid 1: two honest H100s, both modules, always pass.
        for dev in 0..2 {
            b.add(
                round,
                ALICE,
                1,
                dev,
                &H100,
                "matmul-i8",
                Some("pass"),
                Some(0.11 + 0.005 * r),
            );
            b.add(
                round,
                ALICE,
                1,
                dev,
                &H100,
                "membw",
                Some("pass"),
                Some(0.041),
            );
        }
        // uid 2: an honest A100 that was too slow once.
        let (v, m) = if round == 3 {
            ("too-slow", 0.52)
        } else {
            ("pass", 0.25)
        };
        b.add(round, BOB, 2, 0, &A100, "matmul-i8", Some(v), Some(m));
        // uid 17: claims an H100 (with alice's UUID); too fast in round 2, then wrong results.
        let (v, m) = match round {
            1 => ("pass", 0.12),
            2 => ("too-fast", 0.011),
            _ => ("wrong-result", 0.10),
        };
        b.add(round, CHEAT, 17, 0, &H100, "matmul-i8", Some(v), Some(m));
        // uid 5: a timeout, a protocol error and a verifier error (none has a measured time).
        let v = match round {
            2 => Some("timeout"),
            3 => Some("protocol-error"),
            4 => None,
            _ => Some("pass"),
        };
        let m = (round == 1).then_some(0.045);
        b.add(round, FLAKY, 5, 0, &H100, "membw", v, m);
    }
    // uid 9: a hostile GPU name (maps to no class), measured once.
    b.add(
        4,
        EVIL,
        9,
        0,
        &evil_gpu,
        "membw",
        Some("protocol-error"),
        Some(0.2),
    );

    let standing = |hotkey: &str, uid: u16, reliability: f64, round_score: f64| StandingRow {
        hotkey: hotkey.to_owned(),
        uid: Some(uid),
        reliability,
        round_score,
        score: reliability * round_score,
        round_id: 4,
        up_mbit: Some(940.0),
        down_mbit: Some(35.0),
        link_factor: Some(0.35),
    };
    ReportInput {
        title: "gpuproof validator report — /var/lib/gpuproof/validator.db".to_owned(),
        generated_at: T0 + 5 * 600,
        rounds: (1..=4)
            .map(|id| RoundRow {
                id,
                started_at: T0 + id * 600,
                finished_at: (id < 4).then_some(T0 + id * 600 + 90),
            })
            .collect(),
        verdicts: b.verdicts,
        standings: vec![
            standing(ALICE, 1, 0.97, 1.0),
            standing(BOB, 2, 0.81, 0.62),
            standing(CHEAT, 17, 0.12, 0.0),
            standing(FLAKY, 5, 0.33, 0.2),
            standing(EVIL, 9, 0.5, 0.0),
        ],
        submissions: vec![
            SubmissionRow {
                id: 1,
                at: T0 + 3 * 600 + 120,
                round_id: 3,
                method: validator_store::SubmissionMethod::CommitRevealV2,
                uids: vec![1, 2, 5, 17],
                values: vec![65535, 41000, 9000, 300],
                outcome: "ok".to_owned(),
                reference: Some("reveal round 123456".to_owned()),
                refusal: None,
            },
            SubmissionRow {
                id: 2,
                at: T0 + 4 * 600 + 120,
                round_id: 4,
                method: validator_store::SubmissionMethod::SetWeights,
                uids: vec![1, 2, 5],
                values: vec![65535, 41000, 6000],
                outcome: "chain: SettingWeightsTooFast".to_owned(),
                reference: None,
                refusal: Some("SubtensorModule::SettingWeightsTooFast".to_owned()),
            },
        ],
        duplicates: vec![DuplicateUuid {
            gpu_uuid: "GPU-1111".to_owned(),
            hotkeys: vec![ALICE.to_owned(), CHEAT.to_owned()],
        }],
    }
}

/// What the plots should hold: the timeline's marks (every verdict), and each envelope
/// panel's (keyed `class|module`) marks (verdicts with a measured time).
fn expected_marks(input: &ReportInput) -> (usize, BTreeMap<String, usize>) {
    let mut panels = BTreeMap::new();
    for v in &input.verdicts {
        if v.record.measured_s.is_some() {
            let key = format!(
                "{}|{}",
                v.record.claimed_class.as_deref().unwrap_or(""),
                v.record.module
            );
            *panels.entry(key).or_insert(0) += 1;
        }
    }
    (input.verdicts.len(), panels)
}

// ---- running Chromium ----------------------------------------------------------------------

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `$CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome` on PATH. `None` means
/// skip (the caller returns); with `GPUPROOF_CI=1` a missing browser fails the test.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .find_map(on_path)
        });
    if found.is_none() {
        if std::env::var("GPUPROOF_CI").as_deref() == Ok("1") {
            panic!(
                "GPUPROOF_CI=1 but no Chromium found ($CHROMIUM, chromium, chromium-browser, \
                 google-chrome): run scripts/install-chromium"
            );
        }
        // On the real stderr (not the test harness's capture), as the GPU tests say theirs.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: chromium not installed (run scripts/install-chromium)"
        );
    }
    found
}

/// A fresh directory under the target's scratch space (replaced on every run, so the last
/// report and screenshot stay there to look at: `target/tmp/report-chromium-png/report.png`).
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-chromium-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `file://` URL of an absolute path (percent-encoding anything but unreserved characters
/// and `/`).
fn file_url(path: &Path) -> String {
    let path = path.canonicalize().unwrap();
    let mut url = String::from("file://");
    for b in path.to_str().unwrap().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Runs Chromium headless with `args` (plus the flags every run needs and a profile of its
/// own), stdout to `stdout`; kills it (its whole process group) after [`CHROMIUM_TIMEOUT`].
/// Returns its exit status and stderr.
fn run_chromium(bin: &Path, dir: &Path, args: &[String], stdout: &Path) -> (ExitStatus, String) {
    let stderr_path = dir.join("chromium.stderr");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", dir.join("profile").display()),
    ])
    .args(args)
    .stdin(Stdio::null())
    .stdout(File::create(stdout).unwrap())
    .stderr(File::create(&stderr_path).unwrap());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    println!("running: {} {}", bin.display(), cmd_line(&cmd));
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            // Chromium forks renderer and GPU processes: kill the whole group.
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?}; killed. stderr:\n{}",
                fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("chromium took {:.2?}", start.elapsed());
    // The profile is megabytes of caches nobody needs afterwards.
    let _ = fs::remove_dir_all(dir.join("profile"));
    (status, fs::read_to_string(&stderr_path).unwrap_or_default())
}

fn cmd_line(cmd: &Command) -> String {
    cmd.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each `<svg class="plot …">…</svg>` of the DOM: its opening tag and its whole text.
fn plots(dom: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("<svg class=\"plot") {
        let svg = &rest[i..];
        let end = svg.find("</svg>").expect("unclosed svg") + "</svg>".len();
        let tag_end = svg.find('>').unwrap() + 1;
        out.push((&svg[..tag_end], &svg[..end]));
        rest = &svg[end..];
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let rest = &tag[i..];
    Some(&rest[..rest.find('"')?])
}

// ---- the tests -----------------------------------------------------------------------------

#[test]
fn chromium_runs_the_page_and_draws_every_mark() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let input = input();
    let dir = scratch("dom");
    let html_path = dir.join("report.html");
    fs::write(&html_path, render_html(&input)).unwrap();
    let dom_path = dir.join("dom.html");
    let (status, stderr) = run_chromium(
        &bin,
        &dir,
        &["--dump-dom".to_owned(), file_url(&html_path)],
        &dom_path,
    );
    assert!(status.success(), "chromium failed: {status}\n{stderr}");
    let dom = fs::read_to_string(&dom_path).unwrap();
    assert!(
        dom.contains("</html>"),
        "no DOM dumped:\n{dom}\nstderr:\n{stderr}"
    );

    let (timeline_marks, panels) = expected_marks(&input);
    // The page's script ran and counted every plot: the timeline and one panel per
    // (class, module) with a measured time.
    assert_eq!(panels.len(), 4, "{panels:?}");
    let expected_plots = 1 + panels.len();
    assert!(
        dom.contains(&format!("data-rendered=\"{expected_plots}\"")),
        "script did not run or counted wrong; body: {}",
        &dom[dom.find("<body").unwrap()..][..200]
    );

    // Each plot has its marks.
    let found = plots(&dom);
    assert_eq!(found.len(), expected_plots);
    let mut seen_panels = BTreeMap::new();
    for (tag, svg) in &found {
        let marks = svg.matches("class=\"mark ").count();
        let class = attr(tag, "class").unwrap();
        if class == "plot timeline" {
            assert_eq!(marks, timeline_marks, "timeline marks");
            assert!(svg.matches("<rect class=\"mark ").count() == marks);
            // One labelled row per miner.
            for uid in ["uid 1 ", "uid 2 ", "uid 5 ", "uid 9 ", "uid 17 "] {
                assert!(svg.contains(uid), "no row for {uid}");
            }
        } else {
            assert_eq!(class, "plot envelope");
            let key = attr(tag, "data-panel").unwrap().to_owned();
            assert!(svg.contains("<path class=\"floor\"") || key.starts_with('|'));
            assert!(svg.contains("<rect class=\"band\"") || key.starts_with('|'));
            seen_panels.insert(key, marks);
        }
    }
    assert_eq!(seen_panels, panels, "marks per envelope panel");
    // Every kind got its colour somewhere.
    for k in [
        "k-pass",
        "k-wrong-result",
        "k-too-fast",
        "k-too-slow",
        "k-timeout",
        "k-protocol-error",
        "k-verifier-error",
    ] {
        assert!(dom.contains(&format!("class=\"mark {k}\"")), "no {k} mark");
    }

    // The hostile GPU name is text: escaped, and no element was injected.
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "hostile name missing"
    );
    assert!(
        !dom.to_ascii_lowercase().contains("<img"),
        "an <img> was injected"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );

    // The rest of the page.
    assert!(dom.contains("Warning: 1 GPU UUID(s) claimed by more than one miner"));
    assert!(dom.contains("chain: SettingWeightsTooFast"));
    assert!(dom.contains("set-weights"));
    assert!(dom.contains("mismatch"));
}

#[test]
fn chromium_runs_an_empty_report() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let dir = scratch("empty");
    let html_path = dir.join("report.html");
    let input = ReportInput {
        title: "gpuproof validator report — fresh.db".to_owned(),
        generated_at: T0,
        ..ReportInput::default()
    };
    fs::write(&html_path, render_html(&input)).unwrap();
    let dom_path = dir.join("dom.html");
    let (status, stderr) = run_chromium(
        &bin,
        &dir,
        &["--dump-dom".to_owned(), file_url(&html_path)],
        &dom_path,
    );
    assert!(status.success(), "chromium failed: {status}\n{stderr}");
    let dom = fs::read_to_string(&dom_path).unwrap();
    // The script ran and found no plot; the page says why.
    assert!(dom.contains("data-rendered=\"0\""), "{dom}");
    assert!(dom.contains("No rounds yet"));
    assert!(plots(&dom).is_empty());
}

#[test]
fn chromium_takes_a_screenshot() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let dir = scratch("png");
    let html_path = dir.join("report.html");
    fs::write(&html_path, render_html(&input())).unwrap();
    let png = dir.join("report.png");
    let (status, stderr) = run_chromium(
        &bin,
        &dir,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,2000".to_owned(),
            "--hide-scrollbars".to_owned(),
            file_url(&html_path),
        ],
        &dir.join("stdout"),
    );
    assert!(status.success(), "chromium failed: {status}\n{stderr}");
    let bytes = fs::read(&png).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{stderr}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    // IHDR: width and height, big-endian, right after the signature and chunk header.
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 2000));
    // A blank page of that size compresses to a few KB; the report is far more.
    assert!(
        bytes.len() > 40_000,
        "screenshot only {} bytes: blank page?",
        bytes.len()
    );
    println!("screenshot: {} ({} bytes)", png.display(), bytes.len());
}
