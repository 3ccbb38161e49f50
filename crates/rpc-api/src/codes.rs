//! Error codes of the node's API, beyond JSON-RPC's own (`-32602` invalid params).

/// Invalid params: the request is malformed (JSON-RPC's own code).
pub const INVALID_PARAMS: i32 = -32602;
/// The chain refused a transaction (the message carries the chain's reason).
pub const TX_REJECTED: i32 = -32010;
/// The mempool refused a transaction (full, duplicate, too many from one sender).
pub const POOL_REJECTED: i32 = -32011;
/// The node cannot answer right now (storage busy or failed, block not applied yet).
pub const UNAVAILABLE: i32 = -32050;
