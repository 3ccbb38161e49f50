//! Hash trees, key derivation and other cryptographic building blocks shared by chain, light
//! client and pRuntime.

pub mod merkle;
pub mod seal;
