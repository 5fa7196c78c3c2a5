// Host launchers: run each kernel of ../cuda through the grid emulator (../cuda/emu.h) on host
// buffers. Built by build.rs with the `cc` crate only when the crate's `emulator` feature is on
// (its tests turn it on); called from src/emulated.rs.
//
// The kernel files are included in the same order as cuda_kernels::SOURCE concatenates them,
// so this translation unit compiles exactly the text NVRTC compiles (plus emu.h, which
// common.cuh pulls in only off the GPU). tests/source.rs checks the order.
//
// Every launcher returns 0 on success, or 1 with a message for gp_emu_last_error (bad launch
// dimensions, thread creation failure). Buffer sizes are checked by the Rust wrappers.
#include "../cuda/common.cuh"
#include "../cuda/prf.cu"
#include "../cuda/relayout.cu"
#include "../cuda/membw.cu"
#include "../cuda/blake3.cu"
#include "../cuda/gemm_dp4a.cu"

#include <exception>
#include <string>

// Emulator self-test kernel (NOT part of cuda_kernels::SOURCE: no production kernel uses warp
// shuffles): every shuffle flavour, 32- and 64-bit, so the emulator's exchange is tested too.
// Thread t of the block writes 6 words at out + 6·t.
extern "C" __global__ void gp_emu_selftest_shuffles_kernel(u32* out) {
    const u32 t = threadIdx.x;
    const u32 lane = t % 32u;
    const u32 v = 1000u * (t / 32u) + 3u * lane + 1u;
    const u64 wide = (static_cast<u64>(v) << 32) | (v ^ 0xffffffffu);
    u32* o = out + 6u * t;
    o[0] = __shfl_sync(0xffffffffu, v, static_cast<int>((7u * lane + 3u) % 32u));
    o[1] = __shfl_down_sync(0xffffffffu, v, 5u);
    o[2] = __shfl_up_sync(0xffffffffu, v, 3u);
    o[3] = __shfl_xor_sync(0xffffffffu, v, 13);
    const u64 got = __shfl_sync(0xffffffffu, wide, static_cast<int>(31u - lane));
    o[4] = static_cast<u32>(got);
    o[5] = static_cast<u32>(got >> 32);
}

namespace {

thread_local std::string last_error;

template <class F>
int guarded(F&& f) noexcept {
    try {
        f();
        return 0;
    } catch (const std::exception& e) {
        last_error = e.what();
    } catch (...) {
        last_error = "unknown C++ exception";
    }
    return 1;
}

}  // namespace

// Launch dimensions, as src/emulated.rs passes them (#[repr(C)] struct EmuLaunch).
struct gp_launch {
    unsigned int grid[3];
    unsigned int block[3];
};

static dim3 grid_of(const gp_launch* l) { return dim3(l->grid[0], l->grid[1], l->grid[2]); }
static dim3 block_of(const gp_launch* l) { return dim3(l->block[0], l->block[1], l->block[2]); }

extern "C" {

// Copies the calling thread's last error message (NUL-terminated, truncated to cap) and
// returns its full length.
unsigned long long gp_emu_last_error(char* buf, unsigned long long cap) {
    const std::string& msg = last_error;
    if (cap > 0) {
        const unsigned long long n = msg.size() < cap - 1 ? msg.size() : cap - 1;
        std::memcpy(buf, msg.data(), n);
        buf[n] = '\0';
    }
    return msg.size();
}

int gp_emu_prf_fill_i8(const gp_launch* l, u8* out, u64 start, u64 len, u32 tensor_id, u32 key0,
                       u32 key1) {
    return guarded([&] {
        gp_emu::launch(grid_of(l), block_of(l), prf_fill_i8, out, start, len, tensor_id, key0,
                       key1);
    });
}

int gp_emu_relayout_tiles(const gp_launch* l, const i32* in, i32* out, u32 m, u32 n) {
    return guarded([&] { gp_emu::launch(grid_of(l), block_of(l), relayout_tiles, in, out, m, n); });
}

int gp_emu_transpose_i8(const gp_launch* l, const i8* in, i8* out, u32 rows, u32 cols) {
    return guarded(
        [&] { gp_emu::launch(grid_of(l), block_of(l), transpose_i8, in, out, rows, cols); });
}

int gp_emu_membw_fill(const gp_launch* l, u8* buf, u64 first_block, u64 count, u32 rounds,
                      u32 key0, u32 key1) {
    return guarded([&] {
        gp_emu::launch(grid_of(l), block_of(l), membw_fill, buf, first_block, count, rounds, key0,
                       key1);
    });
}

int gp_emu_membw_perm(const gp_launch* l, u32* out, u64 first, u64 count, u64 groups,
                      u32 half_bits, const u32* round_keys) {
    return guarded([&] {
        gp_emu::launch(grid_of(l), block_of(l), membw_perm, out, first, count, groups, half_bits,
                       round_keys[0], round_keys[1], round_keys[2], round_keys[3]);
    });
}

int gp_emu_membw_pass(const gp_launch* l, const u8* buf, u8* out, u64 groups, u32 group_bytes,
                      u32 pass, u32 half_bits, const u32* round_keys) {
    return guarded([&] {
        gp_emu::launch(grid_of(l), block_of(l), membw_pass, buf, out, groups, group_bytes, pass,
                       half_bits, round_keys[0], round_keys[1], round_keys[2], round_keys[3]);
    });
}

int gp_emu_blake3_chunk_cvs(const gp_launch* l, const u8* data, u64 len, u64 chunk_base,
                            u8* cvs) {
    return guarded([&] {
        gp_emu::launch(grid_of(l), block_of(l), blake3_chunk_cvs, data, len, chunk_base, cvs);
    });
}

int gp_emu_blake3_parent_cvs(const gp_launch* l, const u8* in, u64 count, u8* out) {
    return guarded(
        [&] { gp_emu::launch(grid_of(l), block_of(l), blake3_parent_cvs, in, count, out); });
}

// mode 0: real threads and barriers; mode 1: the plain sequential loop (barriers are no-ops),
// used only by the test that proves the GEMM test depends on __syncthreads.
int gp_emu_gemm_i8_dp4a(const gp_launch* l, const i8* a, const i8* b, i32* c, u32 m, u32 n,
                        u32 k, int mode) {
    return guarded([&] {
        gp_emu::launch_mode(mode == 1 ? gp_emu::Mode::sequential : gp_emu::Mode::threads,
                            grid_of(l), block_of(l), gemm_i8_dp4a, a, b, c, m, n, k);
    });
}

int gp_emu_selftest_shuffles(const gp_launch* l, u32* out) {
    return guarded([&] {
        gp_emu::launch(grid_of(l), block_of(l), gp_emu_selftest_shuffles_kernel, out);
    });
}

}  // extern "C"
