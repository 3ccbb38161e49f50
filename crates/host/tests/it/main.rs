//! The host's integration tests, one binary: collateral from a PCCS on loopback ([pccs]),
//! what the host accepts from endpoints the chain names ([peers]), and its metrics
//! ([metrics]).

mod metrics;
mod pccs;
mod peers;
