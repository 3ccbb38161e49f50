use commonware_codec::EncodeSize;
use commonware_cryptography::Signer as _;
use futures::executor::block_on;
use veil_primitives::{
    AccountId, Call, ChainIdentity, Destination, GovernanceCall, Origin, Params, PrivateKey,
    SignedTransaction, Transaction, hash,
};

use crate::{
    BlockEnv, BlockError, GenesisState, MemoryState, TxError, balances, check_transaction,
    execute_block, genesis_changes, governance, overlay::Overlay, verify_signatures,
};

fn chain() -> ChainIdentity {
    ChainIdentity {
        chain_id: 7,
        genesis_hash: hash(b"genesis"),
    }
}

fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

fn setup() -> (MemoryState, PrivateKey, PrivateKey, PrivateKey) {
    let (alice, bob, gov) = (key(1), key(2), key(3));
    let genesis = GenesisState {
        chain_id: chain().chain_id,
        timestamp: 0,
        balances: vec![
            (alice.public_key(), 1_000_000),
            (gov.public_key(), 1_000_000),
        ],
        governance: gov.public_key(),
        params: Params::default(),
        consensus_key: vec![7; 96],
        registry: Default::default(),
        dev_attestation_key: None,
        allow_insecure_gatekeepers: false,
        dcap_root: None,
        staking: Default::default(),
        contracts: Default::default(),
        genesis_worker: None,
        genesis_attestation: None,
    };
    let mut state = MemoryState::default();
    state.apply(&block_on(genesis_changes(&genesis)).unwrap());
    (state, alice, bob, gov)
}

fn tx(from: &PrivateKey, nonce: u64, call: Call) -> SignedTransaction {
    Transaction {
        sender: from.public_key(),
        nonce,
        expiry: 100,
        call,
    }
    .sign(from, &chain())
}

fn env(height: u64) -> BlockEnv {
    BlockEnv {
        chain: chain(),
        height,
        timestamp: height * 1000,
        parent: hash(&height.saturating_sub(1).to_be_bytes()),
    }
}

fn free(state: &MemoryState, who: &AccountId) -> u128 {
    block_on(balances::account(&Overlay::new(state), who))
        .unwrap()
        .free
}

#[test]
fn transfer_moves_funds_and_pays_its_fee_into_the_reward_pool() {
    let (mut state, alice, bob, _) = setup();
    let t = tx(
        &alice,
        0,
        Call::Transfer {
            to: bob.public_key(),
            amount: 500,
        },
    );
    let fee = Params::default().fee(t.encode_size());
    let out = block_on(execute_block(&state, &env(1), &[t])).unwrap();
    assert_eq!(out.receipts[0].result, Ok(()));
    assert_eq!(out.receipts[0].fee, fee);
    state.apply(&out.changes);
    assert_eq!(free(&state, &alice.public_key()), 1_000_000 - 500 - fee);
    assert_eq!(free(&state, &bob.public_key()), 500);
    let o = Overlay::new(&state);
    assert_eq!(block_on(balances::total_issuance(&o)).unwrap(), 2_000_000);
    assert_eq!(block_on(crate::liveness::pool(&o)).unwrap(), fee);
}

#[test]
fn failed_call_pays_fee_and_changes_nothing_else() {
    let (mut state, alice, bob, _) = setup();
    let t = tx(
        &alice,
        0,
        Call::Transfer {
            to: bob.public_key(),
            amount: 10_000_000,
        },
    );
    let fee = Params::default().fee(t.encode_size());
    let out = block_on(execute_block(&state, &env(1), &[t])).unwrap();
    assert!(matches!(
        out.receipts[0].result,
        Err(TxError::InsufficientBalance { .. })
    ));
    state.apply(&out.changes);
    assert_eq!(free(&state, &alice.public_key()), 1_000_000 - fee);
    assert_eq!(free(&state, &bob.public_key()), 0);
}

#[test]
fn wrong_nonce_or_expiry_invalidates_block() {
    let (state, alice, bob, _) = setup();
    let t = tx(
        &alice,
        1,
        Call::Transfer {
            to: bob.public_key(),
            amount: 1,
        },
    );
    let err = block_on(execute_block(&state, &env(1), &[t])).unwrap_err();
    assert!(matches!(
        err,
        BlockError::InvalidTransaction {
            index: 0,
            error: TxError::BadNonce {
                expected: 0,
                got: 1
            }
        }
    ));
    let t = tx(
        &alice,
        0,
        Call::Transfer {
            to: bob.public_key(),
            amount: 1,
        },
    );
    let err = block_on(execute_block(&state, &env(101), &[t])).unwrap_err();
    assert!(matches!(
        err,
        BlockError::InvalidTransaction {
            error: TxError::Expired { .. },
            ..
        }
    ));
    // The same nonce twice in one block: the second is a replay.
    let a = tx(
        &alice,
        0,
        Call::Transfer {
            to: bob.public_key(),
            amount: 1,
        },
    );
    let err = block_on(execute_block(&state, &env(1), &[a.clone(), a])).unwrap_err();
    assert!(matches!(
        err,
        BlockError::InvalidTransaction { index: 1, .. }
    ));
}

#[test]
fn mempool_checks_give_clear_errors() {
    let (state, alice, bob, _) = setup();
    let ok = tx(
        &alice,
        0,
        Call::Transfer {
            to: bob.public_key(),
            amount: 1,
        },
    );
    let admissible = block_on(check_transaction(&state, &ok, &env(1))).unwrap();
    assert_eq!(admissible.account.nonce, 0);
    // It spends its fee and the amount it moves.
    assert_eq!(admissible.spend, admissible.fee + 1);
    let poor = tx(
        &bob,
        0,
        Call::Transfer {
            to: alice.public_key(),
            amount: 1,
        },
    );
    let e = block_on(check_transaction(&state, &poor, &env(1))).unwrap_err();
    assert!(e.to_string().contains("insufficient balance"), "{e}");
    let mut expired = ok.clone();
    expired.transaction.expiry = 0;
    let e = block_on(check_transaction(&state, &expired, &env(6))).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    let far = tx(
        &alice,
        1000,
        Call::Transfer {
            to: bob.public_key(),
            amount: 1,
        },
    );
    assert!(block_on(check_transaction(&state, &far, &env(1))).is_err());
}

#[test]
fn signatures_are_bound_to_the_chain() {
    let (_, alice, bob, _) = setup();
    let t = tx(
        &alice,
        0,
        Call::Transfer {
            to: bob.public_key(),
            amount: 1,
        },
    );
    assert!(t.verify(&chain()));
    let other = ChainIdentity {
        chain_id: 8,
        ..chain()
    };
    assert!(!t.verify(&other));
    let other = ChainIdentity {
        genesis_hash: hash(b"other"),
        ..chain()
    };
    assert!(!t.verify(&other));
    let mut tampered = t.clone();
    tampered.transaction.nonce = 1;
    let mut rng = rand::rng();
    assert_eq!(
        verify_signatures(&mut rng, &chain(), &[t.clone(), tampered]),
        Err(1)
    );
    assert_eq!(verify_signatures(&mut rng, &chain(), &[t]), Ok(()));
}

#[test]
fn only_governance_sets_params() {
    let (mut state, alice, _, gov) = setup();
    let params = Params {
        base_fee: 5,
        ..Params::default()
    };
    let bad = tx(
        &alice,
        0,
        Call::Governance(GovernanceCall::SetParams(params.clone())),
    );
    let out = block_on(execute_block(&state, &env(1), &[bad])).unwrap();
    assert_eq!(out.receipts[0].result, Err(TxError::NotGovernance));
    let good = tx(
        &gov,
        0,
        Call::Governance(GovernanceCall::SetParams(params.clone())),
    );
    let out = block_on(execute_block(&state, &env(1), &[good])).unwrap();
    assert_eq!(out.receipts[0].result, Ok(()));
    state.apply(&out.changes);
    assert_eq!(
        block_on(governance::params(&Overlay::new(&state))).unwrap(),
        params
    );
}

#[test]
fn mq_assigns_one_sequence_per_origin() {
    let (mut state, alice, bob, _) = setup();
    let dest = Destination::Topic(b"gatekeeper".to_vec());
    let send = |k: &PrivateKey, n| {
        tx(
            k,
            n,
            Call::SendMessage {
                destination: dest.clone(),
                payload: vec![n as u8],
            },
        )
    };
    let out = block_on(execute_block(
        &state,
        &env(1),
        &[send(&alice, 0), send(&alice, 1)],
    ))
    .unwrap();
    state.apply(&out.changes);
    let seqs: Vec<u64> = out.messages.iter().map(|m| m.sequence).collect();
    assert_eq!(seqs, vec![0, 1]);
    assert_eq!(out.messages[0].origin, Origin::Account(alice.public_key()));
    let out = block_on(execute_block(&state, &env(2), &[send(&alice, 2)])).unwrap();
    assert_eq!(out.messages[0].sequence, 2);
    let _ = bob;
}

#[test]
fn execution_is_deterministic() {
    let (state, alice, bob, _) = setup();
    let txs: Vec<_> = (0..20)
        .map(|n| {
            tx(
                &alice,
                n,
                Call::Transfer {
                    to: bob.public_key(),
                    amount: n as u128,
                },
            )
        })
        .collect();
    let a = block_on(execute_block(&state, &env(1), &txs)).unwrap();
    let b = block_on(execute_block(&state, &env(1), &txs)).unwrap();
    assert_eq!(a.changes, b.changes);
    assert_eq!(a.receipts, b.receipts);
}
