//! The VM's integration tests: the deploy policy, execution, determinism, limits.

mod deploy;
mod execute;
mod support;
