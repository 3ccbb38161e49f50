//! The VM's integration tests: the deploy policy, execution, determinism, limits,
//! messages between contracts.

mod deploy;
mod execute;
mod messages;
mod support;
