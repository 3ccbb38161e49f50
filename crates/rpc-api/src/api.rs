//! The node's methods (`veil_*`). See `docs/rpc.md`.
//!
//! Bad input gets [crate::codes::INVALID_PARAMS] with the reason; refused transactions get
//! [crate::codes::TX_REJECTED] or [crate::codes::POOL_REJECTED] with the chain's or the pool's
//! reason.

#[cfg(feature = "server")]
use jsonrpsee::core::SubscriptionResult;
#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

use crate::views::{
    AccountView, BlockId, BlockView, CheckpointView, ContractView, ElectionView,
    GatekeeperStreamView, GenesisView, HeadView, MessagesView, StakingView, StatusView,
    StorageView, SyncBatchView, TransactionView, WorkerView,
};

/// The node's RPC interface.
#[cfg_attr(
    all(feature = "client", feature = "server"),
    rpc(client, server, namespace = "veil")
)]
#[cfg_attr(
    all(feature = "client", not(feature = "server")),
    rpc(client, namespace = "veil")
)]
#[cfg_attr(
    all(feature = "server", not(feature = "client")),
    rpc(server, namespace = "veil")
)]
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

    /// A valid contract module's bytes (hex) by code hash, from finalized state. Unproved: the
    /// code hash is the check (pRuntime and clients hash what they get).
    #[method(name = "getCode")]
    async fn get_code(&self, hash: String) -> RpcResult<Option<String>>;

    /// A contract's public record: developer, code, miner, assignment, log position and
    /// latest checkpoint, from finalized state. Unproved (`veil_getStorage` proves it).
    #[method(name = "getContract")]
    async fn get_contract(&self, contract: String) -> RpcResult<Option<ContractView>>;

    /// A contract's latest complete checkpoint, sealed (hex), with its record. Unproved: it
    /// opens only under the contract key with the record as associated data.
    #[method(name = "getCheckpoint")]
    async fn get_checkpoint(&self, contract: String) -> RpcResult<Option<CheckpointView>>;

    /// A contract's log: the messages routed to or from it in finalized blocks from height
    /// `from` on, in order, at most `max` (and a bounded number of bytes), each an encoded
    /// `LogEntry` (hex). Unproved: a recovering miner checks them against the chain's log hash.
    #[method(name = "getContractLog")]
    async fn get_contract_log(
        &self,
        contract: String,
        from: u64,
        max: u64,
    ) -> RpcResult<Vec<String>>;

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

    /// Registered workers (at most [crate::limits::MAX_LISTED_WORKERS]).
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

    /// Finalized blocks `from..` (at most `max`, capped at [crate::limits::MAX_SYNC_BATCH])
    /// with messages and the last block's certificate; `null` when `from` is not finalized
    /// and applied yet.
    #[method(name = "getSyncBatch")]
    async fn get_sync_batch(&self, from: u64, max: u64) -> RpcResult<Option<SyncBatchView>>;
}
