//! Executing a verified batch's contract traffic, in chain order: assignments, keys and grants,
//! and commands.
//!
//! A command is opened with the contract key under associated data binding chain, contract,
//! code, sender, nonce and expiry ([command_aad]); anything else (another contract's or chain's
//! ciphertext, a resent one under a new nonce, a tampered one) fails to open and changes
//! nothing. The developer's first command runs `init`, later ones `command`. A failing call
//! (typed error, trap, out of fuel) changes nothing either. Every command gets one
//! [CommandResult], whose reply is sealed with the envelope's reply key, so only the sender
//! reads it; the results go out as this worker's egress. Messages between contracts and
//! their replies are in [messages].
//!
//! Every message to or from a contract run here is an entry of its log ([Executor::apply_entry]):
//! applied the same way while following the chain and while recovering, so a miner replaying a
//! contract's log from a checkpoint reaches the state its previous miner had. What a contract
//! sees of its block (hash and randomness) depends only on its own entries: the parent hash,
//! and the entry's index among the contract's entries of that block.

mod messages;

use std::{collections::BTreeMap, sync::Arc};

use commonware_codec::{DecodeExt as _, Encode as _, EncodeSize as _};
use veil_crypto::envelope;
use veil_primitives::{
    AccountId, ChainIdentity, Destination, Digest, Height, Message, Origin,
    contract::{
        CHANNEL_BYTES, CONTRACT_RESULTS_TOPIC, CommandMessage, CommandResult, ContractEvent,
        ContractGrant, ContractId, ContractKey, ContractLog, ContractResults, LogEntry,
        MAX_REPLY_BYTES, MAX_REPLY_PLAINTEXT, MAX_RESULTS_BYTES, MAX_STATE_BYTES, Reply,
        command_aad, result_aad, state_entry_bytes,
    },
    namespace,
};
use veil_vm::{Call, Entry, Failure, Randomness, Vm};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use super::{
    Contract, Miner, Recovery, Running, code_key, contract_key, public_key_key, recovery_key,
    revoked_key, sent_key, state_prefix,
};
use crate::{
    egress::{Emitter, Outbox},
    identity::Identity,
    roles::gatekeeper::contracts::{open_grant, public_key},
    sealed::kv::{Batch, SealedKv},
};

/// Most events one reply carries (the reply's decoder bound).
const MAX_EVENTS: usize = 256;

/// Why a batch cannot be executed. The batch is refused and nothing changes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecutorError {
    /// The chain assigned this worker a contract whose code the host did not supply.
    #[error(
        "contract {contract} was assigned to this worker: its host must supply code {code} with the batch"
    )]
    MissingCode {
        /// The contract (hex).
        contract: String,
        /// The code hash (hex).
        code: String,
    },
    /// The batch's results need more egress messages than the queue takes: the batch is
    /// refused (nothing changes) and the host sends fewer blocks, so no result of a command
    /// that ran is dropped. The text says "too large", which the host looks for.
    #[error(
        "batch too large: its contract results need {needed} egress messages and {room} fit; \
         send fewer blocks"
    )]
    TooManyResults {
        /// Result messages the batch produced.
        needed: usize,
        /// Result messages the queue takes.
        room: usize,
    },

    /// Supplied code that the chain's hash names but that does not deploy (a VM change?).
    #[error("code {code} does not deploy: {reason}")]
    BadCode {
        /// The code hash (hex).
        code: String,
        /// Why.
        reason: String,
    },
}

/// One batch's work on the contracts: a copy of the miner's contracts to change, and the
/// store writes and results it produces.
pub(crate) struct Executor<'a> {
    pub(crate) chain: &'a ChainIdentity,
    pub(crate) identity: &'a Identity,
    pub(crate) me: AccountId,
    pub(crate) vm: &'a Vm,
    pub(crate) store: &'a SealedKv,
    /// Modules the host supplied, by hash.
    pub(crate) offered: &'a BTreeMap<Digest, Vec<u8>>,
    pub(crate) miner: Miner,
    pub(crate) commit: Batch,
    /// Contracts whose records or state changed.
    pub(crate) changed: Vec<ContractId>,
    results: BTreeMap<ContractId, Vec<CommandResult>>,
    /// Per contract, the block and the entries it ran there so far (the randomness index).
    index: BTreeMap<ContractId, (Height, u64)>,
}

impl<'a> Executor<'a> {
    /// Work on a copy of `miner`.
    pub(crate) fn new(
        chain: &'a ChainIdentity,
        identity: &'a Identity,
        vm: &'a Vm,
        store: &'a SealedKv,
        offered: &'a BTreeMap<Digest, Vec<u8>>,
        miner: Miner,
    ) -> Self {
        Self {
            chain,
            identity,
            me: identity.public_key(),
            vm,
            store,
            offered,
            miner,
            commit: Batch::default(),
            changed: Vec::new(),
            results: BTreeMap::new(),
            index: BTreeMap::new(),
        }
    }

    /// Marks a contract's record (and maybe state) changed: [Executor::finish] writes it once.
    pub(crate) fn save(&mut self, id: &ContractId) {
        if !self.changed.contains(id) {
            self.changed.push(*id);
        }
    }

    /// The miner's contracts, the store writes (each changed contract's record last) and the
    /// contracts that changed.
    pub(crate) fn finish(mut self) -> (Miner, Batch, Vec<ContractId>) {
        for id in &self.changed {
            if let Some(r) = self.miner.running.get(id) {
                let record = crate::sealed::encode_wiped(&r.contract);
                self.commit.put(contract_key(id), record);
            }
        }
        (self.miner, self.commit, self.changed)
    }

    /// Stops running a contract here: its key, state, counters, queued messages and waiting
    /// entries leave the store (its state lives on in the chain's checkpoints and log).
    fn forget(&mut self, id: &ContractId) {
        let Some(r) = self.miner.running.remove(id) else {
            return;
        };
        self.commit.delete(contract_key(id));
        let prefix = state_prefix(id);
        for k in r.state.keys() {
            self.commit.delete([prefix.as_slice(), k].concat());
        }
        for destination in r.sent.keys() {
            self.commit
                .delete(sent_key(id, &Digest::from(*destination)));
        }
        if let Some(recovery) = &r.contract.recovery {
            for n in 0..recovery.waiting {
                self.commit.delete(recovery_key(id, n));
            }
            let staged = self.staged_count(id);
            self.unstage(id, staged);
        }
        self.drop_outbound(id);
        self.save(id);
    }

    /// A contracts event: a contract instantiated or assigned here starts recovering (a new one
    /// from nothing; unless this worker already runs it up to the log the event names); one
    /// assigned away stops and is wiped.
    pub(crate) fn on_event(&mut self, payload: &[u8]) -> Result<(), ExecutorError> {
        let (contract, code, developer, miner, assignment, recovery) =
            match ContractEvent::decode(payload.to_vec()) {
                Ok(ContractEvent::Instantiated {
                    contract,
                    code,
                    developer,
                    miner,
                    ..
                }) => {
                    // A new contract recovers too, trivially: from no checkpoint and no entry.
                    let recovery = Recovery {
                        target: ContractLog::default(),
                        checkpoint: None,
                        waiting: 0,
                        tail: ContractLog::default(),
                    };
                    (contract, code, developer, miner, 0, Some(recovery))
                }
                Ok(ContractEvent::Assigned {
                    contract,
                    code,
                    developer,
                    miner,
                    assignment,
                    reason,
                    log,
                    checkpoint,
                    ..
                }) => {
                    tracing::info!(
                        contract = veil_primitives::to_hex(contract),
                        miner = veil_primitives::to_hex(&miner),
                        reason = reason.as_str(),
                        log = log.count,
                        checkpoint = checkpoint.as_ref().map(|c| c.height),
                        "contract reassigned"
                    );
                    let recovery = Recovery {
                        target: log,
                        checkpoint,
                        waiting: 0,
                        tail: log,
                    };
                    (contract, code, developer, miner, assignment, Some(recovery))
                }
                Ok(ContractEvent::SessionRevoked {
                    account,
                    session,
                    expiry,
                }) => {
                    let record = (account, expiry);
                    self.commit
                        .put(revoked_key(&session), record.encode().to_vec());
                    self.miner.revoked.insert(session, record);
                    return Ok(());
                }
                Err(_) => return Ok(()),
            };
        if miner != self.me {
            if self.miner.running.contains_key(&contract) {
                self.forget(&contract);
                tracing::warn!(
                    contract = veil_primitives::to_hex(contract),
                    "contract assigned to another miner: stopped here, its key and state wiped; \
                     the chain takes its messages only from the new miner"
                );
            }
            return Ok(());
        }
        self.ensure_code(&contract, &code)?;
        // Already running here with every entry the chain logged: only the assignment (and
        // with it the key's grant) is new.
        if let Some(r) = self.miner.running.get_mut(&contract)
            && r.contract.recovery.is_none()
            && recovery
                .as_ref()
                .is_some_and(|rec| rec.target == r.contract.log && assignment > 0)
        {
            // The contract key depends on the contract alone: it stays (entries keep running).
            r.contract.assignment = assignment;
            self.save(&contract);
            return Ok(());
        }
        self.forget(&contract);
        let record = Contract {
            developer,
            code,
            assignment,
            public_key: self.miner.keys.get(&contract).copied(),
            key: None,
            initialized: false,
            executed: 0,
            height: 0,
            log: ContractLog::default(),
            recovery,
        };
        let recovering = record.recovery.is_some();
        self.miner.running.insert(
            contract,
            Running {
                contract: record,
                state: Default::default(),
                bytes: 0,
                sent: Default::default(),
                root: veil_crypto::merkle::empty_root(),
            },
        );
        self.save(&contract);
        tracing::info!(
            contract = veil_primitives::to_hex(contract),
            assignment,
            recovering,
            "contract assigned to this worker"
        );
        Ok(())
    }

    fn ensure_code(&mut self, contract: &ContractId, code: &Digest) -> Result<(), ExecutorError> {
        if self.miner.codes.contains_key(code) {
            return Ok(());
        }
        let missing = || ExecutorError::MissingCode {
            contract: veil_primitives::to_hex(contract),
            code: veil_primitives::to_hex(code),
        };
        let wasm = match self.offered.get(code) {
            Some(w) => w.clone(),
            None => self
                .store
                .get(&code_key(code))
                .ok_or_else(missing)?
                .to_vec(),
        };
        let compiled = self.vm.deploy(&wasm).map_err(|e| ExecutorError::BadCode {
            code: veil_primitives::to_hex(code),
            reason: e.to_string(),
        })?;
        if compiled.hash() != *code.as_ref() {
            return Err(missing());
        }
        self.commit.put(code_key(code), wasm);
        self.miner.codes.insert(*code, compiled);
        Ok(())
    }

    /// The gatekeepers' published key: remembered for every contract (messages are sealed to
    /// it) and, for a contract this worker runs, to check the grant against.
    pub(crate) fn on_key(&mut self, payload: &[u8]) {
        let Ok(key) = ContractKey::decode(payload.to_vec()) else {
            return;
        };
        if let std::collections::btree_map::Entry::Vacant(slot) =
            self.miner.keys.entry(key.contract)
        {
            slot.insert(key.public_key);
            self.commit
                .put(public_key_key(&key.contract), key.public_key.to_vec());
        }
        if let Some(r) = self.miner.running.get_mut(&key.contract) {
            r.contract.public_key = Some(key.public_key);
            self.save(&key.contract);
        }
    }

    /// A grant addressed to this worker: the contract key, once it opens and matches the
    /// published public key.
    pub(crate) fn on_grant(&mut self, payload: &[u8]) {
        let Ok(grant) = ContractGrant::decode(payload.to_vec()) else {
            return;
        };
        if grant.miner != self.me {
            return;
        }
        let Some(r) = self.miner.running.get_mut(&grant.contract) else {
            return;
        };
        if r.contract.assignment != grant.assignment {
            return;
        }
        let Some(key) = open_grant(self.identity.ecdh_secret(), self.chain, &grant) else {
            tracing::warn!(
                contract = veil_primitives::to_hex(grant.contract),
                "a grant addressed to this worker does not open"
            );
            return;
        };
        let derived = public_key(&key);
        if r.contract.public_key.is_some_and(|p| p != derived) {
            tracing::warn!(
                contract = veil_primitives::to_hex(grant.contract),
                "a granted key does not match the published public key: ignored"
            );
            return;
        }
        r.contract.public_key = Some(derived);
        r.contract.key = Some(key);
        self.save(&grant.contract);
        tracing::info!(
            contract = veil_primitives::to_hex(grant.contract),
            "contract key received"
        );
    }

    /// A message routed to or from contracts (an entry of their logs), from the block at
    /// `height` whose parent is `parent`: applied to each one this worker runs, or kept for
    /// one that is recovering.
    pub(crate) fn on_log_message(&mut self, height: Height, parent: &Digest, m: &Message) {
        let mut involved = Vec::with_capacity(2);
        if let Destination::Contract(c) = &m.destination {
            involved.push(*c);
        }
        if let Origin::Contract(c) = &m.origin
            && !involved.contains(c)
        {
            involved.push(*c);
        }
        for id in involved {
            let Some(r) = self.miner.running.get_mut(&id) else {
                continue;
            };
            if let Some(recovery) = r.contract.recovery.as_mut() {
                recovery.tail.fold(height, parent, m);
                let entry = LogEntry {
                    height,
                    parent: *parent,
                    message: m.clone(),
                };
                self.commit
                    .put(recovery_key(&id, recovery.waiting), entry.encode().to_vec());
                recovery.waiting += 1;
                self.save(&id);
                continue;
            }
            self.apply_entry(&id, height, parent, m);
        }
    }

    /// Applies one entry of `id`'s log: a command, a message, a reply, or the chain's copy of
    /// something `id` sent (which stops this worker offering it).
    pub(crate) fn apply_entry(
        &mut self,
        id: &ContractId,
        height: Height,
        parent: &Digest,
        m: &Message,
    ) {
        let Some(r) = self.miner.running.get_mut(id) else {
            return;
        };
        r.contract.log.fold(height, parent, m);
        self.save(id);
        match (&m.origin, &m.destination) {
            (Origin::Account(sender), Destination::Contract(to)) if to == id => {
                self.on_command(height, parent, sender, id, &m.payload)
            }
            (Origin::Account(_), _) => {}
            (origin, destination) => {
                self.on_contract_message(height, parent, origin, id, destination, &m.payload)
            }
        }
    }

    /// A command for a contract this worker runs, from the block at `height` whose parent is
    /// `parent`.
    fn on_command(
        &mut self,
        height: Height,
        parent: &Digest,
        sender: &AccountId,
        contract: &ContractId,
        payload: &[u8],
    ) {
        if !self.miner.running.contains_key(contract) {
            return;
        }
        let index = self.next_index(contract, height);
        let running = &self.miner.running[contract];
        let Ok(command) = CommandMessage::decode(payload.to_vec()) else {
            // The chain encoded it: a message that does not decode is not ours to answer.
            return;
        };
        let mut result = CommandResult {
            sender: sender.clone(),
            nonce: command.nonce,
            height,
            reply: Vec::new(),
        };
        let opened = running.contract.key.as_ref().and_then(|key| {
            if height > command.expiry {
                return None;
            }
            let aad = command_aad(
                self.chain,
                contract,
                &running.contract.code,
                sender,
                command.nonce,
                command.expiry,
            );
            let secret = StaticSecret::from(**key);
            envelope::open(
                &secret,
                namespace::CONTRACT_COMMAND,
                &aad,
                &command.envelope,
            )
            .ok()
        });
        let Some((input, reply_key)) = opened else {
            // Nothing to answer with: the reply key comes from the envelope.
            self.results.entry(*contract).or_default().push(result);
            return;
        };
        let reply = self.execute(height, parent, sender, contract, index, &command, input);
        let aad = result_aad(self.chain, contract, sender, command.nonce);
        let plain = crate::sealed::encode_wiped(&reply);
        match reply_key.seal(&mut rand::rng(), &aad, &plain, MAX_REPLY_PLAINTEXT) {
            Ok(sealed) if sealed.len() <= MAX_REPLY_BYTES => result.reply = sealed,
            _ => tracing::warn!("a reply does not fit its bound; sent empty"),
        }
        self.results.entry(*contract).or_default().push(result);
    }

    /// The index of the next command, message or reply `contract` runs in the block at
    /// `height` (its randomness stream's): counted over its own entries only, so a miner that
    /// replays its log gets the same index whatever else it runs.
    fn next_index(&mut self, contract: &ContractId, height: Height) -> u64 {
        let slot = self.index.entry(*contract).or_insert((height, 0));
        if slot.0 != height {
            *slot = (height, 0);
        }
        let index = slot.1;
        slot.1 += 1;
        index
    }

    /// Runs one opened command; applies its writes on success.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        height: Height,
        parent: &Digest,
        sender: &AccountId,
        contract: &ContractId,
        index: u64,
        command: &CommandMessage,
        input: Zeroizing<Vec<u8>>,
    ) -> Reply {
        let running = self.miner.running.get(contract).expect("checked by caller");
        let c = &running.contract;
        let entry = if c.initialized {
            Entry::Command
        } else if sender == &c.developer {
            Entry::Init
        } else {
            return Reply::Failed {
                reason: "the contract is not initialized: its developer's init has not succeeded"
                    .into(),
                fuel_used: 0,
            };
        };
        let Some(code) = self.miner.codes.get(&c.code) else {
            return Reply::Failed {
                reason: "this miner has no code for the contract".into(),
                fuel_used: 0,
            };
        };
        let key = c.key.clone().expect("opened with it");
        let caller: [u8; 32] = sender.as_ref().try_into().unwrap_or([0; 32]);
        let call = Call {
            entry,
            input: input.to_vec(),
            caller,
            contract: (*contract).into(),
            height,
            block_hash: (*parent).into(),
            randomness: Some(Randomness { key, index }),
            fuel: command.fuel,
            sent: running.sent.clone(),
        };
        let storage: Arc<dyn veil_vm::Storage> = running.state.clone();
        let outcome = self.vm.execute(code, call, storage);
        let fuel_used = outcome.fuel_used;
        let reply = match outcome.result {
            Ok(output) => Reply::Ok {
                output,
                events: outcome.events,
                fuel_used,
            },
            Err(Failure::Error { code, message }) => {
                return Reply::Error {
                    code,
                    message,
                    fuel_used,
                };
            }
            Err(Failure::OutOfFuel) => {
                return Reply::Failed {
                    reason: "out of fuel".into(),
                    fuel_used,
                };
            }
            Err(Failure::Trap(reason)) => {
                return Reply::Failed {
                    reason: format!("trapped: {reason}"),
                    fuel_used,
                };
            }
        };
        if let Reply::Ok { events, .. } = &reply
            && (events.len() > MAX_EVENTS || reply.encode_size() > MAX_REPLY_PLAINTEXT)
        {
            return Reply::Failed {
                reason: "the result and events exceed the reply limit; nothing changed".into(),
                fuel_used,
            };
        }
        if let Err(reason) = self.fits(contract, &outcome.changes, &outcome.messages) {
            return Reply::Failed { reason, fuel_used };
        }
        self.apply(contract, outcome.changes, height);
        self.send(contract, outcome.messages);
        let running = self.miner.running.get_mut(contract).expect("checked above");
        if entry == Entry::Init {
            running.contract.initialized = true;
        }
        self.save(contract);
        reply
    }

    /// Whether `contract`'s state stays within [MAX_STATE_BYTES] after `changes` and the
    /// channels `messages` open (a call that shrinks a state already over it passes): a state
    /// past it could not be checkpointed, so no other miner could recover the contract.
    fn fits(
        &self,
        contract: &ContractId,
        changes: &veil_vm::Changes,
        messages: &[veil_vm::Outgoing],
    ) -> Result<(), String> {
        let Some(running) = self.miner.running.get(contract) else {
            return Ok(());
        };
        let (mut grown, mut shrunk) = (0u64, 0u64);
        for (k, v) in changes {
            if let Some(old) = running.state.get(k) {
                shrunk += state_entry_bytes(k, old);
            }
            if let Some(v) = v {
                grown += state_entry_bytes(k, v);
            }
        }
        let mut opened = std::collections::BTreeSet::new();
        for m in messages {
            if !running.sent.contains_key(&m.to) && opened.insert(m.to) {
                grown += CHANNEL_BYTES;
            }
        }
        let after = (running.bytes + grown).saturating_sub(shrunk);
        if after > MAX_STATE_BYTES && grown > shrunk {
            return Err(format!(
                "the contract's state would reach {after} bytes, over the limit of \
                 {MAX_STATE_BYTES}; nothing changed"
            ));
        }
        Ok(())
    }

    /// Commits a successful call's writes to `contract`'s state.
    fn apply(&mut self, contract: &ContractId, changes: veil_vm::Changes, height: Height) {
        let prefix = state_prefix(contract);
        let Some(running) = self.miner.running.get_mut(contract) else {
            return;
        };
        let state = Arc::make_mut(&mut running.state);
        for (k, v) in changes {
            let store_key = [prefix.as_slice(), &k].concat();
            if let Some(old) = state.get(&k) {
                // Counted in when it was written (load, recovery and every write agree).
                debug_assert!(running.bytes >= state_entry_bytes(&k, old));
                running.bytes = running.bytes.saturating_sub(state_entry_bytes(&k, old));
            }
            match v {
                Some(v) => {
                    self.commit.put(store_key, v.clone());
                    running.bytes += state_entry_bytes(&k, &v);
                    state.insert(k, v);
                }
                None => {
                    self.commit.delete(store_key);
                    state.remove(&k);
                }
            }
        }
        running.contract.executed += 1;
        running.contract.height = height;
        self.save(contract);
    }

    /// Forgets revocations of sessions that have expired by block time `now`.
    pub(crate) fn prune_revoked(&mut self, now: u64) {
        let expired: Vec<[u8; 32]> = self
            .miner
            .revoked
            .iter()
            .filter(|(_, (_, expiry))| *expiry < now)
            .map(|(session, _)| *session)
            .collect();
        for session in expired {
            self.miner.revoked.remove(&session);
            self.commit.delete(revoked_key(&session));
        }
    }

    /// Forgets the results of `id`'s commands from blocks below `height`.
    pub(crate) fn keep_results_since(&mut self, id: &ContractId, height: Height) {
        if let Some(results) = self.results.get_mut(id) {
            results.retain(|r| r.height >= height);
        }
    }

    /// The batch's results as egress payloads, each at most [MAX_RESULTS_BYTES], grouped by
    /// contract; taken, so a second call finds none.
    pub(crate) fn take_results(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (contract, results) in std::mem::take(&mut self.results) {
            let mut chunk = ContractResults {
                contract,
                results: Vec::new(),
            };
            // The contract id and the list's length prefix.
            let mut size = 32 + 5;
            for r in results {
                if !chunk.results.is_empty() && size + r.encode_size() > MAX_RESULTS_BYTES {
                    out.push(chunk.encode().to_vec());
                    chunk.results.clear();
                    size = 32 + 5;
                }
                size += r.encode_size();
                chunk.results.push(r);
            }
            if !chunk.results.is_empty() {
                out.push(chunk.encode().to_vec());
            }
        }
        out
    }

    /// Signs the results as egress, every one (see [Executor::take_results] and
    /// [Emitter::block_results]): a recovery's, which answer the commands it replayed.
    pub(crate) fn emit_results(&mut self, out: &Emitter<'_>, outbox: &mut Outbox) {
        out.block_results(outbox, CONTRACT_RESULTS_TOPIC, self.take_results());
    }
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use veil_primitives::{PrivateKey, hash};

    use super::*;

    fn module() -> Vec<u8> {
        wat::parse_str(
            r#"(module
                (import "veil" "output_write" (func $out (param i32 i32)))
                (memory (export "memory") 1)
                (func (export "init") (call $out (i32.const 0) (i32.const 1)))
                (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
                (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
                (func (export "handle_message") (call $out (i32.const 0) (i32.const 1))))"#,
        )
        .unwrap()
    }

    /// A sealed store in a directory removed on drop, a chain and a VM.
    struct Fixture {
        dir: std::path::PathBuf,
        store: SealedKv,
        chain: ChainIdentity,
        vm: Vm,
    }

    impl Fixture {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("veil-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Self {
                store: SealedKv::open(&dir, &[7; 32], b"measurement", b"identity").unwrap(),
                dir,
                chain: ChainIdentity {
                    chain_id: 1,
                    genesis_hash: hash(b"genesis"),
                },
                vm: Vm::new(super::super::contract_limits()),
            }
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_contract_runs_only_on_the_code_the_chain_announced() {
        let Fixture {
            store, chain, vm, ..
        } = &Fixture::new("executor");
        let identity = crate::identity::Identity::ephemeral();
        let me = identity.public_key();
        let code = module();
        let mut other = code.clone();
        other.extend_from_slice(&[0, 4, 1, b'x', 0, 0]); // a custom section: another hash
        let event = ContractEvent::Instantiated {
            contract: hash(b"contract"),
            code: hash(&code),
            developer: me.clone(),
            miner: me.clone(),
            miner_ecdh: [9; 32],
        }
        .encode()
        .to_vec();
        // The host supplies other code, or none: the batch is refused, naming the code.
        for offered in [
            BTreeMap::new(),
            BTreeMap::from([(hash(&other), other.clone())]),
        ] {
            let mut ex = Executor::new(chain, &identity, vm, store, &offered, Miner::default());
            assert!(matches!(
                ex.on_event(&event),
                Err(ExecutorError::MissingCode { .. })
            ));
            assert!(ex.miner.running.is_empty());
        }
        // The announced code: the contract runs here, its code is kept sealed.
        let offered = BTreeMap::from([(hash(&code), code.clone())]);
        let mut ex = Executor::new(chain, &identity, vm, store, &offered, Miner::default());
        ex.on_event(&event).unwrap();
        assert!(ex.miner.running.contains_key(&hash(b"contract")));
        assert!(ex.miner.codes.contains_key(&hash(&code)));
        assert!(!ex.commit.is_empty());
    }

    #[test]
    fn results_go_out_in_messages_the_chain_accepts() {
        // A review's devnet benchmark: 48 KiB result messages were refused by the chain
        // (16 KiB per message), which stopped the worker's egress sequence for good.
        let Fixture {
            store, chain, vm, ..
        } = &Fixture::new("results");
        let identity = crate::identity::Identity::ephemeral();
        let offered = BTreeMap::new();
        let mut ex = Executor::new(chain, &identity, vm, store, &offered, Miner::default());
        let contract = hash(b"contract");
        let sender = PrivateKey::from_seed(2).public_key();
        // The largest replies, and many small ones.
        let mut results: Vec<CommandResult> = (0..5)
            .map(|nonce| CommandResult {
                sender: sender.clone(),
                nonce,
                height: 9,
                reply: vec![1; MAX_REPLY_BYTES],
            })
            .collect();
        results.extend((5..500).map(|nonce| CommandResult {
            sender: sender.clone(),
            nonce,
            height: 9,
            reply: vec![1; 256],
        }));
        ex.results.insert(contract, results);
        let out = Emitter {
            identity: &identity,
            chain,
        };
        let mut outbox = Outbox::default();
        ex.emit_results(&out, &mut outbox);
        let limit = veil_primitives::Params::default().max_message_bytes as usize;
        assert!(outbox.pending.len() > 1);
        let mut carried = 0;
        for m in &outbox.pending {
            assert!(
                m.message.payload.len() <= limit,
                "{}",
                m.message.payload.len()
            );
            let decoded = ContractResults::decode(m.message.payload.clone()).unwrap();
            carried += decoded.results.len();
        }
        assert_eq!(carried, 500, "every result goes out, in order");
    }
}
