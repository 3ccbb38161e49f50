//! The primitives' integration tests, one binary: property tests of every codec ([codec]) and
//! of the RPC's hex ([rpc_hex]).

mod codec;
mod rpc_hex;
