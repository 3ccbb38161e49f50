//! What a pRuntime does besides following the chain, by role. Every pRuntime is a [worker];
//! the one-off [genesis] node creates the first root key; elected [gatekeeper]s hold it; a
//! worker assigned contracts runs them ([contracts], the miner role).

pub mod contracts;
pub mod gatekeeper;
pub mod genesis;
pub mod worker;
