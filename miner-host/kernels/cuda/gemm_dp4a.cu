// gemm_i8_dp4a: C = A · B, int8 × int8 → int32, the fallback where cuBLASLt refuses a shape.
//
// A is M × K, B is K × N, both int8 row-major; C is M × N int32 row-major (re-lay it out with
// relayout_tiles before hashing). M, N, K are non-zero multiples of 16; K ≤ 65 536 keeps every
// sum exact (challenges::matmul). Every pointer is at least 4-byte aligned (A rows are read as
// 32-bit words).
//
// Launch: 256 threads compute a 64 × 64 block of C, 4 × 4 elements each.
//   block = (16, 16, 1)                  (exactly: the kernel assumes 256 threads)
//   grid  = (ceil(N / 64), ceil(M / 64), 1)
// Thread (x, y) owns C[r0 + y + 16·i][c0 + x + 16·j] for i, j in 0..4. The K dimension is
// walked in steps of 32: all 256 threads stage the 64 × 32 slice of A (packed as 4-byte
// k-quads, a_tile[row][quad]) and the 32 × 64 slice of B transposed into k-quads
// (b_tile[col][quad]: bytes B[k..k+4][col], so one __dp4a multiplies four k at once) in shared
// memory, synchronise, accumulate with __dp4a, and synchronise again before the next slice
// overwrites the tiles. Rows, columns and k beyond M, N, K are staged as zeros (they add
// nothing) and never stored. The +1 word of padding per row keeps the b_tile reads of a warp on
// distinct banks.
#define GP_GEMM_BM 64
#define GP_GEMM_BN 64
#define GP_GEMM_KT 32
#define GP_GEMM_KQ (GP_GEMM_KT / 4)

extern "C" __global__ void __launch_bounds__(256)
    gemm_i8_dp4a(const i8* a, const i8* b, i32* c, u32 m, u32 n, u32 k) {
    __shared__ u32 a_tile[GP_GEMM_BM][GP_GEMM_KQ + 1];
    __shared__ u32 b_tile[GP_GEMM_BN][GP_GEMM_KQ + 1];

    const u32 tx = threadIdx.x;
    const u32 ty = threadIdx.y;
    const u32 tid = ty * 16u + tx;
    const u32 row0 = blockIdx.y * GP_GEMM_BM;
    const u32 col0 = blockIdx.x * GP_GEMM_BN;
    const u8* a_bytes = reinterpret_cast<const u8*>(a);
    const u8* b_bytes = reinterpret_cast<const u8*>(b);

    i32 acc[4][4];
    GP_UNROLL
    for (int i = 0; i < 4; ++i) {
        GP_UNROLL
        for (int j = 0; j < 4; ++j) {
            acc[i][j] = 0;
        }
    }

    for (u32 k0 = 0; k0 < k; k0 += GP_GEMM_KT) {
        // Stage: 512 k-quads of A and 512 of B, two of each per thread.
        GP_UNROLL
        for (u32 s = 0; s < 2u; ++s) {
            const u32 w = tid + 256u * s;
            // A: consecutive threads take consecutive k-quads of a row (coalesced 32-byte rows).
            const u32 ar = w / GP_GEMM_KQ;
            const u32 aq = w % GP_GEMM_KQ;
            const u32 arow = row0 + ar;
            const u32 ak = k0 + 4u * aq;  // k is a multiple of 16: all four k in range, or none
            u32 va = 0;
            if (arow < m && ak < k) {
                va = *reinterpret_cast<const u32*>(a_bytes + static_cast<u64>(arow) * k + ak);
            }
            a_tile[ar][aq] = va;
            // B: consecutive threads take consecutive columns (coalesced 64-byte row reads).
            const u32 bc = w % GP_GEMM_BN;
            const u32 bq = w / GP_GEMM_BN;
            const u32 bcol = col0 + bc;
            const u32 bk = k0 + 4u * bq;
            u32 vb = 0;
            if (bcol < n && bk < k) {
                const u8* p = b_bytes + static_cast<u64>(bk) * n + bcol;
                vb = static_cast<u32>(p[0]) | (static_cast<u32>(p[n]) << 8) |
                     (static_cast<u32>(p[2u * static_cast<u64>(n)]) << 16) |
                     (static_cast<u32>(p[3u * static_cast<u64>(n)]) << 24);
            }
            b_tile[bc][bq] = vb;
        }
        __syncthreads();
        GP_UNROLL
        for (int q = 0; q < GP_GEMM_KQ; ++q) {
            u32 av[4];
            u32 bv[4];
            GP_UNROLL
            for (int i = 0; i < 4; ++i) {
                av[i] = a_tile[ty + 16u * i][q];
                bv[i] = b_tile[tx + 16u * i][q];
            }
            GP_UNROLL
            for (int i = 0; i < 4; ++i) {
                GP_UNROLL
                for (int j = 0; j < 4; ++j) {
                    acc[i][j] = __dp4a(static_cast<int>(av[i]), static_cast<int>(bv[j]),
                                       acc[i][j]);
                }
            }
        }
        __syncthreads();
    }

    GP_UNROLL
    for (int i = 0; i < 4; ++i) {
        const u32 row = row0 + ty + 16u * i;
        GP_UNROLL
        for (int j = 0; j < 4; ++j) {
            const u32 col = col0 + tx + 16u * j;
            if (row < m && col < n) {
                c[static_cast<u64>(row) * n + col] = acc[i][j];
            }
        }
    }
}
