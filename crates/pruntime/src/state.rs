//! What pRuntime knows of the chain, and how it is kept in the sealed store.
//!
//! [State] is one value in memory, changed only by whole verified batches (or a completed key
//! request), and kept on disk as a few records of the [SealedKv] store. A batch rewrites only
//! the records it changed, all in one atomic commit, so a crash never separates the gatekeeper
//! role or the egress queue from the blocks that produced them.
//!
//! | record             | contents                                                   |
//! |--------------------|------------------------------------------------------------|
//! | `chain`            | chain id, genesis hash, group key (fixed at `InitRuntime`) |
//! | `sync/progress`    | next height, last hash, recent hashes, messages received   |
//! | `worker/outbox`    | registration as the chain told it, egress not yet on chain |
//! | `gatekeeper/view`  | latest verified election, launch height, latest checkpoint |
//! | `gatekeeper/role`  | the root key and replicated state, once held               |

use std::collections::VecDeque;

use bytes::BufMut;
use commonware_codec::{
    Buf, DecodeExt as _, Encode as _, EncodeSize, RangeCfg, Read, ReadExt, Write,
};
use veil_light::{GroupKey, Trust};
use veil_primitives::{
    AccountId, ChainIdentity, Digest, Election, Height, MAX_GATEKEEPER_STATE_BYTES,
    RECENT_BLOCK_HASHES,
};

use crate::{
    egress::Outbox,
    roles::gatekeeper::state::GatekeeperRole,
    sealed::kv::{Batch, SealedKv},
};

/// How many recent block hashes pRuntime remembers: as many as the chain keeps for attestation
/// freshness, so any block a registration may attest is one pRuntime can quote.
pub const RECENT_HASHES: usize = RECENT_BLOCK_HASHES as usize;

const CHAIN: &[u8] = b"chain";
const PROGRESS: &[u8] = b"sync/progress";
const OUTBOX: &[u8] = b"worker/outbox";
const GATEKEEPER_VIEW: &[u8] = b"gatekeeper/view";
const GATEKEEPER_ROLE: &[u8] = b"gatekeeper/role";
/// Written with the commit that ends the gatekeeper role, deleted once the store has been
/// compacted after it: a crash in between finishes the compaction at the next start, so no old
/// sealed copy of the root key outlives the role.
pub(crate) const ROLE_WIPED: &[u8] = b"gatekeeper/wiped";

/// What pRuntime knows of the chain it follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
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
    /// Timestamp of the last synced block (milliseconds): pRuntime's clock, for query
    /// session expiries.
    pub timestamp: u64,
    /// Messages addressed to this worker received so far.
    pub messages_received: u64,
    /// Hashes of the most recent synced blocks, newest last.
    pub recent: VecDeque<Digest>,
    /// The latest gatekeeper election seen.
    pub election: Option<Election>,
    /// Height of the launch block, once seen.
    pub launched: Option<Height>,
    /// The latest encrypted gatekeeper state checkpoint routed (kept by every worker, so one
    /// that becomes a gatekeeper can restore the state once it holds the root key).
    pub checkpoint: Option<Vec<u8>>,
    /// The gatekeeper role, once this worker holds the root key.
    pub gatekeeper: Option<GatekeeperRole>,
    /// Registration and egress.
    pub outbox: Outbox,
}

impl State {
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
            timestamp: 0,
            messages_received: 0,
            recent,
            election: None,
            launched: None,
            checkpoint: None,
            gatekeeper: None,
            outbox: Outbox::default(),
        }
    }

    /// The chain this state follows.
    pub fn chain(&self) -> ChainIdentity {
        ChainIdentity {
            chain_id: self.chain_id,
            genesis_hash: self.genesis_hash,
        }
    }

    /// The last synced height.
    pub fn synced_height(&self) -> Height {
        self.next_height - 1
    }

    /// The group key, decoded.
    pub fn group_key(&self) -> Result<GroupKey, veil_light::Error> {
        veil_light::decode_group_key(&self.group_key)
    }

    /// Whether the latest election elected `me`.
    pub fn elected(&self, me: &AccountId) -> bool {
        self.election.as_ref().is_some_and(|e| e.is_elected(me))
    }

    /// Whether this worker holds the root key the latest election names.
    pub fn holds_current_key(&self) -> bool {
        match (&self.gatekeeper, &self.election) {
            (Some(g), Some(e)) => g.key_check() == e.key_check,
            _ => false,
        }
    }

    /// Loads the state from the store (`None` before `InitRuntime`).
    pub fn load(store: &SealedKv) -> anyhow::Result<Option<Self>> {
        let Some(chain) = store.get(CHAIN) else {
            return Ok(None);
        };
        let chain = ChainRecord::decode(bytes::Bytes::copy_from_slice(chain))
            .map_err(|e| corrupt("chain", e))?;
        let progress = store
            .get(PROGRESS)
            .ok_or_else(|| anyhow::anyhow!("sealed state has a chain but no sync progress"))?;
        let progress = Progress::decode(bytes::Bytes::copy_from_slice(progress))
            .map_err(|e| corrupt("progress", e))?;
        let outbox = match store.get(OUTBOX) {
            Some(b) => Outbox::decode(bytes::Bytes::copy_from_slice(b))
                .map_err(|e| corrupt("outbox", e))?,
            None => Outbox::default(),
        };
        let view = match store.get(GATEKEEPER_VIEW) {
            Some(b) => GatekeeperView::decode(bytes::Bytes::copy_from_slice(b))
                .map_err(|e| corrupt("gatekeeper view", e))?,
            None => GatekeeperView::default(),
        };
        let gatekeeper = match store.get(GATEKEEPER_ROLE) {
            Some(b) => Some(
                GatekeeperRole::decode(crate::sealed::wiped_bytes(b))
                    .map_err(|e| corrupt("gatekeeper role", e))?,
            ),
            None => None,
        };
        Ok(Some(Self {
            chain_id: chain.chain_id,
            genesis_hash: chain.genesis_hash,
            group_key: chain.group_key,
            next_height: progress.next_height,
            last_hash: progress.last_hash,
            timestamp: progress.timestamp,
            messages_received: progress.messages_received,
            recent: progress.recent,
            election: view.election,
            launched: view.launched,
            checkpoint: view.checkpoint,
            gatekeeper,
            outbox,
        }))
    }

    /// Adds to `batch` the records that differ from `previous` (all of them if there is none).
    pub fn write(&self, previous: Option<&Self>, batch: &mut Batch) {
        let changed = |f: &dyn Fn(&Self) -> bool| previous.is_none_or(|p| !f(p));
        if changed(&|p| {
            p.chain_id == self.chain_id
                && p.genesis_hash == self.genesis_hash
                && p.group_key == self.group_key
        }) {
            let record = ChainRecord {
                chain_id: self.chain_id,
                genesis_hash: self.genesis_hash,
                group_key: self.group_key.clone(),
            };
            batch.put(CHAIN, record.encode().to_vec());
        }
        if changed(&|p| {
            p.next_height == self.next_height
                && p.last_hash == self.last_hash
                && p.timestamp == self.timestamp
                && p.messages_received == self.messages_received
                && p.recent == self.recent
        }) {
            let record = Progress {
                next_height: self.next_height,
                last_hash: self.last_hash,
                timestamp: self.timestamp,
                messages_received: self.messages_received,
                recent: self.recent.clone(),
            };
            batch.put(PROGRESS, record.encode().to_vec());
        }
        if changed(&|p| p.outbox == self.outbox) {
            batch.put(OUTBOX, self.outbox.encode().to_vec());
        }
        if changed(&|p| {
            p.election == self.election
                && p.launched == self.launched
                && p.checkpoint == self.checkpoint
        }) {
            let view = GatekeeperView {
                election: self.election.clone(),
                launched: self.launched,
                checkpoint: self.checkpoint.clone(),
            };
            batch.put(GATEKEEPER_VIEW, view.encode().to_vec());
        }
        if changed(&|p| p.gatekeeper == self.gatekeeper) {
            match &self.gatekeeper {
                // The role holds the root key: encoded straight into a buffer wiped after
                // sealing, with no intermediate copy.
                Some(role) => {
                    batch.put(GATEKEEPER_ROLE, crate::sealed::encode_wiped(role));
                }
                None => {
                    batch.delete(GATEKEEPER_ROLE);
                    if previous.is_some_and(|p| p.gatekeeper.is_some()) {
                        batch.put(ROLE_WIPED, vec![1]);
                    }
                }
            }
        }
    }
}

fn corrupt(what: &str, e: commonware_codec::Error) -> anyhow::Error {
    anyhow::anyhow!("sealed {what} record does not decode: {e}")
}

/// The `chain` record.
struct ChainRecord {
    chain_id: u64,
    genesis_hash: Digest,
    group_key: Vec<u8>,
}

impl Write for ChainRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.genesis_hash.write(buf);
        self.group_key.write(buf);
    }
}

impl EncodeSize for ChainRecord {
    fn encode_size(&self) -> usize {
        8 + 32 + self.group_key.encode_size()
    }
}

impl Read for ChainRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            chain_id: u64::read(buf)?,
            genesis_hash: Digest::read(buf)?,
            group_key: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=256), ()))?,
        })
    }
}

/// The `sync/progress` record.
struct Progress {
    next_height: Height,
    last_hash: Digest,
    timestamp: u64,
    messages_received: u64,
    recent: VecDeque<Digest>,
}

impl Write for Progress {
    fn write(&self, buf: &mut impl BufMut) {
        self.next_height.write(buf);
        self.last_hash.write(buf);
        self.timestamp.write(buf);
        self.messages_received.write(buf);
        self.recent.iter().cloned().collect::<Vec<_>>().write(buf);
    }
}

impl EncodeSize for Progress {
    fn encode_size(&self) -> usize {
        8 + 32
            + 8
            + 8
            + self
                .recent
                .iter()
                .cloned()
                .collect::<Vec<Digest>>()
                .encode_size()
    }
}

impl Read for Progress {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            next_height: u64::read(buf)?,
            last_hash: Digest::read(buf)?,
            timestamp: u64::read(buf)?,
            messages_received: u64::read(buf)?,
            recent: Vec::<Digest>::read_cfg(buf, &(RangeCfg::new(0..=RECENT_HASHES), ()))?.into(),
        })
    }
}

/// The `gatekeeper/view` record: what every worker knows of the gatekeepers.
#[derive(Default)]
struct GatekeeperView {
    election: Option<Election>,
    launched: Option<Height>,
    checkpoint: Option<Vec<u8>>,
}

impl Write for GatekeeperView {
    fn write(&self, buf: &mut impl BufMut) {
        self.election.write(buf);
        self.launched.write(buf);
        self.checkpoint.write(buf);
    }
}

impl EncodeSize for GatekeeperView {
    fn encode_size(&self) -> usize {
        self.election.encode_size() + self.launched.encode_size() + self.checkpoint.encode_size()
    }
}

impl Read for GatekeeperView {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            election: Option::<Election>::read(buf)?,
            launched: Option::<Height>::read(buf)?,
            checkpoint: Option::<Vec<u8>>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_GATEKEEPER_STATE_BYTES), ()),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use veil_primitives::{Destination, PrivateKey, WorkerMessage, hash};

    use zeroize::Zeroizing;

    use super::*;
    use crate::roles::gatekeeper::state::GatekeeperState;

    fn full_state() -> State {
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
        State {
            chain_id: 9,
            genesis_hash: hash(b"g"),
            group_key: vec![1; 96],
            next_height: 77,
            last_hash: hash(b"last"),
            timestamp: 1_700_000_000_000,
            messages_received: 5,
            election: Some(Election {
                round: 3,
                height: 70,
                gatekeepers: vec![veil_primitives::Elected {
                    worker: key.public_key(),
                    ecdh_key: [3; 32],
                }],
                deadline: 90,
                holders: vec![veil_primitives::KeyHolder {
                    worker: key.public_key(),
                    ecdh_key: [4; 32],
                    endpoint: "http://h".into(),
                    tee: Some(veil_primitives::TeeKind::SgxDcap),
                }],
                key_check: hash(b"check"),
            }),
            launched: Some(75),
            checkpoint: Some(vec![9; 100]),
            gatekeeper: Some(GatekeeperRole {
                era: 0,
                root_key: Zeroizing::new([5; 32]),
                state: GatekeeperState {
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
            outbox: Outbox {
                registration: Some((500, 40)),
                next_sequence: 3,
                pending,
            },
        }
    }

    fn store(dir: &std::path::Path) -> SealedKv {
        SealedKv::open(dir, &[7; 32], b"measurement", b"identity").unwrap()
    }

    #[test]
    fn sealed_state_round_trips_with_every_field_set_and_writes_only_what_changed() {
        let dir = std::env::temp_dir().join(format!("veil-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = full_state();
        let mut kv = store(&dir);
        assert_eq!(State::load(&kv).unwrap(), None);
        let mut batch = Batch::default();
        state.write(None, &mut batch);
        kv.commit(batch).unwrap();
        drop(kv);
        let kv = store(&dir);
        assert_eq!(State::load(&kv).unwrap(), Some(state.clone()));

        // Advancing the progress only rewrites the progress record.
        let mut next = state.clone();
        next.next_height += 1;
        let mut batch = Batch::default();
        next.write(Some(&state), &mut batch);
        assert_eq!(batch.len(), 1);
        // Losing the role deletes its record and, in the same commit, marks the store for the
        // compaction that removes the record's old sealed copies.
        let mut next = state.clone();
        next.gatekeeper = None;
        let mut batch = Batch::default();
        next.write(Some(&state), &mut batch);
        assert_eq!(batch.len(), 2);
        let mut kv = store(&dir);
        kv.commit(batch).unwrap();
        assert!(kv.contains(ROLE_WIPED) && !kv.contains(GATEKEEPER_ROLE));
        drop(kv);
        // A crash before the compaction: the next start finishes it and clears the mark.
        let mut kv = store(&dir);
        let generation = kv.generation();
        crate::runtime::finish_wipe(&mut kv);
        assert_eq!(kv.generation(), generation + 1);
        assert!(!kv.contains(ROLE_WIPED));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn root_key_copies_are_wiped_before_their_memory_is_freed() {
        // Sealing, reloading and using the gatekeeper role leaves no freed heap block with
        // the root key in it (a plain `encode()` or a copy into `Bytes` would).
        let dir = std::env::temp_dir().join(format!("veil-leak-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root: [u8; 32] = hash(b"a root key seen nowhere else").into();
        let mut state = full_state();
        state.gatekeeper.as_mut().unwrap().root_key = Zeroizing::new(root);
        let copies = crate::leak::freed_copies(&root, || {
            let mut kv = store(&dir);
            let mut batch = Batch::default();
            state.write(None, &mut batch);
            kv.commit(batch).unwrap();
            drop(kv);
            let kv = store(&dir);
            let loaded = State::load(&kv).unwrap().unwrap();
            let role = loaded.gatekeeper.as_ref().unwrap();
            assert_eq!(*role.root_key, root);
            let chain = loaded.chain();
            let sealed = crate::roles::gatekeeper::state::seal_checkpoint(
                &role.root_key,
                &chain,
                1,
                &hash(b"block"),
                &role.state,
            );
            crate::roles::gatekeeper::state::open_checkpoint(&role.root_key, &chain, &sealed)
                .unwrap();
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(copies, 0, "freed blocks held the root key");
    }

    #[test]
    fn the_root_key_is_taken_only_from_attested_holders() {
        use veil_primitives::TeeKind::{Dev, SgxDcap};

        use crate::roles::gatekeeper::{KeyRequestError, start_key_request};
        // An elected gatekeeper without the key, and one holder the election names.
        let me = PrivateKey::from_seed(2).public_key();
        let mut state = full_state();
        state.gatekeeper = None;
        state.election.as_mut().unwrap().gatekeepers[0].worker = me.clone();
        // (holder's verified TEE, this pRuntime in dev mode, may ask)
        for (tee, insecure, asks) in [
            (None, true, false),
            (None, false, false),
            (Some(Dev), true, true),
            (Some(Dev), false, false),
            (Some(SgxDcap), false, true),
            (Some(SgxDcap), true, true),
        ] {
            state.election.as_mut().unwrap().holders[0].tee = tee;
            match start_key_request(&state, &me, &[9; 32], insecure, 0) {
                Ok(_) => assert!(asks, "{tee:?} asked from insecure={insecure}"),
                Err(e) => {
                    assert!(!asks, "{tee:?} refused from insecure={insecure}: {e}");
                    assert!(matches!(e, KeyRequestError::NoAttestedHolder), "{e}");
                }
            }
        }
    }

    #[test]
    fn records_that_do_not_decode_are_refused() {
        for bytes in [vec![], vec![0u8; 7], vec![0xff; 300]] {
            assert!(ChainRecord::decode(bytes.clone()).is_err());
            assert!(Progress::decode(bytes.clone()).is_err());
            assert!(GatekeeperView::decode(bytes.clone()).is_err());
        }
    }
}
