//! [`summary`]: a receipt for a person (`verifier receipts show`): who, what, when, the
//! messages with their times, the roots and leaves, the verdict. It decodes and prints; it
//! checks nothing (that is `verifier audit`).

use std::fmt::Write as _;

use protocol::{Commitment, Signed};

use super::audit::AuditError;
use super::format::{ChallengeRecord, FaultRecord, Receipt, Subject, TimedBytes};

/// The receipt file `bytes` as readable text, or why it is not a receipt.
pub fn summary(bytes: &[u8]) -> Result<String, AuditError> {
    let malformed = |reason: String| AuditError::Malformed { reason };
    if bytes.len() > super::MAX_RECEIPT_BYTES {
        return Err(malformed(format!("{} bytes is too large", bytes.len())));
    }
    let signed = Signed::<Receipt>::from_bytes(bytes).map_err(|e| malformed(e.to_string()))?;
    let mut body = signed.body();
    let receipt: Receipt = ciborium::de::from_reader_with_recursion_limit(&mut body, 64)
        .map_err(|e| malformed(format!("the body does not decode: {e}")))?;
    let signature = match signed.verify() {
        Ok(_) => "verifies (run `verifier audit` for every other check)".to_string(),
        Err(e) => format!("DOES NOT VERIFY: {e}"),
    };
    let mut out = String::new();
    let ss58 = transport::identity::ss58;
    let _ = writeln!(out, "receipt   {}", hex::encode(signed.digest().as_bytes()));
    let _ = writeln!(out, "verdict   {}", receipt.verdict_kind());
    let _ = writeln!(out, "validator {}", ss58(&receipt.validator));
    let _ = writeln!(out, "miner     {}", ss58(&receipt.miner));
    let _ = writeln!(
        out,
        "at        {} ms (Unix); format {}, protocol v{}",
        receipt.at_ms, receipt.format, receipt.protocol_version
    );
    let _ = writeln!(out, "classes   table {}", receipt.class_table);
    let _ = writeln!(out, "signature {signature}");
    match &receipt.subject {
        Subject::Challenge(c) => challenge(&mut out, c),
        Subject::MinerFault(f) => fault(&mut out, f),
    }
    Ok(out)
}

fn fault(out: &mut String, f: &FaultRecord) {
    let _ = writeln!(
        out,
        "miner-level {} at stage {}: {}",
        f.kind, f.stage, f.detail
    );
    if let Some(inventory) = &f.inventory {
        let _ = writeln!(out, "inventory: {} GPU(s)", inventory.gpus.len());
        for g in inventory.gpus.iter().take(16) {
            let _ = writeln!(
                out,
                "  #{} {:?} {} {} bytes",
                g.index, g.name, g.uuid, g.memory_bytes
            );
        }
    }
}

fn challenge(out: &mut String, c: &ChallengeRecord) {
    let params = builtin_modules::by_hash(c.module_hash.as_bytes())
        .and_then(|m| m.spec().params_to_json(&c.params.0).ok())
        .unwrap_or_else(|| hex::encode(&c.params.0));
    let _ = writeln!(out, "module    {} {} {params}", c.module, c.module_hash);
    let _ = write!(out, "device    #{}", c.device);
    if let Some(g) = &c.claimed {
        let _ = write!(
            out,
            " claims {:?} {} {} bytes",
            g.name, g.uuid, g.memory_bytes
        );
    }
    let _ = writeln!(
        out,
        "; class {}{}",
        c.class.as_deref().unwrap_or("-"),
        if c.rented { " (rented)" } else { "" }
    );
    if let Some(e) = &c.envelope {
        let _ = writeln!(
            out,
            "window    {:.6}..{:.6} s (too fast below {:.6} s)",
            e.min_s, e.max_s, e.peak_floor_s
        );
    }
    for (k, e) in c.phase_envelopes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  phase {k} {:.6}..{:.6} s (floor {:.6})",
            e.min_s, e.max_s, e.peak_floor_s
        );
    }
    let _ = writeln!(
        out,
        "rtt       min {:.3} ms, at most {:.3} ms credited",
        c.min_rtt_ns as f64 / 1e6,
        c.rtt_cap_ns as f64 / 1e6
    );
    if let Some(n) = &c.nonce {
        let _ = writeln!(out, "nonce     {n}");
    }
    if let Some(s) = &c.seed {
        let _ = writeln!(out, "seed      {s}");
    }
    for (k, (n, s)) in c.phase_nonces.iter().zip(&c.phase_seeds).enumerate() {
        let _ = writeln!(out, "phase {}   nonce {n} seed {s}", k + 1);
    }
    times(out, c);
    if let Some(commitment) = &c.commitment
        && let Ok(signed) = Signed::<Commitment>::from_bytes(&commitment.envelope.0)
        && let Ok(body) = protocol_body(&signed)
    {
        for (i, root) in body.roots.iter().enumerate().take(16) {
            let _ = writeln!(out, "root {i:<4} {root}");
        }
    }
    if !c.leaves.is_empty() {
        let shown: Vec<String> = c
            .leaves
            .iter()
            .take(12)
            .map(|l| format!("{}:{}", l.output, l.leaf))
            .collect();
        let _ = writeln!(
            out,
            "leaves    {} drawn (output:leaf) {}{}",
            c.leaves.len(),
            shown.join(" "),
            if c.leaves.len() > 12 { " …" } else { "" }
        );
    }
    let verdict = serde_json::to_string(&c.verdict).unwrap_or_default();
    let _ = writeln!(out, "verdict   {verdict}");
}

/// The body of a commitment as received, without checking its signature (display only).
fn protocol_body(
    signed: &Signed<Commitment>,
) -> Result<Commitment, ciborium::de::Error<std::io::Error>> {
    let mut body = signed.body();
    ciborium::de::from_reader_with_recursion_limit(&mut body, 16)
}

/// The messages and their times, from the `Prepare`.
fn times(out: &mut String, c: &ChallengeRecord) {
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut line = |what: &str, ns: Option<u64>| {
        if let Some(ns) = ns {
            let _ = writeln!(out, "  {:>12.3} ms  {what}", ms(ns));
        }
    };
    let at = |t: &Option<TimedBytes>| t.as_ref().map(|t| t.at_ns);
    line("prepare sent", at(&c.prepare));
    line("ready received", c.ready_ns);
    line("go sent (the clock starts)", at(&c.go));
    let mut keys = c.phase_keys.iter();
    for (k, done) in c.phase_dones.iter().enumerate() {
        line(&format!("phase-done {k} received"), Some(done.at_ns));
        if let Some(key) = keys.next() {
            line(&format!("phase key {} sent", k + 1), Some(key.at_ns));
        }
    }
    line("commitment received (the clock stops)", at(&c.commitment));
    line("open sent", c.open_ns);
    line(
        "openings received",
        c.openings_received.as_ref().map(|o| o.at_ns),
    );
    line("refusal received", c.peer_error.as_ref().map(|e| e.at_ns));
}
