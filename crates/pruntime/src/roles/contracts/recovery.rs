//! Checkpoints of a contract's state, and recovery from them on another miner.
//!
//! A checkpoint is everything a contract's future depends on, as of the end of a synced block:
//! its storage, its channel counters, the messages and replies it queued that the chain has not
//! routed yet, and its log position. It is sealed under a key derived from the contract key,
//! with associated data binding chain, contract, height, log position and state root
//! ([checkpoint_aad]), so only a pRuntime holding the contract key makes or opens one, and one
//! opens only as the checkpoint the chain names.
//!
//! Recovery starts from the checkpoint the chain's assignment event names, or a later one (none:
//! from an empty state), and replays the log entries the host brings, checking first that their
//! fold ends exactly at the log position the event names: an entry left out, added, altered or
//! reordered fails the whole recovery, as does an older checkpoint or another contract's (its
//! associated data differs). Then it replays the entries that arrived while it waited, and the
//! contract runs. Every contract assigned to a worker recovers, a new one trivially (no
//! checkpoint, no entries), so a worker that lost its local state and re-synced from genesis
//! starts its contracts from their latest checkpoints, not from their first command. Replayed entries run exactly as they did on the previous miner (same inputs,
//! same block data, same randomness), so the state, the counters and the queued messages are
//! the previous miner's, re-signed by this one; queued messages the chain routed meanwhile are
//! confirmed by the replayed copies.

use std::{collections::BTreeMap, sync::Arc};

use bytes::BufMut;
use commonware_codec::{
    Buf, Decode as _, Encode as _, EncodeSize, Error, RangeCfg, Read, ReadExt as _, Write,
};
use veil_crypto::seal::SealingKey;
use veil_primitives::{
    ChainIdentity, Digest, Height, MAX_TX_BYTES_CAP,
    contract::{
        CHECKPOINT_CHUNK_BYTES, CheckpointChunk, CheckpointInfo, ContractEgress, ContractId,
        ContractLog, LogEntry, MAX_CHECKPOINT_BYTES, SignedCheckpointChunk, checkpoint_aad, in_log,
    },
    to_hex,
};

use super::{
    Miner, executor::Executor, recovery_key, sent_key, staged_count_key, staged_key, state_prefix,
};

/// Replayed commands older than this many blocks get no result again: their senders stopped
/// waiting long ago, and a long replay would flood the egress queue.
pub const RESULT_WINDOW: Height = 256;
use crate::{identity::Identity, sealed::kv::root_of};

/// Why a checkpoint could not be made or a recovery was refused. Nothing changes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecoveryError {
    /// This worker does not run the contract.
    #[error("this worker does not run contract {0}")]
    NotHere(String),
    /// The contract runs here already: there is nothing to recover.
    #[error("contract {0} is not recovering on this worker")]
    NotRecovering(String),
    /// The contract is recovering: it has no state to checkpoint yet.
    #[error("contract {0} is recovering on this worker: nothing to checkpoint yet")]
    Recovering(String),
    /// The gatekeepers have not granted the contract key to this worker yet.
    #[error("contract {0} has no key on this worker yet (the gatekeepers grant it shortly)")]
    NoKey(String),
    /// The chain names a checkpoint and none was given, or none and one was given.
    #[error(
        "the chain names {expected} to recover contract {contract} from, but {given} was given"
    )]
    WrongStart {
        /// The contract (hex).
        contract: String,
        /// What the chain names.
        expected: String,
        /// What was given.
        given: String,
    },
    /// The checkpoint does not open as the one the chain names: tampered, stale, or another
    /// contract's or chain's.
    #[error("the checkpoint of contract {contract} at height {height} does not open: {reason}")]
    BadCheckpoint {
        /// The contract (hex).
        contract: String,
        /// The height the chain names.
        height: Height,
        /// Why.
        reason: String,
    },
    /// An entry given is not the contract's, or does not decode.
    #[error("log entry {index} is not an entry of contract {contract}'s log")]
    NotInLog {
        /// The contract (hex).
        contract: String,
        /// Position among the entries given.
        index: usize,
    },
    /// The entries given do not end at the chain's log position: some are missing, extra,
    /// altered or out of order.
    #[error(
        "the {given} log entries given end at log position {got}, not at the chain's {expected}: entries are missing, extra, altered or out of order"
    )]
    LogMismatch {
        /// Entries given.
        given: usize,
        /// The chain's log count.
        expected: u64,
        /// Where the fold of the given entries ended.
        got: u64,
    },
    /// The state is larger than a checkpoint may be.
    #[error(
        "contract {contract}'s state seals to {size} bytes, above the {max}-byte checkpoint limit"
    )]
    TooLarge {
        /// The contract (hex).
        contract: String,
        /// Sealed size.
        size: usize,
        /// Limit.
        max: u32,
    },
    /// The checkpoint is past what this worker has synced: it can be used once it has.
    #[error(
        "the checkpoint of contract {contract} includes {checkpoint} log entries, this worker has synced {synced}: try again once it has synced further"
    )]
    Ahead {
        /// The contract (hex).
        contract: String,
        /// The checkpoint's log position.
        checkpoint: u64,
        /// The log position this worker has seen.
        synced: u64,
    },
    /// The local store lost an entry it kept for the recovery.
    #[error("waiting log entry {0} of the recovery is missing from the sealed store")]
    MissingWaiting(u64),
    /// Staged entries must follow the ones staged before (or restart from 0), and a recovery
    /// must count them as they are.
    #[error(
        "contract {contract} has {staged} log entries staged for its recovery, not {offset}: stage from {staged}, or from 0 to start over"
    )]
    StageOffset {
        /// The contract (hex).
        contract: String,
        /// Entries staged so far.
        staged: u64,
        /// Where the host asked to stage.
        offset: u64,
    },
    /// More entries staged than the chain's log holds up to the assignment.
    #[error(
        "contract {contract}'s log holds {target} entries up to its assignment; {given} cannot be staged"
    )]
    TooManyStaged {
        /// The contract (hex).
        contract: String,
        /// The chain's log count at the assignment.
        target: u64,
        /// Entries that would be staged.
        given: u64,
    },
}

/// What a checkpoint holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointState {
    /// Whether `init` succeeded.
    pub initialized: bool,
    /// Commands executed.
    pub executed: u64,
    /// Height of the last block that executed a command.
    pub height: Height,
    /// Storage.
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Next sequence of each channel to another contract.
    pub sent: BTreeMap<[u8; 32], u64>,
    /// Messages and replies queued and not routed yet (unsigned: the next miner signs them).
    pub outbound: Vec<ContractEgress>,
}

/// A contract's checkpoint as its miner made it: the record the chain will keep and the signed
/// chunks that carry it.
pub struct Made {
    /// What the chain will record.
    pub info: CheckpointInfo,
    /// The chunks, in order.
    pub chunks: Vec<SignedCheckpointChunk>,
}

/// The contract's state root over `state` (keys relative to the contract): the sealed store's
/// prefix root over the same records.
pub fn state_root<'a>(
    id: &ContractId,
    state: impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)>,
) -> Digest {
    let prefix = state_prefix(id);
    let keyed: Vec<(Vec<u8>, &[u8])> = state
        .map(|(k, v)| ([prefix.as_slice(), k].concat(), v.as_slice()))
        .collect();
    root_of(keyed.iter().map(|(k, v)| (k.as_slice(), *v)))
}

fn sealing_key(chain: &ChainIdentity, id: &ContractId, key: &[u8; 32]) -> SealingKey {
    let mut purpose = b"veil/contract-checkpoint".to_vec();
    purpose.extend_from_slice(&chain.chain_id.to_be_bytes());
    purpose.extend_from_slice(chain.genesis_hash.as_ref());
    purpose.extend_from_slice(id.as_ref());
    SealingKey::derive(key, &purpose)
}

/// Makes a checkpoint of `id` as of synced height `height` from `miner` (a published
/// snapshot), signed as `identity`.
pub fn make(
    chain: &ChainIdentity,
    identity: &Identity,
    miner: &Miner,
    id: &ContractId,
    height: Height,
) -> Result<Made, RecoveryError> {
    let hex = || to_hex(id);
    let r = miner
        .running
        .get(id)
        .ok_or_else(|| RecoveryError::NotHere(hex()))?;
    if r.contract.recovery.is_some() {
        return Err(RecoveryError::Recovering(hex()));
    }
    let key = r
        .contract
        .key
        .as_ref()
        .ok_or_else(|| RecoveryError::NoKey(hex()))?;
    // Encoded straight from the running state: no copy of it.
    let plain = Borrowed {
        initialized: r.contract.initialized,
        executed: r.contract.executed,
        height: r.contract.height,
        state: &r.state,
        sent: &r.sent,
        outbound: miner
            .outbound
            .values()
            .filter(|s| s.egress.speaker() == id)
            .map(|s| &s.egress)
            .collect(),
    };
    // The store's root over the same records (kept current with each commit): what queries
    // commit to, and what the next miner recomputes from the plaintext.
    let root = r.root;
    let log = r.contract.log;
    let encoded = padded(&plain);
    let sealed = sealing_key(chain, id, key).seal(
        &mut rand::rng(),
        &checkpoint_aad(chain, id, height, &log, &root),
        &encoded,
    );
    if sealed.len() > MAX_CHECKPOINT_BYTES as usize {
        return Err(RecoveryError::TooLarge {
            contract: hex(),
            size: sealed.len(),
            max: MAX_CHECKPOINT_BYTES,
        });
    }
    let size = sealed.len() as u32;
    let digest = veil_primitives::hash(&sealed);
    let chunks = sealed
        .chunks(CHECKPOINT_CHUNK_BYTES)
        .enumerate()
        .map(|(index, bytes)| {
            identity.sign_checkpoint_chunk(
                CheckpointChunk {
                    contract: *id,
                    height,
                    log,
                    root,
                    size,
                    digest,
                    index: index as u32,
                    bytes: bytes.to_vec(),
                },
                chain,
            )
        })
        .collect();
    Ok(Made {
        info: CheckpointInfo {
            height,
            log,
            root,
            size,
            digest,
            miner: identity.public_key(),
        },
        chunks,
    })
}

/// `plain` encoded and followed by zeros, so that sealed it is a whole number of chunks (or
/// exactly [MAX_CHECKPOINT_BYTES], which is not): its size, which the chain records for anyone
/// to see, then moves in steps of [CHECKPOINT_CHUNK_BYTES] and does not tell whether a command
/// created an entry (a transfer to a new account, say). Allocated once at its final size, so
/// no copy of the plaintext is freed unwiped.
fn padded<T: Write + EncodeSize>(plain: &T) -> zeroize::Zeroizing<Vec<u8>> {
    let overhead = veil_crypto::seal::OVERHEAD;
    let sealed = plain.encode_size() + overhead;
    let mut target = sealed.div_ceil(CHECKPOINT_CHUNK_BYTES) * CHECKPOINT_CHUNK_BYTES;
    if sealed <= MAX_CHECKPOINT_BYTES as usize {
        target = target.min(MAX_CHECKPOINT_BYTES as usize);
    }
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(target - overhead));
    plain.write(&mut *out);
    out.resize(target - overhead, 0);
    out
}

/// The checkpoint in `plain`, then nothing but the zeros [padded] adds.
fn unpadded(plain: &[u8]) -> Result<CheckpointState, commonware_codec::Error> {
    let mut buf = commonware_codec::Copying(plain);
    let state = CheckpointState::read_cfg(&mut buf, &())?;
    if buf.0.iter().any(|&byte| byte != 0) {
        return Err(commonware_codec::Error::ExtraData(buf.0.len()));
    }
    Ok(state)
}

/// Opens the checkpoint `info` names, checking its associated data and state root.
pub fn open(
    chain: &ChainIdentity,
    id: &ContractId,
    key: &[u8; 32],
    info: &CheckpointInfo,
    sealed: &[u8],
) -> Result<CheckpointState, RecoveryError> {
    let bad = |reason: String| RecoveryError::BadCheckpoint {
        contract: to_hex(id),
        height: info.height,
        reason,
    };
    if sealed.len() != info.size as usize {
        return Err(bad(format!(
            "it has {} bytes, the chain's record says {}",
            sealed.len(),
            info.size
        )));
    }
    if veil_primitives::hash(sealed) != info.digest {
        return Err(bad("its bytes do not hash to the chain's record".into()));
    }
    let aad = checkpoint_aad(chain, id, info.height, &info.log, &info.root);
    let plain = sealing_key(chain, id, key)
        .open(&aad, sealed)
        .map_err(|e| bad(e.to_string()))?;
    let state = unpadded(&plain).map_err(|e| bad(format!("its contents do not decode: {e}")))?;
    // Keys decode in strictly ascending order (no duplicates), as the store holds them.
    if state_root(id, state.state.iter()) != info.root {
        return Err(bad("its state does not hash to the recorded root".into()));
    }
    Ok(state)
}

impl Executor<'_> {
    /// Recovers `id`, at synced height `now`, from `checkpoint` (its record and sealed bytes;
    /// `None`: from the contract's first entry) and the log `entries` after it, then the
    /// entries that waited here; the contract runs from then on. Refused, changing nothing,
    /// unless all of it checks out.
    ///
    /// The checkpoint may be the one the assignment named or any later one (a miner that
    /// recovers late, or that lost its local state and re-synced, finds a newer one on chain),
    /// never an earlier one. It must open under its record (only a holder of the contract key
    /// made it), and its log position must lie on the chain's log: the entries given must fold
    /// from it to the assignment's position, or, for a checkpoint made after the assignment,
    /// the waiting entries must fold from the assignment's position to it.
    pub(crate) fn recover(
        &mut self,
        id: &ContractId,
        checkpoint: Option<(&CheckpointInfo, &[u8])>,
        staged: u64,
        entries: &[LogEntry],
        now: Height,
    ) -> Result<(u64, Height), RecoveryError> {
        let hex = || to_hex(id);
        // The `staged` entries staged beforehand come first (none: any left from an earlier
        // attempt are ignored, and dropped once the recovery succeeds).
        let stored = self.staged_count(id);
        if staged != 0 && staged != stored {
            return Err(RecoveryError::StageOffset {
                contract: hex(),
                staged: stored,
                offset: staged,
            });
        }
        let first = if staged == 0 {
            Vec::new()
        } else {
            self.staged(id)?
        };
        let entries: Vec<&LogEntry> = first.iter().chain(entries).collect();
        let r = self
            .miner
            .running
            .get(id)
            .ok_or_else(|| RecoveryError::NotHere(hex()))?;
        let recovery = r
            .contract
            .recovery
            .clone()
            .ok_or_else(|| RecoveryError::NotRecovering(hex()))?;
        let key = r
            .contract
            .key
            .clone()
            .ok_or_else(|| RecoveryError::NoKey(hex()))?;
        let bad = |height, reason: &str| RecoveryError::BadCheckpoint {
            contract: hex(),
            height,
            reason: reason.into(),
        };
        let (start, from) = match (checkpoint, &recovery.checkpoint) {
            (None, None) => (CheckpointState::default(), ContractLog::default()),
            (None, Some(named)) => {
                return Err(RecoveryError::WrongStart {
                    contract: hex(),
                    expected: format!("the checkpoint at height {} or a later one", named.height),
                    given: "no checkpoint".into(),
                });
            }
            (Some((info, bytes)), named) => {
                if let Some(named) = named {
                    if info.log.count < named.log.count {
                        return Err(bad(
                            info.height,
                            "it is older than the checkpoint the assignment named",
                        ));
                    }
                    if info.log.count == named.log.count && info != named {
                        return Err(bad(
                            info.height,
                            "it is not the checkpoint the assignment named",
                        ));
                    }
                }
                (open(self.chain, id, &key, info, bytes)?, info.log)
            }
        };
        let mut waiting = Vec::with_capacity(recovery.waiting as usize);
        for n in 0..recovery.waiting {
            let bytes = self
                .store
                .get(&recovery_key(id, n))
                .ok_or(RecoveryError::MissingWaiting(n))?;
            let entry = LogEntry::decode_cfg(bytes.to_vec(), &(MAX_TX_BYTES_CAP as usize))
                .map_err(|_| RecoveryError::MissingWaiting(n))?;
            waiting.push(entry);
        }
        let replay: Vec<&LogEntry> = if from.count <= recovery.target.count {
            // The entries given lead exactly from the checkpoint to the assignment.
            let mut log = from;
            for (index, e) in entries.iter().enumerate() {
                if !in_log(id, &e.message) {
                    return Err(RecoveryError::NotInLog {
                        contract: hex(),
                        index,
                    });
                }
                log.fold(e.height, &e.parent, &e.message);
            }
            if log != recovery.target {
                return Err(RecoveryError::LogMismatch {
                    given: entries.len(),
                    expected: recovery.target.count,
                    got: log.count,
                });
            }
            entries.iter().copied().chain(&waiting).collect()
        } else {
            // Made after the assignment: the waiting entries lead to it.
            let skip = (from.count - recovery.target.count) as usize;
            if skip > waiting.len() {
                return Err(RecoveryError::Ahead {
                    contract: hex(),
                    checkpoint: from.count,
                    synced: recovery.tail.count,
                });
            }
            let mut log = recovery.target;
            for e in &waiting[..skip] {
                log.fold(e.height, &e.parent, &e.message);
            }
            if log != from {
                return Err(bad(
                    checkpoint.map_or(0, |(c, _)| c.height),
                    "its log position is not on this contract's log",
                ));
            }
            waiting[skip..].iter().collect()
        };
        for n in 0..recovery.waiting {
            self.commit.delete(recovery_key(id, n));
        }
        self.unstage(id, stored);
        self.install(id, start, from);
        for e in &replay {
            self.apply_entry(id, e.height, &e.parent, &e.message);
        }
        self.keep_results_since(id, now.saturating_sub(RESULT_WINDOW));
        let r = &self.miner.running[id];
        debug_assert_eq!(r.contract.log, recovery.tail);
        tracing::info!(
            contract = hex(),
            from = checkpoint.map(|(c, _)| c.height),
            replayed = replay.len(),
            "contract recovered: it runs here from now on"
        );
        Ok((r.contract.log.count, r.contract.height))
    }

    /// Stages log `entries` for contract `id`'s recovery at position `offset` among those
    /// staged (0 starts over): a log too large for one `RecoverContract` call arrives in
    /// parts. Each must be an entry of the contract's log; whether they lead to the
    /// assignment is checked when the recovery completes, so nothing runs before that.
    /// Returns how many are staged.
    pub(crate) fn stage(
        &mut self,
        id: &ContractId,
        offset: u64,
        entries: &[LogEntry],
    ) -> Result<u64, RecoveryError> {
        let hex = || to_hex(id);
        let r = self
            .miner
            .running
            .get(id)
            .ok_or_else(|| RecoveryError::NotHere(hex()))?;
        let target = r
            .contract
            .recovery
            .as_ref()
            .ok_or_else(|| RecoveryError::NotRecovering(hex()))?
            .target
            .count;
        let staged = self.staged_count(id);
        if offset != staged && offset != 0 {
            return Err(RecoveryError::StageOffset {
                contract: hex(),
                staged,
                offset,
            });
        }
        let total = offset.saturating_add(entries.len() as u64);
        if total > target {
            return Err(RecoveryError::TooManyStaged {
                contract: hex(),
                target,
                given: total,
            });
        }
        if let Some(index) = entries.iter().position(|e| !in_log(id, &e.message)) {
            return Err(RecoveryError::NotInLog {
                contract: hex(),
                index,
            });
        }
        if offset == 0 {
            self.unstage(id, staged);
        }
        for (n, e) in (offset..).zip(entries) {
            self.commit.put(staged_key(id, n), e.encode().to_vec());
        }
        self.commit
            .put(staged_count_key(id), total.to_be_bytes().to_vec());
        Ok(total)
    }

    /// How many entries are staged for `id`'s recovery.
    pub(super) fn staged_count(&self, id: &ContractId) -> u64 {
        self.store
            .get(&staged_count_key(id))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes)
    }

    /// The entries staged for `id`'s recovery, in order.
    fn staged(&self, id: &ContractId) -> Result<Vec<LogEntry>, RecoveryError> {
        (0..self.staged_count(id))
            .map(|n| {
                let bytes = self
                    .store
                    .get(&staged_key(id, n))
                    .ok_or(RecoveryError::MissingWaiting(n))?;
                LogEntry::decode_cfg(bytes.to_vec(), &(MAX_TX_BYTES_CAP as usize))
                    .map_err(|_| RecoveryError::MissingWaiting(n))
            })
            .collect()
    }

    /// Drops the first `count` entries staged for `id`'s recovery and the count.
    pub(super) fn unstage(&mut self, id: &ContractId, count: u64) {
        for n in 0..count {
            self.commit.delete(staged_key(id, n));
        }
        self.commit.delete(staged_count_key(id));
    }

    /// Makes `start` the contract's state at log position `log`, with its queued messages
    /// signed by this worker.
    fn install(&mut self, id: &ContractId, start: CheckpointState, log: ContractLog) {
        let prefix = state_prefix(id);
        for (k, v) in &start.state {
            self.commit.put([prefix.as_slice(), k].concat(), v.clone());
        }
        for (destination, next) in &start.sent {
            self.commit.put(
                sent_key(id, &Digest::from(*destination)),
                next.to_be_bytes().to_vec(),
            );
        }
        let r = self.miner.running.get_mut(id).expect("checked by caller");
        r.contract.recovery = None;
        r.contract.initialized = start.initialized;
        r.contract.executed = start.executed;
        r.contract.height = start.height;
        r.contract.log = log;
        r.bytes = super::state_bytes(&start.state, &start.sent);
        r.state = Arc::new(start.state);
        r.sent = Arc::new(start.sent);
        for egress in start.outbound {
            self.queue(egress);
        }
        self.save(id);
    }
}

/// A running contract's checkpoint contents, borrowed: encodes exactly as [CheckpointState].
struct Borrowed<'a> {
    initialized: bool,
    executed: u64,
    height: Height,
    state: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    sent: &'a BTreeMap<[u8; 32], u64>,
    outbound: Vec<&'a ContractEgress>,
}

impl Write for Borrowed<'_> {
    fn write(&self, buf: &mut impl BufMut) {
        self.initialized.write(buf);
        self.executed.write(buf);
        self.height.write(buf);
        self.state.write(buf);
        self.sent.write(buf);
        self.outbound.len().write(buf);
        for e in &self.outbound {
            e.write(buf);
        }
    }
}

impl EncodeSize for Borrowed<'_> {
    fn encode_size(&self) -> usize {
        1 + 8
            + 8
            + self.state.encode_size()
            + self.sent.encode_size()
            + self.outbound.len().encode_size()
            + self.outbound.iter().map(|e| e.encode_size()).sum::<usize>()
    }
}

impl Write for CheckpointState {
    fn write(&self, buf: &mut impl BufMut) {
        self.initialized.write(buf);
        self.executed.write(buf);
        self.height.write(buf);
        self.state.write(buf);
        self.sent.write(buf);
        self.outbound.write(buf);
    }
}

impl EncodeSize for CheckpointState {
    fn encode_size(&self) -> usize {
        1 + 8 + 8 + self.state.encode_size() + self.sent.encode_size() + self.outbound.encode_size()
    }
}

impl Read for CheckpointState {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        // Only pRuntime makes these (they are authenticated before decoding); the bounds keep
        // a bug from allocating without limit.
        let max = MAX_CHECKPOINT_BYTES as usize;
        let bytes = (RangeCfg::new(0..=max), ());
        Ok(Self {
            initialized: bool::read(buf)?,
            executed: u64::read(buf)?,
            height: u64::read(buf)?,
            state: BTreeMap::<Vec<u8>, Vec<u8>>::read_cfg(
                buf,
                &(RangeCfg::new(0..=max), (bytes, bytes)),
            )?,
            sent: BTreeMap::<[u8; 32], u64>::read_cfg(buf, &(RangeCfg::new(0..=max), ((), ())))?,
            outbound: Vec::<ContractEgress>::read_cfg(buf, &(RangeCfg::new(0..=max), ()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use commonware_codec::{DecodeExt as _, Encode as _};
    use veil_primitives::{
        contract::{ContractMessage, ContractReply},
        hash,
    };

    use super::*;

    #[test]
    fn a_checkpoint_encodes_the_same_from_a_running_state_and_decodes_back() {
        let state: BTreeMap<Vec<u8>, Vec<u8>> = (0u8..50)
            .map(|i| (vec![i; 3], vec![i; i as usize]))
            .collect();
        let sent: BTreeMap<[u8; 32], u64> = [([1; 32], 4), ([2; 32], 9)].into();
        let outbound = vec![
            ContractEgress::Message(ContractMessage {
                source: hash(b"a"),
                destination: hash(b"b"),
                sequence: 3,
                fuel: 10,
                envelope: None,
            }),
            ContractEgress::Reply(ContractReply {
                source: hash(b"b"),
                destination: hash(b"a"),
                sequence: 0,
                fuel: 10,
                envelope: None,
            }),
        ];
        let owned = CheckpointState {
            initialized: true,
            executed: 7,
            height: 99,
            state: state.clone(),
            sent: sent.clone(),
            outbound: outbound.clone(),
        };
        let borrowed = Borrowed {
            initialized: true,
            executed: 7,
            height: 99,
            state: &state,
            sent: &sent,
            outbound: outbound.iter().collect(),
        };
        let bytes = borrowed.encode();
        assert_eq!(bytes, owned.encode());
        assert_eq!(borrowed.encode_size(), bytes.len());
        assert_eq!(CheckpointState::decode(bytes).unwrap(), owned);
    }

    /// A checkpoint seals to whole chunks, so a state one entry larger has the same size on
    /// chain; the zeros come off on opening, and anything else after the state is refused.
    #[test]
    fn checkpoints_are_padded_to_whole_chunks() {
        let state = |entries: u8| CheckpointState {
            initialized: true,
            executed: 1,
            height: 2,
            state: (0..entries).map(|i| (vec![i], vec![i; 40])).collect(),
            sent: BTreeMap::new(),
            outbound: Vec::new(),
        };
        let sealed_len = |entries: u8| padded(&state(entries)).len() + veil_crypto::seal::OVERHEAD;
        assert_eq!(sealed_len(1), CHECKPOINT_CHUNK_BYTES);
        assert_eq!(sealed_len(1), sealed_len(2));
        assert_eq!(sealed_len(250) % CHECKPOINT_CHUNK_BYTES, 0);
        let plain = padded(&state(3));
        assert_eq!(unpadded(&plain).unwrap(), state(3));
        assert_eq!(
            unpadded(&state(3).encode()).unwrap(),
            state(3),
            "unpadded still opens"
        );
        let mut tampered = plain.to_vec();
        *tampered.last_mut().unwrap() = 1;
        assert!(unpadded(&tampered).is_err());
        // 16 MiB is not a whole number of chunks: a checkpoint just under it pads to it exactly.
        let near = |len: usize| CheckpointState {
            state: BTreeMap::from([(vec![1], vec![7; len])]),
            ..state(0)
        };
        let want = MAX_CHECKPOINT_BYTES as usize - 100 - veil_crypto::seal::OVERHEAD;
        let len = want - (near(want).encode_size() - want);
        assert_eq!(near(len).encode_size(), want);
        assert_eq!(
            padded(&near(len)).len() + veil_crypto::seal::OVERHEAD,
            MAX_CHECKPOINT_BYTES as usize
        );
    }
}
