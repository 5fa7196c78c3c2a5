//! The `gpu.*` imports of host ABI v1.1 (see `challenges::abi` for the contract): one
//! `func_wrap` per import over [`HostState`]. Every argument is checked here, before any
//! backend call; a bad one returns a negative status code, never a trap or a panic.
#![deny(clippy::indexing_slicing)]

use challenges::abi::{self, DeviceInfoRecord, status};
use challenges::matmul;
use challenges::membw::{self, MembwParams, Permutation};
use challenges::prf;
use challenges::simd::Kernels;
use challenges::tiles::{TILE, tile_to_bytes};
use std::time::Instant;
use wasmtime::{Caller, Linker};

use crate::host::{GuestBuffer, HostState, Side, Stage, code, read_guest, write_guest};
use crate::phase::MAX_PHASES;

type C<'a> = Caller<'a, HostState>;

/// Longest key material `membw_pass`/`membw_output` accept (a root is 32 bytes).
const MAX_KEY_MATERIAL: usize = 64;

fn nonneg(v: i64) -> Result<u64, i32> {
    u64::try_from(v).map_err(|_| status::OUT_OF_RANGE)
}

fn dim(v: i32, max: u32) -> Result<u32, i32> {
    let d = u32::try_from(v).map_err(|_| status::BAD_SHAPE)?;
    if d == 0 || d % TILE as u32 != 0 || d > max {
        return Err(status::BAD_SHAPE);
    }
    Ok(d)
}

/// Adds every ABI v1.1 import to `linker`.
pub(crate) fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(m, "abi_version", || abi::ABI_VERSION)?;
    linker.func_wrap(m, "device_info", device_info)?;
    linker.func_wrap(m, "alloc", alloc)?;
    linker.func_wrap(m, "free", free)?;
    linker.func_wrap(m, "prf_fill", prf_fill)?;
    linker.func_wrap(m, "gemm_i8", gemm_i8)?;
    linker.func_wrap(m, "membw_fill", membw_fill)?;
    linker.func_wrap(m, "membw_pass", membw_pass)?;
    linker.func_wrap(m, "commit", commit)?;
    linker.func_wrap(m, "root", root)?;
    linker.func_wrap(m, "philox_key", philox_key)?;
    linker.func_wrap(m, "sync", sync)?;
    linker.func_wrap(m, "log", log)?;
    linker.func_wrap(m, "tile_i8", tile_i8)?;
    linker.func_wrap(m, "membw_output", membw_output)?;
    linker.func_wrap(m, "phase_end", phase_end)?;
    linker.func_wrap(m, "phase_seed", phase_seed)?;
    Ok(())
}

fn device_info(mut caller: C<'_>, out_ptr: i32) -> i32 {
    let state = caller.data();
    let record = match &state.side {
        Side::Run(run) => DeviceInfoRecord {
            memory_bytes: run.device_memory,
            budget_bytes: state.limits.device_budget_bytes,
            device: state.device,
            backend: run.backend as u32,
        },
        _ => DeviceInfoRecord {
            memory_bytes: 0,
            budget_bytes: 0,
            device: state.device,
            backend: 0,
        },
    };
    code(write_guest(&mut caller, out_ptr, &record.encode()).map(|()| status::OK))
}

fn alloc(mut caller: C<'_>, bytes: i64) -> i32 {
    code((|| {
        let bytes = nonneg(bytes)?;
        let state = caller.data_mut();
        let limits = state.limits;
        let run = state.run_side()?;
        if run.buffers.len() >= limits.max_buffers as usize || run.next_handle == i32::MAX {
            return Err(state.fail(
                status::BUDGET,
                format!("more than {} live buffers", limits.max_buffers),
            ));
        }
        let held = run.live_bytes.saturating_add(run.committed_bytes);
        if bytes == 0 {
            return Err(state.fail(status::OUT_OF_RANGE, "a buffer must hold at least one byte"));
        }
        if held.saturating_add(bytes) > limits.device_budget_bytes {
            return Err(state.fail(
                status::BUDGET,
                format!(
                    "allocating {bytes} bytes would pass the device budget of {} (holding {held})",
                    limits.device_budget_bytes
                ),
            ));
        }
        let id = state.backend(Stage::Other, |run| run.session.alloc(bytes))?;
        let run = state.run_side()?;
        let handle = run.next_handle;
        run.next_handle += 1;
        run.live_bytes += bytes;
        run.buffers.insert(handle, GuestBuffer { id, len: bytes });
        Ok(handle)
    })())
}

fn free(mut caller: C<'_>, handle: i32) -> i32 {
    code((|| {
        let state = caller.data_mut();
        let run = state.run_side()?;
        let buf = run.buffers.remove(&handle).ok_or(status::BAD_HANDLE)?;
        run.live_bytes = run.live_bytes.saturating_sub(buf.len);
        state.backend(Stage::Other, |run| run.session.free(buf.id))?;
        Ok(status::OK)
    })())
}

fn prf_fill(
    mut caller: C<'_>,
    handle: i32,
    offset: i64,
    len: i64,
    stream: i64,
    tensor_id: i32,
    start: i64,
) -> i32 {
    code((|| {
        let (offset, len, start) = (nonneg(offset)?, nonneg(len)?, nonneg(start)?);
        let state = caller.data_mut();
        let seed = state.seed;
        let run = state.run_side()?;
        let buf = run.buffer(handle)?;
        if offset.checked_add(len).is_none_or(|end| end > buf.len) {
            return Err(status::OUT_OF_RANGE);
        }
        start.checked_add(len).ok_or(status::OUT_OF_RANGE)?;
        let id = buf.id;
        state.charge(len)?;
        let key = prf::key(&seed, stream as u64);
        state.backend(Stage::Fill, |run| {
            run.session
                .prf_fill(id, offset, len, key, tensor_id as u32, start)
        })?;
        Ok(status::OK)
    })())
}

fn gemm_i8(mut caller: C<'_>, a: i32, b: i32, c: i32, m: i32, n: i32, k: i32) -> i32 {
    code((|| {
        let (m, n, k) = (
            dim(m, matmul::MAX_MN)?,
            dim(n, matmul::MAX_MN)?,
            dim(k, matmul::MAX_K)?,
        );
        let state = caller.data_mut();
        let run = state.run_side()?;
        let (ab, bb, cb) = (run.buffer(a)?, run.buffer(b)?, run.buffer(c)?);
        let (m64, n64, k64) = (u64::from(m), u64::from(n), u64::from(k));
        if ab.len != m64 * k64 || bb.len != k64 * n64 || cb.len != 4 * m64 * n64 {
            return Err(state.fail(
                status::BAD_SHAPE,
                "gemm_i8 buffers must be exactly m·k, k·n and 4·m·n bytes",
            ));
        }
        let (aid, bid, cid) = (ab.id, bb.id, cb.id);
        state.charge(
            2u64.saturating_mul(m64)
                .saturating_mul(n64)
                .saturating_mul(k64),
        )?;
        state.backend(Stage::Compute, |run| {
            run.session.gemm_i8(aid, bid, cid, m, n, k)
        })?;
        Ok(status::OK)
    })())
}

fn membw_fill(mut caller: C<'_>, handle: i32, stream: i64, rounds: i32) -> i32 {
    code((|| {
        let rounds = u32::try_from(rounds).map_err(|_| status::OUT_OF_RANGE)?;
        if rounds > membw::MAX_ROUNDS {
            return Err(status::OUT_OF_RANGE);
        }
        let state = caller.data_mut();
        let seed = state.seed;
        let run = state.run_side()?;
        let buf = run.buffer(handle)?;
        if buf.len % prf::BLOCK_BYTES as u64 != 0 {
            return Err(status::BAD_SHAPE);
        }
        let (id, len) = (buf.id, buf.len);
        state.charge((len / prf::BLOCK_BYTES as u64).saturating_mul(u64::from(rounds) + 1))?;
        let key = prf::key(&seed, stream as u64);
        state.backend(Stage::Fill, |run| run.session.membw_fill(id, key, rounds))?;
        Ok(status::OK)
    })())
}

fn membw_pass(
    mut caller: C<'_>,
    buf: i32,
    out: i32,
    group: i32,
    pass: i32,
    key_ptr: i32,
    key_len: i32,
) -> i32 {
    code((|| {
        let key = read_guest(&caller, key_ptr, key_len, MAX_KEY_MATERIAL)?;
        let group = u32::try_from(group).map_err(|_| status::BAD_SHAPE)?;
        let pass = u32::try_from(pass).map_err(|_| status::OUT_OF_RANGE)?;
        if group == 0 || group % membw::GROUP_ALIGN != 0 || group > membw::MAX_GROUP {
            return Err(status::BAD_SHAPE);
        }
        let state = caller.data_mut();
        let run = state.run_side()?;
        let (src, dst) = (run.buffer(buf)?, run.buffer(out)?);
        if src.len % u64::from(group) != 0 {
            return Err(status::BAD_SHAPE);
        }
        let groups = src.len / u64::from(group);
        if dst.len != groups.saturating_mul(membw::OUTPUT_BYTES as u64) {
            return Err(status::BAD_SHAPE);
        }
        let (src_id, dst_id, len) = (src.id, dst.id, src.len);
        let perm = Permutation::new(groups, pass, &key)
            .map_err(|e| state.fail(status::BAD_SHAPE, e.to_string()))?;
        state.charge(len.saturating_mul(2))?;
        state.backend(Stage::Compute, |run| {
            run.session.membw_pass(src_id, dst_id, group, pass, &perm)
        })?;
        Ok(status::OK)
    })())
}

fn commit(mut caller: C<'_>, handle: i32) -> i32 {
    code((|| {
        let state = caller.data_mut();
        let max_outputs = state.limits.max_outputs;
        let budget = state.limits.device_budget_bytes;
        let run = state.run_side()?;
        let buf = run.buffer(handle)?;
        let (id, len) = (buf.id, buf.len);
        if run.committed.len() >= max_outputs as usize {
            return Err(state.fail(
                status::BUDGET,
                format!("more than {max_outputs} outputs committed"),
            ));
        }
        // A committed output stays held (its bytes serve openings) until the session ends.
        if run
            .live_bytes
            .saturating_add(run.committed_bytes)
            .saturating_add(len)
            > budget
        {
            return Err(state.fail(status::BUDGET, "committing would pass the device budget"));
        }
        state.charge(len)?;
        let committed = state.backend(Stage::Hash, |run| run.session.commit(id))?;
        let run = state.run_side()?;
        run.committed.push(committed);
        run.committed_bytes += len;
        i32::try_from(run.committed.len() - 1).map_err(|_| status::BUDGET)
    })())
}

fn root(mut caller: C<'_>, output: i32, out_ptr: i32) -> i32 {
    code((|| {
        let index = usize::try_from(output).map_err(|_| status::NO_OUTPUT)?;
        let root = match &caller.data().side {
            Side::Run(run) => run.committed.get(index).map(|c| c.root),
            Side::Check { roots } => roots.get(index).copied(),
            Side::Work => return Err(status::UNAVAILABLE),
        }
        .ok_or(status::NO_OUTPUT)?;
        write_guest(&mut caller, out_ptr, &root)?;
        Ok(status::OK)
    })())
}

fn philox_key(mut caller: C<'_>, stream: i64, out_ptr: i32) -> i32 {
    code((|| {
        if matches!(caller.data().side, Side::Work) {
            return Err(status::UNAVAILABLE);
        }
        let key = prf::key(&caller.data().seed, stream as u64);
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&key[0].to_le_bytes());
        bytes[4..].copy_from_slice(&key[1].to_le_bytes());
        write_guest(&mut caller, out_ptr, &bytes)?;
        Ok(status::OK)
    })())
}

/// `gpu.phase_end` (ABI v1.1): the output pointer is checked before anything else; the device
/// finishes its queued work before the phase is reported, so the roots (and the time) reported
/// are of work that is done; the hook blocks until the next key or says why none comes.
fn phase_end(mut caller: C<'_>, seed_out_ptr: i32) -> i32 {
    code((|| {
        write_guest(&mut caller, seed_out_ptr, &[0u8; 32])?;
        caller
            .data_mut()
            .backend(Stage::Compute, |run| run.session.sync())?;
        let state = caller.data_mut();
        let roots: Vec<[u8; 32]> = state.run_side()?.committed.iter().map(|c| c.root).collect();
        let ended = state.phase;
        if ended.saturating_add(1) >= MAX_PHASES {
            return Err(state.fail(
                status::OUT_OF_RANGE,
                format!("a challenge may have at most {MAX_PHASES} phases"),
            ));
        }
        let waited = Instant::now();
        let nonce = state.phases.phase_end(ended, &roots);
        state.phase_wait += waited.elapsed();
        let nonce = nonce.map_err(|e| state.fail(status::PHASE, e.to_string()))?;
        let seed = prf::phase_seed(&state.seed, ended + 1, &nonce);
        state.phase = ended + 1;
        state.phase_seeds.push(seed);
        write_guest(&mut caller, seed_out_ptr, &seed)?;
        Ok(status::OK)
    })())
}

/// `gpu.phase_seed` (ABI v1.1): the seed of a phase already begun (run side) or handed over by
/// the verifier (check side).
fn phase_seed(mut caller: C<'_>, phase: i32, out_ptr: i32) -> i32 {
    code((|| {
        let state = caller.data();
        if matches!(state.side, Side::Work) {
            return Err(status::UNAVAILABLE);
        }
        let seed = usize::try_from(phase)
            .ok()
            .and_then(|k| k.checked_sub(1))
            .and_then(|i| state.phase_seeds.get(i))
            .copied()
            .ok_or(status::OUT_OF_RANGE)?;
        write_guest(&mut caller, out_ptr, &seed)?;
        Ok(status::OK)
    })())
}

fn sync(mut caller: C<'_>) -> i32 {
    code(
        caller
            .data_mut()
            .backend(Stage::Compute, |run| run.session.sync())
            .map(|()| status::OK),
    )
}

/// `gpu.log`: keeps up to `max_log_lines` lines. Every call is charged its length (at least one
/// op) to the host work budget, so a guest cannot loop on it for free; once the lines are used
/// up, calls return `OK` without reading guest memory.
fn log(mut caller: C<'_>, ptr: i32, len: i32) -> i32 {
    code((|| {
        let len = len.clamp(0, abi::LOG_MAX as i32);
        let state = caller.data_mut();
        state.charge(u64::from(len.unsigned_abs()).max(1))?;
        if state.logs.len() >= state.limits.max_log_lines as usize {
            return Ok(status::OK);
        }
        let text =
            String::from_utf8_lossy(&read_guest(&caller, ptr, len, abi::LOG_MAX)?).into_owned();
        caller.data_mut().logs.push(text);
        Ok(status::OK)
    })())
}

#[allow(clippy::too_many_arguments)]
fn tile_i8(
    mut caller: C<'_>,
    out_ptr: i32,
    stream: i64,
    a_id: i32,
    b_id: i32,
    n: i32,
    k: i32,
    tile_row: i32,
    tile_col: i32,
) -> i32 {
    code((|| {
        let (n, k) = (dim(n, matmul::MAX_MN)?, dim(k, matmul::MAX_K)?);
        let tile_row = u32::try_from(tile_row).map_err(|_| status::OUT_OF_RANGE)?;
        let tile_col = u32::try_from(tile_col).map_err(|_| status::OUT_OF_RANGE)?;
        if u64::from(tile_col) * TILE as u64 >= u64::from(n)
            || tile_row >= matmul::MAX_MN / TILE as u32
        {
            return Err(status::OUT_OF_RANGE);
        }
        let state = caller.data_mut();
        if !matches!(state.side, Side::Check { .. }) {
            return Err(status::UNAVAILABLE);
        }
        state.charge(2 * (TILE * TILE) as u64 * u64::from(k))?;
        let key = prf::key(&state.seed, stream as u64);
        // The widest SIMD kernels this CPU has; bit-identical to `matmul::tile_from_operands`
        // over `a_rows_of` and `b_block_of` (challenges/tests/simd.rs).
        let tile = Kernels::best().tile(key, a_id as u32, b_id as u32, n, k, tile_row, tile_col);
        write_guest(&mut caller, out_ptr, &tile_to_bytes(&tile))?;
        Ok(status::OK)
    })())
}

#[allow(clippy::too_many_arguments)]
fn membw_output(
    mut caller: C<'_>,
    out_ptr: i32,
    stream: i64,
    params_ptr: i32,
    params_len: i32,
    pass: i32,
    key_ptr: i32,
    key_len: i32,
    group_index: i64,
) -> i32 {
    code((|| {
        let params_bytes = read_guest(&caller, params_ptr, params_len, membw::PARAMS_LEN)?;
        let params = MembwParams::decode(&params_bytes).map_err(|_| status::BAD_PARAMS)?;
        let key_material = read_guest(&caller, key_ptr, key_len, MAX_KEY_MATERIAL)?;
        let pass = u32::try_from(pass).map_err(|_| status::OUT_OF_RANGE)?;
        let b = nonneg(group_index)?;
        if b >= params.groups() {
            return Err(status::OUT_OF_RANGE);
        }
        let state = caller.data_mut();
        if !matches!(state.side, Side::Check { .. }) {
            return Err(status::UNAVAILABLE);
        }
        state.charge(2 * u64::from(params.group) * (u64::from(params.rounds) + 1))?;
        let key = prf::key(&state.seed, stream as u64);
        let perm = Permutation::new(params.groups(), pass, &key_material)
            .map_err(|_| status::BAD_SHAPE)?;
        // Bit-identical to `membw::output` (challenges/tests/simd.rs), on SIMD kernels.
        let value = Kernels::best()
            .membw_output(key, &params, &perm, pass, b)
            .map_err(|_| status::BAD_PARAMS)?;
        write_guest(&mut caller, out_ptr, &value.to_le_bytes())?;
        Ok(status::OK)
    })())
}
