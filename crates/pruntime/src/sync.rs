//! Light-client sync: pRuntime follows the chain by checking finality, not by replaying it.
//!
//! A batch is a run of consecutive headers, the finalization certificate of the last one, and
//! each block's outbound messages. pRuntime checks, before changing anything, that the batch
//! starts exactly where it stopped (no replay, no gap), that the headers link by hash, that the
//! certificate finalizes the last header under the genesis group key, and that each block's
//! messages hash to its messages root. Only then does it take the messages addressed to it and
//! advance, sealing its progress to disk.

use std::collections::VecDeque;

use bytes::BufMut;
use commonware_codec::{
    Buf, DecodeExt as _, Encode as _, EncodeSize, RangeCfg, Read, ReadExt, Write,
};
use veil_light::{GroupKey, Trust};
use veil_primitives::{
    AccountId, Destination, Digest, ELECTION_TOPIC, Election, Header, Height, LAUNCH_TOPIC,
    MAX_GATEKEEPER_STATE_BYTES, Message, Origin, SignedWorkerMessage,
};

use crate::gatekeeper::GatekeeperRole;

/// Most headers in one batch.
pub const MAX_BATCH_HEADERS: usize = 10_000;
/// How many recent block hashes pRuntime remembers (for attestation freshness).
pub const RECENT_HASHES: usize = 256;

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

/// A decoded batch.
pub struct Batch {
    /// Consecutive headers, ascending.
    pub headers: Vec<Header>,
    /// Encoded finalization of the last header.
    pub certificate: Vec<u8>,
    /// Each block's outbound messages, in order.
    pub messages: Vec<Vec<Message>>,
}

/// What pRuntime knows of the chain; sealed to disk after every accepted batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncState {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: Digest,
    /// Encoded group key.
    pub group_key: Vec<u8>,
    /// Next height to sync.
    pub next_height: Height,
    /// Hash of the last synced block.
    pub last_hash: Digest,
    /// Messages addressed to this worker received so far.
    pub messages_received: u64,
    /// The latest gatekeeper election seen.
    pub election: Option<Election>,
    /// Height of the launch block, once seen.
    pub launched: Option<Height>,
    /// The latest encrypted gatekeeper state checkpoint routed (kept by every worker, so one
    /// that becomes a gatekeeper can restore the state once it holds the root key).
    pub checkpoint: Option<Vec<u8>>,
    /// The gatekeeper role, once this worker holds the root key.
    pub gatekeeper: Option<GatekeeperRole>,
    /// Hashes of the most recent synced blocks, newest last.
    pub recent: VecDeque<Digest>,
    /// Registration and egress.
    pub egress: Egress,
}

/// A verified message relevant to this worker, with the height and hash of its block.
pub type Seen = (Height, Digest, Message);

/// Most unconfirmed egress messages pRuntime keeps; beyond it, heartbeats are skipped.
pub const MAX_PENDING_EGRESS: usize = 64;

/// What pRuntime knows of its registration (from the chain's messages) and its egress queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Egress {
    /// Registered until this height, with this heartbeat interval; `None` if not registered.
    pub registration: Option<(Height, u64)>,
    /// Sequence of the next egress message.
    pub next_sequence: u64,
    /// Signed egress not yet seen on chain, in sequence order.
    pub pending: Vec<SignedWorkerMessage>,
}

impl Egress {
    /// The chain routed our message `sequence`: it and everything before it are confirmed.
    pub fn confirm(&mut self, sequence: u64) {
        self.pending.retain(|m| m.message.sequence > sequence);
        self.next_sequence = self.next_sequence.max(sequence + 1);
    }
}

impl SyncState {
    /// State right after genesis.
    pub fn genesis(chain_id: u64, trust: &Trust) -> Self {
        let mut recent = VecDeque::new();
        recent.push_back(trust.genesis_hash);
        Self {
            chain_id,
            genesis_hash: trust.genesis_hash,
            group_key: trust.group_key.encode().to_vec(),
            next_height: 1,
            last_hash: trust.genesis_hash,
            messages_received: 0,
            election: None,
            launched: None,
            checkpoint: None,
            gatekeeper: None,
            recent,
            egress: Egress::default(),
        }
    }

    /// The group key, decoded.
    pub fn group_key(&self) -> Result<GroupKey, veil_light::Error> {
        veil_light::decode_group_key(&self.group_key)
    }

    /// Whether the latest election elected `me`.
    pub fn elected(&self, me: &AccountId) -> bool {
        self.election
            .as_ref()
            .is_some_and(|e| e.gatekeepers.contains(me))
    }

    /// Checks a batch without changing anything; returns the state it leads to and, with the
    /// height and hash of their block, the messages addressed to `me`, sent by `me` (the
    /// chain's copies of its egress), sent by the gatekeepers, or announcing an election or
    /// the launch.
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
                            || (m.origin == Origin::Chain
                                && matches!(&m.destination, Destination::Topic(t)
                                    if t == ELECTION_TOPIC || t == LAUNCH_TOPIC))
                    })
                    .map(|m| (h.height, *hash, m.clone())),
            );
        }
        let mut next = self.clone();
        next.next_height = last.height + 1;
        next.last_hash = hashes[n - 1];
        next.messages_received += mine
            .iter()
            .filter(|(_, _, m)| matches!(&m.destination, Destination::Worker(w) if w == me))
            .count() as u64;
        next.recent
            .extend(hashes[n.saturating_sub(RECENT_HASHES)..].iter().copied());
        while next.recent.len() > RECENT_HASHES {
            next.recent.pop_front();
        }
        Ok((next, mine))
    }
}

impl Write for SyncState {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.genesis_hash.write(buf);
        self.group_key.write(buf);
        self.next_height.write(buf);
        self.last_hash.write(buf);
        self.messages_received.write(buf);
        self.election.write(buf);
        self.launched.write(buf);
        self.checkpoint.write(buf);
        self.gatekeeper.write(buf);
        self.recent.iter().cloned().collect::<Vec<_>>().write(buf);
        self.egress.write(buf);
    }
}

impl EncodeSize for SyncState {
    fn encode_size(&self) -> usize {
        let recent: Vec<Digest> = self.recent.iter().cloned().collect();
        8 + 32
            + self.group_key.encode_size()
            + 8
            + 32
            + 8
            + self.election.encode_size()
            + self.launched.encode_size()
            + self.checkpoint.encode_size()
            + self.gatekeeper.encode_size()
            + recent.encode_size()
            + self.egress.encode_size()
    }
}

impl Read for SyncState {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            chain_id: u64::read(buf)?,
            genesis_hash: Digest::read(buf)?,
            group_key: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=256), ()))?,
            next_height: u64::read(buf)?,
            last_hash: Digest::read(buf)?,
            messages_received: u64::read(buf)?,
            election: Option::<Election>::read(buf)?,
            launched: Option::<Height>::read(buf)?,
            checkpoint: Option::<Vec<u8>>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_GATEKEEPER_STATE_BYTES), ()),
            )?,
            gatekeeper: Option::<GatekeeperRole>::read(buf)?,
            recent: Vec::<Digest>::read_cfg(buf, &(RangeCfg::new(0..=RECENT_HASHES), ()))?.into(),
            egress: Egress::read(buf)?,
        })
    }
}

impl Write for Egress {
    fn write(&self, buf: &mut impl BufMut) {
        self.registration.write(buf);
        self.next_sequence.write(buf);
        self.pending.write(buf);
    }
}

impl EncodeSize for Egress {
    fn encode_size(&self) -> usize {
        self.registration.encode_size() + 8 + self.pending.encode_size()
    }
}

impl Read for Egress {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            registration: Option::<(Height, u64)>::read_cfg(buf, &((), ()))?,
            next_sequence: u64::read(buf)?,
            pending: Vec::<SignedWorkerMessage>::read_cfg(
                buf,
                &(
                    RangeCfg::new(0..=MAX_PENDING_EGRESS),
                    veil_primitives::MAX_TX_BYTES_CAP as usize,
                ),
            )?,
        })
    }
}

/// Decodes a sealed state.
pub fn decode_state(bytes: &[u8]) -> anyhow::Result<SyncState> {
    SyncState::decode(bytes.to_vec()).map_err(|e| anyhow::anyhow!("sealed sync state: {e}"))
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use veil_primitives::{ChainIdentity, PrivateKey, WorkerMessage, hash};

    use super::*;

    #[test]
    fn sealed_state_round_trips_with_every_field_set() {
        let key = PrivateKey::from_seed(1);
        let chain = ChainIdentity {
            chain_id: 9,
            genesis_hash: hash(b"g"),
        };
        let pending = (0..3)
            .map(|i| {
                WorkerMessage {
                    sender: key.public_key(),
                    destination: Destination::Topic(b"veil/heartbeat".to_vec()),
                    sequence: i,
                    payload: vec![i as u8; 40],
                }
                .sign(&key, &chain)
            })
            .collect();
        let state = SyncState {
            chain_id: 9,
            genesis_hash: hash(b"g"),
            group_key: vec![1; 96],
            next_height: 77,
            last_hash: hash(b"last"),
            messages_received: 5,
            election: Some(Election {
                round: 3,
                height: 70,
                gatekeepers: vec![key.public_key()],
                ecdh_keys: vec![[3; 32]],
                deadline: 90,
                holders: vec![veil_primitives::KeyHolder {
                    worker: key.public_key(),
                    ecdh_key: [4; 32],
                    endpoint: "http://h".into(),
                }],
                key_check: hash(b"check"),
            }),
            launched: Some(75),
            checkpoint: Some(vec![9; 100]),
            gatekeeper: Some(GatekeeperRole {
                era: 0,
                root_key: zeroize::Zeroizing::new([5; 32]),
                state: crate::gatekeeper::GatekeeperState {
                    era: 0,
                    launched_at: 75,
                    round: 3,
                    next_sequence: 2,
                },
                pending: vec![
                    veil_primitives::GatekeeperMessage {
                        signer: key.public_key(),
                        destination: Destination::Topic(b"t".to_vec()),
                        sequence: 1,
                        payload: vec![1; 10],
                    }
                    .sign(&key, &chain),
                ],
            }),
            recent: (0..10u8).map(|i| hash(&[i])).collect(),
            egress: Egress {
                registration: Some((500, 40)),
                next_sequence: 3,
                pending,
            },
        };
        // `encode` checks the declared size against what was written.
        let bytes = state.encode();
        assert_eq!(bytes.len(), state.encode_size());
        assert_eq!(decode_state(&bytes).unwrap(), state);
        assert!(decode_state(&bytes[..bytes.len() - 1]).is_err());
    }
}
