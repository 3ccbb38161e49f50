//! Reads checked by the light client, so a client never takes a node's word for the state.
//!
//! [trust] checks the genesis a node serves against a genesis hash the user pinned (from the
//! genesis spec or `devnet.json`), which yields the chain id and the group key that finalizes
//! it. [storage] then reads a state value with the block it is proved against, and checks the
//! block's finality certificate under that key, the block's state root, the proof, and that the
//! block is no older than the caller needs (a node could otherwise prove a stale state).

use commonware_codec::DecodeExt as _;
use jsonrpsee::http_client::HttpClient;
use veil_light::Trust;
use veil_primitives::{Digest, Header, Height, MAX_TX_BYTES_CAP, Message, from_hex, to_hex};
use veil_rpc_api::{BlockId, ProofKind, VeilApiClient as _};

use crate::error::rpc;

fn hex_bytes(what: &str, s: &str) -> anyhow::Result<Vec<u8>> {
    from_hex(s).map_err(|e| anyhow::anyhow!("node sent a malformed {what}: {e}"))
}

/// The chain a node serves, checked against the genesis hash the user pinned.
pub async fn trust(client: &HttpClient, genesis_hash: &Digest) -> anyhow::Result<Trust> {
    let view = client.genesis().await.map_err(rpc)?;
    let header = Header::decode(hex_bytes("genesis header", &view.header_encoded)?)
        .map_err(|e| anyhow::anyhow!("node sent a malformed genesis header: {e}"))?;
    let trust = veil_light::verify_genesis(
        &header,
        view.chain_id,
        &hex_bytes("group key", &view.group_key)?,
        &hex_bytes("chain proof", &view.chain_proof)?,
    )
    .map_err(|e| anyhow::anyhow!("the node's genesis does not verify: {e}"))?;
    anyhow::ensure!(
        &trust.genesis_hash == genesis_hash,
        "the node serves chain {} with genesis {}, not the pinned genesis {}",
        trust.chain_id,
        to_hex(trust.genesis_hash),
        to_hex(genesis_hash)
    );
    Ok(trust)
}

/// A state value proved at a finalized block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proved {
    /// Height of the block the value is proved at.
    pub height: u64,
    /// The value; `None` is proved absent.
    pub value: Option<Vec<u8>>,
}

/// How long [storage] waits for a node whose proofs lag the height the caller needs: a node
/// indexes a finalized block (and the transactions in it) a moment before it can prove
/// against the block's state.
pub const STATE_LAG_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads `key` from the node and checks it: the block's finality under the trusted group key,
/// its state root, the inclusion or absence proof, and a height of at least `min_height` (the
/// latest height the caller knows of, e.g. where its own transaction landed; a node that
/// proves an older one is asked again for up to [STATE_LAG_WAIT]).
pub async fn storage(
    client: &HttpClient,
    trust: &Trust,
    key: &Digest,
    min_height: u64,
) -> anyhow::Result<Proved> {
    let deadline = tokio::time::Instant::now() + STATE_LAG_WAIT;
    let view = loop {
        let view = client.get_storage(to_hex(key)).await.map_err(rpc)?;
        if view.height >= min_height {
            break view;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the node proved {} at height {}, older than height {min_height} the client \
             already saw, and did not catch up within {} s",
            to_hex(key),
            view.height,
            STATE_LAG_WAIT.as_secs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let block = client
        .get_block(BlockId::Height(view.height))
        .await
        .map_err(rpc)?
        .ok_or_else(|| anyhow::anyhow!("node has no block {} for its own proof", view.height))?;
    let header = Header::decode(hex_bytes("header", &block.header_encoded)?)
        .map_err(|e| anyhow::anyhow!("node sent a malformed header: {e}"))?;
    if header.height == 0 {
        anyhow::ensure!(
            header.hash() == trust.genesis_hash,
            "node proved against another genesis"
        );
    } else {
        let certificate = block.finalization.ok_or_else(|| {
            anyhow::anyhow!("node sent block {} without its certificate", header.height)
        })?;
        veil_light::verify_finality(
            &trust.group_key,
            &header,
            &hex_bytes("certificate", &certificate)?,
        )
        .map_err(|e| anyhow::anyhow!("block {} is not finalized: {e}", header.height))?;
    }
    anyhow::ensure!(
        to_hex(header.state_root) == view.state_root && header.height == view.height,
        "the node's proof is against another state root than block {}'s",
        header.height
    );
    let proof = hex_bytes("proof", &view.proof)?;
    let value = match (view.proof_kind, &view.value) {
        (ProofKind::Inclusion, Some(value)) => {
            let value = hex_bytes("value", value)?;
            anyhow::ensure!(
                veil_light::state::verify_inclusion(&header.state_root, key, &value, &proof),
                "the node's inclusion proof for {} does not verify",
                to_hex(key)
            );
            Some(value)
        }
        (ProofKind::Exclusion, None) => {
            anyhow::ensure!(
                veil_light::state::verify_absence(&header.state_root, key, &proof),
                "the node's absence proof for {} does not verify",
                to_hex(key)
            );
            None
        }
        _ => anyhow::bail!("the node's proof kind disagrees with its value"),
    };
    Ok(Proved {
        height: header.height,
        value,
    })
}

/// Finalized blocks' outbound messages from `from`, at most `max` blocks, checked: the headers
/// link, the last one's finality certificate verifies under the trusted group key, and each
/// block's messages hash to its messages root. Empty when the node has nothing from `from` yet.
pub async fn messages(
    client: &HttpClient,
    trust: &Trust,
    from: Height,
    max: u64,
) -> anyhow::Result<Vec<(Height, Vec<Message>)>> {
    let Some(batch) = client.get_sync_batch(from, max).await.map_err(rpc)? else {
        return Ok(Vec::new());
    };
    let headers = batch
        .headers
        .iter()
        .map(|h| {
            Header::decode(hex_bytes("header", h)?)
                .map_err(|e| anyhow::anyhow!("node sent a malformed header: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Some(last) = headers.last() else {
        return Ok(Vec::new());
    };
    anyhow::ensure!(
        headers[0].height == from && batch.messages.len() == headers.len(),
        "the node answered blocks from {} for blocks from {from}",
        headers[0].height
    );
    veil_light::verify_chain(&headers[..headers.len() - 1], last)
        .map_err(|e| anyhow::anyhow!("the node's headers do not link: {e}"))?;
    veil_light::verify_finality(
        &trust.group_key,
        last,
        &hex_bytes("certificate", &batch.certificate)?,
    )
    .map_err(|e| anyhow::anyhow!("block {} is not finalized: {e}", last.height))?;
    let mut out = Vec::with_capacity(headers.len());
    for (header, encoded) in headers.iter().zip(&batch.messages) {
        let messages = encoded
            .iter()
            .map(|m| {
                use commonware_codec::Decode as _;
                Message::decode_cfg(hex_bytes("message", m)?, &(MAX_TX_BYTES_CAP as usize))
                    .map_err(|e| anyhow::anyhow!("node sent a malformed message: {e}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        veil_light::verify_messages(header, &messages).map_err(|e| {
            anyhow::anyhow!("block {}'s messages do not match it: {e}", header.height)
        })?;
        out.push((header.height, messages));
    }
    Ok(out)
}
