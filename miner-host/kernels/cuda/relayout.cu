// relayout_tiles: row-major i32 M × N → tile-major (challenges::tiles::to_tile_major).
//
// Tile-major: 16 × 16 tiles in row-major order of tiles (tile (ti, tj) has index
// ti · N/16 + tj), row-major inside a tile, so tile t is bytes 1024·t .. 1024·t + 1024 of the
// output: one BLAKE3 chunk, one commitment leaf.
//
// Launch: one 16 × 16 thread block per tile.
//   block = (16, 16, 1)
//   grid  = (M/16 · N/16, 1, 1)          (M, N non-zero multiples of 16)
// Thread (x, y) of block t copies element (16·ti + y, 16·tj + x): reads are 64-byte row
// segments, writes are one contiguous 1 KiB tile per block. `in` and `out` must not overlap.
extern "C" __global__ void relayout_tiles(const i32* in, i32* out, u32 m, u32 n) {
    const u64 tile = blockIdx.x;
    const u64 tiles_per_row = n / 16u;
    const u64 ti = tile / tiles_per_row;
    const u64 tj = tile % tiles_per_row;
    const u64 row = ti * 16u + threadIdx.y;
    const u64 col = tj * 16u + threadIdx.x;
    if (row >= m) {
        return;
    }
    out[tile * 256u + threadIdx.y * 16u + threadIdx.x] = in[row * n + col];
}

// transpose_i8: int8 R × C row-major → C × R row-major (out[c][r] = in[r][c]).
//
// cuBLASLt's int8 GEMM wants both operands K-contiguous ("TN"); B arrives K × N row-major, so
// the CUDA backend transposes it into N × K before the call.
//
// Launch: one 32 × 8 thread block per 32 × 32 tile of `in`.
//   block = (32, 8, 1)
//   grid  = (ceil(C / 32), ceil(R / 32), 1)
// Each thread reads 4 bytes of the tile (rows y, y+8, y+16, y+24; coalesced along a row), the
// block synchronises, then each thread writes 4 bytes of the transposed tile (coalesced along a
// row of `out`). The +1 column keeps the transposed reads of a warp on distinct banks. Bytes
// past R or C are neither read nor written. `in` and `out` must not overlap.
#define GP_TRANSPOSE_TILE 32u

extern "C" __global__ void transpose_i8(const i8* in, i8* out, u32 rows, u32 cols) {
    __shared__ i8 tile[GP_TRANSPOSE_TILE][GP_TRANSPOSE_TILE + 1u];
    const u32 row0 = blockIdx.y * GP_TRANSPOSE_TILE;
    const u32 col0 = blockIdx.x * GP_TRANSPOSE_TILE;
    for (u32 j = threadIdx.y; j < GP_TRANSPOSE_TILE; j += 8u) {
        const u32 r = row0 + j;
        const u32 c = col0 + threadIdx.x;
        if (r < rows && c < cols) {
            tile[j][threadIdx.x] = in[static_cast<u64>(r) * cols + c];
        }
    }
    __syncthreads();
    for (u32 j = threadIdx.y; j < GP_TRANSPOSE_TILE; j += 8u) {
        const u32 c = col0 + j;            // row of `out`
        const u32 r = row0 + threadIdx.x;  // column of `out`
        if (c < cols && r < rows) {
            out[static_cast<u64>(c) * rows + r] = tile[threadIdx.x][j];
        }
    }
}
