//! `veil bench`: performance measured against a bound from the same run (see BENCHMARKS.md).
//! pRuntime's own benchmarks (sync rate, API latency under sync) are `cargo bench -p
//! veil-pruntime`.

pub(crate) mod chain;
pub(crate) mod contracts;
pub(crate) mod memory;

use clap::Subcommand;

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
    /// Whether validators' resident memory stays bounded as the chain grows, under a steady
    /// load of transfers: RSS sampled along a long run, final against warm.
    Memory(memory::MemoryBenchArgs),
}

/// `veil bench`.
pub(crate) fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Chain(args) => chain::chain(args),
        BenchCommand::Contracts(args) => contracts::contracts(args),
        BenchCommand::Memory(args) => memory::memory(args),
    }
}
