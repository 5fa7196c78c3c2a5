//! Every size limit of the protocol, in one place.
//!
//! Field limits (`MAX_*_LEN`, `MAX_*` counts) are enforced while decoding and refused while
//! encoding; frame limits (`MAX_*_PAYLOAD`) are enforced from the frame header, before the
//! payload is buffered. Each frame limit is at least the largest encoding its field limits allow
//! (checked by the `limits_fit` tests), so a valid message always fits its frame.

/// One kibibyte.
const KIB: usize = 1024;
/// One mebibyte.
const MIB: usize = 1024 * KIB;

/// Bytes in a frame header: tag (1) + little-endian payload length (4).
pub const FRAME_HEADER_LEN: usize = 5;

/// Payload limit of every small frame (hello, inventory, ready, go, commitment, open, probe
/// request, error).
pub const MAX_SMALL_PAYLOAD: usize = 64 * KIB;

/// Largest module a `Prepare` may carry.
pub const MAX_MODULE_LEN: usize = 8 * MIB;

/// Largest binary params a `Prepare` may carry.
pub const MAX_PARAMS_LEN: usize = 64 * KIB;

/// Payload limit of a `Prepare` frame: module + params + envelope and field overhead.
pub const MAX_PREPARE_PAYLOAD: usize = MAX_MODULE_LEN + MAX_PARAMS_LEN + 192 * KIB;

/// Largest leaf chunk in an opening.
pub const MAX_CHUNK_LEN: usize = 1024;

/// Most nodes in one opening path (a tree over `u64` leaf indices is at most 64 deep).
pub const MAX_PATH_LEN: usize = 64;

/// Most leaves one `Open` may ask for (and one `Openings` may answer).
pub const MAX_OPEN_LEAVES: usize = 256;

/// Payload limit of an `Openings` frame.
pub const MAX_OPENINGS_PAYLOAD: usize = 2 * MIB;

/// Most roots in one `Commitment` (one per challenge output): 1024 × 32 bytes fit a small
/// frame with room to spare, and cover the class table's largest plan (`h100-sxm`'s
/// `matmul-i8`, 281 products; 256 made every such challenge unplannable, issue #17).
pub const MAX_ROOTS: usize = 1024;

/// Most GPUs one `Inventory` may list.
pub const MAX_GPUS: usize = 64;

/// Most versions one `Hello` may list, per list.
pub const MAX_VERSIONS: usize = 32;

/// Largest `detail` text of an error message, in bytes of UTF-8.
pub const MAX_DETAIL_LEN: usize = 1024;

/// Most parallel TCP streams one bandwidth probe may use (`ProbeRequest.streams`, the tokens of
/// a `ProbeTicket`, the hashes of a receipt). Eight streams of a 4 MiB window each keep 32 MiB
/// in flight: 2.7 Gbit/s over a 100 ms round trip.
pub const MAX_PROBE_STREAMS: usize = 8;

/// Largest data of one bandwidth-probe chunk.
pub const MAX_PROBE_CHUNK_LEN: usize = MIB;

/// Payload limit of a `ProbeChunk` frame: data + field overhead.
pub const MAX_PROBE_CHUNK_PAYLOAD: usize = MAX_PROBE_CHUNK_LEN + 4 * KIB;

/// The largest payload any frame kind allows.
pub const MAX_FRAME_PAYLOAD: usize = MAX_PREPARE_PAYLOAD;

/// Default cap on the bytes a [`FrameDecoder`](crate::FrameDecoder) holds: one largest frame
/// plus 1 MiB of following input.
pub const DEFAULT_BUFFER_CAP: usize = FRAME_HEADER_LEN + MAX_FRAME_PAYLOAD + MIB;

/// CBOR nesting depth accepted while decoding (our deepest message nests 5 levels).
pub(crate) const CBOR_RECURSION_LIMIT: usize = 32;
