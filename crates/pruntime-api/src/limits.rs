//! Sizes pRuntime enforces and its host relies on.

/// Most headers in one `SyncBlockchain` batch.
pub const MAX_SYNC_HEADERS: usize = 10_000;
/// Largest request the private API accepts (a sync batch of [MAX_SYNC_HEADERS] headers with
/// their messages, hex-encoded).
pub const MAX_PRIVATE_REQUEST_BYTES: u32 = 256 * 1024 * 1024;
/// Most connections the private API serves (one host, plus tools).
pub const MAX_PRIVATE_CONNECTIONS: u32 = 16;
/// Largest request the public API accepts.
pub const MAX_PUBLIC_REQUEST_BYTES: u32 = 64 * 1024;
/// Most connections the public API serves at once.
pub const MAX_PUBLIC_CONNECTIONS: u32 = 1_024;
/// Largest Noise handshake message of a root-key request.
pub const MAX_NOISE_MESSAGE: usize = 65_535;
/// Longest client nonce a signed public answer carries.
pub const MAX_ANSWER_NONCE: usize = 64;
/// Most blocks a key holder's verified view may trail the requester's before it refuses to
/// answer (it cannot tell whether the round it knows is still current).
pub const MAX_HOLDER_LAG: u64 = 32;
/// Unconfirmed worker egress messages pRuntime keeps for routine messages (heartbeats); its
/// host stops catching up and posts egress once half as many wait.
pub const MAX_PENDING_EGRESS: usize = 256;
/// Most unconfirmed worker egress messages pRuntime keeps in all: contract results may fill
/// the queue up to here (beside the slots kept for readiness), so a host that falls behind on
/// posting loses none until it is this far behind.
pub const MAX_EGRESS_BACKLOG: usize = 2_048;
/// Most contract messages and replies one `DumpSideEffect` lists (the oldest channels first);
/// the rest follow as these are routed.
pub const MAX_CONTRACT_EGRESS_VIEW: usize = 256;
/// Most unconfirmed copies of the gatekeepers' stream a gatekeeper keeps.
pub const MAX_PENDING_GATEKEEPER: usize = 64;
