//! The host's integration tests, one binary: collateral from a PCCS on loopback ([pccs]),
//! and what the host accepts from endpoints the chain names ([peers]).

mod pccs;
mod peers;
