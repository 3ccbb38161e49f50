//! Responsiveness monitoring: activity counted per era from routed side effects, and the ¼
//! rule judged at each era's end over the workers registered for the whole era.

use veil_primitives::{
    HEARTBEAT_TOPIC, StakingParams, WorkerMessage,
    liveness::{EraRecord, LIVENESS_TOPIC, LivenessEvent},
};

use super::{
    launch::read,
    stake::{net_with, params},
    *,
};
use crate::liveness;

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

/// Blocks until the next era begins; returns what the chain said on the liveness topic then.
fn next_era(net: &mut Net) -> Vec<LivenessEvent> {
    loop {
        let out = net.block(vec![]);
        if net.height.is_multiple_of(10) {
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
        }]
    );
    let record = read(&net, async |o| liveness::era_record(o, judged_era).await).unwrap();
    assert_eq!(
        record,
        Some(EraRecord {
            judged: 3,
            unresponsive: 1,
            max: 2
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
