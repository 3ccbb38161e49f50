//! Talk to a Veil network as a user: key files, node connections, transactions and readable
//! errors.
//!
//! The CLI is thin over this crate, and a Rust application can use it alone: it links the
//! node's API (`veil-rpc-api`, client side) and never the validator.
//!
//! - [keys]: account and validator key files (owner-only permissions, secrets zeroized).
//! - [node]: an HTTP connection to a node, the chain identity it serves, signing and
//!   submitting transactions, waiting for finality.
//! - [light]: state reads checked by the light client against a pinned genesis.
//! - [contract]: uploading code and reading contract records by proof.
//! - [command]: encrypted commands, and their results found by proof and opened.
//! - [query]: query sessions, sealed queries to a contract's miner, checked answers.
//! - [abi]: calling contract methods by name with JSON arguments, results back as JSON.
//! - [error]: JSON-RPC failures as sentences for a person.

pub mod abi;
pub mod command;
pub mod contract;
pub mod error;
pub mod keys;
pub mod light;
pub mod node;
pub mod query;

pub use error::{describe, parse_account};
