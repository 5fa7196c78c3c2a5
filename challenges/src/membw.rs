//! `membw`: proves memory capacity and bandwidth together.
//!
//! # Spec (pinned; every backend and any outside implementation must agree bit for bit)
//!
//! **Params.** JSON form `{"bytes": V, "group": g, "rounds": R, "passes": P}`; binary form (what
//! the module receives, and what the challenge seed hashes) is 20 bytes: `V` as `u64` LE, then
//! `g`, `R`, `P` as `u32` LE ([`MembwParams::encode`]). Rules: `g` is a non-zero multiple of
//! 128 (so every gather is whole 128-byte lines) and at most 1 MiB; `V` is a multiple of `g`
//! with `2 ≤ G = V/g ≤ 2³²`; `R ≤ 4096`; `1 ≤ P ≤ 1024`. The class table sets `R` per class.
//!
//! **Key.** `k = prf::key(seed, 0)`.
//!
//! **Fill.** The buffer `x` is `V/16` 16-byte blocks. Block `i` is `x_R(i)` where
//! `x_0(i) = philox4x32_10(k, [lo32(i), hi32(i), FILL_ID = 0, 0])` and
//! `x_{r+1}(i) = philox4x32_10(k, x_r(i))` (the four output words are the next counter), its
//! four words written little-endian. So a block costs `R + 1` Philox calls. Group `b` is bytes
//! `b·g .. (b+1)·g` of the buffer.
//!
//! **Phases (v2).** The challenge runs in two interactive phases (docs/design.md §Interactive
//! phases): phase 0 is the fill and ends with `gpu.phase_end`; the verifier's `PhaseKey 1`
//! nonce then gives `phase_seed_1 = prf::phase_seed(seed, 1, nonce)` ([`crate::prf::phase_seed`]),
//! and phase 1 is the passes. So the whole buffer must be resident when the key arrives, on
//! every device of a machine at once, and the passes are timed on their own.
//!
//! **Permutation of pass `p`.** The pass key material is `K_0 = phase_seed_1` (32 bytes) for
//! `p = 0` and `K_p = root_{p−1}` (32 bytes) for `p > 0`, so no pass can start before the key
//! arrives or before the
//! previous one is finished and hashed. Round keys `rk[0..4]` are the first 16 bytes of
//! `BLAKE3-derive_key("gpuproof v1 membw permutation", K_p ‖ p u32 LE)` as four LE words.
//! `σ` is a 4-round balanced Feistel network on `w` bits, where `w` is `⌈log₂ G⌉` rounded up
//! to an even number (at least 2) and `h = w/2`: split `x` into `L = x >> h`, `Rt = x mod 2^h`;
//! each round `r` maps `(L, Rt) → (Rt, L ⊕ (fmix32(Rt ⊕ rk[r]) mod 2^h))`, where `fmix32` is
//! MurmurHash3's 32-bit finaliser; the result is `L·2^h + Rt`. `σ_G` cycle-walks `σ` into
//! `[0, G)` (apply `σ` again while the value is `≥ G`), and likewise `σ_G⁻¹` with the inverse
//! network. The pass permutation is
//! `π_p(b) = σ_G⁻¹((σ_G(b) + 1) mod G)`: one cycle through all `G` groups, so it is a
//! bijection with **no fixed point** (never the identity, never `π(b) = b`) and no low-bit
//! structure ([`permutation`]).
//!
//! **Fold (output of pass `p`, group `b`).** 32 lanes. Lane `l` starts with
//! `a = 0x243F6A88 ⊕ p·0x9E3779B9 ⊕ l` and `c = 0x85A308D3 ⊕ b·0x7FEB352D ⊕ l·0x846CA68B`
//! (wrapping `u32` arithmetic, `b < 2³²`), then absorbs words `l, l+32, l+64, …` (`u32` LE) of
//! group `b`, then the same words of group `π_p(b)`, each word `w` by
//! `a = (a ⊕ w)·0x9E3779B1; a ⊕= a >> 15; c = (c + a)·0x85EBCA77; c ⊕= c >> 13`.
//! The lanes are then combined in lane order from `A = 0x13198A2E`, `C = 0x03707344`:
//! `A = (A ⊕ a_l)·0xC2B2AE3D; A ⊕= A >> 16; C = ((C + c_l) ⊕ A)·0x27D4EB2F; C ⊕= C >> 15`.
//! The output is the `u64` `C·2³² + A`, written little-endian ([`fold`]). Lane `l` reads a
//! coalesced 128-byte line per step across a warp on a GPU; the combination is nonlinear and
//! order-dependent, so unlike an XOR fold it cannot be split into per-group parts computed once
//! and reused.
//!
//! **Output and commitment.** Pass `p`'s output is the `G` 8-byte folds in group order
//! (`8·G` bytes); `root_p = BLAKE3(output_p)`. The commitment is `root_0 … root_{P−1}`.
//!
//! **Openings.** A leaf is one 1 KiB chunk of a pass output: 128 consecutive group outputs
//! (the last leaf may be short). The tree path authenticates the whole leaf; the verifier then
//! recomputes `s` outputs drawn at random inside it ([`output`]), each costing two group
//! regenerations (`2·(g/16)·(R+1)` Philox calls) plus `π_p`. If a fraction `e` of the leaf's
//! outputs is wrong, a leaf check with `s` samples misses it with probability `(1 − e)^s`
//! (sampling with replacement); a single wrong output among 128 is caught with probability
//! `1 − (127/128)^s` (≈ 3.1 % for `s = 4`), which is why it is the *number of leaves* opened
//! (and the miner not knowing which) that carries the weight: a miner that skipped memory skips
//! whole groups, hence whole runs of outputs, and such a leaf has `e` near 1.
//!
//! **Work.** Headline `ops = (V/16)·(R+1)` Philox calls (fill) and `bytes = 2·V·P` (every pass
//! reads each group twice: once as `b`, once as `π_p(b)`). Parts: `membw-fill` (interactive
//! phase 0), then `membw-pass` (bytes `2·V·P`) and `hash` (`8·G·P` bytes), both in phase 1.
//!
//! # Choosing `g` and `R` (the arithmetic)
//!
//! Two costs pull against each other. The **verifier** checks each sampled output by
//! regenerating two groups on its CPU: `2·(g/16)·(R+1)` Philox calls at about 7 ns each natively
//! (the `prf` bench), and it samples `s` outputs per opened leaf. The **GPU** must find
//! regenerating a group at least 10× dearer than reading it, or a miner short of memory could
//! recompute instead of store. Reading costs `g / B` (B = memory bandwidth); regenerating costs
//! `(g/16)·(R+1)·c / I`, where `c ≈ 70` integer ops per Philox call (ten rounds of two 32-bit
//! multiply-high/low pairs plus xors and key bumps) and `I` is the GPU's 32-bit integer
//! throughput. So the ratio is `(R+1)·c·B / (16·I)`, independent of `g`:
//!
//! | class | B (TB/s) | I (T int32 op/s, est.) | R for ≥ 10× | verifier µs per sample at g = 1 KiB |
//! |---|---|---|---|---|
//! | H100 SXM (HBM3) | 3.35 | ≈ 33 | ≈ 22 | 2·64·23·7 ns ≈ 21 |
//! | H200 (HBM3e) | 4.8 | ≈ 33 | ≈ 16 | ≈ 15 |
//! | RTX 4090 (GDDR6X) | 1.0 | ≈ 41 | ≈ 94 | ≈ 85 |
//!
//! With `g = 1024` bytes and `s = 4` samples a leaf check stays under 0.5 ms even at R ≈ 94
//! (≈ 0.35 ms), while `g` stays a multiple of 128 for coalesced gathers. These `I` figures are
//! estimates; the CUDA self-test measures the real ratio per class and the class table records
//! `R` (docs/design.md: "measure it on a GPU").
//!
//! # Worked example
//!
//! `V = 1024, g = 256, R = 1, P = 2` (binary params `00040000 00000000 00010000 01000000
//! 02000000`) under seed `00 01 … 1f`, with the verifier's `PhaseKey 1` nonce `20 21 … 3f`:
//!
//! - `k = prf::key(seed, 0) = [0xec23f654, 0x4604376d]`; `G = 4` groups of 16 blocks.
//! - Phase 0, the fill: block 0 is `philox(k, philox(k, [0, 0, 0, 0]))`, bytes `4c93c23c
//!   5cc9f069 b9d8c1da 79eac972`; the whole 1 KiB buffer hashes to `9e6b533f…`. Then
//!   `gpu.phase_end`; the key's nonce gives `phase_seed_1 = 00b0e35d 09cba62c …`.
//! - Phase 1, pass 0 is keyed by `K_0 = phase_seed_1`: round keys `90437f10 09705e56
//!   1d732c90 4c8f409c`, `w = 2`, `h = 1`; `π_0 = [3, 0, 1, 2]` (the cycle 0→3→2→1→0).
//! - Pass 0's outputs (LE bytes) are `b17469b55c412c09 18d958ae3ced3202 3b92071cab341916
//!   37df2f9b0e4f8e91`; `root_0 = ab22fe98…`, which keys pass 1; `root_1 = f282cd76…`.
//!
//! ```
//! use challenges::{membw::{self, MembwParams, Permutation}, prf};
//! let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
//! let nonce: [u8; 32] = core::array::from_fn(|i| 0x20 + i as u8);
//! let params = MembwParams { bytes: 1024, group: 256, rounds: 1, passes: 2 };
//! let key = prf::key(&seed, membw::STREAM);
//! let phase_seed = prf::phase_seed(&seed, 1, &nonce);
//! let perm = Permutation::for_pass(&params, &phase_seed, 0, None).unwrap();
//! assert_eq!((0..4).map(|b| perm.apply(b)).collect::<Vec<_>>(), [3, 0, 1, 2]);
//! let roots = membw::roots(&seed, &params, &nonce).unwrap();
//! assert!(roots[0].to_hex().starts_with("ab22fe98"));
//! assert!(roots[1].to_hex().starts_with("f282cd76"));
//! // The verifier checks one output of pass 1 from the PRF and root_0 alone:
//! let perm1 = Permutation::for_pass(&params, &phase_seed, 1, Some(roots[0].as_bytes())).unwrap();
//! let out = membw::output(key, &params, &perm1, 1, 2).unwrap();
//! # let _ = out;
//! ```
//!
//! `challenges/vectors/membw.json` pins more cases, including intermediate values.

use alloc::{vec, vec::Vec};

use crate::SpecError;
use crate::prf::{self, PhiloxKey};
use crate::work::{Phase, Work, mul_sat};

/// Interactive phases of a `membw` challenge: the fill, then the passes.
pub const PHASES: u32 = 2;

/// Module name, as used on the CLI and in errors.
pub const NAME: &str = "membw";
/// PRF stream of the module's key.
pub const STREAM: u64 = 0;
/// Tensor id of the fill counters.
pub const FILL_ID: u32 = 0;
/// BLAKE3 `derive_key` context of the permutation round keys.
pub const PERM_CONTEXT: &str = "gpuproof v1 membw permutation";
/// Fold lanes (one warp).
pub const LANES: usize = 32;
/// Bytes of one fold output.
pub const OUTPUT_BYTES: usize = 8;
/// Outputs per 1 KiB leaf.
pub const OUTPUTS_PER_LEAF: u64 = 128;
/// Group size granularity in bytes.
pub const GROUP_ALIGN: u32 = 128;
/// Largest group size.
pub const MAX_GROUP: u32 = 1 << 20;
/// Largest fill round count.
pub const MAX_ROUNDS: u32 = 4096;
/// Largest pass count.
pub const MAX_PASSES: u32 = 1024;
/// Length of the binary params.
pub const PARAMS_LEN: usize = 20;

/// Parameters of a `membw` challenge (see the module docs for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembwParams {
    /// Buffer size `V` in bytes.
    pub bytes: u64,
    /// Group size `g` in bytes.
    pub group: u32,
    /// Extra fill rounds `R` (each block costs `R + 1` Philox calls).
    pub rounds: u32,
    /// Number of passes `P`.
    pub passes: u32,
}

impl MembwParams {
    /// The 20-byte binary form: `bytes` u64 LE, then `group`, `rounds`, `passes` u32 LE.
    pub fn encode(&self) -> [u8; PARAMS_LEN] {
        let mut out = [0u8; PARAMS_LEN];
        out[..8].copy_from_slice(&self.bytes.to_le_bytes());
        out[8..12].copy_from_slice(&self.group.to_le_bytes());
        out[12..16].copy_from_slice(&self.rounds.to_le_bytes());
        out[16..20].copy_from_slice(&self.passes.to_le_bytes());
        out
    }

    /// Decodes and validates the binary form.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        let b: [u8; PARAMS_LEN] = bytes.try_into().map_err(|_| SpecError::ParamsLength {
            module: NAME,
            expected: PARAMS_LEN,
            got: bytes.len(),
        })?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let params = Self {
            bytes: u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            group: u32_at(8),
            rounds: u32_at(12),
            passes: u32_at(16),
        };
        params.validate()?;
        Ok(params)
    }

    /// Checks the rules of the module docs.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |field, value: u64, rule| SpecError::BadParam {
            module: NAME,
            field,
            value,
            rule,
        };
        let g = self.group;
        if g == 0 || !g.is_multiple_of(GROUP_ALIGN) || g > MAX_GROUP {
            return Err(bad(
                "group",
                u64::from(g),
                "must be a non-zero multiple of 128, at most 1 MiB",
            ));
        }
        if !self.bytes.is_multiple_of(u64::from(g)) {
            return Err(bad("bytes", self.bytes, "must be a multiple of `group`"));
        }
        let groups = self.bytes / u64::from(g);
        if !(2..=1u64 << 32).contains(&groups) {
            return Err(bad(
                "bytes",
                self.bytes,
                "must hold between 2 and 2^32 groups",
            ));
        }
        if self.rounds > MAX_ROUNDS {
            return Err(bad(
                "rounds",
                u64::from(self.rounds),
                "must be at most 4096",
            ));
        }
        if self.passes == 0 || self.passes > MAX_PASSES {
            return Err(bad(
                "passes",
                u64::from(self.passes),
                "must be between 1 and 1024",
            ));
        }
        Ok(())
    }

    /// Number of groups `G = V / g`.
    pub fn groups(&self) -> u64 {
        self.bytes / u64::from(self.group.max(1))
    }

    /// Bytes of one pass output (`8·G`).
    pub fn pass_output_bytes(&self) -> u64 {
        self.groups() * OUTPUT_BYTES as u64
    }

    /// Leaves (1 KiB chunks) of one pass output.
    pub fn leaves_per_pass(&self) -> u64 {
        self.groups().div_ceil(OUTPUTS_PER_LEAF)
    }
}

/// Block `i` of the filled buffer: `R + 1` chained Philox calls.
#[inline]
pub fn fill_block(key: PhiloxKey, rounds: u32, block: u64) -> [u8; prf::BLOCK_BYTES] {
    let mut x = prf::philox4x32_10(key, prf::tensor_counter(FILL_ID, block));
    for _ in 0..rounds {
        x = prf::philox4x32_10(key, x);
    }
    prf::block_bytes(x)
}

/// Regenerates group `group` (`g` bytes) into `out`; `out.len()` must equal `g`.
pub fn fill_group(
    key: PhiloxKey,
    params: &MembwParams,
    group: u64,
    out: &mut [u8],
) -> Result<(), SpecError> {
    params.validate()?;
    if group >= params.groups() {
        return Err(SpecError::OutOfRange {
            what: "group",
            index: group,
            count: params.groups(),
        });
    }
    if out.len() as u64 != u64::from(params.group) {
        return Err(SpecError::BufferSize {
            what: "group",
            expected: u64::from(params.group),
            got: out.len() as u64,
        });
    }
    let first = group * u64::from(params.group) / prf::BLOCK_BYTES as u64;
    fill_blocks(key, params.rounds, first, out);
    Ok(())
}

/// Blocks regenerated side by side: the `R + 1` Philox calls of one block form a dependent
/// chain, so interleaving independent blocks keeps the multipliers busy (≈ 3× faster than one
/// block at a time on x86-64).
const LANES_AT_ONCE: usize = 8;

/// Writes fill blocks `first, first + 1, …` into `out` (a whole number of 16-byte blocks).
pub fn fill_blocks(key: PhiloxKey, rounds: u32, first: u64, out: &mut [u8]) {
    const STRIDE: usize = prf::BLOCK_BYTES * LANES_AT_ONCE;
    for (i, dst) in out.chunks_mut(STRIDE).enumerate() {
        let base = first + (i * LANES_AT_ONCE) as u64;
        let mut x: [prf::PhiloxBlock; LANES_AT_ONCE] = core::array::from_fn(|j| {
            prf::philox4x32_10(key, prf::tensor_counter(FILL_ID, base + j as u64))
        });
        for _ in 0..rounds {
            for lane in x.iter_mut() {
                *lane = prf::philox4x32_10(key, *lane);
            }
        }
        for (block, words) in dst.chunks_exact_mut(prf::BLOCK_BYTES).zip(x) {
            block.copy_from_slice(&prf::block_bytes(words));
        }
    }
}

/// The whole filled buffer (`V` bytes). Reference only: meant for small `V`.
pub fn fill(key: PhiloxKey, params: &MembwParams) -> Result<Vec<u8>, SpecError> {
    params.validate()?;
    let len = usize::try_from(params.bytes).map_err(|_| SpecError::BadParam {
        module: NAME,
        field: "bytes",
        value: params.bytes,
        rule: "does not fit this machine's address space",
    })?;
    let mut buf = vec![0u8; len];
    for (i, dst) in buf.chunks_exact_mut(prf::BLOCK_BYTES).enumerate() {
        dst.copy_from_slice(&fill_block(key, params.rounds, i as u64));
    }
    Ok(buf)
}

/// MurmurHash3's 32-bit finaliser.
#[inline]
pub fn fmix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 13;
    x = x.wrapping_mul(0xC2B2_AE35);
    x ^ (x >> 16)
}

/// The keyed permutation `π_p` of one pass over `G` groups (module docs, §Permutation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permutation {
    groups: u64,
    half_bits: u32,
    round_keys: [u32; 4],
}

impl Permutation {
    /// The permutation of pass `pass`, keyed by `key_material` (`K_p` of the module docs:
    /// the 8 key bytes for pass 0, the previous pass's root otherwise). `groups` must be ≥ 2.
    pub fn new(groups: u64, pass: u32, key_material: &[u8]) -> Result<Self, SpecError> {
        if !(2..=1u64 << 32).contains(&groups) {
            return Err(SpecError::BadParam {
                module: NAME,
                field: "groups",
                value: groups,
                rule: "a permutation needs between 2 and 2^32 groups",
            });
        }
        let mut hasher = blake3::Hasher::new_derive_key(PERM_CONTEXT);
        hasher.update(key_material);
        hasher.update(&pass.to_le_bytes());
        let derived = hasher.finalize();
        let d = derived.as_bytes();
        let round_keys = core::array::from_fn(|r| {
            u32::from_le_bytes([d[4 * r], d[4 * r + 1], d[4 * r + 2], d[4 * r + 3]])
        });
        let bits = u64::BITS - (groups - 1).leading_zeros();
        let bits = (bits + (bits & 1)).max(2);
        Ok(Self {
            groups,
            half_bits: bits / 2,
            round_keys,
        })
    }

    /// The permutation of pass `pass` of a challenge: keyed by `phase_seed` (the challenge's
    /// `phase_seed_1`) for pass 0 and by `previous_root` (required) for later passes.
    pub fn for_pass(
        params: &MembwParams,
        phase_seed: &[u8; 32],
        pass: u32,
        previous_root: Option<&[u8; 32]>,
    ) -> Result<Self, SpecError> {
        if pass >= params.passes {
            return Err(SpecError::OutOfRange {
                what: "pass",
                index: u64::from(pass),
                count: u64::from(params.passes),
            });
        }
        match (pass, previous_root) {
            (0, _) => Self::new(params.groups(), 0, phase_seed),
            (_, Some(root)) => Self::new(params.groups(), pass, root),
            (_, None) => Err(SpecError::BadParam {
                module: NAME,
                field: "pass",
                value: u64::from(pass),
                rule: "passes after the first are keyed by the previous pass's root; none given",
            }),
        }
    }

    /// Round keys (for backends that evaluate the network themselves).
    pub fn round_keys(&self) -> [u32; 4] {
        self.round_keys
    }

    /// Half width `h` of the Feistel network in bits.
    pub fn half_bits(&self) -> u32 {
        self.half_bits
    }

    #[inline]
    fn mask(&self) -> u32 {
        ((1u64 << self.half_bits) - 1) as u32
    }

    #[inline]
    fn feistel(&self, x: u64) -> u64 {
        let mask = self.mask();
        let (mut l, mut r) = ((x >> self.half_bits) as u32, x as u32 & mask);
        for rk in self.round_keys {
            (l, r) = (r, l ^ (fmix32(r ^ rk) & mask));
        }
        (u64::from(l) << self.half_bits) | u64::from(r)
    }

    #[inline]
    fn feistel_inverse(&self, x: u64) -> u64 {
        let mask = self.mask();
        let (mut l, mut r) = ((x >> self.half_bits) as u32, x as u32 & mask);
        for rk in self.round_keys.iter().rev() {
            (l, r) = (r ^ (fmix32(l ^ rk) & mask), l);
        }
        (u64::from(l) << self.half_bits) | u64::from(r)
    }

    /// `σ_G`: the Feistel network cycle-walked into `[0, G)`. `x` must be `< G`.
    #[inline]
    pub fn sigma(&self, x: u64) -> u64 {
        let mut y = self.feistel(x);
        while y >= self.groups {
            y = self.feistel(y);
        }
        y
    }

    /// `σ_G⁻¹`. `y` must be `< G`.
    #[inline]
    pub fn sigma_inverse(&self, y: u64) -> u64 {
        let mut x = self.feistel_inverse(y);
        while x >= self.groups {
            x = self.feistel_inverse(x);
        }
        x
    }

    /// `π_p(b) = σ_G⁻¹((σ_G(b) + 1) mod G)`; `b` must be `< G` (callers check).
    #[inline]
    pub fn apply(&self, b: u64) -> u64 {
        let next = self.sigma(b) + 1;
        self.sigma_inverse(if next == self.groups { 0 } else { next })
    }
}

/// A wrapper for [`Permutation::apply`] that checks `b`.
pub fn permutation(perm: &Permutation, b: u64) -> Result<u64, SpecError> {
    if b >= perm.groups {
        return Err(SpecError::OutOfRange {
            what: "group",
            index: b,
            count: perm.groups,
        });
    }
    Ok(perm.apply(b))
}

/// The fold's 32 lane states `(a, c)` before any word is absorbed, for pass `pass` and group
/// `b` (module docs, §Fold): the first step of [`fold`], for kernels that absorb the words
/// themselves (`crate::simd`).
pub fn fold_start(pass: u32, b: u64) -> ([u32; LANES], [u32; LANES]) {
    let mut a = [0u32; LANES];
    let mut c = [0u32; LANES];
    for l in 0..LANES {
        let l32 = l as u32;
        a[l] = 0x243F_6A88 ^ pass.wrapping_mul(0x9E37_79B9) ^ l32;
        c[l] = 0x85A3_08D3 ^ (b as u32).wrapping_mul(0x7FEB_352D) ^ l32.wrapping_mul(0x846C_A68B);
    }
    (a, c)
}

/// Absorbs the words of `group` (whole 128-byte lines; a shorter tail is ignored) into the lane
/// states: word `l + 32·i` into lane `l` (module docs, §Fold). The middle step of [`fold`].
pub fn fold_absorb(a: &mut [u32; LANES], c: &mut [u32; LANES], group: &[u8]) {
    for line in group.chunks_exact(4 * LANES) {
        for (l, word) in line.chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            let mut x = (a[l] ^ w).wrapping_mul(0x9E37_79B1);
            x ^= x >> 15;
            a[l] = x;
            let mut y = c[l].wrapping_add(x).wrapping_mul(0x85EB_CA77);
            y ^= y >> 13;
            c[l] = y;
        }
    }
}

/// Combines the lane states in lane order into the 64-bit output `C·2³² + A` (module docs,
/// §Fold). The last step of [`fold`].
pub fn fold_finish(a: &[u32; LANES], c: &[u32; LANES]) -> u64 {
    let (mut acc_a, mut acc_c) = (0x1319_8A2Eu32, 0x0370_7344u32);
    for l in 0..LANES {
        acc_a = (acc_a ^ a[l]).wrapping_mul(0xC2B2_AE3D);
        acc_a ^= acc_a >> 16;
        acc_c = (acc_c.wrapping_add(c[l]) ^ acc_a).wrapping_mul(0x27D4_EB2F);
        acc_c ^= acc_c >> 15;
    }
    (u64::from(acc_c) << 32) | u64::from(acc_a)
}

/// Checks the two groups a fold reads: equal lengths, a non-zero multiple of 128.
pub(crate) fn check_fold_groups(group_b: &[u8], group_pi: &[u8]) -> Result<(), SpecError> {
    if group_b.len() != group_pi.len()
        || !group_b.len().is_multiple_of(GROUP_ALIGN as usize)
        || group_b.is_empty()
    {
        return Err(SpecError::BufferSize {
            what: "fold groups (equal, multiple of 128)",
            expected: group_b.len() as u64,
            got: group_pi.len() as u64,
        });
    }
    Ok(())
}

/// The fold of pass `pass` for group `b` over the bytes of group `b` then group `π_p(b)`
/// (module docs, §Fold). Both slices must be the same length, a multiple of 128.
pub fn fold(pass: u32, b: u64, group_b: &[u8], group_pi: &[u8]) -> Result<u64, SpecError> {
    check_fold_groups(group_b, group_pi)?;
    let (mut a, mut c) = fold_start(pass, b);
    fold_absorb(&mut a, &mut c, group_b);
    fold_absorb(&mut a, &mut c, group_pi);
    Ok(fold_finish(&a, &c))
}

/// One output of pass `pass` for group `b`, regenerating both groups from the PRF: what the
/// verifier computes for each sampled output of an opened leaf.
pub fn output(
    key: PhiloxKey,
    params: &MembwParams,
    perm: &Permutation,
    pass: u32,
    b: u64,
) -> Result<u64, SpecError> {
    let pi = permutation(perm, b)?;
    let mut gb = vec![0u8; params.group as usize];
    let mut gp = vec![0u8; params.group as usize];
    fill_group(key, params, b, &mut gb)?;
    fill_group(key, params, pi, &mut gp)?;
    fold(pass, b, &gb, &gp)
}

/// Every pass output (`P` buffers of `8·G` bytes) over a filled buffer, pass 0 keyed by
/// `phase_seed` (`phase_seed_1`). Reference only.
pub fn passes(
    params: &MembwParams,
    buffer: &[u8],
    phase_seed: &[u8; 32],
) -> Result<Vec<Vec<u8>>, SpecError> {
    params.validate()?;
    if buffer.len() as u64 != params.bytes {
        return Err(SpecError::BufferSize {
            what: "membw buffer",
            expected: params.bytes,
            got: buffer.len() as u64,
        });
    }
    let g = params.group as usize;
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    let mut previous: Option<[u8; 32]> = None;
    for pass in 0..params.passes {
        let perm = Permutation::for_pass(params, phase_seed, pass, previous.as_ref())?;
        let mut out = Vec::with_capacity(params.pass_output_bytes() as usize);
        for (b, group_b) in buffer.chunks_exact(g).enumerate() {
            let pi = perm.apply(b as u64) as usize;
            let group_pi = buffer.get(pi * g..(pi + 1) * g).unwrap_or(&[]);
            out.extend_from_slice(&fold(pass, b as u64, group_b, group_pi)?.to_le_bytes());
        }
        previous = Some(*blake3::hash(&out).as_bytes());
        outputs.push(out);
    }
    Ok(outputs)
}

/// `root_p` of every pass, computed from the challenge seed and the verifier's `PhaseKey 1`
/// nonce (fill, then every pass). Reference only.
pub fn roots(
    seed: &[u8; 32],
    params: &MembwParams,
    phase_nonce: &[u8; 32],
) -> Result<Vec<blake3::Hash>, SpecError> {
    let key = prf::key(seed, STREAM);
    let buffer = fill(key, params)?;
    Ok(
        passes(params, &buffer, &prf::phase_seed(seed, 1, phase_nonce))?
            .iter()
            .map(|o| blake3::hash(o))
            .collect(),
    )
}

/// The work of a `membw` challenge (module docs, §Work).
pub fn work(params: &MembwParams) -> Work {
    let blocks = params.bytes / prf::BLOCK_BYTES as u64;
    let fill_ops = mul_sat(&[blocks, u64::from(params.rounds) + 1]);
    let pass_bytes = mul_sat(&[2, params.bytes, u64::from(params.passes)]);
    let hash_bytes = mul_sat(&[params.pass_output_bytes(), u64::from(params.passes)]);
    Work {
        ops: fill_ops,
        bytes: pass_bytes,
        phases: vec![
            Phase {
                name: "membw-fill",
                unit: "philox-block",
                ops: fill_ops,
                bytes: params.bytes,
                step: 0,
            },
            Phase {
                name: "membw-pass",
                unit: "byte",
                ops: 0,
                bytes: pass_bytes,
                step: 1,
            },
            Phase {
                name: "hash",
                unit: "byte",
                ops: hash_bytes,
                bytes: hash_bytes,
                step: 1,
            },
        ],
    }
}
