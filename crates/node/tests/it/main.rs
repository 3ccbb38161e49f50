//! The node's integration tests, one binary: validators on the deterministic runtime with a
//! simulated network ([simulation]).

mod simulation;
