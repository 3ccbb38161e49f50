//! Hash trees, key derivation and other cryptographic building blocks shared by chain, light
//! client and pRuntime.

pub mod drbg;
pub mod merkle;
pub mod seal;
