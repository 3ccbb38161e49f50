//! Why a runtime operation was refused.

use crate::{
    roles::gatekeeper::{KeyRequestError, channel::ChannelError},
    sync::SyncError,
};

/// Errors of runtime operations. A refused operation changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A sync batch was refused.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A sync batch's contract work could not be done (the batch was refused).
    #[error(transparent)]
    Contracts(#[from] crate::roles::contracts::executor::ExecutorError),
    /// The genesis given is not acceptable.
    #[error("genesis rejected: {0}")]
    Genesis(String),
    /// The block hash is not one pRuntime synced recently.
    #[error("block {0} is not among the recently synced blocks")]
    UnknownBlock(String),
    /// A request pRuntime will not sign.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// This was the genesis node and it retired after the launch: it answers nothing.
    #[error("this genesis node retired after the launch and wiped its keys; it answers nothing")]
    Retired,
    /// A contract checkpoint could not be made, or a recovery was refused.
    #[error(transparent)]
    Recovery(#[from] crate::roles::contracts::recovery::RecoveryError),
    /// A root-key exchange failed.
    #[error("key exchange refused: {0}")]
    KeyExchange(#[from] ChannelError),
    /// Storage or TEE failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl RuntimeError {
    /// A fixed name for the refusal, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sync(e) => e.kind(),
            Self::Contracts(crate::roles::contracts::executor::ExecutorError::TooManyResults {
                ..
            }) => "too_many_results",
            Self::Contracts(_) => "contract_code",
            Self::Genesis(_) => "genesis",
            Self::UnknownBlock(_) => "unknown_block",
            Self::Invalid(_) => "invalid",
            Self::Retired => "retired",
            Self::KeyExchange(_) => "key_exchange",
            Self::Recovery(_) => "recovery",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<crate::sealed::kv::KvError> for RuntimeError {
    fn from(e: crate::sealed::kv::KvError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<KeyRequestError> for RuntimeError {
    fn from(e: KeyRequestError) -> Self {
        match e {
            KeyRequestError::Channel(c) => Self::KeyExchange(c),
            other => Self::Invalid(other.to_string()),
        }
    }
}
