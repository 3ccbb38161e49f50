//! Execution: the example contracts end to end, failures that change nothing, determinism,
//! read-only queries, randomness and limits.

use veil_vm::{Entry, Failure};

use crate::deploy::{module, module_with};
use crate::support::{Contract, FUEL, example, wat};

pub(crate) const ALICE: [u8; 32] = [0xa1; 32];
const BOB: [u8; 32] = [0xb0; 32];
const MALLORY: [u8; 32] = [0x66; 32];

fn init(supply: u128) -> Vec<u8> {
    supply.to_le_bytes().to_vec()
}

fn transfer(to: [u8; 32], amount: u128) -> Vec<u8> {
    [&[0u8][..], &to, &amount.to_le_bytes()].concat()
}

pub(crate) fn balance(who: [u8; 32]) -> Vec<u8> {
    [&[0u8][..], &who].concat()
}

pub(crate) fn amount(bytes: &[u8]) -> u128 {
    u128::from_le_bytes(bytes.try_into().expect("a u128"))
}

pub(crate) fn token() -> Contract {
    let mut token = Contract::new(&example("token"));
    token
        .call(Entry::Init, ALICE, init(1_000), FUEL)
        .result
        .unwrap();
    token
}

#[test]
fn the_token_moves_funds_and_answers_balances_only_to_their_owner() {
    let mut token = token();
    let sent = token.call(Entry::Command, ALICE, transfer(BOB, 300), FUEL);
    assert_eq!(sent.result, Ok(vec![]));
    let event = &sent.events[0];
    assert_eq!(event[..32], ALICE);
    assert_eq!(event[32..64], BOB);
    assert_eq!(amount(&event[64..]), 300);

    let mine = token.call(Entry::Query, ALICE, balance(ALICE), FUEL);
    assert_eq!(amount(&mine.result.unwrap()), 700);
    let bobs = token.call(Entry::Query, BOB, balance(BOB), FUEL);
    assert_eq!(amount(&bobs.result.unwrap()), 300);
    let total = token.call(Entry::Query, MALLORY, vec![1], FUEL);
    assert_eq!(amount(&total.result.unwrap()), 1_000);

    let snooping = token.call(Entry::Query, MALLORY, balance(ALICE), FUEL);
    assert!(
        matches!(snooping.result, Err(Failure::Error { code: 2, .. })),
        "{snooping:?}"
    );
}

#[test]
fn a_refused_or_garbled_command_changes_nothing() {
    let mut token = token();
    let before = token.storage.clone();
    let refused = token.call(Entry::Command, BOB, transfer(ALICE, 1), FUEL);
    assert_eq!(
        refused.result,
        Err(Failure::Error {
            code: 1,
            message: "insufficient balance".into()
        })
    );
    assert!(refused.changes.is_empty() && refused.events.is_empty());
    let garbled = token.call(Entry::Command, ALICE, vec![0, 1, 2], FUEL);
    assert!(matches!(
        garbled.result,
        Err(Failure::Error {
            code: 0xffff_0001,
            ..
        })
    ));
    let unknown = token.call(Entry::Command, ALICE, vec![9], FUEL);
    assert!(matches!(
        unknown.result,
        Err(Failure::Error {
            code: 0xffff_0001,
            ..
        })
    ));
    assert_eq!(token.storage, before);
}

#[test]
fn running_out_of_fuel_changes_nothing_and_spends_the_limit() {
    let mut token = token();
    let before = token.storage.clone();
    let starved = token.call(Entry::Command, ALICE, transfer(BOB, 1), 5_000);
    assert_eq!(starved.result, Err(Failure::OutOfFuel));
    assert_eq!(starved.fuel_used, 5_000);
    assert!(starved.changes.is_empty());
    assert_eq!(token.storage, before);

    let spinning = module_with(
        SET,
        r#"(func (export "spin") (call $set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
             (loop $forever (br $forever)))"#,
    )
    .replace(
        r#"(func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))"#,
        "",
    )
    .replace(r#"(export "spin")"#, r#"(export "handle_command")"#);
    let mut looping = Contract::new(&wat(&spinning));
    let outcome = looping.call(Entry::Command, ALICE, vec![], 1_000_000);
    assert_eq!(outcome.result, Err(Failure::OutOfFuel));
    assert!(outcome.changes.is_empty() && looping.storage.is_empty());
}

/// A fixture whose `handle_command` and `handle_query` run `body` instead of answering.
pub(crate) fn fixture(imports: &str, body: &str) -> Contract {
    let text = module_with(
        imports,
        &format!(
            r#"(func $body {body})
           (func (export "handle_command") (call $body) (call $out (i32.const 0) (i32.const 1)))
           (func (export "handle_query") (call $body) (call $out (i32.const 0) (i32.const 1)))"#
        ),
    )
    .replace(
        r#"(func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))"#,
        "",
    )
    .replace(
        r#"(func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))"#,
        "",
    );
    Contract::new(&wat(&text))
}

const SET: &str = r#"(import "veil" "storage_set" (func $set (param i32 i32 i32 i32)))"#;

#[test]
fn a_trap_after_a_write_changes_nothing() {
    let mut contract = fixture(
        SET,
        "(call $set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)) unreachable",
    );
    let outcome = contract.call(Entry::Command, ALICE, vec![], FUEL);
    assert!(
        matches!(outcome.result, Err(Failure::Trap(_))),
        "{outcome:?}"
    );
    assert!(outcome.changes.is_empty() && contract.storage.is_empty());
}

#[test]
fn a_query_that_writes_is_trapped() {
    let mut contract = fixture(
        SET,
        "(call $set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))",
    );
    let outcome = contract.call(Entry::Query, ALICE, vec![], FUEL);
    assert!(
        matches!(&outcome.result, Err(Failure::Trap(reason)) if reason.contains("read-only")),
        "{outcome:?}"
    );
    // The same code as a command writes.
    contract
        .call(Entry::Command, ALICE, vec![], FUEL)
        .result
        .unwrap();
    assert_eq!(contract.storage.len(), 1);
}

/// A module reading storage with `storage_read` and `value_read`: one-byte keys from `keys`
/// at 100, the handlers' bodies `command` and `query`, and an outcome built at 1000 (zero).
fn reader(keys: &str, command: &str, query: &str) -> Contract {
    let text = format!(
        r#"(module
        (import "veil" "output_write" (func $out (param i32 i32)))
        (import "veil" "storage_read" (func $read (param i32 i32 i32 i32) (result i64)))
        (import "veil" "value_read" (func $value (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 100) "{keys}")
        (func (export "init") (call $out (i32.const 1000) (i32.const 1)))
        (func (export "handle_command") {command})
        (func (export "handle_query") {query})
        (func (export "handle_message") (call $out (i32.const 1000) (i32.const 1))))"#
    );
    Contract::new(&wat(&text))
}

/// `storage_read` writes a value that fits its room at once, keeps a larger one for
/// `value_read` without writing any of it, and leaves nothing behind after one that fit.
#[test]
fn storage_read_writes_what_fits_and_keeps_the_rest_for_value_read() {
    let mut contract = reader(
        "skz",
        "(i64.store (i32.const 1001)
            (call $read (i32.const 100) (i32.const 1) (i32.const 1025) (i32.const 8)))
        (i64.store (i32.const 1009)
            (call $read (i32.const 101) (i32.const 1) (i32.const 1400) (i32.const 128)))
        (call $value (i32.const 1028))
        (i64.store (i32.const 1017)
            (call $read (i32.const 102) (i32.const 1) (i32.const 1025) (i32.const 8)))
        (call $out (i32.const 1000) (i32.const 528))",
        "(drop (call $read (i32.const 100) (i32.const 1) (i32.const 1025) (i32.const 8)))
        (call $value (i32.const 1028))
        (call $out (i32.const 1000) (i32.const 1))",
    );
    let storage = std::sync::Arc::make_mut(&mut contract.storage);
    storage.insert(b"s".to_vec(), b"abc".to_vec());
    storage.insert(b"k".to_vec(), vec![0x5a; 300]);

    let result = contract
        .call(Entry::Command, ALICE, vec![], FUEL)
        .result
        .unwrap();
    let length = |at: usize| i64::from_le_bytes(result[at..at + 8].try_into().unwrap());
    assert_eq!((length(0), length(8), length(16)), (3, 300, -1));
    assert_eq!(&result[24..27], b"abc");
    assert_eq!(result[27..327], [0x5a; 300]);
    assert!(
        result[327..].iter().all(|&b| b == 0),
        "a value larger than its room is not written there"
    );

    let outcome = contract.call(Entry::Query, ALICE, vec![], FUEL);
    assert!(
        matches!(&outcome.result, Err(Failure::Trap(reason)) if reason.contains("no value to read")),
        "{outcome:?}"
    );
}

/// Reading costs the same per byte however it is read: `storage_read` into room that fits, or
/// `storage_read` with no room then `value_read` (two units a byte: the read and the copy).
#[test]
fn storage_read_charges_every_byte_read_and_copied() {
    let mut contract = reader(
        "k",
        "(drop (call $read (i32.const 100) (i32.const 1) (i32.const 2000) (i32.const 4096)))
        (call $out (i32.const 1000) (i32.const 1))",
        "(drop (call $read (i32.const 100) (i32.const 1) (i32.const 2000) (i32.const 0)))
        (call $value (i32.const 2000))
        (call $out (i32.const 1000) (i32.const 1))",
    );
    let mut fuel = |entry, size: usize| {
        std::sync::Arc::make_mut(&mut contract.storage).insert(b"k".to_vec(), vec![1; size]);
        let outcome = contract.call(entry, ALICE, vec![], FUEL);
        assert_eq!(outcome.result, Ok(Vec::new()), "{entry:?} {size}");
        outcome.fuel_used
    };
    assert_eq!(fuel(Entry::Command, 201) - fuel(Entry::Command, 1), 400);
    assert_eq!(fuel(Entry::Query, 201) - fuel(Entry::Query, 1), 400);
}

/// A kept instance is reset to the module's image wherever a call wrote: inside a non-zero
/// data block, in the zeros between blocks, and past the last one; and it keeps nothing of the
/// caller's storage, which stays the caller's alone.
#[test]
fn a_kept_instance_is_reset_inside_between_and_after_its_data_blocks() {
    let text = r#"(module
        (import "veil" "output_write" (func $out (param i32 i32)))
        (memory (export "memory") 1)
        (data (i32.const 4096) "\00abc")
        (data (i32.const 12288) "xyz")
        (func $probe (param $at i32) (param $slot i32)
            (i32.store8 (i32.add (i32.const 30001) (local.get $slot)) (i32.load8_u (local.get $at)))
            (i32.store8 (local.get $at) (i32.const 0x77)))
        (func $run
            (call $probe (i32.const 4097) (i32.const 0))
            (call $probe (i32.const 8000) (i32.const 1))
            (call $probe (i32.const 12290) (i32.const 2))
            (call $probe (i32.const 20000) (i32.const 3))
            (call $probe (i32.const 65535) (i32.const 4))
            (call $out (i32.const 30000) (i32.const 6)))
        (func (export "init") (call $run))
        (func (export "handle_command") (call $run))
        (func (export "handle_query") (call $run))
        (func (export "handle_message") (call $run)))"#;
    let mut contract = Contract::new(&wat(text));
    for _ in 0..3 {
        for entry in [Entry::Command, Entry::Query] {
            let outcome = contract.call(entry, ALICE, vec![], FUEL);
            assert_eq!(outcome.result, Ok(b"a\0z\0\0".to_vec()), "{entry:?}");
            assert_eq!(
                std::sync::Arc::strong_count(&contract.storage),
                1,
                "the kept instance holds no reference to the caller's storage"
            );
        }
    }
    assert_eq!(contract.code.idle_instances(), 1);
}

/// The SDK reads a value larger than the room it starts with through `value_read`, whole: a
/// 200-byte balance (a corrupt one) reaches the decoder at its full length.
#[test]
fn the_sdk_reads_a_value_beyond_its_first_room_whole() {
    let mut token = token();
    let key = [&[8u8][..], b"balances", &ALICE].concat();
    std::sync::Arc::make_mut(&mut token.storage).insert(key, vec![7; 200]);
    let outcome = token.call(Entry::Query, ALICE, balance(ALICE), FUEL);
    assert!(
        matches!(&outcome.result, Err(Failure::Error { message, .. })
            if message.contains("184 bytes after the value")),
        "{outcome:?}"
    );
}

#[test]
fn pointers_outside_memory_trap_instead_of_touching_the_host() {
    let mut contract = fixture(
        SET,
        "(call $set (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 2))",
    );
    let outcome = contract.call(Entry::Command, ALICE, vec![], FUEL);
    assert!(
        matches!(&outcome.result, Err(Failure::Trap(reason)) if reason.contains("outside memory")),
        "{outcome:?}"
    );
}

/// The attack: an empty event costs fuel but no event bytes, so a call looping on it grew the
/// host's list by a million entries within its fuel. The count is capped where they are
/// emitted.
#[test]
fn a_call_emitting_events_without_end_traps_at_the_count_limit() {
    let emit = r#"(import "veil" "emit_event" (func $emit (param i32 i32)))"#;
    let mut contract = fixture(
        emit,
        "(loop $l (call $emit (i32.const 0) (i32.const 0)) (br $l))",
    );
    let outcome = contract.call(Entry::Command, ALICE, vec![], FUEL);
    assert!(
        matches!(&outcome.result, Err(Failure::Trap(reason)) if reason.contains("more than 256 events")),
        "{outcome:?}"
    );
    assert!(outcome.fuel_used < 1_000_000, "{}", outcome.fuel_used);
    let limit = veil_vm::Limits::default().max_events;
    let mut at_limit = fixture(
        emit,
        &format!(
            "(local i32)
             (loop $l
                 (call $emit (i32.const 0) (i32.const 0))
                 (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                 (br_if $l (i32.lt_u (local.get 0) (i32.const {limit}))))"
        ),
    );
    let outcome = at_limit.call(Entry::Command, ALICE, vec![], FUEL);
    assert_eq!(outcome.events.len(), limit, "{:?}", outcome.result);
}

/// An error message of invalid UTF-8 is converted lossily, which triples its bytes; it is cut
/// back so the reply still fits the output limit (pRuntime could not seal it otherwise).
#[test]
fn an_error_message_of_invalid_utf8_stays_within_the_bytes_written() {
    let len = 6_000;
    let text = module("").replace(
        r#"(func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))"#,
        &format!(
            r#"(func (export "handle_command")
                (i32.store8 (i32.const 100) (i32.const 1))
                (i32.store (i32.const 101) (i32.const 7))
                (i32.store (i32.const 105) (i32.const {len}))
                (memory.fill (i32.const 109) (i32.const 0xff) (i32.const {len}))
                (call $out (i32.const 100) (i32.const {})))"#,
            9 + len
        ),
    );
    let outcome = Contract::new(&wat(&text)).call(Entry::Command, ALICE, vec![], FUEL);
    match outcome.result {
        Err(Failure::Error { code: 7, message }) => {
            assert!(message.len() <= len, "{} bytes", message.len());
            assert!(message.starts_with('\u{fffd}'));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn memory_growth_stops_at_the_limit_and_recursion_at_its_depth() {
    // memory.grow past 16 MiB fails (returns -1) and the contract traps on it.
    let mut growing = fixture(
        "",
        "(if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))",
    );
    assert!(matches!(
        growing.call(Entry::Command, ALICE, vec![], FUEL).result,
        Err(Failure::Trap(_))
    ));
    let mut small = fixture("", "(drop (memory.grow (i32.const 10)))");
    small
        .call(Entry::Command, ALICE, vec![], FUEL)
        .result
        .unwrap();

    let mut deep = fixture("", "(call $body)");
    let outcome = deep.call(Entry::Command, ALICE, vec![], FUEL);
    assert!(
        matches!(outcome.result, Err(Failure::Trap(_))),
        "{outcome:?}"
    );
}

#[test]
fn execution_is_deterministic_across_vms_and_warm_or_cold_instances() {
    let run = |warmup: usize| {
        let mut token = token();
        for _ in 0..warmup {
            token
                .call(Entry::Query, ALICE, balance(ALICE), FUEL)
                .result
                .unwrap();
        }
        let fuel: Vec<u64> = (0..5u8)
            .map(|i| {
                token
                    .call(
                        Entry::Command,
                        ALICE,
                        transfer([i; 32], 10 + i as u128),
                        FUEL,
                    )
                    .fuel_used
            })
            .collect();
        (fuel, token.storage)
    };
    let (cold_fuel, cold_state) = run(0);
    let (warm_fuel, warm_state) = run(20);
    assert_eq!(cold_fuel, warm_fuel);
    assert_eq!(cold_state, warm_state);
    assert!(cold_fuel.iter().all(|&fuel| fuel > 0 && fuel < FUEL));
}

#[test]
fn randomness_is_a_function_of_key_block_and_index_and_absent_from_queries() {
    let draw = r#"(import "veil" "random" (func $random (param i32 i32)))"#;
    let text = module_with(
        draw,
        r#"(func (export "handle_command")
             (i32.store8 (i32.const 100) (i32.const 0))
             (call $random (i32.const 101) (i32.const 32))
             (call $out (i32.const 100) (i32.const 33)))"#,
    )
    .replace(
        r#"(func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))"#,
        "",
    );
    let fresh = || Contract::new(&wat(&text));
    let (mut a, mut b) = (fresh(), fresh());
    let first = a.call(Entry::Command, ALICE, vec![], FUEL).result.unwrap();
    assert_eq!(
        first,
        b.call(Entry::Command, BOB, vec![], FUEL).result.unwrap()
    );
    let second = a.call(Entry::Command, ALICE, vec![], FUEL).result.unwrap();
    assert_ne!(first, second, "another command index draws other bytes");
    a.height += 1;
    a.index = 0;
    assert_ne!(
        first,
        a.call(Entry::Command, ALICE, vec![], FUEL).result.unwrap()
    );

    // The stream is derived once per call (at its first draw) from the contract key, the
    // block hash and the command's index; a second draw continues it.
    let twice = module_with(
        draw,
        r#"(func (export "handle_command")
             (i32.store8 (i32.const 100) (i32.const 0))
             (call $random (i32.const 101) (i32.const 32))
             (call $random (i32.const 133) (i32.const 32))
             (call $out (i32.const 100) (i32.const 65)))"#,
    )
    .replace(
        r#"(func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))"#,
        "",
    );
    let mut c = Contract::new(&wat(&twice));
    c.height = 9;
    let drawn = c.call(Entry::Command, ALICE, vec![], FUEL).result.unwrap();
    let mut expected = [0u8; 64];
    let mut drbg = veil_crypto::drbg::Drbg::with_domain(
        veil_primitives::namespace::CONTRACT_DRBG,
        &[7; 32],
        &[9; 32],
        &c.index.to_be_bytes(),
    );
    drbg.fill(&mut expected[..32]);
    drbg.fill(&mut expected[32..]);
    assert_eq!(drawn, expected);

    let mut querying = fixture(draw, "(call $random (i32.const 0) (i32.const 8))");
    assert!(matches!(
        querying.call(Entry::Query, ALICE, vec![], FUEL).result,
        Err(Failure::Trap(_))
    ));
}

/// Deriving a call's random stream is paid by its first draw; each 32 bytes drawn cost
/// `RANDOM_BLOCK` (a loop of draws at the old price ran four times longer per unit of fuel).
#[test]
fn the_first_draw_pays_for_deriving_the_stream() {
    let draw = r#"(import "veil" "random" (func $random (param i32 i32)))"#;
    let fuel = |draws: usize| {
        let body = "(call $random (i32.const 200) (i32.const 32))".repeat(draws);
        let outcome = fixture(draw, &body).call(Entry::Command, ALICE, vec![], FUEL);
        outcome.result.unwrap();
        outcome.fuel_used
    };
    let (none, one, two) = (fuel(0), fuel(1), fuel(2));
    assert_eq!((one - none) - (two - one), veil_vm::fuel::RANDOM_SEED);
    assert!(two - one > veil_vm::fuel::RANDOM_BLOCK);
}

#[test]
fn the_auction_keeps_bids_sealed_until_the_close_height() {
    let mut auction = Contract::new(&example("auction"));
    auction.height = 10;
    auction
        .call(Entry::Init, ALICE, 20u64.to_le_bytes().to_vec(), FUEL)
        .result
        .unwrap();
    for (bidder, bid) in [(BOB, 70u128), (MALLORY, 50)] {
        let command = [&[0u8][..], &bid.to_le_bytes()].concat();
        auction
            .call(Entry::Command, bidder, command, FUEL)
            .result
            .unwrap();
    }
    let sealed = auction.call(Entry::Query, MALLORY, vec![2], FUEL);
    assert!(matches!(sealed.result, Err(Failure::Error { code: 2, .. })));
    auction.height = 20;
    let revealed = auction
        .call(Entry::Query, MALLORY, vec![2], FUEL)
        .result
        .unwrap();
    assert_eq!(revealed, [&[1u8][..], &BOB, &70u128.to_le_bytes()].concat());
}

#[test]
fn bulk_memory_is_charged_by_the_byte() {
    let fill = |len: u32| {
        let mut contract = fixture(
            "",
            &format!("(memory.fill (i32.const 0) (i32.const 0) (i32.const {len}))"),
        );
        let outcome = contract.call(Entry::Command, ALICE, vec![], FUEL);
        outcome.result.unwrap();
        outcome.fuel_used
    };
    // wasmi charges one unit per 64 bytes moved: a full page costs 1,024 more than a byte.
    assert_eq!(fill(65_536) - fill(1), 1_024);
}

/// Calls cost `CALL_FUEL`, not wasmi's default of one: a loop of calls would otherwise run
/// several times longer per unit of fuel than other code (each call sets up a frame and
/// zeroes the callee's locals).
#[test]
fn calls_are_charged_as_the_costliest_instruction() {
    let fuel = |call: &str| {
        let mut contract = fixture(
            "",
            &format!(
                "(local i32)
                 (loop $l {call}
                     (local.set 0 (i32.add (local.get 0) (i32.const 1)))
                     (br_if $l (i32.lt_u (local.get 0) (i32.const 100)))))
                 (func $callee (local i64 i64 i64 i64)"
            ),
        );
        let outcome = contract.call(Entry::Command, ALICE, vec![], FUEL);
        outcome.result.unwrap();
        outcome.fuel_used
    };
    // The call, and one for the callee's return.
    assert_eq!(
        fuel("(call $callee)") - fuel(""),
        100 * (u64::from(veil_vm::CALL_FUEL) + 1)
    );
}

/// A contract that counts its calls in memory and in a mutable global and answers both: any
/// state carried from one call to the next shows in the answer.
fn counter(extra: &str) -> Contract {
    let text = format!(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (memory (export "memory") 1)
            (global $calls (mut i32) (i32.const 0))
            (data (i32.const 0) "\00")
            (func $count
                (i32.store (i32.const 1) (i32.add (i32.load (i32.const 1)) (i32.const 1)))
                (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
                (i32.store (i32.const 5) (global.get $calls)))
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $count) {extra} (call $out (i32.const 0) (i32.const 9)))
            (func (export "handle_query") (call $count) (call $out (i32.const 0) (i32.const 9)))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1))))"#
    );
    Contract::new(&wat(&text))
}

const FIRST_CALL: [u8; 8] = [1, 0, 0, 0, 1, 0, 0, 0];

#[test]
fn a_kept_instance_starts_every_call_as_a_fresh_one() {
    let mut contract = counter("");
    for _ in 0..3 {
        for entry in [Entry::Command, Entry::Query] {
            let outcome = contract.call(entry, ALICE, vec![], FUEL);
            assert_eq!(outcome.result, Ok(FIRST_CALL.to_vec()), "{entry:?}");
        }
    }
    // The instance was kept, so the reset (not a new instance) gave each call its fresh state.
    assert_eq!(contract.code.idle_instances(), 1);
}

#[test]
fn an_instance_that_trapped_is_reset_and_kept_and_one_that_grew_is_not() {
    // The command traps after changing memory and a global: the next call must not see it.
    let mut trapping = counter("(if (i32.eqz (global.get $calls)) (then) (else unreachable))");
    for _ in 0..3 {
        assert!(matches!(
            trapping.call(Entry::Command, ALICE, vec![], FUEL).result,
            Err(Failure::Trap(_))
        ));
        assert_eq!(trapping.code.idle_instances(), 1, "reset and kept");
        assert_eq!(
            trapping.call(Entry::Query, ALICE, vec![], FUEL).result,
            Ok(FIRST_CALL.to_vec())
        );
    }

    let mut growing = counter("(drop (memory.grow (i32.const 1)))");
    for _ in 0..3 {
        assert_eq!(
            growing.call(Entry::Command, ALICE, vec![], FUEL).result,
            Ok(FIRST_CALL.to_vec())
        );
        assert_eq!(growing.code.idle_instances(), 0, "grown memory is dropped");
    }
}

/// What `veil contract build` reports of a module: its initial memory and whether its
/// instances are kept.
#[test]
fn code_reports_its_initial_memory_and_whether_instances_are_kept() {
    let token = token();
    assert_eq!(token.code.initial_pages(), 1);
    assert!(token.code.reuses_instances());
    let big = wat(&module("").replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 17)",
    ));
    let big = Contract::new(&big);
    assert_eq!(big.code.initial_pages(), 17);
    assert!(!big.code.reuses_instances());
}

#[test]
fn modules_that_can_change_tables_or_segments_run_fresh_every_call() {
    for (extra, body) in [
        (
            r#"(data $passive "\07")"#,
            "(memory.init $passive (i32.const 9) (i32.const 0) (i32.const 1)) (data.drop $passive)",
        ),
        (
            "(table 2 funcref) (elem (i32.const 0) $body $body)",
            "(table.copy (i32.const 0) (i32.const 1) (i32.const 1))",
        ),
        (r#"(global (export "veil:global:0") i32 (i32.const 0))"#, ""),
    ] {
        let text = module(&format!("{extra} (func $body {body})"));
        let mut contract = Contract::new(&wat(&text));
        assert_eq!(contract.code.idle_instances(), 0, "{extra}");
        contract
            .call(Entry::Command, ALICE, vec![], FUEL)
            .result
            .unwrap();
    }
}

#[test]
fn the_token_on_kept_instances_matches_fresh_instances_call_for_call() {
    let mut kept = token();
    let mut fresh = token();
    fresh.code = fresh.code.fresh_only();
    // Out of fuel halfway through a transfer (a trap): the kept instance is reset and reused.
    let starved = 1_500;
    let calls = [
        (Entry::Command, ALICE, transfer(BOB, 10), FUEL),
        (Entry::Query, ALICE, balance(ALICE), FUEL),
        (Entry::Command, ALICE, transfer(BOB, 5), starved),
        (Entry::Command, BOB, transfer(ALICE, 11), FUEL),
        (Entry::Command, BOB, transfer(MALLORY, 1), FUEL),
        (Entry::Query, MALLORY, balance(ALICE), FUEL),
        (Entry::Command, ALICE, vec![0xff, 1, 2], FUEL),
        (Entry::Query, ALICE, balance(ALICE), starved / 2),
        (Entry::Command, ALICE, transfer(MALLORY, 990), FUEL),
        (Entry::Query, BOB, balance(BOB), FUEL),
    ];
    let mut out_of_fuel = 0;
    for (entry, caller, input, fuel) in calls {
        let a = kept.call(entry, caller, input.clone(), fuel);
        let b = fresh.call(entry, caller, input, fuel);
        out_of_fuel += usize::from(a.result == Err(Failure::OutOfFuel));
        assert_eq!(
            (&a.result, &a.changes, &a.events, a.fuel_used),
            (&b.result, &b.changes, &b.events, b.fuel_used)
        );
    }
    assert_eq!(out_of_fuel, 2, "both starved calls ran out of fuel");
    assert_eq!(kept.storage, fresh.storage);
    assert_eq!(kept.code.idle_instances(), 1);
    assert_eq!(fresh.code.idle_instances(), 0);
}

#[test]
fn a_mutable_reference_global_never_crashes_the_reset() {
    // A funcref global's value belongs to the store it was read in: restoring it into another
    // instance's store panicked inside wasmi. A trap drops the deploy-time instance, so the
    // next call runs in a new store and its reset restores the global there.
    let text = module(r#"(global $f (mut funcref) (ref.func $body)) (func $body)"#).replace(
        r#"(func (export "handle_message") (call $out (i32.const 0) (i32.const 1)))"#,
        r#"(func (export "handle_message") unreachable)"#,
    );
    let mut contract = Contract::new(&wat(&text));
    assert_eq!(contract.code.idle_instances(), 0, "runs fresh every call");
    for _ in 0..3 {
        assert!(matches!(
            contract.call(Entry::Message, ALICE, vec![], FUEL).result,
            Err(Failure::Trap(_))
        ));
        contract
            .call(Entry::Command, ALICE, vec![], FUEL)
            .result
            .unwrap();
    }
}

#[test]
fn kept_instances_stay_within_the_vms_memory_budget() {
    let vm = veil_vm::Vm::new(veil_vm::Limits::default());
    // One page each; each module differs, as every contract's code may.
    let codes: Vec<_> = (0..1_100)
        .map(|i| {
            let text = module(&format!("(func (export \"f{i}\"))"));
            vm.deploy(&wat(&text)).unwrap()
        })
        .collect();
    assert_eq!(vm.kept_bytes(), 64 * 1024 * 1024);
    let kept = codes.iter().filter(|c| c.idle_instances() == 1).count();
    assert_eq!(kept, 1_024);
    // A module beyond the budget still runs, in a fresh instance.
    let mut last = Contract {
        vm,
        code: codes.last().unwrap().clone(),
        storage: Default::default(),
        height: 1,
        index: 0,
        sent: Default::default(),
    };
    assert_eq!(last.code.idle_instances(), 0);
    last.call(Entry::Command, ALICE, vec![], FUEL)
        .result
        .unwrap();
    drop(codes);
    // Dropped modules give their instances' memory back.
    assert_eq!(last.vm.kept_bytes(), 0);
}
