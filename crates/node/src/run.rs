//! Running a validator process on the tokio runtime with real sockets.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use commonware_cryptography::bls12381::primitives::group::Share;
use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
use commonware_runtime::{Runner as _, Spawner as _, Supervisor as _, tokio};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZUsize, ordered::Map};
use serde::{Deserialize, Serialize};
use tracing::info;
use veil_metrics::RpcMetrics;
use veil_primitives::{AccountId, PrivateKey, namespace, to_hex};

use crate::{
    chain::ProductionConfig,
    engine::{self, Channels, Timing},
    genesis::Genesis,
    metrics, open_chain,
    rpc::Rpc,
};

/// A validator's configuration: from a JSON file, overridden by command-line flags.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where the node keeps its data (consensus archives, state, indexes).
    pub data_dir: PathBuf,
    /// The genesis spec.
    pub genesis: PathBuf,
    /// The validator key file (read by the caller, which hands [run] the secrets).
    pub key: PathBuf,
    /// JSON-RPC listen address (HTTP and WebSocket).
    pub rpc: SocketAddr,
    /// Peer-to-peer listen address; defaults to this validator's address in genesis.
    pub p2p_listen: Option<SocketAddr>,
    /// Least time between blocks, in milliseconds.
    pub block_interval_ms: u64,
    /// Mempool capacity.
    pub mempool_capacity: usize,
    /// Runtime worker threads.
    pub worker_threads: usize,
    /// Memory the index database (receipts, messages, heads) may cache, in MiB.
    pub index_cache_mib: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("veil-data"),
            genesis: PathBuf::from("genesis.json"),
            key: PathBuf::from("validator.json"),
            rpc: "127.0.0.1:9944".parse().expect("valid address"),
            p2p_listen: None,
            block_interval_ms: 250,
            mempool_capacity: 100_000,
            worker_threads: 2,
            index_cache_mib: crate::chain::DEFAULT_INDEX_CACHE_BYTES >> 20,
        }
    }
}

impl NodeConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("invalid {}: {e}", path.display()))
    }
}

/// Runs a validator with identity `key` and consensus `share` until SIGINT or SIGTERM.
pub fn run(config: NodeConfig, key: PrivateKey, share: Share) -> anyhow::Result<()> {
    let genesis = Genesis::load(&config.genesis)?;
    let me: AccountId = key.public_key();
    let index = genesis.participants.position(&me).ok_or_else(|| {
        anyhow::anyhow!(
            "key {} is not a validator in genesis {}",
            to_hex(&me),
            config.genesis.display()
        )
    })?;
    let scheme = genesis.scheme(Some(share))?;
    let listen = config.p2p_listen.unwrap_or(genesis.addresses[index]);
    std::fs::create_dir_all(&config.data_dir)?;
    let storage = config.data_dir.join("storage");
    let runtime = tokio::Config::new()
        .with_storage_directory(&storage)
        .with_worker_threads(config.worker_threads.max(1))
        .with_catch_panics(false);
    let validators = genesis.participants.len();
    info!(
        validator = %to_hex(&me),
        index,
        validators,
        %listen,
        rpc = %config.rpc,
        data_dir = %config.data_dir.display(),
        "starting validator"
    );
    tokio::Runner::new(runtime).start(|context| async move {
        let chain = open_chain(
            context.child("chain"),
            "chain",
            &genesis,
            &config.data_dir.join("index.redb"),
            ProductionConfig {
                block_interval: Duration::from_millis(config.block_interval_ms),
                mempool_capacity: config.mempool_capacity,
                index_cache_bytes: config.index_cache_mib << 20,
            },
        )
        .await?;
        info!(
            chain_id = chain.identity.chain_id,
            genesis = %to_hex(chain.identity.genesis_hash),
            height = chain.tip().height,
            "chain opened"
        );

        // Peer-to-peer: authenticated, encrypted connections between the known validators.
        let handshake = Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: key,
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        );
        let local = genesis
            .addresses
            .iter()
            .all(|a| a.ip().is_loopback() || is_private(a));
        let max_message = engine::max_message_size(validators as u32);
        // Loopback and private networks need the relaxed dial and handshake limits.
        let p2p_config = if local {
            lookup::Config::local
        } else {
            lookup::Config::recommended
        };
        let mut p2p = p2p_config(
            handshake,
            namespace::P2P,
            listen,
            NZUsize!(validators.max(1)),
            max_message,
            NZUsize!(1024),
        );
        p2p.allow_private_ips = local;
        // The validator set is fixed at genesis: one peer set, so mailboxes are sized for the
        // validators alone rather than for four sets of them.
        p2p.tracked_peer_sets = NZUsize!(1);
        let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
        let peers: Map<AccountId, Address> = genesis
            .participants
            .iter()
            .cloned()
            .zip(genesis.addresses.iter().map(|a| Address::from(*a)))
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| anyhow::anyhow!("duplicate validator in genesis"))?;
        let _ = oracle.track(0, peers);
        let q = engine::quota();
        let channels = Channels {
            votes: network.register(engine::channel::VOTES, q),
            certificates: network.register(engine::channel::CERTIFICATES, q),
            resolver: network.register(engine::channel::RESOLVER, q),
            broadcast: network.register(engine::channel::BROADCAST, q),
            backfill: network.register(engine::channel::BACKFILL, q),
            transactions: network.register(engine::channel::TRANSACTIONS, q),
        };
        network.start();

        let engine = engine::start(
            context.child("engine"),
            "chain",
            chain.clone(),
            me,
            scheme,
            Timing::default(),
            oracle.clone(),
            oracle,
            channels,
        )
        .await?;

        let calls = RpcMetrics::default();
        let render = metrics::install(&context, chain.clone(), &calls);
        let rpc = Rpc::new(
            chain.clone(),
            engine.marshal.clone(),
            validators,
            to_hex(commonware_codec::Encode::encode(&genesis.group_key())),
            render,
        );
        let (rpc_addr, rpc_handle) = rpc.serve(config.rpc, &calls).await?;
        info!(%rpc_addr, "JSON-RPC listening (HTTP and WebSocket; Prometheus on GET /metrics)");

        // Progress: one line per 10 finalized blocks.
        let progress = chain.clone();
        context.child("progress").spawn(move |_| async move {
            let mut heads = progress.subscribe_heads();
            while let Ok(head) = heads.recv().await {
                if head.height % 10 == 0 {
                    info!(height = head.height, hash = %to_hex(head.hash), "finalized");
                }
            }
        });

        wait_for_signal().await;
        info!("shutting down");
        let _ = rpc_handle.stop();
        drop(engine);
        context.stop(0, Some(Duration::from_secs(5))).await.ok();
        Ok::<(), anyhow::Error>(())
    })
}

fn is_private(a: &SocketAddr) -> bool {
    match a.ip() {
        std::net::IpAddr::V4(ip) => ip.is_private() || ip.is_link_local(),
        std::net::IpAddr::V6(ip) => ip.is_unique_local(),
    }
}

async fn wait_for_signal() {
    use ::tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ::tokio::signal::ctrl_c().await;
            return;
        }
    };
    ::tokio::select! {
        _ = ::tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
