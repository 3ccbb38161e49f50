//! Responsiveness monitoring: activity counted per era from routed side effects, and the ¼
//! rule judged at each era's end over the workers registered for the whole era.

use veil_primitives::{
    HEARTBEAT_TOPIC, StakingCall, StakingParams, WorkerMessage,
    liveness::{EraRecord, LIVENESS_TOPIC, LivenessEvent},
};

use super::{
    launch::read,
    stake::{candidate, net_with, params, set_params, staking},
    *,
};
use crate::{balances, gatekeeper, liveness, staking as chain_staking};

/// Eras of 10 blocks (two heartbeat slots of 5), and three registered workers.
fn net() -> (Net, Vec<Worker>) {
    let mut net = net_with(StakingParams {
        election_period_blocks: 10,
        ..params()
    });
    let workers: Vec<Worker> = (1..=3).map(worker).collect();
    let op = net.operator.clone();
    for (w, endpoint) in workers.iter().zip(["http://w1", "http://w2", "http://w3"]) {
        let spec = Spec {
            endpoint,
            ..net.spec(w)
        };
        net.run(&op, build(spec)).0.unwrap();
    }
    (net, workers)
}

/// Blocks until the next era (of 10 blocks) begins; returns what the chain said on the
/// liveness topic then.
fn next_era(net: &mut Net) -> Vec<LivenessEvent> {
    next_era_of(net, 10)
}

/// [next_era] for eras of `period` blocks.
fn next_era_of(net: &mut Net, period: u64) -> Vec<LivenessEvent> {
    loop {
        let out = net.block(vec![]);
        if net.height.is_multiple_of(period) {
            return out
                .messages
                .iter()
                .filter(|m| m.destination == Destination::Topic(LIVENESS_TOPIC.to_vec()))
                .map(|m| commonware_codec::DecodeExt::decode(m.payload.clone()).unwrap())
                .collect();
        }
    }
}

fn heartbeat(net: &mut Net, w: &Worker, sequence: u64) {
    let relayer = net.operator.clone();
    let call = Call::WorkerMessage(Box::new(
        WorkerMessage {
            sender: w.key.public_key(),
            destination: Destination::Topic(HEARTBEAT_TOPIC.to_vec()),
            sequence,
            payload: vec![0; 40],
        }
        .sign(&w.key, &chain()),
    ));
    net.run(&relayer, call).0.unwrap();
}

#[test]
fn a_silent_worker_is_found_unresponsive_a_slow_one_is_not_and_an_idle_era_judges_nobody() {
    let (mut net, workers) = net();
    // The era the workers registered in is not judged: they were not there when it began.
    assert!(next_era(&mut net).is_empty());
    let judged_era = net.height / 10;

    // Worker 1 is active in both heartbeat slots of the era (three messages in the first count
    // once), worker 2 in one (half: slow but alive), worker 3 in none.
    let mut sequences = [0u64; 3];
    let mut beat = |net: &mut Net, i: usize| {
        heartbeat(net, &workers[i], sequences[i]);
        sequences[i] += 1;
    };
    for i in [0, 0, 0, 1] {
        beat(&mut net, i);
    }
    while net.height % 10 < 5 {
        net.block(vec![]);
    }
    beat(&mut net, 0);
    let counted = read(&net, async |o| {
        liveness::activity(o, judged_era, &workers[0].key.public_key()).await
    })
    .unwrap();
    assert_eq!(counted, 2);
    let events = next_era(&mut net);
    assert_eq!(
        events,
        [LivenessEvent::Unresponsive {
            worker: workers[2].key.public_key(),
            era: judged_era,
            activity: 0,
            max: 2,
            slashed: 0,
        }]
    );
    let record = read(&net, async |o| liveness::era_record(o, judged_era).await).unwrap();
    assert_eq!(
        record,
        Some(EraRecord {
            judged: 3,
            unresponsive: 1,
            max: 2,
            slashed: 0,
            paid: record.map_or(0, |r| r.paid),
        })
    );
    // The judged era's counts stay readable through the next era, then go.
    let still = read(&net, async |o| {
        liveness::activity(o, judged_era, &workers[0].key.public_key()).await
    })
    .unwrap();
    assert_eq!(still, 2);

    // An idle era (the most active below the minimum) judges nobody.
    beat(&mut net, 0);
    assert!(next_era(&mut net).is_empty());
    let idle = read(&net, async |o| {
        liveness::era_record(o, judged_era + 1).await
    })
    .unwrap();
    assert_eq!(idle.map(|r| (r.unresponsive, r.max)), Some((0, 1)));
    let gone = read(&net, async |o| {
        liveness::activity(o, judged_era, &workers[0].key.public_key()).await
    })
    .unwrap();
    assert_eq!(gone, 0);
}

fn bonded(net: &Net, who: &PrivateKey) -> u128 {
    read(net, async |o| {
        chain_staking::ledger(o, &who.public_key()).await
    })
    .unwrap()
    .bonded
}

#[test]
fn the_unresponsive_are_slashed_into_the_pool_which_pays_the_responsive_and_only_issuance_mints() {
    // Eras of 20 blocks: four heartbeat slots of 5.
    let p = StakingParams {
        election_period_blocks: 20,
        n_gatekeepers: 2,
        ..params()
    };
    let mut net = net_with(p.clone());
    let ops: Vec<PrivateKey> = (104..107).map(PrivateKey::from_seed).collect();
    let workers: Vec<Worker> = (1..=3).map(worker).collect();
    // Workers 1 and 2 stand as gatekeepers; worker 3 is a miner whose operator has a bond.
    candidate(&mut net, &ops[0], &workers[0], 20_000);
    candidate(&mut net, &ops[1], &workers[1], 20_000);
    let op = ops[2].clone();
    net.run(
        &op,
        build(Spec {
            operator: op.public_key(),
            endpoint: "http://w3",
            ..net.spec(&workers[2])
        }),
    )
    .0
    .unwrap();
    staking(&mut net, &op, StakingCall::Bond { amount: 100_000 }).unwrap();
    // The next era: all three are registered as it begins, and the election seats 1 and 2.
    next_era_of(&mut net, 20);
    let seated = |net: &Net| -> Vec<AccountId> {
        read(net, async |o| gatekeeper::election(o).await)
            .unwrap()
            .unwrap()
            .gatekeepers
            .into_iter()
            .map(|g| g.worker)
            .collect()
    };
    assert_eq!(seated(&net).len(), 2);
    let era = net.height / 20;

    // Gatekeeper 1 and the miner heartbeat in every slot; gatekeeper 2 is silent.
    let mut sequences = [0u64; 3];
    let mut era_of_beats = |net: &mut Net| {
        for slot in 0..4 {
            for i in [0, 2] {
                heartbeat(net, &workers[i], sequences[i]);
                sequences[i] += 1;
            }
            // On to the next slot, but not into the next era.
            while slot < 3 && !net.height.is_multiple_of(5) {
                net.block(vec![]);
            }
        }
    };
    era_of_beats(&mut net);
    let issuance = |net: &Net| read(net, async |o| balances::total_issuance(o).await).unwrap();
    let before = issuance(&net);
    let pool_before = read(&net, async |o| liveness::pool(o).await).unwrap();
    assert!(pool_before > 0, "fees went into the pool");
    let events = next_era_of(&mut net, 20);

    // The silent gatekeeper's backer loses 5% of its bond into the pool, and its candidacy, so
    // the next election passes it over.
    assert_eq!(
        events,
        [LivenessEvent::Unresponsive {
            worker: workers[1].key.public_key(),
            era,
            activity: 0,
            max: 4,
            slashed: 1_000,
        }]
    );
    assert_eq!(bonded(&net, &ops[1]), 19_000);
    let backs = |net: &Net, who: &PrivateKey| {
        read(net, async |o| {
            chain_staking::roles(o, &who.public_key()).await
        })
        .unwrap()
        .1
    };
    assert_eq!(backs(&net, &ops[1]), None);
    assert_eq!(backs(&net, &ops[0]), Some(workers[0].key.public_key()));
    // The pool, slash included, goes to gatekeeper 1's backer (weight 2) and the miner's
    // operator (weight 1); the remainder of the division stays.
    let pool = pool_before + 1_000;
    let reward = |net: &Net, who: &PrivateKey| {
        read(net, async |o| liveness::rewards(o, &who.public_key()).await).unwrap()
    };
    let (gk, miner) = (reward(&net, &ops[0]), reward(&net, &ops[2]));
    assert_eq!((gk, miner), (pool * 2 / 3, pool / 3));
    assert_eq!(reward(&net, &ops[1]), 0);
    let left = read(&net, async |o| liveness::pool(o).await).unwrap();
    assert_eq!(left, pool - gk - miner);
    let record = read(&net, async |o| liveness::era_record(o, era).await)
        .unwrap()
        .unwrap();
    assert_eq!((record.slashed, record.paid), (1_000, gk + miner));
    // Fees and slashes moved tokens around; nothing was minted or burnt.
    assert_eq!(issuance(&net), before);

    // With an era issuance, the supply grows by exactly that at each era's end, into the pool.
    set_params(
        &mut net,
        StakingParams {
            era_issuance: 5_000,
            ..p
        },
    );
    let before = issuance(&net);
    let pool = read(&net, async |o| liveness::pool(o).await).unwrap();
    next_era_of(&mut net, 20);
    assert_eq!(issuance(&net), before + 5_000);
    // Nobody was active enough to judge: the pool keeps it for the next era.
    let after = read(&net, async |o| liveness::pool(o).await).unwrap();
    assert_eq!(after, pool + 5_000);
}

/// The attack: nominating a gatekeeper risked nothing, so stake could back a gatekeeper that
/// would go silent at no cost (and earned nothing, so honest stake had no reason to nominate).
/// Now the nominators exposed at the election lose the same share of their stake in it as its
/// backer, however they rearrange their bonds afterwards, and share its rewards.
#[test]
fn nominators_share_their_gatekeepers_slashes_and_rewards() {
    let p = StakingParams {
        election_period_blocks: 20,
        n_gatekeepers: 2,
        ..params()
    };
    // No election until everyone stands: the first one comes at the era after the setup.
    let mut net = net_with(StakingParams {
        election_period_blocks: 1_000,
        ..p.clone()
    });
    let mut registry = read(&net, async |o| crate::registry::params(o).await).unwrap();
    registry.registration_blocks = 10_000;
    let gov = net.gov.clone();
    let call = Call::Governance(veil_primitives::GovernanceCall::SetRegistryParams(registry));
    net.run(&gov, call).0.unwrap();
    let ops: Vec<PrivateKey> = (104..107).map(PrivateKey::from_seed).collect();
    let workers: Vec<Worker> = (1..=3).map(worker).collect();
    candidate(&mut net, &ops[0], &workers[0], 20_000);
    candidate(&mut net, &ops[1], &workers[1], 20_000);
    let op = ops[2].clone();
    let spec = Spec {
        operator: op.public_key(),
        endpoint: "http://w3",
        ..net.spec(&workers[2])
    };
    net.run(&op, build(spec)).0.unwrap();
    // Nominators: `loyal` backs the responsive gatekeeper, `deserter` the silent one, `split`
    // both (half its bond each).
    let [loyal, deserter, split] = [110, 111, 112].map(PrivateKey::from_seed);
    let (good, silent) = (workers[0].key.public_key(), workers[1].key.public_key());
    for (n, targets) in [
        (&loyal, vec![good.clone()]),
        (&deserter, vec![silent.clone()]),
        (&split, vec![good.clone(), silent.clone()]),
    ] {
        let fund = Call::Transfer {
            to: n.public_key(),
            amount: 100_000,
        };
        net.run(&gov, fund).0.unwrap();
        staking(&mut net, n, StakingCall::Bond { amount: 10_000 }).unwrap();
        staking(&mut net, n, StakingCall::Nominate { targets }).unwrap();
    }
    set_params(&mut net, p);
    next_era_of(&mut net, 20);
    let exposure = |net: &Net, w: &AccountId| {
        read(net, async |o| chain_staking::exposure(o, w).await).unwrap()
    };
    assert_eq!(
        exposure(&net, &silent),
        chain_staking::Exposure {
            own: 20_000,
            others: vec![(deserter.public_key(), 10_000), (split.public_key(), 5_000)],
        }
    );
    // The deserter chills and unbonds everything right after the election: no escape.
    staking(&mut net, &deserter, StakingCall::Chill).unwrap();
    staking(&mut net, &deserter, StakingCall::Unbond { amount: 10_000 }).unwrap();
    let era = net.height / 20;

    let mut sequences = [0u64; 3];
    for slot in 0..4 {
        for i in [0, 2] {
            heartbeat(&mut net, &workers[i], sequences[i]);
            sequences[i] += 1;
        }
        while slot < 3 && !net.height.is_multiple_of(5) {
            net.block(vec![]);
        }
    }
    let issuance = |net: &Net| read(net, async |o| balances::total_issuance(o).await).unwrap();
    let before = issuance(&net);
    let pool_before = read(&net, async |o| liveness::pool(o).await).unwrap();
    let events = next_era_of(&mut net, 20);

    // 5% of the backer's 20,000, of the deserter's 10,000 (taken from its unbonding chunk) and
    // of the 5,000 `split` had on the silent gatekeeper.
    assert_eq!(
        events,
        [LivenessEvent::Unresponsive {
            worker: silent.clone(),
            era,
            activity: 0,
            max: 4,
            slashed: 1_000 + 500 + 250,
        }]
    );
    let ledger = |net: &Net, who: &PrivateKey| {
        read(net, async |o| {
            chain_staking::ledger(o, &who.public_key()).await
        })
        .unwrap()
    };
    let left = ledger(&net, &deserter);
    assert_eq!(left.bonded, 0);
    assert_eq!(left.unlocking.iter().map(|(a, _)| a).sum::<u128>(), 9_500);
    assert_eq!(bonded(&net, &split), 9_750);
    assert_eq!(bonded(&net, &loyal), 10_000);

    // The responsive gatekeeper's two thirds of the pool: 10% commission to its backer, the
    // rest by stake (backer 20,000, loyal 10,000, split 5,000).
    let reward = |net: &Net, who: &PrivateKey| {
        read(net, async |o| liveness::rewards(o, &who.public_key()).await).unwrap()
    };
    let pool = pool_before + 1_750;
    let gk = pool * 2 / 3;
    let commission = gk / 10;
    let rest = gk - commission;
    assert_eq!(reward(&net, &ops[0]), commission + rest * 20_000 / 35_000);
    assert_eq!(reward(&net, &loyal), rest * 10_000 / 35_000);
    assert_eq!(reward(&net, &split), rest * 5_000 / 35_000);
    assert_eq!(reward(&net, &deserter), 0);
    assert_eq!(reward(&net, &ops[2]), pool / 3);
    // Moved, not minted or burnt.
    assert_eq!(issuance(&net), before);
}
