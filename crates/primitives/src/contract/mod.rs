//! Contracts on chain: code uploads, instances, miner assignments and encrypted commands.
//!
//! Code is public and content-addressed (its SHA-256). A module is larger than a transaction
//! may be, so it is uploaded in chunks of [CODE_CHUNK_BYTES]; the chain checks it against the
//! VM's deploy policy when the last chunk arrives. An instance names its code and the miner
//! that runs it; its id is derived from the developer and the transaction's nonce, so the
//! developer knows it before the transaction lands. A command carries an [Envelope] sealed to
//! the contract's key, padded to a size bucket, and a prepaid fuel limit that sets its fee, so
//! neither its length nor its fee says anything about what it does or whether it succeeded.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

use crate::{AccountId, Balance, ChainIdentity, Digest, Height};

mod checkpoint;
mod message;
mod policy;

pub use checkpoint::{
    CHANNEL_BYTES, CHECKPOINT_CHUNK_BYTES, CheckpointChunk, CheckpointInfo, CheckpointUpload,
    ContractLog, LogEntry, MAX_CHECKPOINT_BYTES, MAX_STATE_BYTES, SignedCheckpointChunk,
    checkpoint_aad, checkpoint_chunk_state_key, checkpoint_upload_state_key, in_log,
    state_entry_bytes,
};
pub use message::{
    Channel, ContractEgress, ContractMessage, ContractReply, MAX_MESSAGE_ENVELOPE,
    MAX_MESSAGE_FUEL, MAX_MESSAGE_PAYLOAD, MessageOutcome, SignedContractEgress, channel_state_key,
    message_aad, reply_aad,
};
pub use policy::{MAX_POLICY_DEVELOPERS, MinerPolicy, miner_policy_state_key};

/// Largest chunk of code one upload carries (fits a transaction under the 64 KiB cap).
pub const CODE_CHUNK_BYTES: usize = 48 * 1024;
/// Largest contract module (the VM's limit).
pub const MAX_CODE_BYTES: u32 = 512 * 1024;
/// Largest ciphertext a command carries (a bucket size, fits a transaction).
pub const MAX_ENVELOPE_BYTES: usize = 32 * 1024;
/// Topic of the chain's contract events (instantiated, assigned) that workers follow.
pub const CONTRACTS_TOPIC: &[u8] = b"veil/contracts";
/// Topic of the gatekeepers' contract keys ([ContractKey]) in their shared stream.
pub const CONTRACT_KEY_TOPIC: &[u8] = b"veil/contract-key";
/// Topic of the gatekeepers' contract keys handed to assigned miners ([ContractGrant]).
pub const CONTRACT_GRANT_TOPIC: &[u8] = b"veil/contract-grant";
/// Topic of a miner's encrypted command results ([ContractResults]).
pub const CONTRACT_RESULTS_TOPIC: &[u8] = b"veil/contract-results";
/// Most contract messages and replies one [ContractCall::Post] carries.
pub const MAX_POST_BATCH: usize = 128;
/// Largest sealed contract key a gatekeeper publishes.
pub const MAX_SEALED_KEY_BYTES: usize = 256;
/// Largest sealed reply to one command (a bucket size): a command's output and events
/// together stay below it ([MAX_REPLY_PLAINTEXT]), and one reply with its result's framing fits
/// a message ([MAX_RESULTS_BYTES]).
pub const MAX_REPLY_BYTES: usize = 12 * 1024;
/// Largest reply plaintext (output, events and framing) that seals into [MAX_REPLY_BYTES].
pub const MAX_REPLY_PLAINTEXT: usize = MAX_REPLY_BYTES - 12 - 4 - 16;
/// Largest payload of one [ContractResults] message: the least message size the chain may
/// be configured with ([crate::MIN_MESSAGE_BYTES]).
pub const MAX_RESULTS_BYTES: usize = crate::MIN_MESSAGE_BYTES as usize;

/// A contract's id.
pub type ContractId = Digest;

/// The ciphertext size for a plaintext of `len` bytes: the smallest bucket (256 B, 1 KiB, 4
/// KiB, then 4 KiB steps) that holds it with its 4-byte length frame and 16-byte tag.
pub fn bucket(len: usize) -> usize {
    let needed = len.saturating_add(4 + 16);
    match needed {
        0..=256 => 256,
        257..=1024 => 1024,
        _ => needed.div_ceil(4096).saturating_mul(4096),
    }
}

/// Whether `len` is a ciphertext size [bucket] produces.
pub fn is_bucket(len: usize) -> bool {
    len == 256 || len == 1024 || (len >= 4096 && len.is_multiple_of(4096))
}

/// A message encrypted to an X25519 public key (`veil_crypto::envelope` seals and opens it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The padded, sealed plaintext: always a [bucket] size.
    pub ciphertext: Vec<u8>,
}

/// What an account asks of the contracts module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractCall {
    /// Upload one chunk of a module. The first chunk of a hash fixes its size; chunks may come
    /// in any order, each at most once.
    UploadCode {
        /// SHA-256 of the whole module.
        hash: Digest,
        /// Size of the whole module.
        size: u32,
        /// Chunk index (the chunk starts at `index * CODE_CHUNK_BYTES`).
        index: u32,
        /// The chunk's bytes: [CODE_CHUNK_BYTES], or the rest for the last one.
        chunk: Vec<u8>,
    },
    /// Create a contract from valid uploaded code, run by a registered miner. Its id is
    /// [contract_id] of the sender and this transaction's nonce. Its `init` arrives as its
    /// first command, from the developer, once the gatekeepers have published its key.
    Instantiate {
        /// The code's hash.
        code: Digest,
        /// The worker that runs it.
        miner: AccountId,
    },
    /// Move a contract to another registered miner (its developer only).
    Assign {
        /// The contract.
        contract: ContractId,
        /// The new miner.
        miner: AccountId,
    },
    /// Revoke one of the sender's query sessions before its expiry (every worker stops
    /// answering it once it has synced the block).
    RevokeSession {
        /// The session's X25519 public key.
        session: [u8; 32],
        /// The grant's expiry, after which workers forget the revocation.
        expiry: u64,
    },
    /// An encrypted command. The developer's first one is `init`; until it is routed, only
    /// the developer may send commands.
    Command {
        /// The contract.
        contract: ContractId,
        /// Fuel the command may spend; paid for whether it is used or not.
        fuel: u64,
        /// The sealed command.
        envelope: Envelope,
    },
    /// Contracts' messages to other contracts and replies, each signed by its contract's miner
    /// (any account may post them: the signatures are what count), applied in order, all or
    /// none; at most [MAX_POST_BATCH].
    Post(Vec<SignedContractEgress>),
    /// A chunk of a contract's encrypted state checkpoint, signed by its miner (any account
    /// may post it). Boxed: far larger than the other calls.
    Checkpoint(Box<SignedCheckpointChunk>),
    /// Set which developers' contracts a registered worker takes (its operator only).
    SetMinerPolicy {
        /// The worker.
        miner: AccountId,
        /// Its new policy.
        policy: MinerPolicy,
    },
}

/// Why a contract moved to another miner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reassignment {
    /// Its developer asked.
    Developer,
    /// Governance decided.
    Governance,
    /// Its miner was judged unresponsive for an era.
    Unresponsive,
    /// Its miner let the log run ahead of the latest checkpoint for longer than allowed.
    MissedCheckpoints,
    /// Its miner was elected gatekeeper: it holds the root key and runs no developer's code
    /// while another miner can.
    Gatekeeper,
}

/// Contract parameters, set at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContractParams {
    /// Fee per 1,000 units of fuel a command reserves.
    pub fuel_price_per_kilo: Balance,
    /// Most fuel one command may reserve.
    pub max_command_fuel: u64,
    /// Fee per byte of uploaded code, on top of the transaction's byte fee: code is kept by
    /// every validator for good.
    pub code_byte_fee: Balance,
    /// Blocks between a miner's checkpoints of a contract whose log moved.
    pub checkpoint_interval: u64,
    /// Blocks a contract's log may stay ahead of its latest checkpoint before the chain
    /// moves the contract to another miner (checked at each era's first block).
    pub checkpoint_grace: u64,
}

impl Default for ContractParams {
    fn default() -> Self {
        Self {
            fuel_price_per_kilo: 1,
            max_command_fuel: 50_000_000,
            code_byte_fee: 10,
            checkpoint_interval: 50,
            checkpoint_grace: 400,
        }
    }
}

impl ContractParams {
    /// Checks the parameters are usable.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_command_fuel < 100_000 {
            return Err("max_command_fuel must be at least 100000");
        }
        if self.checkpoint_interval == 0 {
            return Err("checkpoint_interval must be at least 1");
        }
        if self.checkpoint_grace < 2 * self.checkpoint_interval {
            return Err("checkpoint_grace must be at least twice checkpoint_interval");
        }
        Ok(())
    }

    /// What a call of the contracts module costs on top of the transaction's size fee.
    pub fn call_fee(&self, call: &ContractCall) -> Balance {
        match call {
            ContractCall::UploadCode { chunk, .. } => {
                self.code_byte_fee.saturating_mul(chunk.len() as Balance)
            }
            ContractCall::Command { fuel, .. } => self
                .fuel_price_per_kilo
                .saturating_mul((*fuel).div_ceil(1_000) as Balance),
            ContractCall::Instantiate { .. }
            | ContractCall::Assign { .. }
            | ContractCall::RevokeSession { .. }
            | ContractCall::Post(_)
            | ContractCall::Checkpoint(_)
            | ContractCall::SetMinerPolicy { .. } => 0,
        }
    }
}

/// Uploaded code: its size and which chunks have arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// Size of the whole module.
    pub size: u32,
    /// Chunks received so far.
    pub received: u32,
    /// Who uploaded the first chunk.
    pub uploader: AccountId,
    /// Set once every chunk is in and the module passed the deploy policy.
    pub valid: bool,
}

impl CodeInfo {
    /// Chunks a module of this size has.
    pub fn chunks(&self) -> u32 {
        self.size.div_ceil(CODE_CHUNK_BYTES as u32)
    }
}

/// A contract instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractInfo {
    /// The account that instantiated it (sends `init`, may reassign it).
    pub developer: AccountId,
    /// Its code's hash.
    pub code: Digest,
    /// The miner that runs it.
    pub miner: AccountId,
    /// Height it was created at.
    pub created: Height,
    /// Its X25519 public key, once the gatekeepers published it.
    pub public_key: Option<[u8; 32]>,
    /// Whether the developer's first command (its `init`) has been routed. Until then only the
    /// developer may send commands, so nobody can initialize someone else's contract.
    pub initialized: bool,
    /// How many times the contract was assigned after its creation (0 for the first miner).
    pub assignment: u64,
    /// Whether the gatekeepers handed the contract key to the current assignment's miner.
    /// Commands to a new contract wait for it, so its first miner never receives a command it
    /// cannot open; a later miner keeps what arrives while it recovers.
    pub granted: bool,
    /// Height of the current assignment (its creation for the first miner).
    pub assigned_at: Height,
    /// Every message routed to or from it so far.
    pub log: ContractLog,
    /// Its latest complete checkpoint.
    pub checkpoint: Option<CheckpointInfo>,
}

/// What a contract's miner receives for each command: the chain's message to the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandMessage {
    /// The sender's nonce: bound into the envelope's associated data.
    pub nonce: u64,
    /// The transaction's expiry: bound too, so an old ciphertext cannot be resent later.
    pub expiry: Height,
    /// Fuel reserved.
    pub fuel: u64,
    /// The sealed command.
    pub envelope: Envelope,
}

/// A contract's key as the gatekeepers publish it: derived deterministically from the root key
/// and the contract id, so every gatekeeper sends identical bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractKey {
    /// The contract.
    pub contract: ContractId,
    /// Its X25519 public key: what clients encrypt commands to.
    pub public_key: [u8; 32],
    /// The contract key sealed under a key derived from the root key, for gatekeepers that
    /// join later.
    pub sealed_key: Vec<u8>,
}

/// Events of the contracts module, on [CONTRACTS_TOPIC].
// Short-lived values encoded straight into a message; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractEvent {
    /// A contract was created.
    Instantiated {
        /// Its id.
        contract: ContractId,
        /// Its code.
        code: Digest,
        /// Its developer.
        developer: AccountId,
        /// Its miner.
        miner: AccountId,
        /// The miner's registered X25519 key, which the gatekeepers seal the contract key to.
        miner_ecdh: [u8; 32],
    },
    /// A contract moved to another miner.
    Assigned {
        /// The contract.
        contract: ContractId,
        /// Its code.
        code: Digest,
        /// Its developer.
        developer: AccountId,
        /// The new miner.
        miner: AccountId,
        /// The new miner's registered X25519 key.
        miner_ecdh: [u8; 32],
        /// The assignment's number ([ContractInfo::assignment]).
        assignment: u64,
        /// Why it moved.
        reason: Reassignment,
        /// The contract's log when it moved: the new miner's recovery must end exactly here.
        log: ContractLog,
        /// The latest checkpoint when it moved: the new miner starts from it (none: from the
        /// contract's first log entry).
        checkpoint: Option<CheckpointInfo>,
    },
    /// An account revoked one of its query sessions.
    SessionRevoked {
        /// The account.
        account: AccountId,
        /// The session's X25519 public key.
        session: [u8; 32],
        /// When the grant would have expired (block-time milliseconds).
        expiry: u64,
    },
}

/// A contract key sealed by the gatekeepers to the miner of one assignment: an envelope to the
/// miner's registered X25519 key, with a DRBG ephemeral so every gatekeeper sends the same
/// bytes. Only that miner's pRuntime opens it, and it checks the key against the published
/// public key before using it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractGrant {
    /// The contract.
    pub contract: ContractId,
    /// The miner.
    pub miner: AccountId,
    /// The assignment it serves.
    pub assignment: u64,
    /// The contract key, sealed ([grant_aad] binds the fields above and the chain).
    pub envelope: Envelope,
}

/// A miner's results for commands of one contract, in the order it executed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractResults {
    /// The contract.
    pub contract: ContractId,
    /// The results.
    pub results: Vec<CommandResult>,
}

/// The result of one command, for its sender alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResult {
    /// The command's sender.
    pub sender: AccountId,
    /// The command transaction's nonce.
    pub nonce: u64,
    /// Height of the block whose command it executed (queries with this `min_height` see it).
    pub height: Height,
    /// The [Reply] sealed with the command envelope's reply key ([result_aad]), a bucket size;
    /// empty when the envelope did not open (wrong key, chain, contract, code, sender, nonce
    /// or expiry, or tampered): such a command changed nothing.
    pub reply: Vec<u8>,
}

/// What a command did, as its sender reads it once the reply is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// It succeeded: its output and events.
    Ok {
        /// The encoded result.
        output: Vec<u8>,
        /// Events for the sender.
        events: Vec<Vec<u8>>,
        /// Fuel spent.
        fuel_used: u64,
    },
    /// The contract returned a typed error; nothing changed.
    Error {
        /// The contract's error code.
        code: u32,
        /// Its message.
        message: String,
        /// Fuel spent.
        fuel_used: u64,
    },
    /// The command trapped or ran out of fuel; nothing changed.
    Failed {
        /// What happened.
        reason: String,
        /// Fuel spent.
        fuel_used: u64,
    },
}

fn context(
    domain: &[u8],
    chain: &ChainIdentity,
    contract: &ContractId,
    parts: &[&[u8]],
) -> Vec<u8> {
    let mut aad = domain.to_vec();
    aad.extend_from_slice(&chain.chain_id.to_be_bytes());
    aad.extend_from_slice(chain.genesis_hash.as_ref());
    aad.extend_from_slice(contract.as_ref());
    for part in parts {
        aad.extend_from_slice(part);
    }
    aad
}

/// Associated data of a command envelope: chain, contract, code, sender, nonce and expiry, so
/// a ciphertext opens only for the transaction it was made for.
pub fn command_aad(
    chain: &ChainIdentity,
    contract: &ContractId,
    code: &Digest,
    sender: &AccountId,
    nonce: u64,
    expiry: Height,
) -> Vec<u8> {
    context(
        crate::namespace::CONTRACT_COMMAND,
        chain,
        contract,
        &[
            code.as_ref(),
            sender.as_ref(),
            &nonce.to_be_bytes(),
            &expiry.to_be_bytes(),
        ],
    )
}

/// Associated data of a command's sealed reply.
pub fn result_aad(
    chain: &ChainIdentity,
    contract: &ContractId,
    sender: &AccountId,
    nonce: u64,
) -> Vec<u8> {
    context(
        crate::namespace::CONTRACT_RESULT,
        chain,
        contract,
        &[sender.as_ref(), &nonce.to_be_bytes()],
    )
}

/// Associated data of a [ContractGrant]'s envelope.
pub fn grant_aad(
    chain: &ChainIdentity,
    contract: &ContractId,
    miner: &AccountId,
    assignment: u64,
) -> Vec<u8> {
    context(
        crate::namespace::CONTRACT_GRANT,
        chain,
        contract,
        &[miner.as_ref(), &assignment.to_be_bytes()],
    )
}

/// State key of a contract's [ContractInfo] (here so light clients can ask for its proof).
pub fn contract_state_key(id: &ContractId) -> Digest {
    crate::state_key(b"contracts/instance", id.as_ref())
}

/// State key of valid code's [CodeInfo].
pub fn code_state_key(hash: &Digest) -> Digest {
    crate::state_key(b"contracts/code", hash.as_ref())
}

/// A contract's id: `SHA-256(domain ‖ developer ‖ nonce)` of the transaction that creates it.
pub fn contract_id(developer: &AccountId, nonce: u64) -> ContractId {
    crate::hash_parts(&[
        crate::namespace::CONTRACT_ID,
        developer.as_ref(),
        &nonce.to_be_bytes(),
    ])
}

impl Write for Envelope {
    fn write(&self, buf: &mut impl BufMut) {
        self.ephemeral.write(buf);
        self.ciphertext.write(buf);
    }
}

impl EncodeSize for Envelope {
    fn encode_size(&self) -> usize {
        32 + self.ciphertext.encode_size()
    }
}

impl Read for Envelope {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            ephemeral: <[u8; 32]>::read(buf)?,
            ciphertext: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_ENVELOPE_BYTES), ()))?,
        })
    }
}

impl Write for ContractCall {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::UploadCode {
                hash,
                size,
                index,
                chunk,
            } => {
                0u8.write(buf);
                hash.write(buf);
                size.write(buf);
                index.write(buf);
                chunk.write(buf);
            }
            Self::Instantiate { code, miner } => {
                1u8.write(buf);
                code.write(buf);
                miner.write(buf);
            }
            Self::Assign { contract, miner } => {
                2u8.write(buf);
                contract.write(buf);
                miner.write(buf);
            }
            Self::Command {
                contract,
                fuel,
                envelope,
            } => {
                3u8.write(buf);
                contract.write(buf);
                fuel.write(buf);
                envelope.write(buf);
            }
            Self::RevokeSession { session, expiry } => {
                4u8.write(buf);
                session.write(buf);
                expiry.write(buf);
            }
            Self::Post(items) => {
                5u8.write(buf);
                items.write(buf);
            }
            Self::Checkpoint(chunk) => {
                6u8.write(buf);
                chunk.write(buf);
            }
            Self::SetMinerPolicy { miner, policy } => {
                7u8.write(buf);
                miner.write(buf);
                policy.write(buf);
            }
        }
    }
}

impl EncodeSize for ContractCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::UploadCode { hash, chunk, .. } => {
                hash.encode_size() + 4 + 4 + chunk.encode_size()
            }
            Self::Instantiate { code, miner } => code.encode_size() + miner.encode_size(),
            Self::Assign { contract, miner } => contract.encode_size() + miner.encode_size(),
            Self::Command {
                contract, envelope, ..
            } => contract.encode_size() + 8 + envelope.encode_size(),
            Self::RevokeSession { .. } => 32 + 8,
            Self::Post(items) => items.encode_size(),
            Self::Checkpoint(chunk) => chunk.encode_size(),
            Self::SetMinerPolicy { miner, policy } => miner.encode_size() + policy.encode_size(),
        }
    }
}

impl Read for ContractCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::UploadCode {
                hash: Digest::read(buf)?,
                size: u32::read(buf)?,
                index: u32::read(buf)?,
                chunk: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(1..=CODE_CHUNK_BYTES), ()))?,
            }),
            1 => Ok(Self::Instantiate {
                code: Digest::read(buf)?,
                miner: crate::wire::read_account(buf)?,
            }),
            2 => Ok(Self::Assign {
                contract: Digest::read(buf)?,
                miner: crate::wire::read_account(buf)?,
            }),
            3 => Ok(Self::Command {
                contract: Digest::read(buf)?,
                fuel: u64::read(buf)?,
                envelope: Envelope::read(buf)?,
            }),
            4 => Ok(Self::RevokeSession {
                session: <[u8; 32]>::read(buf)?,
                expiry: u64::read(buf)?,
            }),
            5 => Ok(Self::Post(Vec::<SignedContractEgress>::read_cfg(
                buf,
                &(RangeCfg::new(1..=MAX_POST_BATCH), ()),
            )?)),
            6 => Ok(Self::Checkpoint(Box::new(SignedCheckpointChunk::read(
                buf,
            )?))),
            7 => Ok(Self::SetMinerPolicy {
                miner: crate::wire::read_account(buf)?,
                policy: MinerPolicy::read(buf)?,
            }),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for ContractParams {
    fn write(&self, buf: &mut impl BufMut) {
        self.fuel_price_per_kilo.write(buf);
        self.max_command_fuel.write(buf);
        self.code_byte_fee.write(buf);
        self.checkpoint_interval.write(buf);
        self.checkpoint_grace.write(buf);
    }
}

impl EncodeSize for ContractParams {
    fn encode_size(&self) -> usize {
        16 + 8 + 16 + 8 + 8
    }
}

impl Read for ContractParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            fuel_price_per_kilo: u128::read(buf)?,
            max_command_fuel: u64::read(buf)?,
            code_byte_fee: u128::read(buf)?,
            checkpoint_interval: u64::read(buf)?,
            checkpoint_grace: u64::read(buf)?,
        })
    }
}

impl Write for CodeInfo {
    fn write(&self, buf: &mut impl BufMut) {
        self.size.write(buf);
        self.received.write(buf);
        self.uploader.write(buf);
        self.valid.write(buf);
    }
}

impl EncodeSize for CodeInfo {
    fn encode_size(&self) -> usize {
        4 + 4 + self.uploader.encode_size() + 1
    }
}

impl Read for CodeInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            size: u32::read(buf)?,
            received: u32::read(buf)?,
            uploader: crate::wire::read_account(buf)?,
            valid: bool::read(buf)?,
        })
    }
}

impl Write for ContractInfo {
    fn write(&self, buf: &mut impl BufMut) {
        self.developer.write(buf);
        self.code.write(buf);
        self.miner.write(buf);
        self.created.write(buf);
        self.public_key.write(buf);
        self.initialized.write(buf);
        self.assignment.write(buf);
        self.granted.write(buf);
        self.assigned_at.write(buf);
        self.log.write(buf);
        self.checkpoint.write(buf);
    }
}

impl EncodeSize for ContractInfo {
    fn encode_size(&self) -> usize {
        self.developer.encode_size()
            + self.code.encode_size()
            + self.miner.encode_size()
            + 8
            + self.public_key.encode_size()
            + 1
            + 8
            + 1
            + 8
            + self.log.encode_size()
            + self.checkpoint.encode_size()
    }
}

impl Read for ContractInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            developer: crate::wire::read_account(buf)?,
            code: Digest::read(buf)?,
            miner: crate::wire::read_account(buf)?,
            created: u64::read(buf)?,
            public_key: Option::<[u8; 32]>::read(buf)?,
            initialized: bool::read(buf)?,
            assignment: u64::read(buf)?,
            granted: bool::read(buf)?,
            assigned_at: u64::read(buf)?,
            log: ContractLog::read(buf)?,
            checkpoint: Option::<CheckpointInfo>::read(buf)?,
        })
    }
}

impl Write for CommandMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.nonce.write(buf);
        self.expiry.write(buf);
        self.fuel.write(buf);
        self.envelope.write(buf);
    }
}

impl EncodeSize for CommandMessage {
    fn encode_size(&self) -> usize {
        8 + 8 + 8 + self.envelope.encode_size()
    }
}

impl Read for CommandMessage {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            nonce: u64::read(buf)?,
            expiry: u64::read(buf)?,
            fuel: u64::read(buf)?,
            envelope: Envelope::read(buf)?,
        })
    }
}

impl Write for ContractEvent {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Instantiated {
                contract,
                code,
                developer,
                miner,
                miner_ecdh,
            } => {
                0u8.write(buf);
                contract.write(buf);
                code.write(buf);
                developer.write(buf);
                miner.write(buf);
                miner_ecdh.write(buf);
            }
            Self::Assigned {
                contract,
                code,
                developer,
                miner,
                miner_ecdh,
                assignment,
                reason,
                log,
                checkpoint,
            } => {
                1u8.write(buf);
                contract.write(buf);
                code.write(buf);
                developer.write(buf);
                miner.write(buf);
                miner_ecdh.write(buf);
                assignment.write(buf);
                reason.write(buf);
                log.write(buf);
                checkpoint.write(buf);
            }
            Self::SessionRevoked {
                account,
                session,
                expiry,
            } => {
                2u8.write(buf);
                account.write(buf);
                session.write(buf);
                expiry.write(buf);
            }
        }
    }
}

impl EncodeSize for ContractEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Instantiated {
                contract,
                code,
                developer,
                miner,
                ..
            } => {
                contract.encode_size()
                    + code.encode_size()
                    + developer.encode_size()
                    + miner.encode_size()
                    + 32
            }
            Self::Assigned {
                contract,
                code,
                developer,
                miner,
                log,
                checkpoint,
                ..
            } => {
                contract.encode_size()
                    + code.encode_size()
                    + developer.encode_size()
                    + miner.encode_size()
                    + 32
                    + 8
                    + 1
                    + log.encode_size()
                    + checkpoint.encode_size()
            }
            Self::SessionRevoked { account, .. } => account.encode_size() + 32 + 8,
        }
    }
}

impl Read for ContractEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Instantiated {
                contract: Digest::read(buf)?,
                code: Digest::read(buf)?,
                developer: crate::wire::read_account(buf)?,
                miner: crate::wire::read_account(buf)?,
                miner_ecdh: <[u8; 32]>::read(buf)?,
            }),
            1 => Ok(Self::Assigned {
                contract: Digest::read(buf)?,
                code: Digest::read(buf)?,
                developer: crate::wire::read_account(buf)?,
                miner: crate::wire::read_account(buf)?,
                miner_ecdh: <[u8; 32]>::read(buf)?,
                assignment: u64::read(buf)?,
                reason: Reassignment::read(buf)?,
                log: ContractLog::read(buf)?,
                checkpoint: Option::<CheckpointInfo>::read(buf)?,
            }),
            2 => Ok(Self::SessionRevoked {
                account: crate::wire::read_account(buf)?,
                session: <[u8; 32]>::read(buf)?,
                expiry: u64::read(buf)?,
            }),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for ContractKey {
    fn write(&self, buf: &mut impl BufMut) {
        self.contract.write(buf);
        self.public_key.write(buf);
        self.sealed_key.write(buf);
    }
}

impl EncodeSize for ContractKey {
    fn encode_size(&self) -> usize {
        self.contract.encode_size() + 32 + self.sealed_key.encode_size()
    }
}

impl Read for ContractKey {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            contract: Digest::read(buf)?,
            public_key: <[u8; 32]>::read(buf)?,
            sealed_key: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_SEALED_KEY_BYTES), ()))?,
        })
    }
}

impl Write for ContractGrant {
    fn write(&self, buf: &mut impl BufMut) {
        self.contract.write(buf);
        self.miner.write(buf);
        self.assignment.write(buf);
        self.envelope.write(buf);
    }
}

impl EncodeSize for ContractGrant {
    fn encode_size(&self) -> usize {
        self.contract.encode_size() + self.miner.encode_size() + 8 + self.envelope.encode_size()
    }
}

impl Read for ContractGrant {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            contract: Digest::read(buf)?,
            miner: crate::wire::read_account(buf)?,
            assignment: u64::read(buf)?,
            envelope: Envelope::read(buf)?,
        })
    }
}

impl Write for CommandResult {
    fn write(&self, buf: &mut impl BufMut) {
        self.sender.write(buf);
        self.nonce.write(buf);
        self.height.write(buf);
        self.reply.write(buf);
    }
}

impl EncodeSize for CommandResult {
    fn encode_size(&self) -> usize {
        self.sender.encode_size() + 8 + 8 + self.reply.encode_size()
    }
}

impl Read for CommandResult {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            sender: crate::wire::read_account(buf)?,
            nonce: u64::read(buf)?,
            height: u64::read(buf)?,
            reply: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_REPLY_BYTES), ()))?,
        })
    }
}

impl Write for ContractResults {
    fn write(&self, buf: &mut impl BufMut) {
        self.contract.write(buf);
        self.results.write(buf);
    }
}

impl EncodeSize for ContractResults {
    fn encode_size(&self) -> usize {
        self.contract.encode_size() + self.results.encode_size()
    }
}

impl Read for ContractResults {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            contract: Digest::read(buf)?,
            // Every result takes at least 49 bytes.
            results: Vec::<CommandResult>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_RESULTS_BYTES / 49), ()),
            )?,
        })
    }
}

/// Most events one reply carries.
const MAX_REPLY_EVENTS: usize = 256;

impl Write for Reply {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Ok {
                output,
                events,
                fuel_used,
            } => {
                0u8.write(buf);
                output.write(buf);
                events.write(buf);
                fuel_used.write(buf);
            }
            Self::Error {
                code,
                message,
                fuel_used,
            } => {
                1u8.write(buf);
                code.write(buf);
                message.as_bytes().to_vec().write(buf);
                fuel_used.write(buf);
            }
            Self::Failed { reason, fuel_used } => {
                2u8.write(buf);
                reason.as_bytes().to_vec().write(buf);
                fuel_used.write(buf);
            }
        }
    }
}

impl EncodeSize for Reply {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Ok { output, events, .. } => output.encode_size() + events.encode_size() + 8,
            Self::Error { message, .. } => 4 + message.as_bytes().to_vec().encode_size() + 8,
            Self::Failed { reason, .. } => reason.as_bytes().to_vec().encode_size() + 8,
        }
    }
}

fn read_text(buf: &mut impl Buf) -> Result<String, Error> {
    let bytes = Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_REPLY_PLAINTEXT), ()))?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("Reply", "text is not UTF-8"))
}

impl Read for Reply {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let bytes = RangeCfg::new(0..=MAX_REPLY_PLAINTEXT);
        match u8::read(buf)? {
            0 => Ok(Self::Ok {
                output: Vec::<u8>::read_cfg(buf, &(bytes, ()))?,
                events: Vec::<Vec<u8>>::read_cfg(
                    buf,
                    &(RangeCfg::new(0..=MAX_REPLY_EVENTS), (bytes, ())),
                )?,
                fuel_used: u64::read(buf)?,
            }),
            1 => Ok(Self::Error {
                code: u32::read(buf)?,
                message: read_text(buf)?,
                fuel_used: u64::read(buf)?,
            }),
            2 => Ok(Self::Failed {
                reason: read_text(buf)?,
                fuel_used: u64::read(buf)?,
            }),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Reassignment {
    /// A fixed name, for logs and views.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Developer => "developer",
            Self::Governance => "governance",
            Self::Unresponsive => "unresponsive miner",
            Self::MissedCheckpoints => "missed checkpoints",
            Self::Gatekeeper => "miner elected gatekeeper",
        }
    }
}

impl Write for Reassignment {
    fn write(&self, buf: &mut impl BufMut) {
        (*self as u8).write(buf);
    }
}

impl EncodeSize for Reassignment {
    fn encode_size(&self) -> usize {
        1
    }
}

impl Read for Reassignment {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Developer),
            1 => Ok(Self::Governance),
            2 => Ok(Self::Unresponsive),
            3 => Ok(Self::MissedCheckpoints),
            4 => Ok(Self::Gatekeeper),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}
