//! What both binaries' config files share: the typed reason a config cannot be used
//! ([`ConfigProblem`]), and the one way environment overrides are read ([`EnvOverrides`]).
//!
//! `validator.toml` and `miner.toml` are different files with different tables, but a wrong
//! value in either is the same kind of thing: a key, the value written, and what to write
//! instead. Both crates' `ConfigError::Invalid` carry a [`ConfigProblem`], so a caller can tell
//! an environment override from a field, and a person reads the same shape of message from
//! either binary.

use std::fmt::Display;
use std::str::FromStr;

use crate::TransportError;

/// Why a config (file or environment) cannot be used. Each variant names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    /// The TOML does not parse, or names a field the file does not have (the parser's
    /// message, with the line).
    #[error("{0}")]
    Toml(String),
    /// A field holds a value outside what it accepts.
    #[error("{key} = {value}: {fix}")]
    Field {
        /// `[table] key`, as written in the file.
        key: String,
        /// The value, as written.
        value: String,
        /// Why it is refused and what to write instead.
        fix: String,
    },
    /// An environment override does not parse.
    #[error("{var}={value:?}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// Environment overrides that only make sense together, given without each other.
    #[error("{first} and {second} must be given together {when}")]
    EnvTogether {
        /// One variable.
        first: &'static str,
        /// The other.
        second: &'static str,
        /// When they are needed together.
        when: &'static str,
    },
    /// `[hotkey]` does not name exactly one key source.
    #[error("[hotkey]: {0}")]
    Hotkey(#[from] HotkeySourceError),
    /// An `[access]` allow or deny entry is not a hotkey.
    #[error("[access]: {0}")]
    Access(TransportError),
}

impl ConfigProblem {
    /// A [`ConfigProblem::Field`] from its parts.
    pub fn field(key: impl Into<String>, value: impl Display, fix: impl Into<String>) -> Self {
        Self::Field {
            key: key.into(),
            value: value.to_string(),
            fix: fix.into(),
        }
    }
}

/// Why `[hotkey]` names no usable key source.
#[derive(Debug, thiserror::Error)]
pub enum HotkeySourceError {
    /// None, or more than one, of the ways is given.
    #[error("needs exactly one of: wallet + name, file, or uri (e.g. uri = \"//Bob\")")]
    NotExactlyOne,
    /// `wallet` + `name` do not make a hotkey path (no home directory, a name with `/`…).
    #[error("{0}")]
    Wallet(#[from] chain_client::ClientError),
}

/// The environment, as config overrides read it: a lookup function, so tests pass a map and
/// the binaries pass [`EnvOverrides::process`]. Both binaries read every override through it.
pub struct EnvOverrides<F: Fn(&str) -> Option<String>> {
    var: F,
}

impl EnvOverrides<fn(&str) -> Option<String>> {
    /// The process environment (a variable that is not valid UTF-8 counts as unset).
    pub fn process() -> Self {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok()
        }
        Self { var }
    }
}

impl<F: Fn(&str) -> Option<String>> EnvOverrides<F> {
    /// The environment `var` answers for.
    pub fn new(var: F) -> Self {
        Self { var }
    }

    /// The raw value of `name`, if set.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.var)(name)
    }

    /// The value of `name` parsed as `T`, if set; a value that does not parse is a
    /// [`ConfigProblem::Env`] naming the variable and the value.
    pub fn parsed<T>(&self, name: &'static str) -> Result<Option<T>, ConfigProblem>
    where
        T: FromStr,
        T::Err: Display,
    {
        let Some(value) = self.text(name) else {
            return Ok(None);
        };
        match value.parse() {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(ConfigProblem::Env {
                var: name,
                reason: e.to_string(),
                value,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn overrides_parse_or_name_the_variable_and_value() {
        let env = EnvOverrides::new(|k: &str| match k {
            "A" => Some("42".to_owned()),
            "B" => Some("forty-two".to_owned()),
            _ => None,
        });
        assert_eq!(env.parsed::<u16>("A").unwrap(), Some(42));
        assert_eq!(env.parsed::<u16>("C").unwrap(), None);
        let err = env.parsed::<u16>("B").unwrap_err();
        assert!(
            matches!(err, ConfigProblem::Env { var: "B", .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("B=\"forty-two\": "), "{err}");
    }

    #[test]
    fn a_field_problem_reads_key_value_fix() {
        let p = ConfigProblem::field("[round] openings", 0, "use 1 to 1024 (default 32)");
        assert_eq!(
            p.to_string(),
            "[round] openings = 0: use 1 to 1024 (default 32)"
        );
    }
}
