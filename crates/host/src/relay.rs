//! The relay duty: initialize pRuntime with the chain's genesis, then feed it every finalized
//! block in batches. pRuntime checks everything; the host only keeps it fed, and keeps no
//! state of its own (it resumes from pRuntime's sealed progress).

use std::time::{Duration, Instant};

use commonware_codec::{Decode as _, DecodeExt as _};
use tracing::{info, warn};
use veil_primitives::{
    AccountId, Destination, MAX_TX_BYTES_CAP, Message, Origin,
    contract::{CONTRACTS_TOPIC, ContractEvent},
    decode_hex, from_hex,
};
use veil_pruntime_api::{IdentityView, InitRequest, SyncRequest, limits::MAX_PENDING_EGRESS};
use veil_rpc_api::GenesisView;

use crate::ports::{ChainClient, PortError, WorkerClient};

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
            chain_proof: genesis.chain_proof.clone(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("pRuntime refused the genesis: {e}"))?;
    Ok((identity, genesis))
}

/// Whether a refusal says the request or answer was too large (then a smaller batch helps).
fn too_large(e: &PortError) -> bool {
    /// jsonrpsee's code for an answer over the server's limit.
    const OVERSIZED_RESPONSE: i32 = -32008;
    match e {
        PortError::Refused { code, .. } if *code == OVERSIZED_RESPONSE => true,
        other => {
            let text = other.to_string().to_lowercase();
            text.contains("too big") || text.contains("too large") || text.contains("413")
        }
    }
}

/// The code hashes of contracts that `messages` (hex, as the node serves them) assign to `me`.
fn assigned_code(messages: &[Vec<String>], me: &AccountId) -> Vec<veil_primitives::Digest> {
    let mut out = Vec::new();
    for hex in messages.iter().flatten() {
        let Ok(bytes) = from_hex(hex) else { continue };
        let Ok(m) = Message::decode_cfg(bytes, &(MAX_TX_BYTES_CAP as usize)) else {
            continue;
        };
        if m.origin != Origin::Chain
            || m.destination != Destination::Topic(CONTRACTS_TOPIC.to_vec())
        {
            continue;
        }
        let (code, miner) = match ContractEvent::decode(m.payload) {
            Ok(ContractEvent::Instantiated { code, miner, .. }) => (code, miner),
            Ok(ContractEvent::Assigned { code, miner, .. }) => (code, miner),
            Ok(ContractEvent::SessionRevoked { .. }) | Err(_) => continue,
        };
        if &miner == me && !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

/// Feeds pRuntime until it has every block the node has finalized and applied, at most `batch`
/// blocks at a time (halving the batch while a request or an answer is too large), logging
/// progress every few seconds on long catch-ups. A batch that assigns a contract to this
/// worker goes with the contract's code, which pRuntime checks against the announced hash.
pub async fn catch_up(
    chain: &impl ChainClient,
    worker: &impl WorkerClient,
    batch: u64,
) -> anyhow::Result<()> {
    let me: AccountId = decode_hex(&worker.identity().await?.public_key)
        .map_err(|e| anyhow::anyhow!("pRuntime reported a bad key: {e}"))?;
    let mut batch = batch.max(1);
    let mut last_log = Instant::now();
    let mut synced_since_log = 0u64;
    loop {
        let state = worker
            .sync_state()
            .await?
            .ok_or_else(|| anyhow::anyhow!("pRuntime lost its genesis"))?;
        let from = state.synced_height + 1;
        let b = match chain.sync_batch(from, batch).await {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(()),
            Err(e) if too_large(&e) && batch > 1 => {
                batch /= 2;
                warn!(
                    batch,
                    "the node's answer was too large; asking for fewer blocks"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let n = b.headers.len() as u64;
        let mut code = Vec::new();
        for hash in assigned_code(&b.messages, &me) {
            let hash = veil_primitives::to_hex(hash);
            match chain.code(hash.clone()).await? {
                Some(c) => code.push(c),
                None => warn!(
                    code = hash,
                    "the node has no code for a contract assigned here"
                ),
            }
        }
        let synced = match worker
            .sync(SyncRequest {
                headers: b.headers,
                certificate: b.certificate,
                messages: b.messages,
                code,
            })
            .await
        {
            Ok(s) => s,
            Err(e) if too_large(&e) && n > 1 => {
                batch = (n / 2).max(1);
                warn!(
                    batch,
                    "the batch was too large for pRuntime; sending fewer blocks"
                );
                continue;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "pRuntime refused blocks {from}..{}: {e}",
                    from + n - 1
                ));
            }
        };
        synced_since_log += n;
        // Contract results pile up in pRuntime's egress while it catches up: post them (the
        // duties' round) before syncing further, so none waits long and the queue stays short.
        if synced.egress_pending >= MAX_PENDING_EGRESS / 2 {
            info!(
                pending = synced.egress_pending,
                synced = synced.synced_height,
                "posting pRuntime's egress before syncing further"
            );
            return Ok(());
        }
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
