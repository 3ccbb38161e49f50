//! The relay duty: initialize pRuntime with the chain's genesis, then feed it every finalized
//! block in batches. pRuntime checks everything; the host only keeps it fed, and keeps no
//! state of its own (it resumes from pRuntime's sealed progress).

use std::time::{Duration, Instant};

use tracing::info;
use veil_pruntime_api::{IdentityView, InitRequest, SyncRequest};
use veil_rpc_api::GenesisView;

use crate::ports::{ChainClient, WorkerClient};

/// Initializes pRuntime with the chain's genesis (idempotent); returns the worker's identity
/// and the genesis.
pub async fn init(
    chain: &impl ChainClient,
    worker: &impl WorkerClient,
) -> anyhow::Result<(IdentityView, GenesisView)> {
    let identity = worker
        .identity()
        .await
        .map_err(|e| anyhow::anyhow!("pRuntime unreachable: {e}"))?;
    let genesis = chain
        .genesis()
        .await
        .map_err(|e| anyhow::anyhow!("node unreachable: {e}"))?;
    worker
        .init(InitRequest {
            chain_id: genesis.chain_id,
            genesis_header: genesis.header_encoded.clone(),
            group_key: genesis.group_key.clone(),
            group_key_proof: genesis.group_key_proof.clone(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("pRuntime refused the genesis: {e}"))?;
    Ok((identity, genesis))
}

/// Feeds pRuntime until it has every block the node has finalized and applied, `batch` blocks
/// at a time, logging progress every few seconds on long catch-ups.
pub async fn catch_up(
    chain: &impl ChainClient,
    worker: &impl WorkerClient,
    batch: u64,
) -> anyhow::Result<()> {
    let mut last_log = Instant::now();
    let mut synced_since_log = 0u64;
    loop {
        let state = worker
            .sync_state()
            .await?
            .ok_or_else(|| anyhow::anyhow!("pRuntime lost its genesis"))?;
        let from = state.synced_height + 1;
        let Some(b) = chain.sync_batch(from, batch).await? else {
            return Ok(());
        };
        let n = b.headers.len() as u64;
        let synced = worker
            .sync(SyncRequest {
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
            let tip = chain
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
