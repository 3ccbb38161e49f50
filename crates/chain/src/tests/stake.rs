//! Bonds, candidacy, nominations and the Phragmén gatekeeper election, on registered
//! workers.

use veil_primitives::{Election, StakingCall, StakingParams};

use super::*;
use crate::staking::{ELECTION_TOPIC, Ledger, StakingError, ledger};

/// Rounds stay open long enough that no test here reaches a deadline by accident.
pub(super) fn params() -> StakingParams {
    StakingParams {
        n_gatekeepers: 3,
        gatekeeper_min_bond: 10_000,
        nominator_min_bond: 1_000,
        election_period_blocks: 10,
        unbond_delay_blocks: 2_001,
        distribution_deadline_blocks: 1_000,
        slash_ppm: 100_000,
        ..Default::default()
    }
}

fn net() -> Net {
    net_with(params())
}

pub(super) fn net_with(p: StakingParams) -> Net {
    let mut net = Net::new(true);
    set_params(&mut net, p);
    net
}

pub(super) fn set_params(net: &mut Net, p: StakingParams) {
    let gov = net.gov.clone();
    net.run(&gov, Call::Governance(GovernanceCall::SetStakingParams(p)))
        .0
        .unwrap();
}

/// A gatekeeper's readiness confirmation for `round`, as its next worker message.
pub(super) fn ready(net: &Net, w: &Worker, round: u64, root_key: &[u8; 32]) -> Call {
    let sequence = block_on(crate::mq::next_sequence(
        &Overlay::new(&net.state),
        &Origin::Worker(w.key.public_key()),
    ))
    .unwrap();
    Call::WorkerMessage(Box::new(
        WorkerMessage {
            sender: w.key.public_key(),
            destination: Destination::Topic(veil_primitives::READY_TOPIC.to_vec()),
            sequence,
            payload: veil_primitives::Ready {
                round,
                key_check: veil_primitives::root_key_check(0, root_key),
            }
            .encode()
            .to_vec(),
        }
        .sign(&w.key, &chain()),
    ))
}

pub(super) fn staking(net: &mut Net, who: &PrivateKey, call: StakingCall) -> Result<(), TxError> {
    net.run(who, Call::Staking(call)).0
}

fn refused(e: StakingError) -> Result<(), TxError> {
    Err(TxError::Staking(Box::new(e)))
}

fn ledger_of(net: &Net, who: &PrivateKey) -> Ledger {
    block_on(ledger(&Overlay::new(&net.state), &who.public_key())).unwrap()
}

/// Registers `w` operated by `op` at its own endpoint and backs it with `bond`.
pub(super) fn candidate(net: &mut Net, op: &PrivateKey, w: &Worker, bond: u128) {
    let endpoint: &'static str = Box::leak(format!("http://w{}", w.ecdh[0]).into_boxed_str());
    net.run(
        op,
        build(Spec {
            operator: op.public_key(),
            endpoint,
            ..net.spec(w)
        }),
    )
    .0
    .unwrap();
    staking(net, op, StakingCall::Bond { amount: bond }).unwrap();
    staking(
        net,
        op,
        StakingCall::Candidate {
            worker: w.key.public_key(),
        },
    )
    .unwrap();
}

/// Runs empty blocks up to the next election; returns its result and the announcement.
pub(super) fn next_election(net: &mut Net) -> (Election, Vec<Election>) {
    let period = params().election_period_blocks;
    let mut announced = Vec::new();
    loop {
        let out = net.block(Vec::new());
        announced.extend(
            out.messages
                .iter()
                .filter(|m| m.destination == Destination::Topic(ELECTION_TOPIC.to_vec()))
                .map(|m| Election::decode(m.payload.clone()).unwrap()),
        );
        if net.height.is_multiple_of(period) {
            let stored = block_on(crate::gatekeeper::election(&Overlay::new(&net.state)))
                .unwrap()
                .unwrap();
            return (stored, announced);
        }
    }
}

#[test]
fn bonds_unbond_after_the_delay() {
    let mut net = net();
    let who = PrivateKey::from_seed(104);
    let free = |net: &Net| {
        block_on(balances::account(
            &Overlay::new(&net.state),
            &who.public_key(),
        ))
        .unwrap()
        .free
    };
    staking(&mut net, &who, StakingCall::Bond { amount: 5_000 }).unwrap();
    assert_eq!(ledger_of(&net, &who).bonded, 5_000);
    assert_eq!(
        staking(&mut net, &who, StakingCall::Unbond { amount: 6_000 }),
        refused(StakingError::NotEnoughBonded {
            amount: 6_000,
            bonded: 5_000
        })
    );
    staking(&mut net, &who, StakingCall::Unbond { amount: 2_000 }).unwrap();
    let unlock_at = net.height + params().unbond_delay_blocks;
    assert_eq!(
        ledger_of(&net, &who),
        Ledger {
            bonded: 3_000,
            unlocking: vec![(2_000, unlock_at)]
        }
    );
    // Too early: nothing moves.
    let before = free(&net);
    staking(&mut net, &who, StakingCall::WithdrawUnbonded).unwrap();
    assert_eq!(ledger_of(&net, &who).unlocking.len(), 1);
    let after_early = free(&net);
    assert!(after_early < before, "only the fee was paid");
    while net.height < unlock_at {
        net.block(Vec::new());
    }
    let tx = net.tx(&who, Call::Staking(StakingCall::WithdrawUnbonded));
    let out = net.block(vec![tx]);
    assert_eq!(out.receipts[0].result, Ok(()));
    assert!(ledger_of(&net, &who).unlocking.is_empty());
    assert_eq!(free(&net) + out.receipts[0].fee, after_early + 2_000);
}

#[test]
fn roles_have_rules() {
    let mut net = net();
    let (op, other) = (net.operator.clone(), PrivateKey::from_seed(104));
    let w = worker(1);
    net.run(&op, build(net.spec(&w))).0.unwrap();
    let id = w.key.public_key();
    // Someone else's worker.
    staking(&mut net, &other, StakingCall::Bond { amount: 20_000 }).unwrap();
    assert_eq!(
        staking(
            &mut net,
            &other,
            StakingCall::Candidate { worker: id.clone() }
        ),
        refused(StakingError::NotYourWorker(veil_primitives::to_hex(&id)))
    );
    // Too little bond.
    staking(&mut net, &op, StakingCall::Bond { amount: 500 }).unwrap();
    assert_eq!(
        staking(&mut net, &op, StakingCall::Candidate { worker: id.clone() }),
        refused(StakingError::BondTooSmall {
            needed: 10_000,
            bonded: 500
        })
    );
    staking(&mut net, &op, StakingCall::Bond { amount: 10_000 }).unwrap();
    staking(&mut net, &op, StakingCall::Candidate { worker: id.clone() }).unwrap();
    // A backer may not nominate, nor unbond below the candidate minimum.
    assert_eq!(
        staking(
            &mut net,
            &op,
            StakingCall::Nominate {
                targets: vec![id.clone()]
            }
        ),
        refused(StakingError::OtherRole)
    );
    assert_eq!(
        staking(&mut net, &op, StakingCall::Unbond { amount: 1_000 }),
        refused(StakingError::WouldUnderbond {
            left: 9_500,
            needed: 10_000
        })
    );
    // Nominations name candidates only, 1 to 16 of them.
    let stranger = worker(9).key.public_key();
    assert_eq!(
        staking(
            &mut net,
            &other,
            StakingCall::Nominate {
                targets: vec![stranger.clone()]
            }
        ),
        refused(StakingError::NotACandidate(veil_primitives::to_hex(
            &stranger
        )))
    );
    assert_eq!(
        staking(&mut net, &other, StakingCall::Nominate { targets: vec![] }),
        refused(StakingError::BadTargets)
    );
    staking(
        &mut net,
        &other,
        StakingCall::Nominate {
            targets: vec![id.clone()],
        },
    )
    .unwrap();
    assert_eq!(
        staking(
            &mut net,
            &other,
            StakingCall::Candidate { worker: id.clone() }
        ),
        refused(StakingError::NotYourWorker(veil_primitives::to_hex(&id)))
    );
    // Chill lifts the role and its minimum.
    staking(&mut net, &op, StakingCall::Chill).unwrap();
    staking(&mut net, &op, StakingCall::Unbond { amount: 10_500 }).unwrap();
}

#[test]
fn a_dev_worker_is_no_gatekeeper_unless_genesis_allows_it() {
    // Dev attestation proves nothing, and a gatekeeper holds the root key: a chain that
    // accepts dev workers still refuses them as candidates unless genesis says otherwise.
    let mut net = Net::without_insecure_gatekeepers();
    set_params(&mut net, params());
    let (op, w) = (net.operator.clone(), worker(1));
    net.run(&op, build(net.spec(&w))).0.unwrap();
    assert!(net.worker(&w.key.public_key()).unwrap().insecure);
    staking(&mut net, &op, StakingCall::Bond { amount: 20_000 }).unwrap();
    let id = w.key.public_key();
    assert_eq!(
        staking(&mut net, &op, StakingCall::Candidate { worker: id.clone() }),
        refused(StakingError::InsecureWorker(veil_primitives::to_hex(&id)))
    );
    // The registry counts it, so status need not scan.
    let insecure = block_on(crate::registry::insecure_count(&Overlay::new(&net.state)));
    assert_eq!(insecure.unwrap(), 1);

    // Where genesis allows insecure gatekeepers (a devnet), the same worker stands.
    let mut devnet = net_with(params());
    devnet.run(&op, build(devnet.spec(&w))).0.unwrap();
    staking(&mut devnet, &op, StakingCall::Bond { amount: 20_000 }).unwrap();
    staking(&mut devnet, &op, StakingCall::Candidate { worker: id }).unwrap();
}

#[test]
fn staking_params_that_would_let_a_backer_escape_or_elections_run_unbounded_are_refused() {
    let mut net = net();
    let gov = net.gov.clone();
    let mut set = |p: StakingParams| {
        net.run(&gov, Call::Governance(GovernanceCall::SetStakingParams(p)))
            .0
    };
    // A backer or nominator could chill, unbond and withdraw before the round it backs
    // expires, or before the era it stood behind a gatekeeper in is judged.
    for (period, deadline) in [(10, 1_000), (1_000, 10)] {
        assert_eq!(
            set(StakingParams {
                unbond_delay_blocks: 1_010,
                election_period_blocks: period,
                distribution_deadline_blocks: deadline,
                ..params()
            }),
            Err(TxError::InvalidParams(
                "unbond_delay_blocks must exceed election_period_blocks + distribution_deadline_blocks"
            ))
        );
    }
    // Nominators with nothing at stake would make elections cost without bound.
    assert_eq!(
        set(StakingParams {
            nominator_min_bond: 0,
            ..params()
        }),
        Err(TxError::InvalidParams(
            "nominator_min_bond must be positive"
        ))
    );
    assert!(
        set(StakingParams {
            max_candidates: veil_primitives::MAX_CANDIDATES_CAP + 1,
            ..params()
        })
        .is_err()
    );
    assert_eq!(set(params()), Ok(()));
}

#[test]
fn candidates_and_nominators_are_capped() {
    // The caps bound what an election (run inside one block) reads and computes.
    let mut net = net_with(StakingParams {
        max_candidates: 2,
        max_nominators: 1,
        ..params()
    });
    let workers: Vec<Worker> = (1..4).map(worker).collect();
    let ops: Vec<PrivateKey> = (104..107).map(PrivateKey::from_seed).collect();
    candidate(&mut net, &ops[0], &workers[0], 20_000);
    candidate(&mut net, &ops[1], &workers[1], 20_000);
    let (op, w) = (&ops[2], &workers[2]);
    net.run(
        op,
        build(Spec {
            operator: op.public_key(),
            endpoint: "http://w3",
            ..net.spec(w)
        }),
    )
    .0
    .unwrap();
    staking(&mut net, op, StakingCall::Bond { amount: 20_000 }).unwrap();
    let third = StakingCall::Candidate {
        worker: w.key.public_key(),
    };
    assert_eq!(
        staking(&mut net, op, third.clone()),
        refused(StakingError::Full {
            role: "candidate",
            max: 2
        })
    );
    // A candidate's backer renews freely; a chill makes room.
    let first = StakingCall::Candidate {
        worker: workers[0].key.public_key(),
    };
    staking(&mut net, &ops[0], first).unwrap();
    staking(&mut net, &ops[0], StakingCall::Chill).unwrap();
    staking(&mut net, op, third).unwrap();

    let targets = vec![workers[1].key.public_key()];
    let (n1, n2) = (PrivateKey::from_seed(103), net.operator.clone());
    for n in [&n1, &n2] {
        staking(&mut net, n, StakingCall::Bond { amount: 5_000 }).unwrap();
    }
    let nominate = StakingCall::Nominate { targets };
    staking(&mut net, &n1, nominate.clone()).unwrap();
    assert_eq!(
        staking(&mut net, &n2, nominate.clone()),
        refused(StakingError::Full {
            role: "nominator",
            max: 1
        })
    );
    staking(&mut net, &n1, nominate.clone()).unwrap();
}

#[test]
fn elections_follow_stake_and_skip_deregistered_workers() {
    // No election while candidates line up.
    let mut net = net_with(StakingParams {
        election_period_blocks: 1_000,
        ..params()
    });
    let ops: Vec<PrivateKey> = (104..108).map(PrivateKey::from_seed).collect();
    let workers: Vec<Worker> = (1..5).map(worker).collect();
    for (op, w) in ops.iter().zip(&workers) {
        candidate(&mut net, op, w, 20_000);
    }
    // A heavy nominator backs workers 2 and 3: both must be elected.
    let nominator = net.operator.clone();
    staking(&mut net, &nominator, StakingCall::Bond { amount: 500_000 }).unwrap();
    staking(
        &mut net,
        &nominator,
        StakingCall::Nominate {
            targets: vec![workers[2].key.public_key(), workers[3].key.public_key()],
        },
    )
    .unwrap();
    set_params(&mut net, params());
    let (first, announced) = next_election(&mut net);
    assert_eq!(announced, vec![first.clone()]);
    assert_eq!(first.round, 1);
    // Before launch the genesis node holds the key, and gatekeepers must end with its key.
    assert_eq!(first.holders, vec![genesis_holder()]);
    assert_eq!(
        first.key_check,
        veil_primitives::root_key_check(0, &ROOT_KEY)
    );
    assert_eq!(first.deadline, first.height + 1_000);
    assert_eq!(first.gatekeepers.len(), 3);
    assert!(first.is_elected(&workers[2].key.public_key()));
    assert!(first.is_elected(&workers[3].key.public_key()));
    // Each with its registered X25519 key.
    for g in &first.gatekeepers {
        assert_eq!(net.worker(&g.worker).unwrap().ecdh_key, g.ecdh_key);
    }

    // While the round waits for confirmations, no periodic election replaces it.
    let (still, announced) = next_election(&mut net);
    assert_eq!((still.round, announced.len()), (1, 0));
    let relayer = net.operator.clone();
    for g in first.workers() {
        let w = workers.iter().find(|w| &w.key.public_key() == g).unwrap();
        let call = ready(&net, w, first.round, &ROOT_KEY);
        net.run(&relayer, call).0.unwrap();
    }

    // Governance moves to new code, which one gatekeeper runs already (it renewed on it while
    // both were allowed; a policy deregistering every key holder is refused): the next
    // election seats it alone.
    let gov = net.gov.clone();
    let set = |net: &mut Net, allowlist: Vec<Measurement>| {
        let p = RegistryParams {
            allowlist,
            ..policy()
        };
        net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
            .0
            .unwrap();
    };
    let newer = Measurement::Dev(vec![1; 32]);
    set(
        &mut net,
        vec![Measurement::Dev(MEASUREMENT.to_vec()), newer.clone()],
    );
    let i = workers
        .iter()
        .position(|w| w.key.public_key() == first.gatekeepers[0].worker)
        .unwrap();
    let (op, keeper) = (&ops[i], &workers[i]);
    let endpoint = net.worker(&keeper.key.public_key()).unwrap().endpoint;
    let renewal = Spec {
        operator: op.public_key(),
        endpoint: Box::leak(endpoint.into_boxed_str()),
        measurement: [1; 32],
        ..net.spec(keeper)
    };
    net.run(op, build(renewal)).0.unwrap();
    set(&mut net, vec![newer]);
    let (second, _) = next_election(&mut net);
    assert_eq!(second.round, first.round + 1);
    assert_eq!(
        second.workers().cloned().collect::<Vec<_>>(),
        vec![keeper.key.public_key()],
        "every other candidate ran revoked code"
    );
}

#[test]
fn exposures_of_any_size_are_kept_whole_and_replaced_at_the_next_election() {
    use crate::staking::{Exposure, Seated, exposure, set_exposures};
    let mut state = MemoryState::default();
    let worker = PrivateKey::from_seed(1).public_key();
    // More nominators than a page holds: every one is kept (each shares the slashes).
    let others: Vec<(AccountId, u128)> = (0..2_500u64)
        .map(|i| {
            let n = PrivateKey::from_seed(10_000 + i).public_key();
            (n, 1_000_000_000_000u128 - i as u128)
        })
        .collect();
    let seated = Seated {
        worker: worker.clone(),
        ecdh_key: [0; 32],
        backer: worker.clone(),
        exposure: Exposure {
            own: 7,
            others: others.clone(),
        },
    };
    let mut o = Overlay::new(&state);
    block_on(set_exposures(&mut o, &[], &[seated])).unwrap();
    let changes = o.into_changes();
    state.apply(&changes);
    let largest = state.0.values().map(Vec::len).max().unwrap();
    assert!(largest <= veil_primitives::MAX_STATE_VALUE, "{largest}");
    let kept = block_on(exposure(&Overlay::new(&state), &worker)).unwrap();
    assert_eq!((kept.own, kept.others), (7, others));
    // The next election replaces it: nothing of it is left in state.
    let mut o = Overlay::new(&state);
    block_on(set_exposures(&mut o, std::slice::from_ref(&worker), &[])).unwrap();
    let changes = o.into_changes();
    state.apply(&changes);
    assert!(state.0.is_empty(), "{} values left", state.0.len());
    assert_eq!(
        block_on(exposure(&Overlay::new(&state), &worker)).unwrap(),
        Exposure::default()
    );
}
