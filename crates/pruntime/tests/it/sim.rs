//! Deterministic simulation of a network's launch, with the real parts wired in process.
//!
//! The real chain state machine executes every block, with the node's real mempool choosing
//! what goes in; a synthetic validator set certifies it; real pRuntimes (dev TEE) serve their
//! real API servers ([Api]) in process; and each worker's host is the real host code
//! ([relay] and [Duties]) talking to the chain and its pRuntime through the host's ports,
//! implemented here in process instead of over JSON-RPC. Everything that crosses a port is
//! recorded, so the leak test can search it for the root key.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use futures::executor::block_on;
use serde::Serialize;
use veil_attestation::{DevQuote, Evidence, TeeKind, dev};
use veil_chain::{
    BlockEnv, ExecError, GenesisState, MemoryState, Overlay, TxError, check_transaction,
    execute_block, gatekeeper as chain_gk, genesis_changes,
};
use veil_host::{
    Duties, OperatorConfig,
    ports::{ChainClient, Peers, PortError, WorkerClient},
    relay,
};
use veil_node::{
    mempool::{Admission, Mempool},
    synthetic::SyntheticChain,
};
use veil_primitives::{
    AccountId, Call, ChainIdentity, Election, GenesisNodeStatus, GenesisWorker, KeyHolder,
    MAX_TX_BYTES_CAP, Measurement, Message, Params, Phase, PrivateKey, RegistryParams,
    SignedTransaction, StakingParams, Transaction, TxLimits, from_hex, to_hex,
};
use veil_pruntime::{
    api::Api, roles::genesis::ChainBinding, runtime::Runtime, sync::Batch, tee::DevTee,
};
use veil_pruntime_api::{
    IdentityView, InitRequest, KeyAnswerView, KeyReceivedView, KeyRequestView, PrivateApiServer,
    PublicApiServer, RecoverRequest, RecoveredView, RegistrationView, SideEffectsView, SyncRequest,
    SyncResponse, SyncStateView,
};
use veil_rpc_api::{
    AccountView, CheckpointRecordView, CheckpointView, ContractView, ElectionView,
    GatekeeperStreamView, GenesisView, PhaseView, StakingView, StatusView, SyncBatchView,
    TransactionView, TxStatus, WorkerView, codes::TX_REJECTED,
};

use crate::common::{Dir, dir};

/// What each candidate's operator bonds.
pub(crate) const BOND: u128 = 20_000;
/// Where the simulated dev RA service "listens".
const RA_SERVICE: &str = "sim://ra-service";

pub(crate) fn staking() -> StakingParams {
    StakingParams {
        n_gatekeepers: 3,
        gatekeeper_min_bond: 10_000,
        nominator_min_bond: 1_000,
        election_period_blocks: 12,
        unbond_delay_blocks: 50,
        distribution_deadline_blocks: 8,
        slash_ppm: 100_000,
        ..Default::default()
    }
}

/// Every byte a host saw or sent.
#[derive(Clone, Default)]
pub(crate) struct Traffic(Arc<Mutex<Vec<u8>>>);

impl Traffic {
    fn record(&self, value: &impl Serialize) {
        let bytes = serde_json::to_vec(value).expect("views serialize");
        self.0.lock().unwrap().extend(bytes);
    }

    fn result<T: Serialize>(&self, r: Result<T, PortError>) -> Result<T, PortError> {
        match &r {
            Ok(v) => self.record(v),
            Err(e) => self.record(&e.to_string()),
        }
        r
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

/// The chain: state, the node's mempool, receipts, and the synthetic certificates.
pub(crate) struct ChainSim {
    pub(crate) identity: ChainIdentity,
    pub(crate) blocks: SyntheticChain,
    pub(crate) state: MemoryState,
    mempool: Mutex<Mempool>,
    /// Receipts by transaction hash: height, index, fee, error.
    receipts: BTreeMap<veil_primitives::Digest, (u64, u32, u128, Option<String>)>,
    /// Every chain message.
    pub(crate) messages: Vec<Message>,
    traffic: Traffic,
}

impl ChainSim {
    pub(crate) fn height(&self) -> u64 {
        self.blocks.headers.len() as u64 - 1
    }

    pub(crate) fn read<T>(&self, f: impl AsyncFnOnce(&Overlay<'_, MemoryState>) -> T) -> T {
        block_on(f(&Overlay::new(&self.state)))
    }

    fn env(&self) -> BlockEnv {
        let height = self.height() + 1;
        BlockEnv {
            chain: self.identity,
            height,
            timestamp: height * 1000,
            parent: self.blocks.headers[height as usize - 1].hash(),
        }
    }

    fn pool(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap()
    }

    /// Admits a transaction as a node does: signature, the chain's mempool check, the pool.
    pub(crate) fn admit(&self, tx: SignedTransaction) -> Result<String, TxError> {
        if !tx.verify(&self.identity) {
            return Err(TxError::BadSignature);
        }
        let env = self.env();
        let admission = match block_on(check_transaction(&self.state, &tx, &env)) {
            Ok(a) => Admission {
                account_nonce: a.account.nonce,
                balance: a.account.free,
                fee: a.fee,
                spend: a.spend,
                height: env.height,
            },
            Err(ExecError::Tx(e)) => return Err(e),
            Err(ExecError::State(e)) => panic!("{e}"),
        };
        self.traffic.record(&to_hex(tx.encode()));
        let hash = tx.hash();
        self.pool()
            .insert(hash, tx, admission)
            .map_err(|e| TxError::Malformed(e.to_string()))?;
        Ok(to_hex(hash))
    }

    /// Executes what the mempool offers as the next block and certifies it; returns its
    /// messages. Every included call must succeed: the hosts and tests submit nothing that
    /// fails.
    fn block(&mut self) -> Vec<Message> {
        let env = self.env();
        let txs = {
            let o = Overlay::new(&self.state);
            self.pool().select(usize::MAX, env.height, |who| {
                Some(
                    block_on(veil_chain::balances::account(&o, who))
                        .unwrap()
                        .nonce,
                )
            })
        };
        let out = block_on(execute_block(&self.state, &env, &txs)).unwrap();
        for (i, (tx, r)) in txs.iter().zip(&out.receipts).enumerate() {
            assert!(r.result.is_ok(), "{:?}", r.result);
            self.receipts.insert(
                tx.hash(),
                (
                    env.height,
                    i as u32,
                    r.fee,
                    r.result.clone().err().map(|e| e.to_string()),
                ),
            );
        }
        self.state.apply(&out.changes);
        self.blocks.extend(out.messages.clone());
        for m in &out.messages {
            self.traffic.record(&to_hex(m.encode()));
        }
        self.messages.extend(out.messages.clone());
        let o = Overlay::new(&self.state);
        self.pool().prune(env.height, |who| {
            block_on(veil_chain::balances::account(&o, who))
                .unwrap()
                .nonce
        });
        out.messages
    }

    fn refused(e: impl std::fmt::Display) -> PortError {
        PortError::Refused {
            code: TX_REJECTED,
            message: e.to_string(),
        }
    }
}

impl ChainClient for ChainSim {
    async fn genesis(&self) -> Result<GenesisView, PortError> {
        self.traffic.result(Ok(GenesisView {
            chain_id: self.identity.chain_id,
            genesis_hash: to_hex(self.identity.genesis_hash),
            header_encoded: to_hex(self.blocks.headers[0].encode()),
            group_key: to_hex(&self.blocks.group_key),
            chain_proof: to_hex(&self.blocks.chain_proof),
        }))
    }

    async fn status(&self) -> Result<StatusView, PortError> {
        let launch = self.read(chain_gk::launch_status).unwrap();
        let election = self.read(chain_gk::election).unwrap();
        let (phase, era) = match launch.phase {
            Phase::Prelaunch => (PhaseView::Prelaunch, None),
            Phase::Launched { era, .. } => (PhaseView::Launched, Some(era)),
        };
        let height = self.height();
        self.traffic.result(Ok(StatusView {
            chain_id: self.identity.chain_id,
            genesis_hash: to_hex(self.identity.genesis_hash),
            group_key: to_hex(&self.blocks.group_key),
            height,
            finalized: height,
            hash: to_hex(self.blocks.headers[height as usize].hash()),
            validators: 4,
            peers: 3,
            mempool: self.pool().len(),
            workers: self.read(veil_chain::registry::count).unwrap(),
            insecure_workers: self.read(veil_chain::registry::insecure_count).unwrap(),
            insecure_gatekeepers: self
                .read(veil_chain::registry::insecure_gatekeepers_allowed)
                .unwrap(),
            election_round: election.as_ref().map_or(0, |e| e.round),
            gatekeepers: election.as_ref().map_or(0, |e| e.gatekeepers.len()),
            phase,
            era,
            genesis: match (launch.genesis_worker.is_some(), era) {
                (false, _) => GenesisNodeStatus::None,
                (true, None) => GenesisNodeStatus::Active,
                (true, Some(_)) => GenesisNodeStatus::Retired,
            },
            confirmed_gatekeepers: launch.confirmed.len(),
            divergences: launch.divergences,
            liveness: Default::default(),
        }))
    }

    async fn sync_batch(&self, from: u64, max: u64) -> Result<Option<SyncBatchView>, PortError> {
        let tip = self.height();
        if from == 0 || from > tip {
            return Ok(None);
        }
        let to = tip.min(from + max.max(1) - 1);
        let range = from as usize..=to as usize;
        self.traffic.result(Ok(Some(SyncBatchView {
            headers: self.blocks.headers[range.clone()]
                .iter()
                .map(|h| to_hex(h.encode()))
                .collect(),
            messages: self.blocks.messages[range]
                .iter()
                .map(|ms| ms.iter().map(|m| to_hex(m.encode())).collect())
                .collect(),
            certificate: to_hex(self.blocks.certificate(to)),
        })))
    }

    async fn worker(&self, worker: String) -> Result<Option<WorkerView>, PortError> {
        let id: AccountId = veil_primitives::decode_hex(&worker).map_err(Self::refused)?;
        let view = self.read(async |o| {
            let info = veil_chain::registry::worker(o, &id).await.unwrap()?;
            let next =
                veil_chain::mq::next_sequence(o, &veil_primitives::Origin::Worker(id.clone()))
                    .await
                    .unwrap();
            let policy = veil_chain::contracts::miner_policy(o, &id).await.unwrap();
            Some(WorkerView::new(&id, &info, &policy, Some(next)))
        });
        self.traffic.result(Ok(view))
    }

    async fn account(&self, account: String) -> Result<AccountView, PortError> {
        let id: AccountId = veil_primitives::decode_hex(&account).map_err(Self::refused)?;
        let a = self
            .read(async |o| veil_chain::balances::account(o, &id).await)
            .unwrap();
        self.traffic.result(Ok(AccountView {
            account,
            balance: a.free.to_string(),
            nonce: a.nonce,
            height: self.height(),
            rewards: "0".into(),
        }))
    }

    async fn staking(&self, account: String) -> Result<StakingView, PortError> {
        let id: AccountId = veil_primitives::decode_hex(&account).map_err(Self::refused)?;
        let (ledger, backs, nominations) = self
            .read(async |o| veil_chain::staking::roles(o, &id).await)
            .unwrap();
        self.traffic.result(Ok(StakingView {
            account,
            bonded: ledger.bonded.to_string(),
            unlocking: ledger
                .unlocking
                .iter()
                .map(|(a, h)| (a.to_string(), *h))
                .collect(),
            backs: backs.map(to_hex),
            nominations: nominations.iter().map(to_hex).collect(),
            // The host reads only the bond and the role.
            exposure: Vec::new(),
        }))
    }

    async fn transaction(&self, hash: String) -> Result<TransactionView, PortError> {
        let digest: veil_primitives::Digest =
            veil_primitives::decode_hex(&hash).map_err(Self::refused)?;
        let view = match self.receipts.get(&digest) {
            Some((height, index, fee, error)) => TransactionView {
                hash,
                status: TxStatus::Finalized,
                height: Some(*height),
                index: Some(*index),
                fee: Some(fee.to_string()),
                success: Some(error.is_none()),
                error: error.clone(),
            },
            None => TransactionView {
                hash,
                status: if self.pool().contains(&digest) {
                    TxStatus::Pending
                } else {
                    TxStatus::Unknown
                },
                height: None,
                index: None,
                fee: None,
                success: None,
                error: None,
            },
        };
        self.traffic.result(Ok(view))
    }

    async fn election(&self) -> Result<Option<ElectionView>, PortError> {
        let e = self.read(chain_gk::election).unwrap();
        let l = self.read(chain_gk::launch_status).unwrap();
        self.traffic.result(Ok(
            e.map(|e| ElectionView::new(&e, l.closed_round, &l.confirmed))
        ))
    }

    async fn gatekeeper_stream(&self) -> Result<GatekeeperStreamView, PortError> {
        let l = self.read(chain_gk::launch_status).unwrap();
        self.traffic.result(Ok(GatekeeperStreamView {
            next_sequence: l.next_gatekeeper_sequence,
            state_checkpoint: l.state_checkpoint.map(to_hex),
            divergences: l.divergences,
        }))
    }

    async fn code(&self, hash: String) -> Result<Option<String>, PortError> {
        let hash = veil_primitives::decode_hex(&hash).map_err(Self::refused)?;
        let code = self
            .read(async |o| veil_chain::contracts::code_bytes(o, &hash).await)
            .unwrap();
        self.traffic.result(Ok(code.map(to_hex)))
    }

    async fn submit(&self, tx: String) -> Result<String, PortError> {
        let bytes = from_hex(&tx).map_err(Self::refused)?;
        let tx = SignedTransaction::decode_cfg(
            bytes,
            &TxLimits {
                max_payload: MAX_TX_BYTES_CAP as usize,
            },
        )
        .map_err(Self::refused)?;
        self.traffic.result(self.admit(tx).map_err(Self::refused))
    }

    async fn contract(&self, contract: String) -> Result<Option<ContractView>, PortError> {
        let id = veil_primitives::decode_hex(&contract).map_err(Self::refused)?;
        let view = self.read(async |o| {
            let interval = veil_chain::contracts::params(o)
                .await
                .unwrap()
                .checkpoint_interval;
            veil_chain::contracts::contract(o, &id)
                .await
                .unwrap()
                .map(|c| ContractView::new(&id, &c, interval))
        });
        self.traffic.result(Ok(view))
    }

    async fn checkpoint(&self, contract: String) -> Result<Option<CheckpointView>, PortError> {
        let id = veil_primitives::decode_hex(&contract).map_err(Self::refused)?;
        let found = self
            .read(async |o| veil_chain::contracts::checkpoint_bytes(o, &id).await)
            .unwrap();
        self.traffic
            .result(Ok(found.map(|(info, sealed)| CheckpointView {
                contract,
                record: CheckpointRecordView::new(&info),
                encoded: to_hex(info.encode()),
                sealed: to_hex(sealed),
            })))
    }

    async fn contract_log(
        &self,
        contract: String,
        from: u64,
        max: u64,
    ) -> Result<Vec<String>, PortError> {
        // What the node's index serves, found by scanning the blocks: whole blocks, about `max`.
        let id = veil_primitives::decode_hex(&contract).map_err(Self::refused)?;
        let mut out = Vec::new();
        for height in from.max(1)..=self.height() {
            if out.len() as u64 >= max {
                break;
            }
            let parent = self.blocks.headers[height as usize].parent;
            for m in &self.blocks.messages[height as usize] {
                if veil_primitives::contract::in_log(&id, m) {
                    let entry = veil_primitives::contract::LogEntry {
                        height,
                        parent,
                        message: m.clone(),
                    };
                    out.push(to_hex(entry.encode()));
                }
            }
        }
        self.traffic.result(Ok(out))
    }
}

fn refusal(e: jsonrpsee::types::ErrorObjectOwned) -> PortError {
    PortError::Refused {
        code: e.code(),
        message: e.message().to_string(),
    }
}

/// A byzantine host's change to what it hands pRuntime for a contract's recovery.
pub(crate) type Tamper = Box<dyn FnMut(&mut RecoverRequest) + Send>;

/// A pRuntime's private API, called in process: the server's own code without HTTP.
pub(crate) struct InProcess {
    api: Api,
    traffic: Traffic,
    /// Applied to every recovery the host hands pRuntime.
    tamper: Arc<Mutex<Option<Tamper>>>,
    /// pRuntime's refusals of recoveries.
    refused: Arc<Mutex<Vec<String>>>,
    /// `StageRecoveryEntries` calls made.
    staged_parts: Arc<std::sync::atomic::AtomicU64>,
}

impl WorkerClient for InProcess {
    async fn identity(&self) -> Result<IdentityView, PortError> {
        let r = PrivateApiServer::get_identity(&self.api)
            .await
            .map_err(refusal);
        self.traffic.result(r)
    }
    async fn sync_state(&self) -> Result<Option<SyncStateView>, PortError> {
        let r = self.api.get_sync_state().await.map_err(refusal);
        self.traffic.result(r)
    }
    async fn init(&self, request: InitRequest) -> Result<(), PortError> {
        self.traffic.record(&request);
        let r = self.api.init_runtime(request).await.map_err(refusal);
        self.traffic.result(r)
    }
    async fn sync(&self, request: SyncRequest) -> Result<SyncResponse, PortError> {
        self.traffic.record(&request);
        let r = self.api.sync_blockchain(request).await.map_err(refusal);
        self.traffic.result(r)
    }
    async fn registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> Result<RegistrationView, PortError> {
        let r = self
            .api
            .get_registration(operator, endpoint)
            .await
            .map_err(refusal);
        self.traffic.result(r)
    }
    async fn side_effects(&self) -> Result<SideEffectsView, PortError> {
        let r = self.api.dump_side_effect().await.map_err(refusal);
        self.traffic.result(r)
    }
    async fn start_key_request(&self) -> Result<KeyRequestView, PortError> {
        let r = PrivateApiServer::start_key_request(&self.api)
            .await
            .map_err(refusal);
        self.traffic.result(r)
    }
    async fn finish_key_request(&self, answer: String) -> Result<KeyReceivedView, PortError> {
        self.traffic.record(&answer);
        let r = PrivateApiServer::finish_key_request(&self.api, answer)
            .await
            .map_err(refusal);
        self.traffic.result(r)
    }
    async fn checkpoint(
        &self,
        contract: String,
    ) -> Result<veil_pruntime_api::CheckpointView, PortError> {
        let r = PrivateApiServer::get_checkpoint(&self.api, contract)
            .await
            .map_err(refusal);
        self.traffic.result(r)
    }
    async fn stage_recovery(
        &self,
        request: veil_pruntime_api::StageRecoveryRequest,
    ) -> Result<veil_pruntime_api::StagedView, PortError> {
        self.traffic.record(&request);
        self.staged_parts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = self
            .api
            .stage_recovery_entries(request)
            .await
            .map_err(refusal);
        self.traffic.result(r)
    }
    async fn recover(&self, mut request: RecoverRequest) -> Result<RecoveredView, PortError> {
        if let Some(tamper) = self.tamper.lock().unwrap().as_mut() {
            tamper(&mut request);
        }
        self.traffic.record(&request);
        let r = self.api.recover_contract(request).await.map_err(refusal);
        if let Err(e) = &r {
            self.refused.lock().unwrap().push(e.to_string());
        }
        self.traffic.result(r)
    }
}

/// The other parties hosts reach: online pRuntimes' public APIs by endpoint, and the dev RA
/// service.
struct SimPeers {
    public: Vec<(String, Api)>,
    ra: PrivateKey,
    traffic: Traffic,
}

impl Peers for SimPeers {
    async fn request_root_key(
        &self,
        endpoint: &str,
        message: String,
    ) -> Result<KeyAnswerView, PortError> {
        self.traffic.record(&message);
        let Some((_, api)) = self.public.iter().find(|(e, _)| e == endpoint) else {
            return Err(PortError::Unavailable(format!("{endpoint} unreachable")));
        };
        let r = api.request_root_key(message).await.map_err(refusal);
        self.traffic.result(r)
    }

    async fn sign_dev_quote(&self, url: &str, evidence: String) -> Result<String, PortError> {
        assert_eq!(url, RA_SERVICE);
        let evidence = Evidence::decode(from_hex(&evidence).unwrap()).unwrap();
        assert_eq!(evidence.kind, TeeKind::Dev);
        let quote = DevQuote::decode(evidence.quote).unwrap();
        self.traffic
            .result(Ok(to_hex(dev::sign(&self.ra, quote).encode())))
    }

    async fn collateral(&self, url: &str, _: &[u8]) -> Result<Vec<u8>, PortError> {
        Err(PortError::Unavailable(format!("no PCCS at {url}")))
    }
}

/// A worker (or the genesis node): its pRuntime and the host that feeds it.
pub(crate) struct Node {
    pub(crate) rt: Arc<Runtime>,
    pub(crate) dir: Dir,
    pub(crate) operator: PrivateKey,
    pub(crate) endpoint: String,
    /// Its host stopped (an offline gatekeeper).
    pub(crate) offline: bool,
    port: InProcess,
    /// The operator's duties (`None` for the genesis node, whose host only relays).
    duties: Option<Duties>,
}

impl Node {
    pub(crate) fn key(&self) -> AccountId {
        self.rt.identity().public_key()
    }

    /// Makes this worker's host tamper with what it hands pRuntime to recover a contract
    /// (`None`: an honest host again).
    pub(crate) fn tamper_recovery(&self, tamper: Option<Tamper>) {
        *self.port.tamper.lock().unwrap() = tamper;
    }

    /// The recoveries pRuntime refused so far (and forgets them).
    pub(crate) fn refused_recoveries(&self) -> Vec<String> {
        std::mem::take(&mut *self.port.refused.lock().unwrap())
    }

    /// How many parts of recovery logs its host staged so far.
    pub(crate) fn staged_parts(&self) -> u64 {
        self.port
            .staged_parts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes its host send recovery logs in parts of at most `bytes` (hex) per call.
    pub(crate) fn recovery_parts_of(&mut self, bytes: usize) {
        self.duties = self
            .duties
            .take()
            .map(|d| d.with_recovery_part_bytes(bytes));
    }
}

pub(crate) struct Sim {
    pub(crate) name: &'static str,
    pub(crate) chain: ChainSim,
    pub(crate) identity: ChainIdentity,
    pub(crate) ra: PrivateKey,
    pub(crate) genesis: Node,
    pub(crate) workers: Vec<Node>,
    nonces: BTreeMap<AccountId, u64>,
    traffic: Traffic,
    tokio: tokio::runtime::Runtime,
}

fn open(name: &str, traffic: &Traffic) -> (Arc<Runtime>, InProcess, Dir) {
    let d = dir(&format!("bootstrap-{name}"));
    let tee = DevTee::new(&d.0.join("dev-key")).unwrap();
    let (rt, _) = Runtime::open(Box::new(tee), &d.0.join("data")).unwrap();
    let api = Api::new(rt).unwrap();
    let rt = api.runtime().clone();
    let port = InProcess {
        api,
        traffic: traffic.clone(),
        tamper: Default::default(),
        refused: Default::default(),
        staged_parts: Default::default(),
    };
    (rt, port, d)
}

impl Sim {
    /// A chain whose genesis names a bootstrapped genesis node, and `n` workers whose hosts
    /// register them; the first `candidates` stand as gatekeeper candidates.
    pub(crate) fn new(name: &'static str, n: usize, candidates: usize) -> Self {
        Self::with_heartbeats(name, n, candidates, 1_000)
    }

    /// [Sim::new] with workers signing a heartbeat every `heartbeat_blocks`.
    pub(crate) fn with_heartbeats(
        name: &'static str,
        n: usize,
        candidates: usize,
        heartbeat_blocks: u64,
    ) -> Self {
        let blocks = SyntheticChain::new(7);
        let identity = ChainIdentity {
            chain_id: blocks.chain_id,
            genesis_hash: blocks.headers[0].hash(),
        };
        let traffic = Traffic::default();
        // pRuntime's changes run on tokio's blocking threads: they log to this thread's
        // subscriber too (tests capture it).
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_start(move || {
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .unwrap();
        let _entered = tokio.enter();
        let (genesis_rt, genesis_port, genesis_dir) = open(&format!("{name}-genesis"), &traffic);
        let b = genesis_rt.bootstrap(binding(&blocks)).unwrap();
        assert!(b.created);
        let ((pk_g, ecdh_g), key_check) = (b.public, b.key_check);
        let measurement = from_hex(&genesis_rt.info().measurement).unwrap();
        let ra = PrivateKey::from_seed(900);
        let gov = PrivateKey::from_seed(901);
        let operators: Vec<PrivateKey> = (0..n as u64)
            .map(|i| PrivateKey::from_seed(1000 + i))
            .collect();
        let mut balances = vec![(gov.public_key(), 1_000_000_000)];
        balances.extend(operators.iter().map(|o| (o.public_key(), 1_000_000_000)));
        let genesis_state = GenesisState {
            chain_id: blocks.chain_id,
            timestamp: 0,
            balances,
            governance: gov.public_key(),
            params: Params::default(),
            consensus_key: blocks.group_key.clone(),
            registry: RegistryParams {
                allowlist: vec![Measurement::Dev(measurement)],
                registration_blocks: 10_000,
                heartbeat_blocks,
                ..Default::default()
            },
            staking: staking(),
            contracts: Default::default(),
            genesis_worker: Some(GenesisWorker {
                holder: KeyHolder {
                    worker: pk_g,
                    ecdh_key: ecdh_g,
                    endpoint: "sim://genesis".into(),
                    // Genesis verification records the TEE its evidence proves.
                    tee: None,
                },
                key_check,
            }),
            dev_attestation_key: Some(ra.public_key()),
            allow_insecure_gatekeepers: true,
            // The genesis node's own evidence, signed as the dev RA service would.
            genesis_attestation: Some(veil_chain::GenesisAttestation {
                evidence: Evidence {
                    kind: TeeKind::Dev,
                    quote: dev::sign(&ra, DevQuote::decode(b.evidence.quote.clone()).unwrap())
                        .encode()
                        .to_vec(),
                }
                .encode()
                .to_vec(),
                collateral: Vec::new(),
            }),
            dcap_root: None,
        };
        let mut state = MemoryState::default();
        state.apply(&block_on(genesis_changes(&genesis_state)).unwrap());
        drop(_entered);
        let mut sim = Self {
            name,
            identity,
            chain: ChainSim {
                identity,
                blocks,
                state,
                mempool: Mutex::new(Mempool::new(100_000)),
                receipts: BTreeMap::new(),
                messages: Vec::new(),
                traffic: traffic.clone(),
            },
            ra,
            genesis: Node {
                rt: genesis_rt,
                dir: genesis_dir,
                operator: gov,
                endpoint: "sim://genesis".into(),
                offline: false,
                port: genesis_port,
                duties: None,
            },
            workers: Vec::new(),
            nonces: BTreeMap::new(),
            traffic,
            tokio,
        };
        sim.relay(None);
        for (i, op) in operators.into_iter().enumerate() {
            sim.add_worker(op, i < candidates);
        }
        sim
    }

    /// Restarts worker `i`'s pRuntime from its data directory, after `damage` did what it does
    /// to the files (a crash, a corruption); its host carries on.
    pub(crate) fn reopen(&mut self, i: usize, damage: impl FnOnce(&std::path::Path)) {
        let traffic = self.traffic.clone();
        let _entered = self.tokio.enter();
        let node = &mut self.workers[i];
        let data = node.dir.0.join("data");
        damage(&data);
        let tee = DevTee::new(&node.dir.0.join("dev-key")).unwrap();
        let (rt, _) = Runtime::open(Box::new(tee), &data).unwrap();
        let api = Api::new(rt).unwrap();
        node.rt = api.runtime().clone();
        node.port = InProcess {
            api,
            traffic,
            tamper: Default::default(),
            refused: Default::default(),
            staged_parts: Default::default(),
        };
    }

    /// Every byte the hosts saw or sent, and every chain message and transaction.
    pub(crate) fn traffic(&self) -> Vec<u8> {
        self.traffic.bytes()
    }

    /// The host's relay duty for worker `i` (the genesis node for `None`): initialize, then
    /// catch up. A retired genesis node is left idle, as its host does.
    pub(crate) fn relay(&mut self, worker: Option<usize>) {
        let node = match worker {
            Some(i) => &self.workers[i],
            None => &self.genesis,
        };
        if node.offline || node.rt.info().genesis == Some(GenesisNodeStatus::Retired) {
            return;
        }
        let chain = &self.chain;
        self.tokio.block_on(async {
            relay::init(chain, &node.port).await.unwrap();
            relay::catch_up(chain, &node.port, 100).await.unwrap();
        });
    }

    pub(crate) fn batch(&self, from: u64, to: u64) -> Batch {
        let blocks = &self.chain.blocks;
        Batch {
            headers: blocks.headers[from as usize..=to as usize].to_vec(),
            certificate: blocks.certificate(to),
            messages: blocks.messages[from as usize..=to as usize].to_vec(),
            code: Vec::new(),
        }
    }

    /// Starts a worker whose host acts for `operator`, and runs blocks until the host has
    /// registered it and, if `candidate`, stood it as a gatekeeper candidate.
    pub(crate) fn add_worker(&mut self, operator: PrivateKey, candidate: bool) -> usize {
        let i = self.workers.len();
        let tag = format!("{}-w{i}-{}", self.name, self.height());
        let (rt, port, d) = {
            let _entered = self.tokio.enter();
            open(&tag, &self.traffic)
        };
        let endpoint = format!("sim://worker-{tag}");
        let duties = Duties::new(
            OperatorConfig {
                key: operator.clone(),
                endpoint: endpoint.clone(),
                ra_service: Some(RA_SERVICE.into()),
                collateral: None,
                gatekeeper_bond: candidate.then_some(BOND),
            },
            self.identity,
            rt.identity().public_key(),
        );
        let worker = rt.identity().public_key();
        self.workers.push(Node {
            rt,
            dir: d,
            endpoint,
            operator,
            offline: false,
            port,
            duties: Some(duties),
        });
        self.relay(Some(i));
        self.run_until(20, |s| {
            let registered = s
                .read(async |o| veil_chain::registry::worker(o, &worker).await)
                .unwrap()
                .is_some();
            let standing = s
                .read(async |o| veil_chain::staking::CANDIDATES.contains(o, &worker).await)
                .unwrap();
            registered && (standing || !candidate)
        });
        i
    }

    pub(crate) fn read<T>(&self, f: impl AsyncFnOnce(&Overlay<'_, MemoryState>) -> T) -> T {
        self.chain.read(f)
    }

    pub(crate) fn height(&self) -> u64 {
        self.chain.height()
    }

    /// The nonce and expiry [Sim::submit] gives `who`'s next transaction.
    pub(crate) fn next_tx(&self, who: &AccountId) -> (u64, u64) {
        let nonce = match self.nonces.get(who) {
            Some(n) => *n,
            None => {
                self.read(async |o| veil_chain::balances::account(o, who).await)
                    .unwrap()
                    .nonce
            }
        };
        (nonce, self.height() + 50)
    }

    /// Signs `call` and puts it in the mempool if the node would admit it.
    pub(crate) fn submit(&mut self, from: &PrivateKey, call: Call) -> Result<(), TxError> {
        self.submit_signed(from, call).map(|_| ())
    }

    /// [Sim::submit], returning the signed transaction.
    pub(crate) fn submit_signed(
        &mut self,
        from: &PrivateKey,
        call: Call,
    ) -> Result<SignedTransaction, TxError> {
        let who = from.public_key();
        let (nonce, expiry) = self.next_tx(&who);
        let tx = Transaction {
            sender: who.clone(),
            nonce,
            expiry,
            call,
        }
        .sign(from, &self.identity);
        self.chain.admit(tx.clone())?;
        self.nonces.insert(who, nonce + 1);
        Ok(tx)
    }

    /// Executes the next block and relays it to every online pRuntime; returns its messages.
    pub(crate) fn block(&mut self) -> Vec<Message> {
        let messages = self.chain.block();
        self.relay(None);
        for i in 0..self.workers.len() {
            self.relay(Some(i));
        }
        messages
    }

    /// One round of every online host's operator duties (the real [Duties]).
    pub(crate) fn hosts(&mut self) {
        let peers = SimPeers {
            public: [&self.genesis]
                .into_iter()
                .chain(&self.workers)
                .filter(|n| !n.offline)
                .map(|n| (n.endpoint.clone(), n.port.api.clone()))
                .collect(),
            ra: self.ra.clone(),
            traffic: self.traffic.clone(),
        };
        for i in 0..self.workers.len() {
            if self.workers[i].offline {
                continue;
            }
            let Some(mut duties) = self.workers[i].duties.take() else {
                continue;
            };
            let result =
                self.tokio
                    .block_on(duties.round(&self.chain, &self.workers[i].port, &peers));
            self.workers[i].duties = Some(duties);
            result.unwrap();
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.read(chain_gk::phase).unwrap()
    }

    pub(crate) fn election(&self) -> Election {
        self.read(chain_gk::election).unwrap().unwrap()
    }

    /// Runs host rounds and blocks until `done`, for at most `max` blocks.
    pub(crate) fn run_until(&mut self, max: u64, mut done: impl FnMut(&Sim) -> bool) {
        for _ in 0..max {
            if done(self) {
                return;
            }
            self.hosts();
            self.block();
        }
        assert!(done(self), "not reached within {max} blocks");
    }

    pub(crate) fn index_of(&self, key: &AccountId) -> usize {
        self.workers.iter().position(|w| &w.key() == key).unwrap()
    }

    /// Runs `f` inside the simulation's runtime (pRuntime's API needs one).
    pub(crate) fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        let _entered = self.tokio.enter();
        f()
    }
}

/// The chain a genesis node for `chain` is bound to.
pub(crate) fn binding(chain: &SyntheticChain) -> ChainBinding {
    ChainBinding {
        chain_id: chain.chain_id,
        group_key: chain.group_key.clone(),
    }
}

pub(crate) fn launched(s: &Sim) -> bool {
    matches!(s.phase(), Phase::Launched { .. })
}
