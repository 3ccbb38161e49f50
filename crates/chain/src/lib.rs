//! Execute Veil transactions deterministically: balances, fees, nonces, governance, the worker
//! registry, staking, the gatekeepers and message routing.
//!
//! The state machine is pure: it reads committed state through [StateRead], records every write
//! in an [Overlay], and returns the changes plus the messages the block sends out. It performs no
//! I/O and never looks at a clock, so every validator derives the same state root and messages
//! root from the same block.
//!
//! Modules, each owning a slice of the key space ([keys]); dependencies point down this list,
//! never up, and no module imports one that imports it back:
//! - [execute]: runs a block and is the only sequencer of per-block work; [execute::check] is
//!   the inclusion rule shared with the mempool, [execute::dispatch] hands calls and routed
//!   worker messages (by topic) to their modules.
//! - [gatekeeper]: election rounds, readiness confirmations, launch and the slashing of silent
//!   gatekeepers ([gatekeeper::rounds]); the gatekeepers' shared egress stream with duplicate
//!   and divergence handling ([gatekeeper::stream]).
//! - [staking]: bonds, candidates, nominations, slashing, and the election rule
//!   ([staking::phragmen]).
//! - [registry]: attested workers, their registration policy and expiry, and the check of their
//!   signed egress.
//! - [governance]: the governance key and the chain parameters.
//! - [balances]: native token, transfers, fees.
//! - [mq]: routes messages, one sequence per sender.
//! - [system]: the current block and recent block hashes.
//! - [index], [keys], [overlay], [error]: an enumerable account set, the key space, state
//!   access, and every error type (a leaf).

pub mod balances;
pub mod contracts;
pub mod error;
pub mod execute;
pub mod gatekeeper;
mod genesis;
pub mod governance;
pub mod index;
pub mod keys;
pub mod liveness;
pub mod mq;
pub mod overlay;
pub mod registry;
pub mod staking;
pub mod system;

pub use error::{BlockError, ContractError, ExecError, StateError, TxError};
pub use execute::{
    BlockOutcome, Receipt,
    check::{Admissible, MAX_NONCE_GAP, check_transaction},
    execute_block, verify_signatures,
};
pub use genesis::{GenesisAttestation, GenesisState, genesis_changes, verify_genesis_worker};
pub use overlay::{Changes, MemoryState, Overlay, StateRead};
pub use system::BlockEnv;

#[cfg(test)]
mod tests;
