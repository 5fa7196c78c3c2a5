//! The validator's HTML report: one self-contained page (inline CSS, inline SVG plots, no
//! network) that answers "why did UID 17 drop?": a summary, the standings, the verdicts over
//! time per miner, the measured times against their class envelope, the weight submissions
//! and the latest non-pass verdicts with their details.
//!
//! Everything that comes from data (hotkeys, GPU names, class names, verdict details) is
//! escaped with [`escape`]: a miner chooses the GPU name it claims.
#![deny(clippy::indexing_slicing)]

mod escape;
mod format;
mod model;
mod plots;
mod scale;
mod tables;

use std::fmt::Write as _;

pub use escape::escape;
pub use format::{ago, local_time, readable_time, readable_time_in};
pub use validator_store::{
    DuplicateUuid, RoundRow, StandingRow, SubmissionRow, VerdictRecord, VerdictRow,
};

use escape::Esc;

/// Everything the report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportInput {
    /// Page title, e.g. `gpuproof validator report — <db path>`.
    pub title: String,
    /// When the report was generated, Unix seconds.
    pub generated_at: i64,
    /// The rounds.
    pub rounds: Vec<RoundRow>,
    /// The verdicts (the plots show the latest 120 rounds of them).
    pub verdicts: Vec<VerdictRow>,
    /// The miners' standings (the latest per hotkey is shown).
    pub standings: Vec<StandingRow>,
    /// The weight submissions.
    pub submissions: Vec<SubmissionRow>,
    /// GPU UUIDs claimed by more than one miner.
    pub duplicates: Vec<DuplicateUuid>,
}

/// The page's stylesheet.
const CSS: &str = "\
:root{--fg:#1d2430;--muted:#6b7380;--line:#dde1e6;--bg:#ffffff;--soft:#f4f6f8}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1240px;padding:16px 24px 48px;font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:20px;margin:8px 0 2px;overflow-wrap:anywhere}
h2{font-size:16px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
nav a{margin-right:14px;color:#2456a6;text-decoration:none}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.empty{padding:12px 16px;background:var(--soft);border:1px dashed var(--line);border-radius:6px;color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:130px}
.card.wide{min-width:320px;max-width:620px}
.big{font-size:22px;font-weight:600;overflow-wrap:anywhere}
.ok{color:#1f7a33}.bad{color:#b3261e}
.note{padding:8px 12px;border-radius:6px}
.note.ok{background:#eef8f0}
.note.warn{background:#fff4e0;border:1px solid #e6a800;color:var(--fg)}
.note.warn ul{margin:6px 0 0;padding-left:20px}
.chips .chip{margin-right:12px;white-space:nowrap}
.sw{display:inline-block;width:11px;height:11px;border:1px solid;border-radius:2px;margin-right:4px;vertical-align:-1px}
.sw.band{background:rgba(46,158,68,.18);border-color:rgba(46,158,68,.4)}
.sw.floor{width:22px;height:0;border:0;border-top:2px dashed #d62728;vertical-align:3px}
.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 16px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;position:sticky;top:0}
table.num td:nth-child(n+3){text-align:right;font-variant-numeric:tabular-nums}
td.hk code{font-size:11px}
tr.zero td{background:#fff1f0}
td.hot{color:#b3261e;font-weight:600}
.detail{display:block;max-width:420px;white-space:pre-wrap}
details summary{cursor:pointer}
.scroll{overflow-x:auto}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
figure.panel{margin:0;border:1px solid var(--line);border-radius:8px;padding:6px}
figure.panel figcaption{font-size:13px;margin:0 4px 4px;overflow-wrap:anywhere}
svg.plot{display:block;max-width:100%;height:auto}
svg.plot text{font:11px system-ui,sans-serif;fill:#333}
svg.plot .axis-title{fill:var(--muted)}
svg.plot .grid{stroke:#e3e6ea;stroke-width:1}
svg.plot .stripe{fill:#f4f6f8}
svg.plot .band{fill:rgba(46,158,68,.18)}
svg.plot .floor{fill:none;stroke:#d62728;stroke-width:1.5;stroke-dasharray:5 4}
";

/// Renders the report as one self-contained HTML page: inline CSS, inline SVG plots, and a
/// tiny inline script that sets `document.body.dataset.rendered` to the number of
/// `svg.plot` elements (browser tests read it). Nothing is loaded from the network (the
/// page's Content-Security-Policy forbids it).
pub fn render_html(input: &ReportInput) -> String {
    let miners = model::miners(input);
    let window = model::Window::of(input);
    let shown = model::windowed(input, &window);
    let totals = model::count(&input.verdicts);

    let mut out = String::with_capacity(64 * 1024 + input.verdicts.len() * 400);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\n<style>\n{CSS}</style></head>\n<body>\
         <header><h1>{title}</h1><p class=\"muted\">generated {}</p>\
         <nav><a href=\"#summary\">summary</a><a href=\"#standings\">standings</a>\
         <a href=\"#timeline\">verdicts over time</a><a href=\"#envelope\">time vs envelope</a>\
         <a href=\"#submissions\">weight submissions</a><a href=\"#failures\">non-pass \
         verdicts</a></nav></header>\n",
        format::local_time(input.generated_at),
        title = Esc(&input.title),
    );

    section(
        &mut out,
        "summary",
        "Summary",
        &tables::summary(input, &miners, &totals, &window),
    );
    section(
        &mut out,
        "standings",
        "Standings",
        &format!(
            "<p class=\"muted\">score = round score × reliability; rows with a zero score are \
             tinted. Verdict counts cover every round in the store.</p><div class=\"scroll\">{}\
             </div>",
            tables::standings(&miners)
        ),
    );
    let legend = plots::legend();
    section(
        &mut out,
        "timeline",
        "Verdicts over time per miner",
        &format!(
            "<p class=\"muted\">One row per miner, one mark per device and module in each \
             round; hover a mark for module, device, verdict and measured time.</p>{legend}\
             <div class=\"scroll\">{}</div>",
            plots::timeline(&miners, &shown, &window)
        ),
    );
    section(
        &mut out,
        "envelope",
        "Measured time against the class envelope",
        &format!(
            "<p class=\"muted\">One panel per claimed class and module. Shaded: the calibrated \
             window [min, max]; slower is too-slow. Dashed: the peak floor; faster is \
             too-fast.</p><ul class=\"legend\"><li><span class=\"sw band\"></span>calibrated \
             window</li><li><span class=\"sw floor\"></span>peak floor (too-fast bound)</li>\
             </ul>{legend}{}",
            plots::envelope(&miners, &shown, &window)
        ),
    );
    section(
        &mut out,
        "submissions",
        "Weight submissions",
        &format!("<div class=\"scroll\">{}</div>", tables::submissions(input)),
    );
    section(
        &mut out,
        "failures",
        "Latest non-pass verdicts",
        &format!("<div class=\"scroll\">{}</div>", tables::failures(input)),
    );

    out.push_str(
        "<script>document.body.dataset.rendered = \
         String(document.querySelectorAll(\"svg.plot\").length);</script>\n</body></html>\n",
    );
    out
}

/// Appends a `<section>` with an id and a heading (both constants, not data).
fn section(out: &mut String, id: &str, heading: &str, body: &str) {
    let _ = writeln!(
        out,
        "<section id=\"{id}\"><h2>{heading}</h2>{body}</section>"
    );
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    fn verdict(
        id: i64,
        round: i64,
        hotkey: &str,
        class: Option<&str>,
        module: &str,
        verdict: Option<&str>,
        measured: Option<f64>,
    ) -> VerdictRow {
        VerdictRow {
            id,
            round_id: round,
            hotkey: hotkey.to_owned(),
            uid: Some(u16::try_from(hotkey.len()).unwrap()),
            recorded_at: 1_700_000_000 + id,
            record: VerdictRecord {
                device_index: 0,
                gpu_name: "NVIDIA H100 80GB HBM3".to_owned(),
                gpu_uuid: format!("GPU-{hotkey}"),
                claimed_class: class.map(str::to_owned),
                module: module.to_owned(),
                verdict: verdict
                    .map(|k| validator_store::VerdictKind::parse(k).expect("a verdict kind")),
                measured_s: measured,
                peak_floor_s: Some(0.05),
                min_s: Some(0.1),
                max_s: Some(0.3),
                detail_json: "{}".to_owned(),
            },
        }
    }

    fn round(id: i64) -> RoundRow {
        RoundRow {
            id,
            started_at: 1_700_000_000 + id * 600,
            finished_at: Some(1_700_000_000 + id * 600 + 60),
        }
    }

    #[test]
    fn empty_input_says_there_are_no_rounds() {
        let html = render_html(&ReportInput {
            title: "gpuproof validator report — /tmp/v.db".to_owned(),
            generated_at: 1_700_000_000,
            ..ReportInput::default()
        });
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("No rounds yet"), "{html}");
        assert!(!html.contains("<svg"), "no empty plots: {html}");
        assert!(html.contains("No weight submissions yet."));
        assert!(html.contains("No miners yet."));
        assert!(html.contains("none yet"));
        assert!(html.contains(&local_time(1_700_000_000)));
        assert!(html.contains("dataset.rendered"));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn envelope_has_one_panel_per_class_and_module() {
        let verdicts = vec![
            verdict(
                1,
                1,
                "alice",
                Some("H100"),
                "matmul-i8",
                Some("pass"),
                Some(0.2),
            ),
            verdict(
                2,
                1,
                "alice",
                Some("H100"),
                "membw",
                Some("pass"),
                Some(0.15),
            ),
            verdict(
                3,
                2,
                "bob",
                Some("H100"),
                "matmul-i8",
                Some("too-slow"),
                Some(0.5),
            ),
            verdict(
                4,
                2,
                "carol",
                Some("A100"),
                "matmul-i8",
                Some("too-fast"),
                Some(0.01),
            ),
            // No measured time: skipped there (no panel of its own).
            verdict(5, 2, "dave", Some("L4"), "membw", Some("timeout"), None),
            // No class: a panel of its own.
            verdict(
                6,
                2,
                "erin",
                None,
                "membw",
                Some("protocol-error"),
                Some(0.4),
            ),
        ];
        let html = render_html(&ReportInput {
            title: "t".to_owned(),
            generated_at: 0,
            rounds: vec![round(1), round(2)],
            verdicts,
            ..ReportInput::default()
        });
        let panels: Vec<&str> = html
            .match_indices("data-panel=\"")
            .map(|(i, m)| {
                let rest = &html[i + m.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        assert_eq!(
            panels,
            ["A100|matmul-i8", "H100|matmul-i8", "H100|membw", "|membw"],
            "classes alphabetically, no class last"
        );
        assert_eq!(html.matches("<svg class=\"plot envelope\"").count(), 4);
        assert_eq!(html.matches("<svg class=\"plot timeline\"").count(), 1);
        // Every verdict has a timeline mark; the five with a measured time have a point.
        assert_eq!(html.matches("<rect class=\"mark ").count(), 6);
        assert_eq!(html.matches("<circle class=\"mark ").count(), 5);
        assert!(html.contains("1 verdict(s) without a measured time"));
        // Each panel has its band and its dashed floor.
        assert_eq!(html.matches("<rect class=\"band\"").count(), 4);
        assert_eq!(html.matches("<path class=\"floor\"").count(), 4);
    }

    #[test]
    fn standings_show_the_link_factor_and_the_bandwidth_emas() {
        let standing = |hotkey: &str, link: Option<f64>, up: Option<f64>| StandingRow {
            hotkey: hotkey.to_owned(),
            uid: Some(3),
            reliability: 0.5,
            round_score: 1.0,
            score: 0.5,
            round_id: 1,
            up_mbit: up,
            down_mbit: up.map(|x| x / 2.0),
            link_factor: link,
        };
        let html = render_html(&ReportInput {
            title: "t".to_owned(),
            rounds: vec![round(1)],
            standings: vec![
                standing("slow", Some(0.35), Some(70.0)),
                standing("old", None, None),
            ],
            ..ReportInput::default()
        });
        assert!(
            html.contains("<th title=\"the last round's bandwidth factor"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"hot\">0.35</td><td>70</td><td>35</td>"),
            "{html}"
        );
        // Recorded before bandwidth counted: no figures.
        assert!(
            html.contains("<td>—</td><td>—</td><td>—</td><td>1</td>"),
            "{html}"
        );
    }

    #[test]
    fn hostile_strings_are_escaped_everywhere() {
        let evil = "<img src=x onerror=alert(1)>";
        let mut v = verdict(
            1,
            1,
            evil,
            Some(evil),
            evil,
            Some("wrong-result"),
            Some(0.2),
        );
        v.record.gpu_name = evil.to_owned();
        v.record.gpu_uuid = evil.to_owned();
        v.record.detail_json = format!("{{\"error\":\"</td><script>alert(2)</script>{evil}\"}}");
        let html = render_html(&ReportInput {
            title: format!("report \"{evil}\""),
            generated_at: 0,
            rounds: vec![round(1)],
            verdicts: vec![v],
            standings: vec![StandingRow {
                hotkey: evil.to_owned(),
                uid: Some(3),
                reliability: 0.5,
                round_score: 0.0,
                score: 0.0,
                round_id: 1,
                up_mbit: Some(f64::NAN),
                down_mbit: None,
                link_factor: Some(0.25),
            }],
            submissions: vec![SubmissionRow {
                id: 1,
                at: 0,
                round_id: 1,
                method: validator_store::SubmissionMethod::NoPath,
                uids: vec![3],
                values: vec![65535],
                outcome: evil.to_owned(),
                reference: Some(evil.to_owned()),
                refusal: Some(evil.to_owned()),
            }],
            duplicates: vec![DuplicateUuid {
                gpu_uuid: evil.to_owned(),
                hotkeys: vec![evil.to_owned(), "x".to_owned()],
            }],
        });
        assert!(!html.contains("<img"), "{html}");
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the page's own script"
        );
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("&lt;/td&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
        assert!(html.contains("report &quot;&lt;img"));
    }

    #[test]
    fn plots_show_only_the_latest_rounds() {
        let n = model::MAX_PLOT_ROUNDS as i64 + 30;
        let rounds: Vec<RoundRow> = (1..=n).map(round).collect();
        let verdicts: Vec<VerdictRow> = (1..=n)
            .map(|r| {
                verdict(
                    r,
                    r,
                    "alice",
                    Some("H100"),
                    "membw",
                    Some("pass"),
                    Some(0.2),
                )
            })
            .collect();
        let html = render_html(&ReportInput {
            title: "t".to_owned(),
            generated_at: 0,
            rounds,
            verdicts,
            ..ReportInput::default()
        });
        let shown = model::MAX_PLOT_ROUNDS;
        assert!(html.contains(&format!("the latest {shown} of {n} rounds")));
        assert_eq!(html.matches("<rect class=\"mark ").count(), shown);
        assert_eq!(html.matches("<circle class=\"mark ").count(), shown);
        // The standings count every round.
        assert!(html.contains(&format!("<td>{n}</td>")));
    }
}
