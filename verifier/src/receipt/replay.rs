//! The session's judgement, replayed from a receipt: the same checks in the same order as
//! `VerifierSession` (signatures, citations, phases, root counts, then the openings through
//! the session's own judge and time rule), giving the verdict the receipt's messages and
//! times imply, which must be the recorded one.
//!
//! Endings that left no message (a deadline, a closed connection, undecodable bytes) cannot
//! be replayed: the verdict must then be one the session gives at that point, and the receipt
//! says it rests on the validator's word.

use std::time::Duration;

use challenges::prf::{challenge_seed, phase_seed};
use protocol::{Commitment, Digest, LeafRef, PhaseDone, SessionKey, Signed};

use super::audit::{Audit, AuditError, Own, WrongLeaf};
use super::format::{ChallengeRecord, Receipt};
use crate::classes::{ClassKind, ClassTable, envelope, rented_window, step_envelopes};
use crate::session::{
    Cause, Envelope, JudgeContext, Judgement, LeafChecker, OutputLayout, PhaseTiming, Requested,
    SessionError, Timing, Verdict, judge_time,
};
use validator_store::VerdictKind;

/// What the replay reads.
pub(crate) struct Input<'a> {
    pub(crate) receipt: &'a Receipt,
    pub(crate) record: &'a ChallengeRecord,
    pub(crate) own: &'a Own,
    pub(crate) miner_key: Option<SessionKey>,
    pub(crate) table: Option<&'a ClassTable>,
    pub(crate) checker: &'a dyn LeafChecker,
}

/// The verdict the receipt implies.
#[derive(Debug)]
enum Expected {
    /// No message decides: the validator's word, which must be one of `kinds`.
    Attested {
        kinds: &'static [VerdictKind],
        why: String,
    },
    /// A `protocol-error` that a message of the receipt proves.
    Fault {
        cause: Cause,
        what: String,
        why: String,
    },
    /// A valid commitment, then no openings: a `wrong-result` whose cause is the validator's
    /// word.
    NoOpenings { timing: Timing },
    /// A `wrong-result` that the receipt proves.
    Wrong {
        cause: Cause,
        leaf: Option<LeafRef>,
        timing: Timing,
        why: String,
        root: Option<[u8; 32]>,
    },
    /// Every leaf checked: judged on time, exactly.
    Judged(Verdict),
    /// Cannot be replayed (the failure is recorded already).
    Unknown,
}

/// Replays the session and compares the verdict it implies with the recorded one.
pub(crate) fn judge(input: &Input<'_>, audit: &mut Audit) {
    let c = input.record;
    let layout = layout(c, audit);
    let seeds = seeds(input, audit);
    let expected = expect(input, layout.as_ref(), seeds.as_ref(), audit);
    compare(input, expected, audit);
}

/// The output layout of the receipt's module and params (a built-in module).
fn layout(c: &ChallengeRecord, audit: &mut Audit) -> Option<OutputLayout> {
    match OutputLayout::builtin(&c.module_hash, &c.params.0) {
        Ok(layout) => Some(layout),
        Err(e) => {
            if c.prepare.is_some() {
                audit.fail(AuditError::Module {
                    reason: format!("the receipt's module and params cannot be checked: {e}"),
                });
            }
            None
        }
    }
}

/// The challenge seed and phase seeds, derived from the signed nonces and the binding, checked
/// against the recorded ones.
fn seeds(input: &Input<'_>, audit: &mut Audit) -> Option<([u8; 32], Vec<[u8; 32]>)> {
    let (receipt, c) = (input.receipt, input.record);
    let (_, nonce) = input.own.go?;
    let seed = challenge_seed(
        &nonce,
        receipt.validator.as_bytes(),
        receipt.miner.as_bytes(),
        c.module_hash.as_bytes(),
        &c.params.0,
        c.device,
    );
    if c.seed.map(|s| s.0) != Some(seed) {
        audit.fail(AuditError::Seed {
            what: "the challenge seed".into(),
            recorded: c.seed.map_or_else(|| "none".into(), |s| s.to_string()),
            derived: hex::encode(seed),
        });
    }
    let mut phase_seeds = Vec::new();
    for (k, key) in input.own.keys.iter().enumerate() {
        let (key, _) = key.as_ref()?;
        let derived = phase_seed(&seed, key.phase, key.nonce.as_bytes());
        if c.phase_seeds.get(k).map(|s| s.0) != Some(derived) {
            audit.fail(AuditError::Seed {
                what: format!("the seed of phase {}", key.phase),
                recorded: c
                    .phase_seeds
                    .get(k)
                    .map_or_else(|| "none".into(), |s| s.to_string()),
                derived: hex::encode(derived),
            });
        }
        phase_seeds.push(derived);
    }
    if c.phase_seeds.len() != phase_seeds.len() || c.phase_nonces.len() != phase_seeds.len() {
        audit.fail(AuditError::Seed {
            what: "the phase seeds".into(),
            recorded: format!(
                "{} seeds and {} nonces",
                c.phase_seeds.len(),
                c.phase_nonces.len()
            ),
            derived: format!("{} phase keys", phase_seeds.len()),
        });
    }
    Some((seed, phase_seeds))
}

/// Where the replay stands while walking the phases.
struct Walk {
    /// The phase running.
    phase: u32,
    /// When it began (ns).
    phase_at: u64,
    /// The digest the miner's next message must cite.
    cites: Digest,
    /// The roots reported at the last phase end.
    roots: Vec<[u8; 32]>,
    /// Each ended phase's figures.
    timings: Vec<PhaseTiming>,
}

/// The verdict the receipt's messages and times imply.
fn expect(
    input: &Input<'_>,
    layout: Option<&OutputLayout>,
    seeds: Option<&([u8; 32], Vec<[u8; 32]>)>,
    audit: &mut Audit,
) -> Expected {
    let c = input.record;
    let Some(prepare) = &c.prepare else {
        return Expected::Attested {
            kinds: &[VerdictKind::Timeout],
            why: "the challenge never started: the round's time ran out before it".into(),
        };
    };
    if input.own.prepare.is_none() {
        return Expected::Unknown;
    }
    let Some(ready_ns) = c.ready_ns else {
        return before_commitment(c);
    };
    within(audit, "Ready", prepare.at_ns, ready_ns, c.timeouts.ready);
    let (Some(go), Some((go_digest, _))) = (&c.go, input.own.go) else {
        return if c.go.is_none() {
            before_commitment(c)
        } else {
            Expected::Unknown
        };
    };
    order(audit, "Go", ready_ns, go.at_ns);
    let mut walk = Walk {
        phase: 0,
        phase_at: go.at_ns,
        cites: go_digest,
        roots: Vec::new(),
        timings: Vec::new(),
    };
    if let Some(ended) = walk_phases(input, layout, &mut walk, audit) {
        return ended;
    }
    let committed = match commitment(input, layout, &walk, (go_digest, go.at_ns), audit) {
        Ok(committed) => committed,
        Err(ended) => return *ended,
    };
    let Some(layout) = layout else {
        return Expected::Unknown;
    };
    openings(input, layout, seeds, go_digest, committed, audit)
}

/// The verdict of a session that ended before a commitment: a refusal the miner sent proves
/// a `protocol-error`; anything else is the validator's word.
fn before_commitment(c: &ChallengeRecord) -> Expected {
    match &c.peer_error {
        Some(e) => Expected::Fault {
            cause: Cause::PeerError,
            what: "the miner's refusal".into(),
            why: format!("the miner refused ({:?})", e.error.code),
        },
        None => Expected::Attested {
            kinds: &[VerdictKind::Timeout, VerdictKind::ProtocolError],
            why: "no commitment came (a deadline, a closed connection, undecodable or \
                  misplaced bytes)"
                .into(),
        },
    }
}

/// A valid commitment: its roots, its timing and its arrival (ns).
struct Committed {
    roots: Vec<[u8; 32]>,
    timing: Timing,
    at_ns: u64,
}

/// The miner's commitment, checked as the session checks it: `Ok` when valid, `Err` with the
/// verdict when the session ended on it (or before it).
fn commitment(
    input: &Input<'_>,
    layout: Option<&OutputLayout>,
    walk: &Walk,
    (go_digest, go_ns): (Digest, u64),
    audit: &mut Audit,
) -> Result<Committed, Box<Expected>> {
    let c = input.record;
    let Some(commitment) = &c.commitment else {
        return Err(Box::new(before_commitment(c)));
    };
    let what = "the miner's commitment";
    within(
        audit,
        what,
        walk.phase_at,
        commitment.at_ns,
        c.timeouts.commitment,
    );
    let key = input.miner_key.ok_or_else(|| Box::new(Expected::Unknown))?;
    let signed = Signed::<Commitment>::from_bytes(&commitment.envelope.0)
        .map_err(|e| Box::new(unreadable(audit, what, &e)))?;
    let body = signed
        .verify_from(&key)
        .map_err(|e| Box::new(fault(Cause::BadSignature, what, e.to_string())))?;
    if body.challenge != go_digest {
        let why = "it answers another Go".into();
        return Err(Box::new(fault(Cause::OtherChallenge, what, why)));
    }
    let phases = phase_count(c);
    if walk.phase.saturating_add(1) < phases {
        let why = format!("it came during phase {} of {phases}", walk.phase);
        return Err(Box::new(fault(Cause::BadPhase, what, why)));
    }
    let roots: Vec<[u8; 32]> = body.roots.iter().map(|r| r.into_bytes()).collect();
    if let Some(why) = contradiction(layout, &walk.roots, &roots) {
        return Err(Box::new(fault(Cause::BadPhase, what, why)));
    }
    let timing =
        commitment_timing(c, walk, go_ns, commitment.at_ns, audit).ok_or(Expected::Unknown)?;
    Ok(Committed {
        roots,
        timing,
        at_ns: commitment.at_ns,
    })
}

/// After a valid commitment: the root count, the leaves drawn, then the openings judged by
/// the session's own judge and time rule.
fn openings(
    input: &Input<'_>,
    layout: &OutputLayout,
    seeds: Option<&([u8; 32], Vec<[u8; 32]>)>,
    go_digest: Digest,
    committed: Committed,
    audit: &mut Audit,
) -> Expected {
    let c = input.record;
    let Committed {
        roots,
        mut timing,
        at_ns,
    } = committed;
    let outputs = usize::try_from(layout.outputs()).unwrap_or(usize::MAX);
    if roots.len() != outputs {
        return Expected::Wrong {
            cause: Cause::RootCount,
            leaf: None,
            timing,
            why: format!("{} roots committed, the layout has {outputs}", roots.len()),
            root: None,
        };
    }
    audit.proven.push(format!(
        "the miner signed {} root(s) for the validator's Go (its commitment verifies up to its \
         hotkey)",
        roots.len()
    ));
    check_open(c, layout, at_ns, audit);
    let Some(openings) = &c.openings_received else {
        return match &c.peer_error {
            Some(_) => Expected::Wrong {
                cause: Cause::PeerError,
                leaf: None,
                timing,
                why: "the miner refused to open".into(),
                root: None,
            },
            None => Expected::NoOpenings { timing },
        };
    };
    if let Some(open_ns) = c.open_ns {
        within(
            audit,
            "the openings",
            open_ns,
            openings.at_ns,
            c.timeouts.openings,
        );
    }
    let Some((seed, phase_seeds)) = seeds else {
        return Expected::Unknown;
    };
    let requested = Requested {
        go: go_digest,
        seed: *seed,
        roots: roots.clone(),
        leaves: c.leaves.clone(),
        salts: c.salts.iter().map(|s| s.0).collect(),
        phase_seeds: phase_seeds.clone(),
    };
    let context = JudgeContext {
        layout,
        module_hash: &c.module_hash,
        params: &c.params.0,
        samples: c.samples,
    };
    match requested.judge(&context, &openings.openings, input.checker) {
        Ok(Judgement::AllRight { checked }) => {
            timing.leaves_checked = checked;
            Expected::Judged(judge_time(timing))
        }
        Ok(Judgement::Wrong {
            cause,
            leaf,
            detail,
        }) => Expected::Wrong {
            cause,
            leaf,
            timing,
            why: detail,
            root: leaf.and_then(|l| {
                usize::try_from(l.output)
                    .ok()
                    .and_then(|i| roots.get(i))
                    .copied()
            }),
        },
        Err(e) => {
            let (output, leaf) = match &e {
                SessionError::Checker { leaf, .. } => (leaf.output, leaf.leaf),
                _ => (0, 0),
            };
            audit.fail(AuditError::Checker {
                output,
                leaf,
                reason: e.to_string(),
            });
            Expected::Unknown
        }
    }
}

/// Walks the miner's `PhaseDone`s and our `PhaseKey`s in order; `Some` when the session ended
/// during the phases.
fn walk_phases(
    input: &Input<'_>,
    layout: Option<&OutputLayout>,
    walk: &mut Walk,
    audit: &mut Audit,
) -> Option<Expected> {
    let c = input.record;
    let phases = phase_count(c);
    for (idx, done) in c.phase_dones.iter().enumerate() {
        let what = format!("the miner's phase-done {idx}");
        within(
            audit,
            &what,
            walk.phase_at,
            done.at_ns,
            c.timeouts.commitment,
        );
        let key = input.miner_key?;
        let signed = match Signed::<PhaseDone>::from_bytes(&done.envelope.0) {
            Ok(s) => s,
            Err(e) => return Some(unreadable(audit, &what, &e)),
        };
        let body = match signed.verify_from(&key) {
            Ok(body) => body,
            Err(e) => return Some(fault(Cause::BadSignature, &what, e.to_string())),
        };
        if body.cites != walk.cites {
            let why = "it cites another message than the one that began the phase".into();
            return Some(fault(Cause::OtherChallenge, &what, why));
        }
        if body.phase != walk.phase || walk.phase.saturating_add(1) >= phases {
            let why = format!(
                "it ends phase {} while phase {} of {phases} runs",
                body.phase, walk.phase
            );
            return Some(fault(Cause::BadPhase, &what, why));
        }
        let roots: Vec<[u8; 32]> = body.roots.iter().map(|r| r.into_bytes()).collect();
        if let Some(why) = contradiction(layout, &walk.roots, &roots) {
            return Some(fault(Cause::BadPhase, &what, why));
        }
        walk.timings
            .push(phase_timing(c, walk.phase, span(walk.phase_at, done.at_ns)));
        walk.roots = roots;
        let Some(next) = c.phase_keys.get(idx) else {
            let last = idx.saturating_add(1) == c.phase_dones.len();
            if last && c.commitment.is_none() {
                return Some(Expected::Attested {
                    kinds: &[VerdictKind::Timeout],
                    why: "the next phase key was never sent (the round ended at the phase \
                          barrier)"
                        .into(),
                });
            }
            audit.fail(AuditError::Message {
                what,
                reason: "no phase key followed it, yet the challenge went on".into(),
            });
            return Some(Expected::Unknown);
        };
        let (key_body, key_digest) = input.own.keys.get(idx)?.as_ref()?;
        if key_body.cites != signed.digest() {
            audit.fail(AuditError::Message {
                what: format!("the validator's phase key {}", key_body.phase),
                reason: "it cites another phase-done than the receipt's".into(),
            });
        }
        order(audit, "a phase key", done.at_ns, next.at_ns);
        walk.phase = walk.phase.saturating_add(1);
        walk.phase_at = next.at_ns;
        walk.cites = *key_digest;
    }
    if c.phase_keys.len() > c.phase_dones.len() {
        audit.fail(AuditError::Message {
            what: "the validator's phase keys".into(),
            reason: format!(
                "{} phase keys for {} phase-dones",
                c.phase_keys.len(),
                c.phase_dones.len()
            ),
        });
        return Some(Expected::Unknown);
    }
    None
}

/// The timing of a commitment that arrived at `at_ns` (the session's `Timing`, bit for bit).
fn commitment_timing(
    c: &ChallengeRecord,
    walk: &Walk,
    go_ns: u64,
    at_ns: u64,
    audit: &mut Audit,
) -> Option<Timing> {
    let Some(window) = c.envelope else {
        audit.fail(AuditError::Malformed {
            reason: "a commitment is recorded without the challenge's envelope".into(),
        });
        return None;
    };
    let raw = span(go_ns, at_ns);
    let measured = raw.saturating_sub(credit(c));
    let mut timing = Timing {
        window,
        measured_s: measured.as_secs_f64(),
        raw_s: raw.as_secs_f64(),
        rtt_s: raw.saturating_sub(measured).as_secs_f64(),
        leaves_checked: 0,
        phases: Vec::new(),
    };
    if phase_count(c) > 1 {
        timing.phases = walk.timings.clone();
        timing
            .phases
            .push(phase_timing(c, walk.phase, span(walk.phase_at, at_ns)));
    }
    Some(timing)
}

/// The leaves drawn: as many as the config asks, each in the layout, one salt each, drawn
/// after the commitment.
fn check_open(c: &ChallengeRecord, layout: &OutputLayout, commitment_ns: u64, audit: &mut Audit) {
    let per = layout.leaves_per_output();
    let outside = c
        .leaves
        .iter()
        .find(|l| l.output >= layout.outputs() || l.leaf >= per);
    if let Some(l) = outside {
        audit.fail(AuditError::Opening {
            output: l.output,
            leaf: l.leaf,
            reason: "the leaf drawn is not in the module's layout".into(),
        });
    }
    let count = usize::try_from(c.openings).unwrap_or(usize::MAX);
    if c.leaves.len() != count || c.salts.len() != c.leaves.len() {
        audit.fail(AuditError::Verdict {
            detail: format!(
                "{} leaves and {} salts drawn, the config asks for {}",
                c.leaves.len(),
                c.salts.len(),
                c.openings
            ),
        });
    }
    match c.open_ns {
        Some(open) => order(audit, "the Open", commitment_ns, open),
        None => audit.fail(AuditError::Times {
            detail: "a commitment was accepted but no Open was sent".into(),
        }),
    }
}

/// Compares the verdict the receipt implies with the recorded one.
fn compare(input: &Input<'_>, expected: Expected, audit: &mut Audit) {
    let recorded = &input.record.verdict;
    match expected {
        Expected::Unknown => {}
        Expected::Attested { kinds, why } => {
            if !kinds.contains(&recorded.kind()) {
                audit.fail(AuditError::Verdict {
                    detail: format!(
                        "recorded {}, but {why}: only {} can follow",
                        recorded.kind(),
                        kinds
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                });
                return;
            }
            check_timeout(recorded, input.record, audit);
            audit.attested.push(format!("{}: {why}", recorded.kind()));
        }
        Expected::Fault { cause, what, why } => match recorded {
            Verdict::ProtocolError(f) if f.cause == cause => audit
                .proven
                .push(format!("protocol-error ({cause:?}) proven: {what}: {why}")),
            Verdict::ProtocolError(f) => audit.fail(AuditError::Verdict {
                detail: format!(
                    "recorded cause {:?}, {what} gives {cause:?}: {why}",
                    f.cause
                ),
            }),
            _ => audit.fail(AuditError::Message { what, reason: why }),
        },
        Expected::NoOpenings { timing } => match recorded {
            Verdict::WrongResult(w) if NO_OPENINGS.contains(&w.cause) => {
                compare_timing(&w.timing, &timing, audit);
                audit.attested.push(format!(
                    "wrong-result: no openings were received ({:?}, the validator's word)",
                    w.cause
                ));
            }
            other => audit.fail(AuditError::Verdict {
                detail: format!(
                    "recorded {}, but after a valid commitment without openings only \
                     wrong-result can follow",
                    other.kind()
                ),
            }),
        },
        Expected::Wrong {
            cause,
            leaf,
            timing,
            why,
            root,
        } => compare_wrong(input, recorded, (cause, leaf, root), &timing, why, audit),
        Expected::Judged(verdict) => compare_judged(input, recorded, &verdict, audit),
    }
}

/// Causes of a `wrong-result` after a valid commitment that leave no openings.
const NO_OPENINGS: [Cause; 4] = [
    Cause::NoOpenings,
    Cause::ConnectionClosed,
    Cause::Malformed,
    Cause::Unexpected,
];

/// A `wrong-result` the receipt proves against the recorded verdict.
fn compare_wrong(
    input: &Input<'_>,
    recorded: &Verdict,
    (cause, leaf, root): (Cause, Option<LeafRef>, Option<[u8; 32]>),
    timing: &Timing,
    why: String,
    audit: &mut Audit,
) {
    match recorded {
        Verdict::WrongResult(w) if w.cause == cause && w.leaf == leaf => {
            compare_timing(&w.timing, timing, audit);
            if let (Cause::WrongContent, Some(l), Some(root)) = (cause, leaf, root) {
                let miner = transport::identity::ss58(&input.receipt.miner);
                audit.proven.push(format!(
                    "evidence: the miner {miner} signed root {} of output {}, a valid path \
                     leads from it to leaf {}, and the module's check finds that leaf wrong",
                    hex::encode(root),
                    l.output,
                    l.leaf
                ));
                audit.evidence = Some(WrongLeaf {
                    output: l.output,
                    leaf: l.leaf,
                    root: hex::encode(root),
                    miner,
                });
            } else {
                audit
                    .proven
                    .push(format!("wrong-result ({cause:?}) proven: {why}"));
            }
        }
        _ => match leaf {
            Some(l) => audit.fail(AuditError::Opening {
                output: l.output,
                leaf: l.leaf,
                reason: format!("{why} (recorded verdict: {})", recorded.kind()),
            }),
            None => audit.fail(AuditError::Verdict {
                detail: format!("recorded {}, but {why}", recorded.kind()),
            }),
        },
    }
}

/// A verdict judged on time against the recorded one, and its envelopes against the table.
fn compare_judged(input: &Input<'_>, recorded: &Verdict, expected: &Verdict, audit: &mut Audit) {
    let (Some(r), Some(e)) = (recorded.timing(), expected.timing()) else {
        return;
    };
    if recorded.kind() != expected.kind() {
        audit.fail(AuditError::Verdict {
            detail: format!(
                "recorded {}, the receipt's figures give {} (measured {:.6} s against a window \
                 of {:.6}..{:.6} s)",
                recorded.kind(),
                expected.kind(),
                e.measured_s,
                e.window.peak_floor_s,
                e.window.max_s
            ),
        });
    } else {
        audit.proven.push(format!(
            "all {} opened leaves follow valid paths to the signed roots and the module's check \
             recomputes each",
            e.leaves_checked
        ));
    }
    compare_timing(r, e, audit);
    match input.table {
        Some(table) => check_envelopes(table, input.record, audit),
        None => audit
            .attested
            .push("the envelope (the class table given is not the receipt's)".into()),
    }
    audit.attested.push(format!(
        "the times: measured {:.6} s (raw {:.6} s less {:.6} s of RTT) on the validator's clock",
        e.measured_s, e.raw_s, e.rtt_s
    ));
}

/// Every figure of `expected` against `recorded`, each difference named.
fn compare_timing(recorded: &Timing, expected: &Timing, audit: &mut Audit) {
    let mut differs = |figure: String, r: String, e: String| {
        audit.fail(AuditError::Verdict {
            detail: format!("{figure}: recorded {r}, the receipt's times and messages give {e}"),
        });
    };
    let seconds = |x: f64| format!("{x:.9} s");
    for (name, r, e) in [
        ("measured_s", recorded.measured_s, expected.measured_s),
        ("raw_s", recorded.raw_s, expected.raw_s),
        ("rtt_s", recorded.rtt_s, expected.rtt_s),
    ] {
        if r.to_bits() != e.to_bits() {
            differs(name.into(), seconds(r), seconds(e));
        }
    }
    if recorded.window != expected.window {
        differs(
            "the verdict's window".into(),
            format!("{:?}", recorded.window),
            format!("{:?}", expected.window),
        );
    }
    if recorded.leaves_checked != expected.leaves_checked {
        differs(
            "leaves_checked".into(),
            recorded.leaves_checked.to_string(),
            expected.leaves_checked.to_string(),
        );
    }
    if recorded.phases.len() != expected.phases.len() {
        differs(
            "phases".into(),
            recorded.phases.len().to_string(),
            expected.phases.len().to_string(),
        );
        return;
    }
    for (k, (r, e)) in recorded.phases.iter().zip(&expected.phases).enumerate() {
        if r != e {
            differs(
                format!("phase {k}"),
                format!("{:.9} s (raw {:.9} s)", r.measured_s, r.raw_s),
                format!("{:.9} s (raw {:.9} s)", e.measured_s, e.raw_s),
            );
        }
    }
}

/// A recorded `timeout`'s own figures: its window is the challenge's. (How long it waited is
/// the validator's word: the round's end may cut a wait short of its own limit.)
fn check_timeout(recorded: &Verdict, c: &ChallengeRecord, audit: &mut Audit) {
    let Verdict::Timeout(t) = recorded else {
        return;
    };
    if c.envelope.is_some_and(|e| e != t.window) {
        audit.fail(AuditError::Verdict {
            detail: "the timeout's window is not the challenge's envelope".into(),
        });
    }
}

/// The envelopes the class table gives this challenge, against the recorded ones.
fn check_envelopes(table: &ClassTable, c: &ChallengeRecord, audit: &mut Audit) {
    match table_envelopes(table, c) {
        Ok((whole, phases)) => {
            let recorded = c.envelope;
            let whole_ok = recorded.is_some_and(|r| close(&r, &whole));
            if !whole_ok {
                audit.fail(AuditError::Envelope {
                    what: "the challenge's envelope".into(),
                    detail: format!("recorded {recorded:?}, the class table gives {whole:?}"),
                });
            }
            let same = c.phase_envelopes.len() == phases.len()
                && c.phase_envelopes
                    .iter()
                    .zip(&phases)
                    .all(|(r, e)| close(r, e));
            if !same {
                audit.fail(AuditError::Envelope {
                    what: "the phase envelopes".into(),
                    detail: format!(
                        "recorded {:?}, the class table gives {phases:?}",
                        c.phase_envelopes
                    ),
                });
            }
            if whole_ok && same {
                audit.proven.push(format!(
                    "the envelope follows from the class table for class {}",
                    c.class.as_deref().unwrap_or("?")
                ));
            }
        }
        Err(detail) => audit.fail(AuditError::Envelope {
            what: "the challenge's envelope".into(),
            detail,
        }),
    }
}

/// The whole and per-phase windows the table gives (phases kept only when more than one, as
/// the session keeps them).
fn table_envelopes(
    table: &ClassTable,
    c: &ChallengeRecord,
) -> Result<(Envelope, Vec<Envelope>), String> {
    let class_id = c.class.as_deref().ok_or("the receipt names no class")?;
    let claimed = c
        .claimed
        .as_ref()
        .ok_or("the receipt has no inventory entry for the device")?;
    let mapped = table.classify(&claimed.name).map(|k| k.id());
    if mapped != Some(class_id) {
        return Err(format!(
            "the claimed name {:?} maps to {mapped:?} in the table, the receipt says {class_id}",
            claimed.name
        ));
    }
    let base = table
        .get(class_id)
        .ok_or_else(|| format!("the table has no class {class_id}"))?;
    let class = if base.kind() == ClassKind::Cpu {
        let rates = c
            .cpu_rates
            .ok_or("a cpu class without the calibrated rates")?;
        base.with_cpu_rates(rates).map_err(|e| e.to_string())?
    } else {
        base.clone()
    };
    let module = builtin_modules::by_hash(c.module_hash.as_bytes())
        .ok_or("the module is not a built-in one")?;
    let work = module.spec().work(&c.params.0).map_err(|e| e.to_string())?;
    let window = |e: Envelope| if c.rented { rented_window(e) } else { e };
    let whole = window(envelope(&class, &work).map_err(|e| e.to_string())?);
    let phases: Vec<Envelope> = step_envelopes(&class, &work)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(window)
        .collect();
    let phases = if phases.len() > 1 { phases } else { Vec::new() };
    Ok((whole, phases))
}

/// Equal within a relative 1e-9 (the same formulas on another machine).
fn close(a: &Envelope, b: &Envelope) -> bool {
    let near = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12);
    near(a.min_s, b.min_s) && near(a.max_s, b.max_s) && near(a.peak_floor_s, b.peak_floor_s)
}

/// How many interactive phases the session went through (as `SessionConfig::phase_count`).
fn phase_count(c: &ChallengeRecord) -> u32 {
    u32::try_from(c.phase_envelopes.len()).map_or(u32::MAX, |n| n.max(1))
}

/// The RTT credit: `min(min RTT, cap)`.
fn credit(c: &ChallengeRecord) -> Duration {
    Duration::from_nanos(c.min_rtt_ns).min(Duration::from_nanos(c.rtt_cap_ns))
}

/// From `from_ns` to `to_ns` as the session measured it (saturating).
fn span(from_ns: u64, to_ns: u64) -> Duration {
    Duration::from_nanos(to_ns).saturating_sub(Duration::from_nanos(from_ns))
}

/// The figures of interactive phase `phase`, which took `raw` (as the session computes them).
fn phase_timing(c: &ChallengeRecord, phase: u32, raw: Duration) -> PhaseTiming {
    let window = usize::try_from(phase)
        .ok()
        .and_then(|k| c.phase_envelopes.get(k))
        .copied()
        .or(c.envelope)
        .unwrap_or(Envelope {
            min_s: 0.0,
            max_s: 0.0,
            peak_floor_s: 0.0,
        });
    PhaseTiming {
        window,
        measured_s: raw.saturating_sub(credit(c)).as_secs_f64(),
        raw_s: raw.as_secs_f64(),
    }
}

/// Why `roots` cannot follow `before` (as the session's `root_contradiction`).
fn contradiction(
    layout: Option<&OutputLayout>,
    before: &[[u8; 32]],
    roots: &[[u8; 32]],
) -> Option<String> {
    let outputs = layout.map_or(usize::MAX, |l| {
        usize::try_from(l.outputs()).unwrap_or(usize::MAX)
    });
    if roots.len() > outputs {
        return Some(format!(
            "{} roots reported, the layout has {outputs} outputs",
            roots.len()
        ));
    }
    if roots.len() < before.len() || roots.iter().zip(before).any(|(a, b)| a != b) {
        return Some(format!(
            "the roots do not extend the {} reported before",
            before.len()
        ));
    }
    None
}

/// A `protocol-error` proven by the message `what`.
fn fault(cause: Cause, what: &str, why: String) -> Expected {
    Expected::Fault {
        cause,
        what: what.to_string(),
        why,
    }
}

/// A recorded envelope that does not parse: it was changed (the session kept what it parsed).
fn unreadable(audit: &mut Audit, what: &str, e: &protocol::ProtocolError) -> Expected {
    audit.fail(AuditError::Message {
        what: what.to_string(),
        reason: format!("it does not parse: {e}"),
    });
    Expected::Unknown
}

/// `to_ns` must not come before `from_ns`.
fn order(audit: &mut Audit, what: &str, from_ns: u64, to_ns: u64) {
    if to_ns < from_ns {
        audit.fail(AuditError::Times {
            detail: format!(
                "{what} at {to_ns} ns comes before the event it follows ({from_ns} ns)"
            ),
        });
    }
}

/// `to_ns` must come after `from_ns` and before its deadline (the session takes nothing
/// overdue).
fn within(audit: &mut Audit, what: &str, from_ns: u64, to_ns: u64, limit_ns: u64) {
    order(audit, what, from_ns, to_ns);
    if to_ns.saturating_sub(from_ns) >= limit_ns && limit_ns > 0 {
        audit.fail(AuditError::Times {
            detail: format!(
                "{what} came {} ns after it was asked for, past its {limit_ns} ns deadline, yet \
                 was taken",
                to_ns.saturating_sub(from_ns)
            ),
        });
    }
}
