//! Contract logs and encrypted state checkpoints: what lets another miner take a contract over.
//!
//! Every message the chain routes to or from a contract (commands, messages, replies) is folded
//! into the contract's [ContractLog], a hash chain the chain keeps in the contract's record. Its
//! miner folds the same messages as it executes them, so a checkpoint names exactly the log
//! position its state belongs to. A miner taking a contract over starts from the latest
//! checkpoint, replays the log entries after it, and checks that its fold ends where the
//! chain's did when it assigned the contract: no entry can be left out, added or reordered.
//!
//! A checkpoint is the contract's state sealed under a key derived from its contract key, with
//! associated data binding chain, contract, height, log position and state root
//! ([checkpoint_aad]); only a pRuntime holding the contract key can make or open one. It is
//! posted in [CheckpointChunk]s signed by the contract's miner; the chain keeps the latest
//! complete one ([CheckpointInfo]).

use bytes::BufMut;
use commonware_codec::{Buf, Encode as _, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

use super::{ContractId, context};
use crate::{
    AccountId, ChainIdentity, Digest, Height, Message, PrivateKey, Signature, hash, hash_parts,
    namespace,
};

/// Bytes of sealed checkpoint one chunk carries (a transaction stays under the least
/// `max_tx_bytes` governance allows).
pub const CHECKPOINT_CHUNK_BYTES: usize = 12 * 1024;
/// Largest sealed checkpoint.
pub const MAX_CHECKPOINT_BYTES: u32 = 16 * 1024 * 1024;
/// Largest contract state, its storage as [state_entry_bytes] and its channels as
/// [CHANNEL_BYTES] count it: a call that would grow it past this fails and changes nothing. It
/// leaves a quarter of [MAX_CHECKPOINT_BYTES] for the messages a checkpoint carries queued
/// (usually few), so every contract can be checkpointed and recovered by another miner.
pub const MAX_STATE_BYTES: u64 = 12 * 1024 * 1024;

/// What one state entry counts against [MAX_STATE_BYTES]: its key and value, and 8 bytes
/// covering their length prefixes in a checkpoint.
pub fn state_entry_bytes(key: &[u8], value: &[u8]) -> u64 {
    key.len() as u64 + value.len() as u64 + 8
}

/// What one channel to another contract (its next sequence, in the checkpoint beside the
/// state) counts against [MAX_STATE_BYTES]: destination, counter and framing.
pub const CHANNEL_BYTES: u64 = 48;

/// A contract's log: how many messages were routed to or from it, and the hash chain over
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContractLog {
    /// Entries folded in.
    pub count: u64,
    /// `H(domain ‖ previous ‖ height ‖ parent ‖ H(message))`, all zeros when empty.
    pub hash: Digest,
}

impl Default for ContractLog {
    fn default() -> Self {
        Self {
            count: 0,
            hash: Digest::from([0; 32]),
        }
    }
}

impl ContractLog {
    /// Folds in a message routed in the block at `height` whose parent is `parent` (the block
    /// hash contracts see: the block's own hash is not known while it executes).
    pub fn fold(&mut self, height: Height, parent: &Digest, message: &Message) {
        self.hash = hash_parts(&[
            namespace::CONTRACT_LOG,
            self.hash.as_ref(),
            &height.to_be_bytes(),
            parent.as_ref(),
            hash(&message.encode()).as_ref(),
        ]);
        self.count += 1;
    }
}

/// One entry of a contract's log: a routed message with the height and parent hash of its
/// block, which the fold binds and which contracts see when they run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Height of the block that routed it.
    pub height: Height,
    /// That block's parent hash.
    pub parent: Digest,
    /// The message.
    pub message: Message,
}

/// Whether `message` belongs to `contract`'s log: routed to it, or sent by it.
pub fn in_log(contract: &ContractId, message: &Message) -> bool {
    matches!(&message.destination, crate::Destination::Contract(c) if c == contract)
        || matches!(&message.origin, crate::Origin::Contract(c) if c == contract)
}

/// The chain's record of a contract's latest complete checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Height whose state it holds (every log entry up to the end of that block).
    pub height: Height,
    /// The log position of that state.
    pub log: ContractLog,
    /// The contract's state root at that point (what query answers commit to).
    pub root: Digest,
    /// Size of the sealed checkpoint.
    pub size: u32,
    /// SHA-256 of the sealed checkpoint: two seals of one state differ, and their chunks must
    /// never mix.
    pub digest: Digest,
    /// The miner that made it.
    pub miner: AccountId,
}

impl CheckpointInfo {
    /// Chunks the sealed checkpoint is posted in.
    pub fn chunks(&self) -> u32 {
        chunks(self.size)
    }
}

/// Chunks a sealed checkpoint of `size` bytes is posted in.
fn chunks(size: u32) -> u32 {
    size.div_ceil(CHECKPOINT_CHUNK_BYTES as u32)
}

/// A checkpoint whose chunks are arriving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointUpload {
    /// What it will be once complete.
    pub info: CheckpointInfo,
    /// Chunks received.
    pub received: u32,
}

/// One chunk of a sealed checkpoint, as its miner signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointChunk {
    /// The contract.
    pub contract: ContractId,
    /// Height of the state.
    pub height: Height,
    /// Log position of the state.
    pub log: ContractLog,
    /// State root.
    pub root: Digest,
    /// Size of the whole sealed checkpoint.
    pub size: u32,
    /// SHA-256 of the whole sealed checkpoint.
    pub digest: Digest,
    /// The chunk's index (it starts at `index * CHECKPOINT_CHUNK_BYTES`).
    pub index: u32,
    /// Its bytes: [CHECKPOINT_CHUNK_BYTES], or the rest for the last one.
    pub bytes: Vec<u8>,
}

impl CheckpointChunk {
    /// Signs for `chain` with the miner's identity key.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedCheckpointChunk {
        let signature = key.sign(namespace::CONTRACT_CHECKPOINT_CHUNK, &chain.bind(&self));
        SignedCheckpointChunk {
            chunk: self,
            signer: key.public_key(),
            signature,
        }
    }

    /// The length chunk `index` of a checkpoint of `size` bytes has, or `None` past the end.
    pub fn expected_len(size: u32, index: u32) -> Option<usize> {
        let n = chunks(size);
        if index >= n {
            None
        } else if index == n - 1 {
            Some(size as usize - (n as usize - 1) * CHECKPOINT_CHUNK_BYTES)
        } else {
            Some(CHECKPOINT_CHUNK_BYTES)
        }
    }
}

/// A [CheckpointChunk] signed by the contract's miner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpointChunk {
    /// The chunk.
    pub chunk: CheckpointChunk,
    /// The miner's identity key.
    pub signer: AccountId,
    /// Under [namespace::CONTRACT_CHECKPOINT_CHUNK] over chain id, genesis hash and `chunk`.
    pub signature: Signature,
}

impl SignedCheckpointChunk {
    /// Whether `signer` signed this for `chain` (not who the signer is: the chain checks that).
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.signer.verify(
            namespace::CONTRACT_CHECKPOINT_CHUNK,
            &chain.bind(&self.chunk),
            &self.signature,
        )
    }
}

/// Associated data of a sealed checkpoint: chain, contract, height, log position and state
/// root, so a checkpoint opens only as the state of that contract at that point.
pub fn checkpoint_aad(
    chain: &ChainIdentity,
    contract: &ContractId,
    height: Height,
    log: &ContractLog,
    root: &Digest,
) -> Vec<u8> {
    context(
        namespace::CONTRACT_CHECKPOINT,
        chain,
        contract,
        &[
            &height.to_be_bytes(),
            &log.count.to_be_bytes(),
            log.hash.as_ref(),
            root.as_ref(),
        ],
    )
}

/// State key of a contract's checkpoint upload in progress.
pub fn checkpoint_upload_state_key(contract: &ContractId) -> Digest {
    crate::state_key(b"contracts/checkpoint_upload", contract.as_ref())
}

/// State key of chunk `index` of `contract`'s checkpoint at `height`.
pub fn checkpoint_chunk_state_key(contract: &ContractId, height: Height, index: u32) -> Digest {
    crate::state_key(
        b"contracts/checkpoint_chunk",
        &[
            contract.as_ref(),
            &height.to_be_bytes(),
            &index.to_be_bytes(),
        ]
        .concat(),
    )
}

impl Write for LogEntry {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.parent.write(buf);
        self.message.write(buf);
    }
}

impl EncodeSize for LogEntry {
    fn encode_size(&self) -> usize {
        8 + 32 + self.message.encode_size()
    }
}

impl Read for LogEntry {
    /// The largest message payload accepted.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            height: u64::read(buf)?,
            parent: Digest::read(buf)?,
            message: Message::read_cfg(buf, max_payload)?,
        })
    }
}

impl Write for ContractLog {
    fn write(&self, buf: &mut impl BufMut) {
        self.count.write(buf);
        self.hash.write(buf);
    }
}

impl EncodeSize for ContractLog {
    fn encode_size(&self) -> usize {
        8 + 32
    }
}

impl Read for ContractLog {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            count: u64::read(buf)?,
            hash: Digest::read(buf)?,
        })
    }
}

impl Write for CheckpointInfo {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.log.write(buf);
        self.root.write(buf);
        self.size.write(buf);
        self.digest.write(buf);
        self.miner.write(buf);
    }
}

impl EncodeSize for CheckpointInfo {
    fn encode_size(&self) -> usize {
        8 + self.log.encode_size() + 32 + 4 + 32 + self.miner.encode_size()
    }
}

impl Read for CheckpointInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            height: u64::read(buf)?,
            log: ContractLog::read(buf)?,
            root: Digest::read(buf)?,
            size: u32::read(buf)?,
            digest: Digest::read(buf)?,
            miner: crate::wire::read_account(buf)?,
        })
    }
}

impl Write for CheckpointUpload {
    fn write(&self, buf: &mut impl BufMut) {
        self.info.write(buf);
        self.received.write(buf);
    }
}

impl EncodeSize for CheckpointUpload {
    fn encode_size(&self) -> usize {
        self.info.encode_size() + 4
    }
}

impl Read for CheckpointUpload {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            info: CheckpointInfo::read(buf)?,
            received: u32::read(buf)?,
        })
    }
}

impl Write for CheckpointChunk {
    fn write(&self, buf: &mut impl BufMut) {
        self.contract.write(buf);
        self.height.write(buf);
        self.log.write(buf);
        self.root.write(buf);
        self.size.write(buf);
        self.digest.write(buf);
        self.index.write(buf);
        self.bytes.write(buf);
    }
}

impl EncodeSize for CheckpointChunk {
    fn encode_size(&self) -> usize {
        32 + 8 + self.log.encode_size() + 32 + 4 + 32 + 4 + self.bytes.encode_size()
    }
}

impl Read for CheckpointChunk {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            contract: ContractId::read(buf)?,
            height: u64::read(buf)?,
            log: ContractLog::read(buf)?,
            root: Digest::read(buf)?,
            size: u32::read(buf)?,
            digest: Digest::read(buf)?,
            index: u32::read(buf)?,
            bytes: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=CHECKPOINT_CHUNK_BYTES), ()))?,
        })
    }
}

impl Write for SignedCheckpointChunk {
    fn write(&self, buf: &mut impl BufMut) {
        self.chunk.write(buf);
        self.signer.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedCheckpointChunk {
    fn encode_size(&self) -> usize {
        self.chunk.encode_size() + self.signer.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedCheckpointChunk {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            chunk: CheckpointChunk::read(buf)?,
            signer: crate::wire::read_account(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Destination, Origin};

    fn message(sequence: u64) -> Message {
        Message {
            origin: Origin::Chain,
            destination: Destination::Contract(hash(b"c")),
            sequence,
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn the_log_depends_on_every_entry_and_its_order() {
        let parent = hash(b"parent");
        let fold = |entries: &[(Height, Message)]| {
            let mut log = ContractLog::default();
            for (h, m) in entries {
                log.fold(*h, &parent, m);
            }
            log
        };
        let a = fold(&[(1, message(0)), (2, message(1))]);
        assert_eq!(a.count, 2);
        assert_ne!(a, fold(&[(2, message(1)), (1, message(0))]));
        assert_ne!(a, fold(&[(1, message(0)), (3, message(1))]));
        assert_ne!(a.hash, fold(&[(1, message(0))]).hash);
        assert_eq!(a, fold(&[(1, message(0)), (2, message(1))]));
    }

    #[test]
    fn chunk_lengths_cover_the_checkpoint_exactly() {
        for size in [1, 100, CHECKPOINT_CHUNK_BYTES as u32, 3 * 12 * 1024 + 5] {
            let total: usize = (0..chunks(size))
                .map(|i| CheckpointChunk::expected_len(size, i).unwrap())
                .sum();
            assert_eq!(total, size as usize);
            assert_eq!(CheckpointChunk::expected_len(size, chunks(size)), None);
        }
    }
}
