//! Limits the node enforces and its clients rely on.

/// Most blocks in one `veil_getSyncBatch` answer.
pub const MAX_SYNC_BATCH: u64 = 1_000;
/// A `veil_getSyncBatch` answer stops adding blocks once its hex content reaches this size
/// (it always carries at least one block, up to the next one with its own certificate).
pub const MAX_SYNC_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Largest answer the node sends. Above the largest block with all its messages, hex-encoded
/// (a block is at most 8 MiB, and what it sends out is bounded by what it carries plus the
/// chain's own announcements), so no single block is ever too big to serve.
pub const MAX_RESPONSE_BYTES: u32 = 64 * 1024 * 1024;
/// Largest request body the node accepts (a transaction is at most
/// `veil_primitives::MAX_TX_BYTES_CAP`, hex-encoded, plus the envelope).
pub const MAX_REQUEST_BYTES: u32 = 2 * 1024 * 1024;
/// Most connections the node serves at once.
pub const MAX_CONNECTIONS: u32 = 1_024;
/// Most calls in one JSON-RPC batch (`veil bench chain` sends 250).
pub const MAX_BATCH_CALLS: u32 = 500;
/// Most subscriptions one WebSocket connection may hold.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 16;
/// Most registered workers `veil_workers` lists.
pub const MAX_LISTED_WORKERS: u64 = 1_000;
/// Most entries one `veil_getContractLog` answer carries.
pub const MAX_LOG_ENTRIES: u64 = 10_000;
/// Most bytes of entries one `veil_getContractLog` answer carries (hex doubles it).
pub const MAX_LOG_BYTES: usize = 16 * 1024 * 1024;
