//! Contracts in deterministic simulation ([crate::sim]): the real chain, pRuntimes and host
//! duties.

use commonware_cryptography::Signer as _;
use veil_chain::{contracts as chain_contracts, gatekeeper as chain_gk};
use veil_client::{
    command::{self, Sealed},
    query::{self, Pending, Session},
};
use veil_primitives::{
    AccountId, Call, Destination, Origin, PrivateKey,
    contract::{
        CONTRACT_KEY_TOPIC, CommandResult, ContractCall, ContractId, ContractInfo, ContractKey,
        Reply, contract_id,
    },
    hash,
    query::{QueryAnswer, QueryCall, QueryOutcome},
};
use veil_pruntime::roles::{
    contracts::query::{QueryError, Request},
    gatekeeper::contracts::{contract_key, open_sealed, public_key},
};
use veil_pruntime_api::QueryRequestView;

use crate::{
    bootstrap::{assert_absent, capture_logs},
    common::files,
    sim::{Sim, launched},
};

/// A module that passes the deploy policy.
fn module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\00")
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1))))"#,
    )
    .unwrap()
}

#[test]
fn the_gatekeepers_publish_each_new_contracts_key_once_derived_from_the_root_key() {
    let mut sim = Sim::new("contract-key", 5, 3);
    let root_key = *sim.genesis.rt.genesis().unwrap().root_key();
    sim.run_until(60, launched);

    let developer = PrivateKey::from_seed(1004);
    let nonce = sim
        .read(async |o| veil_chain::balances::account(o, &developer.public_key()).await)
        .unwrap()
        .nonce;
    let code = module();
    let upload = ContractCall::UploadCode {
        hash: hash(&code),
        size: code.len() as u32,
        index: 0,
        chunk: code.clone(),
    };
    sim.submit(&developer, Call::Contract(upload)).unwrap();
    sim.block();
    let miner = sim.workers[4].key();
    let instantiate = ContractCall::Instantiate {
        code: hash(&code),
        miner,
    };
    sim.submit(&developer, Call::Contract(instantiate)).unwrap();
    let id = contract_id(&developer.public_key(), nonce + 1);

    let published = |s: &Sim| {
        s.read(async |o| chain_contracts::contract(o, &id).await)
            .unwrap()
            .and_then(|info| info.public_key)
    };
    sim.run_until(20, |s| published(s).is_some());
    let expected = contract_key(&root_key, &sim.identity, &id);
    assert_eq!(published(&sim), Some(public_key(&expected)));

    // Every gatekeeper signed the same record: one routed, the copies dropped, no divergence.
    sim.run_until(10, |s| {
        s.workers
            .iter()
            .all(|w| w.rt.info().gatekeeper_pending == 0)
    });
    assert_eq!(sim.read(chain_gk::divergences).unwrap(), 0);
    let records: Vec<ContractKey> = sim
        .chain
        .messages
        .iter()
        .filter(|m| {
            m.origin == Origin::Gatekeepers
                && m.destination == Destination::Topic(CONTRACT_KEY_TOPIC.to_vec())
        })
        .map(|m| commonware_codec::DecodeExt::decode(m.payload.clone()).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    // The sealed key on chain opens only under the root key, to the contract key.
    assert_eq!(
        open_sealed(&root_key, &sim.identity, &records[0]).as_deref(),
        Some(&*expected)
    );
    assert!(open_sealed(&[0u8; 32], &sim.identity, &records[0]).is_none());

    // The contract key itself, in no form, in chain state, host traffic or pRuntime files.
    let mut state = Vec::new();
    for (k, v) in &sim.chain.state.0 {
        state.extend_from_slice(k.as_ref());
        state.extend_from_slice(v);
    }
    assert_absent("chain state", &state, expected.as_slice());
    assert_absent("host traffic", &sim.traffic(), expected.as_slice());
    for w in sim.workers.iter().chain([&sim.genesis]) {
        for f in files(&w.dir.0) {
            let bytes = std::fs::read(&f).unwrap();
            assert_absent(&format!("{}", f.display()), &bytes, expected.as_slice());
        }
    }
}

/// A contract that keeps its last input under `k` and echoes it; an input starting with 0xff
/// loops forever after writing (out of fuel, so the write must not stick); 0xfe traps. Its
/// query answers what `k` holds.
fn echo() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "veil" "input_len" (func $len (result i32)))
            (import "veil" "input_read" (func $read (param i32)))
            (import "veil" "output_write" (func $out (param i32 i32)))
            (import "veil" "storage_set" (func $set (param i32 i32 i32 i32)))
            (import "veil" "storage_get" (func $get (param i32 i32) (result i64)))
            (import "veil" "value_read" (func $value (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\00k")
            (func $store (result i32) (local $n i32)
                (local.set $n (call $len))
                (call $read (i32.const 16))
                (call $set (i32.const 1) (i32.const 1) (i32.const 16) (local.get $n))
                (local.get $n))
            (func (export "init") (drop (call $store)) (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (local $n i32)
                (local.set $n (call $store))
                (if (i32.eq (i32.load8_u (i32.const 16)) (i32.const 255))
                    (then (loop $forever (br $forever))))
                (if (i32.eq (i32.load8_u (i32.const 16)) (i32.const 254))
                    (then unreachable))
                (i32.store8 (i32.const 15) (i32.const 0))
                (call $out (i32.const 15) (i32.add (local.get $n) (i32.const 1))))
            (func (export "handle_query") (local $n i64)
                (local.set $n (call $get (i32.const 1) (i32.const 1)))
                (if (i64.ge_s (local.get $n) (i64.const 0))
                    (then (call $value (i32.const 16)))
                    (else (local.set $n (i64.const 0))))
                (i32.store8 (i32.const 15) (i32.const 0))
                (call $out (i32.const 15) (i32.add (i32.wrap_i64 (local.get $n)) (i32.const 1))))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1))))"#,
    )
    .unwrap()
}

pub(crate) fn info(sim: &Sim, id: &ContractId) -> ContractInfo {
    sim.read(async |o| chain_contracts::contract(o, id).await)
        .unwrap()
        .unwrap()
}

/// Seals `input` for `id` as `from`'s next transaction; returns its nonce and reply key with
/// the call, not yet submitted.
pub(crate) fn seal(sim: &Sim, from: &PrivateKey, id: &ContractId, input: &[u8]) -> (u64, Sealed) {
    let sender = from.public_key();
    let (nonce, expiry) = sim.next_tx(&sender);
    let sealed = command::seal(
        &sim.identity,
        id,
        &info(sim, id),
        &sender,
        nonce,
        expiry,
        input,
        // Enough for a command that sends a message (which prepays twice its fuel).
        5_000_000,
    )
    .unwrap();
    (nonce, sealed)
}

/// Waits for the miner's result of (`sender`, `nonce`)'s command.
pub(crate) fn result(
    sim: &mut Sim,
    miner: &AccountId,
    id: &ContractId,
    sender: &AccountId,
    nonce: u64,
) -> CommandResult {
    let find = |s: &Sim| command::find_result(&s.chain.messages, miner, id, sender, nonce);
    sim.run_until(10, |s| find(s).is_some());
    find(sim).unwrap()
}

/// Sends `input` from `from` and returns the opened reply.
pub(crate) fn send(sim: &mut Sim, from: &PrivateKey, id: &ContractId, input: &[u8]) -> Reply {
    let (nonce, sealed) = seal(sim, from, id, input);
    sim.submit(from, Call::Contract(sealed.call)).unwrap();
    let miner = info(sim, id).miner;
    let r = result(sim, &miner, id, &from.public_key(), nonce);
    command::open(&sealed.reply_key, &sim.identity, id, &r).unwrap()
}

/// A launched network with the echo contract instantiated on worker 4 by a funded developer,
/// its key granted to the miner; returns the developer and a funded user too.
fn deployed(name: &'static str) -> (Sim, ContractId, PrivateKey, PrivateKey) {
    let mut sim = Sim::new(name, 5, 3);
    sim.run_until(60, launched);
    // Fresh accounts, funded by governance (operators' nonces belong to their hosts).
    let developer = PrivateKey::from_seed(2001);
    let user = PrivateKey::from_seed(2002);
    let gov = sim.genesis.operator.clone();
    for who in [&developer, &user] {
        let to = who.public_key();
        sim.submit(
            &gov,
            Call::Transfer {
                to,
                amount: 10_000_000,
            },
        )
        .unwrap();
    }
    sim.block();
    let code = echo();
    let upload = ContractCall::UploadCode {
        hash: hash(&code),
        size: code.len() as u32,
        index: 0,
        chunk: code.clone(),
    };
    sim.submit(&developer, Call::Contract(upload)).unwrap();
    sim.block();
    let miner = sim.workers[4].key();
    let (nonce, _) = sim.next_tx(&developer.public_key());
    let instantiate = ContractCall::Instantiate {
        code: hash(&code),
        miner: miner.clone(),
    };
    sim.submit(&developer, Call::Contract(instantiate)).unwrap();
    let id = contract_id(&developer.public_key(), nonce);
    // The gatekeepers publish the key and grant it to the miner; commands flow after that.
    sim.run_until(20, |s| {
        s.read(async |o| chain_contracts::contract(o, &id).await)
            .unwrap()
            .is_some_and(|i| i.granted)
    });
    (sim, id, developer, user)
}

#[test]
fn commands_run_encrypted_on_the_assigned_miner_and_only_their_sender_reads_the_result() {
    let (logs, _guard) = capture_logs();
    let (mut sim, id, developer, user) = deployed("contract-commands");
    let miner = sim.workers[4].key();
    let snapshot = sim.workers[4].rt.snapshot();
    let running = &snapshot.miner.running[&id];
    assert_eq!(
        running.contract.public_key,
        info(&sim, &id).public_key,
        "the granted key matches the published one"
    );
    assert!(running.contract.key.is_some());
    for other in [0, 1, 2, 3] {
        assert!(sim.workers[other].rt.snapshot().miner.running.is_empty());
    }

    // Canaries: in commands, state and results.
    let init_canary = *b"canary:init-supply-31337-7f3a9c2";
    let canary = *b"canary:transfer-to-bob-4242-9e1d";
    let state = |s: &Sim| {
        let snap = s.workers[4].rt.snapshot();
        let r = &snap.miner.running[&id];
        (
            r.state.get(b"k".as_slice()).cloned(),
            r.root,
            r.contract.executed,
        )
    };
    assert!(matches!(
        send(&mut sim, &developer, &id, &init_canary),
        Reply::Ok { output, .. } if output.is_empty()
    ));
    let (value, root_after_init, executed) = state(&sim);
    assert_eq!(
        (value.as_deref(), executed),
        (Some(init_canary.as_slice()), 1)
    );

    // A command from another account: executed, its result readable by its sender only.
    let (nonce, sealed) = seal(&sim, &user, &id, &canary);
    let signed = sim
        .submit_signed(&user, Call::Contract(sealed.call.clone()))
        .unwrap();
    let r = result(&mut sim, &miner, &id, &user.public_key(), nonce);
    match command::open(&sealed.reply_key, &sim.identity, &id, &r).unwrap() {
        Reply::Ok { output, events, .. } => {
            assert_eq!((output, events), (canary.to_vec(), vec![]))
        }
        other => panic!("{other:?}"),
    }
    let (_, other_key) = seal(&sim, &user, &id, b"x");
    assert!(command::open(&other_key.reply_key, &sim.identity, &id, &r).is_err());
    let (value, root, _) = state(&sim);
    assert_eq!(value.as_deref(), Some(canary.as_slice()));
    assert_ne!(root, root_after_init, "the state root follows the state");

    // The same transaction again: refused by the chain, executed once.
    assert!(sim.chain.admit(signed).is_err());

    // Out of fuel and traps change nothing, and say so to the sender only.
    for (input, reason) in [(vec![0xff, 1], "out of fuel"), (vec![0xfe], "trapped")] {
        match send(&mut sim, &user, &id, &input) {
            Reply::Failed {
                reason: r,
                fuel_used,
            } => {
                assert!(r.starts_with(reason), "{r}");
                assert!(fuel_used > 0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(state(&sim).0.as_deref(), Some(canary.as_slice()));
        assert_eq!(state(&sim).1, root);
    }

    // A tampered ciphertext, one sealed for another contract, and one sealed for another
    // nonce do not open: the miner answers with an empty result and changes nothing.
    let executed = state(&sim).2;
    let tampered = |sealed: &mut Sealed| {
        if let ContractCall::Command { envelope, .. } = &mut sealed.call {
            envelope.ciphertext[7] ^= 1;
        }
    };
    let sender = user.public_key();
    let (nonce, expiry) = sim.next_tx(&sender);
    let mut cases = Vec::new();
    let (_, mut t) = seal(&sim, &user, &id, b"tampered");
    tampered(&mut t);
    cases.push(t.call);
    let mut elsewhere = command::seal(
        &sim.identity,
        &hash(b"another contract"),
        &info(&sim, &id),
        &sender,
        nonce,
        expiry,
        b"elsewhere",
        1_000_000,
    )
    .unwrap();
    if let ContractCall::Command { contract, .. } = &mut elsewhere.call {
        *contract = id;
    }
    cases.push(elsewhere.call);
    let stale = command::seal(
        &sim.identity,
        &id,
        &info(&sim, &id),
        &sender,
        nonce + 10,
        expiry,
        b"stale",
        1_000_000,
    )
    .unwrap();
    cases.push(stale.call);
    for call in cases {
        let (nonce, _) = sim.next_tx(&sender);
        sim.submit(&user, Call::Contract(call)).unwrap();
        let r = result(&mut sim, &miner, &id, &sender, nonce);
        assert!(r.reply.is_empty());
        let e = command::open(&sealed.reply_key, &sim.identity, &id, &r).unwrap_err();
        assert!(e.to_string().contains("could not open the command"), "{e}");
    }
    assert_eq!(state(&sim).2, executed);
    assert_eq!(state(&sim).0.as_deref(), Some(canary.as_slice()));

    // Every ciphertext the hosts carried is a bucket size; the canaries appear nowhere outside
    // pRuntime: not in chain state, host traffic, logs, or sealed files.
    for m in &sim.chain.messages {
        if let Ok(results) = commonware_codec::DecodeExt::decode(m.payload.clone()) {
            let results: veil_primitives::contract::ContractResults = results;
            for r in results.results {
                assert!(r.reply.is_empty() || veil_primitives::contract::is_bucket(r.reply.len()));
            }
        }
    }
    let mut chain_state = Vec::new();
    for (k, v) in &sim.chain.state.0 {
        chain_state.extend_from_slice(k.as_ref());
        chain_state.extend_from_slice(v);
    }
    let logs = logs.lock().unwrap().clone();
    for secret in [init_canary, canary] {
        assert_absent("chain state", &chain_state, &secret);
        assert_absent("host traffic", &sim.traffic(), &secret);
        assert_absent("logs", &logs, &secret);
        for w in sim.workers.iter().chain([&sim.genesis]) {
            for f in files(&w.dir.0) {
                let bytes = std::fs::read(&f).unwrap();
                assert_absent(&format!("{}", f.display()), &bytes, &secret);
            }
        }
    }
}

/// Seals `call` in `session` for worker 4 and asks its pRuntime directly.
fn ask(
    sim: &Sim,
    session: &mut Session,
    call: &QueryCall,
    with_grant: bool,
) -> (QueryRequestView, Pending, Result<Vec<u8>, QueryError>) {
    let worker = &sim.workers[4];
    let ecdh = worker.rt.identity().ecdh_public();
    session.set_epoch(&ecdh, worker.rt.query_epoch());
    let (request, pending) = session
        .seal(&sim.identity, &worker.key(), &ecdh, call, with_grant)
        .unwrap();
    let answer = worker.rt.query(&Request::from_view(&request).unwrap());
    (request, pending, answer)
}

/// The attack: a host fills a worker's session table with throwaway grants until a user's
/// session is dropped, then replays the user's requests (the first carries the grant). Dropping
/// a live session drew a new query epoch, so every replay is refused; the user's client learns
/// the epoch and carries on.
#[test]
fn a_session_dropped_from_a_full_table_cannot_be_replayed() {
    let (mut sim, id, developer, user) = deployed("query-dropped");
    send(&mut sim, &developer, &id, b"init");
    sim.workers[4].rt.limit_query_sessions(1);
    let now = sim.workers[4].rt.state().unwrap().timestamp;
    let call = QueryCall {
        contract: id,
        input: vec![],
        min_height: 0,
    };
    let mut session = Session::new(&user, &sim.identity, vec![id], now, 3_600_000);
    let (first, pending, sealed) = ask(&sim, &mut session, &call, true);
    opened(&pending, sealed);
    let (second, pending, sealed) = ask(&sim, &mut session, &call, false);
    opened(&pending, sealed);

    // The host's throwaway account and session take the only place.
    let epoch = sim.workers[4].rt.query_epoch();
    let host = PrivateKey::from_seed(4242);
    let mut throwaway = Session::new(&host, &sim.identity, vec![id], now, 3_600_000);
    let (_, pending, sealed) = ask(&sim, &mut throwaway, &call, true);
    opened(&pending, sealed);

    for replayed in [&first, &second] {
        let refused = sim.workers[4]
            .rt
            .query(&Request::from_view(replayed).unwrap());
        assert!(
            matches!(refused, Err(QueryError::StaleEpoch { .. })),
            "{refused:?}"
        );
    }
    assert_ne!(sim.workers[4].rt.query_epoch(), epoch, "a new epoch");
    // The user shows the grant again, in the new epoch, and is answered.
    let (_, pending, sealed) = ask(&sim, &mut session, &call, true);
    opened(&pending, sealed);
}

fn opened(pending: &Pending, sealed: Result<Vec<u8>, QueryError>) -> QueryAnswer {
    pending
        .open(&veil_primitives::to_hex(sealed.unwrap()))
        .unwrap()
}

#[test]
fn queries_need_a_live_unrevoked_session_and_answer_from_a_signed_state() {
    let (mut sim, id, developer, user) = deployed("contract-queries");
    let canary = *b"canary:query-balance-8c1f3e5a7b9";
    let miner = sim.workers[4].key();
    send(&mut sim, &developer, &id, b"init");
    let (nonce, sealed) = seal(&sim, &user, &id, &canary);
    sim.submit(&user, Call::Contract(sealed.call)).unwrap();
    let executed = result(&mut sim, &miner, &id, &user.public_key(), nonce).height;

    let now = sim.workers[4].rt.state().unwrap().timestamp;
    let mut session = Session::new(&user, &sim.identity, vec![id], now, 3_600_000);
    let call = QueryCall {
        contract: id,
        input: vec![],
        min_height: executed,
    };
    // The first query carries the grant; the answer is the state after the command, with a
    // commitment the client checks against the worker's registry entry.
    let (request, pending, sealed) = ask(&sim, &mut session, &call, true);
    let sealed = sealed.unwrap();
    assert!(veil_primitives::contract::is_bucket(sealed.len()));
    let answer = opened(&pending, Ok(sealed));
    assert_eq!(answer.outcome, QueryOutcome::Ok(canary.to_vec()));
    let entry = sim
        .read(async |o| veil_chain::registry::worker(o, &miner).await)
        .unwrap()
        .unwrap();
    let contract_info = info(&sim, &id);
    query::verify(
        &answer,
        &sim.identity,
        &id,
        &contract_info,
        &miner,
        &entry,
        executed,
    )
    .unwrap();
    let c = &answer.commitment;
    assert!(c.insecure, "the sim's workers run the dev TEE and say so");
    assert!(c.height >= executed);
    assert_eq!(
        c.state_root,
        sim.workers[4].rt.snapshot().miner.running[&id].root
    );
    // Another worker's key on the commitment, or a stale height, is refused by the client.
    let mut forged = answer.clone();
    forged.commitment.insecure = false;
    assert!(
        query::verify(
            &forged,
            &sim.identity,
            &id,
            &contract_info,
            &miner,
            &entry,
            0
        )
        .is_err()
    );
    assert!(
        query::verify(
            &answer,
            &sim.identity,
            &id,
            &contract_info,
            &miner,
            &entry,
            c.height + 1
        )
        .is_err()
    );

    // The miner's files as a kill -9 would leave them: a pRuntime reopened on them has the
    // contract, its key, code, state and root, and answers the same.
    let copy = crate::common::dir("contract-restart");
    for f in files(&sim.workers[4].dir.0) {
        let to = copy.0.join(f.strip_prefix(&sim.workers[4].dir.0).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    let tee = veil_pruntime::tee::DevTee::new(&copy.0.join("dev-key")).unwrap();
    let (reopened, created) =
        veil_pruntime::runtime::Runtime::open(Box::new(tee), &copy.0.join("data")).unwrap();
    assert!(!created);
    {
        let (before, after) = (sim.workers[4].rt.snapshot(), reopened.snapshot());
        let (b, a) = (&before.miner.running[&id], &after.miner.running[&id]);
        assert_eq!(
            (&a.state, a.root, &a.contract),
            (&b.state, b.root, &b.contract)
        );
        assert!(a.contract.key.is_some() && after.miner.codes.contains_key(&b.contract.code));
    }
    // The attack: the host replays the session's first request (it carries the grant) to the
    // restarted pRuntime, which no longer knows the session or its counter. The request was
    // sealed for the previous start's query epoch: refused, and nothing is answered.
    assert_ne!(reopened.query_epoch(), sim.workers[4].rt.query_epoch());
    assert_eq!(
        reopened.query(&Request::from_view(&request).unwrap()),
        Err(QueryError::StaleEpoch {
            current: reopened.query_epoch()
        })
    );
    // Relabelled with the new epoch, it does not open: the epoch is bound into the sealing.
    let mut relabelled = request.clone();
    relabelled.epoch = veil_primitives::to_hex(reopened.query_epoch());
    assert_eq!(
        reopened.query(&Request::from_view(&relabelled).unwrap()),
        Err(QueryError::Sealing)
    );
    // Nor did it leave its session behind: without the grant, the session is unknown.
    let reopened_ecdh = reopened.identity().ecdh_public();
    session.set_epoch(&reopened_ecdh, reopened.query_epoch());
    let (without_grant, _) = session
        .seal(&sim.identity, &miner, &reopened_ecdh, &call, false)
        .unwrap();
    assert_eq!(
        reopened.query(&Request::from_view(&without_grant).unwrap()),
        Err(QueryError::UnknownSession)
    );
    // A client sealing to the new epoch is answered.
    let mut fresh = Session::new(&user, &sim.identity, vec![id], now, 3_600_000);
    fresh.set_epoch(&reopened.identity().ecdh_public(), reopened.query_epoch());
    let (asked, pending) = fresh
        .seal(
            &sim.identity,
            &miner,
            &reopened.identity().ecdh_public(),
            &call,
            true,
        )
        .unwrap();
    let sealed = reopened.query(&Request::from_view(&asked).unwrap());
    assert_eq!(
        opened(&pending, sealed).outcome,
        QueryOutcome::Ok(canary.to_vec())
    );
    drop(reopened);

    // Within the session no grant is needed; the same request again is a replay.
    let (_, pending, sealed) = ask(&sim, &mut session, &call, false);
    assert_eq!(
        opened(&pending, sealed).outcome,
        QueryOutcome::Ok(canary.to_vec())
    );
    let replayed = Request::from_view(&request).unwrap();
    assert!(matches!(
        sim.workers[4].rt.query(&replayed),
        Err(QueryError::Replayed { .. })
    ));
    // A tampered request does not open (and does not spend the counter).
    let (mut tampered, _) = session
        .seal(
            &sim.identity,
            &miner,
            &sim.workers[4].rt.identity().ecdh_public(),
            &call,
            false,
        )
        .unwrap();
    let mut bytes = veil_primitives::from_hex(&tampered.ciphertext).unwrap();
    bytes[3] ^= 1;
    tampered.ciphertext = veil_primitives::to_hex(bytes);
    assert_eq!(
        sim.workers[4]
            .rt
            .query(&Request::from_view(&tampered).unwrap()),
        Err(QueryError::Sealing)
    );
    // Read-your-writes: a height the worker has not executed gets "not yet".
    let ahead = QueryCall {
        min_height: sim.height() + 5,
        ..call.clone()
    };
    let (_, pending, sealed) = ask(&sim, &mut session, &ahead, false);
    assert_eq!(opened(&pending, sealed).outcome, QueryOutcome::NotYet);
    // A contract the grant does not name.
    let elsewhere = QueryCall {
        contract: hash(b"another contract"),
        ..call.clone()
    };
    let (_, _, refused) = ask(&sim, &mut session, &elsewhere, false);
    assert!(matches!(refused, Err(QueryError::NotInSession(_))));

    // Grants the account did not sign, or longer than 7 days, are refused; without a grant
    // the worker does not know the session.
    let stranger = PrivateKey::from_seed(2003);
    let mut forged = Session::new(&stranger, &sim.identity, vec![id], now, 3_600_000);
    forged.grant.grant.account = user.public_key();
    let (_, _, refused) = ask(&sim, &mut forged, &call, true);
    assert!(
        matches!(refused, Err(QueryError::BadGrant(_))),
        "{refused:?}"
    );
    let mut long = Session::new(&user, &sim.identity, vec![id], now, 8 * 24 * 3_600_000);
    let (_, _, refused) = ask(&sim, &mut long, &call, true);
    assert!(
        matches!(refused, Err(QueryError::BadGrant(_))),
        "{refused:?}"
    );
    let mut unknown = Session::new(&user, &sim.identity, vec![id], now, 3_600_000);
    let (_, _, refused) = ask(&sim, &mut unknown, &call, false);
    assert_eq!(refused, Err(QueryError::UnknownSession));

    // An expired session: refused once block time passes its expiry.
    let mut short = Session::new(&user, &sim.identity, vec![id], now, 3_000);
    let (_, pending, sealed) = ask(&sim, &mut short, &call, true);
    assert!(matches!(
        opened(&pending, sealed).outcome,
        QueryOutcome::Ok(_)
    ));
    for _ in 0..5 {
        sim.block();
    }
    let (_, _, refused) = ask(&sim, &mut short, &call, false);
    assert!(
        matches!(refused, Err(QueryError::Expired { .. })),
        "{refused:?}"
    );

    // Revoked on chain: refused once the worker synced the revocation; another account
    // cannot revoke someone else's session.
    let revoke = |session: &Session| {
        Call::Contract(ContractCall::RevokeSession {
            session: session.public(),
            expiry: session.grant.grant.expiry,
        })
    };
    sim.submit(&developer, revoke(&session)).unwrap();
    sim.block();
    let (_, pending, sealed) = ask(&sim, &mut session, &call, false);
    assert!(matches!(
        opened(&pending, sealed).outcome,
        QueryOutcome::Ok(_)
    ));
    sim.submit(&user, revoke(&session)).unwrap();
    sim.block();
    let (_, _, refused) = ask(&sim, &mut session, &call, false);
    assert_eq!(refused, Err(QueryError::Revoked));
}
