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

mod duties;
pub mod pccs;

pub use duties::{CollateralSource, OperatorConfig};

use std::time::{Duration, Instant};

use jsonrpsee::{
    http_client::{HttpClient, HttpClientBuilder},
    ws_client::WsClientBuilder,
};
use tracing::{info, warn};
use veil_node::rpc::VeilApiClient as _;
use veil_pruntime::api::{InitRequest, PrivateApiClient as _, SyncRequest};

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

pub(crate) fn http(url: &str) -> anyhow::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(60))
        .max_request_size(256 * 1024 * 1024)
        .max_response_size(256 * 1024 * 1024)
        .build(url)
        .map_err(|e| anyhow::anyhow!("bad URL {url}: {e}"))
}

/// Relays until the process is stopped, reconnecting after failures.
pub async fn run(config: HostConfig) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let started = Instant::now();
        if let Err(e) = session(&config).await {
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

async fn session(config: &HostConfig) -> anyhow::Result<()> {
    let node = http(&config.node_rpc)?;
    let pruntime = http(&config.pruntime)?;
    let identity = pruntime
        .get_identity()
        .await
        .map_err(|e| anyhow::anyhow!("pRuntime at {} unreachable: {e}", config.pruntime))?;
    idle_if_retired(&pruntime).await?;
    let genesis = node
        .genesis()
        .await
        .map_err(|e| anyhow::anyhow!("node at {} unreachable: {e}", config.node_rpc))?;
    pruntime
        .init_runtime(InitRequest {
            chain_id: genesis.chain_id,
            genesis_header: genesis.header_encoded,
            group_key: genesis.group_key,
            group_key_proof: genesis.group_key_proof,
        })
        .await
        .map_err(|e| anyhow::anyhow!("pRuntime refused the genesis: {e}"))?;
    info!(
        worker = %identity.public_key,
        insecure = identity.insecure,
        genesis = %genesis.genesis_hash,
        "pRuntime initialized"
    );
    let ws = WsClientBuilder::default()
        .build(&config.node_ws)
        .await
        .map_err(|e| anyhow::anyhow!("node WebSocket {} unreachable: {e}", config.node_ws))?;
    let mut heads = ws.subscribe_finalized_heads().await?;
    let mut duties = match &config.operator {
        Some(op) => {
            let worker = veil_primitives::decode_hex(&identity.public_key)
                .map_err(|e| anyhow::anyhow!("pRuntime reported a bad key: {e}"))?;
            let chain = veil_primitives::ChainIdentity {
                chain_id: genesis.chain_id,
                genesis_hash: veil_primitives::decode_hex(&genesis.genesis_hash)
                    .map_err(|e| anyhow::anyhow!("node reported a bad genesis hash: {e}"))?,
            };
            Some(duties::Duties::new(op.clone(), chain, worker))
        }
        None => None,
    };
    loop {
        if let Err(e) = catch_up(&node, &pruntime, config.batch).await {
            // The genesis node refuses blocks once it has seen the launch: not a failure.
            idle_if_retired(&pruntime).await?;
            return Err(e);
        }
        if let Some(d) = duties.as_mut()
            && let Err(e) = d.round(&node, &pruntime).await
        {
            warn!("operator duties: {e:#}");
        }
        // Wake on the next finalized head; poll anyway now and then in case one was missed.
        match tokio::time::timeout(Duration::from_secs(10), heads.next()).await {
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(e))) => anyhow::bail!("finalized head subscription failed: {e}"),
            Ok(None) => anyhow::bail!("node closed the finalized head subscription"),
        }
    }
}

/// A genesis node that retired after the launch answers nothing but its status: say so once
/// and relay nothing more.
async fn idle_if_retired(pruntime: &jsonrpsee::http_client::HttpClient) -> anyhow::Result<()> {
    if pruntime
        .get_sync_state()
        .await?
        .is_some_and(|s| s.genesis.as_deref() == Some("retired"))
    {
        info!(
            "this pRuntime was the genesis node and retired after the launch; it answers \
             nothing but its status, so there is nothing left to relay"
        );
        std::future::pending::<()>().await;
    }
    Ok(())
}

/// Feeds pRuntime until it has every block the node has finalized and applied.
async fn catch_up(node: &HttpClient, pruntime: &HttpClient, batch: u64) -> anyhow::Result<()> {
    let mut last_log = Instant::now();
    let mut synced_since_log = 0u64;
    loop {
        let state = pruntime
            .get_sync_state()
            .await?
            .ok_or_else(|| anyhow::anyhow!("pRuntime lost its genesis"))?;
        let from = state.synced_height + 1;
        let Some(b) = node.get_sync_batch(from, batch).await? else {
            return Ok(());
        };
        let n = b.headers.len() as u64;
        let synced = pruntime
            .sync_blockchain(SyncRequest {
                headers: b.headers,
                certificate: b.certificate,
                messages: b.messages,
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!("pRuntime refused blocks {from}..{}: {e}", from + n - 1)
            })?;
        synced_since_log += n;
        if last_log.elapsed() > Duration::from_secs(2) || n >= batch {
            let tip = node
                .status()
                .await
                .map(|s| s.height)
                .unwrap_or(synced.synced_height);
            let rate = synced_since_log as f64 / last_log.elapsed().as_secs_f64().max(1e-3);
            info!(
                synced = synced.synced_height,
                tip,
                rate = format!("{rate:.0} blocks/s"),
                "syncing pRuntime"
            );
            last_log = Instant::now();
            synced_since_log = 0;
        }
    }
}
