//! The miner role: the contracts assigned to this worker, their keys, code and sealed state,
//! and the execution of their commands in chain order ([executor]).
//!
//! A worker learns of its contracts from the chain's events on `veil/contracts` (instance and
//! assignment, naming it), takes each contract key from the gatekeepers' grant addressed to it
//! (an envelope only its identity's X25519 key opens, checked against the published public key),
//! and gets the code from its host, checked against the code hash the chain announced.
//!
//! | record                | contents                                                  |
//! |-----------------------|-----------------------------------------------------------|
//! | `contract/<id>`       | [Contract]: developer, code hash, assignment, keys, flags |
//! | `cstate/<id><key>`    | the contract's storage, one record per key                |
//! | `code/<hash>`         | the module's bytes (compiled again at start)              |
//! | `revoked/<session>`   | a revoked query session: account and grant expiry         |
//! | `ckey/<id>`           | every contract's published public key (to seal messages)  |
//! | `csent/<src><dst>`    | the next sequence of a contract's channel to another      |
//! | `cout/<k><src><dst><n>` | a signed message (`k` = 0) or reply (1) not yet routed  |
//! | `crec/<id><n>`        | a log entry that arrived while the contract recovers      |
//!
//! A contract assigned here from another miner first recovers ([recovery]): its host brings
//! the latest checkpoint and the log entries between it and the assignment, and the entries
//! that arrive meanwhile wait under `crec/`. Nothing runs until the recovery has checked all of
//! it against the chain's log.
//!
//! A contract's state root is the sealed store's Merkle root over its `cstate/<id>` records
//! ([crate::sealed::kv::SealedKv::prefix_root]); query answers will commit to it.

pub mod executor;
pub mod query;
pub mod recovery;

use std::{collections::BTreeMap, sync::Arc};

use bytes::BufMut;
use commonware_codec::{Buf, Decode as _, DecodeExt as _, EncodeSize, Read, ReadExt as _, Write};
use veil_primitives::{
    AccountId, Digest, Height,
    contract::{
        CHANNEL_BYTES, CheckpointInfo, ContractId, ContractLog, SignedContractEgress,
        state_entry_bytes,
    },
};
use veil_vm::{Code, Limits, Vm};
use zeroize::Zeroizing;

use crate::sealed::kv::SealedKv;

const CONTRACT: &[u8] = b"contract/";
const STATE: &[u8] = b"cstate/";
const CODE: &[u8] = b"code/";
const REVOKED: &[u8] = b"revoked/";
const KEY: &[u8] = b"ckey/";
const SENT: &[u8] = b"csent/";
const OUTBOUND: &[u8] = b"cout/";
const RECOVERY: &[u8] = b"crec/";
const STAGED: &[u8] = b"cstg/";

/// Prefix of a contract's log entries waiting for its recovery.
pub fn recovery_prefix(id: &ContractId) -> Vec<u8> {
    [RECOVERY, id.as_ref()].concat()
}

/// Store key of the `n`-th log entry waiting for a contract's recovery.
pub fn recovery_key(id: &ContractId, n: u64) -> Vec<u8> {
    [RECOVERY, id.as_ref(), &n.to_be_bytes()].concat()
}

/// Store key of how many log entries the host has staged for a contract's recovery.
pub fn staged_count_key(id: &ContractId) -> Vec<u8> {
    [STAGED, id.as_ref()].concat()
}

/// Store key of the `n`-th log entry the host staged for a contract's recovery.
pub fn staged_key(id: &ContractId, n: u64) -> Vec<u8> {
    [STAGED, id.as_ref(), &n.to_be_bytes()].concat()
}

/// Prefix of the channel counters of `source`.
pub fn sent_prefix(source: &ContractId) -> Vec<u8> {
    [SENT, source.as_ref()].concat()
}

/// Store key of a contract's published public key.
pub fn public_key_key(id: &ContractId) -> Vec<u8> {
    [KEY, id.as_ref()].concat()
}

/// Store key of the next sequence of the channel `source` → `destination`.
pub fn sent_key(source: &ContractId, destination: &ContractId) -> Vec<u8> {
    [SENT, source.as_ref(), destination.as_ref()].concat()
}

/// Store key of a signed message (`reply` false) or reply not yet routed: ordered by kind,
/// channel and sequence, so the host posts each channel in order.
pub fn outbound_key(
    reply: bool,
    source: &ContractId,
    destination: &ContractId,
    sequence: u64,
) -> Vec<u8> {
    [
        OUTBOUND,
        &[reply as u8],
        source.as_ref(),
        destination.as_ref(),
        &sequence.to_be_bytes(),
    ]
    .concat()
}

/// Store key of a revoked session.
pub fn revoked_key(session: &[u8; 32]) -> Vec<u8> {
    [REVOKED, session.as_slice()].concat()
}

/// The VM's limits for contract calls: the deploy policy's, with outputs and events small
/// enough that a command's reply fits [veil_primitives::contract::MAX_REPLY_BYTES].
pub fn contract_limits() -> Limits {
    Limits {
        max_output_bytes: 6 * 1024,
        max_event_bytes: 5 * 1024,
        ..Limits::default()
    }
}

/// Store key of a contract's record.
pub fn contract_key(id: &ContractId) -> Vec<u8> {
    [CONTRACT, id.as_ref()].concat()
}

/// Prefix of a contract's storage records.
pub fn state_prefix(id: &ContractId) -> Vec<u8> {
    [STATE, id.as_ref()].concat()
}

/// Store key of a module.
pub fn code_key(hash: &Digest) -> Vec<u8> {
    [CODE, hash.as_ref()].concat()
}

/// What this miner knows of a contract it runs.
#[derive(Clone, PartialEq, Eq)]
pub struct Contract {
    /// The developer (whose first command is `init`).
    pub developer: AccountId,
    /// The code hash.
    pub code: Digest,
    /// The assignment this worker serves.
    pub assignment: u64,
    /// The public key the gatekeepers published, once seen.
    pub public_key: Option<[u8; 32]>,
    /// The contract key, once granted.
    pub key: Option<Zeroizing<[u8; 32]>>,
    /// Whether `init` succeeded.
    pub initialized: bool,
    /// Commands executed.
    pub executed: u64,
    /// Height of the last block that executed a command.
    pub height: Height,
    /// The log entries the state includes.
    pub log: ContractLog,
    /// Set while the contract recovers on this miner: nothing runs until it is done.
    pub recovery: Option<Recovery>,
}

/// What a contract assigned here from another miner recovers from and to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The chain's log when it assigned the contract here: the checkpoint and the entries the
    /// host brings must end exactly here.
    pub target: ContractLog,
    /// The latest checkpoint then (none: the recovery starts from the first entry).
    pub checkpoint: Option<CheckpointInfo>,
    /// Entries seen since, waiting under `crec/`.
    pub waiting: u64,
    /// The log after them.
    pub tail: ContractLog,
}

/// A contract this worker runs: its record, its state and the state's root.
#[derive(Clone)]
pub struct Running {
    /// The record.
    pub contract: Contract,
    /// Its storage (shared with readers: changed copy-on-write).
    pub state: Arc<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// The size of `state` and `sent` as [veil_primitives::contract::MAX_STATE_BYTES] counts
    /// it.
    pub bytes: u64,
    /// The next sequence of its channel to each contract it has sent to.
    pub sent: Arc<BTreeMap<[u8; 32], u64>>,
    /// Merkle root of its storage records.
    pub root: Digest,
}

// Debug shows neither the contract key nor the state: a `?` in a log line is read by the host.
impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("developer", &self.developer)
            .field("code", &self.code)
            .field("assignment", &self.assignment)
            .field("public_key", &self.public_key.map(veil_primitives::to_hex))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("initialized", &self.initialized)
            .field("executed", &self.executed)
            .field("height", &self.height)
            .field("log", &self.log)
            .field("recovery", &self.recovery)
            .finish()
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("contract", &self.contract)
            .field("entries", &self.state.len())
            .field("bytes", &self.bytes)
            .field("channels", &self.sent.len())
            .field("root", &self.root)
            .finish()
    }
}

/// The contracts this worker runs and their compiled code.
#[derive(Clone, Default)]
pub struct Miner {
    /// Contracts by id.
    pub running: BTreeMap<ContractId, Running>,
    /// Compiled code by hash.
    pub codes: BTreeMap<Digest, Code>,
    /// Revoked query sessions (X25519 key) with their account and the grant's expiry, kept
    /// until that expiry passes.
    pub revoked: BTreeMap<[u8; 32], (AccountId, u64)>,
    /// Every contract's published X25519 public key: messages and replies are sealed to it.
    pub keys: BTreeMap<ContractId, [u8; 32]>,
    /// Signed messages and replies of the contracts run here that the chain has not routed
    /// yet, by [outbound_key]. The host posts them; a routed copy removes them.
    pub outbound: BTreeMap<Vec<u8>, SignedContractEgress>,
}

impl Miner {
    /// Loads the contracts and their state from the store, compiling their code.
    pub fn load(store: &SealedKv, vm: &Vm) -> anyhow::Result<Self> {
        let mut miner = Self::default();
        let records: Vec<(Vec<u8>, Vec<u8>)> = store
            .iter_prefix(CONTRACT)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        for (k, v) in records {
            let id = Digest::try_from(&k[CONTRACT.len()..])
                .map_err(|_| anyhow::anyhow!("sealed contract record has a bad key"))?;
            let contract = Contract::decode(crate::sealed::wiped_bytes(&v))
                .map_err(|e| anyhow::anyhow!("sealed contract record does not decode: {e}"))?;
            if let std::collections::btree_map::Entry::Vacant(slot) =
                miner.codes.entry(contract.code)
            {
                let wasm = store.get(&code_key(&contract.code)).ok_or_else(|| {
                    anyhow::anyhow!(
                        "the code of contract {} is missing",
                        veil_primitives::to_hex(id)
                    )
                })?;
                let code = vm
                    .deploy(wasm)
                    .map_err(|e| anyhow::anyhow!("sealed code does not deploy: {e}"))?;
                slot.insert(code);
            }
            miner
                .running
                .insert(id, Running::load(store, &id, contract));
        }
        for (k, v) in store.iter_prefix(REVOKED) {
            let session: [u8; 32] = k[REVOKED.len()..]
                .try_into()
                .map_err(|_| anyhow::anyhow!("sealed revocation has a bad key"))?;
            let record = <(AccountId, u64)>::decode_cfg(v.to_vec(), &((), ()))
                .map_err(|e| anyhow::anyhow!("sealed revocation does not decode: {e}"))?;
            miner.revoked.insert(session, record);
        }
        for (k, v) in store.iter_prefix(KEY) {
            let id = Digest::try_from(&k[KEY.len()..])
                .map_err(|_| anyhow::anyhow!("sealed contract key record has a bad key"))?;
            let key: [u8; 32] = v
                .try_into()
                .map_err(|_| anyhow::anyhow!("sealed contract public key is not 32 bytes"))?;
            miner.keys.insert(id, key);
        }
        for (k, v) in store.iter_prefix(OUTBOUND) {
            let signed = SignedContractEgress::decode(v.to_vec())
                .map_err(|e| anyhow::anyhow!("sealed outbound message does not decode: {e}"))?;
            miner.outbound.insert(k.to_vec(), signed);
        }
        Ok(miner)
    }
}

/// The size of a contract's storage and channels as
/// [veil_primitives::contract::MAX_STATE_BYTES] counts it.
pub fn state_bytes(state: &BTreeMap<Vec<u8>, Vec<u8>>, sent: &BTreeMap<[u8; 32], u64>) -> u64 {
    let storage: u64 = state.iter().map(|(k, v)| state_entry_bytes(k, v)).sum();
    storage + CHANNEL_BYTES * sent.len() as u64
}

impl Running {
    /// A contract with whatever state the store holds for it.
    pub fn load(store: &SealedKv, id: &ContractId, contract: Contract) -> Self {
        let prefix = state_prefix(id);
        let state = store
            .iter_prefix(&prefix)
            .map(|(k, v)| (k[prefix.len()..].to_vec(), v.to_vec()))
            .collect();
        let sent_prefix = sent_prefix(id);
        let sent = store
            .iter_prefix(&sent_prefix)
            .filter_map(|(k, v)| {
                let destination: [u8; 32] = k[sent_prefix.len()..].try_into().ok()?;
                Some((destination, u64::from_be_bytes(v.try_into().ok()?)))
            })
            .collect();
        Self {
            contract,
            bytes: state_bytes(&state, &sent),
            state: Arc::new(state),
            sent: Arc::new(sent),
            root: store.prefix_root(&prefix),
        }
    }
}

impl Write for Contract {
    fn write(&self, buf: &mut impl BufMut) {
        self.developer.write(buf);
        self.code.write(buf);
        self.assignment.write(buf);
        self.public_key.write(buf);
        self.key.as_deref().copied().write(buf);
        self.initialized.write(buf);
        self.executed.write(buf);
        self.height.write(buf);
        self.log.write(buf);
        self.recovery.write(buf);
    }
}

impl EncodeSize for Contract {
    fn encode_size(&self) -> usize {
        self.developer.encode_size()
            + 32
            + 8
            + self.public_key.encode_size()
            + self.key.as_deref().copied().encode_size()
            + 1
            + 8
            + 8
            + self.log.encode_size()
            + self.recovery.encode_size()
    }
}

impl Read for Contract {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            developer: AccountId::read(buf)?,
            code: Digest::read(buf)?,
            assignment: u64::read(buf)?,
            public_key: Option::<[u8; 32]>::read(buf)?,
            key: Option::<[u8; 32]>::read(buf)?.map(Zeroizing::new),
            initialized: bool::read(buf)?,
            executed: u64::read(buf)?,
            height: u64::read(buf)?,
            log: ContractLog::read(buf)?,
            recovery: Option::<Recovery>::read(buf)?,
        })
    }
}

impl Write for Recovery {
    fn write(&self, buf: &mut impl BufMut) {
        self.target.write(buf);
        self.checkpoint.write(buf);
        self.waiting.write(buf);
        self.tail.write(buf);
    }
}

impl EncodeSize for Recovery {
    fn encode_size(&self) -> usize {
        self.target.encode_size() + self.checkpoint.encode_size() + 8 + self.tail.encode_size()
    }
}

impl Read for Recovery {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            target: ContractLog::read(buf)?,
            checkpoint: Option::<CheckpointInfo>::read(buf)?,
            waiting: u64::read(buf)?,
            tail: ContractLog::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;

    use super::*;

    /// A record or a running contract formatted with `?` (as a log line would) shows neither
    /// the contract key nor a byte of the state.
    #[test]
    fn debug_output_shows_no_key_and_no_state() {
        let contract = Contract {
            developer: veil_primitives::PrivateKey::from_seed(1).public_key(),
            code: Digest::from([2; 32]),
            assignment: 1,
            public_key: Some([3; 32]),
            key: Some(Zeroizing::new([0xab; 32])),
            initialized: true,
            executed: 4,
            height: 5,
            log: ContractLog::default(),
            recovery: None,
        };
        let running = Running {
            contract,
            state: Arc::new(BTreeMap::from([(b"balance".to_vec(), vec![0xcd; 16])])),
            bytes: 31,
            sent: Default::default(),
            root: Digest::from([6; 32]),
        };
        let shown = format!("{running:?} {running:#?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        for secret in [
            "171, 171",
            "abab",
            "205, 205",
            "cdcd",
            "balance",
            "98, 97, 108",
        ] {
            assert!(
                !shown.to_lowercase().contains(secret),
                "{secret} in {shown}"
            );
        }
    }

    /// A channel to another contract is in every checkpoint: it counts against the limit.
    #[test]
    fn channels_count_against_the_state_limit() {
        let state = BTreeMap::from([(b"k".to_vec(), vec![0; 10])]);
        let sent = BTreeMap::from([([1; 32], 3), ([2; 32], 1)]);
        assert_eq!(state_bytes(&state, &sent), 1 + 10 + 8 + 2 * CHANNEL_BYTES);
    }
}
