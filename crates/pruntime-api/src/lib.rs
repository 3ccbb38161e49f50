//! pRuntime's JSON-RPC interfaces: the host's private API, the users' public API with signed
//! answers, and the dev RA service.
//!
//! pRuntime enables `server`; its host, the CLI and users enable `client`. Method names are
//! those of the whitepaper (`SyncBlockchain`, `GetRAQuote`, `DumpSideEffect`, ...), so they
//! are spelled once, here, for both ends.
//!
//! - [private]: the host's API (bind it to loopback): chain sync, attestation, egress, the
//!   genesis role and root-key requests.
//! - [public]: the users' and other workers' API. Answers are [SignedAnswer]s, signed by the
//!   worker key under [veil_primitives::namespace::PUBLIC_ANSWER], so anyone may relay them
//!   and [SignedAnswer::verify] tells a forgery.
//! - [ra]: the dev RA service (INSECURE, dev mode only), which vouches for dev quotes.
//! - [codes], [limits]: error codes and sizes both ends rely on.

pub mod codes;
pub mod limits;
pub mod private;
pub mod public;
pub mod ra;

pub use private::*;
pub use public::*;
