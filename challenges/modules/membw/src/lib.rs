//! The `membw` challenge module (v2): fill a buffer of ≥ 90 % of device memory from the PRF
//! (phase 0), end the phase and wait for the verifier's phase key, then `P` passes (phase 1):
//! pass 0's permutation keyed by the phase seed, later ones by the previous pass's root, each
//! pass committed.
//!
//! The spec is `challenges::membw`. `check` samples `samples` outputs of the opened leaf at
//! positions drawn from the verifier's salt and regenerates each natively through the host's
//! `membw_output` import.
#![no_std]

use challenge_sdk::abi::CheckRequest;
use challenge_sdk::spec::commitment;
use challenge_sdk::spec::membw::{self, MembwParams};
use challenge_sdk::{
    Buffer, Challenge, Error, export_challenge, membw_output, membw_pass, phase_end, phase_seed,
    root, sync,
};

/// Most outputs sampled per leaf (a leaf holds 128).
const MAX_SAMPLES: u32 = 128;

struct Membw;

/// `K_p`: the phase-1 seed for pass 0 (`phase_seed_1`, asked for only then), the previous
/// pass's root after.
fn key_material(
    pass: u32,
    phase_seed_1: impl FnOnce() -> Result<[u8; 32], Error>,
) -> Result<[u8; 32], Error> {
    if pass == 0 {
        phase_seed_1()
    } else {
        root(pass - 1)
    }
}

impl Challenge for Membw {
    fn run(params: &[u8]) -> Result<(), Error> {
        let p = MembwParams::decode(params)?;
        let buf = Buffer::alloc(p.bytes)?;
        buf.membw_fill(membw::STREAM, p.rounds)?;
        let out = Buffer::alloc(p.pass_output_bytes())?;
        let seed_1 = phase_end()?;
        for pass in 0..p.passes {
            let key = key_material(pass, || Ok(seed_1))?;
            membw_pass(&buf, &out, p.group, pass, &key)?;
            out.commit()?;
        }
        sync()
    }

    fn check(params: &[u8], req: &CheckRequest<'_>) -> Result<bool, Error> {
        let p = MembwParams::decode(params)?;
        let expected_len =
            commitment::leaf_len(p.pass_output_bytes(), req.leaf).ok_or(Error::BadRequest)?;
        if req.output >= p.passes
            || req.chunk.len() != expected_len
            || expected_len % membw::OUTPUT_BYTES != 0
        {
            return Err(Error::BadRequest);
        }
        let key = key_material(req.output, || phase_seed(1))?;
        let outputs = (expected_len / membw::OUTPUT_BYTES) as u64;
        for j in 0..req.samples.clamp(1, MAX_SAMPLES) {
            let pos = req.sample(j, outputs);
            let group = req.leaf * membw::OUTPUTS_PER_LEAF + pos;
            let value = membw_output(membw::STREAM, params, req.output, &key, group)?;
            let at = pos as usize * membw::OUTPUT_BYTES;
            let got = req
                .chunk
                .get(at..at + membw::OUTPUT_BYTES)
                .ok_or(Error::BadRequest)?;
            if got != value.to_le_bytes() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn work(params: &[u8]) -> Result<challenge_sdk::work::Work, Error> {
        Ok(membw::work(&MembwParams::decode(params)?))
    }
}

export_challenge!(Membw);
