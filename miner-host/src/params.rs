//! Turning a module name or path and a JSON params object into module bytes and binary params.
//!
//! The JSON form of the built-in modules' params is pinned in `challenges` (`matmul-i8`:
//! `{"m", "n", "k", "count"}`; `membw`: `{"bytes", "group", "rounds", "passes"}`); any module
//! also accepts `{"hex": "<binary params>"}`, which is how a custom module's params are given.
#![deny(clippy::indexing_slicing)]

use challenges::matmul::MatmulParams;
use challenges::membw::MembwParams;
use serde::Deserialize;
use thiserror::Error;

/// Why the module or params given on the command line are unusable.
#[derive(Debug, Error)]
pub enum ParamsError {
    /// Not a built-in name and not a readable file.
    #[error("module `{0}` is neither a built-in (matmul-i8, membw) nor a readable .wasm file: {1}")]
    Module(String, std::io::Error),
    /// The JSON does not parse into any known params shape.
    #[error("params {json} are not valid for {module}: {detail}")]
    Json {
        /// Module name.
        module: String,
        /// The JSON given.
        json: String,
        /// What was wrong.
        detail: String,
    },
}

/// A module to run: its bytes and the name it was given by.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    /// `matmul-i8`, `membw`, or the path given.
    pub name: String,
    /// The wasm bytes.
    pub bytes: Vec<u8>,
}

/// Resolves `matmul-i8`, `membw`, or a path to a `.wasm` file.
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
struct MatmulJson {
    m: u32,
    n: u32,
    k: u32,
    count: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembwJson {
    bytes: u64,
    group: u32,
    rounds: u32,
    passes: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HexJson {
    hex: String,
}

/// The binary params for `module` from their JSON form; the built-ins' params are validated.
pub fn encode_params(module: &str, json: &str) -> Result<Vec<u8>, ParamsError> {
    let err = |detail: String| ParamsError::Json {
        module: module.to_string(),
        json: json.to_string(),
        detail,
    };
    if let Ok(h) = serde_json::from_str::<HexJson>(json) {
        return hex::decode(h.hex.trim()).map_err(|e| err(format!("`hex` is not hex: {e}")));
    }
    match module {
        "matmul-i8" => {
            let j: MatmulJson = serde_json::from_str(json)
                .map_err(|e| err(format!("{e}; expected {{\"m\", \"n\", \"k\", \"count\"}}")))?;
            let p = MatmulParams {
                m: j.m,
                n: j.n,
                k: j.k,
                count: j.count,
            };
            p.validate().map_err(|e| err(e.to_string()))?;
            Ok(p.encode().to_vec())
        }
        "membw" => {
            let j: MembwJson = serde_json::from_str(json).map_err(|e| {
                err(format!(
                    "{e}; expected {{\"bytes\", \"group\", \"rounds\", \"passes\"}}"
                ))
            })?;
            let p = MembwParams {
                bytes: j.bytes,
                group: j.group,
                rounds: j.rounds,
                passes: j.passes,
            };
            p.validate().map_err(|e| err(e.to_string()))?;
            Ok(p.encode().to_vec())
        }
        _ => Err(err(
            "a custom module's params are given as {\"hex\": \"<binary params>\"}".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
