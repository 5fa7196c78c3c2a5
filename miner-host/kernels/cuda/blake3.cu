// BLAKE3 tree levels on the device, for challenges::commitment (leaves = 1 KiB chunks).
//
// Chaining values (CVs) are stored as 32 bytes each (8 little-endian words), CV i at byte
// 32·i, exactly the bytes of blake3::hazmat::ChainingValue / commitment::chunk_cv.
//
// Neither kernel ever sets BLAKE3's ROOT flag. The host finishes the tree:
// * an output of at most one chunk (≤ 1024 bytes, including 0) has root blake3::hash(bytes):
//   the host hashes those bytes itself (no kernel needed, and no CV determines that root);
// * otherwise the host reduces the levels with blake3_parent_cvs until two CVs remain and
//   merges those with the ROOT flag (blake3::hazmat::merge_subtrees_root), or hands any level
//   to commitment::OutputTree::from_chunk_cvs / from_block_cvs, which do the same.

// ---------------------------------------------------------------------------------------------
// blake3_chunk_cvs: the non-root CV of every chunk of `data` (len bytes).
//
// Chunk i is bytes 1024·i .. min(1024·(i + 1), len); its chunk counter is chunk_base + i, so a
// block of an output starting at chunk `chunk_base` can be rehashed on its own (pass data =
// output + 1024·chunk_base). The last chunk may be short (1..1024 bytes): its final 64-byte
// block is zero-padded with the true block length, as BLAKE3 specifies. len = 0 launches
// nothing useful (an empty output's root is blake3::hash(b"") on the host).
//
// Launch: 1-D, one thread per chunk.
//   chunks = ceil(len / 1024)
//   block  = (T, 1, 1), T a multiple of 32 (128 is a good default)
//   grid   = (max(1, ceil(chunks / T)), 1, 1)
// Output: 32·chunks bytes at `cvs`.
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void blake3_chunk_cvs(const u8* data, u64 len, u64 chunk_base, u8* cvs) {
    const u64 i = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
    const u64 chunks = len / 1024u + ((len % 1024u) != 0 ? 1 : 0);
    if (i >= chunks) {
        return;
    }
    const u8* chunk = data + 1024u * i;
    const u64 rest = len - 1024u * i;
    const u32 chunk_len = rest < 1024u ? static_cast<u32>(rest) : 1024u;
    const u32 blocks = (chunk_len + 63u) / 64u;
    u32 cv[8];
    gp_b3_iv(cv);
    for (u32 blk = 0; blk < blocks; ++blk) {
        u32 m[16];
        const u32 block_len = chunk_len - 64u * blk < 64u ? chunk_len - 64u * blk : 64u;
        const u8* src = chunk + 64u * blk;
        if (block_len == 64u) {
            gp_load64(src, m);
        } else {
            // Short final block: zero-padded. Fully unrolled so m stays in registers.
            GP_UNROLL
            for (int w = 0; w < 16; ++w) {
                u32 word = 0;
                GP_UNROLL
                for (int k = 0; k < 4; ++k) {
                    const u32 at = 4u * static_cast<u32>(w) + static_cast<u32>(k);
                    if (at < block_len) {
                        word |= static_cast<u32>(src[at]) << (8 * k);
                    }
                }
                m[w] = word;
            }
        }
        u32 flags = 0;
        if (blk == 0) {
            flags |= GP_B3_CHUNK_START;
        }
        if (blk + 1u == blocks) {
            flags |= GP_B3_CHUNK_END;
        }
        gp_b3_compress(cv, m, chunk_base + i, block_len, flags);
    }
    gp_store_cv(cvs + 32u * i, cv);
}

// ---------------------------------------------------------------------------------------------
// blake3_parent_cvs: one level up. out[i] = parent(in[2i], in[2i + 1]) (non-root: counter 0,
// block length 64, flags PARENT) for i < floor(count / 2); for an odd count the last CV is
// copied to out[count / 2] unchanged (it is a right-spine node, carried up as BLAKE3's tree
// and commitment::OutputTree do).
//
// Launch: 1-D, one thread per output CV.
//   outputs = ceil(count / 2)
//   block   = (T, 1, 1), T a multiple of 32
//   grid    = (max(1, ceil(outputs / T)), 1, 1)
// `in` holds 32·count bytes, `out` 32·ceil(count / 2); they must not overlap.
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void blake3_parent_cvs(const u8* in, u64 count, u8* out) {
    const u64 i = static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
    const u64 outputs = count / 2u + (count % 2u);
    if (i >= outputs) {
        return;
    }
    u32 cv[8];
    if (2u * i + 1u < count) {
        u32 m[16];
        gp_load64(in + 64u * i, m);
        gp_b3_iv(cv);
        gp_b3_compress(cv, m, 0ull, 64u, GP_B3_PARENT);
    } else {
        gp_load16(in + 64u * i, cv);
        gp_load16(in + 64u * i + 16u, cv + 4);
    }
    gp_store_cv(out + 32u * i, cv);
}
