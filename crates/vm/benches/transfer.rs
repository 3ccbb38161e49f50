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
use std::time::Instant;

use support::{Contract, FUEL, example};
use veil_example_token::{Command, Init, Token};
use veil_sdk::{AccountId, mock::MockHost};
use veil_vm::{Entry, Limits, Vm};

const ALICE: [u8; 32] = [0xa1; 32];
const RECIPIENTS: u64 = 1_000;

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
        .map_or(20_000, |n| n.parse().expect("--transfers N"));
    let wasm = example("token");

    let started = Instant::now();
    let rounds = 100;
    for _ in 0..rounds {
        black_box(Vm::new(Limits::default()).deploy(&wasm).expect("deploys"));
    }
    let deploy = started.elapsed() / rounds;

    let mut storage = BTreeMap::new();
    storage.insert(balance_key(&ALICE), (u128::MAX / 2).to_le_bytes().to_vec());
    let started = Instant::now();
    for i in 0..transfers {
        black_box(native_transfer(&mut storage, &ALICE, &recipient(i), 1).expect("funded"));
    }
    let native = started.elapsed();

    let mut host = MockHost::new();
    host.set_caller(AccountId(ALICE));
    host.init::<Token>(&Init {
        supply: u128::MAX / 2,
    })
    .expect("init");
    let native_transfer = |host: &mut MockHost, i: u64| {
        host.command::<Token>(&Command::Transfer {
            to: AccountId(recipient(i)),
            amount: 1,
        })
        .expect("funded")
    };
    for i in 0..RECIPIENTS {
        native_transfer(&mut host, i);
    }
    let started = Instant::now();
    for i in 0..transfers {
        black_box(native_transfer(&mut host, i));
    }
    let same_code = started.elapsed();

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
    for i in 0..RECIPIENTS {
        token
            .call(Entry::Command, ALICE, transfer(recipient(i)), FUEL)
            .result
            .unwrap();
    }
    let started = Instant::now();
    let mut fuel = 0;
    for i in 0..transfers {
        let outcome = token.call(Entry::Command, ALICE, transfer(recipient(i)), FUEL);
        outcome.result.expect("transfer succeeds");
        fuel = outcome.fuel_used;
    }
    let vm = started.elapsed();

    let query_fuel = token.call(Entry::Query, ALICE, vec![1], FUEL).fuel_used;
    let started = Instant::now();
    for _ in 0..transfers {
        // `total_supply`: one storage read, so nearly all of it is instantiation.
        black_box(
            token
                .call(Entry::Query, ALICE, vec![1], FUEL)
                .result
                .unwrap(),
        );
    }
    let empty = started.elapsed();

    let per = |elapsed: std::time::Duration| elapsed.as_secs_f64() * 1e6 / transfers as f64;
    let rate = |elapsed: std::time::Duration| transfers as f64 / elapsed.as_secs_f64();
    println!(
        "token transfer, {transfers} transfers over {RECIPIENTS} recipients, one thread, {}",
        if fresh {
            "a new instance per call"
        } else {
            "kept instances"
        }
    );
    println!(
        "  native bound        {:>9.2} µs  {:>12.0} /s",
        per(native),
        rate(native)
    );
    println!(
        "  the contract native {:>9.2} µs  {:>12.0} /s",
        per(same_code),
        rate(same_code)
    );
    println!(
        "  VM (execute)        {:>9.2} µs  {:>12.0} /s",
        per(vm),
        rate(vm)
    );
    println!(
        "  VM query (total)    {:>9.2} µs  {:>12.0} /s",
        per(empty),
        rate(empty)
    );
    println!(
        "  VM / native         {:>9.1} x",
        vm.as_secs_f64() / native.as_secs_f64()
    );
    println!(
        "  VM / the contract native {:>4.1} x",
        vm.as_secs_f64() / same_code.as_secs_f64()
    );
    println!("  fuel per transfer   {fuel:>9}");
    println!("  fuel per query      {query_fuel:>9}");
    println!(
        "  deploy (validate, compile, instantiate once) {:.2} ms",
        deploy.as_secs_f64() * 1e3
    );
}
