//! Launch: readiness confirmations, the deadline with slashing and re-election, contracts
//! refused before launch, and the gatekeepers' shared stream.

use veil_primitives::{
    DIVERGENCE_TOPIC, Divergence, Election, GATEKEEPER_STATE_TOPIC, GatekeeperMessage,
    LAUNCH_TOPIC, Launch, Phase, SLASH_TOPIC, Slashed, StakingParams,
};

use super::{
    stake::{candidate, net_with, next_election, params, ready, set_params},
    *,
};
use crate::gatekeeper;

fn read<T>(net: &Net, f: impl AsyncFnOnce(&Overlay<'_, MemoryState>) -> T) -> T {
    block_on(f(&Overlay::new(&net.state)))
}

fn topic<T: commonware_codec::DecodeExt<()>>(messages: &[Message], t: &[u8]) -> Vec<T> {
    messages
        .iter()
        .filter(|m| m.origin == Origin::Chain && m.destination == Destination::Topic(t.to_vec()))
        .map(|m| T::decode(m.payload.clone()).unwrap())
        .collect()
}

/// Three registered candidates (workers 1-3, operators 104-106) and a registered worker
/// that is no candidate (worker 4); runs to the first election under `p`.
fn elected(p: StakingParams) -> (Net, Vec<Worker>, Election) {
    let mut net = net_with(StakingParams {
        election_period_blocks: 1_000,
        ..p.clone()
    });
    let workers: Vec<Worker> = (1..=4).map(worker).collect();
    for (seed, w) in (104..107).zip(&workers) {
        candidate(&mut net, &PrivateKey::from_seed(seed), w, 20_000);
    }
    let op = net.operator.clone();
    let spec = Spec {
        endpoint: "http://w4",
        ..net.spec(&workers[3])
    };
    net.run(&op, build(spec)).0.unwrap();
    set_params(&mut net, p);
    let (election, _) = next_election(&mut net);
    assert_eq!(election.gatekeepers.len(), 3);
    (net, workers, election)
}

fn contract_message() -> Call {
    Call::SendMessage {
        destination: Destination::Contract(hash(b"contract")),
        payload: vec![1],
    }
}

fn confirm(net: &mut Net, w: &Worker, round: u64, key: &[u8; 32]) -> Vec<Message> {
    let relayer = net.operator.clone();
    let call = ready(net, w, round, key);
    let (result, messages) = net.run(&relayer, call);
    result.unwrap();
    messages
}

#[test]
fn the_network_launches_when_every_elected_gatekeeper_confirms() {
    let (mut net, workers, round) = elected(params());
    let user = net.operator.clone();
    assert_eq!(read(&net, gatekeeper::phase).unwrap(), Phase::Prelaunch);
    // Contracts are refused before launch, by the mempool and in a block.
    assert_eq!(
        net.check(&user, contract_message()).map(|_| ()),
        Err(TxError::NotLaunched)
    );
    assert_eq!(
        net.run(&user, contract_message()).0,
        Err(TxError::NotLaunched)
    );

    // Confirmations that do not count: a worker that was not elected, a wrong key, a
    // wrong round. Each is routed (its sequence is spent) but confirms nothing.
    confirm(&mut net, &workers[3], round.round, &ROOT_KEY);
    confirm(&mut net, &workers[0], round.round, &[1; 32]);
    confirm(&mut net, &workers[0], round.round + 1, &ROOT_KEY);
    assert!(read(&net, gatekeeper::confirmed).unwrap().is_empty());

    // Two of three, one of them twice: still before launch.
    confirm(&mut net, &workers[0], round.round, &ROOT_KEY);
    confirm(&mut net, &workers[0], round.round, &ROOT_KEY);
    confirm(&mut net, &workers[1], round.round, &ROOT_KEY);
    assert_eq!(read(&net, gatekeeper::confirmed).unwrap().len(), 2);
    assert_eq!(read(&net, gatekeeper::phase).unwrap(), Phase::Prelaunch);

    let messages = confirm(&mut net, &workers[2], round.round, &ROOT_KEY);
    let launched_at = net.height;
    assert_eq!(
        topic::<Launch>(&messages, LAUNCH_TOPIC),
        vec![Launch {
            round: round.round,
            era: 0,
            gatekeepers: round.workers().cloned().collect()
        }]
    );
    assert_eq!(
        read(&net, gatekeeper::phase).unwrap(),
        Phase::Launched {
            height: launched_at,
            era: 0
        }
    );
    // The gatekeepers now hold the key, with their registered endpoints.
    let holders = read(&net, gatekeeper::holders).unwrap();
    assert_eq!(
        holders.iter().map(|h| h.worker.clone()).collect::<Vec<_>>(),
        round.workers().cloned().collect::<Vec<_>>()
    );
    assert!(holders.iter().all(|h| h.endpoint.starts_with("http://w")));
    assert_eq!(net.run(&user, contract_message()).0, Ok(()));

    // The next round asks the gatekeepers, not the genesis node; launch is not repeated.
    let (next, _) = next_election(&mut net);
    assert_eq!(next.round, round.round + 1);
    assert_eq!(next.holders, holders);
    let mut launches = 0;
    for w in &workers[..3] {
        launches +=
            topic::<Launch>(&confirm(&mut net, w, next.round, &ROOT_KEY), LAUNCH_TOPIC).len();
    }
    assert_eq!(launches, 0);
}

#[test]
fn a_silent_gatekeeper_is_slashed_and_the_network_launches_without_it() {
    let p = StakingParams {
        distribution_deadline_blocks: 6,
        ..params()
    };
    let (mut net, workers, round) = elected(p);
    let silent = &workers[2];
    let backer = PrivateKey::from_seed(106);
    confirm(&mut net, &workers[0], round.round, &ROOT_KEY);
    confirm(&mut net, &workers[1], round.round, &ROOT_KEY);
    // Chilling before the deadline does not escape the slash.
    net.run(&backer, Call::Staking(veil_primitives::StakingCall::Chill))
        .0
        .unwrap();
    let mut out = None;
    while net.height + 1 < round.deadline {
        assert!(topic::<Slashed>(&net.block(Vec::new()).messages, SLASH_TOPIC).is_empty());
    }
    out.get_or_insert(net.block(Vec::new()));
    let messages = out.unwrap().messages;
    // The silent gatekeeper's backer loses 10% of its bond, and its candidacy.
    assert_eq!(
        topic::<Slashed>(&messages, SLASH_TOPIC),
        vec![Slashed {
            round: round.round,
            worker: silent.key.public_key(),
            backer: backer.public_key(),
            amount: 2_000
        }]
    );
    let ledger = read(&net, async |o| {
        crate::staking::ledger(o, &backer.public_key()).await
    })
    .unwrap();
    assert_eq!(ledger.bonded, 18_000);
    assert!(
        !read(&net, async |o| {
            crate::staking::CANDIDATES
                .contains(o, &silent.key.public_key())
                .await
        })
        .unwrap()
    );
    // The chain elects again at once, without it; the genesis node still holds the key.
    let again = topic::<Election>(&messages, crate::staking::ELECTION_TOPIC);
    assert_eq!(again.len(), 1);
    let again = &again[0];
    assert_eq!(again.round, round.round + 1);
    assert_eq!(again.gatekeepers.len(), 2);
    assert!(!again.is_elected(&silent.key.public_key()));
    assert_eq!(again.holders, vec![genesis_holder()]);
    // A late confirmation for the expired round counts for nothing.
    confirm(&mut net, silent, round.round, &ROOT_KEY);
    assert!(read(&net, gatekeeper::confirmed).unwrap().is_empty());
    confirm(&mut net, &workers[0], again.round, &ROOT_KEY);
    let messages = confirm(&mut net, &workers[1], again.round, &ROOT_KEY);
    assert_eq!(topic::<Launch>(&messages, LAUNCH_TOPIC).len(), 1);
    assert!(matches!(
        read(&net, gatekeeper::phase).unwrap(),
        Phase::Launched { era: 0, .. }
    ));
}

fn copy(signer: &Worker, sequence: u64, payload: &[u8]) -> Call {
    copy_signed_by(signer, &signer.key, sequence, payload)
}

fn copy_signed_by(signer: &Worker, key: &PrivateKey, sequence: u64, payload: &[u8]) -> Call {
    Call::GatekeeperMessage(Box::new(
        GatekeeperMessage {
            signer: signer.key.public_key(),
            destination: Destination::Topic(GATEKEEPER_STATE_TOPIC.to_vec()),
            sequence,
            payload: payload.to_vec(),
        }
        .sign(key, &chain()),
    ))
}

#[test]
fn the_first_gatekeeper_copy_wins_and_a_different_one_is_a_divergence() {
    let (mut net, workers, round) = elected(params());
    for w in &workers[..3] {
        confirm(&mut net, w, round.round, &ROOT_KEY);
    }
    let relayer = net.operator.clone();
    // Only gatekeepers and key holders speak for the gatekeepers, with their own signature,
    // in order.
    assert_eq!(
        net.run(&relayer, copy(&workers[3], 0, b"state")).0,
        Err(TxError::NotGatekeeper(veil_primitives::to_hex(
            workers[3].key.public_key()
        )))
    );
    assert_eq!(
        net.run(
            &relayer,
            copy_signed_by(&workers[0], &workers[1].key, 0, b"state")
        )
        .0,
        Err(TxError::BadGatekeeperSignature)
    );
    assert_eq!(
        net.check(&relayer, copy(&workers[0], 1, b"state"))
            .map(|_| ()),
        Err(TxError::SequenceGap {
            expected: 0,
            got: 1
        })
    );

    // The first copy is routed from the gatekeepers as one sender, and the state kept.
    let (result, messages) = net.run(&relayer, copy(&workers[0], 0, b"state"));
    assert_eq!(result, Ok(()));
    assert_eq!(
        messages,
        vec![Message {
            origin: Origin::Gatekeepers,
            destination: Destination::Topic(GATEKEEPER_STATE_TOPIC.to_vec()),
            sequence: 0,
            payload: b"state".to_vec(),
        }]
    );
    assert_eq!(
        read(&net, gatekeeper::state_checkpoint).unwrap(),
        Some(b"state".to_vec())
    );

    // An identical copy from another gatekeeper: the mempool turns it away, and a block
    // that carries it anyway drops it.
    assert_eq!(
        net.check(&relayer, copy(&workers[1], 0, b"state"))
            .map(|_| ()),
        Err(TxError::DuplicateGatekeeperMessage(0))
    );
    let (result, messages) = net.run(&relayer, copy(&workers[1], 0, b"state"));
    assert_eq!((result, messages), (Ok(()), vec![]));

    // A different copy is a divergence, recorded and announced; the routed one stands.
    let different = copy(&workers[2], 0, b"other");
    assert!(net.check(&relayer, different.clone()).is_ok());
    let (result, messages) = net.run(&relayer, different);
    assert_eq!(result, Ok(()));
    let content = |payload: &[u8]| {
        GatekeeperMessage {
            signer: workers[0].key.public_key(),
            destination: Destination::Topic(GATEKEEPER_STATE_TOPIC.to_vec()),
            sequence: 0,
            payload: payload.to_vec(),
        }
        .content_hash()
    };
    assert_eq!(
        topic::<Divergence>(&messages, DIVERGENCE_TOPIC),
        vec![Divergence {
            sequence: 0,
            routed: content(b"state"),
            other: content(b"other"),
            signer: workers[2].key.public_key(),
        }]
    );
    assert_eq!(read(&net, gatekeeper::divergences).unwrap(), 1);
    assert_eq!(
        read(&net, gatekeeper::state_checkpoint).unwrap(),
        Some(b"state".to_vec())
    );
}
