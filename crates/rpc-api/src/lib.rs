//! The Veil node's JSON-RPC interface: the method trait, the views it answers with, limits and
//! error codes.
//!
//! Components that talk to a node depend on this crate, never on `veil-node`: a worker's host,
//! the CLI and the client SDK enable `client` and get the generated `VeilApiClient`; the node
//! enables `server` and implements `VeilApiServer`. With neither feature only the views remain,
//! so a crate that merely reads answers links no RPC machinery.
//!
//! - [views]: every answer type, in JSON (byte strings as `0x` hex, amounts as decimal
//!   strings, since u128 does not fit a JSON number).
//! - [api]: the method trait (`veil_*` methods, `docs/rpc.md`).
//! - [codes]: error codes beyond JSON-RPC's own.
//! - [limits]: sizes both ends must agree on.

#[cfg(any(feature = "client", feature = "server"))]
pub mod api;
pub mod codes;
pub mod limits;
pub mod views;

#[cfg(feature = "client")]
pub use api::VeilApiClient;
#[cfg(feature = "server")]
pub use api::VeilApiServer;
pub use views::*;
