//! The `veil` command: run nodes and devnets, manage keys, send transactions, query status.

mod bench;
mod bench_sync;
mod client;
mod devnet;
mod keys;
mod ra_service;

use std::{net::SocketAddr, path::PathBuf};

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
    Node(NodeArgs),
    /// Create a new network: genesis spec plus validator, governance and faucet keys.
    Genesis(devnet::GenesisArgs),
    /// Run a local devnet of validator processes on loopback, with a demo.
    Devnet(devnet::DevnetArgs),
    /// Show a node's status.
    Status {
        /// Node RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:9944")]
        rpc: String,
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
    Transfer(client::TransferArgs),
    /// Show an account's balance and nonce.
    Account {
        /// Node RPC URL.
        #[arg(long, default_value = "http://127.0.0.1:9944")]
        rpc: String,
        /// Account (hex public key).
        account: String,
    },
    /// Relay finalized blocks from a node into a pRuntime (the worker's untrusted host).
    Host {
        /// Node RPC URL (HTTP).
        #[arg(long, default_value = "http://127.0.0.1:9944")]
        node: String,
        /// Node WebSocket URL (defaults to the RPC URL with ws://).
        #[arg(long)]
        node_ws: Option<String>,
        /// pRuntime private API URL.
        #[arg(long, default_value = "http://127.0.0.1:8000")]
        pruntime: String,
        /// Blocks per sync batch.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Run the dev remote attestation service (INSECURE, dev mode only).
    RaService(ra_service::RaServiceArgs),
    /// Measure performance.
    Bench {
        #[command(subcommand)]
        command: client::BenchCommand,
    },
}

#[derive(clap::Args)]
struct NodeArgs {
    /// Config file (JSON); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Genesis spec.
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Validator key file.
    #[arg(long)]
    key: Option<PathBuf>,
    /// JSON-RPC listen address.
    #[arg(long)]
    rpc: Option<SocketAddr>,
    /// Peer-to-peer listen address (defaults to this validator's address in genesis).
    #[arg(long)]
    p2p_listen: Option<SocketAddr>,
    /// Least time between blocks, in milliseconds.
    #[arg(long)]
    block_interval_ms: Option<u64>,
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
        Command::Node(args) => run_node(args),
        Command::Genesis(args) => devnet::genesis(args),
        Command::Devnet(args) => devnet::devnet(args),
        Command::Status { rpc, json } => client::status(&rpc, json),
        Command::Key { command } => keys::run(command),
        Command::Transfer(args) => client::transfer(args),
        Command::Account { rpc, account } => client::account(&rpc, &account),
        Command::Bench { command } => client::bench(command),
        Command::RaService(args) => ra_service::run(args),
        Command::Host {
            node,
            node_ws,
            pruntime,
            batch,
            operator,
        } => run_host(node, node_ws, pruntime, batch, operator),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The operator a host acts for (registration and egress). Without `--operator-key` the host
/// only relays blocks.
#[derive(clap::Args)]
struct OperatorArgs {
    /// Operator account key file: pays for and signs the worker's registration and egress.
    #[arg(long, requires = "endpoint")]
    operator_key: Option<std::path::PathBuf>,
    /// pRuntime's public URL, registered on chain for users to reach.
    #[arg(long)]
    endpoint: Option<String>,
    /// Dev RA service URL (`veil ra-service`), needed when pRuntime runs the dev TEE.
    #[arg(long)]
    ra_service: Option<String>,
    /// PCCS base URL (API v4) to fetch DCAP collateral from, for SGX and TDX workers.
    #[arg(long, conflicts_with = "collateral")]
    pccs_url: Option<String>,
    /// DCAP collateral JSON file, instead of a PCCS (e.g. for air-gapped operators).
    #[arg(long)]
    collateral: Option<std::path::PathBuf>,
    /// Stand the worker as a gatekeeper candidate, bonding this much from the operator.
    #[arg(long)]
    gatekeeper_bond: Option<u128>,
}

fn run_host(
    node: String,
    node_ws: Option<String>,
    pruntime: String,
    batch: u64,
    operator: OperatorArgs,
) -> anyhow::Result<()> {
    let node_ws = node_ws.unwrap_or_else(|| node.replacen("http", "ws", 1));
    let operator = match operator.operator_key {
        Some(path) => Some(veil_host::OperatorConfig {
            key: veil_node::keys::read_json::<veil_node::keys::AccountKeyFile>(&path)?
                .private_key()?,
            endpoint: operator.endpoint.unwrap_or_default(),
            ra_service: operator.ra_service,
            collateral: match (operator.pccs_url, operator.collateral) {
                (Some(url), _) => Some(veil_host::CollateralSource::Pccs(url)),
                (None, Some(path)) => Some(veil_host::CollateralSource::File(path)),
                (None, None) => None,
            },
            gatekeeper_bond: operator.gatekeeper_bond,
        }),
        None => None,
    };
    let config = veil_host::HostConfig {
        node_rpc: node,
        node_ws,
        pruntime,
        batch: batch.clamp(1, veil_node::rpc::MAX_SYNC_BATCH),
        operator,
    };
    let rt = client::runtime()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = veil_host::run(config) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("host stopped");
        Ok(())
    })
}

fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => veil_node::run::NodeConfig::load(path)?,
        None => veil_node::run::NodeConfig::default(),
    };
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.genesis {
        config.genesis = v;
    }
    if let Some(v) = args.key {
        config.key = v;
    }
    if let Some(v) = args.rpc {
        config.rpc = v;
    }
    if args.p2p_listen.is_some() {
        config.p2p_listen = args.p2p_listen;
    }
    if let Some(v) = args.block_interval_ms {
        config.block_interval_ms = v;
    }
    veil_node::run::run(config)
}
