//! JSON-RPC 2.0 over HTTP and WebSocket (one port). See `docs/rpc.md`.
//!
//! Every byte string (keys, hashes, transactions, proofs) travels as `0x`-prefixed hex; amounts
//! as decimal strings, since u128 does not fit a JSON number. Bad input gets
//! `-32602 invalid params` with the reason; refused transactions get `-32010` with the chain's
//! reason.

use std::{net::SocketAddr, sync::Arc};

use commonware_codec::{Decode as _, Encode as _};
use commonware_consensus::{marshal::Identifier, types::Height};
use commonware_runtime::{Clock, Spawner};
use jsonrpsee::{
    PendingSubscriptionSink,
    core::{RpcResult, SubscriptionResult, async_trait},
    proc_macros::rpc,
    server::{Server, ServerConfig, ServerHandle},
    types::ErrorObjectOwned,
};
use serde::{Deserialize, Serialize};
use veil_primitives::{
    AccountId, Destination, Digest, Header, Message, Origin, Phase, SignedTransaction, TxLimits,
    decode_hex, from_hex, to_hex,
};

use crate::{
    application::{Chain, Head, SubmitError},
    engine::Marshal,
};

/// Invalid params.
const INVALID_PARAMS: i32 = -32602;
/// The chain refused a transaction.
const TX_REJECTED: i32 = -32010;
/// The mempool refused a transaction.
const POOL_REJECTED: i32 = -32011;
/// The node cannot answer right now.
const UNAVAILABLE: i32 = -32050;

fn invalid(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, format!("invalid params: {msg}"), None::<()>)
}

fn unavailable(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(UNAVAILABLE, msg.to_string(), None::<()>)
}

/// A block by height or by hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockId {
    /// Height.
    Height(u64),
    /// `0x`-prefixed hash.
    Hash(String),
}

/// A header in JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeaderView {
    /// Height.
    pub height: u64,
    /// Parent hash.
    pub parent: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// State root.
    pub state_root: String,
    /// Transactions root.
    pub transactions_root: String,
    /// Messages root.
    pub messages_root: String,
}

impl From<&Header> for HeaderView {
    fn from(h: &Header) -> Self {
        Self {
            height: h.height,
            parent: to_hex(h.parent),
            timestamp: h.timestamp,
            state_root: to_hex(h.state_root),
            transactions_root: to_hex(h.transactions_root),
            messages_root: to_hex(h.messages_root),
        }
    }
}

/// A block with its finality certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockView {
    /// Block hash.
    pub hash: String,
    /// Decoded header.
    pub header: HeaderView,
    /// Canonical header encoding (what the hash and certificate cover).
    pub header_encoded: String,
    /// Encoded signed transactions.
    pub transactions: Vec<String>,
    /// Encoded finalization certificate (`null` for genesis, which is final by definition).
    pub finalization: Option<String>,
}

/// A finalized head.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadView {
    /// Height.
    pub height: u64,
    /// Hash.
    pub hash: String,
    /// Timestamp (ms).
    pub timestamp: u64,
}

impl From<Head> for HeadView {
    fn from(h: Head) -> Self {
        Self {
            height: h.height,
            hash: to_hex(h.hash),
            timestamp: h.timestamp,
        }
    }
}

/// A state value with its proof.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StorageView {
    /// Height of the block whose state root the proof is against.
    pub height: u64,
    /// Hash of that block.
    pub block_hash: String,
    /// The state root.
    pub state_root: String,
    /// The key.
    pub key: String,
    /// The value (`null` when absent).
    pub value: Option<String>,
    /// `inclusion` (value present) or `exclusion` (absent).
    pub proof_kind: String,
    /// Encoded proof.
    pub proof: String,
}

/// One outbound message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageView {
    /// `account:0x..` or `chain`.
    pub origin: String,
    /// `worker:0x..`, `contract:0x..` or `topic:<name>`.
    pub destination: String,
    /// Per-origin sequence.
    pub sequence: u64,
    /// Payload.
    pub payload: String,
    /// Canonical encoding (the messages root leaf).
    pub encoded: String,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        let origin = match &m.origin {
            Origin::Account(a) => format!("account:{}", to_hex(a)),
            Origin::Chain => "chain".into(),
            Origin::Worker(w) => format!("worker:{}", to_hex(w)),
            Origin::Gatekeepers => "gatekeepers".into(),
        };
        let destination = match &m.destination {
            Destination::Worker(w) => format!("worker:{}", to_hex(w)),
            Destination::Contract(c) => format!("contract:{}", to_hex(c)),
            Destination::Topic(t) => format!("topic:{}", String::from_utf8_lossy(t)),
        };
        Self {
            origin,
            destination,
            sequence: m.sequence,
            payload: to_hex(&m.payload),
            encoded: to_hex(m.encode()),
        }
    }
}

/// A block's outbound messages.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessagesView {
    /// Height.
    pub height: u64,
    /// The header's messages root.
    pub messages_root: String,
    /// Messages in order.
    pub messages: Vec<MessageView>,
}

/// An account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountView {
    /// Account id.
    pub account: String,
    /// Free balance (decimal string).
    pub balance: String,
    /// Next nonce.
    pub nonce: u64,
    /// Height of the finalized state read.
    pub height: u64,
}

/// An account's staking: bond, unbonding chunks and role.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StakingView {
    /// Account id.
    pub account: String,
    /// Bonded (decimal string).
    pub bonded: String,
    /// Unbonding chunks: amount (decimal string) and the height it can be withdrawn from.
    pub unlocking: Vec<(String, u64)>,
    /// The gatekeeper candidate (worker) this account backs.
    pub backs: Option<String>,
    /// The candidates this account nominates.
    pub nominations: Vec<String>,
}

/// A transaction's status.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransactionView {
    /// Hash.
    pub hash: String,
    /// `pending`, `finalized` or `unknown`.
    pub status: String,
    /// Block height once finalized.
    pub height: Option<u64>,
    /// Position in the block.
    pub index: Option<u32>,
    /// Fee burnt (decimal string).
    pub fee: Option<String>,
    /// Whether the call succeeded.
    pub success: Option<bool>,
    /// Why the call failed.
    pub error: Option<String>,
}

/// What a light client needs to start from genesis.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GenesisView {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash (the hash of `header_encoded`).
    pub genesis_hash: String,
    /// Encoded genesis header.
    pub header_encoded: String,
    /// Encoded consensus group public key.
    pub group_key: String,
    /// Inclusion proof of the group key under the genesis state root.
    pub group_key_proof: String,
}

/// A run of finalized blocks for a light client (a pRuntime host): headers, each block's
/// outbound messages, and the finalization certificate of the last one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncBatchView {
    /// Encoded headers, consecutive and ascending.
    pub headers: Vec<String>,
    /// Encoded outbound messages of each block.
    pub messages: Vec<Vec<String>>,
    /// Encoded finalization of the last header.
    pub certificate: String,
}

/// Most blocks in one `veil_getSyncBatch` answer.
pub const MAX_SYNC_BATCH: u64 = 1_000;

/// Node status.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusView {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: String,
    /// Consensus group public key (what light clients verify certificates against).
    pub group_key: String,
    /// Height of the latest finalized block whose state this node has applied.
    pub height: u64,
    /// Latest finalized height known to consensus (may briefly lead `height`).
    pub finalized: u64,
    /// Hash of the block at `height`.
    pub hash: String,
    /// Number of validators.
    pub validators: usize,
    /// Connected validator peers.
    pub peers: usize,
    /// Pending transactions.
    pub mempool: usize,
    /// Registered workers.
    pub workers: u64,
    /// Of which registered with dev (insecure) attestation.
    pub insecure_workers: u64,
    /// Latest gatekeeper election round (0 before the first election).
    pub election_round: u64,
    /// Gatekeepers elected in that round.
    pub gatekeepers: usize,
    /// `prelaunch` until every elected gatekeeper confirmed the root key, then `launched`.
    pub phase: String,
    /// Root-key era (`null` before launch).
    pub era: Option<u64>,
    /// The genesis node: `active` before launch, `retired` after (it wipes the root key when
    /// it sees the launch), `none` if genesis named none.
    pub genesis: String,
    /// Gatekeepers of the current round that confirmed the root key.
    pub confirmed_gatekeepers: usize,
    /// Divergences between gatekeepers' copies recorded by the chain.
    pub divergences: u64,
}

/// A gatekeeper election result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ElectionView {
    /// Round, from 1.
    pub round: u64,
    /// Height of the block that ran it.
    pub height: u64,
    /// Elected workers, in election order.
    pub gatekeepers: Vec<String>,
    /// Their X25519 keys, in the same order.
    pub ecdh_keys: Vec<String>,
    /// The round expires at this height unless every gatekeeper confirmed.
    pub deadline: u64,
    /// Workers that hold the root key and answer key requests, with their endpoints.
    pub holders: Vec<KeyHolderView>,
    /// Check of the root key the gatekeepers must hold.
    pub key_check: String,
    /// Whether the round closed (fully confirmed, or expired).
    pub closed: bool,
    /// Gatekeepers that confirmed (if this is the current round).
    pub confirmed: Vec<String>,
}

/// A holder of the root key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyHolderView {
    /// Identity key.
    pub worker: String,
    /// X25519 key.
    pub ecdh_key: String,
    /// Public pRuntime API.
    pub endpoint: String,
}

/// The gatekeepers' stream on chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatekeeperStreamView {
    /// Next sequence of the gatekeepers' stream.
    pub next_sequence: u64,
    /// The latest encrypted state checkpoint (hex), if any.
    pub state_checkpoint: Option<String>,
    /// Divergences recorded.
    pub divergences: u64,
}

/// A registered worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerView {
    /// Signing key (its identity).
    pub worker: String,
    /// X25519 key.
    pub ecdh_public_key: String,
    /// TEE kind.
    pub tee: veil_primitives::TeeKind,
    /// Measurement.
    pub measurement: String,
    /// TCB status at registration (`dev` for dev evidence).
    pub tcb_status: String,
    /// Registered with dev evidence: nothing proves it runs in a TEE.
    pub insecure: bool,
    /// Public pRuntime endpoint.
    pub endpoint: String,
    /// Operator account.
    pub operator: String,
    /// Height of the last registration.
    pub registered_at: u64,
    /// First height at which the registration lapses unless renewed.
    pub expiry: u64,
    /// The worker's next egress sequence (`null` in lists).
    pub next_sequence: Option<u64>,
}

impl WorkerView {
    fn new(id: &AccountId, w: &veil_primitives::WorkerInfo, next_sequence: Option<u64>) -> Self {
        Self {
            worker: to_hex(id),
            ecdh_public_key: to_hex(w.ecdh_key),
            tee: w.tee,
            measurement: to_hex(&w.measurement),
            tcb_status: w.tcb_status.clone(),
            insecure: w.insecure,
            endpoint: w.endpoint.clone(),
            operator: to_hex(&w.operator),
            registered_at: w.registered_at,
            expiry: w.expiry,
            next_sequence,
        }
    }
}

/// The node's RPC interface.
#[rpc(server, client, namespace = "veil")]
pub trait VeilApi {
    /// Submits an encoded signed transaction; returns its hash.
    #[method(name = "submitTransaction")]
    async fn submit_transaction(&self, tx: String) -> RpcResult<String>;

    /// A finalized block by height or hash, with its certificate.
    #[method(name = "getBlock")]
    async fn get_block(&self, id: BlockId) -> RpcResult<Option<BlockView>>;

    /// The latest finalized block this node has applied.
    #[method(name = "finalizedHead")]
    async fn finalized_head(&self) -> RpcResult<HeadView>;

    /// Finalized heads as they are applied.
    #[subscription(name = "subscribeFinalizedHeads" => "finalizedHeads", unsubscribe = "unsubscribeFinalizedHeads", item = HeadView)]
    async fn subscribe_finalized_heads(&self) -> SubscriptionResult;

    /// A state value with its proof against the latest finalized state root.
    #[method(name = "getStorage")]
    async fn get_storage(&self, key: String) -> RpcResult<StorageView>;

    /// The messages a finalized block sent out.
    #[method(name = "getMessages")]
    async fn get_messages(&self, height: u64) -> RpcResult<Option<MessagesView>>;

    /// An account's balance and nonce.
    #[method(name = "getAccount")]
    async fn get_account(&self, account: String) -> RpcResult<AccountView>;

    /// An account's bond and staking role.
    #[method(name = "getStaking")]
    async fn get_staking(&self, account: String) -> RpcResult<StakingView>;

    /// A transaction's status.
    #[method(name = "getTransaction")]
    async fn get_transaction(&self, hash: String) -> RpcResult<TransactionView>;

    /// A registered worker (`null` if not registered).
    #[method(name = "getWorker")]
    async fn get_worker(&self, worker: String) -> RpcResult<Option<WorkerView>>;

    /// Registered workers (at most 1000).
    #[method(name = "workers")]
    async fn workers(&self) -> RpcResult<Vec<WorkerView>>;

    /// The latest gatekeeper election (`null` before the first).
    #[method(name = "election")]
    async fn election(&self) -> RpcResult<Option<ElectionView>>;
    /// The gatekeepers' shared stream: next sequence, latest encrypted state checkpoint and
    /// divergences.
    #[method(name = "gatekeeperStream")]
    async fn gatekeeper_stream(&self) -> RpcResult<GatekeeperStreamView>;

    /// Node status.
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<StatusView>;

    /// The node's metrics in Prometheus text format.
    #[method(name = "metrics")]
    async fn metrics(&self) -> RpcResult<String>;

    /// The genesis header, group key and the proof binding them.
    #[method(name = "genesis")]
    async fn genesis(&self) -> RpcResult<GenesisView>;

    /// Finalized blocks `from..` (at most `max`, capped at 1000) with messages and the last
    /// block's certificate; `null` when `from` is not finalized and applied yet.
    #[method(name = "getSyncBatch")]
    async fn get_sync_batch(&self, from: u64, max: u64) -> RpcResult<Option<SyncBatchView>>;
}

/// Most workers `status` reads to count the insecure ones.
const MAX_STATUS_WORKERS: u64 = 10_000;

/// Counts connected peers from the p2p tracker's metrics (one series per connected peer).
fn connected_peers(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("tracker") && l.contains("_connected{"))
        .count()
}

/// Serves the API for one node.
pub struct Rpc<E: commonware_storage::Context + Spawner + Clock> {
    chain: Arc<Chain<E>>,
    marshal: Marshal,
    validators: usize,
    group_key: String,
    metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

impl<E: commonware_storage::Context + Spawner + Clock> Rpc<E> {
    /// Wraps a node. `metrics` renders the node's Prometheus metrics.
    pub fn new(
        chain: Arc<Chain<E>>,
        marshal: Marshal,
        validators: usize,
        group_key: String,
        metrics: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> Self {
        Self {
            chain,
            marshal,
            validators,
            group_key,
            metrics,
        }
    }

    /// Starts serving HTTP and WebSocket on `addr`.
    pub async fn serve(self, addr: SocketAddr) -> anyhow::Result<(SocketAddr, ServerHandle)> {
        let config = ServerConfig::builder()
            .max_request_body_size(2 * 1024 * 1024)
            .max_connections(1024)
            .build();
        let server = Server::builder()
            .set_config(config)
            .build(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind RPC on {addr}: {e}"))?;
        let local = server.local_addr()?;
        Ok((local, server.start(self.into_rpc())))
    }

    async fn block_view(&self, height: u64) -> RpcResult<Option<BlockView>> {
        if height == 0 {
            let genesis = self.chain.genesis_block();
            return Ok(Some(BlockView {
                hash: to_hex(genesis.hash()),
                header: (&genesis.header).into(),
                header_encoded: to_hex(genesis.header.encode()),
                transactions: Vec::new(),
                finalization: None,
            }));
        }
        let Some(block) = self.marshal.get_block(Height::new(height)).await else {
            return Ok(None);
        };
        let fin = self.marshal.get_finalization(Height::new(height)).await;
        let b = block.inner();
        Ok(Some(BlockView {
            hash: to_hex(b.hash()),
            header: (&b.header).into(),
            header_encoded: to_hex(b.header.encode()),
            transactions: b.transactions.iter().map(|t| to_hex(t.encode())).collect(),
            finalization: fin.map(|f| to_hex(f.encode())),
        }))
    }
}

#[async_trait]
impl<E> VeilApiServer for Rpc<E>
where
    E: commonware_storage::Context + Spawner + Clock,
{
    async fn submit_transaction(&self, tx: String) -> RpcResult<String> {
        let bytes = from_hex(&tx).map_err(|e| invalid(format!("tx is not hex: {e}")))?;
        let max = veil_primitives::MAX_TX_BYTES_CAP as usize;
        if bytes.len() > max {
            return Err(ErrorObjectOwned::owned(
                TX_REJECTED,
                format!(
                    "transaction is {} bytes, above the limit of {max}",
                    bytes.len()
                ),
                None::<()>,
            ));
        }
        let tx =
            SignedTransaction::decode_cfg(bytes, &TxLimits { max_payload: max }).map_err(|e| {
                let e = veil_chain::TxError::from(e);
                ErrorObjectOwned::owned(TX_REJECTED, e.to_string(), None::<()>)
            })?;
        match self.chain.submit(tx).await {
            Ok(hash) => Ok(to_hex(hash)),
            Err(SubmitError::Rejected(e)) => Err(ErrorObjectOwned::owned(
                TX_REJECTED,
                e.to_string(),
                None::<()>,
            )),
            Err(SubmitError::Pool(e)) => Err(ErrorObjectOwned::owned(
                POOL_REJECTED,
                e.to_string(),
                None::<()>,
            )),
            Err(e @ SubmitError::Unavailable(_)) => Err(unavailable(e)),
        }
    }

    async fn get_block(&self, id: BlockId) -> RpcResult<Option<BlockView>> {
        match id {
            BlockId::Height(h) => self.block_view(h).await,
            BlockId::Hash(hash) => {
                let digest: Digest = decode_hex(&hash).map_err(invalid)?;
                if digest == self.chain.identity.genesis_hash {
                    return self.block_view(0).await;
                }
                match self.marshal.get_info(Identifier::Digest(digest)).await {
                    Some((h, _)) => self.block_view(h.get()).await,
                    None => Ok(None),
                }
            }
        }
    }

    async fn finalized_head(&self) -> RpcResult<HeadView> {
        Ok(self.chain.tip().into())
    }

    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        let mut heads = self.chain.subscribe_heads();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                _ = sink.closed() => return Ok(()),
                head = heads.recv() => match head {
                    Ok(head) => {
                        let msg = serde_json::value::to_raw_value(&HeadView::from(head))?;
                        if sink.send(msg).await.is_err() {
                            return Ok(());
                        }
                    }
                    // A slow subscriber skips heads it missed; the next one still arrives.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    async fn get_storage(&self, key: String) -> RpcResult<StorageView> {
        let key: Digest = decode_hex(&key).map_err(invalid)?;
        let proven = self.chain.state.prove(&key).await.map_err(unavailable)?;
        let block_hash = match self.chain.store.head(proven.height).map_err(unavailable)? {
            Some((hash, _)) => hash,
            None if proven.height == 0 => self.chain.identity.genesis_hash,
            None => return Err(unavailable("finalized head missing from index")),
        };
        Ok(StorageView {
            height: proven.height,
            block_hash: to_hex(block_hash),
            state_root: to_hex(proven.root),
            key: to_hex(key),
            proof_kind: if proven.value.is_some() {
                "inclusion"
            } else {
                "exclusion"
            }
            .into(),
            value: proven.value.map(to_hex),
            proof: to_hex(proven.proof),
        })
    }

    async fn get_messages(&self, height: u64) -> RpcResult<Option<MessagesView>> {
        let Some(block) = self.block_view(height).await? else {
            return Ok(None);
        };
        let messages = if height == 0 {
            Vec::new()
        } else {
            match self
                .chain
                .store
                .messages(height, veil_primitives::MAX_TX_BYTES_CAP as usize)
                .map_err(unavailable)?
            {
                Some(m) => m,
                // Finalized by consensus but not yet applied here.
                None => return Ok(None),
            }
        };
        Ok(Some(MessagesView {
            height,
            messages_root: block.header.messages_root,
            messages: messages.iter().map(MessageView::from).collect(),
        }))
    }

    async fn get_account(&self, account: String) -> RpcResult<AccountView> {
        let id: AccountId = decode_hex(&account).map_err(invalid)?;
        let height = self.chain.tip().height;
        let a = self
            .chain
            .state
            .account_at(None, &id)
            .await
            .map_err(unavailable)?;
        Ok(AccountView {
            account: to_hex(&id),
            balance: a.free.to_string(),
            nonce: a.nonce,
            height,
        })
    }

    async fn get_staking(&self, account: String) -> RpcResult<StakingView> {
        let id: AccountId = decode_hex(&account).map_err(invalid)?;
        let (ledger, backs, nominations) =
            self.chain.state.staking(&id).await.map_err(unavailable)?;
        Ok(StakingView {
            account: to_hex(&id),
            bonded: ledger.bonded.to_string(),
            unlocking: ledger
                .unlocking
                .iter()
                .map(|(a, h)| (a.to_string(), *h))
                .collect(),
            backs: backs.map(to_hex),
            nominations: nominations.iter().map(to_hex).collect(),
        })
    }

    async fn get_transaction(&self, hash: String) -> RpcResult<TransactionView> {
        let digest: Digest = decode_hex(&hash).map_err(invalid)?;
        let receipt = self.chain.store.receipt(&digest).map_err(unavailable)?;
        let view = match receipt {
            Some(r) => TransactionView {
                hash: to_hex(digest),
                status: "finalized".into(),
                height: Some(r.height),
                index: Some(r.index),
                fee: Some(r.fee.to_string()),
                success: Some(r.error.is_none()),
                error: r.error,
            },
            None => TransactionView {
                hash: to_hex(digest),
                status: if self.chain.mempool.lock().contains(&digest) {
                    "pending"
                } else {
                    "unknown"
                }
                .into(),
                height: None,
                index: None,
                fee: None,
                success: None,
                error: None,
            },
        };
        Ok(view)
    }

    async fn get_worker(&self, worker: String) -> RpcResult<Option<WorkerView>> {
        let id: AccountId = decode_hex(&worker).map_err(invalid)?;
        let w = self.chain.state.worker(&id).await.map_err(unavailable)?;
        Ok(w.map(|(info, next)| WorkerView::new(&id, &info, Some(next))))
    }

    async fn workers(&self) -> RpcResult<Vec<WorkerView>> {
        let (_, list) = self.chain.state.workers(1000).await.map_err(unavailable)?;
        Ok(list
            .iter()
            .map(|(id, info)| WorkerView::new(id, info, None))
            .collect())
    }

    async fn election(&self) -> RpcResult<Option<ElectionView>> {
        let e = self.chain.state.election().await.map_err(unavailable)?;
        let b = self.chain.state.bootstrap().await.map_err(unavailable)?;
        Ok(e.map(|e| ElectionView {
            round: e.round,
            height: e.height,
            gatekeepers: e.gatekeepers.iter().map(to_hex).collect(),
            ecdh_keys: e.ecdh_keys.iter().map(to_hex).collect(),
            deadline: e.deadline,
            holders: e
                .holders
                .iter()
                .map(|h| KeyHolderView {
                    worker: to_hex(&h.worker),
                    ecdh_key: to_hex(h.ecdh_key),
                    endpoint: h.endpoint.clone(),
                })
                .collect(),
            key_check: to_hex(e.key_check),
            closed: e.round <= b.closed_round,
            confirmed: b.confirmed.iter().map(to_hex).collect(),
        }))
    }

    async fn gatekeeper_stream(&self) -> RpcResult<GatekeeperStreamView> {
        let b = self.chain.state.bootstrap().await.map_err(unavailable)?;
        Ok(GatekeeperStreamView {
            next_sequence: b.next_gatekeeper_sequence,
            state_checkpoint: b.state_checkpoint.map(to_hex),
            divergences: b.divergences,
        })
    }

    async fn status(&self) -> RpcResult<StatusView> {
        let election = self.chain.state.election().await.map_err(unavailable)?;
        let b = self.chain.state.bootstrap().await.map_err(unavailable)?;
        let (phase, era) = match b.phase {
            Phase::Prelaunch => ("prelaunch", None),
            Phase::Launched { era, .. } => ("launched", Some(era)),
        };
        let genesis = match (&b.genesis_worker, era) {
            (None, _) => "none",
            (Some(_), None) => "active",
            (Some(_), Some(_)) => "retired",
        };
        let (workers, list) = self
            .chain
            .state
            .workers(MAX_STATUS_WORKERS)
            .await
            .map_err(unavailable)?;
        let insecure_workers = list.iter().filter(|(_, w)| w.insecure).count() as u64;
        let tip = self.chain.tip();
        let finalized = self
            .marshal
            .get_info(Identifier::Latest)
            .await
            .map(|(h, _)| h.get())
            .unwrap_or(0)
            .max(tip.height);
        Ok(StatusView {
            chain_id: self.chain.identity.chain_id,
            genesis_hash: to_hex(self.chain.identity.genesis_hash),
            group_key: self.group_key.clone(),
            height: tip.height,
            finalized,
            hash: to_hex(tip.hash),
            validators: self.validators,
            peers: connected_peers(&(self.metrics)()),
            mempool: self.chain.mempool.lock().len(),
            workers,
            insecure_workers,
            election_round: election.as_ref().map_or(0, |e| e.round),
            gatekeepers: election.map_or(0, |e| e.gatekeepers.len()),
            phase: phase.into(),
            era,
            genesis: genesis.into(),
            confirmed_gatekeepers: b.confirmed.len(),
            divergences: b.divergences,
        })
    }

    async fn metrics(&self) -> RpcResult<String> {
        Ok((self.metrics)())
    }

    async fn get_sync_batch(&self, from: u64, max: u64) -> RpcResult<Option<SyncBatchView>> {
        if from == 0 {
            return Err(invalid(
                "from must be at least 1 (genesis is given by veil_genesis)",
            ));
        }
        let tip = self.chain.tip().height;
        if from > tip {
            return Ok(None);
        }
        let mut to = tip.min(from.saturating_add(max.clamp(1, MAX_SYNC_BATCH) - 1));
        // End the batch at the highest block that has its own certificate.
        let certificate = loop {
            if let Some(f) = self.marshal.get_finalization(Height::new(to)).await {
                break f.encode();
            }
            if to == from {
                return Ok(None);
            }
            to -= 1;
        };
        let mut headers = Vec::new();
        let mut messages = Vec::new();
        for h in from..=to {
            let Some(block) = self.marshal.get_block(Height::new(h)).await else {
                return Err(unavailable(format!("finalized block {h} missing")));
            };
            headers.push(to_hex(block.inner().header.encode()));
            let ms = self
                .chain
                .store
                .messages(h, veil_primitives::MAX_TX_BYTES_CAP as usize)
                .map_err(unavailable)?
                .ok_or_else(|| unavailable(format!("messages of block {h} missing")))?;
            messages.push(ms.iter().map(|m| to_hex(m.encode())).collect());
        }
        Ok(Some(SyncBatchView {
            headers,
            messages,
            certificate: to_hex(certificate),
        }))
    }

    async fn genesis(&self) -> RpcResult<GenesisView> {
        let proof = self
            .chain
            .store
            .genesis_proof()
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("genesis proof missing"))?;
        Ok(GenesisView {
            chain_id: self.chain.identity.chain_id,
            genesis_hash: to_hex(self.chain.identity.genesis_hash),
            header_encoded: to_hex(self.chain.genesis.encode()),
            group_key: self.group_key.clone(),
            group_key_proof: to_hex(proof),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_connected_peers() {
        let text = "# HELP network_tracker_directory_connected x\n\
                    network_tracker_directory_connected{peer=\"a\"} 1\n\
                    network_tracker_directory_connected{peer=\"b\"} 2\n\
                    network_tracker_tracked 4\n";
        assert_eq!(super::connected_peers(text), 2);
    }
}
