//! [`audit`]: re-checks one receipt with nothing but its bytes, a class table and a leaf
//! checker (the module's `check` in a CPU sandbox): no network, no store.
//!
//! Every check runs, also after one failed, so a changed receipt is refused with every
//! failure it causes: a flipped byte breaks the validator's signature and also the path, the
//! signature or the figure it touched ([`AuditError`] names which). See the
//! [module docs](super) for what is proven and what is only attested.

use protocol::{Go, PhaseKey, Prepare, Role, SessionKey, Signed};
use serde::Serialize;
use validator_store::VerdictKind;

use super::format::{ChallengeRecord, FaultRecord, RECEIPT_FORMAT, Receipt, Subject};
use super::replay;
use crate::classes::ClassTable;
use crate::session::LeafChecker;

/// What an audit checks against: the class table the receipt must name, and the checker that
/// recomputes leaves.
#[derive(Clone, Copy)]
pub struct AuditContext<'a> {
    /// The class table (the built-in one, or `--classes FILE`).
    pub table: &'a ClassTable,
    /// Recomputes leaves (production: `SandboxChecker` with the built-in modules).
    pub checker: &'a dyn LeafChecker,
}

/// One failed check of a receipt: which, and where.
///
/// Guarantee: an audit with none of these means every signature, citation, seed, path and
/// leaf of the receipt checks out and its verdict follows from its figures under the class
/// table it names.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuditError {
    /// The file is not a receipt (not a signed envelope of one, or its body does not decode).
    #[error("not a receipt: {reason}")]
    Malformed {
        /// What does not decode.
        reason: String,
    },
    /// A receipt of a format this verifier does not read.
    #[error(
        "receipt format {found} is not one this verifier reads (it reads format \
         {RECEIPT_FORMAT}); audit it with the verifier that wrote it or a newer one"
    )]
    Format {
        /// The receipt's format.
        found: u16,
    },
    /// The validator's signature over the receipt does not verify.
    #[error(
        "the validator's signature over the receipt does not verify ({reason}): the receipt \
         was changed after it was signed"
    )]
    ValidatorSignature {
        /// Why.
        reason: String,
    },
    /// The validator's certificate does not vouch for the key that signed the receipt.
    #[error("the validator's certificate does not hold: {reason}")]
    ValidatorCertificate {
        /// Why.
        reason: String,
    },
    /// The miner's certificate is missing or does not vouch for its key.
    #[error("the miner's certificate does not hold: {reason}")]
    MinerCertificate {
        /// Why.
        reason: String,
    },
    /// The receipt names another class table than the one given.
    #[error(
        "the receipt was judged under class table {named}, not the one given ({have}); pass \
         --classes FILE with the table whose hash is {named}"
    )]
    ClassTable {
        /// The receipt's table hash (hex).
        named: String,
        /// The given table's hash (hex).
        have: String,
    },
    /// The module is not one this verifier has, or the params are not its.
    #[error("{reason}")]
    Module {
        /// Why its leaves cannot be checked.
        reason: String,
    },
    /// A signed message of the receipt does not verify, does not decode, or cites the wrong
    /// message.
    #[error("{what}: {reason}")]
    Message {
        /// Which message (`the miner's commitment`, `the validator's phase key 1`, …).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of the receipt differs from the signed message that carries it.
    #[error("the receipt's {field} differs from the one in the signed {message}: {detail}")]
    Mismatch {
        /// The receipt's field.
        field: &'static str,
        /// The message.
        message: &'static str,
        /// The two values.
        detail: String,
    },
    /// A recorded seed is not the one its nonce and binding derive.
    #[error(
        "{what} is not what the nonce and the binding derive (recorded {recorded}, derived {derived})"
    )]
    Seed {
        /// Which seed.
        what: String,
        /// The receipt's (hex).
        recorded: String,
        /// The derived one (hex).
        derived: String,
    },
    /// An opened leaf does not hold: its path or its content.
    #[error("output {output} leaf {leaf}: {reason}")]
    Opening {
        /// The output.
        output: u32,
        /// The leaf.
        leaf: u64,
        /// What fails.
        reason: String,
    },
    /// The recorded envelope is not the class table's.
    #[error("{what}: {detail}")]
    Envelope {
        /// Which envelope.
        what: String,
        /// Recorded and expected.
        detail: String,
    },
    /// The recorded verdict does not follow from the receipt's messages and figures.
    #[error("the recorded verdict does not follow: {detail}")]
    Verdict {
        /// Why.
        detail: String,
    },
    /// The receipt's times contradict each other or the session's deadlines.
    #[error("the times do not hold: {detail}")]
    Times {
        /// Why.
        detail: String,
    },
    /// The auditor's own checker failed (not a judgement of the receipt: audit again).
    #[error("the auditor's checker failed on output {output} leaf {leaf}: {reason}")]
    Checker {
        /// The output.
        output: u32,
        /// The leaf.
        leaf: u64,
        /// Why.
        reason: String,
    },
}

impl AuditError {
    /// The check's short name (`validator-signature`, `opening`, …), for scripts.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::Format { .. } => "format",
            Self::ValidatorSignature { .. } => "validator-signature",
            Self::ValidatorCertificate { .. } => "validator-certificate",
            Self::MinerCertificate { .. } => "miner-certificate",
            Self::ClassTable { .. } => "class-table",
            Self::Module { .. } => "module",
            Self::Message { .. } => "message",
            Self::Mismatch { .. } => "mismatch",
            Self::Seed { .. } => "seed",
            Self::Opening { .. } => "opening",
            Self::Envelope { .. } => "envelope",
            Self::Verdict { .. } => "verdict",
            Self::Times { .. } => "times",
            Self::Checker { .. } => "checker",
        }
    }
}

/// A `wrong-result` receipt as evidence: the miner signed `root` for `output`, and a valid
/// path from it leads to leaf `leaf`, whose content the module's `check` finds wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrongLeaf {
    /// The output.
    pub output: u32,
    /// The leaf.
    pub leaf: u64,
    /// The root the miner signed (hex).
    pub root: String,
    /// The miner's hotkey (SS58) whose certificate vouches for the signing key.
    pub miner: String,
}

/// What an audit found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Audit {
    /// The receipt's id (hex), when it parsed.
    pub id: Option<String>,
    /// The verdict kind it records.
    pub verdict: Option<VerdictKind>,
    /// The miner's hotkey (SS58).
    pub miner: Option<String>,
    /// The validator's hotkey (SS58).
    pub validator: Option<String>,
    /// Every failed check (empty: the receipt holds).
    #[serde(serialize_with = "failures_json")]
    pub failures: Vec<AuditError>,
    /// What the receipt proves, checked, for a person.
    pub proven: Vec<String>,
    /// What rests on the validator's word alone (its signature attests it).
    pub attested: Vec<String>,
    /// For a `wrong-result` over a leaf: the evidence.
    pub evidence: Option<WrongLeaf>,
}

impl Audit {
    /// Whether every check passed.
    pub fn holds(&self) -> bool {
        self.failures.is_empty()
    }

    /// Records a failed check.
    pub(crate) fn fail(&mut self, failure: AuditError) {
        if !self.failures.contains(&failure) {
            self.failures.push(failure);
        }
    }
}

/// Failures as `[{"check": …, "message": …}]`.
fn failures_json<S: serde::Serializer>(
    failures: &[AuditError],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(failures.len()))?;
    for f in failures {
        seq.serialize_element(&serde_json::json!({
            "check": f.check(),
            "message": f.to_string(),
        }))?;
    }
    seq.end()
}

/// Audits the receipt file `bytes` against `ctx`. Never panics and never fails: what does not
/// hold is in [`Audit::failures`].
pub fn audit(bytes: &[u8], ctx: &AuditContext<'_>) -> Audit {
    let mut audit = Audit::default();
    let Some((signed, receipt)) = open(bytes, &mut audit) else {
        return audit;
    };
    audit.id = Some(hex::encode(signed.digest().as_bytes()));
    audit.verdict = Some(receipt.verdict_kind());
    audit.miner = Some(transport::identity::ss58(&receipt.miner));
    audit.validator = Some(transport::identity::ss58(&receipt.validator));
    if receipt.format != RECEIPT_FORMAT {
        audit.fail(AuditError::Format {
            found: receipt.format,
        });
        return audit;
    }
    check_validator(&signed, &receipt, &mut audit);
    let table_ok = receipt.class_table.0 == ctx.table.hash();
    if !table_ok {
        audit.fail(AuditError::ClassTable {
            named: receipt.class_table.to_string(),
            have: hex::encode(ctx.table.hash()),
        });
    }
    let miner_key = check_miner_certificate(&receipt, &mut audit);
    let table = table_ok.then_some(ctx.table);
    match &receipt.subject {
        Subject::Challenge(c) => {
            audit_challenge(&receipt, c, miner_key, table, ctx, &mut audit);
        }
        Subject::MinerFault(f) => audit_fault(f, table, &mut audit),
    }
    audit
}

/// The envelope and its body (decoded even when the signature fails, so that the other checks
/// can say what changed).
fn open(bytes: &[u8], audit: &mut Audit) -> Option<(Signed<Receipt>, Receipt)> {
    if bytes.len() > super::MAX_RECEIPT_BYTES {
        audit.fail(AuditError::Malformed {
            reason: format!(
                "{} bytes, more than the {} a receipt may have",
                bytes.len(),
                super::MAX_RECEIPT_BYTES
            ),
        });
        return None;
    }
    let signed = match Signed::<Receipt>::from_bytes(bytes) {
        Ok(s) => s,
        Err(e) => {
            audit.fail(AuditError::Malformed {
                reason: e.to_string(),
            });
            return None;
        }
    };
    let receipt = match signed.verify() {
        Ok(receipt) => receipt,
        Err(e) => {
            audit.fail(AuditError::ValidatorSignature {
                reason: e.to_string(),
            });
            let mut body = signed.body();
            match ciborium::de::from_reader_with_recursion_limit::<Receipt, _>(&mut body, 64) {
                Ok(receipt) if body.is_empty() => receipt,
                Ok(_) => {
                    audit.fail(AuditError::Malformed {
                        reason: "trailing bytes after the receipt's body".into(),
                    });
                    return None;
                }
                Err(e) => {
                    audit.fail(AuditError::Malformed {
                        reason: format!("the body does not decode: {e}"),
                    });
                    return None;
                }
            }
        }
    };
    Some((signed, receipt))
}

/// The validator's certificate: for the key that signed the receipt, by the receipt's
/// validator hotkey, as a validator, valid when the round began.
fn check_validator(signed: &Signed<Receipt>, receipt: &Receipt, audit: &mut Audit) {
    let cert = &receipt.validator_certificate;
    let verdict = transport::identity::verify_certificate(
        cert,
        Role::Validator,
        signed.signer(),
        receipt.at_ms,
    );
    match verdict {
        Ok(hotkey) if hotkey == receipt.validator => audit.proven.push(format!(
            "the validator {} signed this receipt with the session key its certificate vouches \
             for",
            transport::identity::ss58(&hotkey)
        )),
        Ok(hotkey) => audit.fail(AuditError::ValidatorCertificate {
            reason: format!(
                "it is {}'s, the receipt names validator {}",
                transport::identity::ss58(&hotkey),
                transport::identity::ss58(&receipt.validator)
            ),
        }),
        Err(e) => audit.fail(AuditError::ValidatorCertificate {
            reason: e.to_string(),
        }),
    }
}

/// The miner's certificate, when present: by the receipt's miner hotkey, as a miner, valid
/// when the round began. Returns the session key it vouches for (`None`: absent or bad).
fn check_miner_certificate(receipt: &Receipt, audit: &mut Audit) -> Option<SessionKey> {
    let cert = receipt.miner_certificate.as_ref()?;
    match transport::identity::verify_certificate(
        cert,
        Role::Miner,
        &cert.session_key,
        receipt.at_ms,
    ) {
        Ok(hotkey) if hotkey == receipt.miner => Some(cert.session_key),
        Ok(hotkey) => {
            audit.fail(AuditError::MinerCertificate {
                reason: format!(
                    "it is {}'s, the receipt names miner {}",
                    transport::identity::ss58(&hotkey),
                    transport::identity::ss58(&receipt.miner)
                ),
            });
            None
        }
        Err(e) => {
            audit.fail(AuditError::MinerCertificate {
                reason: e.to_string(),
            });
            None
        }
    }
}

/// A miner-level fault: attested, and for an inventory refused, the inventory must indeed be
/// one that cannot be challenged (under the table, when it is the receipt's).
fn audit_fault(f: &FaultRecord, table: Option<&ClassTable>, audit: &mut Audit) {
    let known = matches!(
        (f.stage.as_str(), f.kind),
        ("connection", VerdictKind::Timeout) | ("inventory", VerdictKind::ProtocolError)
    );
    if !known {
        audit.fail(AuditError::Verdict {
            detail: format!(
                "a miner-level {} at stage {:?} is not a verdict the verifier gives",
                f.kind, f.stage
            ),
        });
        return;
    }
    if f.stage == "inventory" {
        match (&f.inventory, table) {
            (None, _) => audit.fail(AuditError::Verdict {
                detail: "an inventory refused, but no inventory recorded".into(),
            }),
            (Some(inventory), Some(table)) => {
                let refused = crate::client::check_inventory(inventory, |g| {
                    table.classify(&g.name).is_some()
                });
                match refused {
                    Err(why) => audit.proven.push(format!(
                        "the inventory recorded cannot be challenged: {why}"
                    )),
                    Ok(()) => audit.fail(AuditError::Verdict {
                        detail: "the inventory recorded could be challenged, yet it was \
                                 refused"
                            .into(),
                    }),
                }
            }
            (Some(_), None) => {}
        }
        audit.attested.push(
            "the inventory is the miner's unsigned message, as the validator received it".into(),
        );
    } else {
        audit
            .attested
            .push(format!("the miner could not be reached: {}", f.detail));
    }
}

/// A device challenge: the validator's messages, the miner's, the seeds, then the replay of
/// the session's judgement against the recorded verdict.
fn audit_challenge(
    receipt: &Receipt,
    c: &ChallengeRecord,
    miner_key: Option<SessionKey>,
    table: Option<&ClassTable>,
    ctx: &AuditContext<'_>,
    audit: &mut Audit,
) {
    let validator_key = receipt.validator_certificate.session_key;
    let mut own = Own::default();
    if let Some(prepare) = &c.prepare {
        own.prepare = check_prepare(receipt, c, &prepare.envelope.0, &validator_key, audit);
    }
    if let Some(go) = &c.go {
        own.go = check_go(
            c,
            &go.envelope.0,
            &validator_key,
            own.prepare.as_ref(),
            audit,
        );
    }
    own.keys = c
        .phase_keys
        .iter()
        .enumerate()
        .map(|(k, key)| check_phase_key(c, k, &key.envelope.0, &validator_key, audit))
        .collect();
    let has_miner_messages = c.commitment.is_some() || !c.phase_dones.is_empty();
    if has_miner_messages && receipt.miner_certificate.is_none() {
        audit.fail(AuditError::MinerCertificate {
            reason: "the receipt holds messages of the miner but not its certificate".into(),
        });
    }
    replay::judge(
        &replay::Input {
            receipt,
            record: c,
            own: &own,
            miner_key,
            table,
            checker: ctx.checker,
        },
        audit,
    );
}

/// What the validator's own messages established (each `None` when absent or bad).
#[derive(Debug, Default)]
pub(crate) struct Own {
    /// The digest of the signed `Prepare`.
    pub(crate) prepare: Option<protocol::Digest>,
    /// The signed `Go`: its digest and nonce.
    pub(crate) go: Option<(protocol::Digest, [u8; 32])>,
    /// Each signed `PhaseKey`: its body and digest.
    pub(crate) keys: Vec<Option<(PhaseKey, protocol::Digest)>>,
}

/// The validator's `Prepare`: signed by its session key, and saying what the receipt says.
fn check_prepare(
    receipt: &Receipt,
    c: &ChallengeRecord,
    bytes: &[u8],
    key: &SessionKey,
    audit: &mut Audit,
) -> Option<protocol::Digest> {
    let (prepare, digest) = own_message::<Prepare>(bytes, key, "the validator's prepare", audit)?;
    let mut differs = |field: &'static str, detail: String| {
        audit.fail(AuditError::Mismatch {
            field,
            message: "prepare",
            detail,
        });
    };
    if prepare.protocol_version != receipt.protocol_version {
        differs(
            "protocol_version",
            format!(
                "{} vs {}",
                receipt.protocol_version, prepare.protocol_version
            ),
        );
    }
    if prepare.validator != receipt.validator || prepare.miner != receipt.miner {
        differs("hotkeys", "validator or miner hotkey".into());
    }
    if prepare.module_hash != c.module_hash {
        differs(
            "module_hash",
            format!("{} vs {}", c.module_hash, prepare.module_hash),
        );
    }
    if prepare.params != c.params.0 {
        differs(
            "params",
            format!(
                "{} vs {}",
                hex::encode(&c.params.0),
                hex::encode(&prepare.params)
            ),
        );
    }
    if prepare.device != c.device {
        differs("device", format!("{} vs {}", c.device, prepare.device));
    }
    Some(digest)
}

/// The validator's `Go`: signed, citing the `Prepare`, carrying the receipt's nonce.
fn check_go(
    c: &ChallengeRecord,
    bytes: &[u8],
    key: &SessionKey,
    prepare: Option<&protocol::Digest>,
    audit: &mut Audit,
) -> Option<(protocol::Digest, [u8; 32])> {
    let (go, digest) = own_message::<Go>(bytes, key, "the validator's go", audit)?;
    if prepare.is_some_and(|p| *p != go.prepare) {
        audit.fail(AuditError::Message {
            what: "the validator's go".into(),
            reason: "it cites another prepare than the receipt's".into(),
        });
    }
    let nonce = go.nonce.into_bytes();
    if c.nonce.map(|n| n.0) != Some(nonce) {
        audit.fail(AuditError::Mismatch {
            field: "nonce",
            message: "go",
            detail: format!(
                "{} vs {}",
                c.nonce.map_or_else(|| "none".into(), |n| n.to_string()),
                hex::encode(nonce)
            ),
        });
    }
    Some((digest, nonce))
}

/// The validator's `PhaseKey k + 1`: signed, for phase `k + 1`, with the receipt's nonce.
/// (Which `PhaseDone` it must cite is checked by the replay.)
fn check_phase_key(
    c: &ChallengeRecord,
    k: usize,
    bytes: &[u8],
    key: &SessionKey,
    audit: &mut Audit,
) -> Option<(PhaseKey, protocol::Digest)> {
    let what = format!("the validator's phase key {}", k.saturating_add(1));
    let (body, digest) = own_message::<PhaseKey>(bytes, key, &what, audit)?;
    if usize::try_from(body.phase).ok() != k.checked_add(1) {
        audit.fail(AuditError::Message {
            what: what.clone(),
            reason: format!("it begins phase {}", body.phase),
        });
    }
    let recorded = c.phase_nonces.get(k).map(|n| n.0);
    if recorded != Some(body.nonce.into_bytes()) {
        audit.fail(AuditError::Mismatch {
            field: "phase_nonces",
            message: "phase key",
            detail: format!("phase {}", k.saturating_add(1)),
        });
    }
    Some((body, digest))
}

/// A message the validator signed: decoded and verified against its session key.
fn own_message<T: protocol::Signable>(
    bytes: &[u8],
    key: &SessionKey,
    what: &str,
    audit: &mut Audit,
) -> Option<(T, protocol::Digest)> {
    let verified = Signed::<T>::from_bytes(bytes).and_then(|s| {
        let body = s.verify_from(key)?;
        Ok((body, s.digest()))
    });
    match verified {
        Ok(v) => Some(v),
        Err(e) => {
            audit.fail(AuditError::Message {
                what: what.to_string(),
                reason: e.to_string(),
            });
            None
        }
    }
}
