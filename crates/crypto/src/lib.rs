//! Hash trees, key derivation and other cryptographic building blocks shared by chain, light
//! client and pRuntime.
//!
//! - [merkle]: binary Merkle trees with separate leaf and node domains (transactions and
//!   messages roots, the sealed store's roots), with proofs.
//! - [seal]: authenticated encryption under keys derived with HKDF-SHA256 from root material and
//!   a purpose, binding caller-chosen associated data.
//! - [drbg]: a deterministic random bit generator, so replicated gatekeepers draw identical
//!   randomness from the root key and a public context.
//! - [envelope]: messages encrypted to an X25519 public key, padded to size buckets, with a
//!   one-time reply key (contract commands and queries).

pub mod drbg;
pub mod envelope;
pub mod merkle;
pub mod seal;
