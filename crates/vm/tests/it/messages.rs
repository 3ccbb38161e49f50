//! Messages between contracts: what a call sends, what it pays, and that a failed call sends
//! nothing; the token's payment and the vault's answer through the `message` entry.

use veil_primitives::contract::MessageOutcome;
use veil_vm::{Entry, Failure, fuel, message_input, reply_input};

use crate::execute::{ALICE, amount, balance, fixture, token};
use crate::support::{Contract, FUEL, example};

const VAULT: [u8; 32] = [0x7a; 32];
const TOKEN: [u8; 32] = [0xc0; 32];
/// The SDK's default message fuel.
const MESSAGE_FUEL: u64 = 1_000_000;

fn pay(to: [u8; 32], amount: u128) -> Vec<u8> {
    [&[1u8][..], &to, &amount.to_le_bytes()].concat()
}

fn payment(payer: [u8; 32], amount: u128) -> Vec<u8> {
    [&payer[..], &amount.to_le_bytes()].concat()
}

#[test]
fn a_payment_is_a_numbered_message_paid_by_the_sender() {
    let mut token = token();
    let first = token.call(Entry::Command, ALICE, pay(VAULT, 100), FUEL);
    assert_eq!(first.result, Ok(0u64.to_le_bytes().to_vec()), "{first:?}");
    assert_eq!(first.messages.len(), 1);
    let m = &first.messages[0];
    assert_eq!((m.to, m.sequence, m.fuel), (VAULT, 0, MESSAGE_FUEL));
    assert_eq!(m.payload, payment(ALICE, 100));
    // The destination's handler and the reply's are paid by this call.
    assert!(first.fuel_used > fuel::SEND + 2 * MESSAGE_FUEL);
    // The next one to the same contract is numbered after it.
    let second = token.call(Entry::Command, ALICE, pay(VAULT, 50), FUEL);
    assert_eq!(second.messages[0].sequence, 1);
    assert_eq!(second.result, Ok(1u64.to_le_bytes().to_vec()));
    // A payment the payer cannot afford fails and sends nothing.
    let refused = token.call(Entry::Command, ALICE, pay(VAULT, 10_000), FUEL);
    assert!(matches!(
        refused.result,
        Err(Failure::Error { code: 1, .. })
    ));
    assert!(refused.messages.is_empty());
    // Too little fuel to pay for the message: out of fuel, nothing sent.
    let starved = token.call(Entry::Command, ALICE, pay(VAULT, 1), 2 * MESSAGE_FUEL);
    assert_eq!(starved.result, Err(Failure::OutOfFuel));
    assert!(starved.messages.is_empty() && starved.changes.is_empty());
}

#[test]
fn replies_settle_payments_through_the_message_entry() {
    let mut token = token();
    for _ in 0..3 {
        token
            .call(Entry::Command, ALICE, pay(VAULT, 100), FUEL)
            .result
            .unwrap();
    }
    // The vault kept 90 of the first, refused the second, and never ran for the third.
    let outcomes = [
        MessageOutcome::Ok(10u128.to_le_bytes().to_vec()),
        MessageOutcome::Err(1),
        MessageOutcome::NotDelivered,
    ];
    for (id, outcome) in outcomes.iter().enumerate() {
        let settled = token.call(
            Entry::Message,
            VAULT,
            reply_input(&VAULT, id as u64, outcome),
            FUEL,
        );
        assert!(settled.result.is_ok(), "{settled:?}");
    }
    let alice = token
        .call(Entry::Query, ALICE, balance(ALICE), FUEL)
        .result
        .unwrap();
    assert_eq!(amount(&alice), 1_000 - 90);
    // A reply to nothing in flight is refused.
    let stray = token.call(
        Entry::Message,
        VAULT,
        reply_input(&VAULT, 9, &outcomes[2]),
        FUEL,
    );
    assert!(
        matches!(stray.result, Err(Failure::Error { code: 5, .. })),
        "{stray:?}"
    );
}

#[test]
fn the_vault_answers_with_its_refund_or_its_error() {
    let mut vault = Contract::new(&example("vault"));
    let init = [&TOKEN[..], &[10u8], &1_000u128.to_le_bytes()].concat();
    vault.call(Entry::Init, ALICE, init, FUEL).result.unwrap();
    let kept = vault.call(
        Entry::Message,
        TOKEN,
        message_input(&TOKEN, 0, &payment(ALICE, 500)),
        FUEL,
    );
    assert_eq!(kept.result, Ok(50u128.to_le_bytes().to_vec()));
    let over = vault.call(
        Entry::Message,
        TOKEN,
        message_input(&TOKEN, 1, &payment(ALICE, 5_000)),
        FUEL,
    );
    assert!(matches!(over.result, Err(Failure::Error { code: 1, .. })));
    let zero = vault.call(
        Entry::Message,
        TOKEN,
        message_input(&TOKEN, 2, &payment(ALICE, 0)),
        FUEL,
    );
    assert!(matches!(zero.result, Err(Failure::Trap(_))), "{zero:?}");
    assert!(zero.changes.is_empty());
}

const SEND: &str = r#"(import "veil" "send" (func $send (param i32 i32 i32 i64) (result i64)))"#;

#[test]
fn sends_are_bounded_and_never_leave_a_query_or_a_failed_call() {
    let send = |fuel: u64| {
        format!("(drop (call $send (i32.const 0) (i32.const 0) (i32.const 4) (i64.const {fuel})))")
    };
    // A query may not send.
    let mut contract = fixture(SEND, &send(1_000));
    let query = contract.call(Entry::Query, ALICE, vec![], FUEL);
    assert!(
        matches!(&query.result, Err(Failure::Trap(r)) if r.contains("read-only")),
        "{query:?}"
    );
    assert_eq!(
        contract
            .call(Entry::Command, ALICE, vec![], FUEL)
            .messages
            .len(),
        1
    );
    // No fuel, or more than a message may carry.
    for fuel in [0, veil_primitives::contract::MAX_MESSAGE_FUEL + 1] {
        let outcome = fixture(SEND, &send(fuel)).call(Entry::Command, ALICE, vec![], u64::MAX / 4);
        assert!(
            matches!(outcome.result, Err(Failure::Trap(_))),
            "{outcome:?}"
        );
    }
    // Seventeen messages in one call.
    let outcome = fixture(SEND, &send(1).repeat(17)).call(Entry::Command, ALICE, vec![], FUEL);
    assert!(
        matches!(&outcome.result, Err(Failure::Trap(r)) if r.contains("at most 16")),
        "{outcome:?}"
    );
    assert!(outcome.messages.is_empty());
    // A message, then a trap: nothing leaves.
    let outcome = fixture(SEND, &format!("{} unreachable", send(1))).call(
        Entry::Command,
        ALICE,
        vec![],
        FUEL,
    );
    assert!(matches!(outcome.result, Err(Failure::Trap(_))));
    assert!(outcome.messages.is_empty());
}
