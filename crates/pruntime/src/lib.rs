//! pRuntime, the enclave runtime: sealed identity, light-client sync of the chain, attestation,
//! the genesis and gatekeeper roles, and its JSON-RPC APIs.
//!
//! This crate is what runs inside the TEE and gets measured, so it holds no node or host code
//! and links no HTTP client, TLS or quote verifier: it trusts nothing but the genesis it is
//! initialized with (checked by proof) and the finality certificates it verifies. It keeps no
//! replica of chain state.
//!
//! - [runtime]: the coordinator. Changes are serialized behind one writer lock and committed
//!   atomically to the sealed store; readers use an immutable snapshot and never wait for a
//!   change (its module docs state the thread and lock model).
//! - [sync]: checking a batch of blocks (finality, hash links, messages roots).
//! - [ingress]: verified messages, dispatched by origin and destination to the roles.
//! - [egress]: the one emitter of signed egress (worker messages, gatekeeper copies).
//! - [roles]: [roles::worker] (attestation, registration, heartbeats), [roles::genesis] (the
//!   first root key), [roles::gatekeeper] (the Noise channel, readiness, replicated state).
//! - [state]: what pRuntime knows of the chain, kept as records of the sealed store.
//! - [sealed]: sealed files and the sealed key-value store ([sealed::kv]).
//! - [identity], [tee]: the worker's keys, and where sealing keys and evidence come from.
//! - [api]: the private (host) and public (users) JSON-RPC servers; [query_pool]: the threads
//!   that answer queries.

pub mod api;
pub mod egress;
pub mod error;
pub mod identity;
pub mod ingress;
pub mod metrics;
pub mod query_pool;
pub mod roles;
pub mod runtime;
pub mod sealed;
pub mod state;
pub mod sync;
pub mod tee;
pub mod throttle;

pub use error::RuntimeError;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
#[allow(unsafe_code)]
mod leak;
