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
