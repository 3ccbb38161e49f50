//! Deterministic simulation of the network's launch.
//!
//! The real chain state machine executes every block, a synthetic validator set certifies it,
//! and real pRuntimes (in process, dev TEE) verify it. Simulated hosts do what `veil host`
//! does: register, stand as candidates, post egress and the gatekeepers' copies, and carry the
//! Noise messages of key requests between pRuntimes. Everything a host handles is recorded, so
//! the leak test can search it for the root key.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write as _,
    sync::{Arc, Mutex},
};

mod common;

use base64::Engine as _;
use common::{Dir, dir, files};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use futures::executor::block_on;
use veil_attestation::{Evidence, TeeKind, dev};
use veil_chain::{
    BlockEnv, ExecCheckError, GenesisState, MemoryState, Overlay, TxError, check_transaction,
    execute_block, gatekeeper as chain_gk, genesis_changes,
};
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{
    AccountId, Call, ChainIdentity, Destination, Election, GenesisWorker, KeyHolder, Measurement,
    Message, Origin, Params, Phase, PrivateKey, RegistryParams, SLASH_TOPIC, SignedTransaction,
    Slashed, StakingCall, StakingParams, Transaction, from_hex, root_key_check,
};
use veil_pruntime::{
    gatekeeper::{ChannelError, KeyRequest},
    runtime::{Runtime, RuntimeError},
    sync::{Batch, SyncError},
    tee::DevTee,
};

/// A worker: its pRuntime, data and operator.
struct Node {
    rt: Runtime,
    dir: Dir,
    operator: PrivateKey,
    endpoint: String,
    /// Its host stopped relaying (an offline gatekeeper).
    offline: bool,
}

impl Node {
    fn key(&self) -> AccountId {
        self.rt.identity().public_key()
    }
}

const BOND: u128 = 20_000;

fn staking() -> StakingParams {
    StakingParams {
        n_gatekeepers: 3,
        gatekeeper_min_bond: 10_000,
        nominator_min_bond: 1_000,
        election_period_blocks: 12,
        unbond_delay_blocks: 5,
        distribution_deadline_blocks: 8,
        slash_ppm: 100_000,
    }
}

struct Sim {
    name: &'static str,
    chain: SyntheticChain,
    identity: ChainIdentity,
    state: MemoryState,
    ra: PrivateKey,
    genesis: Node,
    workers: Vec<Node>,
    mempool: Vec<SignedTransaction>,
    nonces: BTreeMap<AccountId, u64>,
    /// Worker egress and gatekeeper copies each host posted, with the height it posted them.
    posted: BTreeMap<(usize, Origin, u64), u64>,
    /// Every byte a host saw or sent: transactions, blocks' messages, Noise messages, answers.
    traffic: Vec<u8>,
    /// Every chain message.
    messages: Vec<Message>,
}

fn open(name: &str) -> (Runtime, Dir) {
    let d = dir(&format!("bootstrap-{name}"));
    let tee = DevTee::new(&d.0.join("dev-key")).unwrap();
    let (rt, _) = Runtime::open(Box::new(tee), &d.0.join("data")).unwrap();
    (rt, d)
}

impl Sim {
    /// A chain whose genesis names a bootstrapped genesis node, and `n` workers, each
    /// registered; the first `candidates` stand as gatekeeper candidates.
    fn new(name: &'static str, n: usize, candidates: usize) -> Self {
        let chain = SyntheticChain::new(7);
        let identity = ChainIdentity {
            chain_id: chain.chain_id,
            genesis_hash: chain.headers[0].hash(),
        };
        let (mut genesis_rt, genesis_dir) = open(&format!("{name}-genesis"));
        let b = genesis_rt.bootstrap().unwrap();
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
            timestamp: 0,
            balances,
            governance: gov.public_key(),
            params: Params::default(),
            consensus_key: chain.group_key.clone(),
            registry: RegistryParams {
                allowlist: vec![Measurement::Dev(measurement)],
                registration_blocks: 10_000,
                heartbeat_blocks: 1_000,
                ..Default::default()
            },
            staking: staking(),
            genesis_worker: Some(GenesisWorker {
                holder: KeyHolder {
                    worker: pk_g,
                    ecdh_key: ecdh_g,
                    endpoint: "sim://genesis".into(),
                },
                key_check,
            }),
            dev_attestation_key: Some(ra.public_key()),
            dcap_root: None,
        };
        let mut state = MemoryState::default();
        state.apply(&block_on(genesis_changes(&genesis_state)).unwrap());
        let mut sim = Self {
            name,
            identity,
            state,
            ra,
            genesis: Node {
                rt: genesis_rt,
                dir: genesis_dir,
                operator: gov,
                endpoint: "sim://genesis".into(),
                offline: false,
            },
            workers: Vec::new(),
            mempool: Vec::new(),
            nonces: BTreeMap::new(),
            posted: BTreeMap::new(),
            traffic: Vec::new(),
            messages: Vec::new(),
            chain,
        };
        sim.init(None);
        for (i, op) in operators.into_iter().enumerate() {
            sim.add_worker(op, i < candidates);
        }
        sim
    }

    fn init(&mut self, worker: Option<usize>) {
        let tip = self.chain.headers.len() as u64 - 1;
        let catch_up = (tip > 0).then(|| self.batch(1, tip));
        let rt = match worker {
            Some(i) => &mut self.workers[i].rt,
            None => &mut self.genesis.rt,
        };
        rt.init(
            self.chain.chain_id,
            &self.chain.headers[0],
            &self.chain.group_key,
            &self.chain.group_key_proof,
        )
        .unwrap();
        // Catch up with everything so far.
        if let Some(b) = catch_up {
            rt.sync(&b).unwrap();
        }
    }

    fn batch(&self, from: u64, to: u64) -> Batch {
        Batch {
            headers: self.chain.headers[from as usize..=to as usize].to_vec(),
            certificate: self.chain.certificate(to),
            messages: self.chain.messages[from as usize..=to as usize].to_vec(),
        }
    }

    /// Starts a worker, registers it and, if `candidate`, bonds and stands it.
    fn add_worker(&mut self, operator: PrivateKey, candidate: bool) -> usize {
        let i = self.workers.len();
        let (rt, d) = open(&format!("{}-w{i}-{}", self.name, self.chain.headers.len()));
        self.workers.push(Node {
            rt,
            dir: d,
            endpoint: format!("sim://worker-{i}-{}", self.chain.headers.len()),
            operator,
            offline: false,
        });
        self.init(Some(i));
        let w = &self.workers[i];
        let mut reg =
            w.rt.registration(w.operator.public_key(), w.endpoint.clone())
                .unwrap();
        let evidence = Evidence::decode(reg.evidence.clone()).unwrap();
        let quote = veil_attestation::DevQuote::decode(evidence.quote).unwrap();
        reg.evidence = Evidence {
            kind: TeeKind::Dev,
            quote: dev::sign(&self.ra, quote).encode().to_vec(),
        }
        .encode()
        .to_vec();
        let op = w.operator.clone();
        let worker = w.key();
        self.submit(&op, Call::Register(Box::new(reg))).unwrap();
        self.block();
        if candidate {
            self.submit(&op, Call::Staking(StakingCall::Bond { amount: BOND }))
                .unwrap();
            self.submit(&op, Call::Staking(StakingCall::Candidate { worker }))
                .unwrap();
            self.block();
        }
        i
    }

    fn read<T>(&self, f: impl AsyncFnOnce(&Overlay<'_, MemoryState>) -> T) -> T {
        block_on(f(&Overlay::new(&self.state)))
    }

    fn height(&self) -> u64 {
        self.chain.headers.len() as u64 - 1
    }

    fn env(&self) -> BlockEnv {
        let height = self.height() + 1;
        BlockEnv {
            chain: self.identity,
            height,
            timestamp: height * 1000,
            parent: self.chain.headers[height as usize - 1].hash(),
        }
    }

    /// Signs `call` and puts it in the mempool if the mempool check accepts it.
    fn submit(&mut self, from: &PrivateKey, call: Call) -> Result<(), TxError> {
        let who = from.public_key();
        let nonce = match self.nonces.get(&who) {
            Some(n) => *n,
            None => {
                self.read(async |o| veil_chain::balances::account(o, &who).await)
                    .unwrap()
                    .nonce
            }
        };
        let tx = Transaction {
            sender: who.clone(),
            nonce,
            expiry: self.height() + 50,
            call,
        }
        .sign(from, &self.identity);
        match block_on(check_transaction(&self.state, &tx, &self.env())) {
            Ok(_) => {}
            Err(ExecCheckError::Tx(e)) => return Err(e),
            Err(ExecCheckError::State(e)) => panic!("{e}"),
        }
        self.traffic.extend_from_slice(&tx.encode());
        self.nonces.insert(who, nonce + 1);
        self.mempool.push(tx);
        Ok(())
    }

    /// Executes the mempool as the next block, certifies it and feeds it to every online
    /// pRuntime; returns its messages.
    fn block(&mut self) -> Vec<Message> {
        let env = self.env();
        let txs = std::mem::take(&mut self.mempool);
        let out = block_on(execute_block(&self.state, &env, &txs)).unwrap();
        for r in &out.receipts {
            assert!(r.result.is_ok(), "{:?}", r.result);
        }
        self.state.apply(&out.changes);
        self.chain.extend(out.messages.clone());
        for m in &out.messages {
            self.traffic.extend_from_slice(&m.encode());
        }
        self.messages.extend(out.messages.clone());
        let h = self.height();
        let batch = self.batch(h, h);
        if self.genesis.rt.info().genesis.as_deref() != Some("retired") {
            self.genesis.rt.sync(&batch).unwrap();
        }
        for w in &mut self.workers {
            if !w.offline {
                w.rt.sync(&batch).unwrap();
            }
        }
        out.messages
    }

    /// One round of every online host: fetch the root key if elected, then post egress.
    fn hosts(&mut self) {
        for i in 0..self.workers.len() {
            if self.workers[i].offline {
                continue;
            }
            let info = self.workers[i].rt.info();
            if info.gatekeeper && !info.holds_root_key {
                let _ = self.fetch_key(i);
            }
            self.post(i);
        }
    }

    /// Carries a key request from worker `i` to the holder its pRuntime picked and back.
    fn fetch_key(&mut self, i: usize) -> Result<(), RuntimeError> {
        let (holder, request, _) = self.workers[i].rt.start_key_request()?;
        self.traffic.extend_from_slice(&request);
        let Some(holder) = self.holder(&holder.worker) else {
            return Err(RuntimeError::Invalid("holder unreachable".into()));
        };
        let answer = holder.answer_key_request(&request)?;
        self.traffic.extend_from_slice(&answer);
        let (era, check) = self.workers[i].rt.finish_key_request(&answer)?;
        self.traffic.extend_from_slice(&era.to_be_bytes());
        self.traffic.extend_from_slice(check.as_ref());
        Ok(())
    }

    /// The holder's pRuntime, if its host is online.
    fn holder(&self, worker: &AccountId) -> Option<&Runtime> {
        let genesis = self.genesis.rt.info().genesis_key;
        if genesis.as_deref() == Some(veil_primitives::to_hex(worker).as_str()) {
            return Some(&self.genesis.rt);
        }
        self.workers
            .iter()
            .find(|w| &w.key() == worker && !w.offline)
            .map(|w| &w.rt)
    }

    /// Posts worker `i`'s egress and gatekeeper copies that the chain has not routed and
    /// that were not posted in the last few blocks.
    fn post(&mut self, i: usize) {
        let w = &self.workers[i];
        let me = Origin::Worker(w.key());
        let op = w.operator.clone();
        let egress = w.rt.side_effects();
        let copies = w.rt.gatekeeper_side_effects();
        let next = self
            .read(async |o| veil_chain::mq::next_sequence(o, &me).await)
            .unwrap();
        let recent =
            |posted: &BTreeMap<(usize, Origin, u64), u64>, key: &(usize, Origin, u64), h: u64| {
                posted.get(key).is_some_and(|&at| at + 10 > h)
            };
        let h = self.height();
        for m in egress {
            let key = (i, me.clone(), m.message.sequence);
            if m.message.sequence < next || recent(&self.posted, &key, h) {
                continue;
            }
            self.submit(&op, Call::WorkerMessage(Box::new(m))).unwrap();
            self.posted.insert(key, h);
        }
        let next = self
            .read(async |o| veil_chain::mq::next_sequence(o, &Origin::Gatekeepers).await)
            .unwrap();
        for m in copies {
            let key = (i, Origin::Gatekeepers, m.message.sequence);
            if m.message.sequence < next || recent(&self.posted, &key, h) {
                continue;
            }
            match self.submit(&op, Call::GatekeeperMessage(Box::new(m))) {
                Ok(()) | Err(TxError::DuplicateGatekeeperMessage(_)) => {}
                Err(e) => panic!("gatekeeper copy refused: {e}"),
            }
            self.posted.insert(key, h);
        }
    }

    fn phase(&self) -> Phase {
        self.read(chain_gk::phase).unwrap()
    }

    fn election(&self) -> Election {
        self.read(veil_chain::staking::election).unwrap().unwrap()
    }

    /// Runs host rounds and blocks until `done`, for at most `max` blocks.
    fn run_until(&mut self, max: u64, mut done: impl FnMut(&Sim) -> bool) {
        for _ in 0..max {
            if done(self) {
                return;
            }
            self.hosts();
            self.block();
        }
        assert!(done(self), "not reached within {max} blocks");
    }

    fn index_of(&self, key: &AccountId) -> usize {
        self.workers.iter().position(|w| &w.key() == key).unwrap()
    }
}

fn launched(s: &Sim) -> bool {
    matches!(s.phase(), Phase::Launched { .. })
}

/// Captures this thread's logs.
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = Buffer(logs.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// Every form the root key could leak in: raw, hex (both cases, with and without `0x`) and
/// base64 (standard and URL-safe, padded or not).
fn forms(key: &[u8; 32]) -> Vec<Vec<u8>> {
    let b64 = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut out = vec![
        key.to_vec(),
        hex::encode(key).into(),
        hex::encode_upper(key).into(),
    ];
    out.extend(b64.iter().map(|e| e.encode(key).into_bytes()));
    out
}

fn assert_absent(what: &str, haystack: &[u8], key: &[u8; 32]) {
    for form in forms(key) {
        assert!(
            !haystack.windows(form.len()).any(|w| w == form.as_slice()),
            "the root key leaks in {what}"
        );
    }
}

#[test]
fn the_network_launches_and_the_root_key_leaks_nowhere() {
    let (logs, _guard) = capture_logs();
    let mut sim = Sim::new("launch", 5, 3);
    let root_key = *sim.genesis.rt.genesis().unwrap().root_key();
    assert_eq!(sim.phase(), Phase::Prelaunch);
    assert_eq!(sim.genesis.rt.info().genesis.as_deref(), Some("active"));

    sim.run_until(60, launched);
    let e = sim.election();
    assert_eq!(e.gatekeepers.len(), 3);
    let gatekeepers: Vec<usize> = e.gatekeepers.iter().map(|g| sim.index_of(g)).collect();
    assert!(
        gatekeepers.iter().all(|&i| i < 3),
        "the candidates are elected"
    );
    for &i in &gatekeepers {
        let info = sim.workers[i].rt.info();
        assert!(info.holds_root_key && info.launched && info.gatekeeper);
        assert_eq!(info.era, Some(0));
    }
    // Miners were not elected and hold nothing.
    for i in 3..5 {
        let info = sim.workers[i].rt.info();
        assert!(!info.gatekeeper && !info.holds_root_key && info.launched);
    }

    // The genesis node saw the launch, wiped its role and answers nothing but its status.
    let info = sim.genesis.rt.info();
    assert_eq!(info.genesis.as_deref(), Some("retired"));
    assert!(sim.genesis.rt.genesis().is_none());
    assert!(matches!(
        sim.genesis.rt.sync(&sim.batch(1, 1)),
        Err(RuntimeError::Retired)
    ));
    assert!(matches!(
        sim.genesis.rt.answer_key_request(&[0u8; 96]),
        Err(RuntimeError::Retired)
    ));
    // It stays retired after a restart.
    let genesis_dir = sim.genesis.dir.0.clone();
    let tee = DevTee::new(&genesis_dir.join("dev-key")).unwrap();
    let (reopened, _) = Runtime::open(Box::new(tee), &genesis_dir.join("data")).unwrap();
    assert_eq!(reopened.info().genesis.as_deref(), Some("retired"));
    assert!(reopened.genesis().is_none());
    drop(reopened);

    // The gatekeepers' first act after launch: byte-identical checkpoints, the first routed,
    // the rest dropped. No divergence.
    sim.run_until(10, |s| {
        s.workers
            .iter()
            .all(|w| w.rt.info().gatekeeper_pending == 0)
            && s.read(chain_gk::state_checkpoint).unwrap().is_some()
    });
    assert_eq!(sim.read(chain_gk::divergences).unwrap(), 0);
    let routed: Vec<u64> = sim
        .messages
        .iter()
        .filter(|m| m.origin == Origin::Gatekeepers)
        .map(|m| m.sequence)
        .collect();
    assert!(!routed.is_empty());
    assert_eq!(
        routed,
        (0..routed.len() as u64).collect::<Vec<_>>(),
        "one copy routed per sequence, however many gatekeepers signed it"
    );

    // Leak test: the root key in no form anywhere a host, the chain or a log can see.
    let mut state = Vec::new();
    for (k, v) in &sim.state.0 {
        state.extend_from_slice(k.as_ref());
        state.extend_from_slice(v);
    }
    assert_absent("chain state", &state, &root_key);
    assert_absent("host traffic", &sim.traffic, &root_key);
    let mut answers = Vec::new();
    for w in sim.workers.iter().chain([&sim.genesis]) {
        let info = w.rt.info();
        answers.extend(serde_json::to_vec(&info).unwrap());
        answers.extend(format!("{info:?}").into_bytes());
        answers.extend(format!("{:?}", w.rt.state()).into_bytes());
        for f in files(&w.dir.0) {
            assert_absent(
                &format!("{}", f.display()),
                &std::fs::read(&f).unwrap(),
                &root_key,
            );
        }
    }
    assert_absent("pRuntime answers and debug output", &answers, &root_key);
    let logs = logs.lock().unwrap().clone();
    assert!(!logs.is_empty(), "logs were captured");
    assert_absent("logs", &logs, &root_key);
    std::io::stderr().flush().unwrap();
}

#[test]
fn an_offline_gatekeeper_is_slashed_and_the_network_launches_without_it() {
    let mut sim = Sim::new("offline", 3, 3);
    // Wait for the first election, then take one gatekeeper's host offline.
    sim.run_until(30, |s| {
        s.read(veil_chain::staking::election).unwrap().is_some()
    });
    let first = sim.election();
    assert_eq!(first.gatekeepers.len(), 3);
    let silent = sim.index_of(&first.gatekeepers[2]);
    sim.workers[silent].offline = true;
    let silent_key = sim.workers[silent].key();
    let backer = sim.workers[silent].operator.public_key();

    sim.run_until(40, launched);
    let slashed: Vec<Slashed> = sim
        .messages
        .iter()
        .filter(|m| m.destination == Destination::Topic(SLASH_TOPIC.to_vec()))
        .map(|m| Slashed::decode(m.payload.clone()).unwrap())
        .collect();
    assert_eq!(
        slashed,
        vec![Slashed {
            round: first.round,
            worker: silent_key.clone(),
            backer: backer.clone(),
            amount: BOND / 10,
        }]
    );
    let ledger = sim
        .read(async |o| veil_chain::staking::ledger(o, &backer).await)
        .unwrap();
    assert_eq!(ledger.bonded, BOND - BOND / 10);
    // The round that launched is the re-election, without the silent gatekeeper.
    let e = sim.election();
    assert_eq!(e.round, first.round + 1);
    assert_eq!(e.gatekeepers.len(), 2);
    assert!(!e.gatekeepers.contains(&silent_key));
    assert!(e.deadline > first.deadline);
}

#[test]
fn only_elected_gatekeepers_get_the_key_and_forged_elections_are_refused() {
    let mut sim = Sim::new("refusals", 4, 3);
    sim.run_until(30, |s| {
        s.read(veil_chain::staking::election).unwrap().is_some()
    });
    let miner = 3;
    assert!(!sim.workers[miner].rt.info().gatekeeper);
    // A registered worker that was not elected: its pRuntime will not even ask...
    assert!(matches!(
        sim.workers[miner].rt.start_key_request(),
        Err(RuntimeError::KeyExchange(ChannelError::NotElected(_)))
    ));
    // ...and a request made with a key the election does not name (a byzantine host with
    // its own key, or the miner's registered key) is refused by the genesis node.
    let e = sim.election();
    let outsider = x25519_dalek::StaticSecret::from([77u8; 32]);
    let (_, request) = KeyRequest::start(
        outsider.as_bytes(),
        e.holders[0].clone(),
        &sim.identity,
        e.round,
    )
    .unwrap();
    assert!(matches!(
        sim.genesis.rt.answer_key_request(&request),
        Err(RuntimeError::KeyExchange(ChannelError::NotElected(_)))
    ));

    // A byzantine host feeds the miner a forged election naming it. Whether the forged
    // announcement rides along a genuine block or in a block with a recomputed messages root,
    // pRuntime refuses the batch and stays as it was.
    let me = sim.workers[miner].key();
    let mut forged = e.clone();
    forged.round += 1;
    forged.gatekeepers = vec![me.clone()];
    forged.ecdh_keys = vec![
        from_hex(&sim.workers[miner].rt.info().ecdh_public_key)
            .unwrap()
            .try_into()
            .unwrap(),
    ];
    let announcement = Message {
        origin: Origin::Chain,
        destination: Destination::Topic(veil_primitives::ELECTION_TOPIC.to_vec()),
        sequence: 999,
        payload: forged.encode().to_vec(),
    };
    sim.block();
    let h = sim.height();
    sim.workers[miner].offline = true;
    sim.block();
    let mut b = sim.batch(h + 1, h + 1);
    b.messages[0].push(announcement.clone());
    let before = sim.workers[miner].rt.state().cloned();
    assert!(matches!(
        sim.workers[miner].rt.sync(&b),
        Err(RuntimeError::Sync(SyncError::Messages(_)))
    ));
    let mut forged_chain = SyntheticChain::new(8);
    forged_chain.extend(vec![announcement]);
    let mut b = sim.batch(h + 1, h + 1);
    b.headers[0].messages_root = forged_chain.headers[1].messages_root;
    b.messages[0] = forged_chain.messages[1].clone();
    assert!(matches!(
        sim.workers[miner].rt.sync(&b),
        Err(RuntimeError::Sync(SyncError::Light(_)))
    ));
    assert_eq!(sim.workers[miner].rt.state().cloned(), before);
    assert!(!sim.workers[miner].rt.info().gatekeeper);
    let genuine = sim.batch(h + 1, h + 1);
    sim.workers[miner].rt.sync(&genuine).unwrap();
    sim.workers[miner].offline = false;

    // After the launch, the retired genesis node refuses even an elected gatekeeper.
    sim.run_until(60, launched);
    let e = sim.election();
    let genesis_holder = sim.read(chain_gk::genesis_worker).unwrap().unwrap().holder;
    let (_, request) =
        KeyRequest::start(outsider.as_bytes(), genesis_holder, &sim.identity, e.round).unwrap();
    assert!(matches!(
        sim.genesis.rt.answer_key_request(&request),
        Err(RuntimeError::Retired)
    ));
}

#[test]
fn a_gatekeeper_that_lost_its_data_rejoins_through_another_and_restores_state_from_chain() {
    let mut sim = Sim::new("recovery", 3, 3);
    sim.run_until(60, launched);
    sim.run_until(10, |s| {
        s.read(chain_gk::state_checkpoint).unwrap().is_some()
    });
    let first = sim.election();

    // A gatekeeper loses its data (its sealed files are gone, and with them its identity).
    // Its operator starts a fresh pRuntime, registers it and stands it with more stake; the
    // lost one stops, and its backer chills so the election moves on.
    let lost = sim.index_of(&first.gatekeepers[0]);
    sim.workers[lost].offline = true;
    let old_op = sim.workers[lost].operator.clone();
    sim.submit(&old_op, Call::Staking(StakingCall::Chill))
        .unwrap();
    sim.block();
    let op = PrivateKey::from_seed(2000);
    let gov = PrivateKey::from_seed(901);
    sim.submit(
        &gov,
        Call::Transfer {
            to: op.public_key(),
            amount: 1_000_000,
        },
    )
    .unwrap();
    sim.block();
    let fresh = sim.add_worker(op.clone(), false);
    let worker = sim.workers[fresh].key();
    sim.submit(&op, Call::Staking(StakingCall::Bond { amount: BOND }))
        .unwrap();
    sim.submit(
        &op,
        Call::Staking(StakingCall::Candidate {
            worker: worker.clone(),
        }),
    )
    .unwrap();
    sim.block();

    // At the next election it is elected, asks a gatekeeper (the genesis node is retired),
    // restores the state from the latest checkpoint on chain, and confirms.
    sim.run_until(40, |s| {
        s.election().gatekeepers.contains(&worker) && s.workers[fresh].rt.info().holds_root_key
    });
    let e = sim.election();
    assert!(e.round > first.round);
    assert!(
        e.holders
            .iter()
            .all(|h| first.gatekeepers.contains(&h.worker))
    );
    sim.run_until(20, |s| {
        s.read(chain_gk::confirmed).unwrap().len() == s.election().gatekeepers.len()
    });

    // From now on it emits byte-identical copies with the others: at the next election every
    // gatekeeper, old or new, signs the same checkpoint.
    sim.run_until(20, |s| {
        s.workers
            .iter()
            .all(|w| w.offline || w.rt.info().gatekeeper_pending == 0)
    });
    let before = sim
        .read(async |o| veil_chain::mq::next_sequence(o, &Origin::Gatekeepers).await)
        .unwrap();
    sim.run_until(30, |s| {
        let e = s.election();
        e.gatekeepers.iter().all(|g| {
            let i = s.index_of(g);
            s.workers[i]
                .rt
                .gatekeeper_side_effects()
                .iter()
                .any(|m| m.message.sequence >= before)
        })
    });
    let e = sim.election();
    let copies: BTreeSet<Vec<u8>> = e
        .gatekeepers
        .iter()
        .map(|g| {
            let i = sim.index_of(g);
            let c = sim.workers[i].rt.gatekeeper_side_effects();
            let m = c.iter().find(|m| m.message.sequence >= before).unwrap();
            m.message.payload.clone()
        })
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "every gatekeeper signed the same checkpoint"
    );
    assert!(e.gatekeepers.contains(&worker));
    sim.run_until(10, |s| {
        s.read(async |o| veil_chain::mq::next_sequence(o, &Origin::Gatekeepers).await)
            .unwrap()
            > before
    });
    assert_eq!(sim.read(chain_gk::divergences).unwrap(), 0);
    // The checkpoint opens under the root key the new gatekeeper received.
    let fresh_state = sim.workers[fresh]
        .rt
        .state()
        .unwrap()
        .gatekeeper
        .clone()
        .unwrap();
    assert_eq!(
        fresh_state.key_check(),
        root_key_check(0, &fresh_state.root_key)
    );
    assert_eq!(fresh_state.key_check(), e.key_check);
}
