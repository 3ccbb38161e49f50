//! Execute Veil transactions deterministically: balances, fees, nonces, governance and message
//! routing.
//!
//! The state machine is pure: it reads committed state through [StateRead], records every write
//! in an [Overlay], and returns the changes plus the messages the block sends out. It performs no
//! I/O and never looks at a clock, so every validator derives the same state root and messages
//! root from the same block.
//!
//! Modules (each owns a slice of the key space, see [keys]):
//! - [system]: nonces and the current block.
//! - [balances]: native token, transfers, fees per transaction and per byte.
//! - [governance]: a governance key that sets chain parameters.
//! - [registry]: attested workers, their registration policy and expiry.
//! - [staking]: bonds, gatekeeper candidates, nominations and the NPoS gatekeeper election.
//! - [gatekeeper]: readiness confirmations, launch, slashing of silent gatekeepers, and the
//!   gatekeepers' shared egress stream with duplicate and divergence handling.
//! - [mq]: routes messages, including registered workers' signed egress, and keeps one sequence
//!   per sender.

mod error;
mod execute;
mod genesis;
pub mod index;
pub mod keys;
mod overlay;
pub mod phragmen;

pub mod balances;
pub mod gatekeeper;
pub mod governance;
pub mod mq;
pub mod registry;
pub mod staking;
pub mod system;

pub use error::{StateError, TxError};
pub use execute::{
    BlockEnv, BlockError, BlockOutcome, ExecCheckError, Receipt, check_transaction, execute_block,
    verify_signatures,
};
pub use genesis::{GenesisState, genesis_changes};
pub use overlay::{Changes, MemoryState, Overlay, StateRead};

/// How far ahead of the account nonce the mempool accepts transactions.
pub const MAX_NONCE_GAP: u64 = 64;

#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod tests;
