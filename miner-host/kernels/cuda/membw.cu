// membw: the fill, the pass permutation π_p and the pass fold of challenges::membw.

// ---------------------------------------------------------------------------------------------
// membw_fill: blocks [first_block, first_block + count) of the buffer.
//
// Block i is x_R(i): x_0(i) = philox4x32_10(k, [lo32(i), hi32(i), FILL_ID = 0, 0]),
// x_{r+1}(i) = philox4x32_10(k, x_r(i)), written as four little-endian words at byte 16·i of
// `buf` (which points at block 0 of the whole buffer, 16-byte aligned).
//
// Launch: 1-D, one thread per block.
//   block = (T, 1, 1), T a multiple of 32
//   grid  = (max(1, ceil(count / T)), 1, 1)
// Split a buffer larger than 2^31 - 1 thread blocks into several launches with first_block.
extern "C" __global__ void membw_fill(u8* buf, u64 first_block, u64 count, u32 rounds,
                                      u32 key0, u32 key1) {
    const u64 t = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (t >= count) {
        return;
    }
    const u64 i = first_block + t;
    u32 x[4] = {static_cast<u32>(i), static_cast<u32>(i >> 32), 0u, 0u};
    gp_philox4x32_10(key0, key1, x);
    for (u32 r = 0; r < rounds; ++r) {
        gp_philox4x32_10(key0, key1, x);
    }
    gp_store16(buf + 16u * i, x);
}

// ---------------------------------------------------------------------------------------------
// The permutation π_p (challenges::membw::Permutation), from its round keys, its half width
// h (1 ≤ h ≤ 16, as Permutation::half_bits gives it) and the group count G (2 ≤ G ≤ 2^32).
// Every value lives in 2h ≤ 32 bits, so u32 arithmetic is exact; only G and σ(b) + 1 need u64.
// ---------------------------------------------------------------------------------------------

struct gp_perm {
    u64 groups;
    u32 half;
    u32 mask;
    u32 rk[4];
};

__device__ __forceinline__ u32 gp_fmix32(u32 x) {
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    return x ^ (x >> 16);
}

__device__ __forceinline__ gp_perm gp_perm_make(u64 groups, u32 half_bits, u32 rk0, u32 rk1,
                                                u32 rk2, u32 rk3) {
    gp_perm p;
    p.groups = groups;
    p.half = half_bits;
    p.mask = static_cast<u32>((1ull << half_bits) - 1ull);
    p.rk[0] = rk0;
    p.rk[1] = rk1;
    p.rk[2] = rk2;
    p.rk[3] = rk3;
    return p;
}

// The 4-round balanced Feistel network on 2h bits: (L, R) → (R, L ⊕ (fmix32(R ⊕ rk) mod 2^h)).
__device__ __forceinline__ u32 gp_feistel(const gp_perm& p, u32 x) {
    u32 l = x >> p.half;
    u32 r = x & p.mask;
    GP_UNROLL
    for (int i = 0; i < 4; ++i) {
        const u32 next_r = l ^ (gp_fmix32(r ^ p.rk[i]) & p.mask);
        l = r;
        r = next_r;
    }
    return (l << p.half) | r;
}

// Its inverse: rounds in reverse, (L, R) → (R ⊕ (fmix32(L ⊕ rk) mod 2^h), L).
__device__ __forceinline__ u32 gp_feistel_inverse(const gp_perm& p, u32 x) {
    u32 l = x >> p.half;
    u32 r = x & p.mask;
    GP_UNROLL
    for (int i = 3; i >= 0; --i) {
        const u32 next_l = r ^ (gp_fmix32(l ^ p.rk[i]) & p.mask);
        r = l;
        l = next_l;
    }
    return (l << p.half) | r;
}

// σ_G: the network cycle-walked into [0, G).
__device__ __forceinline__ u32 gp_sigma(const gp_perm& p, u32 x) {
    u32 y = gp_feistel(p, x);
    while (static_cast<u64>(y) >= p.groups) {
        y = gp_feistel(p, y);
    }
    return y;
}

// σ_G⁻¹.
__device__ __forceinline__ u32 gp_sigma_inverse(const gp_perm& p, u32 y) {
    u32 x = gp_feistel_inverse(p, y);
    while (static_cast<u64>(x) >= p.groups) {
        x = gp_feistel_inverse(p, x);
    }
    return x;
}

// π_p(b) = σ_G⁻¹((σ_G(b) + 1) mod G), for b < G.
__device__ __forceinline__ u32 gp_perm_apply(const gp_perm& p, u32 b) {
    u64 next = static_cast<u64>(gp_sigma(p, b)) + 1u;
    if (next == p.groups) {
        next = 0;
    }
    return gp_sigma_inverse(p, static_cast<u32>(next));
}

// membw_perm: out[i] = π_p(first + i) for i < count (u32 each; first + count ≤ G). Not part of
// a challenge: it lets tests and the GPU self-test check π_p on the device at any G.
//
// Launch: 1-D, one thread per index: block = (T, 1, 1); grid = (max(1, ceil(count / T)), 1, 1).
extern "C" __global__ void membw_perm(u32* out, u64 first, u64 count, u64 groups, u32 half_bits,
                                      u32 rk0, u32 rk1, u32 rk2, u32 rk3) {
    const u64 t = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (t >= count) {
        return;
    }
    const gp_perm p = gp_perm_make(groups, half_bits, rk0, rk1, rk2, rk3);
    out[t] = gp_perm_apply(p, static_cast<u32>(first + t));
}

// ---------------------------------------------------------------------------------------------
// membw_pass: the output of pass `pass` (challenges::membw::fold for every group).
//
// One warp per group b: lane l starts with a = 0x243F6A88 ⊕ pass·0x9E3779B9 ⊕ l and
// c = 0x85A308D3 ⊕ b·0x7FEB352D ⊕ l·0x846CA68B, absorbs words l, l+32, l+64, … (u32 LE) of
// group b, then of group π_p(b) (each step of the warp reads one coalesced 128-byte line), then
// the 32 lane states are combined in lane order: every lane writes (a, c) to its warp's row
// of a shared-memory table, __syncwarp(), and lane 0 combines the row and stores. (Shared
// memory rather than 32 shuffles: the same cost on a GPU, and one warp barrier instead of 32
// in the emulator.) The output is the u64 C·2^32 + A at byte 8·b of `out`, little-endian.
//
// Launch: 1-D, one warp per group.
//   block = (T, 1, 1), T a multiple of 32 (128 or 256)
//   grid  = (ceil(G / (T/32)), 1, 1)
// Preconditions (the host checks): `buf` holds G·group_bytes bytes, 16-byte aligned;
// group_bytes is a non-zero multiple of 128; 2 ≤ G ≤ 2^32; `out` holds 8·G bytes, 8-aligned;
// half_bits and the round keys are Permutation::half_bits()/round_keys() of this pass.
// Whole warps exit together (all lanes share b), so __syncwarp always sees full warps.
// T ≤ 1024, so a block has at most 32 warps: the rows of lane_a / lane_c.
// ---------------------------------------------------------------------------------------------

__device__ __forceinline__ void gp_fold_group(const u8* group, u32 words_per_lane, u32 lane,
                                              u32& a, u32& c) {
    const u32* words = reinterpret_cast<const u32*>(group);
    for (u32 j = 0; j < words_per_lane; ++j) {
        const u32 w = words[lane + 32u * j];
        u32 x = (a ^ w) * 0x9E3779B1u;
        x ^= x >> 15;
        a = x;
        u32 y = (c + x) * 0x85EBCA77u;
        y ^= y >> 13;
        c = y;
    }
}

extern "C" __global__ void membw_pass(const u8* buf, u8* out, u64 groups, u32 group_bytes,
                                      u32 pass, u32 half_bits, u32 rk0, u32 rk1, u32 rk2,
                                      u32 rk3) {
    const u64 thread = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
    const u64 b = thread / 32u;
    const u32 lane = threadIdx.x % 32u;  // T is a multiple of 32: warps never straddle blocks
    if (b >= groups) {
        return;
    }
    const gp_perm p = gp_perm_make(groups, half_bits, rk0, rk1, rk2, rk3);
    const u64 pi = gp_perm_apply(p, static_cast<u32>(b));

    u32 a = 0x243F6A88u ^ (pass * 0x9E3779B9u) ^ lane;
    u32 c = 0x85A308D3u ^ (static_cast<u32>(b) * 0x7FEB352Du) ^ (lane * 0x846CA68Bu);
    const u32 words_per_lane = group_bytes / 128u;
    gp_fold_group(buf + b * group_bytes, words_per_lane, lane, a, c);
    gp_fold_group(buf + pi * group_bytes, words_per_lane, lane, a, c);

    // Gather the lane states in shared memory (one slot row per warp of the block) and let
    // lane 0 combine them in lane order.
    __shared__ u32 lane_a[32][32];
    __shared__ u32 lane_c[32][32];
    const u32 warp = threadIdx.x / 32u;
    lane_a[warp][lane] = a;
    lane_c[warp][lane] = c;
    __syncwarp();
    if (lane == 0) {
        u32 acc_a = 0x13198A2Eu;
        u32 acc_c = 0x03707344u;
        for (int l = 0; l < 32; ++l) {
            acc_a = (acc_a ^ lane_a[warp][l]) * 0xC2B2AE3Du;
            acc_a ^= acc_a >> 16;
            acc_c = ((acc_c + lane_c[warp][l]) ^ acc_a) * 0x27D4EB2Fu;
            acc_c ^= acc_c >> 15;
        }
        *reinterpret_cast<u64*>(out + 8u * b) =
            (static_cast<u64>(acc_c) << 32) | static_cast<u64>(acc_a);
    }
}
