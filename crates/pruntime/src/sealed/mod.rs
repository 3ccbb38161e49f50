//! Sealed storage: everything pRuntime keeps on disk is encrypted under a key only this code,
//! on this TEE, can derive.
//!
//! - [dir]: single sealed files replaced atomically (the identity, which the store is bound
//!   to).
//! - [kv]: the sealed key-value store holding all other state, with batch-atomic commits and a
//!   Merkle root over its contents.

pub mod dir;
pub mod kv;
