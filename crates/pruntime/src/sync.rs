//! Light-client sync: pRuntime follows the chain by checking finality, not by replaying it.
//!
//! A batch is a run of consecutive headers, the finalization certificate of the last one, and
//! each block's outbound messages. pRuntime checks, before changing anything, that the batch
//! starts exactly where it stopped (no replay, no gap), that the headers link by hash, that the
//! certificate finalizes the last header under the genesis group key, and that each block's
//! messages hash to its messages root. Only then does it take the messages addressed to it and
//! advance ([crate::state] seals the result).

use veil_primitives::{
    AccountId, Destination, Digest, ELECTION_TOPIC, HANDOVER_TOPIC, Header, Height, LAUNCH_TOPIC,
    Message, Origin, SLASH_TOPIC, contract::CONTRACTS_TOPIC,
};
pub use veil_pruntime_api::limits::MAX_SYNC_HEADERS as MAX_BATCH_HEADERS;

use crate::state::{RECENT_HASHES, State};

/// Why a batch was refused. pRuntime's state is unchanged after any of these.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    /// `InitRuntime` has not been called.
    #[error("runtime not initialized with a genesis")]
    NotInitialized,
    /// No headers.
    #[error("empty batch")]
    Empty,
    /// More headers than allowed.
    #[error("batch of {0} headers exceeds the limit of {MAX_BATCH_HEADERS}")]
    TooLarge(usize),
    /// Bytes that do not decode.
    #[error("malformed batch: {0}")]
    Malformed(String),
    /// The batch starts below the next height: already synced.
    #[error("replayed: batch starts at height {got}, already synced up to {}", expected - 1)]
    Replayed {
        /// Next expected height.
        expected: Height,
        /// First height in the batch.
        got: Height,
    },
    /// The batch starts above the next height: blocks were skipped.
    #[error("skipped blocks: batch starts at height {got}, expected {expected}")]
    Skipped {
        /// Next expected height.
        expected: Height,
        /// First height in the batch.
        got: Height,
    },
    /// The first header does not extend the last synced block.
    #[error("batch does not extend the last synced block")]
    WrongParent,
    /// Headers do not link or the certificate does not finalize the last one.
    #[error(transparent)]
    Light(#[from] veil_light::Error),
    /// Messages missing or extra for some block.
    #[error("batch carries messages for {got} blocks, expected {expected}")]
    MessageCount {
        /// Headers in the batch.
        expected: usize,
        /// Message lists in the batch.
        got: usize,
    },
    /// A block's messages do not match its messages root.
    #[error("messages of block {0} do not match its messages root")]
    Messages(Height),
}

impl SyncError {
    /// A fixed name for the refusal, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotInitialized => "not_initialized",
            Self::Empty => "empty",
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
            Self::Replayed { .. } => "replayed",
            Self::Skipped { .. } => "skipped",
            Self::WrongParent => "wrong_parent",
            Self::Light(_) => "light_client",
            Self::MessageCount { .. } => "message_count",
            Self::Messages(_) => "messages_root",
        }
    }
}

/// A decoded batch.
pub struct Batch {
    /// Consecutive headers, ascending.
    pub headers: Vec<Header>,
    /// Encoded finalization of the last header.
    pub certificate: Vec<u8>,
    /// Each block's outbound messages, in order.
    pub messages: Vec<Vec<Message>>,
    /// Modules the host supplies for contracts the batch assigns to this worker (checked
    /// against the code hash the chain announced; others are ignored).
    pub code: Vec<Vec<u8>>,
}

/// A verified message relevant to this worker, with the height, hash and parent hash of its
/// block.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Height of the block.
    pub height: Height,
    /// Its hash.
    pub block: Digest,
    /// Its parent's hash (what contracts see as the block hash: known while it executes).
    pub parent: Digest,
    /// The message.
    pub message: Message,
}

impl State {
    /// Checks a batch without changing anything; returns the state it leads to and, with the
    /// height and hash of their block, the messages addressed to `me`, sent by `me` (the
    /// chain's copies of its egress), sent by the gatekeepers, announcing an election, the
    /// launch or a contract event, or addressed to a contract (the executor keeps those of the
    /// contracts this worker runs).
    pub fn check(&self, batch: &Batch, me: &AccountId) -> Result<(Self, Vec<Seen>), SyncError> {
        let Some(last) = batch.headers.last() else {
            return Err(SyncError::Empty);
        };
        if batch.headers.len() > MAX_BATCH_HEADERS {
            return Err(SyncError::TooLarge(batch.headers.len()));
        }
        let first = &batch.headers[0];
        if first.height < self.next_height {
            return Err(SyncError::Replayed {
                expected: self.next_height,
                got: first.height,
            });
        }
        if first.height > self.next_height {
            return Err(SyncError::Skipped {
                expected: self.next_height,
                got: first.height,
            });
        }
        if first.parent != self.last_hash {
            return Err(SyncError::WrongParent);
        }
        let n = batch.headers.len();
        // Hash each header once: the links, the certificate and the recent list all use them.
        let hashes: Vec<Digest> = batch.headers.iter().map(Header::hash).collect();
        for (i, pair) in batch.headers.windows(2).enumerate() {
            if pair[1].parent != hashes[i] || pair[1].height != pair[0].height + 1 {
                return Err(veil_light::Error::BrokenChain { index: i }.into());
            }
        }
        veil_light::verify_finality(&self.group_key()?, last, &batch.certificate)?;
        if batch.messages.len() != n {
            return Err(SyncError::MessageCount {
                expected: n,
                got: batch.messages.len(),
            });
        }
        let mut mine = Vec::new();
        for ((h, hash), msgs) in batch.headers.iter().zip(&hashes).zip(&batch.messages) {
            veil_light::verify_messages(h, msgs).map_err(|_| SyncError::Messages(h.height))?;
            mine.extend(
                msgs.iter()
                    .filter(|m| {
                        matches!(&m.destination, Destination::Worker(w) if w == me)
                            || matches!(&m.origin, Origin::Worker(w) if w == me)
                            || m.origin == Origin::Gatekeepers
                            || matches!(&m.destination, Destination::Contract(_))
                            || matches!(&m.origin, Origin::Contract(_))
                            || (m.origin == Origin::Chain
                                && matches!(&m.destination, Destination::Topic(t)
                                    if t == ELECTION_TOPIC || t == LAUNCH_TOPIC
                                        || t == HANDOVER_TOPIC || t == SLASH_TOPIC
                                        || t == CONTRACTS_TOPIC))
                    })
                    .map(|m| Seen {
                        height: h.height,
                        block: *hash,
                        parent: h.parent,
                        message: m.clone(),
                    }),
            );
        }
        let mut next = self.clone();
        next.next_height = last.height + 1;
        next.last_hash = hashes[n - 1];
        next.timestamp = last.timestamp;
        next.messages_received += mine
            .iter()
            .filter(|s| matches!(&s.message.destination, Destination::Worker(w) if w == me))
            .count() as u64;
        next.recent
            .extend(hashes[n.saturating_sub(RECENT_HASHES)..].iter().copied());
        while next.recent.len() > RECENT_HASHES {
            next.recent.pop_front();
        }
        Ok((next, mine))
    }
}
