//! Checkpoints and recovery in deterministic simulation ([crate::sim]): the real chain,
//! pRuntimes and host duties. The token's miner checkpoints it on chain; its host stops while
//! transfers keep coming; the chain moves the token to another miner, whose host brings the
//! checkpoint and the log after it (a byzantine host's tampered, stale, shortened and
//! reordered versions are refused first); the new miner applies every accepted transfer
//! exactly once, answers queries from that state, and the old miner, back, stops.

use commonware_cryptography::Signer as _;
use veil_primitives::{
    AccountId, Call, PrivateKey,
    contract::{ContractId, ContractParams, Reassignment, Reply},
    query::{QueryCall, QueryOutcome},
    to_hex,
};
use veil_pruntime::roles::contracts::query::Request;

use crate::{
    contracts::{info, result, seal},
    sim::{Sim, launched},
};

/// A small deterministic generator (the seed picks amounts and when the miner dies).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn transfer(to: &AccountId, amount: u128) -> Vec<u8> {
    [&[0u8][..], to.as_ref(), &amount.to_le_bytes()].concat()
}

/// A transfer the chain accepted.
struct Sent {
    from: usize,
    to: usize,
    amount: u128,
    nonce: u64,
    reply_key: veil_client::command::ReplyKey,
}

/// Submits a transfer of `amount` between `holders`; `None` if the chain refused it.
fn submit(
    sim: &mut Sim,
    id: &ContractId,
    holders: &[&PrivateKey],
    (from, to): (usize, usize),
    amount: u128,
) -> Option<Sent> {
    let input = transfer(&holders[to].public_key(), amount);
    let (nonce, sealed) = seal(sim, holders[from], id, &input);
    sim.submit(holders[from], Call::Contract(sealed.call))
        .ok()?;
    Some(Sent {
        from,
        to,
        amount,
        nonce,
        reply_key: sealed.reply_key,
    })
}

/// `who`'s token balance, asked of worker `miner` with a real query session.
fn balance(sim: &Sim, miner: usize, id: &ContractId, who: &PrivateKey) -> Result<u128, String> {
    let worker = &sim.workers[miner];
    let now = worker.rt.state().unwrap().timestamp;
    let mut session =
        veil_client::query::Session::new(who, &sim.identity, vec![*id], now, 3_600_000);
    session.set_epoch(&worker.rt.identity().ecdh_public(), worker.rt.query_epoch());
    let call = QueryCall {
        contract: *id,
        input: [&[0u8][..], who.public_key().as_ref()].concat(),
        min_height: 0,
    };
    let (request, pending) = session
        .seal(
            &sim.identity,
            &worker.key(),
            &worker.rt.identity().ecdh_public(),
            &call,
            true,
        )
        .unwrap();
    let sealed = worker
        .rt
        .query(&Request::from_view(&request).unwrap())
        .map_err(|e| e.to_string())?;
    match pending.open(&to_hex(sealed)).unwrap().outcome {
        QueryOutcome::Ok(bytes) => Ok(u128::from_le_bytes(bytes.try_into().unwrap())),
        other => Err(format!("{other:?}")),
    }
}

fn recovery_of(sim: &Sim, worker: usize, id: &ContractId) -> Option<bool> {
    let snapshot = sim.workers[worker].rt.snapshot();
    snapshot
        .miner
        .running
        .get(id)
        .map(|r| r.contract.recovery.is_some())
}

fn scenario(seed: u64) {
    let name: &'static str = Box::leak(format!("recovery-{seed}").into_boxed_str());
    // Eras of 12 blocks, heartbeats every 3; workers 0-2 are gatekeepers, 3-5 miners.
    let mut sim = Sim::with_heartbeats(name, 6, 3, 3);
    // With even seeds the miners' hosts bring a recovery's log in parts of about one entry
    // each (staged, then the last with the checkpoint), as they do a log too large for one
    // call.
    let staging = seed.is_multiple_of(2);
    if staging {
        for w in 3..6 {
            sim.workers[w].recovery_parts_of(1024);
        }
    }
    sim.run_until(60, launched);
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let gov = sim.genesis.operator.clone();
    let params = ContractParams {
        checkpoint_interval: 4,
        // Long enough that only the liveness rule moves the contract here.
        checkpoint_grace: 1_000,
        ..ContractParams::default()
    };
    sim.submit(
        &gov,
        Call::Governance(veil_primitives::GovernanceCall::SetContractParams(params)),
    )
    .unwrap();
    let developer = PrivateKey::from_seed(5000 + seed);
    let users: Vec<PrivateKey> = (0..3)
        .map(|i| PrivateKey::from_seed(5100 + 10 * seed + i))
        .collect();
    for who in users.iter().chain([&developer]) {
        let to = who.public_key();
        sim.submit(
            &gov,
            Call::Transfer {
                to,
                amount: 100_000_000,
            },
        )
        .unwrap();
    }
    sim.block();
    let old = 4;
    let token = crate::messages::deploy(
        &mut sim,
        &developer,
        &crate::messages::vm_support::example("token"),
        old,
    );
    let supply = 1_000_000u128;
    let init = crate::contracts::send(&mut sim, &developer, &token, &supply.to_le_bytes());
    assert!(matches!(init, Reply::Ok { .. }), "{init:?}");

    // Transfers between four holders; the chain's order decides which succeed, so the model is
    // built from their outcomes at the end.
    let holders: Vec<&PrivateKey> = [&developer].into_iter().chain(&users).collect();
    let mut sent: Vec<Sent> = Vec::new();
    let mut transfers = |sim: &mut Sim, rng: &mut Rng, n: usize| {
        for _ in 0..n {
            // Half from the developer (who holds the supply), half between users.
            let from = if rng.next().is_multiple_of(2) {
                0
            } else {
                1 + (rng.next() % 3) as usize
            };
            let to = (from + 1 + (rng.next() % 3) as usize) % 4;
            let amount = (rng.next() % 1_000) as u128 + 1;
            if let Some(s) = submit(sim, &token, &holders, (from, to), amount) {
                sent.push(s);
            }
        }
    };

    // A steady load while the miner checkpoints.
    for _ in 0..6 {
        transfers(&mut sim, &mut rng, 3);
        sim.hosts();
        sim.block();
    }
    sim.run_until(30, |s| {
        info(s, &token).checkpoint.is_some_and(|c| c.log.count > 1)
    });
    let first = sim
        .read(async |o| veil_chain::contracts::checkpoint_bytes(o, &token).await)
        .unwrap()
        .unwrap();
    // More load, and at least one newer checkpoint: `first` is now stale.
    sim.run_until(40, |s| {
        info(s, &token)
            .checkpoint
            .is_some_and(|c| c.height > first.0.height)
    });
    for _ in 0..(2 + rng.next() % 4) {
        transfers(&mut sim, &mut rng, 3);
        sim.hosts();
        sim.block();
    }

    // The miner's host dies; transfers keep coming until the chain moves the contract.
    sim.workers[old].offline = true;
    let mut moved = None;
    for _ in 0..80 {
        transfers(&mut sim, &mut rng, 2);
        sim.hosts();
        for m in sim.block() {
            if let Ok(veil_primitives::contract::ContractEvent::Assigned {
                contract,
                reason,
                miner,
                ..
            }) = commonware_codec::DecodeExt::decode(m.payload.clone())
                && contract == token
            {
                moved = Some((reason, miner));
            }
        }
        if moved.is_some() {
            break;
        }
    }
    let (reason, to) = moved.expect("the contract never moved");
    assert_eq!(reason, Reassignment::Unresponsive);
    let new = sim.index_of(&to);
    assert!(
        new == 3 || new == 5,
        "a miner that is not a gatekeeper takes it"
    );
    assert_eq!(recovery_of(&sim, new, &token), Some(true));

    // A byzantine host: a tampered checkpoint, a stale one, a log with an entry left out, and
    // a reordered log are each refused and change nothing.
    let stale = veil_pruntime_api::RecoverCheckpoint {
        record: to_hex(commonware_codec::Encode::encode(&first.0)),
        sealed: to_hex(&first.1),
    };
    let stale_bytes = stale.sealed.clone();
    let mut attacks: Vec<(&str, crate::sim::Tamper)> = vec![
        (
            "tampered checkpoint",
            Box::new(|r| {
                let c = r.checkpoint.as_mut().unwrap();
                let mut bytes = veil_primitives::from_hex(&c.sealed).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                c.sealed = to_hex(bytes);
            }),
        ),
        (
            "stale checkpoint",
            Box::new(move |r| r.checkpoint = Some(stale.clone())),
        ),
        (
            "stale checkpoint under the latest record",
            Box::new(move |r| r.checkpoint.as_mut().unwrap().sealed = stale_bytes.clone()),
        ),
        ("entry left out", Box::new(|r| drop(r.entries.pop()))),
        (
            "entries reordered",
            Box::new(|r| {
                if r.entries.len() >= 2 {
                    r.entries.swap(0, 1);
                } else {
                    r.entries.clear();
                }
            }),
        ),
    ];
    if staging {
        // The staged part of the log left out of the count, or miscounted.
        attacks.push(("staged entries not counted", Box::new(|r| r.staged = 0)));
        attacks.push(("staged entries miscounted", Box::new(|r| r.staged += 1)));
    }
    let gate = |s: &Sim| {
        s.workers[new]
            .rt
            .snapshot()
            .miner
            .running
            .get(&token)
            .is_some_and(|r| r.contract.key.is_some())
    };
    for (attack, tamper) in attacks {
        sim.workers[new].tamper_recovery(Some(tamper));
        sim.run_until(30, |s| {
            gate(s) && !s.workers[new].refused_recoveries().is_empty()
        });
        assert_eq!(recovery_of(&sim, new, &token), Some(true), "{attack}");
        assert!(
            balance(&sim, new, &token, &developer)
                .unwrap_err()
                .contains("recovering"),
            "{attack}: queries wait for the recovery"
        );
    }

    // An honest host: recovered, and every accepted transfer applied exactly once.
    sim.workers[new].tamper_recovery(None);
    sim.run_until(20, |s| recovery_of(s, new, &token) == Some(false));
    assert_eq!(sim.workers[new].staged_parts() > 0, staging, "seed {seed}");
    for _ in 0..4 {
        transfers(&mut sim, &mut rng, 3);
        sim.hosts();
        sim.block();
    }
    // Every accepted transfer has an outcome, and every miner that reported one reported the
    // same: the model applies each successful transfer once.
    let miners = [sim.workers[old].key(), sim.workers[new].key()];
    let outcomes = |sim: &Sim, s: &Sent| -> Vec<bool> {
        miners
            .iter()
            .filter_map(|m| {
                let sender = holders[s.from].public_key();
                let r = veil_client::command::find_result(
                    &sim.chain.messages,
                    m,
                    &token,
                    &sender,
                    s.nonce,
                )?;
                let reply = veil_client::command::open(&s.reply_key, &sim.identity, &token, &r);
                Some(matches!(reply.unwrap(), Reply::Ok { .. }))
            })
            .collect()
    };
    // Signed: the list is in submission order, not the chain's.
    let mut model: Vec<i128> = vec![supply as i128, 0, 0, 0];
    let mut applied = 0;
    for s in &sent {
        sim.run_until(20, |sim| !outcomes(sim, s).is_empty());
        let seen = outcomes(&sim, s);
        assert!(
            seen.iter().all(|ok| *ok == seen[0]),
            "seed {seed}: the miners disagree on a transfer's outcome"
        );
        if seen[0] {
            model[s.from] -= s.amount as i128;
            model[s.to] += s.amount as i128;
            applied += 1;
        }
    }
    assert!(
        applied * 2 > sent.len(),
        "only {applied} of {} applied",
        sent.len()
    );
    let last = sent.last().unwrap();
    let executed = result(
        &mut sim,
        &miners[1],
        &token,
        &holders[last.from].public_key(),
        last.nonce,
    )
    .height;
    sim.run_until(10, |s| {
        s.workers[new].rt.state().unwrap().synced_height() >= executed
    });
    for (i, who) in holders.iter().enumerate() {
        assert_eq!(
            balance(&sim, new, &token, who),
            Ok(model[i] as u128),
            "seed {seed}: holder {i} after {applied} of {} transfers",
            sent.len()
        );
    }
    let total: i128 = model.iter().sum();
    assert_eq!(total, supply as i128);

    // The old miner comes back: it sees the contract moved, stops and wipes it.
    sim.workers[old].offline = false;
    sim.run_until(10, |s| recovery_of(s, old, &token).is_none());
    assert!(balance(&sim, old, &token, &developer).is_err());
}

#[test]
fn a_silent_miners_contract_moves_and_its_next_miner_applies_every_transfer_once() {
    for seed in 1..=8 {
        scenario(seed);
    }
}

/// The example token on one miner, initialized with its supply to a funded developer.
struct Token {
    developer: PrivateKey,
    bob: PrivateKey,
    token: ContractId,
    supply: u128,
}

impl Token {
    /// Deploys it on worker `miner`; `seed` picks the developer's and bob's keys.
    fn deploy(sim: &mut Sim, seed: u64, miner: usize) -> Self {
        let developer = PrivateKey::from_seed(seed);
        let bob = PrivateKey::from_seed(seed + 1);
        crate::messages::fund(sim, &developer);
        let token = crate::messages::deploy(
            sim,
            &developer,
            &crate::messages::vm_support::example("token"),
            miner,
        );
        let supply = 1_000_000u128;
        crate::contracts::send(sim, &developer, &token, &supply.to_le_bytes());
        Self {
            developer,
            bob,
            token,
            supply,
        }
    }

    /// Transfers `amount` from the developer to bob; returns it once it succeeded.
    fn pay(
        sim: &mut Sim,
        developer: &PrivateKey,
        bob: &PrivateKey,
        token: &ContractId,
        amount: u128,
    ) -> u128 {
        let reply =
            crate::contracts::send(sim, developer, token, &transfer(&bob.public_key(), amount));
        assert!(matches!(reply, Reply::Ok { .. }), "{reply:?}");
        amount
    }
}

#[test]
fn a_miner_whose_local_state_is_corrupted_starts_over_from_the_chains_checkpoint() {
    let (logs, _guard) = crate::bootstrap::capture_logs();
    let mut sim = Sim::new("corrupted", 5, 3);
    sim.run_until(60, launched);
    let gov = sim.genesis.operator.clone();
    let params = ContractParams {
        checkpoint_interval: 4,
        checkpoint_grace: 1_000,
        ..ContractParams::default()
    };
    sim.submit(
        &gov,
        Call::Governance(veil_primitives::GovernanceCall::SetContractParams(params)),
    )
    .unwrap();
    let miner = 4;
    let Token {
        developer,
        bob,
        token,
        supply,
    } = Token::deploy(&mut sim, 6000, miner);
    let pay = |sim: &mut Sim, amount: u128| Token::pay(sim, &developer, &bob, &token, amount);
    let mut sent = 0u128;
    for amount in 1..=6 {
        sent += pay(&mut sim, amount);
    }
    sim.run_until(30, |s| {
        info(s, &token).checkpoint.is_some_and(|c| c.log.count >= 7)
    });
    for amount in 7..=9 {
        sent += pay(&mut sim, amount);
    }
    let log_count = info(&sim, &token).log.count;

    // A frame in the middle of the store's log is damaged; pRuntime restarts.
    sim.reopen(miner, |data| {
        let log = std::fs::read_dir(data.join("store"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        let mut bytes = std::fs::read(&log).unwrap();
        // The sealed body of the middle frame (frames are `length (u32 BE) ‖ sealed`).
        let mut frames = Vec::new();
        let mut at = 0;
        while at + 4 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            frames.push(at + 4..at + 4 + len);
            at += 4 + len;
        }
        assert!(frames.len() >= 3, "a log of {} frames", frames.len());
        let body = frames[frames.len() / 2].clone();
        bytes[body.start + body.len() / 2] ^= 0x40;
        std::fs::write(&log, bytes).unwrap();
    });
    let logs_now = |logs: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>| {
        String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
    };
    assert!(
        logs_now(&logs).contains("the sealed store is corrupted"),
        "pRuntime says what happened"
    );
    assert!(
        std::fs::read_dir(sim.workers[miner].dir.0.join("data"))
            .unwrap()
            .flatten()
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with("store.corrupt-")),
        "the damaged store is kept aside"
    );
    // Its host initializes it again; it syncs from genesis, and the token recovers from the
    // checkpoint on chain (not from its first command).
    sim.run_until(60, |s| recovery_of(s, miner, &token) == Some(false));
    let text = logs_now(&logs);
    assert!(
        text.contains("local state never signed"),
        "it notices it is older than the worker"
    );
    let recovered = text
        .lines()
        .rev()
        .find(|l| l.contains("contract recovered: it runs here"))
        .unwrap()
        .to_string();
    assert!(
        recovered.contains(" from="),
        "started from a checkpoint: {recovered}"
    );
    let replayed: u64 = recovered
        .split("replayed=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        replayed < log_count,
        "{replayed} of {log_count} entries replayed"
    );
    assert_eq!(balance(&sim, miner, &token, &bob), Ok(sent));
    assert_eq!(balance(&sim, miner, &token, &developer), Ok(supply - sent));
    // And it runs on: a transfer after the recovery.
    sent += pay(&mut sim, 10);
    assert_eq!(balance(&sim, miner, &token, &bob), Ok(sent));
}

/// Copies directory `from` to `to`, recursively.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_miner_fed_an_old_copy_of_its_store_notices_and_rebuilds_the_same_state() {
    let (logs, _guard) = crate::bootstrap::capture_logs();
    let mut sim = Sim::new("rolled-back", 5, 3);
    sim.run_until(60, launched);
    let miner = 4;
    let Token {
        developer,
        bob,
        token,
        ..
    } = Token::deploy(&mut sim, 7000, miner);
    let pay = |sim: &mut Sim, amount: u128| Token::pay(sim, &developer, &bob, &token, amount);
    let mut sent = pay(&mut sim, 5);
    // The host keeps a copy of the store as it is now...
    let saved = sim.workers[miner].dir.0.join("saved-store");
    copy_dir(&sim.workers[miner].dir.0.join("data/store"), &saved);
    let root_then = sim.workers[miner].rt.snapshot().miner.running[&token].root;
    for amount in [6, 7, 8] {
        sent += pay(&mut sim, amount);
    }
    let root_now = sim.workers[miner].rt.snapshot().miner.running[&token].root;
    assert_ne!(root_then, root_now);
    // ... and puts it back under a restarted pRuntime.
    sim.reopen(miner, |data| {
        std::fs::remove_dir_all(data.join("store")).unwrap();
        copy_dir(&saved, &data.join("store"));
    });
    assert_eq!(
        sim.workers[miner].rt.snapshot().miner.running[&token].root,
        root_then,
        "the old copy opens: it is authentic, only old"
    );
    // It syncs on from where the copy stopped, says the copy is older than the worker, and
    // reaches the same state; nothing it posts again is refused (a refusal fails the sim).
    let tip = sim.height();
    sim.run_until(20, |s| {
        s.workers[miner].rt.state().unwrap().synced_height() >= tip
    });
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("local state never signed"), "it notices");
    assert_eq!(
        sim.workers[miner].rt.snapshot().miner.running[&token].root,
        root_now
    );
    assert_eq!(balance(&sim, miner, &token, &bob), Ok(sent));
    sent += pay(&mut sim, 9);
    assert_eq!(balance(&sim, miner, &token, &bob), Ok(sent));
}

/// A contract that stores 12 values of 65,000 bytes per command, under keys numbered from the
/// command's input (a `u32`).
fn hoarder() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (import "veil" "input_read" (func $input (param i32)))
            (import "veil" "storage_set" (func $set (param i32 i32 i32 i32)))
            (memory (export "memory") 2)
            (data (i32.const 100) "\00")
            (func (export "init") (call $out (i32.const 100) (i32.const 1)))
            (func (export "handle_command") (local $i i32)
                (call $input (i32.const 0))
                (loop $l
                    (i32.store (i32.const 16)
                        (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 12)) (local.get $i)))
                    (call $set (i32.const 16) (i32.const 4) (i32.const 65536) (i32.const 65000))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (i32.const 12))))
                (call $out (i32.const 100) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 100) (i32.const 1)))
            (func (export "handle_message") (call $out (i32.const 100) (i32.const 1))))"#,
    )
    .unwrap()
}

/// The attack: a contract grown past what one checkpoint holds could not be checkpointed, so
/// the chain moved it every era and no miner could recover it. A command growing the state
/// past `MAX_STATE_BYTES` now fails and changes nothing, and the state left checkpoints.
#[test]
fn a_contracts_state_stops_growing_where_its_checkpoint_still_fits() {
    use veil_primitives::contract::{MAX_CHECKPOINT_BYTES, MAX_STATE_BYTES};
    let (mut sim, developer) = crate::messages::launched_with_developer("state-limit", 3003);
    let id = crate::messages::deploy(&mut sim, &developer, &hoarder(), 4);
    let send = |sim: &mut Sim, input: &[u8]| crate::contracts::send(sim, &developer, &id, input);
    assert!(matches!(send(&mut sim, &[]), Reply::Ok { .. }));
    // 16 commands of 12 entries fit in 12 MiB; the 17th would not (24 would not checkpoint).
    let mut stored = 0u32;
    let refusal = loop {
        assert!(stored < 24, "the state grew past the limit");
        match send(&mut sim, &stored.to_le_bytes()) {
            Reply::Ok { .. } => stored += 1,
            Reply::Failed { reason, .. } => break reason,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(stored, 16);
    assert!(refusal.contains("over the limit"), "{refusal}");
    let snapshot = sim.workers[4].rt.snapshot();
    let running = &snapshot.miner.running[&id];
    assert_eq!(
        running.state.len(),
        16 * 12,
        "the refused command wrote nothing"
    );
    assert!(running.bytes <= MAX_STATE_BYTES);
    let made = sim.workers[4].rt.checkpoint(&id).unwrap();
    assert!(made.info.size <= MAX_CHECKPOINT_BYTES, "{}", made.info.size);
}

/// Bytes of sealed log the store of worker `w` holds.
fn log_bytes(sim: &Sim, w: usize) -> u64 {
    crate::common::files(&sim.workers[w].dir.0)
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with("kv-"))
        .filter(|f| f.extension().is_some_and(|e| e == "log"))
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

/// The attack: the host measures how much its pRuntime's store grows with the block of each
/// command. A transfer that moved funds wrote two balances more than one refused for an
/// insufficient balance, so the host learnt which commands succeeded. Frames are now padded
/// to size steps, and both grow the log by the same bytes.
#[test]
fn a_hosts_view_of_the_store_does_not_tell_a_transfer_that_ran_from_one_refused() {
    let (mut sim, developer) = crate::messages::launched_with_developer("store-sizes", 3005);
    let token = crate::messages::deploy(
        &mut sim,
        &developer,
        &crate::messages::vm_support::example("token"),
        4,
    );
    let send = |sim: &mut Sim, input: &[u8]| crate::contracts::send(sim, &developer, &token, input);
    assert!(matches!(
        send(&mut sim, &1_000u128.to_le_bytes()),
        Reply::Ok { .. }
    ));
    let bob = PrivateKey::from_seed(3006).public_key();
    assert!(matches!(
        send(&mut sim, &transfer(&bob, 1)),
        Reply::Ok { .. }
    ));
    // One block with the command alone, after the previous result has been posted and seen.
    let growth = |sim: &mut Sim, amount: u128| {
        for _ in 0..3 {
            sim.hosts();
            sim.block();
        }
        let before = log_bytes(sim, 4);
        let (_, sealed) = seal(sim, &developer, &token, &transfer(&bob, amount));
        sim.submit(&developer, Call::Contract(sealed.call)).unwrap();
        sim.block();
        log_bytes(sim, 4) - before
    };
    let moved = growth(&mut sim, 1);
    let refused = growth(&mut sim, 1_000_000);
    assert!(moved > 0);
    assert_eq!(
        moved, refused,
        "the store grew by {moved} for a transfer, {refused} for a refusal"
    );
}
