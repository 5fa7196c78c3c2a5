//! CBOR encoding and strict decoding of one value (ciborium underneath).
//!
//! Decoding is bounded in nesting depth, rejects trailing bytes and never reads past the input
//! slice; the caller bounds the input length (the frame limits do).
#![deny(clippy::indexing_slicing)]

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ProtocolError;
use crate::limits::CBOR_RECURSION_LIMIT;

/// Appends the CBOR encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize>(
    what: &'static str,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    ciborium::into_writer(value, out).map_err(|e| ProtocolError::Encode {
        what,
        reason: e.to_string(),
    })
}

/// The CBOR encoding of `value`.
pub(crate) fn encode<T: Serialize>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    encode_into(what, value, &mut out)?;
    Ok(out)
}

/// Decodes exactly one `T` from `bytes`: no trailing bytes, nesting at most
/// `CBOR_RECURSION_LIMIT` deep.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, ProtocolError> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, CBOR_RECURSION_LIMIT)
        .map_err(|e| ProtocolError::Decode {
            what,
            reason: decode_reason(e),
        })?;
    if !rest.is_empty() {
        return Err(ProtocolError::TrailingBytes {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// A short, bounded description of a ciborium error (it may quote peer data).
fn decode_reason(e: ciborium::de::Error<std::io::Error>) -> String {
    const MAX_REASON: usize = 200;
    let mut reason = match e {
        ciborium::de::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "input ends inside a value".to_owned()
        }
        ciborium::de::Error::Io(e) => format!("read error: {e}"),
        ciborium::de::Error::Syntax(offset) => format!("invalid CBOR at byte {offset}"),
        ciborium::de::Error::Semantic(offset, msg) => match offset {
            Some(offset) => format!("{msg} (at byte {offset})"),
            None => msg,
        },
        ciborium::de::Error::RecursionLimitExceeded => {
            format!("nested deeper than {CBOR_RECURSION_LIMIT} levels")
        }
    };
    if reason.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !reason.is_char_boundary(cut) {
            cut = cut.saturating_sub(1);
        }
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = encode("u32", &7u32).unwrap();
        assert_eq!(decode::<u32>("u32", &bytes).unwrap(), 7);
        bytes.push(0);
        assert_eq!(
            decode::<u32>("u32", &bytes),
            Err(ProtocolError::TrailingBytes {
                what: "u32",
                extra: 1
            })
        );
    }

    #[test]
    fn rejects_deep_nesting() {
        // 1000 nested one-element arrays: must fail on depth, not overflow the stack.
        let mut bytes = vec![0x81; 1000];
        bytes.push(0x00);
        let err = decode::<ciborium::Value>("value", &bytes).unwrap_err();
        assert!(matches!(err, ProtocolError::Decode { .. }), "{err}");
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = encode("text", &"hello").unwrap();
        let err = decode::<String>("text", &bytes[..3]).unwrap_err();
        assert_eq!(err.to_string(), "malformed text: input ends inside a value");
    }
}
