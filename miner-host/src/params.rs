//! Turning a module name or path and a JSON params object into module bytes and binary params.
//!
//! A built-in module's JSON form is its descriptor's
//! ([`builtin_modules::ChallengeModule::params_from_json`]: `matmul-i8` takes
//! `{"m", "n", "k", "count"}`, `membw` `{"bytes", "group", "rounds", "passes"}`); any module also
//! accepts `{"hex": "<binary params>"}`, which is how a custom module's params are given.
#![deny(clippy::indexing_slicing)]

use serde::Deserialize;
use thiserror::Error;

/// Why the module or params given on the command line are unusable.
#[derive(Debug, Error)]
pub enum ParamsError {
    /// Not a built-in name and not a readable file.
    #[error("module `{0}` is neither a built-in ({builtins}) nor a readable .wasm file: {1}", builtins = builtin_names())]
    Module(String, std::io::Error),
    /// The JSON does not fit the built-in module's params.
    #[error(transparent)]
    Builtin(#[from] builtin_modules::ParamsError),
    /// `{"hex": ...}` whose value is not hex.
    #[error("params {json}: `hex` is not hex: {detail}")]
    Hex {
        /// The JSON given.
        json: String,
        /// What was wrong.
        detail: String,
    },
    /// A custom module's params not given as `{"hex": ...}`.
    #[error(
        "params {json} for {module}: a custom module's params are given as {{\"hex\": \"<binary params>\"}}"
    )]
    CustomNeedsHex {
        /// The module path.
        module: String,
        /// The JSON given.
        json: String,
    },
}

fn builtin_names() -> String {
    builtin_modules::ALL
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A module to run: its bytes and the name it was given by.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    /// A built-in module's name, or the path given.
    pub name: String,
    /// The wasm bytes.
    pub bytes: Vec<u8>,
}

/// Resolves a built-in module's name, or a path to a `.wasm` file.
pub fn resolve_module(name: &str) -> Result<ModuleSource, ParamsError> {
    if let Some(builtin) = builtin_modules::by_name(name) {
        return Ok(ModuleSource {
            name: name.to_string(),
            bytes: builtin.bytes.to_vec(),
        });
    }
    let bytes = std::fs::read(name).map_err(|e| ParamsError::Module(name.to_string(), e))?;
    Ok(ModuleSource {
        name: name.to_string(),
        bytes,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HexJson {
    hex: String,
}

/// The binary params for `module` from their JSON form; a built-in module's params are
/// validated by its descriptor.
pub fn encode_params(module: &str, json: &str) -> Result<Vec<u8>, ParamsError> {
    if let Ok(h) = serde_json::from_str::<HexJson>(json) {
        return hex::decode(h.hex.trim()).map_err(|e| ParamsError::Hex {
            json: json.to_string(),
            detail: e.to_string(),
        });
    }
    match builtin_modules::by_name(module) {
        Some(builtin) => Ok(builtin.spec().params_from_json(json)?),
        None => Err(ParamsError::CustomNeedsHex {
            module: module.to_string(),
            json: json.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use challenges::matmul::MatmulParams;

    #[test]
    fn builtins_and_hex() {
        assert_eq!(
            encode_params("matmul-i8", r#"{"m":64,"n":64,"k":64,"count":2}"#).unwrap(),
            MatmulParams {
                m: 64,
                n: 64,
                k: 64,
                count: 2
            }
            .encode()
        );
        assert!(
            encode_params("matmul-i8", r#"{"m":60,"n":64,"k":64,"count":2}"#)
                .unwrap_err()
                .to_string()
                .contains("multiple of 16")
        );
        assert!(encode_params("matmul-i8", r#"{"m":64}"#).is_err());
        assert_eq!(
            encode_params("x.wasm", r#"{"hex":"0a0b"}"#).unwrap(),
            vec![10, 11]
        );
        assert!(encode_params("x.wasm", r#"{"m":1}"#).is_err());
        assert_eq!(
            encode_params(
                "membw",
                r#"{"bytes":1024,"group":256,"rounds":1,"passes":2}"#
            )
            .unwrap()
            .len(),
            20
        );
        assert!(resolve_module("/nonexistent.wasm").is_err());
        assert_eq!(
            resolve_module("membw").unwrap().bytes,
            builtin_modules::MEMBW.bytes
        );
    }
}
