//! pRuntime, the enclave runtime: sealed identity, light-client sync of the chain, attestation
//! and its JSON-RPC APIs.
//!
//! This crate is what runs inside the TEE and gets measured, so it holds no node or host code:
//! it trusts nothing but the genesis it is initialized with (checked by proof) and the finality
//! certificates it verifies. It keeps no replica of chain state. The genesis node's role and
//! the gatekeeper role (root key, Noise key exchange, replicated state) live here too.

pub mod api;
pub mod gatekeeper;
pub mod genesis;
pub mod identity;
pub mod runtime;
pub mod storage;
pub mod sync;
pub mod tee;
