//! Every error of the state machine, in one leaf module that imports no other module of the
//! crate, so any module can return any of them without a dependency between modules.
//!
//! Two kinds of failure, never confused: [StateError] (the backend failed; nobody's fault,
//! the block cannot be executed) and [TxError] (the transaction's fault: refused by the
//! mempool, invalid in a block, or failed after paying its fee). Module functions return
//! [ExecError], which carries either, so a `?` keeps them apart.

use veil_attestation::VerifyError;
use veil_primitives::{Balance, Height, MAX_NOMINATIONS};

/// How many unbonding chunks an account may have at once.
pub const MAX_UNLOCKING: usize = 32;

/// Failure to read committed state. Not the transaction's fault: the block cannot be executed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The storage backend failed.
    #[error("state backend: {0}")]
    Backend(String),
    /// A stored value did not decode; storage is corrupt.
    #[error("corrupt state value under key {key}: {reason}")]
    Corrupt {
        /// Hex key.
        key: String,
        /// Decoder error.
        reason: String,
    },
}

/// Why a transaction was refused by the mempool, made a block invalid, or failed in execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes are not a transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The call tag is not known to this chain.
    #[error("unknown call: {0}")]
    UnknownCall(u8),
    /// The encoded transaction exceeds `max_tx_bytes`.
    #[error("transaction is {size} bytes, above the limit of {max}")]
    Oversized {
        /// Encoded size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The signature does not verify for this chain.
    #[error("bad signature (wrong key, chain id or genesis hash)")]
    BadSignature,
    /// The nonce was already used.
    #[error("nonce {got} already used; the account's next nonce is {expected}")]
    NonceUsed {
        /// Next nonce of the account.
        expected: u64,
        /// Nonce in the transaction.
        got: u64,
    },
    /// The nonce is not the next one (in a block) or too far ahead (in the mempool).
    #[error("bad nonce {got}; the account's next nonce is {expected}")]
    BadNonce {
        /// Next nonce of the account.
        expected: u64,
        /// Nonce in the transaction.
        got: u64,
    },
    /// The expiry height has passed.
    #[error("expired at height {expiry}; the chain is at {height}")]
    Expired {
        /// Last height the transaction was valid.
        expiry: Height,
        /// Height it was checked for.
        height: Height,
    },
    /// The expiry is further ahead than `max_expiry_blocks`.
    #[error("expiry {expiry} is too far ahead; at most {max} is allowed")]
    ExpiryTooFar {
        /// Expiry in the transaction.
        expiry: Height,
        /// Highest allowed.
        max: Height,
    },
    /// The sender cannot pay.
    #[error("insufficient balance: {needed} needed, {available} available")]
    InsufficientBalance {
        /// Amount needed (fee, plus transfer amount where relevant).
        needed: Balance,
        /// Sender's free balance.
        available: Balance,
    },
    /// A governance call not signed by the governance key.
    #[error("only the governance key may make governance calls")]
    NotGovernance,
    /// Governance tried to set parameters that would break the chain.
    #[error("invalid parameters: {0}")]
    InvalidParams(&'static str),
    /// Governance tried a registry policy that would deregister every key holder (listed),
    /// whose pRuntimes would then wipe the root key.
    #[error(
        "the policy would deregister every key holder ({0}) and the root key would be lost: have a holder renew its registration under the new policy first"
    )]
    RevokesEveryKeyHolder(String),
    /// A message payload exceeds `max_message_bytes`.
    #[error("message payload is {size} bytes, above the limit of {max}")]
    MessageTooLarge {
        /// Payload size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A worker registration was refused.
    #[error("registration refused: {0}")]
    Registration(Box<RegistrationError>),
    /// A staking call failed.
    #[error("staking: {0}")]
    Staking(Box<StakingError>),
    /// A contracts call failed.
    #[error("contracts: {0}")]
    Contract(Box<ContractError>),
    /// A worker message from a key that is not a registered worker.
    #[error("worker {0} is not registered")]
    UnknownWorker(String),
    /// A worker message whose signature does not verify.
    #[error("bad worker message signature (wrong key or chain)")]
    BadWorkerSignature,
    /// A worker message sequence already used: a replay or a duplicate.
    #[error("worker message sequence {got} already used; the worker's next sequence is {expected}")]
    SequenceReplayed {
        /// Next sequence of the worker.
        expected: u64,
        /// Sequence in the message.
        got: u64,
    },
    /// A worker message sequence beyond the next one.
    #[error("worker message sequence {got} skips ahead; the worker's next sequence is {expected}")]
    SequenceGap {
        /// Next sequence of the worker.
        expected: u64,
        /// Sequence in the message.
        got: u64,
    },
    /// A gatekeeper message from a key that is neither an elected gatekeeper nor a key holder.
    #[error("{0} is not a gatekeeper")]
    NotGatekeeper(String),
    /// A gatekeeper message whose signature does not verify.
    #[error("bad gatekeeper message signature (wrong key or chain)")]
    BadGatekeeperSignature,
    /// An identical copy of this gatekeeper message was already routed.
    #[error("gatekeeper message {0} was already routed with the same content")]
    DuplicateGatekeeperMessage(u64),
    /// Contracts are enabled only once the network has launched.
    #[error(
        "the network has not launched yet: contracts are disabled until every elected gatekeeper holds the root key"
    )]
    NotLaunched,
    /// An arithmetic overflow (e.g. a balance beyond u128).
    #[error("arithmetic overflow")]
    Overflow,
    /// The call would write a state value above the store's limit. The call fails (its fee
    /// is paid); the block stays valid.
    #[error("the call writes a {size}-byte state value, above the limit of {max}")]
    StateValueTooLarge {
        /// Size of the largest value written.
        size: usize,
        /// Limit ([veil_primitives::MAX_STATE_VALUE]).
        max: usize,
    },
}

impl TxError {
    /// A fixed name for the kind of refusal, for metrics labels (never caller-chosen text).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownCall(_) => "unknown_call",
            Self::Oversized { .. } => "oversized",
            Self::BadSignature => "bad_signature",
            Self::NonceUsed { .. } => "nonce_used",
            Self::BadNonce { .. } => "bad_nonce",
            Self::Expired { .. } => "expired",
            Self::ExpiryTooFar { .. } => "expiry_too_far",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::NotGovernance => "not_governance",
            Self::InvalidParams(_) => "invalid_params",
            Self::RevokesEveryKeyHolder(_) => "revokes_every_key_holder",
            Self::MessageTooLarge { .. } => "message_too_large",
            Self::Registration(_) => "registration",
            Self::Staking(_) => "staking",
            Self::Contract(_) => "contract",
            Self::UnknownWorker(_) => "unknown_worker",
            Self::BadWorkerSignature => "bad_worker_signature",
            Self::SequenceReplayed { .. } => "sequence_replayed",
            Self::SequenceGap { .. } => "sequence_gap",
            Self::NotGatekeeper(_) => "not_gatekeeper",
            Self::BadGatekeeperSignature => "bad_gatekeeper_signature",
            Self::DuplicateGatekeeperMessage(_) => "duplicate_gatekeeper_message",
            Self::NotLaunched => "not_launched",
            Self::Overflow => "overflow",
            Self::StateValueTooLarge { .. } => "state_value_too_large",
        }
    }
}

impl From<commonware_codec::Error> for TxError {
    fn from(e: commonware_codec::Error) -> Self {
        match e {
            commonware_codec::Error::InvalidEnum(t) => Self::UnknownCall(t),
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// Failure of a module function or a check: the transaction's fault, or the backend's.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The transaction is refused or its call failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<RegistrationError> for ExecError {
    fn from(e: RegistrationError) -> Self {
        Self::Tx(TxError::Registration(Box::new(e)))
    }
}

impl From<StakingError> for ExecError {
    fn from(e: StakingError) -> Self {
        Self::Tx(TxError::Staking(Box::new(e)))
    }
}

impl From<ContractError> for ExecError {
    fn from(e: ContractError) -> Self {
        Self::Tx(TxError::Contract(Box::new(e)))
    }
}

/// Why a contracts call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A module over the size limit.
    #[error("code of {size} bytes is over the limit of {max}")]
    CodeTooLarge {
        /// Declared size.
        size: u32,
        /// Limit.
        max: u32,
    },
    /// An upload whose size disagrees with the first chunk's.
    #[error("code {hash} was announced with {expected} bytes, this chunk says {got}")]
    SizeMismatch {
        /// Code hash (hex).
        hash: String,
        /// Size of the first chunk's announcement.
        expected: u32,
        /// Size in this chunk.
        got: u32,
    },
    /// A chunk index beyond the code's chunks, or a chunk of the wrong length.
    #[error("chunk {index} of {chunks} has {len} bytes, expected {expected}")]
    BadChunk {
        /// Index.
        index: u32,
        /// Chunks of the code.
        chunks: u32,
        /// Length received.
        len: usize,
        /// Length expected.
        expected: usize,
    },
    /// A chunk already received.
    #[error("chunk {0} was already uploaded")]
    DuplicateChunk(u32),
    /// The code is already uploaded and valid.
    #[error("code {0} is already uploaded")]
    CodeExists(String),
    /// The whole module does not hash to the announced hash. Its chunks are discarded.
    #[error("the uploaded chunks do not hash to {0}; upload again")]
    HashMismatch(String),
    /// The module breaks the deploy policy. Its chunks are discarded.
    #[error("code refused: {0}")]
    InvalidCode(String),
    /// No valid code under this hash.
    #[error("no uploaded code {0}")]
    UnknownCode(String),
    /// The miner is not a registered worker.
    #[error("miner {0} is not a registered worker")]
    UnknownMiner(String),
    /// No contract with this id.
    #[error("no contract {0}")]
    UnknownContract(String),
    /// A contract already has this id (cannot happen with fresh nonces).
    #[error("contract {0} already exists")]
    ContractExists(String),
    /// Only the contract's developer (or governance) may do this.
    #[error("only the contract's developer or governance may reassign it")]
    NotDeveloper,
    /// A move to the miner that already runs the contract.
    #[error("contract {0} already runs on that miner")]
    SameMiner(String),
    /// Gatekeepers hold the root key and run no contract code of a developer's choosing.
    #[error(
        "worker {0} is a gatekeeper: it holds the root key and runs no contracts; pick a miner \
         (`veil workers`)"
    )]
    GatekeeperMiner(String),
    /// The miner's operator takes no contracts of this developer.
    #[error(
        "miner {miner} takes no contracts of developer {developer} (its operator's policy); pick \
         another (`veil workers`)"
    )]
    MinerRefuses {
        /// The miner (hex).
        miner: String,
        /// The developer (hex).
        developer: String,
    },
    /// Only a worker's registered operator sets its miner policy.
    #[error("only worker {0}'s registered operator may set its miner policy")]
    NotTheOperator(String),
    /// A checkpoint chunk signed by a worker that is not the contract's miner.
    #[error(
        "contract {contract} is run by miner {miner}, not by {signer}, which signed this checkpoint"
    )]
    NotTheCheckpointMiner {
        /// The contract (hex).
        contract: String,
        /// Its assigned miner (hex).
        miner: String,
        /// The signer (hex).
        signer: String,
    },
    /// A checkpoint chunk whose signature does not verify.
    #[error("the checkpoint chunk's signature does not verify")]
    BadCheckpointSignature,
    /// A checkpoint no newer than the one the chain keeps, or one that claims more of the
    /// log or a later height than exists.
    #[error("checkpoint of contract {contract} at height {height} (log {count}) refused: {reason}")]
    StaleCheckpoint {
        /// The contract (hex).
        contract: String,
        /// Its height.
        height: u64,
        /// Its log position.
        count: u64,
        /// Why.
        reason: &'static str,
    },
    /// A checkpoint chunk of the wrong size, index or length.
    #[error(
        "checkpoint chunk {index} of a {size}-byte checkpoint has {len} bytes (at most {max} bytes per checkpoint)"
    )]
    BadCheckpointChunk {
        /// Index.
        index: u32,
        /// Declared checkpoint size.
        size: u32,
        /// Length received.
        len: usize,
        /// Largest checkpoint.
        max: u32,
    },
    /// The gatekeepers have not yet published the contract's key.
    #[error(
        "contract {0} has no key yet: the gatekeepers publish it a few blocks after instantiation"
    )]
    NoKeyYet(String),
    /// The gatekeepers have not handed the contract key to the contract's first miner yet.
    #[error(
        "contract {0} is waiting for its miner to receive the contract key: the gatekeepers send it a few blocks after instantiation"
    )]
    NotGranted(String),
    /// The developer has not sent the contract's first command (its `init`) yet.
    #[error("contract {0} is not initialized: its developer sends the first command (init)")]
    NotInitialized(String),
    /// A command ciphertext whose length is not a padding bucket.
    #[error("command ciphertext of {0} bytes is not a padding bucket (256, 1024, 4096, ...)")]
    NotABucket(usize),
    /// A command reserving no fuel or more than allowed.
    #[error("a command reserves 1 to {max} fuel, not {got}")]
    BadFuel {
        /// Fuel reserved.
        got: u64,
        /// Most allowed.
        max: u64,
    },
    /// Messages to contracts travel as commands only (not raw, worker or gatekeeper messages).
    #[error(
        "messages to a contract are sent as contract commands, not raw, worker or gatekeeper messages"
    )]
    RawContractMessage,
    /// A contract message or reply whose signature does not verify.
    #[error("the contract message's signature does not verify")]
    BadMessageSignature,
    /// A contract message or reply signed by a worker that is not the speaking contract's
    /// assigned miner.
    #[error(
        "contract {contract} is run by miner {miner}, not by {signer}, which signed this message"
    )]
    NotTheMiner {
        /// The speaking contract (hex).
        contract: String,
        /// Its assigned miner (hex).
        miner: String,
        /// The signer (hex).
        signer: String,
    },
    /// A message or reply whose sequence the channel already routed.
    #[error(
        "{what} {got} from {source_id} to {destination} was already routed (next is {expected})"
    )]
    MessageReplayed {
        /// `message` or `reply`.
        what: &'static str,
        /// Source contract (hex).
        source_id: String,
        /// Destination contract (hex).
        destination: String,
        /// The channel's next sequence.
        expected: u64,
        /// The sequence given.
        got: u64,
    },
    /// A message or reply ahead of the channel's next sequence: an earlier one is missing.
    #[error(
        "{what} {got} from {source_id} to {destination} skips ahead: the channel expects {expected}"
    )]
    MessageSkipped {
        /// `message` or `reply`.
        what: &'static str,
        /// Source contract (hex).
        source_id: String,
        /// Destination contract (hex).
        destination: String,
        /// The channel's next sequence.
        expected: u64,
        /// The sequence given.
        got: u64,
    },
}

/// Why a block cannot be executed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A transaction may not be in any block (bad nonce, expired, cannot pay its fee, ...).
    #[error("transaction {index} is not includable: {error}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Reason.
        error: TxError,
    },
    /// More transactions than `max_block_txs`.
    #[error("block has {count} transactions, above the limit of {max}")]
    TooManyTransactions {
        /// Count.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Submitted by an account other than the operator the worker signed for.
    #[error("the worker signed this registration for operator {signed}, not for the sender")]
    OperatorMismatch {
        /// Operator in the registration (hex).
        signed: String,
    },
    /// The worker's signature does not verify.
    #[error("bad worker signature (wrong key, chain or fields)")]
    BadWorkerSignature,
    /// No endpoint.
    #[error("empty endpoint")]
    EmptyEndpoint,
    /// The evidence is not vouched for by a trusted party.
    #[error("evidence refused: {0}")]
    Evidence(#[from] VerifyError),
    /// The attested block is in the future.
    #[error("attested height {attested} is not below the current height {height}")]
    FutureBlock {
        /// Attested height.
        attested: Height,
        /// Height of the block being executed.
        height: Height,
    },
    /// The attested block is too old.
    #[error(
        "stale evidence: it binds block {attested}, more than {max_age} blocks before {height}"
    )]
    Stale {
        /// Attested height.
        attested: Height,
        /// Height of the block being executed.
        height: Height,
        /// `freshness_blocks`.
        max_age: u64,
    },
    /// The report data does not bind this worker's keys, this chain and the attested block.
    #[error(
        "report data does not match the worker keys, genesis and block hash at the attested height"
    )]
    ReportDataMismatch,
    /// A debug enclave or TD: its memory is readable by the host.
    #[error("debug enclaves are not accepted")]
    DebugEnclave,
    /// The platform's TCB status is not accepted.
    #[error("TCB status {0} is not accepted")]
    TcbStatus(String),
    /// An Intel advisory applies that governance does not tolerate.
    #[error("security advisory {0} applies to the platform and is not tolerated")]
    Advisory(String),
    /// The collateral comes from a TCB evaluation older than the policy accepts.
    #[error(
        "the collateral is from Intel's TCB evaluation {got}; the policy accepts {min} or later (fetch current collateral from the PCCS)"
    )]
    TcbEvaluation {
        /// The collateral's `tcbEvaluationDataNumber`.
        got: u32,
        /// The policy's lowest.
        min: u32,
    },
    /// The code is not allowlisted.
    #[error("measurement {0} is not on the allowlist")]
    NotAllowlisted(String),
    /// The worker is registered by another operator.
    #[error("worker is registered by another operator")]
    OwnedByOther,
}

/// Why a staking call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// Asked to unbond more than is bonded.
    #[error("cannot unbond {amount}: only {bonded} is bonded")]
    NotEnoughBonded {
        /// Requested.
        amount: Balance,
        /// Bonded.
        bonded: Balance,
    },
    /// Too many unbonding chunks.
    #[error("at most {MAX_UNLOCKING} unbonding chunks; withdraw matured ones first")]
    TooManyUnlocking,
    /// A bond below what the role needs.
    #[error("a bond of {needed} is needed, {bonded} is bonded")]
    BondTooSmall {
        /// Least bond.
        needed: Balance,
        /// Bonded.
        bonded: Balance,
    },
    /// The worker is not registered by the sender.
    #[error("worker {0} is not registered by the sender")]
    NotYourWorker(String),
    /// The worker holds dev attestation and the chain does not allow insecure gatekeepers.
    #[error(
        "worker {0} is registered with dev (insecure) attestation; this chain does not allow insecure gatekeepers"
    )]
    InsecureWorker(String),
    /// The account already backs a candidate.
    #[error("the sender already backs candidate {0}; chill first")]
    AlreadyBacking(String),
    /// The account nominates and so cannot back a candidate (or the reverse).
    #[error("an account either backs a candidate or nominates; chill first")]
    OtherRole,
    /// A nomination target is not a candidate.
    #[error("{0} is not a gatekeeper candidate")]
    NotACandidate(String),
    /// No nomination target, or too many.
    #[error("nominate 1 to {MAX_NOMINATIONS} candidates")]
    BadTargets,
    /// The role already has `max_candidates` or `max_nominators` members.
    #[error("there are already {max} {role}s, the most the chain allows")]
    Full {
        /// "candidate" or "nominator".
        role: &'static str,
        /// The parameter's value.
        max: u32,
    },
    /// Unbonding would leave a backer or nominator below its role's minimum.
    #[error("unbonding would leave {left} bonded, below the role's minimum {needed}; chill first")]
    WouldUnderbond {
        /// Bond that would remain.
        left: Balance,
        /// The role's minimum.
        needed: Balance,
    },
}
