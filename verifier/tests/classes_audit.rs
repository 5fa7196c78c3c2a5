#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `verifier::classes::audit` and `verifier classes audit`: the cheat audit of a class table
//! (issue #18 item 6).

use std::process::Command;

use verifier::classes::{self, ClassTable, MAX_CLAIMED, audit};

fn table() -> ClassTable {
    ClassTable::embedded().unwrap()
}

/// The shipped table lets no passing cheat earn more than honest (issue #18 item 6).
#[test]
fn embedded_table_is_sound() {
    let a = audit(&table()).unwrap();
    let worst: Vec<String> = a
        .passing()
        .iter()
        .filter(|c| c.gain > 1.0)
        .map(|c| format!("{} as {} × {}: {:.2}", c.real, c.count, c.claimed, c.gain))
        .collect();
    assert!(a.worst_gain <= 1.0, "{worst:#?}");
}

/// What the shipped table does guarantee already: no card passes as two or more of its own
/// class.
#[test]
fn no_card_of_the_embedded_table_passes_as_several_of_its_own_class() {
    let a = audit(&table()).unwrap();
    let selfish: Vec<_> = a
        .cheats
        .iter()
        .filter(|c| c.real == c.claimed && c.passes)
        .map(|c| (c.real.clone(), c.count))
        .collect();
    assert!(selfish.is_empty(), "{selfish:?}");
    assert!(a.worst_gain.is_finite() && a.worst_gain >= 0.0);
    let max = a
        .cheats
        .iter()
        .filter(|c| c.passes)
        .map(|c| c.gain)
        .fold(0.0, f64::max);
    assert_eq!(a.worst_gain, max);
    // Every pair is audited up to the inventory limit.
    assert!(a.cheats.iter().any(|c| c.count == MAX_CLAIMED));
}

/// A weak table (an H100 SXM whose windows accept anything down to 5 % of its peaks, R = 0)
/// must fail the audit: one H100 then passes as several.
#[test]
fn a_weak_table_produces_a_passing_cheat_above_one() {
    let text = classes::EMBEDDED_TOML.replacen(
        "efficiency.tensor = [0.56, 0.7, 0.95] # shared basis (header)\nefficiency.int = [0.20, 0.45, 0.90] # shared basis (header)\nefficiency.dram = [0.722, 0.85, 0.97] # shared basis; ≈ 3.0 TB/s",
        "efficiency.tensor = [0.05, 0.70, 0.95]\nefficiency.int = [0.05, 0.45, 0.90]\nefficiency.dram = [0.05, 0.85, 0.97] # ≈ 3.0 TB/s",
        1,
    );
    assert_ne!(text, classes::EMBEDDED_TOML, "the replacement must apply");
    let text = text.replacen("membw_rounds = 60 #", "membw_rounds = 0 #", 1);
    assert!(
        text.contains("membw_rounds = 0 #"),
        "the replacement must apply"
    );
    let weak = ClassTable::from_toml(&text).unwrap();
    let a = audit(&weak).unwrap();
    assert!(a.worst_gain > 1.0, "{}", a.worst_gain);
    let h100_twice = a
        .cheats
        .iter()
        .find(|c| c.real == "h100-sxm" && c.claimed == "h100-sxm" && c.count == 2)
        .unwrap();
    assert!(h100_twice.passes, "{h100_twice:?}");
    assert!((h100_twice.gain - 2.0).abs() < 1e-12);
}

/// The JSON form is exactly `{"cheats": [{"real", "claimed", "count", "passes", "gain"}],
/// "worst_gain"}`, and the CLI prints it and exits 0.
#[test]
fn json_shape_and_cli() {
    let a = audit(&table()).unwrap();
    let v = serde_json::to_value(&a).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cheats", "worst_gain"]);
    let first = obj["cheats"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["claimed", "count", "gain", "passes", "real"]);

    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["classes", "audit", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The same audit (floats compared with a tolerance: serde_json parses without round-trip
    // precision).
    let (p, w) = (
        printed["cheats"].as_array().unwrap(),
        v["cheats"].as_array().unwrap(),
    );
    assert_eq!(p.len(), w.len());
    for (p, w) in p.iter().zip(w) {
        for k in ["real", "claimed", "count", "passes"] {
            assert_eq!(p[k], w[k]);
        }
        let (pg, wg) = (p["gain"].as_f64().unwrap(), w["gain"].as_f64().unwrap());
        assert!((pg - wg).abs() <= 1e-12 * wg.max(1.0));
    }
    let pw = printed["worst_gain"].as_f64().unwrap();
    assert!((pw - a.worst_gain).abs() <= 1e-12 * a.worst_gain.max(1.0));

    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["classes", "audit"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.contains("cheats audited") && last.contains("worst gain"),
        "{last}"
    );

    // Another table by --classes; a missing file is an error (status 1).
    let out = Command::new(env!("CARGO_BIN_EXE_verifier"))
        .args(["classes", "audit", "--classes", "/nonexistent/classes.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
