//! The confidential token's transfer in the VM against the same logic in native Rust, both
//! measured in this run.
//!
//! `cargo bench -p veil-vm --bench transfer [-- --transfers N]`
//!
//! Two native bounds. The first does what the contract does, on the same storage layout and
//! codec: read two balances, check and update them, write them back, encode the event. The
//! second is the token contract itself, the same Rust source, compiled natively and run
//! through the SDK's native host (`veil_sdk::mock`: the same encoded entry points, storage in
//! a map, writes undone on failure), so it carries the SDK's costs and only the VM's own cost
//! is left between it and the VM figure. The VM figure is a
//! whole `Vm::execute`: the call with fuel metering and host calls on a kept instance, its
//! reset to the initial memory and globals, and committing the writes; the one-read query
//! line shows a call's fixed cost. `--fresh` runs every call in a new instance instead.

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use support::{Contract, FUEL, example};
use veil_example_token::{Command, Init, Token};
use veil_sdk::{AccountId, mock::MockHost};
use veil_vm::{Entry, Limits, Vm};

const ALICE: [u8; 32] = [0xa1; 32];
const RECIPIENTS: u64 = 1_000;
/// Rounds the timed transfers are split into (odd: the median is one round's ratio).
const ROUNDS: u64 = 21;

fn recipient(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(i % RECIPIENTS).to_le_bytes());
    id
}

fn balance_key(who: &[u8; 32]) -> Vec<u8> {
    [&[8u8][..], b"balances", who].concat()
}

/// The token's transfer, natively, on the contract's storage layout.
fn native_transfer(
    storage: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    from: &[u8; 32],
    to: &[u8; 32],
    amount: u128,
) -> Option<Vec<u8>> {
    let read = |storage: &BTreeMap<Vec<u8>, Vec<u8>>, key: &[u8]| {
        storage
            .get(key)
            .map_or(0, |v| u128::from_le_bytes(v.as_slice().try_into().unwrap()))
    };
    let from_key = balance_key(from);
    let remaining = read(storage, &from_key).checked_sub(amount)?;
    storage.insert(from_key, remaining.to_le_bytes().to_vec());
    let to_key = balance_key(to);
    let credited = read(storage, &to_key).checked_add(amount)?;
    storage.insert(to_key, credited.to_le_bytes().to_vec());
    Some([&from[..], &to[..], &amount.to_le_bytes()].concat())
}

fn transfer(to: [u8; 32]) -> Vec<u8> {
    [&[0u8][..], &to, &1u128.to_le_bytes()].concat()
}

fn main() {
    let mut args = std::env::args().skip_while(|arg| arg != "--transfers");
    let transfers: u64 = args
        .nth(1)
        .map_or(21_000, |n| n.parse().expect("--transfers N"));
    let wasm = example("token");

    let started = Instant::now();
    let rounds = 100;
    for _ in 0..rounds {
        black_box(Vm::new(Limits::default()).deploy(&wasm).expect("deploys"));
    }
    let deploy = started.elapsed() / rounds;

    let mut storage = BTreeMap::new();
    storage.insert(balance_key(&ALICE), (u128::MAX / 2).to_le_bytes().to_vec());

    let mut host = MockHost::new();
    host.set_caller(AccountId(ALICE));
    host.init::<Token>(&Init {
        supply: u128::MAX / 2,
    })
    .expect("init");
    let native_contract = |host: &mut MockHost, i: u64| {
        host.command::<Token>(&Command::Transfer {
            to: AccountId(recipient(i)),
            amount: 1,
        })
        .expect("funded")
    };

    let fresh = std::env::args().any(|arg| arg == "--fresh");
    let mut token = Contract::new(&wasm);
    if fresh {
        token.code = token.code.fresh_only();
    }
    token
        .call(
            Entry::Init,
            ALICE,
            (u128::MAX / 2).to_le_bytes().to_vec(),
            FUEL,
        )
        .result
        .unwrap();
    // Every recipient funded once, so the timed transfers all update existing balances.
    for i in 0..RECIPIENTS {
        native_transfer(&mut storage, &ALICE, &recipient(i), 1).expect("funded");
        native_contract(&mut host, i);
        token
            .call(Entry::Command, ALICE, transfer(recipient(i)), FUEL)
            .result
            .unwrap();
    }

    // The three run in turn, round after round, so a change in the machine's speed during the
    // run (this one's varies by up to half between runs) falls on all of them alike, and each
    // ratio is per round; which goes first rotates, so none always follows the same one.
    let per_round = (transfers / ROUNDS).max(1);
    let mut rounds = [Vec::new(), Vec::new(), Vec::new()];
    let mut fuel = 0;
    for round in 0..ROUNDS {
        let first = round * per_round;
        for turn in 0..3 {
            let which = (turn + round as usize) % 3;
            let started = Instant::now();
            for i in first..first + per_round {
                match which {
                    0 => {
                        black_box(
                            native_transfer(&mut storage, &ALICE, &recipient(i), 1)
                                .expect("funded"),
                        );
                    }
                    1 => {
                        black_box(native_contract(&mut host, i));
                    }
                    _ => {
                        let outcome =
                            token.call(Entry::Command, ALICE, transfer(recipient(i)), FUEL);
                        outcome.result.expect("transfer succeeds");
                        fuel = outcome.fuel_used;
                    }
                }
            }
            rounds[which].push(started.elapsed());
        }
    }
    let [native, same_code, vm] = rounds;
    let transfers = per_round * ROUNDS;

    let query_fuel = token.call(Entry::Query, ALICE, vec![1], FUEL).fuel_used;
    let started = Instant::now();
    for _ in 0..transfers {
        // `total_supply`: one storage read, so nearly all of it is a call's fixed cost.
        black_box(
            token
                .call(Entry::Query, ALICE, vec![1], FUEL)
                .result
                .unwrap(),
        );
    }
    let empty = started.elapsed();

    let total = |rounds: &[Duration]| rounds.iter().sum::<Duration>();
    let per = |elapsed: Duration| elapsed.as_secs_f64() * 1e6 / transfers as f64;
    let rate = |elapsed: Duration| transfers as f64 / elapsed.as_secs_f64();
    println!(
        "token transfer, {transfers} transfers over {RECIPIENTS} recipients in {ROUNDS} rounds, \
         one thread, {}",
        if fresh {
            "a new instance per call"
        } else {
            "kept instances"
        }
    );
    for (name, rounds) in [
        ("native bound       ", &native),
        ("the contract native", &same_code),
        ("VM (execute)       ", &vm),
    ] {
        let elapsed = total(rounds);
        println!(
            "  {name} {:>9.2} µs  {:>12.0} /s",
            per(elapsed),
            rate(elapsed)
        );
    }
    println!(
        "  VM query (total)    {:>9.2} µs  {:>12.0} /s",
        per(empty),
        rate(empty)
    );
    for (name, bound) in [
        ("VM / native             ", &native),
        ("VM / the contract native", &same_code),
    ] {
        let (median, min, max) = ratios(&vm, bound);
        println!("  {name} {median:>5.2} x (rounds {min:.2}-{max:.2})");
    }
    println!("  fuel per transfer   {fuel:>9}");
    println!("  fuel per query      {query_fuel:>9}");
    println!(
        "  deploy (validate, compile, instantiate once) {:.2} ms",
        deploy.as_secs_f64() * 1e3
    );
}

/// The median, lowest and highest of the per-round ratios `a[i] / b[i]`.
fn ratios(a: &[Duration], b: &[Duration]) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    (median, ratios[0], ratios[ratios.len() - 1])
}
