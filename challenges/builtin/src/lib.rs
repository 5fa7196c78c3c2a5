//! The built-in challenge modules, compiled to wasm32 by this crate's build script (from
//! `challenges/modules/*`) and embedded as bytes.
//!
//! A module is known by the BLAKE3 hash of its bytes. The build is reproducible, and
//! `challenges/modules/module-hashes.txt` records the hashes this source tree must produce (a
//! test fails when they differ: rebuild and update the file deliberately).
//!
//! ```
//! let m = builtin_modules::by_name("matmul-i8").unwrap();
//! assert_eq!(m.hash(), *blake3::hash(m.bytes).as_bytes());
//! ```

/// A built-in module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// Name used on the CLI (`--module matmul-i8`).
    pub name: &'static str,
    /// The wasm bytes.
    pub bytes: &'static [u8],
}

impl Builtin {
    /// BLAKE3 of the bytes: the module's identity.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(self.bytes).as_bytes()
    }
}

/// `matmul-i8` (see `challenges::matmul`).
pub const MATMUL_I8: Builtin = Builtin {
    name: "matmul-i8",
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/matmul_i8.wasm")),
};

/// `membw` (see `challenges::membw`).
pub const MEMBW: Builtin = Builtin {
    name: "membw",
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/membw.wasm")),
};

/// Every built-in module.
pub const ALL: [Builtin; 2] = [MATMUL_I8, MEMBW];

/// The built-in module with this name.
pub fn by_name(name: &str) -> Option<Builtin> {
    ALL.into_iter().find(|m| m.name == name)
}

/// The built-in module with this hash.
pub fn by_hash(hash: &[u8; 32]) -> Option<Builtin> {
    ALL.into_iter().find(|m| &m.hash() == hash)
}
