//! Serde helpers that keep byte fields byte strings and bound every variable-length field.
//!
//! * [`fixed`]: `[u8; N]` as a CBOR byte string of exactly `N` bytes.
//! * [`bounded`] / [`opt_bounded`]: `Vec<u8>` (or `Option<Vec<u8>>`) as a byte string of at
//!   most `MAX` bytes.
//! * [`seq_max`] / [`str_max`]: a sequence of at most `MAX` elements, a string of at most `MAX`
//!   bytes.
//!
//! Decoding accepts only the byte-string form: an array of integers is rejected, so each value
//! has a single meaning on the wire. Encoding refuses values over their bound, so this crate
//! never emits what it would reject. Sequence decoding never pre-allocates more than the bound.
#![deny(clippy::indexing_slicing)]

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

/// `[u8; N]` as a byte string of exactly `N` bytes.
pub(crate) mod fixed {
    use super::*;

    /// Writes the array as one byte string.
    pub(crate) fn serialize<S: Serializer, const N: usize>(
        value: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    /// Reads a byte string of exactly `N` bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        deserializer.deserialize_bytes(FixedVisitor::<N>)
    }

    struct FixedVisitor<const N: usize>;

    impl<const N: usize> Visitor<'_> for FixedVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a byte string of exactly {N} bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            <[u8; N]>::try_from(v).map_err(|_| E::invalid_length(v.len(), &self))
        }
    }
}

/// `Vec<u8>` as a byte string of at most `MAX` bytes.
pub(crate) mod bounded {
    use super::*;

    /// Writes the bytes as one byte string; fails if longer than `MAX`.
    pub(crate) fn serialize<S: Serializer, const MAX: usize>(
        value: &[u8],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if value.len() > MAX {
            return Err(ser::Error::custom(format!(
                "byte field of {} bytes exceeds its limit of {MAX} bytes",
                value.len()
            )));
        }
        serializer.serialize_bytes(value)
    }

    /// Reads a byte string of at most `MAX` bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const MAX: usize>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BoundedVisitor::<MAX>)
    }

    pub(super) struct BoundedVisitor<const MAX: usize>;

    impl<const MAX: usize> Visitor<'_> for BoundedVisitor<MAX> {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a byte string of at most {MAX} bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            self.visit_byte_buf(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
            if v.len() > MAX {
                return Err(E::invalid_length(v.len(), &self));
            }
            Ok(v)
        }
    }
}

/// `Option<Vec<u8>>` as null or a byte string of at most `MAX` bytes.
pub(crate) mod opt_bounded {
    use super::*;

    /// Writes null or one byte string; fails if longer than `MAX`.
    pub(crate) fn serialize<S: Serializer, const MAX: usize>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            None => serializer.serialize_none(),
            Some(bytes) => serializer.serialize_some(&Wrapper::<MAX>(bytes)),
        }
    }

    /// Reads null or a byte string of at most `MAX` bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const MAX: usize>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        deserializer.deserialize_option(OptVisitor::<MAX>)
    }

    struct Wrapper<'a, const MAX: usize>(&'a [u8]);

    impl<const MAX: usize> Serialize for Wrapper<'_, MAX> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            bounded::serialize::<S, MAX>(self.0, serializer)
        }
    }

    struct OptVisitor<const MAX: usize>;

    impl<'de, const MAX: usize> Visitor<'de> for OptVisitor<MAX> {
        type Value = Option<Vec<u8>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "null or a byte string of at most {MAX} bytes")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            bounded::deserialize::<D, MAX>(d).map(Some)
        }
    }
}

/// `Vec<T>` as a sequence of at most `MAX` elements.
pub(crate) mod seq_max {
    use super::*;

    /// Writes the sequence; fails if it has more than `MAX` elements.
    pub(crate) fn serialize<S: Serializer, T: Serialize, const MAX: usize>(
        value: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if value.len() > MAX {
            return Err(ser::Error::custom(format!(
                "list of {} elements exceeds its limit of {MAX}",
                value.len()
            )));
        }
        serializer.collect_seq(value)
    }

    /// Reads a sequence of at most `MAX` elements, failing as soon as there is one more.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const MAX: usize>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(SeqVisitor::<T, MAX>(PhantomData))
    }

    struct SeqVisitor<T, const MAX: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for SeqVisitor<T, MAX> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of at most {MAX} elements")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let hint = seq.size_hint().unwrap_or(0);
            if hint > MAX {
                return Err(de::Error::invalid_length(hint, &self));
            }
            let mut out = Vec::with_capacity(hint.min(MAX).min(1024));
            while let Some(item) = seq.next_element()? {
                if out.len() >= MAX {
                    return Err(de::Error::invalid_length(MAX.saturating_add(1), &self));
                }
                out.push(item);
            }
            Ok(out)
        }
    }
}

/// `String` of at most `MAX` bytes of UTF-8.
pub(crate) mod str_max {
    use super::*;

    /// Writes the string; fails if longer than `MAX` bytes.
    pub(crate) fn serialize<S: Serializer, const MAX: usize>(
        value: &str,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if value.len() > MAX {
            return Err(ser::Error::custom(format!(
                "text of {} bytes exceeds its limit of {MAX} bytes",
                value.len()
            )));
        }
        serializer.serialize_str(value)
    }

    /// Reads a string of at most `MAX` bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const MAX: usize>(
        deserializer: D,
    ) -> Result<String, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.len() > MAX {
            return Err(de::Error::invalid_length(
                s.len(),
                &format!("at most {MAX} bytes").as_str(),
            ));
        }
        Ok(s)
    }
}
