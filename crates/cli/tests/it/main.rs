//! The CLI's integration tests, one binary: real `veil` and `pruntime` processes on loopback.
//! [devnet]: a devnet's validators (transfer, `kill -9`, restart, catch-up, errors); [worker]:
//! workers, their hosts, registration, elections and the launch.

mod common;
mod devnet;
mod worker;
