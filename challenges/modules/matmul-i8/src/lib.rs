//! The `matmul-i8` challenge module: `T` exact int8 GEMMs, each product committed tile-major.
//!
//! The spec (params, tensor ids, layout, work) is `challenges::matmul`. `run` generates `A_t`
//! and `B_t` from the PRF on the device, multiplies them and commits `C_t` for each `t`;
//! `check` recomputes one opened tile natively through the host's `tile_i8` import and compares
//! it with the leaf; `work` declares `challenges::matmul::work`.
#![no_std]

use challenge_sdk::abi::CheckRequest;
use challenge_sdk::spec::matmul::{self, MatmulParams};
use challenge_sdk::spec::tiles;
use challenge_sdk::{Buffer, Challenge, Error, export_challenge, gemm_i8, sync, tile_i8};

struct MatmulI8;

impl Challenge for MatmulI8 {
    fn run(params: &[u8]) -> Result<(), Error> {
        let p = MatmulParams::decode(params)?;
        let (m, n, k) = (u64::from(p.m), u64::from(p.n), u64::from(p.k));
        let a = Buffer::alloc(m * k)?;
        let b = Buffer::alloc(k * n)?;
        let c = Buffer::alloc(4 * m * n)?;
        for t in 0..p.count {
            a.prf_fill(0, m * k, matmul::STREAM, matmul::a_id(t), 0)?;
            b.prf_fill(0, k * n, matmul::STREAM, matmul::b_id(t), 0)?;
            gemm_i8(&a, &b, &c, p.m, p.n, p.k)?;
            c.commit()?;
        }
        sync()
    }

    fn check(params: &[u8], req: &CheckRequest<'_>) -> Result<bool, Error> {
        let p = MatmulParams::decode(params)?;
        if req.output >= p.count
            || req.leaf >= p.tiles_per_product()
            || req.chunk.len() != tiles::TILE_BYTES
        {
            return Err(Error::BadRequest);
        }
        let (tile_row, tile_col) = tiles::tile_coords(p.n, req.leaf);
        let expected = tile_i8(
            matmul::STREAM,
            matmul::a_id(req.output),
            matmul::b_id(req.output),
            p.n,
            p.k,
            tile_row as u32,
            tile_col as u32,
        )?;
        Ok(expected[..] == *req.chunk)
    }

    fn work(params: &[u8]) -> Result<challenge_sdk::work::Work, Error> {
        Ok(matmul::work(&MatmulParams::decode(params)?))
    }
}

export_challenge!(MatmulI8);
