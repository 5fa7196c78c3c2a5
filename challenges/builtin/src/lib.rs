//! The built-in challenge modules, compiled to wasm32 by this crate's build script (from
//! `challenges/modules/*`) and embedded as bytes, each with its descriptor: everything the
//! host side knows about it ([`ChallengeModule`]: params forms, output layout, work per
//! interactive phase, sizing for a device class, the cost of checking a leaf).
//!
//! A module is known by the BLAKE3 hash of its bytes. The build is reproducible, and
//! `challenges/modules/module-hashes.txt` records the hashes this source tree must produce (a
//! test fails when they differ: rebuild and update the file deliberately).
//!
//! Adding a module: its `no_std` crate under `challenges/modules/` (listed in that
//! workspace's `members`, which the build script reads), its descriptor file here (a
//! [`ChallengeModule`] and a [`Builtin`] constant), and one entry in [`ALL`]. Nothing else in
//! the binaries matches module names.
//!
//! ```
//! let m = builtin_modules::by_name("matmul-i8").unwrap();
//! assert_eq!(m.hash(), *blake3::hash(m.bytes).as_bytes());
//! let params = m.spec().params_from_json(r#"{"m":64,"n":64,"k":64,"count":2}"#).unwrap();
//! assert_eq!(m.spec().outputs(&params).unwrap().outputs, 2);
//! ```

mod descriptor;
pub mod matmul;
pub mod membw;

pub use descriptor::{
    ChallengeModule, CheckCost, OutputShape, ParamsError, SizeLimit, Sized, SizingClass,
    SizingError, SizingTarget,
};

/// A built-in module: its name, its wasm bytes and its descriptor.
#[derive(Clone, Copy)]
pub struct Builtin {
    /// Name used on the CLI (`--module matmul-i8`); the descriptor's name.
    pub name: &'static str,
    /// The wasm bytes.
    pub bytes: &'static [u8],
    spec: &'static dyn ChallengeModule,
}

impl Builtin {
    /// BLAKE3 of the bytes: the module's identity.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(self.bytes).as_bytes()
    }

    /// The module's descriptor.
    pub fn spec(&self) -> &'static dyn ChallengeModule {
        self.spec
    }
}

impl PartialEq for Builtin {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.bytes == other.bytes
    }
}

impl Eq for Builtin {}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// `matmul-i8` (spec: `challenges::matmul`; descriptor: [`matmul::MatmulModule`]).
pub const MATMUL_I8: Builtin = Builtin {
    name: challenges::matmul::NAME,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/matmul_i8.wasm")),
    spec: &matmul::MatmulModule,
};

/// `membw` (spec: `challenges::membw`; descriptor: [`membw::MembwModule`]).
pub const MEMBW: Builtin = Builtin {
    name: challenges::membw::NAME,
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/membw.wasm")),
    spec: &membw::MembwModule,
};

/// Every built-in module, in the order a round runs them: the one list of modules.
pub const ALL: [Builtin; 2] = [MATMUL_I8, MEMBW];

/// The built-in module with this name.
pub fn by_name(name: &str) -> Option<Builtin> {
    ALL.into_iter().find(|m| m.name == name)
}

/// The built-in module with this hash.
pub fn by_hash(hash: &[u8; 32]) -> Option<Builtin> {
    ALL.into_iter().find(|m| &m.hash() == hash)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_descriptor_names_its_module() {
        for m in ALL {
            assert_eq!(m.spec().name(), m.name);
            assert_eq!(by_name(m.name), Some(m));
            assert_eq!(by_hash(&m.hash()), Some(m));
        }
    }

    #[test]
    fn json_params_round_trip_through_every_descriptor() {
        for (m, json) in [
            (MATMUL_I8, r#"{"m":64,"n":64,"k":64,"count":2}"#),
            (
                MEMBW,
                r#"{"bytes":4096,"group":1024,"rounds":1,"passes":2}"#,
            ),
        ] {
            let params = m.spec().params_from_json(json).unwrap();
            assert_eq!(m.spec().params_to_json(&params).unwrap(), json);
            assert!(m.spec().params_from_json(r#"{"nope":1}"#).is_err());
        }
        // Shapes are right but the rules are broken: a typed refusal naming the module.
        let err = MATMUL_I8
            .spec()
            .params_from_json(r#"{"m":60,"n":64,"k":64,"count":2}"#)
            .unwrap_err();
        assert!(
            matches!(
                err,
                ParamsError::Rules {
                    module: "matmul-i8",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn layouts_and_phases_come_from_the_descriptors() {
        let mm = MATMUL_I8
            .spec()
            .params_from_json(r#"{"m":32,"n":48,"k":64,"count":3}"#)
            .unwrap();
        let shape = MATMUL_I8.spec().outputs(&mm).unwrap();
        assert_eq!((shape.outputs, shape.output_bytes), (3, 4 * 32 * 48));
        assert_eq!(MATMUL_I8.spec().phases(), 1);
        assert_eq!(MATMUL_I8.spec().work(&mm).unwrap().steps(), 1);
        let bw = MEMBW
            .spec()
            .params_from_json(r#"{"bytes":8192,"group":1024,"rounds":3,"passes":2}"#)
            .unwrap();
        let shape = MEMBW.spec().outputs(&bw).unwrap();
        assert_eq!((shape.outputs, shape.output_bytes), (2, 8 * 8));
        assert_eq!(MEMBW.spec().phases(), 2);
        assert_eq!(MEMBW.spec().work(&bw).unwrap().steps(), 2);
        // 4 samples of two 1 KiB groups at R = 3: 4 · 2 · 64 · 4 Philox calls.
        let cost = MEMBW.spec().check_cost(&bw, 4).unwrap();
        assert_eq!(cost.philox_calls, 4 * 2 * 64 * 4);
        let cost = MATMUL_I8.spec().check_cost(&mm, 4).unwrap();
        assert_eq!(cost.multiply_adds, 256 * 64);
    }
}
