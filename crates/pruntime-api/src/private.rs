//! The host's API: what an untrusted host may ask of its pRuntime. Bind it to loopback.
//!
//! Every input is untrusted: pRuntime bounds sizes, decodes with limits and checks every block
//! it is given; a refused call changes nothing.

#[cfg(any(feature = "client", feature = "server"))]
#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::{Deserialize, Serialize};
use veil_primitives::{GenesisNodeStatus, TeeKind};

/// `InitRuntime` parameters: the chain to follow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InitRequest {
    /// Chain id.
    pub chain_id: u64,
    /// Encoded genesis header.
    pub genesis_header: String,
    /// Encoded consensus group key.
    pub group_key: String,
    /// Inclusion proof of the chain record (chain id and group key) under the genesis state
    /// root.
    pub chain_proof: String,
}

/// `SyncBlockchain` parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Encoded consecutive headers.
    pub headers: Vec<String>,
    /// Encoded finalization of the last header.
    pub certificate: String,
    /// Encoded outbound messages of each block.
    pub messages: Vec<Vec<String>>,
    /// Wasm modules (hex) of contracts the batch assigns to this worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<String>,
}

/// `SyncBlockchain` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Height synced to.
    pub synced_height: u64,
    /// Messages in the batch addressed to this worker.
    pub messages_for_worker: usize,
    /// Signed egress waiting to be posted (the host posts before syncing much further).
    #[serde(default)]
    pub egress_pending: usize,
}

/// `GetIdentity` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityView {
    /// Signing public key.
    pub public_key: String,
    /// ECDH public key.
    pub ecdh_public_key: String,
    /// TEE kind.
    pub tee: TeeKind,
    /// Dev mode.
    pub insecure: bool,
    /// Measurement.
    pub measurement: String,
}

/// `GetRAQuote` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuoteView {
    /// Encoded evidence.
    pub evidence: String,
    /// The block hash bound into the report data.
    pub block_hash: String,
}

/// `StartKeyRequest` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRequestView {
    /// The holder's identity key.
    pub holder: String,
    /// The holder's public API URL.
    pub endpoint: String,
    /// The election round.
    pub round: u64,
    /// First Noise message (hex), for the holder's `public_RequestRootKey`.
    pub message: String,
}

/// `FinishKeyRequest` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyReceivedView {
    /// Era of the root key.
    pub era: u64,
    /// Its check (hex), as the chain knows it.
    pub key_check: String,
}

/// `Bootstrap` parameters: the chain the genesis node will belong to, dealt before it is
/// bootstrapped. It follows no other chain and hands the root key out under no other.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrapRequest {
    /// Chain id.
    pub chain_id: u64,
    /// Encoded consensus group key (hex).
    pub group_key: String,
}

/// `Bootstrap` result: the public genesis identity `pk_g`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootstrapView {
    /// ed25519 key (hex).
    pub genesis_key: String,
    /// X25519 key (hex): the static key of the genesis node's secure channels.
    pub genesis_ecdh_key: String,
    /// Check of the era-0 root key (hex): a hash that names the key without revealing it.
    pub key_check: String,
    /// Whether the role was created by this call (else it already existed).
    pub created: bool,
    /// Encoded `veil_attestation::Evidence` binding the identity, the key check and the chain
    /// (hex). Genesis verification checks it against the registration policy.
    pub evidence: String,
}

/// `GetRegistration` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistrationView {
    /// Encoded `Registration` (evidence inside, collateral empty).
    pub registration: String,
    /// TEE kind of the evidence.
    pub tee: TeeKind,
    /// Height of the attested block.
    pub attested_height: u64,
}

/// One signed egress message and its sequence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EgressView {
    /// Its sequence (the worker's own, or the gatekeepers' stream's).
    pub sequence: u64,
    /// The encoded signed message.
    pub message: String,
}

/// `DumpSideEffect` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SideEffectsView {
    /// Encoded `SignedWorkerMessage`s not yet seen on chain, in sequence order.
    pub messages: Vec<EgressView>,
    /// Registered until this height, as the chain told pRuntime (`null`: not registered).
    pub registered_until: Option<u64>,
    /// Encoded `SignedGatekeeperMessage`s: this gatekeeper's copies of the gatekeepers'
    /// messages not yet seen on chain, in sequence order.
    #[serde(default)]
    pub gatekeeper_messages: Vec<EgressView>,
    /// Encoded `SignedContractEgress`es: messages and replies of the contracts this worker
    /// runs that the chain has not routed, each channel in sequence order (`sequence` is the
    /// channel's); at most `limits::MAX_CONTRACT_EGRESS_VIEW`.
    #[serde(default)]
    pub contract_messages: Vec<EgressView>,
    /// The contracts this worker runs or recovers.
    #[serde(default)]
    pub contracts: Vec<ContractStatusView>,
}

/// A contract this worker runs, as `DumpSideEffect` lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContractStatusView {
    /// The contract id (hex).
    pub contract: String,
    /// Whether the contract key was granted here.
    pub has_key: bool,
    /// Log entries its state includes.
    pub log_count: u64,
    /// Set while it recovers: the log position its recovery must reach (the chain's when it
    /// assigned the contract here) and the height of the checkpoint it starts from.
    pub recovering: Option<RecoveringView>,
}

/// What a recovering contract needs from its host.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoveringView {
    /// Height of the checkpoint to start from (`null`: none; start from the first entry).
    pub checkpoint_height: Option<u64>,
    /// The checkpoint's log position: entries from here on are needed.
    pub from_count: u64,
    /// The log position the entries must reach.
    pub to_count: u64,
    /// The log position this worker has seen: a later checkpoint can be used up to here.
    pub synced_count: u64,
}

/// `GetCheckpoint` result: a checkpoint of one contract as of pRuntime's last synced block.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointView {
    /// The contract id (hex).
    pub contract: String,
    /// The height whose state it holds.
    pub height: u64,
    /// Its log position.
    pub log_count: u64,
    /// Sealed size in bytes.
    pub size: u32,
    /// Encoded `SignedCheckpointChunk`s, in order: one transaction each.
    pub chunks: Vec<String>,
}

/// `RecoverContract` request: what the chain has for a contract assigned here.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoverRequest {
    /// The contract id (hex).
    pub contract: String,
    /// The checkpoint to start from: the chain's latest, which is the one the assignment named
    /// or a later one (`null` when the chain has none).
    pub checkpoint: Option<RecoverCheckpoint>,
    /// The contract's log entries after the checkpoint up to the assignment, in order: each an
    /// encoded `LogEntry` (hex), as `veil_getContractLog` serves them, after those staged with
    /// `StageRecoveryEntries`. None when the checkpoint was made after the assignment.
    pub entries: Vec<String>,
    /// How many entries were staged for this recovery with `StageRecoveryEntries`; they come
    /// before `entries`. 0 ignores any staged by an earlier attempt.
    #[serde(default)]
    pub staged: u64,
}

/// `StageRecoveryEntries` request: a part of a contract's log too large for one
/// `RecoverContract` call.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StageRecoveryRequest {
    /// The contract id (hex).
    pub contract: String,
    /// Entries already staged, after which these go (0 starts over).
    pub offset: u64,
    /// Encoded `LogEntry`s (hex), in log order.
    pub entries: Vec<String>,
}

/// `StageRecoveryEntries` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StagedView {
    /// The contract id (hex).
    pub contract: String,
    /// Entries staged in all.
    pub staged: u64,
}

/// A checkpoint as the chain keeps it (`veil_getCheckpoint`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoverCheckpoint {
    /// The encoded `CheckpointInfo` record (hex).
    pub record: String,
    /// The sealed checkpoint (hex).
    pub sealed: String,
}

/// `RecoverContract` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoveredView {
    /// The contract id (hex).
    pub contract: String,
    /// Log entries its state now includes.
    pub log_count: u64,
    /// Height of the last block that ran one of its commands.
    pub height: u64,
}

/// `GetSyncState` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncStateView {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: String,
    /// Last synced height.
    pub synced_height: u64,
    /// Hash of the last synced block.
    pub synced_hash: String,
    /// Whether the latest verified election elected this worker.
    #[serde(default)]
    pub elected: bool,
    /// Whether it holds the root key the election names.
    #[serde(default)]
    pub holds_root_key: bool,
    /// Whether the network launched.
    #[serde(default)]
    pub launched: bool,
    /// `active` or `retired` if this is the genesis node.
    #[serde(default)]
    pub genesis: Option<GenesisNodeStatus>,
}

/// The host's API.
#[cfg(any(feature = "client", feature = "server"))]
#[cfg_attr(all(feature = "client", feature = "server"), rpc(client, server))]
#[cfg_attr(all(feature = "client", not(feature = "server")), rpc(client))]
#[cfg_attr(all(feature = "server", not(feature = "client")), rpc(server))]
pub trait PrivateApi {
    /// Sets the chain to follow.
    #[method(name = "InitRuntime")]
    async fn init_runtime(&self, request: InitRequest) -> RpcResult<()>;
    /// Feeds a batch of finalized blocks.
    #[method(name = "SyncBlockchain")]
    async fn sync_blockchain(&self, request: SyncRequest) -> RpcResult<SyncResponse>;
    /// Attestation evidence bound to a recently synced block.
    #[method(name = "GetRAQuote")]
    async fn get_ra_quote(&self, block_hash: String) -> RpcResult<QuoteView>;
    /// The worker identity.
    #[method(name = "GetIdentity")]
    async fn get_identity(&self) -> RpcResult<IdentityView>;
    /// Sync progress (`null` before `InitRuntime`).
    #[method(name = "GetSyncState")]
    async fn get_sync_state(&self) -> RpcResult<Option<SyncStateView>>;
    /// A signed registration for `operator` at `endpoint`, attesting the last synced block.
    #[method(name = "GetRegistration")]
    async fn get_registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> RpcResult<RegistrationView>;
    /// Signed egress messages not yet seen on chain, in sequence order.
    #[method(name = "DumpSideEffect")]
    async fn dump_side_effect(&self) -> RpcResult<SideEffectsView>;
    /// Takes the genesis role for one chain (once per network): seals a genesis identity and
    /// the era-0 root key bound to that chain, and reveals the identity's public keys only.
    #[method(name = "Bootstrap")]
    async fn bootstrap(&self, request: BootstrapRequest) -> RpcResult<BootstrapView>;
    /// Starts fetching the root key (elected gatekeepers only): the first Noise message and
    /// the holder to deliver it to.
    #[method(name = "StartKeyRequest")]
    async fn start_key_request(&self) -> RpcResult<KeyRequestView>;
    /// Completes the key request with the holder's answer; seals the key and confirms
    /// readiness on chain (through egress).
    #[method(name = "FinishKeyRequest")]
    async fn finish_key_request(&self, answer: String) -> RpcResult<KeyReceivedView>;

    /// A checkpoint of a contract this worker runs, as of its last synced block, in signed
    /// chunks for the host to post.
    #[method(name = "GetCheckpoint")]
    async fn get_checkpoint(&self, contract: String) -> RpcResult<CheckpointView>;

    /// Recovers a contract assigned here from another miner: the checkpoint and log entries
    /// the assignment names. Refused, changing nothing, unless all of it checks out.
    #[method(name = "RecoverContract")]
    async fn recover_contract(&self, request: RecoverRequest) -> RpcResult<RecoveredView>;

    /// Stages log entries for a recovery whose log is too large for one `RecoverContract`
    /// call; they run only once that call completes the recovery and everything checks.
    #[method(name = "StageRecoveryEntries")]
    async fn stage_recovery_entries(&self, request: StageRecoveryRequest) -> RpcResult<StagedView>;
}
