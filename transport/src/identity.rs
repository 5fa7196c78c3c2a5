//! Who a peer is: the ed25519 session key (a file written by `keygen`, mode 0600), the sr25519
//! hotkey (the chain identity) that vouches for it with a [`SessionCertificate`], and allow
//! lists of hotkeys.
//!
//! A process loads its session key and its hotkey at start, and issues itself a certificate
//! valid for [`DEFAULT_CERTIFICATE_VALIDITY`]; nothing but the session key is stored. A peer's
//! certificate is accepted by [`verify_certificate`] only if the hotkey's sr25519 signature
//! verifies, the role is the one expected, the session key is the one the TLS handshake proved,
//! and it has not expired (with [`CERTIFICATE_SKEW_MS`] of clock-skew tolerance).

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use protocol::{Hotkey, Role, SessionCertificate, SessionKey};
use serde::{Deserialize, Serialize};
use subxt_signer::sr25519;

use crate::error::TransportError;

pub use chain_client::KeySource;

/// How long a self-issued certificate is valid.
pub const DEFAULT_CERTIFICATE_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// Clock skew tolerated when checking a certificate's expiry, in ms.
pub const CERTIFICATE_SKEW_MS: u64 = 5_000;

/// Unix time in ms now (0 if the clock is before 1970).
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a session key file holds (JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    /// Always `"gpuproof-ed25519-session-key"`.
    #[serde(rename = "type")]
    kind: String,
    /// The 32-byte secret seed, hex.
    secret: String,
    /// The public key, hex (checked on load).
    public: String,
}

const KEY_FILE_TYPE: &str = "gpuproof-ed25519-session-key";

/// `N` bytes from the OS random number generator.
pub fn os_random<const N: usize>() -> Result<[u8; N], TransportError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| TransportError::Random(e.to_string()))?;
    Ok(out)
}

/// A fresh ed25519 session key from OS randomness, kept in memory only (for one-off runs);
/// [`keygen`] writes one to a file.
pub fn generate_key() -> Result<SigningKey, TransportError> {
    Ok(SigningKey::from_bytes(&os_random()?))
}

/// Generates a fresh ed25519 session key from OS randomness and writes it to `path` with mode
/// 0600. Refuses to overwrite an existing file unless `force`. Returns the public key.
pub fn keygen(path: &Path, force: bool) -> Result<SessionKey, TransportError> {
    let key = generate_key()?;
    write_key_file(path, &key, force)?;
    Ok(SessionKey::of(&key))
}

/// Writes `key` to `path` (mode 0600 from creation on, never world-readable even briefly).
pub fn write_key_file(path: &Path, key: &SigningKey, force: bool) -> Result<(), TransportError> {
    let err = |reason: String| TransportError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let json = KeyFileJson {
        kind: KEY_FILE_TYPE.into(),
        secret: hex::encode(key.to_bytes()),
        public: hex::encode(key.verifying_key().to_bytes()),
    };
    let text = serde_json::to_string_pretty(&json).map_err(|e| err(e.to_string()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create its directory: {e}")))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            err("already exists; pass --force to replace it (the old key is lost)".into())
        } else {
            err(format!("cannot create: {e}"))
        }
    })?;
    #[cfg(unix)]
    {
        // With --force on an existing file, `mode` above did not apply.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(format!("cannot set mode 0600: {e}")))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| err(format!("cannot write: {e}")))
}

/// Reads a session key file written by [`keygen`]. Refuses a file readable or writable by group
/// or others (like ssh does), a file of another type, and a public key that does not match.
pub fn load_key_file(path: &Path) -> Result<SigningKey, TransportError> {
    let err = |reason: String| TransportError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        err(format!(
            "cannot read: {e}; create one with `keygen --out {}`",
            path.display()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "mode {mode:o} lets other users read or change the key; run `chmod 600 {}`",
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let json: KeyFileJson =
        serde_json::from_str(&text).map_err(|e| err(format!("not a session key file: {e}")))?;
    if json.kind != KEY_FILE_TYPE {
        return Err(err(format!(
            "type is {:?}, expected {KEY_FILE_TYPE:?}",
            json.kind
        )));
    }
    let secret: [u8; 32] = hex::decode(json.secret.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| err("`secret` is not 32 bytes of hex".into()))?;
    let key = SigningKey::from_bytes(&secret);
    if hex::encode(key.verifying_key().to_bytes()) != json.public.trim().to_ascii_lowercase() {
        return Err(err(
            "`public` does not match the secret; the file is corrupt or edited".into(),
        ));
    }
    Ok(key)
}

/// Loads the sr25519 hotkey a [`KeySource`] names.
pub fn load_hotkey(source: &KeySource) -> Result<sr25519::Keypair, TransportError> {
    source
        .load()
        .map_err(|e| TransportError::Hotkey(e.to_string()))
}

/// The [`Hotkey`] (public key) of an sr25519 keypair.
pub fn hotkey_of(keypair: &sr25519::Keypair) -> Hotkey {
    Hotkey::new(keypair.public_key().0)
}

/// A hotkey as an SS58 address (generic substrate prefix 42, as bittensor shows them).
pub fn ss58(hotkey: &Hotkey) -> String {
    subxt_utils_accountid32::AccountId32::from(*hotkey.as_bytes()).to_string()
}

/// Parses a hotkey given as an SS58 address or `0x` + 64 hex digits.
pub fn parse_hotkey(entry: &str) -> Result<Hotkey, TransportError> {
    let entry = entry.trim();
    if let Some(hexpart) = entry.strip_prefix("0x") {
        let bytes: [u8; 32] = hex::decode(hexpart)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| TransportError::BadAccount {
                entry: entry.into(),
                reason: "expected 64 hex digits after 0x".into(),
            })?;
        return Ok(Hotkey::new(bytes));
    }
    subxt_utils_accountid32::AccountId32::from_str(entry)
        .map(|a| Hotkey::new(a.0))
        .map_err(|e| TransportError::BadAccount {
            entry: entry.into(),
            reason: e.to_string(),
        })
}

/// A process's identity on the wire: its session key and the certificate its hotkey gave it.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    certificate: SessionCertificate,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Identity")
            .field("session_key", &self.certificate.session_key)
            .field("hotkey", &ss58(&self.certificate.hotkey))
            .field("role", &self.certificate.role)
            .finish()
    }
}

impl Identity {
    /// Issues a certificate for `key` signed by `hotkey`, for `role`, valid for `validity` from
    /// now.
    pub fn issue(
        key: SigningKey,
        hotkey: &sr25519::Keypair,
        role: Role,
        validity: Duration,
    ) -> Self {
        let certificate = issue_certificate(&key, hotkey, role, unix_ms_now(), validity);
        Self { key, certificate }
    }

    /// An identity from a key and a certificate as they are, unchecked (the peer checks). For
    /// tests of forged identities, and for a certificate issued elsewhere.
    pub fn from_parts(key: SigningKey, certificate: SessionCertificate) -> Self {
        Self { key, certificate }
    }

    /// The session signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The session public key.
    pub fn session_key(&self) -> SessionKey {
        SessionKey::of(&self.key)
    }

    /// The hotkey this identity acts for.
    pub fn hotkey(&self) -> Hotkey {
        self.certificate.hotkey
    }

    /// The certificate sent to peers.
    pub fn certificate(&self) -> &SessionCertificate {
        &self.certificate
    }
}

/// A certificate binding `key` to `hotkey` for `role` until `now_ms + validity`.
pub fn issue_certificate(
    key: &SigningKey,
    hotkey: &sr25519::Keypair,
    role: Role,
    now_ms: u64,
    validity: Duration,
) -> SessionCertificate {
    let session_key = SessionKey::of(key);
    let hot = hotkey_of(hotkey);
    let not_after_ms =
        now_ms.saturating_add(u64::try_from(validity.as_millis()).unwrap_or(u64::MAX));
    let bytes = SessionCertificate::signing_bytes(role, &session_key, &hot, not_after_ms);
    SessionCertificate {
        role,
        session_key,
        hotkey: hot,
        not_after_ms,
        signature: hotkey.sign(&bytes).0,
    }
}

/// Why a session certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// It is for the other role (a miner's certificate offered as a validator's, or back).
    #[error("the certificate is for role {found:?}, expected {expected:?}")]
    Role {
        /// The role it names.
        found: Role,
        /// The role asked for.
        expected: Role,
    },
    /// It vouches for another session key than the one the connection (or signature) proved.
    #[error(
        "the certificate vouches for session key {certified}, but the connection proved {proven}"
    )]
    SessionKey {
        /// The key it vouches for.
        certified: SessionKey,
        /// The key proven.
        proven: SessionKey,
    },
    /// It expired (beyond the allowed clock skew).
    #[error(
        "the certificate expired at {not_after_ms} ms (now {now_ms} ms); the peer must restart \
         to renew it"
    )]
    Expired {
        /// Its end of validity.
        not_after_ms: u64,
        /// The time it was checked at.
        now_ms: u64,
    },
    /// The hotkey's sr25519 signature over it does not verify.
    #[error("the hotkey signature does not verify for {}", ss58(.hotkey))]
    Signature {
        /// The hotkey it names.
        hotkey: Hotkey,
    },
}

/// Checks a peer's certificate: the role is `role`, the session key is `proven` (the key the
/// TLS handshake proved), it is unexpired at `now_ms` (± [`CERTIFICATE_SKEW_MS`]), and the
/// hotkey's sr25519 signature verifies. Returns the hotkey.
pub fn verify_certificate(
    certificate: &SessionCertificate,
    role: Role,
    proven: &SessionKey,
    now_ms: u64,
) -> Result<Hotkey, CertificateError> {
    if certificate.role != role {
        return Err(CertificateError::Role {
            found: certificate.role,
            expected: role,
        });
    }
    if certificate.session_key != *proven {
        return Err(CertificateError::SessionKey {
            certified: certificate.session_key,
            proven: *proven,
        });
    }
    if certificate.not_after_ms.saturating_add(CERTIFICATE_SKEW_MS) < now_ms {
        return Err(CertificateError::Expired {
            not_after_ms: certificate.not_after_ms,
            now_ms,
        });
    }
    let signature = sr25519::Signature(certificate.signature);
    let public = sr25519::PublicKey(*certificate.hotkey.as_bytes());
    if !sr25519::verify(&signature, certificate.to_signing_bytes(), &public) {
        return Err(CertificateError::Signature {
            hotkey: certificate.hotkey,
        });
    }
    Ok(certificate.hotkey)
}

/// Which validator hotkeys a miner serves: an explicit allow list (empty = nobody) and a deny
/// list that wins over it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    allow: std::collections::BTreeSet<Hotkey>,
    deny: std::collections::BTreeSet<Hotkey>,
    allow_any: bool,
}

impl AllowList {
    /// Parses allow and deny entries (SS58 or 0x-hex). The allow entry `"*"` admits every hotkey
    /// not denied (for local testing only).
    pub fn parse(allow: &[String], deny: &[String]) -> Result<Self, TransportError> {
        let mut list = Self::default();
        for entry in allow {
            if entry.trim() == "*" {
                list.allow_any = true;
            } else {
                list.allow.insert(parse_hotkey(entry)?);
            }
        }
        for entry in deny {
            list.deny.insert(parse_hotkey(entry)?);
        }
        Ok(list)
    }

    /// A list allowing exactly `hotkeys`.
    pub fn of(hotkeys: impl IntoIterator<Item = Hotkey>) -> Self {
        Self {
            allow: hotkeys.into_iter().collect(),
            ..Self::default()
        }
    }

    /// This list with `extra` hotkeys allowed as well (the deny list still wins), e.g. the
    /// metagraph's validator permits on top of the operator's entries.
    pub fn with_also(&self, extra: impl IntoIterator<Item = Hotkey>) -> Self {
        let mut list = self.clone();
        list.allow.extend(extra);
        list
    }

    /// Whether `hotkey` is served.
    pub fn admits(&self, hotkey: &Hotkey) -> bool {
        !self.deny.contains(hotkey) && (self.allow_any || self.allow.contains(hotkey))
    }
}

/// Where the hotkey comes from: `wallet` + `name`, or `file`, or `uri`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotkeyConfig {
    /// Wallet name under `~/.bittensor/wallets`.
    pub wallet: Option<String>,
    /// Hotkey name in that wallet.
    pub name: Option<String>,
    /// A hotkey file path.
    pub file: Option<std::path::PathBuf>,
    /// A secret URI such as `//Bob`.
    pub uri: Option<String>,
}

impl HotkeyConfig {
    /// The key source this names; fails unless exactly one way is given.
    pub fn source(&self) -> Result<KeySource, crate::HotkeySourceError> {
        match (&self.wallet, &self.name, &self.file, &self.uri) {
            (Some(w), Some(n), None, None) => Ok(KeySource::HotkeyFile(
                chain_client::wallet::default_hotkey_path(w, n)?,
            )),
            (None, None, Some(f), None) => Ok(KeySource::HotkeyFile(f.clone())),
            (None, None, None, Some(u)) => Ok(KeySource::Uri(u.clone())),
            _ => Err(crate::HotkeySourceError::NotExactlyOne),
        }
    }
}
