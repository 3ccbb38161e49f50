//! The network's launch in deterministic simulation ([crate::sim]): the real chain, pRuntimes
//! and host duties, with synthetic finality.

use std::{
    collections::BTreeSet,
    io::Write as _,
    sync::{Arc, Mutex},
};

use base64::Engine as _;
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use veil_chain::gatekeeper as chain_gk;
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{
    Call, Destination, Message, Origin, Phase, PrivateKey, SLASH_TOPIC, Slashed, StakingCall,
    from_hex, root_key_check,
};
use veil_pruntime::{
    roles::gatekeeper::channel::{ChannelError, KeyRequest},
    runtime::{Runtime, RuntimeError},
    sync::SyncError,
    tee::DevTee,
};

use crate::{
    common::files,
    sim::{BOND, Sim, launched},
};

/// Captures this thread's logs.
pub(crate) fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
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
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// Every form the root key could leak in: raw, hex (both cases, with and without `0x`) and
/// base64 (standard and URL-safe, padded or not).
fn forms(key: &[u8]) -> Vec<Vec<u8>> {
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

pub(crate) fn assert_absent(what: &str, haystack: &[u8], key: &[u8]) {
    for form in forms(key) {
        assert!(
            !haystack.windows(form.len()).any(|w| w == form.as_slice()),
            "a secret (root key, contract key or canary) leaks in {what}"
        );
    }
}

#[test]
fn the_network_launches_and_the_root_key_leaks_nowhere() {
    let (logs, _guard) = capture_logs();
    let mut sim = Sim::new("launch", 5, 3);
    let root_key = *sim.genesis.rt.genesis().unwrap().root_key();
    assert_eq!(sim.phase(), Phase::Prelaunch);
    assert_eq!(
        sim.genesis.rt.info().genesis,
        Some(veil_primitives::GenesisNodeStatus::Active)
    );

    sim.run_until(60, launched);
    let e = sim.election();
    assert_eq!(e.gatekeepers.len(), 3);
    let gatekeepers: Vec<usize> = e.workers().map(|g| sim.index_of(g)).collect();
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
    assert_eq!(
        info.genesis,
        Some(veil_primitives::GenesisNodeStatus::Retired)
    );
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
    let (reopened, _) = sim
        .enter(|| Runtime::open(Box::new(tee), &genesis_dir.join("data")))
        .unwrap();
    assert_eq!(
        reopened.info().genesis,
        Some(veil_primitives::GenesisNodeStatus::Retired)
    );
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
        .chain
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
    for (k, v) in &sim.chain.state.0 {
        state.extend_from_slice(k.as_ref());
        state.extend_from_slice(v);
    }
    assert_absent("chain state", &state, &root_key);
    assert_absent("host traffic", &sim.traffic(), &root_key);
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
        s.read(veil_chain::gatekeeper::election).unwrap().is_some()
    });
    let first = sim.election();
    assert_eq!(first.gatekeepers.len(), 3);
    let silent = sim.index_of(&first.gatekeepers[2].worker);
    sim.workers[silent].offline = true;
    let silent_key = sim.workers[silent].key();
    let backer = sim.workers[silent].operator.public_key();

    sim.run_until(40, launched);
    let slashed: Vec<Slashed> = sim
        .chain
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
    assert!(!e.is_elected(&silent_key));
    assert!(e.deadline > first.deadline);
}

#[test]
fn only_elected_gatekeepers_get_the_key_and_forged_elections_are_refused() {
    let mut sim = Sim::new("refusals", 4, 3);
    sim.run_until(30, |s| {
        s.read(veil_chain::gatekeeper::election).unwrap().is_some()
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
        0,
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
    forged.gatekeepers = vec![veil_primitives::Elected {
        worker: me.clone(),
        ecdh_key: from_hex(&sim.workers[miner].rt.info().ecdh_public_key)
            .unwrap()
            .try_into()
            .unwrap(),
    }];
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
    let before = sim.workers[miner].rt.state();
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
    assert_eq!(sim.workers[miner].rt.state(), before);
    assert!(!sim.workers[miner].rt.info().gatekeeper);
    let genuine = sim.batch(h + 1, h + 1);
    sim.workers[miner].rt.sync(&genuine).unwrap();
    sim.workers[miner].offline = false;

    // After the launch, the retired genesis node refuses even an elected gatekeeper.
    sim.run_until(60, launched);
    let e = sim.election();
    let genesis_holder = sim.read(chain_gk::genesis_worker).unwrap().unwrap().holder;
    let (_, request) = KeyRequest::start(
        outsider.as_bytes(),
        genesis_holder,
        &sim.identity,
        e.round,
        0,
    )
    .unwrap();
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
    let lost = sim.index_of(&first.gatekeepers[0].worker);
    sim.workers[lost].offline = true;
    let old_op = sim.workers[lost].operator.clone();
    sim.submit(&old_op, Call::Staking(StakingCall::Chill))
        .unwrap();
    sim.block();
    let op = PrivateKey::from_seed(2000);
    crate::messages::fund(&mut sim, &op);
    // Its host bonds and stands it as a candidate.
    let fresh = sim.add_worker(op.clone(), true);
    let worker = sim.workers[fresh].key();

    // At the next election it is elected, asks a gatekeeper (the genesis node is retired),
    // restores the state from the latest checkpoint on chain, and confirms.
    sim.run_until(40, |s| {
        s.election().is_elected(&worker) && s.workers[fresh].rt.info().holds_root_key
    });
    let e = sim.election();
    assert!(e.round > first.round);
    assert!(e.holders.iter().all(|h| first.is_elected(&h.worker)));
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
        e.workers().all(|g| {
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
        .workers()
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
    assert!(e.is_elected(&worker));
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

#[test]
fn a_gatekeeper_voted_out_wipes_the_root_key_once_its_successors_all_hold_it() {
    let mut sim = Sim::new("voted-out", 3, 3);
    sim.run_until(60, launched);
    let first = sim.election();
    let out = sim.index_of(&first.gatekeepers[0].worker);
    let voted_out = sim.workers[out].key();
    assert!(sim.workers[out].rt.info().holds_root_key);

    // A new candidate stands, and a nominator backs it and the two other gatekeepers, so the
    // next election leaves `out` without a seat; it stays online and synced.
    let op = PrivateKey::from_seed(2001);
    let nominator = PrivateKey::from_seed(901);
    crate::messages::fund(&mut sim, &op);
    let fresh = sim.add_worker(op, true);
    let successor = sim.workers[fresh].key();
    sim.submit(
        &nominator,
        Call::Staking(StakingCall::Bond { amount: 3 * BOND }),
    )
    .unwrap();
    sim.block();
    let targets = vec![
        successor.clone(),
        first.gatekeepers[1].worker.clone(),
        first.gatekeepers[2].worker.clone(),
    ];
    sim.submit(&nominator, Call::Staking(StakingCall::Nominate { targets }))
        .unwrap();
    sim.block();
    sim.run_until(40, |s| s.election().is_elected(&successor));
    let next = sim.election();
    assert!(!next.is_elected(&voted_out));
    // It holds the key while the chain counts it as a holder, to hand the key over.
    assert!(next.holders.iter().any(|h| h.worker == voted_out));
    assert!(sim.workers[out].rt.info().holds_root_key);

    // Once every gatekeeper of the new round confirmed, it wipes the key; they keep theirs.
    sim.run_until(40, |s| !s.workers[out].rt.info().holds_root_key);
    assert_eq!(sim.read(chain_gk::closed_round).unwrap(), next.round);
    let info = sim.workers[out].rt.info();
    assert!(!info.gatekeeper && !info.holds_root_key);
    for g in next.workers() {
        assert!(sim.workers[sim.index_of(g)].rt.info().holds_root_key);
    }
    // The wipe is durable: reopened from its files, it holds no key.
    sim.reopen(out, |_| {});
    assert!(!sim.workers[out].rt.info().holds_root_key);
}

#[test]
fn a_gatekeeper_slashed_for_missing_a_deadline_wipes_the_root_key() {
    let mut sim = Sim::new("slashed-holder", 3, 3);
    sim.run_until(60, launched);
    let first = sim.election();
    let silent = sim.index_of(&first.gatekeepers[0].worker);
    let key = sim.workers[silent].key();
    assert!(sim.workers[silent].rt.info().holds_root_key);

    // Its host stops: elected again, it cannot confirm, and at the deadline it is slashed
    // and leaves the key holders; the chain elects again at once.
    sim.workers[silent].offline = true;
    let holder = |s: &Sim| {
        s.read(chain_gk::holders)
            .unwrap()
            .iter()
            .any(|h| h.worker == key)
    };
    sim.run_until(60, |s| !holder(s));
    let open = sim.read(chain_gk::open_round).unwrap();
    assert!(open.is_some_and(|e| !e.is_elected(&key)));

    // Back online, it syncs the slash and wipes the key before any handover says so.
    sim.workers[silent].offline = false;
    sim.relay(Some(silent));
    assert!(!sim.workers[silent].rt.info().holds_root_key);
    assert!(sim.read(chain_gk::open_round).unwrap().is_some());
}
