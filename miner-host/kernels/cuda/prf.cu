// prf_fill_i8: elements [start, start + len) of a PRF tensor (challenges::prf::fill_tensor).
//
// Element e of tensor `tensor_id` is byte e mod 16 of Philox block e / 16, where block b is
// philox4x32_10([key0, key1], [lo32(b), hi32(b), tensor_id, 0]) written as four little-endian
// words. Read the bytes as i8 for an int8 tensor.
//
// Launch: 1-D. One thread per Philox block touched by the range:
//   blocks  = ceil((start + len) / 16) - floor(start / 16)
//   block   = (T, 1, 1) with T a multiple of 32 (256 is a good default)
//   grid    = (max(1, ceil(blocks / T)), 1, 1)
// Thread t writes the bytes of block floor(start / 16) + t that fall inside the range to
// out[e - start]; a whole block at a 16-byte aligned destination is one 128-bit store, partial
// blocks at the ends (and any misaligned `out`) are written byte by byte.
// Preconditions (the host checks): start + len does not overflow; `out` holds len bytes.
extern "C" __global__ void prf_fill_i8(u8* out, u64 start, u64 len, u32 tensor_id, u32 key0,
                                       u32 key1) {
    const u64 t = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
    const u64 end = start + len;
    const u64 first = start / 16;
    const u64 blocks = end / 16 + ((end % 16) != 0 ? 1 : 0) - first;
    if (len == 0 || t >= blocks) {
        return;
    }
    const u64 block = first + t;
    u32 x[4] = {static_cast<u32>(block), static_cast<u32>(block >> 32), tensor_id, 0u};
    gp_philox4x32_10(key0, key1, x);
    const u64 e0 = block * 16;  // e0 < end always
    if (e0 >= start && end - e0 >= 16) {
        gp_store16(out + (e0 - start), x);
    } else {
        GP_UNROLL
        for (int j = 0; j < 16; ++j) {
            const u64 e = e0 + static_cast<u64>(j);
            if (e >= start && e < end) {
                out[e - start] = static_cast<u8>(x[j >> 2] >> (8 * (j & 3)));
            }
        }
    }
}
