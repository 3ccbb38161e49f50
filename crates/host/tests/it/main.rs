//! The host's integration tests, one binary: collateral from a PCCS on loopback ([pccs]).

mod pccs;
