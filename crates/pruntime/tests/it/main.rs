//! pRuntime's integration tests, one binary: light-client sync against a byzantine host
//! ([sync]), the `pruntime` process under `kill -9` ([process]), and the network's launch in
//! deterministic simulation with the real host duties ([bootstrap], harness in [sim]), and the
//! genesis node's binding to its chain under attack by its own host ([genesis]), and contracts
//! on the simulated network ([contracts]), paying each other across miners ([messages]), and a
//! silent miner judged unresponsive ([liveness]).

mod bootstrap;
mod common;
mod contracts;
mod genesis;
mod liveness;
mod messages;
mod process;
mod recovery;
mod sim;
mod sync;
