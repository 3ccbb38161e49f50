//! The host's two peers, as traits: the chain (a node's API) and the worker (its pRuntime's
//! private API), plus the other parties it reaches for its worker ([Peers]: key holders' public
//! APIs, the dev RA service, a PCCS).
//!
//! The duties are written against these traits, so the same code runs over JSON-RPC in
//! `veil host` (the impls here for [HttpClient] and [HttpPeers]) and in process in the
//! deterministic launch simulation.

use std::{future::Future, time::Duration};

use jsonrpsee::{
    core::ClientError,
    http_client::{HttpClient, HttpClientBuilder},
};
use veil_pruntime_api::{
    IdentityView, InitRequest, KeyAnswerView, KeyReceivedView, KeyRequestView, PrivateApiClient,
    PublicApiClient as _, RecoverRequest, RecoveredView, RegistrationView, SideEffectsView,
    StageRecoveryRequest, StagedView, SyncRequest, SyncResponse, SyncStateView,
    limits::MAX_PRIVATE_REQUEST_BYTES, ra::RaServiceApiClient as _,
};
use veil_rpc_api::{
    AccountView, CheckpointView, ContractView, ElectionView, GatekeeperStreamView, GenesisView,
    StakingView, StatusView, SyncBatchView, TransactionView, VeilApiClient, WorkerView,
    limits::MAX_RESPONSE_BYTES,
};

/// A call that failed: refused by the peer, or the peer could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The peer refused; `message` is its reason.
    #[error("{message}")]
    Refused {
        /// The peer's error code.
        code: i32,
        /// The peer's reason.
        message: String,
    },
    /// The peer could not be reached, or answered something else than expected.
    #[error("{0}")]
    Unavailable(String),
}

impl From<ClientError> for PortError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Call(object) => Self::Refused {
                code: object.code(),
                message: object.message().to_string(),
            },
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// What the host asks of the chain.
pub trait ChainClient: Send + Sync {
    /// The genesis header, group key and the proof binding them.
    fn genesis(&self) -> impl Future<Output = Result<GenesisView, PortError>> + Send;
    /// The node's status (its finalized height, above all).
    fn status(&self) -> impl Future<Output = Result<StatusView, PortError>> + Send;
    /// Finalized blocks from `from`, at most `max`, with messages and a certificate.
    fn sync_batch(
        &self,
        from: u64,
        max: u64,
    ) -> impl Future<Output = Result<Option<SyncBatchView>, PortError>> + Send;
    /// A registered worker (hex id).
    fn worker(
        &self,
        worker: String,
    ) -> impl Future<Output = Result<Option<WorkerView>, PortError>> + Send;
    /// An account (hex id).
    fn account(
        &self,
        account: String,
    ) -> impl Future<Output = Result<AccountView, PortError>> + Send;
    /// An account's staking (hex id).
    fn staking(
        &self,
        account: String,
    ) -> impl Future<Output = Result<StakingView, PortError>> + Send;
    /// A transaction's status (hex hash).
    fn transaction(
        &self,
        hash: String,
    ) -> impl Future<Output = Result<TransactionView, PortError>> + Send;
    /// The latest gatekeeper election.
    fn election(&self) -> impl Future<Output = Result<Option<ElectionView>, PortError>> + Send;
    /// The gatekeepers' shared stream.
    fn gatekeeper_stream(
        &self,
    ) -> impl Future<Output = Result<GatekeeperStreamView, PortError>> + Send;
    /// A valid contract module (hex) by code hash (hex).
    fn code(&self, hash: String) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Submits an encoded signed transaction (hex); returns its hash.
    fn submit(&self, tx: String) -> impl Future<Output = Result<String, PortError>> + Send;
    /// A contract's record (hex id).
    fn contract(
        &self,
        contract: String,
    ) -> impl Future<Output = Result<Option<ContractView>, PortError>> + Send;
    /// A contract's latest complete checkpoint (hex id).
    fn checkpoint(
        &self,
        contract: String,
    ) -> impl Future<Output = Result<Option<CheckpointView>, PortError>> + Send;
    /// A contract's log entries (encoded, hex) in blocks from `from` on: whole blocks, at
    /// most about `max` entries.
    fn contract_log(
        &self,
        contract: String,
        from: u64,
        max: u64,
    ) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
}

/// What the host asks of its pRuntime (the private API).
pub trait WorkerClient: Send + Sync {
    /// The worker identity.
    fn identity(&self) -> impl Future<Output = Result<IdentityView, PortError>> + Send;
    /// Sync progress (`None` before `InitRuntime`).
    fn sync_state(&self) -> impl Future<Output = Result<Option<SyncStateView>, PortError>> + Send;
    /// Sets the chain to follow.
    fn init(&self, request: InitRequest) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Feeds a batch of finalized blocks.
    fn sync(
        &self,
        request: SyncRequest,
    ) -> impl Future<Output = Result<SyncResponse, PortError>> + Send;
    /// A signed registration for `operator` at `endpoint`.
    fn registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> impl Future<Output = Result<RegistrationView, PortError>> + Send;
    /// Signed egress not yet seen on chain.
    fn side_effects(&self) -> impl Future<Output = Result<SideEffectsView, PortError>> + Send;
    /// Starts a root-key request (elected gatekeepers).
    fn start_key_request(&self) -> impl Future<Output = Result<KeyRequestView, PortError>> + Send;
    /// Completes a root-key request with the holder's answer (hex).
    fn finish_key_request(
        &self,
        answer: String,
    ) -> impl Future<Output = Result<KeyReceivedView, PortError>> + Send;
    /// A checkpoint of a contract this worker runs, in signed chunks.
    fn checkpoint(
        &self,
        contract: String,
    ) -> impl Future<Output = Result<veil_pruntime_api::CheckpointView, PortError>> + Send;
    /// Recovers a contract assigned here from the chain's checkpoint and log.
    fn recover(
        &self,
        request: RecoverRequest,
    ) -> impl Future<Output = Result<RecoveredView, PortError>> + Send;
    /// Stages a part of a recovering contract's log too large for one [Self::recover].
    fn stage_recovery(
        &self,
        request: StageRecoveryRequest,
    ) -> impl Future<Output = Result<StagedView, PortError>> + Send;
}

/// The other parties a host reaches for its worker.
pub trait Peers: Send + Sync {
    /// Delivers a Noise key request (hex) to the key holder at `endpoint`.
    fn request_root_key(
        &self,
        endpoint: &str,
        message: String,
    ) -> impl Future<Output = Result<KeyAnswerView, PortError>> + Send;
    /// Has the dev RA service at `url` sign dev evidence (hex); returns the signed quote.
    fn sign_dev_quote(
        &self,
        url: &str,
        evidence: String,
    ) -> impl Future<Output = Result<String, PortError>> + Send;
    /// DCAP collateral for `quote` from the PCCS at `url` (the `dcap-qvl` JSON form).
    fn collateral(
        &self,
        url: &str,
        quote: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, PortError>> + Send;
}

/// An HTTP JSON-RPC client for `url` that takes answers of at most `max_response` bytes.
pub fn http(url: &str, max_response: u32) -> Result<HttpClient, PortError> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(60))
        .max_request_size(MAX_PRIVATE_REQUEST_BYTES)
        .max_response_size(max_response)
        .build(url)
        .map_err(|e| PortError::Unavailable(format!("bad URL {url}: {e}")))
}

/// A client for a node: answers up to the node's own limit.
pub fn node(url: &str) -> Result<HttpClient, PortError> {
    http(url, MAX_RESPONSE_BYTES)
}

/// A client for this host's pRuntime: sync batches go out, small answers come back.
pub fn pruntime(url: &str) -> Result<HttpClient, PortError> {
    http(url, MAX_PRIVATE_REQUEST_BYTES)
}

/// A client for an endpoint the chain names (another worker's public API): plain `http` or
/// `https` only, and small answers.
pub fn peer(url: &str) -> Result<HttpClient, PortError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(PortError::Unavailable(format!(
            "refusing endpoint {url:?}: only http:// and https:// are reached"
        )));
    }
    http(url, MAX_PEER_RESPONSE_BYTES)
}

/// Largest answer accepted from another worker's public API or the dev RA service.
pub const MAX_PEER_RESPONSE_BYTES: u32 = 1024 * 1024;

impl ChainClient for HttpClient {
    async fn genesis(&self) -> Result<GenesisView, PortError> {
        Ok(VeilApiClient::genesis(self).await?)
    }
    async fn status(&self) -> Result<StatusView, PortError> {
        Ok(VeilApiClient::status(self).await?)
    }
    async fn sync_batch(&self, from: u64, max: u64) -> Result<Option<SyncBatchView>, PortError> {
        Ok(self.get_sync_batch(from, max).await?)
    }
    async fn worker(&self, worker: String) -> Result<Option<WorkerView>, PortError> {
        Ok(self.get_worker(worker).await?)
    }
    async fn account(&self, account: String) -> Result<AccountView, PortError> {
        Ok(self.get_account(account).await?)
    }
    async fn staking(&self, account: String) -> Result<StakingView, PortError> {
        Ok(self.get_staking(account).await?)
    }
    async fn transaction(&self, hash: String) -> Result<TransactionView, PortError> {
        Ok(self.get_transaction(hash).await?)
    }
    async fn election(&self) -> Result<Option<ElectionView>, PortError> {
        Ok(VeilApiClient::election(self).await?)
    }
    async fn gatekeeper_stream(&self) -> Result<GatekeeperStreamView, PortError> {
        Ok(VeilApiClient::gatekeeper_stream(self).await?)
    }
    async fn code(&self, hash: String) -> Result<Option<String>, PortError> {
        Ok(self.get_code(hash).await?)
    }
    async fn submit(&self, tx: String) -> Result<String, PortError> {
        Ok(self.submit_transaction(tx).await?)
    }
    async fn contract(&self, contract: String) -> Result<Option<ContractView>, PortError> {
        Ok(self.get_contract(contract).await?)
    }
    async fn checkpoint(&self, contract: String) -> Result<Option<CheckpointView>, PortError> {
        Ok(VeilApiClient::get_checkpoint(self, contract).await?)
    }
    async fn contract_log(
        &self,
        contract: String,
        from: u64,
        max: u64,
    ) -> Result<Vec<String>, PortError> {
        Ok(self.get_contract_log(contract, from, max).await?)
    }
}

impl WorkerClient for HttpClient {
    async fn identity(&self) -> Result<IdentityView, PortError> {
        Ok(PrivateApiClient::get_identity(self).await?)
    }
    async fn sync_state(&self) -> Result<Option<SyncStateView>, PortError> {
        Ok(self.get_sync_state().await?)
    }
    async fn init(&self, request: InitRequest) -> Result<(), PortError> {
        Ok(self.init_runtime(request).await?)
    }
    async fn sync(&self, request: SyncRequest) -> Result<SyncResponse, PortError> {
        Ok(self.sync_blockchain(request).await?)
    }
    async fn registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> Result<RegistrationView, PortError> {
        Ok(self.get_registration(operator, endpoint).await?)
    }
    async fn side_effects(&self) -> Result<SideEffectsView, PortError> {
        Ok(self.dump_side_effect().await?)
    }
    async fn start_key_request(&self) -> Result<KeyRequestView, PortError> {
        Ok(PrivateApiClient::start_key_request(self).await?)
    }
    async fn finish_key_request(&self, answer: String) -> Result<KeyReceivedView, PortError> {
        Ok(PrivateApiClient::finish_key_request(self, answer).await?)
    }
    async fn checkpoint(
        &self,
        contract: String,
    ) -> Result<veil_pruntime_api::CheckpointView, PortError> {
        Ok(PrivateApiClient::get_checkpoint(self, contract).await?)
    }
    async fn recover(&self, request: RecoverRequest) -> Result<RecoveredView, PortError> {
        Ok(self.recover_contract(request).await?)
    }
    async fn stage_recovery(&self, request: StageRecoveryRequest) -> Result<StagedView, PortError> {
        Ok(self.stage_recovery_entries(request).await?)
    }
}

/// The real network: each call opens an HTTP client to the URL it is given.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpPeers;

impl Peers for HttpPeers {
    async fn request_root_key(
        &self,
        endpoint: &str,
        message: String,
    ) -> Result<KeyAnswerView, PortError> {
        Ok(peer(endpoint)?.request_root_key(message).await?)
    }

    async fn sign_dev_quote(&self, url: &str, evidence: String) -> Result<String, PortError> {
        Ok(http(url, MAX_PEER_RESPONSE_BYTES)?
            .sign_dev_quote(evidence)
            .await?)
    }

    async fn collateral(&self, url: &str, quote: &[u8]) -> Result<Vec<u8>, PortError> {
        let client = crate::pccs::client().map_err(|e| PortError::Unavailable(format!("{e:#}")))?;
        crate::pccs::fetch_collateral(&client, url, quote)
            .await
            .map_err(|e| PortError::Unavailable(format!("{e:#}")))
    }
}
