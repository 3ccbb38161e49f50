use veil_primitives::{Balance, Height};

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
    Registration(Box<crate::registry::RegistrationError>),
    /// A staking call failed.
    #[error("staking: {0}")]
    Staking(Box<crate::staking::StakingError>),
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
}

impl From<commonware_codec::Error> for TxError {
    fn from(e: commonware_codec::Error) -> Self {
        match e {
            commonware_codec::Error::InvalidEnum(t) => Self::UnknownCall(t),
            other => Self::Malformed(other.to_string()),
        }
    }
}
