//! This node's copy of the chain ([LocalChain]): state, indexes, mempool and the finalized
//! tip, and the block work consensus asks of it.
//!
//! - building a block on a parent from the mempool, executing it, and putting the resulting
//!   state root and messages root in the header ([crate::application] `propose`);
//! - checking a peer's block (signatures, roots) by executing it on its parent's state
//!   (`verify`);
//! - finalized blocks (from marshal, in height order): making the block's state durable,
//!   recording its outputs, pruning the mempool, then acknowledging so marshal advances.
//!
//! All state work is serialized by one lock, so a block's parent state can never change under
//! it. After a restart, parents that are not finalized yet are re-executed from their ancestry.

use std::{
    collections::HashMap,
    time::{Duration, UNIX_EPOCH},
};

use commonware_codec::{Encode as _, EncodeSize as _};
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::sync::{AsyncMutex, Mutex};
use futures::{StreamExt as _, channel::mpsc};
use tracing::{debug, info, warn};
use veil_chain::{BlockEnv, BlockError, Receipt};
use veil_primitives::{
    AccountId, Block, ChainIdentity, Digest, Header, Height, MAX_BLOCK_BYTES, Message,
    SignedTransaction,
};

use crate::{mempool::Mempool, state::StateStore, store::Store};

/// A finalized block as RPC clients see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Height.
    pub height: Height,
    /// Hash.
    pub hash: Digest,
    /// Timestamp (ms).
    pub timestamp: u64,
}

/// How far ahead of the local clock a block's timestamp may be before we wait.
pub(crate) const MAX_FUTURE_DRIFT: Duration = Duration::from_secs(5);

/// Outputs of an executed block kept until it is finalized.
struct Outputs {
    height: Height,
    messages: Vec<Message>,
    receipts: Vec<Receipt>,
}

/// Why a block's state could not be produced.
#[derive(Debug, thiserror::Error)]
enum Unavailable {
    /// The block does not descend from the finalized tip: it can never be valid.
    #[error("does not extend the finalized chain")]
    Conflict,
    /// The block (or an ancestor) breaks the rules.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Storage failed or ancestry ran out; we abstain.
    #[error("unavailable: {0}")]
    Abstain(String),
}

/// Why a submitted transaction was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The transaction breaks a rule.
    #[error(transparent)]
    Rejected(#[from] veil_chain::TxError),
    /// The mempool refused it.
    #[error(transparent)]
    Pool(#[from] crate::mempool::PoolError),
    /// The node cannot check it right now.
    #[error("node unavailable: {0}")]
    Unavailable(String),
}

impl SubmitError {
    /// A fixed name for the refusal, for the `reason` label of the node's metrics.
    pub fn reason(&self) -> &'static str {
        use crate::mempool::PoolError;
        match self {
            Self::Rejected(e) => e.kind(),
            Self::Pool(PoolError::Duplicate) => "duplicate",
            Self::Pool(PoolError::NonceTaken(_)) => "nonce_taken",
            Self::Pool(PoolError::Full(_)) => "pool_full",
            Self::Pool(PoolError::SenderFull(_)) => "sender_full",
            Self::Pool(PoolError::Unaffordable { .. }) => "unaffordable",
            Self::Pool(PoolError::QueueFull { .. }) => "nonce_gap_queue_full",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// Transactions offered to this node's mempool: admitted by source, refused by reason.
#[derive(Clone, Default)]
pub struct PoolMetrics {
    /// Admitted, by `source` (`rpc` or `gossip`).
    pub admitted: veil_metrics::CounterFamily,
    /// Refused, by `reason` ([SubmitError::reason]).
    pub refused: veil_metrics::CounterFamily,
}

/// Tuning of block production and of the node's memory.
#[derive(Clone, Debug)]
pub struct ProductionConfig {
    /// Least time between a parent and its child.
    pub block_interval: Duration,
    /// Mempool capacity.
    pub mempool_capacity: usize,
    /// Memory the index database may cache its pages in. The index grows with every
    /// transaction, and the database's own default (1 GiB) let a validator's memory grow with
    /// chain height up to it.
    pub index_cache_bytes: usize,
}

/// Default of [ProductionConfig::index_cache_bytes].
pub const DEFAULT_INDEX_CACHE_BYTES: usize = 16 << 20;

impl Default for ProductionConfig {
    fn default() -> Self {
        Self {
            block_interval: Duration::from_millis(250),
            mempool_capacity: 100_000,
            index_cache_bytes: DEFAULT_INDEX_CACHE_BYTES,
        }
    }
}

/// This node's copy of the chain: state, indexes, mempool and the finalized tip.
pub struct LocalChain<E: commonware_storage::Context + Spawner + Clock> {
    /// Chain id and genesis hash; every signature is bound to them.
    pub identity: ChainIdentity,
    /// The genesis header.
    pub genesis: Header,
    /// Authenticated state.
    pub state: StateStore<E>,
    /// Indexes of finalized outputs.
    pub store: Store,
    /// Pending transactions.
    pub mempool: Mutex<Mempool>,
    /// What the mempool admitted and refused.
    pub pool_metrics: PoolMetrics,
    pub(crate) config: ProductionConfig,
    exec: AsyncMutex<()>,
    tip: Mutex<Head>,
    outputs: Mutex<HashMap<Digest, Outputs>>,
    heads: tokio::sync::broadcast::Sender<Head>,
    verified: Mutex<VerifiedCache>,
    to_gossip: mpsc::Sender<SignedTransaction>,
    from_chain: Mutex<Option<mpsc::Receiver<SignedTransaction>>>,
}

/// Hashes of transactions whose signatures this node already checked (at mempool entry), so a
/// block carrying them need not check them again. Bounded; oldest entries go first.
struct VerifiedCache {
    set: std::collections::HashSet<Digest>,
    order: std::collections::VecDeque<Digest>,
    capacity: usize,
}

impl VerifiedCache {
    fn new(capacity: usize) -> Self {
        Self {
            set: Default::default(),
            order: Default::default(),
            capacity,
        }
    }

    fn insert(&mut self, hash: Digest) {
        if self.set.insert(hash) {
            self.order.push_back(hash);
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, hash: &Digest) -> bool {
        self.set.contains(hash)
    }
}

pub(crate) fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The messages root over a block's outbound messages.
pub fn messages_root(messages: &[Message]) -> Digest {
    let leaves: Vec<_> = messages.iter().map(|m| m.encode()).collect();
    veil_crypto::merkle::root(&leaves)
}

impl<E: commonware_storage::Context + Spawner + Clock> LocalChain<E> {
    /// Assembles the chain from opened parts. `tip` is the last finalized block whose state is
    /// committed.
    pub fn new(
        identity: ChainIdentity,
        genesis: Header,
        state: StateStore<E>,
        store: Store,
        tip: Head,
        config: ProductionConfig,
    ) -> Self {
        let (heads, _) = tokio::sync::broadcast::channel(1024);
        let (to_gossip, from_chain) = mpsc::channel(16 * 1024);
        // Entries are needed only until the block carrying them finalizes (seconds): twice the
        // pool is ample, and bounds the cache at a few MB per 10,000 pool slots.
        let verified = VerifiedCache::new(2 * config.mempool_capacity.max(1024));
        Self {
            identity,
            genesis,
            state,
            store,
            mempool: Mutex::new(Mempool::new(config.mempool_capacity)),
            pool_metrics: PoolMetrics::default(),
            config,
            exec: AsyncMutex::new(()),
            tip: Mutex::new(tip),
            outputs: Mutex::new(HashMap::new()),
            heads,
            verified: Mutex::new(verified),
            to_gossip,
            from_chain: Mutex::new(Some(from_chain)),
        }
    }

    /// Transactions accepted over RPC, for the gossip task to send to peers (taken once).
    pub fn take_gossip(&self) -> Option<mpsc::Receiver<SignedTransaction>> {
        self.from_chain.lock().take()
    }

    /// The last finalized block whose state is committed.
    pub fn tip(&self) -> Head {
        *self.tip.lock()
    }

    /// A stream of finalized heads.
    pub fn subscribe_heads(&self) -> tokio::sync::broadcast::Receiver<Head> {
        self.heads.subscribe()
    }

    /// Checks a transaction from a user, adds it to the mempool and gossips it to the other
    /// validators. Returns its hash.
    pub async fn submit(&self, tx: SignedTransaction) -> Result<Digest, SubmitError> {
        self.accept(tx, true).await
    }

    /// Checks a transaction and adds it to the mempool; `announce` (a user's submission, not
    /// a peer's gossip) also queues it for gossip.
    pub async fn accept(
        &self,
        tx: SignedTransaction,
        announce: bool,
    ) -> Result<Digest, SubmitError> {
        let outcome = self.admit(tx, announce).await;
        match &outcome {
            Ok(_) => veil_metrics::inc(
                &self.pool_metrics.admitted,
                "source",
                if announce { "rpc" } else { "gossip" },
            ),
            Err(e) => veil_metrics::inc(&self.pool_metrics.refused, "reason", e.reason()),
        }
        outcome
    }

    async fn admit(&self, tx: SignedTransaction, announce: bool) -> Result<Digest, SubmitError> {
        let hash = tx.hash();
        if self.mempool.lock().contains(&hash) {
            return Err(SubmitError::Pool(crate::mempool::PoolError::Duplicate));
        }
        if !self.verified.lock().contains(&hash) && !tx.verify(&self.identity) {
            return Err(SubmitError::Rejected(veil_chain::TxError::BadSignature));
        }
        let tip = self.tip();
        let admission = {
            let view = self
                .state
                .view()
                .await
                .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
            let env = BlockEnv {
                chain: self.identity,
                height: tip.height + 1,
                timestamp: tip.timestamp,
                parent: tip.hash,
            };
            match veil_chain::check_transaction(&view, &tx, &env).await {
                Ok(a) => crate::mempool::Admission {
                    account_nonce: a.account.nonce,
                    balance: a.account.free,
                    fee: a.fee,
                    spend: a.spend,
                    height: env.height,
                },
                Err(veil_chain::ExecError::Tx(e)) => return Err(SubmitError::Rejected(e)),
                Err(veil_chain::ExecError::State(e)) => {
                    return Err(SubmitError::Unavailable(e.to_string()));
                }
            }
        };
        self.verified.lock().insert(hash);
        // Only what this pool admitted is gossiped: a refusal here costs peers nothing.
        let gossip = announce.then(|| tx.clone());
        self.mempool.lock().insert(hash, tx, admission)?;
        if let Some(tx) = gossip {
            // Gossip is best effort: if peers fall far behind, they learn of it from the block.
            let _ = self.to_gossip.clone().try_send(tx);
        }
        Ok(hash)
    }

    /// Verifies the signatures of `txs` this node has not checked before (a bounded cache
    /// keeps mempool entries and verified blocks), in one batch; remembers them once they
    /// verify. Returns the index of a bad one.
    fn verify_signatures(&self, txs: &[SignedTransaction]) -> Result<(), usize> {
        let unchecked: Vec<(usize, SignedTransaction)> = {
            let verified = self.verified.lock();
            txs.iter()
                .enumerate()
                .filter(|(_, t)| !verified.contains(&t.hash()))
                .map(|(i, t)| (i, t.clone()))
                .collect()
        };
        let batch: Vec<SignedTransaction> = unchecked.iter().map(|(_, t)| t.clone()).collect();
        veil_chain::verify_signatures(&mut rand::rng(), &self.identity, &batch)
            .map_err(|i| unchecked[i].0)?;
        let mut verified = self.verified.lock();
        for (_, t) in unchecked {
            verified.insert(t.hash());
        }
        Ok(())
    }

    /// The genesis block.
    pub fn genesis_block(&self) -> Block {
        Block {
            header: self.genesis.clone(),
            transactions: Vec::new(),
        }
    }

    /// Executes `block` on `base` (`None` = finalized state) and checks every root in its header.
    async fn replay(&self, base: Option<&Digest>, block: &Block) -> Result<(), Unavailable> {
        let header = &block.header;
        let env = BlockEnv {
            chain: self.identity,
            height: header.height,
            timestamp: header.timestamp,
            parent: header.parent,
        };
        let executed = match self
            .state
            .execute(base, header.parent, &env, &block.transactions)
            .await
        {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => return Err(Unavailable::Invalid(e.to_string())),
            Err(e) => return Err(Unavailable::Abstain(e.to_string())),
        };
        if executed.root != header.state_root {
            return Err(Unavailable::Invalid(format!(
                "state root mismatch: header {} executed {}",
                header.state_root, executed.root
            )));
        }
        let mroot = messages_root(&executed.outcome.messages);
        if mroot != header.messages_root {
            return Err(Unavailable::Invalid("messages root mismatch".into()));
        }
        let hash = block.hash();
        self.state.insert_pending(hash, header.height, &executed);
        self.outputs.lock().insert(
            hash,
            Outputs {
                height: header.height,
                messages: executed.outcome.messages,
                receipts: executed.outcome.receipts,
            },
        );
        Ok(())
    }

    /// Makes the state after `parent` available; returns the pending key to build on (`None`
    /// for the finalized state). Re-executes unfinalized ancestors we have not executed.
    async fn ensure_state(
        &self,
        parent: &Digested<Block>,
        ancestry: &mut impl Ancestry<Block>,
    ) -> Result<Option<Digest>, Unavailable> {
        let tip = self.tip();
        let hash = parent.digest();
        if hash == tip.hash {
            return Ok(None);
        }
        if self.state.is_pending(&hash) {
            return Ok(Some(hash));
        }
        if parent.inner().header.height <= tip.height {
            return Err(Unavailable::Conflict);
        }
        let mut missing = vec![parent.clone()];
        let mut base = loop {
            let Some(b) = ancestry.next().await else {
                return Err(Unavailable::Abstain("ancestry ended".into()));
            };
            let h = b.digest();
            if h == tip.hash {
                break None;
            }
            if self.state.is_pending(&h) {
                break Some(h);
            }
            if b.inner().header.height <= tip.height {
                return Err(Unavailable::Conflict);
            }
            missing.push(b);
        };
        for b in missing.iter().rev() {
            if let Err(i) = self.verify_signatures(&b.inner().transactions) {
                return Err(Unavailable::Invalid(format!("bad signature in tx {i}")));
            }
            self.replay(base.as_ref(), b.inner()).await?;
            base = Some(b.digest());
        }
        Ok(base)
    }

    /// Builds a block on `parent`.
    pub(crate) async fn build(
        &self,
        now: u64,
        parent: &Digested<Block>,
        ancestry: &mut impl Ancestry<Block>,
    ) -> Option<Digested<Block>> {
        let _guard = self.exec.lock().await;
        let base = match self.ensure_state(parent, ancestry).await {
            Ok(b) => b,
            Err(e) => {
                warn!(%e, "cannot build on parent");
                return None;
            }
        };
        let parent_header = &parent.inner().header;
        let height = parent_header.height + 1;
        let timestamp = now.max(parent_header.timestamp + 1);

        // Next nonce of every sender with pending transactions, as of the parent.
        let senders: Vec<AccountId> = self.mempool.lock().senders().cloned().collect();
        let mut nonces = HashMap::with_capacity(senders.len());
        for s in senders {
            match self.state.account_at(base.as_ref(), &s).await {
                Ok(a) => {
                    nonces.insert(s, a.nonce);
                }
                Err(e) => {
                    warn!(%e, "cannot read sender account");
                    return None;
                }
            }
        }
        let params = match self.state.params_at(base.as_ref()).await {
            Ok(p) => p,
            Err(e) => {
                warn!(%e, "cannot read params");
                return None;
            }
        };
        let mut txs = self
            .mempool
            .lock()
            .select(params.max_block_txs as usize, height, |s| {
                nonces.get(s).copied()
            });
        // Stay under the block size limit (header and length prefix take < 256 bytes).
        let mut size = 256;
        if let Some(cut) = txs.iter().position(|t| {
            size += t.encode_size();
            size > MAX_BLOCK_BYTES
        }) {
            txs.truncate(cut);
        }
        let env = BlockEnv {
            chain: self.identity,
            height,
            timestamp,
            parent: parent.digest(),
        };
        let executed = loop {
            match self
                .state
                .execute(base.as_ref(), parent.digest(), &env, &txs)
                .await
            {
                Ok(Ok(e)) => break e,
                Ok(Err(BlockError::InvalidTransaction { index, error })) => {
                    debug!(%error, "dropping transaction that can no longer be included");
                    let bad = txs[index].clone();
                    self.mempool.lock().remove(&bad);
                    txs.truncate(index);
                }
                Ok(Err(e)) => {
                    warn!(%e, "cannot build block");
                    return None;
                }
                Err(e) => {
                    warn!(%e, "state failure while building block");
                    return None;
                }
            }
        };
        let header = Header {
            height,
            parent: parent.digest(),
            timestamp,
            state_root: executed.root,
            transactions_root: veil_primitives::transactions_root(&txs),
            messages_root: messages_root(&executed.outcome.messages),
        };
        let block = Block {
            header,
            transactions: txs,
        };
        let hash = block.hash();
        self.state.insert_pending(hash, height, &executed);
        self.outputs.lock().insert(
            hash,
            Outputs {
                height,
                messages: executed.outcome.messages,
                receipts: executed.outcome.receipts,
            },
        );
        debug!(height, txs = block.transactions.len(), "proposed block");
        Some(Digested::precomputed(block, hash))
    }

    /// Checks a peer's block. `None`: abstain (keep the vote pending).
    pub(crate) async fn check(
        &self,
        block: &Digested<Block>,
        parent: &Digested<Block>,
        ancestry: &mut impl Ancestry<Block>,
    ) -> Option<bool> {
        let b = block.inner();
        let p = parent.inner();
        if b.header.parent != parent.digest() || b.header.height != p.header.height + 1 {
            return Some(false);
        }
        if b.header.timestamp <= p.header.timestamp {
            return Some(false);
        }
        if b.header.transactions_root != veil_primitives::transactions_root(&b.transactions) {
            return Some(false);
        }
        if self.verify_signatures(&b.transactions).is_err() {
            return Some(false);
        }
        let _guard = self.exec.lock().await;
        if self.state.is_pending(&block.digest()) {
            return Some(true);
        }
        let base = match self.ensure_state(parent, ancestry).await {
            Ok(base) => base,
            Err(Unavailable::Conflict) | Err(Unavailable::Invalid(_)) => return Some(false),
            Err(Unavailable::Abstain(e)) => {
                warn!(%e, "abstaining from verification");
                return None;
            }
        };
        match self.replay(base.as_ref(), b).await {
            Ok(()) => Some(true),
            Err(Unavailable::Abstain(e)) => {
                warn!(%e, "abstaining from verification");
                None
            }
            Err(e) => {
                info!(%e, height = b.header.height, "rejected block");
                Some(false)
            }
        }
    }

    /// Applies a finalized block (delivered in height order, possibly twice after a restart).
    pub async fn finalize(&self, block: &Block) -> anyhow::Result<()> {
        let _guard = self.exec.lock().await;
        let header = &block.header;
        let hash = block.hash();
        let committed = self.state.committed();
        if header.height <= committed.height {
            return Ok(());
        }
        if !self.state.is_pending(&hash) {
            let tip = self.tip();
            anyhow::ensure!(
                header.parent == tip.hash,
                "finalized block {} does not extend the finalized tip {}",
                header.height,
                tip.height
            );
            // A finalized block this node never verified: its body is checked like a peer's
            // (the decoder already matched it to the transactions root).
            anyhow::ensure!(
                block.header.transactions_root
                    == veil_primitives::transactions_root(&block.transactions),
                "finalized block {} carries a body its header does not commit to",
                header.height
            );
            if let Err(i) = self.verify_signatures(&block.transactions) {
                anyhow::bail!(
                    "finalized block {} carries a bad signature (transaction {i})",
                    header.height
                );
            }
            self.replay(None, block).await.map_err(|e| {
                anyhow::anyhow!("finalized block {} failed to execute: {e}", header.height)
            })?;
        }
        let outputs = self
            .outputs
            .lock()
            .remove(&hash)
            .ok_or_else(|| anyhow::anyhow!("outputs of block {} missing", header.height))?;
        self.store.put_outputs(
            header.height,
            &hash,
            header.timestamp,
            &outputs.messages,
            &outputs.receipts,
        )?;
        self.state
            .finalize(&hash, header.height, header.parent)
            .await?;
        self.outputs.lock().retain(|_, o| o.height > header.height);
        self.set_tip(header, hash);

        // Drop what this block made obsolete from the mempool.
        let senders: Vec<AccountId> = self.mempool.lock().senders().cloned().collect();
        let mut nonces = HashMap::with_capacity(senders.len());
        for s in senders {
            let a = self.state.account_at(None, &s).await?;
            nonces.insert(s, a.nonce);
        }
        self.mempool
            .lock()
            .prune(header.height, |s| nonces.get(s).copied().unwrap_or(0));
        Ok(())
    }

    fn set_tip(&self, header: &Header, hash: Digest) {
        let head = Head {
            height: header.height,
            hash,
            timestamp: header.timestamp,
        };
        *self.tip.lock() = head;
        let _ = self.heads.send(head);
    }
}
