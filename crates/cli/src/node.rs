//! `veil node`: run a validator.

use std::{net::SocketAddr, path::PathBuf};

use veil_client::keys::{ValidatorKeyFile, read_json};
use veil_node::run::NodeConfig;

/// `veil node` arguments: a config file, overridden by flags.
#[derive(clap::Args)]
pub(crate) struct NodeArgs {
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

/// `veil node`.
pub(crate) fn run(args: NodeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => NodeConfig::load(path)?,
        None => NodeConfig::default(),
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
    let (key, share) = read_json::<ValidatorKeyFile>(&config.key)?.secrets()?;
    veil_node::run::run(config, key, share)
}
