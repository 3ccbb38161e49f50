//! The coordinator: opens pRuntime's sealed data, serializes every change, and hands readers a
//! consistent snapshot.
//!
//! **Thread and lock model.** Changes (`InitRuntime`, `SyncBlockchain`, `Bootstrap`, key
//! requests) take the writer lock, which owns the sealed store: they verify and compute under
//! it, commit one atomic batch, then publish a new [Snapshot] by swapping an `Arc`. Readers
//! (`Info`, egress, registrations, key answers) never take the writer lock: they clone the
//! current snapshot's `Arc` under a read lock held for a pointer copy. A 10,000-block sync
//! therefore delays no public call; it only queues other changes behind it. The API runs
//! changes on tokio's blocking pool so they never hold up the async threads ([crate::api]).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, RwLock},
};

use commonware_codec::Encode as _;
use serde::Serialize;
use veil_attestation::Evidence;
use veil_primitives::{
    AccountId, Digest, GenesisNodeStatus, Header, Height, KeyHolder, Message, Registration,
    SignedGatekeeperMessage, SignedWorkerMessage,
    contract::{CheckpointInfo, LogEntry, SignedContractEgress},
    namespace,
    query::QueryEpoch,
    to_hex,
};
use veil_pruntime_api::{Info, SignedAnswer, limits::MAX_CONTRACT_EGRESS_VIEW};
use veil_vm::Vm;

use crate::{
    egress::Emitter,
    identity::Identity,
    ingress,
    roles::{
        contracts::{
            Miner, contract_limits,
            executor::Executor,
            query::{Queries, QueryError, Request, View},
            recovery, state_prefix,
        },
        gatekeeper::{self, KeyRequestError, channel, channel::KeyRequest},
        genesis::{ChainBinding, GenesisRole},
        worker,
    },
    sealed::{
        dir::SealedDir,
        kv::{Batch, KvError, SealedKv},
    },
    state::State,
    sync::{Batch as SyncBatch, SyncError},
    tee::TeeBackend,
};

pub use crate::error::RuntimeError;

/// Where the sealed store lives inside the data directory.
pub const STORE_DIR: &str = "store";

/// What `Bootstrap` reveals: the public genesis identity `pk_g` and the root key's check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrapped {
    /// Signing key and X25519 key.
    pub public: (AccountId, [u8; 32]),
    /// Check of the era-0 root key.
    pub key_check: Digest,
    /// Whether the role was created by this call.
    pub created: bool,
    /// TEE evidence whose report data binds the identity, the key check and the chain
    /// ([veil_attestation::genesis_report_data]); dev evidence still needs the dev RA
    /// service's signature, DCAP evidence its collateral.
    pub evidence: veil_attestation::Evidence,
}

/// Commits a change's batch, then refreshes the state roots of the contracts it changed (the
/// store's prefix roots, which queries commit to).
fn commit_contracts(
    store: &mut SealedKv,
    commit: Batch,
    contracts: &mut Miner,
    changed: Vec<Digest>,
) -> Result<(), RuntimeError> {
    store.commit(commit)?;
    for id in changed {
        if let Some(r) = contracts.running.get_mut(&id) {
            r.root = store.prefix_root(&state_prefix(&id));
        }
    }
    Ok(())
}

/// Once the gatekeeper role ended ([crate::state::ROLE_WIPED] committed with it), rewrites the
/// sealed files so no old copy of the root key stays in them, then clears the mark. A failure
/// leaves the mark for the next sync or start to try again; the role is gone either way.
pub(crate) fn finish_wipe(store: &mut SealedKv) {
    if !store.contains(crate::state::ROLE_WIPED) {
        return;
    }
    let mut done = Batch::new();
    done.delete(crate::state::ROLE_WIPED);
    match store.compact().and_then(|()| store.commit(done)) {
        Ok(()) => tracing::info!("gatekeeper role ended: sealed store compacted"),
        Err(e) => tracing::warn!("gatekeeper role ended, but compacting the store failed: {e}"),
    }
}

/// Moves a corrupted store out of the way (never deleted: an operator may want to look at it);
/// returns where it went.
fn set_aside(data_dir: &Path, store_dir: &Path) -> anyhow::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut aside = data_dir.join(format!("{STORE_DIR}.corrupt-{stamp}"));
    let mut n = 0;
    while aside.exists() {
        n += 1;
        aside = data_dir.join(format!("{STORE_DIR}.corrupt-{stamp}-{n}"));
    }
    std::fs::rename(store_dir, &aside)
        .map_err(|e| anyhow::anyhow!("cannot set the corrupted store aside: {e}"))?;
    Ok(aside)
}

/// Everything readers see, consistent as of the last committed change.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// What pRuntime knows of the chain (`None` before `InitRuntime`).
    pub state: Option<State>,
    /// The genesis role, if this pRuntime was bootstrapped and has not retired.
    pub genesis: Option<Arc<GenesisRole>>,
    /// The retired genesis identity, if this pRuntime was the genesis node.
    pub retired: Option<AccountId>,
    /// The contracts this worker runs.
    pub miner: Arc<Miner>,
}

/// The writer's side: the store, and the key request in flight.
struct Writer {
    store: SealedKv,
    key_request: Option<KeyRequest>,
    attempts: u64,
}

/// pRuntime.
pub struct Runtime {
    tee: Box<dyn TeeBackend>,
    vm: Vm,
    queries: Queries,
    identity: Identity,
    store_dir: PathBuf,
    writer: Mutex<Writer>,
    current: RwLock<Arc<Snapshot>>,
    /// Result messages one sync batch may add (tests; otherwise the egress queue's room).
    results_per_batch: std::sync::atomic::AtomicUsize,
}

impl Runtime {
    /// Opens the runtime's sealed data in `data_dir`, creating the identity at first start.
    pub fn open(tee: Box<dyn TeeBackend>, data_dir: &Path) -> anyhow::Result<(Self, bool)> {
        let measurement = tee.measurement();
        let root = tee.sealing_root()?;
        let sealed = SealedDir::new(data_dir, root.clone(), measurement.clone())?;
        let (identity, created) = Identity::load_or_create(&sealed)?;
        let store_dir = data_dir.join(STORE_DIR);
        let open = || {
            SealedKv::open(
                &store_dir,
                &root,
                &measurement,
                identity.public_key().as_ref(),
            )
        };
        let store = match open() {
            Ok(store) => store,
            // Everything in the store derives from the chain: set it aside and start over.
            Err(e @ (KvError::CorruptFrame { .. } | KvError::Corrupt { .. })) => {
                let aside = set_aside(data_dir, &store_dir)?;
                tracing::error!(
                    error = %e,
                    aside = %aside.display(),
                    "the sealed store is corrupted: set aside, starting from an empty one; the \
                     host initializes it and syncs it from genesis again, and the contracts this \
                     worker runs recover from their latest checkpoints on chain"
                );
                open()
                    .map_err(|e| anyhow::anyhow!("sealed store in {}: {e}", data_dir.display()))?
            }
            Err(e) => anyhow::bail!("sealed store in {}: {e}", data_dir.display()),
        };
        let vm = Vm::new(contract_limits());
        let snapshot = Snapshot {
            state: State::load(&store)?,
            genesis: GenesisRole::load(&store)?.map(Arc::new),
            retired: GenesisRole::retired(&store)?,
            miner: Arc::new(Miner::load(&store, &vm)?),
        };
        let runtime = Self {
            tee,
            vm,
            queries: Queries::default(),
            identity,
            store_dir,
            writer: Mutex::new(Writer {
                store,
                key_request: None,
                attempts: 0,
            }),
            current: RwLock::new(Arc::new(snapshot)),
            results_per_batch: std::sync::atomic::AtomicUsize::new(usize::MAX),
        };
        // A crash between seeing the launch and wiping the role finishes the wipe now, and one
        // between ending the gatekeeper role and compacting the store finishes the compaction.
        {
            let mut w = runtime.write();
            let snap = runtime.snapshot();
            runtime.retire_if_launched(&mut w, &snap)?;
            finish_wipe(&mut w.store);
        }
        Ok((runtime, created))
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn write(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
    }

    /// The genesis node wipes its role once it has seen the launch in a verified block.
    fn retire_if_launched(&self, w: &mut Writer, snap: &Snapshot) -> anyhow::Result<()> {
        let launched = snap.state.as_ref().is_some_and(|s| s.launched.is_some());
        if launched && let Some(role) = &snap.genesis {
            let retired = GenesisRole::retire(role.public().0, &mut w.store)?;
            self.publish(Snapshot {
                state: snap.state.clone(),
                genesis: None,
                retired: Some(retired),
                miner: snap.miner.clone(),
            });
            tracing::info!("the network launched: genesis node retired, root key wiped");
        }
        Ok(())
    }

    fn ensure_active(snap: &Snapshot) -> Result<(), RuntimeError> {
        match snap.retired {
            Some(_) => Err(RuntimeError::Retired),
            None => Ok(()),
        }
    }

    /// The genesis node is never also a registered worker or a gatekeeper: it must not get a
    /// second path to the root key or a second identity on chain.
    fn ensure_worker(snap: &Snapshot) -> Result<(), RuntimeError> {
        Self::ensure_active(snap)?;
        match snap.genesis {
            Some(_) => Err(RuntimeError::Invalid(
                "this pRuntime is the genesis node: it neither registers as a worker nor \
                 becomes a gatekeeper"
                    .into(),
            )),
            None => Ok(()),
        }
    }

    fn emitter<'a>(&'a self, chain: &'a veil_primitives::ChainIdentity) -> Emitter<'a> {
        Emitter {
            identity: &self.identity,
            chain,
        }
    }

    /// Takes the genesis role for the chain `binding` names: creates and seals the genesis
    /// identity and the era-0 root key bound to that chain (or returns the role this runtime
    /// already has for it). Returns the public genesis identity `pk_g` and whether it was
    /// created now.
    ///
    /// Refused for another chain than the role's, once the runtime follows a chain (a genesis
    /// node is bootstrapped before its chain starts), and when it holds the gatekeeper role:
    /// the genesis node and the gatekeepers are never the same pRuntime.
    pub fn bootstrap(&self, binding: ChainBinding) -> Result<Bootstrapped, RuntimeError> {
        let mut w = self.write();
        let snap = self.snapshot();
        Self::ensure_active(&snap)?;
        veil_light::decode_group_key(&binding.group_key)
            .map_err(|e| RuntimeError::Invalid(format!("group key: {e}")))?;
        if let Some(role) = &snap.genesis {
            if role.binding() != &binding {
                return Err(RuntimeError::Invalid(format!(
                    "this pRuntime is already the genesis node of chain {}",
                    role.binding().chain_id
                )));
            }
            return Ok(Bootstrapped {
                public: role.public(),
                key_check: role.key_check(),
                created: false,
                evidence: self.genesis_evidence(role)?,
            });
        }
        if let Some(state) = &snap.state {
            let why = if state.gatekeeper.is_some() {
                "it holds the gatekeeper role"
            } else {
                "it already follows a chain"
            };
            return Err(RuntimeError::Invalid(format!(
                "this pRuntime cannot become a genesis node: {why}"
            )));
        }
        let role = GenesisRole::create(&mut w.store, binding)?;
        let out = Bootstrapped {
            public: role.public(),
            key_check: role.key_check(),
            created: true,
            evidence: self.genesis_evidence(&role)?,
        };
        self.publish(Snapshot {
            genesis: Some(Arc::new(role)),
            ..(*snap).clone()
        });
        Ok(out)
    }

    /// Evidence that this TEE holds the genesis role for its chain.
    fn genesis_evidence(
        &self,
        role: &GenesisRole,
    ) -> Result<veil_attestation::Evidence, RuntimeError> {
        let (key, ecdh) = role.public();
        let binding = role.binding();
        let data = veil_attestation::genesis_report_data(
            binding.chain_id,
            &binding.group_key,
            key.as_ref(),
            &ecdh,
            &role.key_check(),
        );
        Ok(self.tee.evidence(&data)?)
    }

    /// The genesis role, if this runtime was bootstrapped.
    pub fn genesis(&self) -> Option<Arc<GenesisRole>> {
        self.snapshot().genesis.clone()
    }

    /// The worker identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// What pRuntime knows of the chain, once initialized.
    pub fn state(&self) -> Option<State> {
        self.snapshot().state.clone()
    }

    /// Every byte of the sealed store on disk, file by file in name order (for tests that
    /// prove nothing was written).
    pub fn sealed_state_bytes(&self) -> Option<Vec<u8>> {
        let _w = self.write();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.store_dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            out.extend(std::fs::read(name).ok()?);
        }
        Some(out)
    }

    /// Sets the chain to follow, checking that the group key is the one genesis commits to.
    /// Idempotent for the same genesis; a different genesis is refused.
    pub fn init(
        &self,
        chain_id: u64,
        genesis: &Header,
        group_key: &[u8],
        proof: &[u8],
    ) -> Result<(), RuntimeError> {
        let mut w = self.write();
        let snap = self.snapshot();
        Self::ensure_active(&snap)?;
        let trust = veil_light::verify_genesis(genesis, chain_id, group_key, proof)
            .map_err(|e| RuntimeError::Genesis(e.to_string()))?;
        if let Some(role) = &snap.genesis {
            let bound = role.binding();
            if bound.chain_id != chain_id || bound.group_key != group_key {
                return Err(RuntimeError::Genesis(format!(
                    "this genesis node is bound to chain {} and its validators' group key; it \
                     follows no other chain",
                    bound.chain_id
                )));
            }
        }
        if let Some(s) = &snap.state {
            if s.genesis_hash == trust.genesis_hash && s.chain_id == chain_id {
                return Ok(());
            }
            return Err(RuntimeError::Genesis(format!(
                "already following genesis {} (chain {})",
                to_hex(s.genesis_hash),
                s.chain_id
            )));
        }
        let state = State::genesis(chain_id, &trust);
        let mut batch = Batch::default();
        state.write(None, &mut batch);
        w.store.commit(batch)?;
        self.publish(Snapshot {
            state: Some(state),
            ..(*snap).clone()
        });
        Ok(())
    }

    /// Checks and applies a batch; returns the new height and the messages addressed to this
    /// worker. Nothing changes unless the whole batch is valid.
    ///
    /// The chain's registry events set what pRuntime knows of its registration, copies of its
    /// own egress confirm it, and crossing a heartbeat height while registered signs a
    /// heartbeat. All of it is sealed in one commit with the sync progress.
    pub fn sync(&self, batch: &SyncBatch) -> Result<(Height, Vec<Message>), RuntimeError> {
        let mut w = self.write();
        let snap = self.snapshot();
        Self::ensure_active(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let me = self.identity.public_key();
        let (mut next, seen) = state.check(batch, &me)?;
        let chain = state.chain();
        let out = self.emitter(&chain);
        let offered: BTreeMap<Digest, Vec<u8>> = batch
            .code
            .iter()
            .map(|c| (veil_primitives::hash(c), c.clone()))
            .collect();
        let mut executor = Executor::new(
            &chain,
            &self.identity,
            &self.vm,
            &w.store,
            &offered,
            (*snap.miner).clone(),
        );
        let cap = self
            .results_per_batch
            .load(std::sync::atomic::Ordering::Relaxed);
        let mine = ingress::dispatch(
            &out,
            &mut next,
            &mut executor,
            seen,
            batch.headers.len(),
            cap,
        )?;
        let (mut contracts, mut commit, changed) = executor.finish();
        worker::heartbeat(&out, &mut next, state.synced_height());
        next.write(Some(state), &mut commit);
        commit_contracts(&mut w.store, commit, &mut contracts, changed)?;
        let height = next.synced_height();
        let snap = Snapshot {
            state: Some(next),
            miner: Arc::new(contracts),
            ..(*snap).clone()
        };
        self.publish(snap.clone());
        finish_wipe(&mut w.store);
        self.retire_if_launched(&mut w, &snap)?;
        Ok((height, mine))
    }

    /// A checkpoint of contract `id` as of the last synced block, in signed chunks for the
    /// host to post. Reads the snapshot only.
    pub fn checkpoint(&self, id: &Digest) -> Result<recovery::Made, RuntimeError> {
        let snap = self.snapshot();
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        Ok(recovery::make(
            &state.chain(),
            &self.identity,
            &snap.miner,
            id,
            state.synced_height(),
        )?)
    }

    /// Recovers contract `id`, assigned here, from a checkpoint (the one the chain named or a
    /// later one) and the log entries after it: the `staged` ones ([Self::stage_recovery])
    /// then `entries` (see [recovery]); commits only if all of it checks.
    /// Returns the recovered log position and the height of the last command it ran.
    pub fn recover(
        &self,
        id: &Digest,
        checkpoint: Option<(&CheckpointInfo, &[u8])>,
        staged: u64,
        entries: &[LogEntry],
    ) -> Result<(u64, Height), RuntimeError> {
        self.host_contract_call(|executor, state, chain| {
            let recovered =
                executor.recover(id, checkpoint, staged, entries, state.synced_height())?;
            let mut next = state.clone();
            executor.emit_results(&self.emitter(chain), &mut next.outbox);
            Ok((recovered, Some(next)))
        })
    }

    /// Stages log `entries` for the recovery of contract `id` at `offset` among those staged
    /// (0 starts over), for a log too large for one [Self::recover] call; returns how many are
    /// staged. Nothing runs until the recovery completes and checks.
    pub fn stage_recovery(
        &self,
        id: &Digest,
        offset: u64,
        entries: &[LogEntry],
    ) -> Result<u64, RuntimeError> {
        self.host_contract_call(|executor, _, _| Ok((executor.stage(id, offset, entries)?, None)))
    }

    /// Runs a host's call on this worker's contracts outside a sync batch (no code offered):
    /// `f` may return the chain state it changed (results to send, say); the contracts' writes
    /// and that state are committed together, and only if `f` succeeds.
    fn host_contract_call<T>(
        &self,
        f: impl FnOnce(
            &mut Executor<'_>,
            &State,
            &veil_primitives::ChainIdentity,
        ) -> Result<(T, Option<State>), RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let mut w = self.write();
        let snap = self.snapshot();
        Self::ensure_worker(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let chain = state.chain();
        let offered = BTreeMap::new();
        let mut executor = Executor::new(
            &chain,
            &self.identity,
            &self.vm,
            &w.store,
            &offered,
            (*snap.miner).clone(),
        );
        let (out, next) = f(&mut executor, state, &chain)?;
        let (mut contracts, mut commit, changed) = executor.finish();
        if let Some(next) = &next {
            next.write(Some(state), &mut commit);
        }
        commit_contracts(&mut w.store, commit, &mut contracts, changed)?;
        self.publish(Snapshot {
            state: next.or_else(|| snap.state.clone()),
            miner: Arc::new(contracts),
            ..(*snap).clone()
        });
        Ok(out)
    }

    /// Starts a key request to one of the holders the latest verified election names (a
    /// different one on each attempt); returns the holder, the first Noise message (which the
    /// host delivers to the holder's public `RequestRootKey`) and the round.
    pub fn start_key_request(&self) -> Result<(KeyHolder, Vec<u8>, u64), RuntimeError> {
        let mut w = self.write();
        let snap = self.snapshot();
        Self::ensure_worker(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let (request, message) = gatekeeper::start_key_request(
            state,
            &self.identity.public_key(),
            self.identity.ecdh_secret(),
            self.tee.kind().insecure(),
            w.attempts,
        )?;
        w.attempts += 1;
        let out = (request.holder.clone(), message, request.round);
        w.key_request = Some(request);
        Ok(out)
    }

    /// Completes the key request with the holder's answer: seals the root key, restores the
    /// gatekeeper state from the latest checkpoint seen on chain, and confirms readiness.
    pub fn finish_key_request(&self, answer: &[u8]) -> Result<(u64, Digest), RuntimeError> {
        let mut w = self.write();
        let snap = self.snapshot();
        Self::ensure_worker(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let request = w.key_request.take().ok_or(KeyRequestError::NotStarted)?;
        let chain = state.chain();
        let next = gatekeeper::finish_key_request(&self.emitter(&chain), state, request, answer)?;
        let role = next.gatekeeper.as_ref().expect("the role was just created");
        let (era, check) = (role.era, role.key_check());
        let mut commit = Batch::default();
        next.write(Some(state), &mut commit);
        w.store.commit(commit)?;
        self.publish(Snapshot {
            state: Some(next),
            ..(*snap).clone()
        });
        tracing::info!(era, "root key received and sealed");
        Ok((era, check))
    }

    /// A key holder's answer to an elected gatekeeper's request (the public `RequestRootKey`).
    /// Reads the snapshot only, so it never waits behind a sync.
    pub fn answer_key_request(&self, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        let snap = self.snapshot();
        Self::ensure_active(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let election = state.election.as_ref().ok_or(KeyRequestError::NoElection)?;
        let chain = state.chain();
        let height = state.synced_height();
        let answer = if let Some(g) = &snap.genesis {
            let holding = channel::Holding {
                election,
                height,
                era: 0,
                root_key: g.root_key(),
            };
            channel::answer(g.ecdh_secret(), &chain, &holding, request)
        } else if let Some(role) = &state.gatekeeper {
            let holding = channel::Holding {
                election,
                height,
                era: role.era,
                root_key: &role.root_key,
            };
            channel::answer(self.identity.ecdh_secret(), &chain, &holding, request)
        } else {
            return Err(RuntimeError::Invalid(
                "this worker holds no root key".into(),
            ));
        };
        Ok(answer?)
    }

    /// This gatekeeper's copies of gatekeeper messages not yet seen on chain.
    pub fn gatekeeper_side_effects(&self) -> Vec<SignedGatekeeperMessage> {
        self.snapshot()
            .state
            .as_ref()
            .and_then(|s| s.gatekeeper.as_ref())
            .map(|g| g.pending.clone())
            .unwrap_or_default()
    }

    /// Contract messages and replies not yet routed, for the host to post (at most
    /// [MAX_CONTRACT_EGRESS_VIEW], each channel in order).
    pub fn contract_side_effects(&self) -> Vec<SignedContractEgress> {
        self.snapshot()
            .miner
            .outbound
            .values()
            .take(MAX_CONTRACT_EGRESS_VIEW)
            .cloned()
            .collect()
    }

    /// The contracts this worker runs or recovers, for its host.
    pub fn contract_statuses(&self) -> Vec<veil_pruntime_api::ContractStatusView> {
        self.snapshot()
            .miner
            .running
            .iter()
            .map(|(id, r)| veil_pruntime_api::ContractStatusView {
                contract: to_hex(id),
                has_key: r.contract.key.is_some(),
                log_count: r.contract.log.count,
                recovering: r.contract.recovery.as_ref().map(|rec| {
                    veil_pruntime_api::RecoveringView {
                        checkpoint_height: rec.checkpoint.as_ref().map(|c| c.height),
                        from_count: rec.checkpoint.as_ref().map_or(0, |c| c.log.count),
                        to_count: rec.target.count,
                        synced_count: rec.tail.count,
                    }
                }),
            })
            .collect()
    }

    /// How many contract messages and replies wait to be routed.
    pub fn contract_messages_pending(&self) -> usize {
        self.snapshot().miner.outbound.len()
    }

    /// Signed egress not yet seen on chain, for the host to post.
    pub fn side_effects(&self) -> Vec<SignedWorkerMessage> {
        let snap = self.snapshot();
        if snap.retired.is_some() {
            return Vec::new();
        }
        snap.state
            .as_ref()
            .map(|s| s.outbox.pending.clone())
            .unwrap_or_default()
    }

    /// A registration for `operator` at `endpoint`, attesting the last synced block (see
    /// `roles::worker::registration`).
    pub fn registration(
        &self,
        operator: AccountId,
        endpoint: String,
    ) -> Result<Registration, RuntimeError> {
        let snap = self.snapshot();
        Self::ensure_worker(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        worker::registration(&*self.tee, &self.identity, state, operator, endpoint)
    }

    /// Evidence binding the identity keys, the genesis and a recently synced block.
    pub fn ra_quote(&self, block_hash: &Digest) -> Result<Evidence, RuntimeError> {
        let snap = self.snapshot();
        Self::ensure_worker(&snap)?;
        let state = snap.state.as_ref().ok_or(SyncError::NotInitialized)?;
        worker::ra_quote(&*self.tee, &self.identity, state, block_hash)
    }

    /// The current query epoch (see [`QueryEpoch`]): clients seal requests to it.
    pub fn query_epoch(&self) -> QueryEpoch {
        self.queries.epoch()
    }

    /// Lets a sync batch add at most `n` contract result messages (tests of a batch refused
    /// for its results).
    #[doc(hidden)]
    pub fn limit_results_per_batch(&self, n: usize) {
        self.results_per_batch
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Keeps at most `capacity` query sessions (tests of a full table).
    #[doc(hidden)]
    pub fn limit_query_sessions(&self, capacity: usize) {
        self.queries.limit_sessions(capacity)
    }

    /// Answers a sealed contract query from the current snapshot (never waits for a sync).
    pub fn query(&self, request: &Request) -> Result<Vec<u8>, QueryError> {
        let snap = self.snapshot();
        let state = snap.state.as_ref().ok_or(QueryError::NotReady)?;
        let view = View {
            state,
            miner: &snap.miner,
            identity: &self.identity,
            insecure: self.tee.kind().insecure(),
            vm: &self.vm,
        };
        self.queries.answer(&view, request)
    }

    /// Public facts.
    pub fn info(&self) -> Info {
        let snap = self.snapshot();
        let kind = self.tee.kind();
        let state = snap.state.as_ref();
        let role = state.and_then(|s| s.gatekeeper.as_ref());
        Info {
            public_key: to_hex(self.identity.public_key()),
            ecdh_public_key: to_hex(self.identity.ecdh_public()),
            tee: kind,
            insecure: kind.insecure(),
            measurement: to_hex(self.tee.measurement()),
            chain_id: state.map(|s| s.chain_id),
            genesis_hash: state.map(|s| to_hex(s.genesis_hash)),
            synced_height: state.map_or(0, State::synced_height),
            synced_hash: state.map(|s| to_hex(s.last_hash)),
            messages_received: state.map_or(0, |s| s.messages_received),
            registered_until: state.and_then(|s| s.outbox.registration.map(|r| r.0)),
            egress_pending: state.map_or(0, |s| s.outbox.pending.len()),
            election_round: state
                .and_then(|s| s.election.as_ref())
                .map_or(0, |e| e.round),
            gatekeeper: state.is_some_and(|s| s.elected(&self.identity.public_key())),
            genesis_key: snap
                .genesis
                .as_ref()
                .map(|g| g.public().0)
                .or_else(|| snap.retired.clone())
                .map(to_hex),
            genesis: match (&snap.genesis, &snap.retired) {
                (_, Some(_)) => Some(GenesisNodeStatus::Retired),
                (Some(_), None) => Some(GenesisNodeStatus::Active),
                (None, None) => None,
            },
            launched: state.is_some_and(|s| s.launched.is_some()),
            holds_root_key: role.is_some(),
            era: role.map(|r| r.era),
            gatekeeper_pending: role.map_or(0, |r| r.pending.len()),
            gatekeeper_sequence: role.map(|r| r.state.next_sequence),
        }
    }

    /// Signs a public answer to a request that carried `nonce`.
    pub fn sign_answer<T: Serialize>(
        &self,
        answer: &T,
        nonce: Option<&[u8]>,
    ) -> anyhow::Result<SignedAnswer> {
        anyhow::ensure!(
            nonce.is_none_or(|n| n.len() <= veil_pruntime_api::limits::MAX_ANSWER_NONCE),
            "nonce too long"
        );
        let payload = serde_json::to_string(answer)?;
        let signed = SignedAnswer::signed_bytes(nonce, &payload);
        let signature = self.identity.sign(namespace::PUBLIC_ANSWER, &signed);
        Ok(SignedAnswer {
            payload,
            nonce: nonce.map(to_hex),
            public_key: to_hex(self.identity.public_key()),
            signature: to_hex(signature.encode()),
        })
    }
}
