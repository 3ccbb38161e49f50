//! Limits the node enforces and its clients rely on.

/// Most blocks in one `veil_getSyncBatch` answer.
pub const MAX_SYNC_BATCH: u64 = 1_000;
/// Largest request body the node accepts (a transaction is at most
/// `veil_primitives::MAX_TX_BYTES_CAP`, hex-encoded, plus the envelope).
pub const MAX_REQUEST_BYTES: u32 = 2 * 1024 * 1024;
/// Most connections the node serves at once.
pub const MAX_CONNECTIONS: u32 = 1_024;
/// Most registered workers `veil_workers` lists.
pub const MAX_LISTED_WORKERS: u64 = 1_000;
