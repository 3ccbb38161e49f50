//! The authenticated chain state: QMDB for finalized state, speculative batches for blocks that
//! are proposed or verified but not yet finalized.
//!
//! A block is executed on top of its parent's view (the parent's pending batch, or the finalized
//! database when the parent is the last finalized block). Its writes become a child batch whose
//! merkleized root goes into the header. Finalizing a block applies its batch (and any unapplied
//! ancestors) and commits; siblings on abandoned forks become stale and are dropped.
//!
//! The database's commit metadata records which block it holds, so after a crash the node knows
//! where to resume and replays later finalized blocks.

use std::{collections::HashMap, sync::Arc};

use commonware_codec::{Buf, DecodeExt as _, Encode as _, EncodeSize, Read, ReadExt, Write};
use commonware_cryptography::Sha256;
use commonware_parallel::Sequential;
use commonware_runtime::{Spawner, buffer::paged::CacheRef};
use commonware_storage::{
    journal::contiguous::variable::Config as LogConfig,
    merkle::full::Config as MerkleConfig,
    qmdb::{
        Error as QmdbError,
        any::ordered::Update,
        current::{VariableConfig, batch::MerkleizedBatch, ordered::variable::Db},
        floor::Proportional,
    },
    translator::EightCap,
};
use commonware_utils::{
    NZU64, NZUsize,
    sync::{AsyncRwLock, Mutex},
};
use veil_chain::{Changes, StateError, StateRead};
use veil_light::state::{CHUNK, Family, MAX_VALUE, ValueEncoding};
use veil_primitives::{Digest, Height, contract::MinerPolicy};

type Qmdb<E> = Db<Family, E, Digest, Vec<u8>, Sha256, EightCap, CHUNK, Sequential>;
type Batch = Arc<MerkleizedBatch<Family, Digest, Update<Digest, ValueEncoding>, CHUNK, Sequential>>;

/// Which block the database holds, stored in its commit metadata.
///
/// A block's hash covers its state root, which covers this metadata, so the metadata names the
/// block by height and parent instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Height of the block.
    pub height: Height,
    /// Hash of its parent (zero for genesis).
    pub parent: Digest,
}

impl Write for Committed {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.height.write(buf);
        self.parent.write(buf);
    }
}

impl EncodeSize for Committed {
    fn encode_size(&self) -> usize {
        8 + 32
    }
}

impl Read for Committed {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            height: u64::read(buf)?,
            parent: Digest::read(buf)?,
        })
    }
}

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error("state database: {0}")]
    Db(String),
    /// A block wrote a value larger than the database accepts.
    #[error("state value of {size} bytes exceeds the limit of {max}")]
    ValueTooLarge {
        /// Size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The parent of a block is neither finalized nor pending.
    #[error("unknown parent state {0}")]
    UnknownParent(Digest),
}

impl From<QmdbError<Family>> for Error {
    fn from(e: QmdbError<Family>) -> Self {
        Self::Db(e.to_string())
    }
}

/// Blocks between full syncs of the state database.
const SYNC_INTERVAL: Height = 256;

/// A block's executed, not yet finalized state.
struct Pending {
    height: Height,
    batch: Batch,
}

/// Finalized state plus pending forks.
pub struct StateStore<E: commonware_storage::Context + Spawner> {
    db: AsyncRwLock<Option<Qmdb<E>>>,
    committed: Mutex<Committed>,
    pending: Mutex<HashMap<Digest, Pending>>,
}

/// Codec config of a state operation: (key config, value length bound).
type OperationCfg = ((), (commonware_codec::RangeCfg<usize>, ()));

fn config(prefix: &str) -> VariableConfig<EightCap, OperationCfg, Sequential> {
    let page_cache = CacheRef::new(
        commonware_runtime::buffer::paged::page_size(commonware_runtime::BLOB_PAGE_SIZE),
        NZUsize!(1024),
    );
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-mmr-journal"),
            metadata_partition: format!("{prefix}-mmr-metadata"),
            items_per_blob: NZU64!(65_536),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: LogConfig {
            partition: format!("{prefix}-log"),
            items_per_section: NZU64!(16_384),
            compression: None,
            codec_config: ((), ((0..=MAX_VALUE).into(), ())),
            page_cache,
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
        },
        grafted_metadata_partition: format!("{prefix}-grafted-metadata"),
        translator: EightCap,
        init_cache: Some(NZUsize!(1 << 16)),
        init_buffer: NZUsize!(1 << 20),
        init_concurrency: (),
    }
}

fn check_sizes(changes: &Changes) -> Result<(), Error> {
    for v in changes.values().flatten() {
        if v.len() > MAX_VALUE {
            return Err(Error::ValueTooLarge {
                size: v.len(),
                max: MAX_VALUE,
            });
        }
    }
    Ok(())
}

/// What `veil_status` reports of responsiveness monitoring.
pub struct LivenessSummary {
    /// The current era.
    pub era: u64,
    /// Blocks per era.
    pub era_blocks: u64,
    /// The last judged era and its record.
    pub last: Option<(u64, veil_primitives::liveness::EraRecord)>,
}

/// What `veil_status` reports of the registry.
pub struct RegistrySummary {
    /// Registered workers.
    pub workers: u64,
    /// Of which with dev attestation.
    pub insecure_workers: u64,
    /// Whether dev-attested workers may be gatekeepers.
    pub insecure_gatekeepers: bool,
}

/// Read view of the state after some block.
pub struct View<'a, E: commonware_storage::Context + Spawner> {
    db: &'a Qmdb<E>,
    batch: Option<Batch>,
}

impl<E: commonware_storage::Context + Spawner> StateRead for View<'_, E> {
    async fn get(&self, key: &Digest) -> Result<Option<Vec<u8>>, StateError> {
        let r = match &self.batch {
            Some(b) => b.get(key, self.db).await,
            None => self.db.get(key).await,
        };
        r.map_err(|e| StateError::Backend(e.to_string()))
    }
}

/// What executing a block on a view produced.
pub struct Executed {
    /// The chain's outcome.
    pub outcome: veil_chain::BlockOutcome,
    /// State root after the block.
    pub root: Digest,
    batch: Batch,
}

/// A state value with its proof against the finalized state root.
pub struct Proven {
    /// Height of the finalized block whose state root the proof is against.
    pub height: Height,
    /// The state root.
    pub root: Digest,
    /// The value, if the key is set.
    pub value: Option<Vec<u8>>,
    /// Encoded inclusion proof (value present) or exclusion proof (absent).
    pub proof: Vec<u8>,
}

impl<E: commonware_storage::Context + Spawner> StateStore<E> {
    /// Opens the database, or creates it from the genesis changes. Returns the store and, when
    /// genesis was written now, the genesis state root.
    pub async fn open(
        context: E,
        partition_prefix: &str,
        genesis: impl FnOnce() -> Changes,
    ) -> Result<(Self, Option<Digest>), Error> {
        let db = Qmdb::init(context, config(&format!("{partition_prefix}-state")), None).await?;
        let (db, committed, created) = match db.get_metadata().await? {
            Some(meta) => {
                let committed = Committed::decode(bytes::Bytes::from(meta))
                    .map_err(|e| Error::Db(format!("bad commit metadata: {e}")))?;
                (db, committed, None)
            }
            None => {
                let changes = genesis();
                check_sizes(&changes)?;
                let mut batch = db.new_batch();
                for (k, v) in changes {
                    batch = batch.write(k, v);
                }
                let committed = Committed {
                    height: 0,
                    parent: Digest::from([0u8; 32]),
                };
                let merkleized = batch
                    .merkleize(&db, Some(committed.encode().to_vec()), &mut Proportional)
                    .await?;
                let root = merkleized.root();
                let db = db.apply_batch(merkleized).await?.commit().await?;
                (db, committed, Some(root))
            }
        };
        Ok((
            Self {
                db: AsyncRwLock::new(Some(db)),
                committed: Mutex::new(committed),
                pending: Mutex::new(HashMap::new()),
            },
            created,
        ))
    }

    /// The block the finalized state belongs to.
    pub fn committed(&self) -> Committed {
        *self.committed.lock()
    }

    /// Whether the state after block `hash` is available (pending) without re-execution.
    pub fn is_pending(&self, hash: &Digest) -> bool {
        self.pending.lock().contains_key(hash)
    }

    /// The finalized state root.
    pub async fn root(&self) -> Result<Digest, Error> {
        let db = self.db.read().await;
        Ok(db.as_ref().ok_or_else(poisoned)?.root())
    }

    /// Executes `txs` on the state after `parent` (`None`: the finalized state) and merkleizes
    /// the result without applying it.
    pub async fn execute(
        &self,
        parent: Option<&Digest>,
        parent_hash: Digest,
        env: &veil_chain::BlockEnv,
        txs: &[veil_primitives::SignedTransaction],
    ) -> Result<Result<Executed, veil_chain::BlockError>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, parent)?;
        let (db, batch) = (view.db, view.batch.clone());
        let outcome = match veil_chain::execute_block(&view, env, txs).await {
            Ok(o) => o,
            Err(veil_chain::BlockError::State(e)) => return Err(Error::Db(e.to_string())),
            Err(e) => return Ok(Err(e)),
        };
        check_sizes(&outcome.changes)?;
        let mut child = match &batch {
            Some(b) => b.new_batch::<Sha256>(),
            None => db.new_batch(),
        };
        for (k, v) in &outcome.changes {
            child = child.write(*k, v.clone());
        }
        let meta = Committed {
            height: env.height,
            parent: parent_hash,
        };
        let merkleized = child
            .merkleize(db, Some(meta.encode().to_vec()), &mut Proportional)
            .await?;
        Ok(Ok(Executed {
            outcome,
            root: merkleized.root(),
            batch: merkleized,
        }))
    }

    /// An account as of `base` (`None`: finalized state).
    pub async fn account_at(
        &self,
        base: Option<&Digest>,
        id: &veil_primitives::AccountId,
    ) -> Result<veil_chain::balances::Account, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, base)?;
        veil_chain::balances::account(&veil_chain::Overlay::new(&view), id)
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// Rewards an account received from the eras' reward pools, in finalized state.
    pub async fn rewards(&self, id: &veil_primitives::AccountId) -> Result<u128, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::liveness::rewards(&veil_chain::Overlay::new(&view), id)
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// A registered worker in finalized state, with its next egress sequence.
    pub async fn worker(
        &self,
        id: &veil_primitives::AccountId,
    ) -> Result<Option<(veil_primitives::WorkerInfo, MinerPolicy, u64)>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        let o = veil_chain::Overlay::new(&view);
        let db = |e: veil_chain::StateError| Error::Db(e.to_string());
        let Some(info) = veil_chain::registry::worker(&o, id).await.map_err(db)? else {
            return Ok(None);
        };
        let policy = veil_chain::contracts::miner_policy(&o, id)
            .await
            .map_err(db)?;
        let origin = veil_primitives::Origin::Worker(id.clone());
        let next = veil_chain::mq::next_sequence(&o, &origin)
            .await
            .map_err(db)?;
        Ok(Some((info, policy, next)))
    }

    /// The current era, its length and the last judged era, in finalized state.
    pub async fn liveness(&self) -> Result<LivenessSummary, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        let o = veil_chain::Overlay::new(&view);
        let db = |e: veil_chain::StateError| Error::Db(e.to_string());
        let height = veil_chain::system::block_info(&o).await.map_err(db)?.height;
        let era_blocks = veil_chain::staking::params(&o)
            .await
            .map_err(db)?
            .election_period_blocks;
        let era = veil_chain::liveness::era(height, era_blocks);
        let last = match era.checked_sub(1) {
            Some(last) => veil_chain::liveness::era_record(&o, last)
                .await
                .map_err(db)?
                .map(|r| (last, r)),
            None => None,
        };
        Ok(LivenessSummary {
            era,
            era_blocks,
            last,
        })
    }

    /// A worker's activity in the current and the last era, in finalized state.
    pub async fn activity(
        &self,
        id: &veil_primitives::AccountId,
    ) -> Result<(u64, u64, u64), Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        let o = veil_chain::Overlay::new(&view);
        let db = |e: veil_chain::StateError| Error::Db(e.to_string());
        let height = veil_chain::system::block_info(&o).await.map_err(db)?.height;
        let era = veil_chain::liveness::era_at(&o, height).await.map_err(db)?;
        let current = veil_chain::liveness::activity(&o, era, id)
            .await
            .map_err(db)?;
        let last = match era.checked_sub(1) {
            Some(last) => veil_chain::liveness::activity(&o, last, id)
                .await
                .map_err(db)?,
            None => 0,
        };
        Ok((era, current, last))
    }

    /// An account's bond, the candidate it backs and whom it nominates, in finalized state.
    pub async fn staking(
        &self,
        who: &veil_primitives::AccountId,
    ) -> Result<
        (
            veil_chain::staking::Ledger,
            Option<veil_primitives::AccountId>,
            Vec<veil_primitives::AccountId>,
        ),
        Error,
    > {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::staking::roles(&veil_chain::Overlay::new(&view), who)
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// The stake `who` has behind each gatekeeper of the latest election (its backer's bond,
    /// or its share as a nominator), in finalized state.
    pub async fn exposure(
        &self,
        who: &veil_primitives::AccountId,
    ) -> Result<Vec<(veil_primitives::AccountId, veil_primitives::Balance)>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        let o = veil_chain::Overlay::new(&view);
        let db = |e: veil_chain::StateError| Error::Db(e.to_string());
        // The backers as of the election: one that chilled since still stands behind it.
        let backers = veil_chain::gatekeeper::rounds::round_backers(&o)
            .await
            .map_err(db)?;
        let mut out = Vec::new();
        for (g, backer) in &backers {
            let e = veil_chain::staking::exposure(&o, g).await.map_err(db)?;
            if backer == who {
                out.push((g.clone(), e.own));
            } else if let Some((_, stake)) = e.others.iter().find(|(n, _)| n == who) {
                out.push((g.clone(), *stake));
            }
        }
        Ok(out)
    }

    /// The latest gatekeeper election, in finalized state.
    pub async fn election(&self) -> Result<Option<veil_primitives::Election>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::gatekeeper::election(&veil_chain::Overlay::new(&view))
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// A valid module's bytes, in finalized state.
    pub async fn code(&self, hash: &Digest) -> Result<Option<Vec<u8>>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::contracts::code_bytes(&veil_chain::Overlay::new(&view), hash)
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// A contract's record, in finalized state.
    pub async fn contract(
        &self,
        id: &Digest,
    ) -> Result<Option<veil_primitives::contract::ContractInfo>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::contracts::contract(&veil_chain::Overlay::new(&view), id)
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// The contract parameters, in finalized state.
    pub async fn contract_params(
        &self,
    ) -> Result<veil_primitives::contract::ContractParams, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::contracts::params(&veil_chain::Overlay::new(&view))
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// A contract's latest complete checkpoint, reassembled, in finalized state.
    pub async fn checkpoint(
        &self,
        id: &Digest,
    ) -> Result<Option<(veil_primitives::contract::CheckpointInfo, Vec<u8>)>, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::contracts::checkpoint_bytes(&veil_chain::Overlay::new(&view), id)
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// Launch progress and the gatekeepers' stream, in finalized state.
    pub async fn launch_status(&self) -> Result<veil_chain::gatekeeper::LaunchStatus, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        veil_chain::gatekeeper::launch_status(&veil_chain::Overlay::new(&view))
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    /// Registry counts kept in state (no scan), in finalized state.
    pub async fn registry_summary(&self) -> Result<RegistrySummary, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        let o = veil_chain::Overlay::new(&view);
        let db = |e: veil_chain::StateError| Error::Db(e.to_string());
        Ok(RegistrySummary {
            workers: veil_chain::registry::count(&o).await.map_err(db)?,
            insecure_workers: veil_chain::registry::insecure_count(&o).await.map_err(db)?,
            insecure_gatekeepers: veil_chain::registry::insecure_gatekeepers_allowed(&o)
                .await
                .map_err(db)?,
        })
    }

    /// The number of registered workers and the first `max` of them with their miner
    /// policies, in finalized state.
    #[allow(clippy::type_complexity)]
    pub async fn workers(
        &self,
        max: u64,
    ) -> Result<
        (
            u64,
            Vec<(
                veil_primitives::AccountId,
                veil_primitives::WorkerInfo,
                MinerPolicy,
            )>,
        ),
        Error,
    > {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, None)?;
        let o = veil_chain::Overlay::new(&view);
        let db = |e: veil_chain::StateError| Error::Db(e.to_string());
        let count = veil_chain::registry::count(&o).await.map_err(db)?;
        let mut out = Vec::new();
        for i in 0..count.min(max) {
            if let Some(w) = veil_chain::registry::worker_at(&o, i).await.map_err(db)?
                && let Some(info) = veil_chain::registry::worker(&o, &w).await.map_err(db)?
            {
                let policy = veil_chain::contracts::miner_policy(&o, &w)
                    .await
                    .map_err(db)?;
                out.push((w, info, policy));
            }
        }
        Ok((count, out))
    }

    /// Chain parameters as of `base` (`None`: finalized state).
    pub async fn params_at(&self, base: Option<&Digest>) -> Result<veil_primitives::Params, Error> {
        let guard = self.db.read().await;
        let view = self.view_at(&guard, base)?;
        veil_chain::governance::params(&veil_chain::Overlay::new(&view))
            .await
            .map_err(|e| Error::Db(e.to_string()))
    }

    fn view_at<'a>(
        &self,
        guard: &'a Option<Qmdb<E>>,
        base: Option<&Digest>,
    ) -> Result<View<'a, E>, Error> {
        let db = guard.as_ref().ok_or_else(poisoned)?;
        let batch = match base {
            None => None,
            Some(p) => Some(
                self.pending
                    .lock()
                    .get(p)
                    .map(|p| p.batch.clone())
                    .ok_or(Error::UnknownParent(*p))?,
            ),
        };
        Ok(View { db, batch })
    }

    /// Records an executed block as pending under its hash.
    pub fn insert_pending(&self, hash: Digest, height: Height, executed: &Executed) {
        self.pending.lock().insert(
            hash,
            Pending {
                height,
                batch: executed.batch.clone(),
            },
        );
    }

    /// Makes a pending block's state the finalized state, durably.
    pub async fn finalize(
        &self,
        hash: &Digest,
        height: Height,
        parent: Digest,
    ) -> Result<(), Error> {
        let batch = self
            .pending
            .lock()
            .get(hash)
            .map(|p| p.batch.clone())
            .ok_or(Error::UnknownParent(*hash))?;
        let mut guard = self.db.write().await;
        let db = guard.take().ok_or_else(poisoned)?;
        // On error the handle is gone; the durable state is intact and a restart reopens it.
        let db = db.apply_batch(batch).await?;
        // A periodic full sync also persists the activity bitmap, bounding replay at restart.
        let db = if height.is_multiple_of(SYNC_INTERVAL) {
            db.sync().await?
        } else {
            db.commit().await?
        };
        *guard = Some(db);
        *self.committed.lock() = Committed { height, parent };
        self.pending.lock().retain(|_, p| p.height > height);
        Ok(())
    }

    /// Reads a finalized value.
    pub async fn get(&self, key: &Digest) -> Result<Option<Vec<u8>>, Error> {
        let guard = self.db.read().await;
        Ok(guard.as_ref().ok_or_else(poisoned)?.get(key).await?)
    }

    /// Runs a read-only closure over the finalized state.
    pub async fn view(&self) -> Result<FinalizedView<'_, E>, Error> {
        let guard = self.db.read().await;
        if guard.is_none() {
            return Err(poisoned());
        }
        Ok(FinalizedView { guard })
    }

    /// Reads a finalized value with its proof against the finalized state root.
    pub async fn prove(&self, key: &Digest) -> Result<Proven, Error> {
        let guard = self.db.read().await;
        let db = guard.as_ref().ok_or_else(poisoned)?;
        let height = self.committed().height;
        let root = db.root();
        let value = db.get(key).await?;
        let proof = match &value {
            Some(_) => db.key_value_proof(*key).await?.encode().to_vec(),
            None => db.exclusion_proof(key).await?.encode().to_vec(),
        };
        Ok(Proven {
            height,
            root,
            value,
            proof,
        })
    }
}

/// The finalized state, held for reading.
pub struct FinalizedView<'a, E: commonware_storage::Context + Spawner> {
    guard: commonware_utils::sync::AsyncRwLockReadGuard<'a, Option<Qmdb<E>>>,
}

impl<E: commonware_storage::Context + Spawner> StateRead for FinalizedView<'_, E> {
    async fn get(&self, key: &Digest) -> Result<Option<Vec<u8>>, StateError> {
        match self.guard.as_ref() {
            Some(db) => db
                .get(key)
                .await
                .map_err(|e| StateError::Backend(e.to_string())),
            None => Err(StateError::Backend("state database unavailable".into())),
        }
    }
}

fn poisoned() -> Error {
    Error::Db("state database unavailable after an earlier failure; restart the node".into())
}
