//! The untrusted host of a worker: relays finalized blocks from a node into pRuntime.
//!
//! The host holds no secret and is trusted for nothing: pRuntime checks every block it is
//! given. The host only keeps pRuntime fed: it initializes it with the chain's genesis, catches
//! up in batches, then follows finalized heads over WebSocket. When the node or pRuntime
//! restarts, it reconnects with exponential backoff and resumes from pRuntime's own sealed
//! progress, so restarting the host loses nothing.
//!
//! Given an operator key, the host also does the operator's duties ([OperatorConfig]): it
//! registers the worker, renews the registration before it lapses, and posts the egress
//! pRuntime signed (`DumpSideEffect`) as transactions. When its worker is elected gatekeeper,
//! it carries the two Noise messages of the root-key request between its pRuntime and a key
//! holder's public API, and posts the gatekeeper's copies of the gatekeepers' messages.
//!
//! A host without an operator key only relays blocks: that is the genesis node's host, whose
//! pRuntime answers key requests on its own public API and retires at launch.
//!
//! - [ports]: the node and pRuntime as traits ([ports::ChainClient], [ports::WorkerClient],
//!   [ports::Peers]), implemented over JSON-RPC here and in process by the launch simulation.
//! - [relay]: initialization and catch-up (the relay duty).
//! - [duties]: the operator's duties, one module each.
//! - [pccs]: DCAP collateral from a PCCS.
//!
//! Only [run] (the reconnecting session with its WebSocket subscription) is tied to tokio and
//! HTTP; everything it drives is generic over the ports.

pub mod duties;
pub mod metrics;
pub mod pccs;
pub mod ports;
pub mod relay;

pub use duties::{CollateralSource, Duties, OperatorConfig};
pub use metrics::HostMetrics;

use std::time::{Duration, Instant};

use jsonrpsee::{http_client::HttpClient, ws_client::WsClientBuilder};
use tracing::{info, warn};
use veil_primitives::{ChainIdentity, GenesisNodeStatus, decode_hex};
use veil_rpc_api::VeilApiClient as _;

use crate::ports::{HttpPeers, WorkerClient};

/// Where the host connects.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Node JSON-RPC over HTTP.
    pub node_rpc: String,
    /// Node JSON-RPC over WebSocket (finalized head subscription).
    pub node_ws: String,
    /// pRuntime's private API.
    pub pruntime: String,
    /// Blocks per sync batch.
    pub batch: u64,
    /// Act for this operator (register, renew, post egress); `None` only relays blocks.
    pub operator: Option<OperatorConfig>,
}

/// Relays until the process is stopped, reconnecting after failures; counts them in
/// `metrics`.
pub async fn run(config: HostConfig, metrics: HostMetrics) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let started = Instant::now();
        if let Err(e) = session(&config, &metrics).await {
            // A session that ran a while was healthy; start backing off from scratch.
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(250);
            }
            warn!("{e:#}; reconnecting in {} ms", backoff.as_millis());
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

async fn session(config: &HostConfig, metrics: &HostMetrics) -> anyhow::Result<()> {
    let (node, pruntime, mut duties) =
        start(config).await.inspect_err(|_| metrics.error("init"))?;
    let ws = WsClientBuilder::default()
        .build(&config.node_ws)
        .await
        .map_err(|e| {
            metrics.error("subscription");
            anyhow::anyhow!("node WebSocket {} unreachable: {e}", config.node_ws)
        })?;
    let mut heads = ws
        .subscribe_finalized_heads()
        .await
        .inspect_err(|_| metrics.error("subscription"))?;
    loop {
        if let Err(e) = relay::catch_up(&node, &pruntime, config.batch).await {
            // The genesis node refuses blocks once it has seen the launch: not a failure (this
            // waits for good when it retired).
            let retired = idle_if_retired(&pruntime).await;
            metrics.error("sync");
            retired?;
            return Err(e);
        }
        if let Some(d) = duties.as_mut()
            && let Err(e) = d.round(&node, &pruntime, &HttpPeers).await
        {
            metrics.error("duties");
            warn!("operator duties: {e:#}");
        }
        metrics.observe(&node, &pruntime).await;
        // Wake on the next finalized head; poll anyway now and then in case one was missed.
        match tokio::time::timeout(Duration::from_secs(10), heads.next()).await {
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(e))) => {
                metrics.error("subscription");
                anyhow::bail!("finalized head subscription failed: {e}")
            }
            Ok(None) => {
                metrics.error("subscription");
                anyhow::bail!("node closed the finalized head subscription")
            }
        }
    }
}

/// Connects to the node and pRuntime, initializes pRuntime with the chain's genesis and sets
/// up the operator's duties.
async fn start(config: &HostConfig) -> anyhow::Result<(HttpClient, HttpClient, Option<Duties>)> {
    let node = ports::node(&config.node_rpc)?;
    let pruntime = ports::pruntime(&config.pruntime)?;
    idle_if_retired(&pruntime)
        .await
        .map_err(|e| anyhow::anyhow!("pRuntime {} unreachable: {e:#}", config.pruntime))?;
    let (identity, genesis) = relay::init(&node, &pruntime).await.map_err(|e| {
        anyhow::anyhow!(
            "{e:#} (node {}, pRuntime {})",
            config.node_rpc,
            config.pruntime
        )
    })?;
    info!(
        worker = %identity.public_key,
        insecure = identity.insecure,
        genesis = %genesis.genesis_hash,
        "pRuntime initialized"
    );
    let duties = match &config.operator {
        Some(op) => {
            let worker = decode_hex(&identity.public_key)
                .map_err(|e| anyhow::anyhow!("pRuntime reported a bad key: {e}"))?;
            let chain = ChainIdentity {
                chain_id: genesis.chain_id,
                genesis_hash: decode_hex(&genesis.genesis_hash)
                    .map_err(|e| anyhow::anyhow!("node reported a bad genesis hash: {e}"))?,
            };
            Some(Duties::new(op.clone(), chain, worker))
        }
        None => None,
    };
    Ok((node, pruntime, duties))
}

/// A genesis node that retired after the launch answers nothing but its status: say so once
/// and relay nothing more.
async fn idle_if_retired(pruntime: &HttpClient) -> anyhow::Result<()> {
    if pruntime
        .sync_state()
        .await?
        .is_some_and(|s| s.genesis == Some(GenesisNodeStatus::Retired))
    {
        info!(
            "this pRuntime was the genesis node and retired after the launch; it answers \
             nothing but its status, so there is nothing left to relay"
        );
        std::future::pending::<()>().await;
    }
    Ok(())
}
