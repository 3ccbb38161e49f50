//! A connection to a node: the chain it serves, transactions, finality.

use std::time::{Duration, Instant};

use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use veil_primitives::{Call, ChainIdentity, PrivateKey, Transaction, decode_hex, to_hex};
use veil_rpc_api::{StatusView, TransactionView, TxStatus, VeilApiClient as _};

use crate::error::rpc;

/// How long one call to a node may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP connection to the node at `url`.
pub fn connect(url: &str) -> anyhow::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(REQUEST_TIMEOUT)
        .build(url)
        .map_err(|e| anyhow::anyhow!("bad RPC URL {url}: {e}"))
}

/// The chain identity a node reports, which every transaction signature covers.
pub fn identity(status: &StatusView) -> anyhow::Result<ChainIdentity> {
    Ok(ChainIdentity {
        chain_id: status.chain_id,
        genesis_hash: decode_hex(&status.genesis_hash)
            .map_err(|e| anyhow::anyhow!("node reported a bad genesis hash: {e}"))?,
    })
}

/// The node's status, or an error that names the URL it could not reach.
pub async fn status(client: &HttpClient, url: &str) -> anyhow::Result<StatusView> {
    client
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the node at {url}: {}", crate::describe(&e)))
}

/// Signs `call` from `key` with the account's next nonce, valid for `ttl` blocks, and
/// submits it; returns its hash.
pub async fn submit(
    client: &HttpClient,
    key: &PrivateKey,
    call: Call,
    ttl: u64,
) -> anyhow::Result<String> {
    let status = client.status().await.map_err(rpc)?;
    let chain = identity(&status)?;
    let nonce = client
        .get_account(to_hex(key.public_key()))
        .await
        .map_err(rpc)?
        .nonce;
    let tx = Transaction {
        sender: key.public_key(),
        nonce,
        expiry: status.height + ttl,
        call,
    }
    .sign(key, &chain);
    client
        .submit_transaction(to_hex(tx.encode()))
        .await
        .map_err(|e| anyhow::anyhow!("transaction refused: {}", crate::describe(&e)))
}

/// Waits until a transaction is finalized; returns its view.
pub async fn wait_finalized(
    client: &HttpClient,
    hash: &str,
    timeout: Duration,
) -> anyhow::Result<TransactionView> {
    let deadline = Instant::now() + timeout;
    loop {
        let view = client
            .get_transaction(hash.to_string())
            .await
            .map_err(rpc)?;
        if view.status == TxStatus::Finalized {
            return Ok(view);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "transaction {hash} not finalized within {timeout:?} (status: {:?})",
            view.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
