//! The node API's answers, in JSON.
//!
//! Byte strings travel as `0x`-prefixed hex and amounts as decimal strings. Conversions from
//! the chain's own types live here, so the node and anything else that serves or simulates the
//! API (the launch simulation) build identical answers.

use commonware_codec::Encode as _;
use serde::{Deserialize, Serialize};
use veil_primitives::{
    AccountId, Destination, Election, GenesisNodeStatus, Header, KeyHolder, Message, Origin,
    TeeKind, WorkerInfo, to_hex,
};

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

/// Whether a state proof shows a value present or absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProofKind {
    /// The value is present.
    Inclusion,
    /// The key has no value.
    Exclusion,
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
    /// Whether the proof shows the value present or the key absent.
    pub proof_kind: ProofKind,
    /// Encoded proof.
    pub proof: String,
}

/// One outbound message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageView {
    /// `account:0x..`, `worker:0x..`, `gatekeepers` or `chain`.
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
            Origin::Contract(c) => format!("contract:{}", to_hex(c)),
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
    /// Rewards received from the eras' reward pools, in all (decimal string).
    #[serde(default)]
    pub rewards: String,
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
    /// The stake this account has behind gatekeepers of the latest election, as recorded at
    /// the election: `[gatekeeper, stake (decimal string)]`. It shares their slashes and
    /// rewards until the next election.
    #[serde(default)]
    pub exposure: Vec<(String, String)>,
}

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// In this node's mempool.
    Pending,
    /// In a finalized block.
    Finalized,
    /// Neither: never seen, dropped, or expired.
    Unknown,
}

/// A transaction's status.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransactionView {
    /// Hash.
    pub hash: String,
    /// Where it is.
    pub status: TxStatus,
    /// Block height once finalized.
    pub height: Option<u64>,
    /// Position in the block.
    pub index: Option<u32>,
    /// Fee paid into the reward pool (decimal string).
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
    /// Inclusion proof of the chain record (chain id and group key) under the genesis state
    /// root.
    pub chain_proof: String,
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

/// Whether the network launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseView {
    /// Before every elected gatekeeper confirmed the root key: contracts are disabled.
    Prelaunch,
    /// Every gatekeeper of a round holds the root key.
    Launched,
}

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
    /// Whether genesis lets dev-attested workers be gatekeepers (devnets only: such a
    /// gatekeeper's host can read the root key).
    pub insecure_gatekeepers: bool,
    /// Latest gatekeeper election round (0 before the first election).
    pub election_round: u64,
    /// Gatekeepers elected in that round.
    pub gatekeepers: usize,
    /// `prelaunch` until every elected gatekeeper confirmed the root key, then `launched`.
    pub phase: PhaseView,
    /// Root-key era (`null` before launch).
    pub era: Option<u64>,
    /// The genesis node: `active` before launch, `retired` after (it wipes the root key when
    /// it sees the launch), `none` if genesis named none.
    pub genesis: GenesisNodeStatus,
    /// Gatekeepers of the current round that confirmed the root key.
    pub confirmed_gatekeepers: usize,
    /// Divergences between gatekeepers' copies recorded by the chain.
    pub divergences: u64,
    /// Responsiveness monitoring: the current era and the last judged one.
    #[serde(default)]
    pub liveness: LivenessView,
}

/// Responsiveness monitoring in `veil_status` (`docs/protocol/liveness.md`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LivenessView {
    /// The current era (the election period: `height / election_period_blocks`).
    pub era: u64,
    /// The first height of the next era, when this one is judged.
    pub ends_at: u64,
    /// The last era judged, if any.
    pub last: Option<EraView>,
}

/// A judged era.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EraView {
    /// The era.
    pub era: u64,
    /// Workers registered for the whole era.
    pub judged: u32,
    /// Of which found unresponsive.
    pub unresponsive: u32,
    /// The busiest worker's activity.
    pub max: u64,
}

/// A worker's activity (routed side effects) in the current and the last era.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActivityView {
    /// The current era.
    pub era: u64,
    /// Its activity so far in `era`.
    pub current: u64,
    /// Its activity in `era - 1`.
    pub last: u64,
}

/// One elected gatekeeper.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ElectedView {
    /// Identity key.
    pub worker: String,
    /// X25519 key.
    pub ecdh_key: String,
}

/// A gatekeeper election result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ElectionView {
    /// Round, from 1.
    pub round: u64,
    /// Height of the block that ran it.
    pub height: u64,
    /// Elected workers, in election order.
    pub gatekeepers: Vec<ElectedView>,
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

impl ElectionView {
    /// The view of `e`, given the last closed round and the confirmations of the current one.
    pub fn new(e: &Election, closed_round: u64, confirmed: &[AccountId]) -> Self {
        Self {
            round: e.round,
            height: e.height,
            gatekeepers: e
                .gatekeepers
                .iter()
                .map(|g| ElectedView {
                    worker: to_hex(&g.worker),
                    ecdh_key: to_hex(g.ecdh_key),
                })
                .collect(),
            deadline: e.deadline,
            holders: e.holders.iter().map(KeyHolderView::from).collect(),
            key_check: to_hex(e.key_check),
            closed: e.round <= closed_round,
            confirmed: confirmed.iter().map(to_hex).collect(),
        }
    }

    /// `worker`'s (hex) position in the election order.
    pub fn position(&self, worker: &str) -> Option<usize> {
        self.gatekeepers.iter().position(|g| g.worker == worker)
    }
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
    /// The TEE the chain verified for it (`null`: none).
    pub tee: Option<veil_primitives::TeeKind>,
}

impl From<&KeyHolder> for KeyHolderView {
    fn from(h: &KeyHolder) -> Self {
        Self {
            worker: to_hex(&h.worker),
            ecdh_key: to_hex(h.ecdh_key),
            endpoint: h.endpoint.clone(),
            tee: h.tee,
        }
    }
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

/// A contract's public record (`veil_getContract`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContractView {
    /// The contract id (hex).
    pub contract: String,
    /// Its developer (hex).
    pub developer: String,
    /// Its code hash (hex).
    pub code: String,
    /// The miner that runs it (hex).
    pub miner: String,
    /// Assignments since creation (0: its first miner).
    pub assignment: u64,
    /// Height of the current assignment.
    pub assigned_at: u64,
    /// Whether the gatekeepers granted the current miner the contract key.
    pub granted: bool,
    /// Whether its developer's `init` has been routed.
    pub initialized: bool,
    /// Messages routed to or from it so far.
    pub log_count: u64,
    /// Its log hash (hex).
    pub log_hash: String,
    /// Its latest complete checkpoint.
    pub checkpoint: Option<CheckpointRecordView>,
    /// The chain's `checkpoint_interval`: blocks between its miner's checkpoints.
    pub checkpoint_interval: u64,
}

/// The chain's record of a contract checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointRecordView {
    /// Height whose state it holds.
    pub height: u64,
    /// Its log position.
    pub log_count: u64,
    /// Its state root (hex).
    pub root: String,
    /// Sealed size in bytes.
    pub size: u32,
    /// The miner that made it (hex).
    pub miner: String,
}

/// A contract's latest checkpoint (`veil_getCheckpoint`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckpointView {
    /// The contract id (hex).
    pub contract: String,
    /// Its record.
    pub record: CheckpointRecordView,
    /// The record, encoded (`CheckpointInfo`, hex): what a recovering miner checks it under.
    pub encoded: String,
    /// The sealed checkpoint (hex).
    pub sealed: String,
}

/// A registered worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerView {
    /// Signing key (its identity).
    pub worker: String,
    /// X25519 key.
    pub ecdh_public_key: String,
    /// TEE kind.
    pub tee: TeeKind,
    /// Measurement.
    pub measurement: String,
    /// TCB status at registration (`dev` for dev evidence).
    pub tcb_status: String,
    /// Intel's TCB evaluation its collateral came from (0 for dev evidence): governance's
    /// `min_tcb_evaluation` above it would deregister it.
    #[serde(default)]
    pub tcb_evaluation: u32,
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
    /// Its activity in the current and the last era (`null` in lists).
    #[serde(default)]
    pub activity: Option<ActivityView>,
    /// Whose contracts it takes as a miner (its operator's policy): `null` for anyone's, else
    /// only these developers' (none if empty).
    #[serde(default)]
    pub developers: Option<Vec<String>>,
}

impl ContractView {
    /// The view of contract `id`'s record under a `checkpoint_interval` of `interval`.
    pub fn new(
        id: &veil_primitives::Digest,
        c: &veil_primitives::contract::ContractInfo,
        interval: u64,
    ) -> Self {
        Self {
            contract: to_hex(id),
            developer: to_hex(&c.developer),
            code: to_hex(c.code),
            miner: to_hex(&c.miner),
            assignment: c.assignment,
            assigned_at: c.assigned_at,
            granted: c.granted,
            initialized: c.initialized,
            log_count: c.log.count,
            log_hash: to_hex(c.log.hash),
            checkpoint: c.checkpoint.as_ref().map(CheckpointRecordView::new),
            checkpoint_interval: interval,
        }
    }
}

impl CheckpointRecordView {
    /// The view of a checkpoint record.
    pub fn new(c: &veil_primitives::contract::CheckpointInfo) -> Self {
        Self {
            height: c.height,
            log_count: c.log.count,
            root: to_hex(c.root),
            size: c.size,
            miner: to_hex(&c.miner),
        }
    }
}

impl WorkerView {
    /// The view of worker `id`'s registry entry and miner policy.
    pub fn new(
        id: &AccountId,
        w: &WorkerInfo,
        policy: &veil_primitives::contract::MinerPolicy,
        next_sequence: Option<u64>,
    ) -> Self {
        Self {
            worker: to_hex(id),
            ecdh_public_key: to_hex(w.ecdh_key),
            tee: w.tee,
            measurement: to_hex(&w.measurement),
            tcb_status: w.tcb_status.clone(),
            tcb_evaluation: w.tcb_evaluation,
            insecure: w.insecure,
            endpoint: w.endpoint.clone(),
            operator: to_hex(&w.operator),
            registered_at: w.registered_at,
            expiry: w.expiry,
            next_sequence,
            activity: None,
            developers: match policy {
                veil_primitives::contract::MinerPolicy::Open => None,
                veil_primitives::contract::MinerPolicy::Developers(list) => {
                    Some(list.iter().map(to_hex).collect())
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: T) -> String {
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn enums_keep_their_json_strings() {
        assert_eq!(json(TxStatus::Pending), "\"pending\"");
        assert_eq!(json(TxStatus::Finalized), "\"finalized\"");
        assert_eq!(json(TxStatus::Unknown), "\"unknown\"");
        assert_eq!(json(ProofKind::Inclusion), "\"inclusion\"");
        assert_eq!(json(ProofKind::Exclusion), "\"exclusion\"");
        assert_eq!(json(PhaseView::Prelaunch), "\"prelaunch\"");
        assert_eq!(json(PhaseView::Launched), "\"launched\"");
        assert_eq!(json(GenesisNodeStatus::Active), "\"active\"");
        assert_eq!(json(GenesisNodeStatus::Retired), "\"retired\"");
        assert_eq!(json(GenesisNodeStatus::None), "\"none\"");
    }
}
