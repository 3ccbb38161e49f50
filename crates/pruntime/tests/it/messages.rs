//! Messages between contracts on different miners, in deterministic simulation ([crate::sim]):
//! the real chain, pRuntimes and host duties. The token (worker 4) pays the vault (worker 3),
//! which keeps part and pays the rest back; a refusal, a trap and a missing payee restore the
//! payment; payloads appear nowhere outside pRuntime.

use commonware_cryptography::Signer as _;
use veil_chain::contracts as chain_contracts;
use veil_primitives::{
    Call, PrivateKey,
    contract::{CODE_CHUNK_BYTES, ContractCall, ContractId, Reply, contract_id},
    hash,
};

use crate::{
    bootstrap::{assert_absent, capture_logs},
    common::files,
    contracts::send,
    sim::{Sim, launched},
};

#[allow(dead_code)]
#[path = "../../../vm/tests/it/support.rs"]
pub(crate) mod vm_support;

/// A contract whose message handler traps.
fn trapper() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\00")
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_message") unreachable))"#,
    )
    .unwrap()
}

/// A contract that sends a message to a contract that does not exist and fails its reply
/// with an error whose message is `CANARY`.
fn failing_replier() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (import "veil" "send" (func $send (param i32 i32 i32 i64) (result i64)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\00")
            (data (i32.const 100) "\01\07\00\00\00\{len:02x}\00\00\00{CANARY}")
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command")
                (drop (call $send (i32.const 200) (i32.const 0) (i32.const 1) (i64.const 100000)))
                (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_message") (call $out (i32.const 100) (i32.const {out}))))"#,
        len = CANARY.len(),
        out = 9 + CANARY.len(),
    ))
    .unwrap()
}

const CANARY: &str = "canary-in-a-reply-handler-error";

/// A launched network of 5 workers (3 gatekeepers) and a developer (key `seed`) funded by
/// governance.
pub(crate) fn launched_with_developer(name: &'static str, seed: u64) -> (Sim, PrivateKey) {
    let mut sim = Sim::new(name, 5, 3);
    sim.run_until(60, launched);
    let developer = PrivateKey::from_seed(seed);
    fund(&mut sim, &developer);
    (sim, developer)
}

/// Moves 100,000,000 from governance to `who`, in a block of its own.
pub(crate) fn fund(sim: &mut Sim, who: &PrivateKey) {
    let gov = sim.genesis.operator.clone();
    let to = who.public_key();
    let call = Call::Transfer {
        to,
        amount: 100_000_000,
    };
    sim.submit(&gov, call).unwrap();
    sim.block();
}

/// Uploads `code` (if new) and instantiates it on worker `miner`; waits for the key grant.
pub(crate) fn deploy(
    sim: &mut Sim,
    developer: &PrivateKey,
    code: &[u8],
    miner: usize,
) -> ContractId {
    let exists = sim
        .read(async |o| chain_contracts::code(o, &hash(code)).await)
        .unwrap()
        .is_some();
    if !exists {
        for (index, chunk) in code.chunks(CODE_CHUNK_BYTES).enumerate() {
            let upload = ContractCall::UploadCode {
                hash: hash(code),
                size: code.len() as u32,
                index: index as u32,
                chunk: chunk.to_vec(),
            };
            sim.submit(developer, Call::Contract(upload)).unwrap();
        }
        sim.block();
    }
    let (nonce, _) = sim.next_tx(&developer.public_key());
    let instantiate = ContractCall::Instantiate {
        code: hash(code),
        miner: sim.workers[miner].key(),
    };
    sim.submit(developer, Call::Contract(instantiate)).unwrap();
    let id = contract_id(&developer.public_key(), nonce);
    sim.run_until(20, |s| {
        s.read(async |o| chain_contracts::contract(o, &id).await)
            .unwrap()
            .is_some_and(|i| i.granted)
    });
    id
}

/// A value of the contract's storage map `name` under `key`, as its miner holds it.
fn stored(sim: &Sim, miner: usize, id: &ContractId, name: &[u8], key: &[u8]) -> u128 {
    let full = [&[name.len() as u8][..], name, key].concat();
    let snapshot = sim.workers[miner].rt.snapshot();
    snapshot.miner.running[id]
        .state
        .get(&full)
        .map_or(0, |v| u128::from_le_bytes(v.as_slice().try_into().unwrap()))
}

fn pay(to: &ContractId, amount: u128) -> Vec<u8> {
    [&[1u8][..], to.as_ref(), &amount.to_le_bytes()].concat()
}

fn ok(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Ok { output, .. } => output,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_token_pays_a_vault_on_another_miner_and_failures_restore_the_payment() {
    let (logs, _guard) = capture_logs();
    let (mut sim, developer) = launched_with_developer("contract-messages", 3001);
    let me = developer.public_key();
    let account: [u8; 32] = me.as_ref().try_into().unwrap();

    let token = deploy(&mut sim, &developer, &vm_support::example("token"), 4);
    let vault = deploy(&mut sim, &developer, &vm_support::example("vault"), 3);
    let trapper = deploy(&mut sim, &developer, &trapper(), 3);
    ok(send(
        &mut sim,
        &developer,
        &token,
        &10_000u128.to_le_bytes(),
    ));
    let vault_init = [token.as_ref(), &[10u8][..], &1_000u128.to_le_bytes()].concat();
    ok(send(&mut sim, &developer, &vault, &vault_init));
    ok(send(&mut sim, &developer, &trapper, &[]));

    let balance = |s: &Sim| stored(s, 4, &token, b"balances", &account);
    let vault_account = |s: &Sim| stored(s, 4, &token, b"balances", vault.as_ref());
    let deposit = |s: &Sim| stored(s, 3, &vault, b"deposits", &account);
    let in_flight = |s: &Sim| {
        let snapshot = s.workers[4].rt.snapshot();
        snapshot.miner.running[&token]
            .state
            .keys()
            .filter(|k| k.starts_with(b"\x09in_flight"))
            .count()
    };

    // A payment: held until the vault answers, then 900 kept and 100 paid back. The payment's
    // id is its sequence in the token's channel to the vault.
    let payment = 1_000u128;
    let id = ok(send(&mut sim, &developer, &token, &pay(&vault, payment)));
    assert_eq!(id, 0u64.to_le_bytes());
    sim.run_until(20, |s| deposit(s) == 900 && in_flight(s) == 0);
    assert_eq!((balance(&sim), vault_account(&sim)), (9_100, 900));
    let channel = sim
        .read(async |o| chain_contracts::channel(o, &token, &vault).await)
        .unwrap();
    assert_eq!((channel.sent, channel.replied), (1, 1));

    // Over the vault's limit (refused), to a contract that traps, and to one that does not
    // exist: each restored in full, nothing kept anywhere.
    let nowhere = hash(b"no such contract");
    for (to, amount) in [(vault, 5_000u128), (trapper, 77), (nowhere, 55)] {
        ok(send(&mut sim, &developer, &token, &pay(&to, amount)));
        sim.run_until(20, |s| balance(s) == 9_100 && in_flight(s) == 0);
        let channel = sim
            .read(async |o| chain_contracts::channel(o, &token, &to).await)
            .unwrap();
        assert_eq!(channel.sent, channel.replied);
    }
    assert_eq!((vault_account(&sim), deposit(&sim)), (900, 900));

    // Nothing waits to be posted, and nothing was posted twice.
    for w in [3, 4] {
        assert!(sim.workers[w].rt.contract_side_effects().is_empty());
        assert_eq!(sim.workers[w].rt.contract_messages_pending(), 0);
    }

    // The payment's plaintext (payer and amount) appears nowhere outside pRuntime: not in chain state, host traffic, logs or sealed files.
    let payload = [&account[..], &payment.to_le_bytes()].concat();
    let mut chain_state = Vec::new();
    for (k, v) in &sim.chain.state.0 {
        chain_state.extend_from_slice(k.as_ref());
        chain_state.extend_from_slice(v);
    }
    let logs = logs.lock().unwrap().clone();
    assert_absent("chain state", &chain_state, &payload);
    assert_absent("host traffic", &sim.traffic(), &payload);
    assert_absent("logs", &logs, &payload);
    for w in sim.workers.iter() {
        for f in files(&w.dir.0) {
            let bytes = std::fs::read(&f).unwrap();
            assert_absent(&format!("{}", f.display()), &bytes, &payload);
        }
    }
    // Every message ciphertext on chain is a bucket size.
    for m in &sim.chain.messages {
        if let Ok(veil_primitives::contract::ContractEgress::Message(msg)) =
            commonware_codec::DecodeExt::decode(m.payload.clone())
            && let Some(e) = msg.envelope
        {
            assert!(veil_primitives::contract::is_bucket(e.ciphertext.len()));
        }
    }
}

/// The attack: a contract's reply handler fails with an error whose text is contract data (an
/// `unwrap` on a balance, a formatted input); pRuntime logged it, and the host reads the logs.
#[test]
fn a_reply_handlers_error_text_reaches_no_log() {
    let (logs, _guard) = capture_logs();
    let (mut sim, developer) = launched_with_developer("reply-error-text", 3002);
    let replier = deploy(&mut sim, &developer, &failing_replier(), 3);
    ok(send(&mut sim, &developer, &replier, &[]));
    ok(send(&mut sim, &developer, &replier, &[]));
    let nowhere = ContractId::from([0u8; 32]);
    sim.run_until(20, |s| {
        s.read(async |o| chain_contracts::channel(o, &replier, &nowhere).await)
            .unwrap()
            .replied
            == 1
    });
    // The reply was relayed to the miner with the block that recorded it; one more round.
    sim.hosts();
    sim.block();
    let logs = logs.lock().unwrap().clone();
    assert!(!logs.is_empty(), "logs were captured");
    assert_absent("logs", &logs, CANARY.as_bytes());
}

/// The attack: commands piled up while a miner was offline (or a block full of commands whose
/// results are large) produce, in the batch that catches up, more result messages than the
/// egress queue takes, and the rest were dropped: those commands ran, but their senders never
/// learnt their results. No result is dropped now, and a batch like that is refused, so the
/// host sends fewer blocks and the queue stays bounded.
#[test]
fn a_catch_up_batch_with_more_results_than_fit_is_retried_smaller_and_loses_none() {
    let (logs, _guard) = capture_logs();
    let (mut sim, developer) = launched_with_developer("result-backlog", 3004);
    // Three contracts on worker 4: one result message each per batch.
    let contracts: Vec<ContractId> = (0..3)
        .map(|_| {
            let id = deploy(&mut sim, &developer, &trapper(), 4);
            ok(send(&mut sim, &developer, &id, &[]));
            id
        })
        .collect();
    // A queue that takes one result message a batch stands in for the 2,040 of a real one.
    sim.workers[4].rt.limit_results_per_batch(1);
    sim.workers[4].offline = true;
    let mut sent = Vec::new();
    for id in &contracts {
        let (nonce, sealed) = crate::contracts::seal(&sim, &developer, id, &[]);
        sim.submit(&developer, Call::Contract(sealed.call)).unwrap();
        sim.block();
        sent.push((*id, nonce));
    }
    sim.workers[4].offline = false;
    let miner = sim.workers[4].key();
    let me = developer.public_key();
    let answered = |s: &Sim| {
        sent.iter()
            .filter(|(id, nonce)| {
                veil_client::command::find_result(&s.chain.messages, &miner, id, &me, *nonce)
                    .is_some()
            })
            .count()
    };
    sim.run_until(20, |s| answered(s) == sent.len());
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("the batch was too large for pRuntime; sending fewer blocks"),
        "the catch-up batch was refused and sent again smaller"
    );
}
