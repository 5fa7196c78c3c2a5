//! `verify_certificate`: each way a session certificate is refused is its own typed error,
//! and a good one gives its hotkey.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ed25519_dalek::SigningKey;
use protocol::{Role, SessionKey};
use transport::KeySource;
use transport::identity::{
    CERTIFICATE_SKEW_MS, CertificateError, hotkey_of, issue_certificate, load_hotkey,
    verify_certificate,
};

#[test]
fn each_refusal_is_typed_and_a_good_certificate_gives_its_hotkey() {
    let hotkey = load_hotkey(&KeySource::Uri("//Alice".into())).unwrap();
    let key = SigningKey::from_bytes(&[7; 32]);
    let proven = SessionKey::of(&key);
    let now = 1_000_000;
    let cert = issue_certificate(&key, &hotkey, Role::Miner, now, Duration::from_secs(60));

    assert_eq!(
        verify_certificate(&cert, Role::Miner, &proven, now),
        Ok(hotkey_of(&hotkey))
    );
    assert_eq!(
        verify_certificate(&cert, Role::Validator, &proven, now),
        Err(CertificateError::Role {
            found: Role::Miner,
            expected: Role::Validator
        })
    );
    let other = SessionKey::of(&SigningKey::from_bytes(&[8; 32]));
    assert!(matches!(
        verify_certificate(&cert, Role::Miner, &other, now),
        Err(CertificateError::SessionKey { proven, .. }) if proven == other
    ));
    let late = cert.not_after_ms + CERTIFICATE_SKEW_MS + 1;
    let err = verify_certificate(&cert, Role::Miner, &proven, late).unwrap_err();
    assert!(matches!(err, CertificateError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("restart"), "{err}");
    // A later expiry than the one signed: the signature no longer covers it.
    let mut forged = cert.clone();
    forged.not_after_ms += 1;
    let err = verify_certificate(&forged, Role::Miner, &proven, now).unwrap_err();
    assert!(matches!(err, CertificateError::Signature { .. }), "{err:?}");
}
