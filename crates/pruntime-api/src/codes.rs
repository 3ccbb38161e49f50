//! Error codes of pRuntime's APIs, beyond JSON-RPC's own.

/// Invalid params (JSON-RPC's own code): malformed hex, encodings or sizes.
pub const INVALID_PARAMS: i32 = -32602;
/// A sync batch was refused (replayed, skipped, forged, ...); nothing changed.
pub const SYNC_REJECTED: i32 = -32020;
/// The genesis given to `InitRuntime` was refused.
pub const GENESIS_REJECTED: i32 = -32021;
/// The block hash is not one pRuntime synced recently.
pub const UNKNOWN_BLOCK: i32 = -32022;
/// This pRuntime was the genesis node and retired: it answers nothing but its status.
pub const RETIRED: i32 = -32023;
/// A root-key exchange was refused.
pub const KEY_EXCHANGE: i32 = -32024;
/// A contract query was refused (unknown, expired or revoked session, replayed counter, a
/// contract the session or this worker does not cover, ...).
pub const QUERY_REFUSED: i32 = -32025;
/// A contract checkpoint could not be made, or a contract's recovery was refused (nothing
/// changed).
pub const RECOVERY_REFUSED: i32 = -32026;
/// Every query thread is busy and the queue is full: nothing ran; retry after a moment.
pub const BUSY: i32 = -32027;
/// A query sealed for another query epoch of the worker (it restarted since, or the client
/// has not learnt it yet): nothing ran; the error's data is the current epoch (hex).
pub const STALE_EPOCH: i32 = -32028;
/// Storage or TEE failure inside pRuntime.
pub const INTERNAL: i32 = -32050;
