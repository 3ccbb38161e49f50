//! `veil bench`: performance measured against a bound from the same run (see BENCHMARKS.md).
//! pRuntime's own benchmarks (sync rate, API latency under sync) are `cargo bench -p
//! veil-pruntime`.

pub(crate) mod chain;
pub(crate) mod contracts;
pub(crate) mod memory;
pub(crate) mod queries;

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::devnet::{
    launch::{LaunchConfig, Launched, launch},
    process::terminate,
};

/// Runs `bench` on a fresh devnet of `validators` validators (no workers) in `dir`, or in a
/// temporary directory named after `name`, removed when the run succeeds (kept, with its
/// logs, when it fails). Every process is stopped afterwards.
pub(crate) fn on_validators<T>(
    dir: Option<&PathBuf>,
    name: &str,
    validators: usize,
    block_interval_ms: u64,
    bench: impl FnOnce(&Path, &mut Launched) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let (dir, temporary) = match dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("veil-bench-{name}-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let mut launched = launch(
        &dir,
        &LaunchConfig {
            validators,
            workers: 0,
            block_interval_ms,
            registration_blocks: 2_400,
            gatekeepers: 0,
        },
    )?;
    let result = bench(&dir, &mut launched);
    terminate(&mut launched.children);
    if temporary && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// `veil bench` commands.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Finalized transfers per second on a local devnet, with latency, against the
    /// single-core ed25519 verification rate.
    Chain(chain::ChainBenchArgs),
    /// Confidential token transfers per second end to end on a running devnet (sealed,
    /// executed by the miner, result finalized), with latency, against the single-core
    /// ed25519 verification rate.
    Contracts(contracts::ContractsBenchArgs),
    /// Authenticated queries per second over a miner's public RPC on a running devnet, with
    /// many concurrent clients (each its own session, connection and loopback address),
    /// against one core's cost of a warm query's cryptography and VM call.
    Queries(queries::QueriesBenchArgs),
    /// Whether validators' resident memory stays bounded as the chain grows, under a steady
    /// load of transfers: RSS sampled along a long run, final against warm.
    Memory(memory::MemoryBenchArgs),
}

/// `veil bench`.
pub(crate) fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Chain(args) => chain::chain(args),
        BenchCommand::Contracts(args) => contracts::contracts(args),
        BenchCommand::Queries(args) => queries::queries(args),
        BenchCommand::Memory(args) => memory::memory(args),
    }
}
