//! Liveness in deterministic simulation ([crate::sim]): real pRuntimes and host duties on the
//! real chain. A miner whose host stops relaying falls silent and is judged unresponsive at the
//! end of the next era it spent silent; the workers that keep heartbeating are not, and the
//! reward pool pays their backers.

use commonware_codec::DecodeExt as _;
use commonware_cryptography::Signer as _;
use veil_primitives::{
    Destination,
    liveness::{LIVENESS_TOPIC, LivenessEvent},
};

use crate::sim::{Sim, launched, staking};

#[test]
fn a_miner_whose_host_stops_is_found_unresponsive_and_the_others_are_rewarded() {
    // Eras of 12 blocks, heartbeats every 3: four slots an era.
    let mut sim = Sim::with_heartbeats("liveness", 5, 3, 3);
    sim.run_until(60, launched);
    let period = staking().election_period_blocks;
    let silent = 4;
    let silent_key = sim.workers[silent].key();
    sim.workers[silent].offline = true;
    let from = sim.height() / period + 1;
    let mut events = Vec::new();
    for _ in 0..4 * period {
        sim.hosts();
        for m in sim.block() {
            if m.destination == Destination::Topic(LIVENESS_TOPIC.to_vec()) {
                events.push(LivenessEvent::decode(m.payload).unwrap());
            }
        }
        let judged = events
            .iter()
            .any(|LivenessEvent::Unresponsive { worker, era, .. }| {
                worker == &silent_key && *era >= from
            });
        if judged {
            break;
        }
    }
    let Some(LivenessEvent::Unresponsive {
        activity, max, era, ..
    }) = events
        .iter()
        .find(|LivenessEvent::Unresponsive { worker, .. }| worker == &silent_key)
        .cloned()
    else {
        panic!("the silent miner was not judged: {events:?}");
    };
    assert!(activity * 4 < max, "{activity} of {max}");
    // The workers that kept heartbeating were not judged unresponsive in that era.
    for w in 0..4 {
        let key = sim.workers[w].key();
        assert!(
            !events
                .iter()
                .any(|LivenessEvent::Unresponsive { worker, era: e, .. }| {
                    worker == &key && *e == era
                }),
            "worker {w} was heartbeating"
        );
    }
    // The pool paid the responsive ones: the other miner's operator received rewards.
    let operator = sim.workers[3].operator.public_key();
    let rewards = sim
        .read(async |o| veil_chain::liveness::rewards(o, &operator).await)
        .unwrap();
    assert!(rewards > 0);
    let record = sim
        .read(async |o| veil_chain::liveness::era_record(o, era).await)
        .unwrap()
        .unwrap();
    assert!(record.unresponsive >= 1 && record.paid > 0, "{record:?}");
}
