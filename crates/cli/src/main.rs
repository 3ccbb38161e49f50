//! The `veil` command: run nodes, hosts and devnets, manage keys, send transactions, query
//! status, measure performance.
//!
//! Each subcommand lives in its own module: [node], [host], [genesis], [devnet], [account]
//! (status, workers, account, transfer), [contract] (build, deploy), [stake], [keys], [ra_service],
//! [mod@bench];
//! [rpc] says which node to reach.

mod account;
mod bench;
mod call;
mod contract;
mod demo;
mod devnet;
mod genesis;
mod host;
mod keys;
mod node;
mod ra_service;
mod rpc;
mod stake;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "veil",
    version,
    about = "Veil: a confidential-cloud chain with TEE workers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a validator node.
    Node(node::NodeArgs),
    /// Create a new network: genesis spec plus validator, governance and faucet keys.
    Genesis(genesis::GenesisArgs),
    /// Run a local devnet of validator processes on loopback, with a demo.
    Devnet(devnet::DevnetArgs),
    /// Show a node's status.
    Status {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage keys.
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Transfer native tokens.
    Transfer(account::TransferArgs),
    /// List the registered workers (candidates for `veil deploy --miner`).
    Workers {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build contracts.
    Contract {
        #[command(subcommand)]
        command: contract::ContractCommand,
    },
    /// Upload a contract's code and instantiate it on a miner; prints its id and the public
    /// key the gatekeepers published, checked by light-client proof.
    Deploy(contract::DeployArgs),
    /// Send an encrypted command to a contract by method name with JSON arguments; waits for
    /// the miner's result and prints it decrypted (only the sender can read it).
    Call(call::CallArgs),
    /// Ask a contract's miner a query in an authenticated session (no transaction); prints the
    /// decrypted answer and the signed commitment to the state it read.
    Query(call::QueryArgs),
    /// Deploy the example token and auction on a running devnet and exercise them, checking
    /// every result (exit status 1 if a check fails).
    Demo(demo::DemoArgs),
    /// Show an account's balance and nonce.
    Account {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// Account (hex public key).
        account: String,
    },
    /// Bond, nominate gatekeeper candidates, unbond, withdraw; show an account's staking.
    Stake {
        #[command(subcommand)]
        command: stake::StakeCommand,
    },
    /// Relay finalized blocks from a node into a pRuntime (the worker's untrusted host).
    Host(host::HostArgs),
    /// Run the dev remote attestation service (INSECURE, dev mode only).
    RaService(ra_service::RaServiceArgs),
    /// Measure performance.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn init_logging() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,commonware_p2p=warn,commonware_consensus=warn,commonware_runtime=warn,commonware_broadcast=warn,commonware_resolver=warn,commonware_storage=error,jsonrpsee=warn"));
    let json = std::env::var("VEIL_LOG_FORMAT").is_ok_and(|v| v == "json");
    use std::io::IsTerminal as _;
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Node(args) => node::run(args),
        Command::Genesis(args) => genesis::genesis(args),
        Command::Devnet(args) => devnet::devnet(args),
        Command::Status { rpc, json } => account::status(rpc, json),
        Command::Key { command } => keys::run(command),
        Command::Transfer(args) => account::transfer(args),
        Command::Workers { rpc, json } => account::workers(rpc, json),
        Command::Contract { command } => contract::run(command),
        Command::Deploy(args) => contract::deploy(args),
        Command::Call(args) => call::call(args),
        Command::Query(args) => call::query(args),
        Command::Demo(args) => demo::run(args),
        Command::Account { rpc, account } => account::account(rpc, &account),
        Command::Stake { command } => stake::run(command),
        Command::Bench { command } => bench::run(command),
        Command::RaService(args) => ra_service::run(args),
        Command::Host(args) => host::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
