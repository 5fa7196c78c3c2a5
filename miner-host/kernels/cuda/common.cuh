// gpuproof CUDA kernels: shared prelude (types, Philox4x32-10, BLAKE3 compression).
//
// The kernel files of this folder are compiled as ONE translation unit: this prelude first,
// then prf.cu, relayout.cu, membw.cu, blake3.cu, gemm_dp4a.cu, in that order. On a GPU machine
// NVRTC compiles `cuda_kernels::SOURCE` (those files concatenated by the Rust crate); in tests
// emu/launchers.cpp #includes the same files in the same order. Nothing here includes a CUDA
// toolkit header: NVRTC provides the builtins (threadIdx, __umulhi, __dp4a, __shfl_sync, …)
// implicitly; on the host, emu.h provides them.
//
// Conventions: all multi-byte values in memory are little-endian (every CUDA device is);
// pointers handed to the kernels are at least 16-byte aligned unless a kernel says otherwise
// (cudaMalloc gives 256).
#ifndef GP_COMMON_CUH
#define GP_COMMON_CUH

#if !defined(__CUDACC_RTC__) && !defined(__CUDACC__)
#include "emu.h"
#endif

#if defined(__CUDACC_RTC__) || defined(__CUDACC__)
#define GP_UNROLL _Pragma("unroll")
#else
#define GP_UNROLL
#endif

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;

// Sixteen bytes moved as one 128-bit access (LDG.128 / STG.128 on the device).
struct alignas(16) gp_u32x4 {
    u32 w[4];
};

__device__ __forceinline__ bool gp_aligned16(const void* p) {
    return (reinterpret_cast<u64>(p) & 15ull) == 0;
}

// Writes four words as 16 little-endian bytes at `dst` (any alignment).
__device__ __forceinline__ void gp_store16(u8* dst, const u32 w[4]) {
    if (gp_aligned16(dst)) {
        gp_u32x4 v;
        v.w[0] = w[0];
        v.w[1] = w[1];
        v.w[2] = w[2];
        v.w[3] = w[3];
        *reinterpret_cast<gp_u32x4*>(dst) = v;
    } else {
        GP_UNROLL
        for (int i = 0; i < 16; ++i) {
            dst[i] = static_cast<u8>(w[i >> 2] >> (8 * (i & 3)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Philox4x32-10 exactly as Random123 publishes it (challenges::prf::philox4x32_10).
// ---------------------------------------------------------------------------------------------

#define GP_PHILOX_M0 0xD2511F53u
#define GP_PHILOX_M1 0xCD9E8D57u
#define GP_PHILOX_W0 0x9E3779B9u
#define GP_PHILOX_W1 0xBB67AE85u

// In place: x = philox4x32_10([k0, k1], x).
__device__ __forceinline__ void gp_philox4x32_10(u32 k0, u32 k1, u32 x[4]) {
    GP_UNROLL
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += GP_PHILOX_W0;
            k1 += GP_PHILOX_W1;
        }
        const u32 hi0 = __umulhi(GP_PHILOX_M0, x[0]);
        const u32 lo0 = GP_PHILOX_M0 * x[0];
        const u32 hi1 = __umulhi(GP_PHILOX_M1, x[2]);
        const u32 lo1 = GP_PHILOX_M1 * x[2];
        const u32 y0 = hi1 ^ x[1] ^ k0;
        const u32 y2 = hi0 ^ x[3] ^ k1;
        x[0] = y0;
        x[1] = lo1;
        x[2] = y2;
        x[3] = lo0;
    }
}

// ---------------------------------------------------------------------------------------------
// BLAKE3 compression (the reference implementation's, 7 rounds).
// ---------------------------------------------------------------------------------------------

#define GP_B3_CHUNK_START 1u
#define GP_B3_CHUNK_END 2u
#define GP_B3_PARENT 4u

#define GP_B3_IV0 0x6A09E667u
#define GP_B3_IV1 0xBB67AE85u
#define GP_B3_IV2 0x3C6EF372u
#define GP_B3_IV3 0xA54FF53Au
#define GP_B3_IV4 0x510E527Fu
#define GP_B3_IV5 0x9B05688Cu
#define GP_B3_IV6 0x1F83D9ABu
#define GP_B3_IV7 0x5BE0CD19u

__device__ __forceinline__ void gp_b3_iv(u32 cv[8]) {
    cv[0] = GP_B3_IV0;
    cv[1] = GP_B3_IV1;
    cv[2] = GP_B3_IV2;
    cv[3] = GP_B3_IV3;
    cv[4] = GP_B3_IV4;
    cv[5] = GP_B3_IV5;
    cv[6] = GP_B3_IV6;
    cv[7] = GP_B3_IV7;
}

__device__ __forceinline__ u32 gp_rotr32(u32 x, u32 n) {
    return (x >> n) | (x << (32u - n));
}

__device__ __forceinline__ void gp_b3_g(u32 v[16], int a, int b, int c, int d, u32 mx, u32 my) {
    v[a] = v[a] + v[b] + mx;
    v[d] = gp_rotr32(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = gp_rotr32(v[b] ^ v[c], 12);
    v[a] = v[a] + v[b] + my;
    v[d] = gp_rotr32(v[d] ^ v[a], 8);
    v[c] = v[c] + v[d];
    v[b] = gp_rotr32(v[b] ^ v[c], 7);
}

// cv = first 8 words of compress(cv, m, counter, block_len, flags): a chaining value.
__device__ __forceinline__ void gp_b3_compress(u32 cv[8], const u32 block[16], u64 counter,
                                               u32 block_len, u32 flags) {
    u32 v[16];
    u32 m[16];
    GP_UNROLL
    for (int i = 0; i < 8; ++i) {
        v[i] = cv[i];
    }
    v[8] = GP_B3_IV0;
    v[9] = GP_B3_IV1;
    v[10] = GP_B3_IV2;
    v[11] = GP_B3_IV3;
    v[12] = static_cast<u32>(counter);
    v[13] = static_cast<u32>(counter >> 32);
    v[14] = block_len;
    v[15] = flags;
    GP_UNROLL
    for (int i = 0; i < 16; ++i) {
        m[i] = block[i];
    }
    GP_UNROLL
    for (int round = 0; round < 7; ++round) {
        gp_b3_g(v, 0, 4, 8, 12, m[0], m[1]);
        gp_b3_g(v, 1, 5, 9, 13, m[2], m[3]);
        gp_b3_g(v, 2, 6, 10, 14, m[4], m[5]);
        gp_b3_g(v, 3, 7, 11, 15, m[6], m[7]);
        gp_b3_g(v, 0, 5, 10, 15, m[8], m[9]);
        gp_b3_g(v, 1, 6, 11, 12, m[10], m[11]);
        gp_b3_g(v, 2, 7, 8, 13, m[12], m[13]);
        gp_b3_g(v, 3, 4, 9, 14, m[14], m[15]);
        // Message permutation [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8].
        const u32 t0 = m[2], t1 = m[6], t2 = m[3], t3 = m[10], t4 = m[7], t5 = m[0], t6 = m[4],
                  t7 = m[13], t8 = m[1], t9 = m[11], t10 = m[12], t11 = m[5], t12 = m[9],
                  t13 = m[14], t14 = m[15], t15 = m[8];
        m[0] = t0;
        m[1] = t1;
        m[2] = t2;
        m[3] = t3;
        m[4] = t4;
        m[5] = t5;
        m[6] = t6;
        m[7] = t7;
        m[8] = t8;
        m[9] = t9;
        m[10] = t10;
        m[11] = t11;
        m[12] = t12;
        m[13] = t13;
        m[14] = t14;
        m[15] = t15;
    }
    GP_UNROLL
    for (int i = 0; i < 8; ++i) {
        cv[i] = v[i] ^ v[i + 8];
    }
}

// Writes a chaining value as its 32 little-endian bytes (dst 16-byte aligned or not).
__device__ __forceinline__ void gp_store_cv(u8* dst, const u32 cv[8]) {
    gp_store16(dst, cv);
    gp_store16(dst + 16, cv + 4);
}

// Reads 16 bytes at `src` as four little-endian words (any alignment).
__device__ __forceinline__ void gp_load16(const u8* src, u32 out[4]) {
    if (gp_aligned16(src)) {
        const gp_u32x4 v = *reinterpret_cast<const gp_u32x4*>(src);
        out[0] = v.w[0];
        out[1] = v.w[1];
        out[2] = v.w[2];
        out[3] = v.w[3];
    } else {
        GP_UNROLL
        for (int i = 0; i < 4; ++i) {
            out[i] = static_cast<u32>(src[4 * i]) | (static_cast<u32>(src[4 * i + 1]) << 8) |
                     (static_cast<u32>(src[4 * i + 2]) << 16) |
                     (static_cast<u32>(src[4 * i + 3]) << 24);
        }
    }
}

// Reads 64 bytes at `src` as sixteen little-endian words (any alignment).
__device__ __forceinline__ void gp_load64(const u8* src, u32 out[16]) {
    gp_load16(src, out);
    gp_load16(src + 16, out + 4);
    gp_load16(src + 32, out + 8);
    gp_load16(src + 48, out + 12);
}

#endif  // GP_COMMON_CUH
