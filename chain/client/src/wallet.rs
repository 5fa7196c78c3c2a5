//! sr25519 signing keys: a bittensor wallet hotkey file (`~/.bittensor/wallets/W/hotkeys/H`) or
//! a secret URI (`//Alice`, a mnemonic with `//hard/soft` junctions, `0x…` seed).
//!
//! A hotkey file is JSON written by the bittensor SDK: `secretSeed` (the 32-byte mini secret
//! key, hex) and/or `secretPhrase` (BIP-39 mnemonic), with `publicKey`/`accountId` (hex) and
//! `ss58Address` next to them. The seed wins when both are present. Every public-key field that
//! is present must match the key derived from the secret, so a corrupted or hand-edited file is
//! refused instead of silently signing as someone else. Encrypted files (coldkeys, or hotkeys
//! encrypted with `btcli`) are refused with a message saying so. Errors never contain secrets.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use subxt::utils::AccountId32;
use subxt_signer::SecretUri;
use subxt_signer::bip39::Mnemonic;
pub use subxt_signer::sr25519::Keypair;

use crate::error::ClientError;

/// Where a signing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A bittensor wallet hotkey file (unencrypted JSON).
    HotkeyFile(PathBuf),
    /// A secret URI as `subxt_signer::SecretUri` parses it (`//Alice`, `<mnemonic>//hard/soft`,
    /// `0x<32-byte seed hex>`).
    Uri(String),
}

impl KeySource {
    /// Loads the sr25519 keypair this source names.
    pub fn load(&self) -> Result<Keypair, ClientError> {
        match self {
            KeySource::HotkeyFile(path) => keypair_from_hotkey_file(path),
            KeySource::Uri(uri) => keypair_from_uri(uri),
        }
    }
}

/// The hotkey file path the bittensor SDK uses: `$HOME/.bittensor/wallets/<wallet>/hotkeys/<hotkey>`.
///
/// Fails when `HOME` is unset or a name is empty or contains a path separator (a name must not
/// escape the wallet directory).
pub fn default_hotkey_path(wallet: &str, hotkey: &str) -> Result<PathBuf, ClientError> {
    for (what, name) in [("wallet", wallet), ("hotkey", hotkey)] {
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(ClientError::Wallet {
                path: PathBuf::from(name),
                reason: format!("{what} name {name:?} must be a plain, non-empty file name"),
            });
        }
    }
    let home = std::env::var_os("HOME").ok_or_else(|| ClientError::Wallet {
        path: PathBuf::from("~/.bittensor"),
        reason: "HOME is not set; pass the hotkey file path explicitly".into(),
    })?;
    Ok(PathBuf::from(home)
        .join(".bittensor")
        .join("wallets")
        .join(wallet)
        .join("hotkeys")
        .join(hotkey))
}

/// Reads and parses a bittensor hotkey file; see [`parse_hotkey_json`].
pub fn keypair_from_hotkey_file(path: &Path) -> Result<Keypair, ClientError> {
    let bytes = std::fs::read(path).map_err(|e| ClientError::Wallet {
        path: path.to_path_buf(),
        reason: format!("cannot read the hotkey file: {e}"),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ClientError::Wallet {
        path: path.to_path_buf(),
        reason: "the file is not UTF-8 text; is it an encrypted key?".into(),
    })?;
    parse_hotkey_json(text, path)
}

/// The fields of a bittensor keyfile that matter here. Unknown fields are ignored (the SDK has
/// added fields over time); secrets are never echoed in errors.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyfileJson {
    secret_seed: Option<String>,
    secret_phrase: Option<String>,
    public_key: Option<String>,
    account_id: Option<String>,
    ss58_address: Option<String>,
}

/// Parses the JSON of a bittensor hotkey file into an sr25519 keypair. `origin` only names the
/// file in errors.
///
/// Guarantees: the key comes from `secretSeed` (preferred) or `secretPhrase`; every present
/// `publicKey`, `accountId` and `ss58Address` equals the derived public key, else an error.
pub fn parse_hotkey_json(json: &str, origin: &Path) -> Result<Keypair, ClientError> {
    let wallet_err = |reason: String| ClientError::Wallet {
        path: origin.to_path_buf(),
        reason,
    };
    let trimmed = json.trim_start();
    // Encrypted keyfiles start with a `$NACL` / `$ANSIBLE_VAULT` marker, never with JSON.
    if trimmed.starts_with('$') {
        return Err(wallet_err(
            "the key file is encrypted; gpuproof reads only unencrypted hotkey files (hotkeys are unencrypted by default) — or pass a secret URI instead".into(),
        ));
    }
    let file: KeyfileJson = serde_json::from_str(json).map_err(|e| {
        // serde_json messages can quote input values; name only the position.
        wallet_err(format!(
            "not a bittensor keyfile JSON object ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let keypair = match (&file.secret_seed, &file.secret_phrase) {
        (Some(seed), _) => keypair_from_seed_hex(seed).map_err(wallet_err)?,
        (None, Some(phrase)) => {
            let mnemonic = Mnemonic::parse(phrase.trim()).map_err(|e| {
                wallet_err(format!("secretPhrase is not a valid BIP-39 mnemonic: {e}"))
            })?;
            Keypair::from_phrase(&mnemonic, None)
                .map_err(|e| wallet_err(format!("cannot derive a key from secretPhrase: {e}")))?
        }
        (None, None) => {
            return Err(wallet_err(
                "no secretSeed or secretPhrase: this looks like a public-key-only file (e.g. coldkeypub.txt); point at the hotkey file".into(),
            ));
        }
    };
    check_public_fields(&file, &keypair).map_err(wallet_err)?;
    Ok(keypair)
}

/// A keypair from `0x`-prefixed (or bare) hex of a 32-byte mini secret key.
fn keypair_from_seed_hex(seed: &str) -> Result<Keypair, String> {
    let hex_str = seed.trim().trim_start_matches("0x");
    let bytes = hex::decode(hex_str).map_err(|e| format!("secretSeed is not hex: {e}"))?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("secretSeed must be 32 bytes, found {}", bytes.len()))?;
    Keypair::from_secret_key(seed)
        .map_err(|e| format!("secretSeed is not a valid sr25519 seed: {e}"))
}

/// Checks the file's public-key fields against the derived key.
fn check_public_fields(file: &KeyfileJson, keypair: &Keypair) -> Result<(), String> {
    let public = keypair.public_key().0;
    for (name, value) in [
        ("publicKey", &file.public_key),
        ("accountId", &file.account_id),
    ] {
        let Some(value) = value else { continue };
        let bytes = hex::decode(value.trim().trim_start_matches("0x"))
            .map_err(|e| format!("{name} is not hex: {e}"))?;
        if bytes != public {
            return Err(format!(
                "{name} 0x{} does not match the key derived from the secret (0x{}); the file is inconsistent",
                hex::encode(&bytes),
                hex::encode(public)
            ));
        }
    }
    if let Some(ss58) = &file.ss58_address {
        let account = AccountId32::from_str(ss58.trim())
            .map_err(|e| format!("ss58Address {ss58:?} is not a valid SS58 address: {e}"))?;
        if account.0 != public {
            return Err(format!(
                "ss58Address {ss58} does not match the key derived from the secret ({})",
                AccountId32(public)
            ));
        }
    }
    Ok(())
}

/// A keypair from a secret URI (`//Alice`, `<mnemonic>//hard/soft///password`, `0x<seed hex>`),
/// exactly as `subxt_signer::sr25519::Keypair::from_uri` (and Substrate's `from_string`) derive it.
pub fn keypair_from_uri(uri: &str) -> Result<Keypair, ClientError> {
    let parsed = SecretUri::from_str(uri).map_err(|e| ClientError::SecretUri {
        reason: e.to_string(),
    })?;
    Keypair::from_uri(&parsed).map_err(|e| ClientError::SecretUri {
        reason: e.to_string(),
    })
}
