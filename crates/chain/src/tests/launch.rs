//! Launch: readiness confirmations, the deadline with slashing and re-election, contracts
//! refused before launch, and the gatekeepers' shared stream.

use veil_primitives::{
    DIVERGENCE_TOPIC, Divergence, Election, GATEKEEPER_STATE_TOPIC, GatekeeperMessage,
    HANDOVER_TOPIC, Handover, LAUNCH_TOPIC, Launch, Phase, SLASH_TOPIC, Slashed, StakingCall,
    StakingParams,
};

use super::{
    stake::{candidate, net_with, next_election, params, ready, set_params},
    *,
};
use crate::gatekeeper;

pub(super) fn read<T>(net: &Net, f: impl AsyncFnOnce(&Overlay<'_, MemoryState>) -> T) -> T {
    block_on(f(&Overlay::new(&net.state)))
}

pub(super) fn topic<T: commonware_codec::DecodeExt<()>>(messages: &[Message], t: &[u8]) -> Vec<T> {
    messages
        .iter()
        .filter(|m| m.origin == Origin::Chain && m.destination == Destination::Topic(t.to_vec()))
        .map(|m| T::decode(m.payload.clone()).unwrap())
        .collect()
}

/// Three registered candidates (workers 1-3, operators 104-106) and a registered worker
/// that is no candidate (worker 4); runs to the first election under `p`.
pub(super) fn elected(p: StakingParams) -> (Net, Vec<Worker>, Election) {
    elected_after(p, |_, _| {})
}

/// [elected], with `setup` run just before the election.
fn elected_after(
    p: StakingParams,
    setup: impl FnOnce(&mut Net, &[Worker]),
) -> (Net, Vec<Worker>, Election) {
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
    setup(&mut net, &workers);
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

pub(super) fn confirm(net: &mut Net, w: &Worker, round: u64, key: &[u8; 32]) -> Vec<Message> {
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
    // Every close announces who holds the key now (earlier gatekeepers outside wipe theirs).
    assert_eq!(
        topic::<Handover>(&messages, HANDOVER_TOPIC),
        vec![Handover {
            round: round.round,
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
    // After the launch, contracts take commands only as contract calls (tests/contracts.rs).
    assert_eq!(
        net.run(&user, contract_message()).0,
        Err(TxError::Contract(Box::new(
            crate::ContractError::RawContractMessage
        )))
    );

    // The next round asks the gatekeepers, not the genesis node; launch is not repeated.
    let (next, _) = next_election(&mut net);
    assert_eq!(next.round, round.round + 1);
    assert_eq!(next.holders, holders);
    let (mut launches, mut handovers) = (0, Vec::new());
    for w in &workers[..3] {
        let messages = confirm(&mut net, w, next.round, &ROOT_KEY);
        launches += topic::<Launch>(&messages, LAUNCH_TOPIC).len();
        handovers.extend(topic::<Handover>(&messages, HANDOVER_TOPIC));
    }
    assert_eq!(launches, 0);
    assert_eq!(
        handovers,
        vec![Handover {
            round: next.round,
            gatekeepers: next.workers().cloned().collect()
        }]
    );
}

#[test]
fn a_silent_gatekeeper_is_slashed_and_the_network_launches_without_it() {
    let p = StakingParams {
        distribution_deadline_blocks: 6,
        ..params()
    };
    // A nominator stands behind the gatekeeper that will stay silent.
    let nominator = PrivateKey::from_seed(107);
    let (mut net, workers, round) = elected_after(p, |net, workers| {
        let target = workers[2].key.public_key();
        for call in [
            StakingCall::Bond { amount: 10_000 },
            StakingCall::Nominate {
                targets: vec![target],
            },
        ] {
            net.run(&nominator, Call::Staking(call)).0.unwrap();
        }
    });
    let silent = &workers[2];
    let backer = PrivateKey::from_seed(106);
    confirm(&mut net, &workers[0], round.round, &ROOT_KEY);
    confirm(&mut net, &workers[1], round.round, &ROOT_KEY);
    // Chilling before the deadline does not escape the slash, for the backer nor for the
    // nominator.
    for who in [&backer, &nominator] {
        net.run(who, Call::Staking(StakingCall::Chill)).0.unwrap();
    }
    let mut out = None;
    while net.height + 1 < round.deadline {
        assert!(topic::<Slashed>(&net.block(Vec::new()).messages, SLASH_TOPIC).is_empty());
    }
    out.get_or_insert(net.block(Vec::new()));
    let messages = out.unwrap().messages;
    // The silent gatekeeper's backer loses 10% of its bond, and its candidacy; the nominator
    // 10% of its stake in it.
    assert_eq!(
        topic::<Slashed>(&messages, SLASH_TOPIC),
        vec![Slashed {
            round: round.round,
            worker: silent.key.public_key(),
            backer: backer.public_key(),
            amount: 2_000 + 1_000
        }]
    );
    let bonded = |net: &Net, who: &PrivateKey| {
        read(net, async |o| {
            crate::staking::ledger(o, &who.public_key()).await
        })
        .unwrap()
        .bonded
    };
    assert_eq!(bonded(&net, &backer), 18_000);
    assert_eq!(bonded(&net, &nominator), 9_000);
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

#[test]
fn a_round_nobody_confirms_fails_without_slashing_anyone() {
    // When no gatekeeper of a round confirms, the key holders may have been unreachable:
    // nobody is provably at fault, so nobody loses stake and the chain simply elects again.
    let p = StakingParams {
        distribution_deadline_blocks: 6,
        ..params()
    };
    let (mut net, workers, round) = elected(p);
    let mut messages = Vec::new();
    while net.height < round.deadline {
        let block = net.block(Vec::new()).messages;
        assert!(topic::<Slashed>(&block, SLASH_TOPIC).is_empty());
        messages = block;
    }
    for seed in 104..107 {
        let backer = PrivateKey::from_seed(seed).public_key();
        let ledger = read(&net, async |o| crate::staking::ledger(o, &backer).await).unwrap();
        assert_eq!(ledger.bonded, 20_000);
    }
    let again = topic::<Election>(&messages, crate::staking::ELECTION_TOPIC);
    assert_eq!(
        again.len(),
        1,
        "the failed round is followed by a new election"
    );
    assert_eq!(again[0].round, round.round + 1);
    assert_eq!(again[0].gatekeepers.len(), 3);
    for w in &workers[..3] {
        confirm(&mut net, w, again[0].round, &ROOT_KEY);
    }
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

/// Signs `calls` with consecutive nonces per sender, for one block.
fn batch(net: &Net, calls: Vec<(&PrivateKey, Call)>) -> Vec<SignedTransaction> {
    let mut next: std::collections::BTreeMap<AccountId, u64> = Default::default();
    calls
        .into_iter()
        .map(|(key, call)| {
            let nonce = next.entry(key.public_key()).or_insert_with(|| {
                let o = Overlay::new(&net.state);
                block_on(crate::balances::account(&o, &key.public_key()))
                    .unwrap()
                    .nonce
            });
            let tx = Transaction {
                sender: key.public_key(),
                nonce: *nonce,
                expiry: net.height + 100,
                call,
            }
            .sign(key, &chain());
            *nonce += 1;
            tx
        })
        .collect()
}

fn all_succeed(net: &mut Net, calls: Vec<(&PrivateKey, Call)>) -> Vec<Message> {
    let txs = batch(net, calls);
    let out = net.block(txs);
    for r in &out.receipts {
        assert_eq!(r.result, Ok(()));
    }
    out.messages
}

#[test]
fn the_largest_election_fits_in_state() {
    // Every list the launch keeps as one state value (the election with its holders, the
    // backers, the confirmations, the key holders) stays under the store's limit at the most
    // gatekeepers governance may set, each with the longest endpoint a worker may register.
    use veil_primitives::{MAX_ENDPOINT_BYTES, MAX_GATEKEEPERS, MAX_STATE_VALUE};
    let seats = MAX_GATEKEEPERS as usize;
    let mut net = net_with(params());
    let gov = net.gov.clone();
    let operators: Vec<PrivateKey> = (0..seats as u64)
        .map(|i| PrivateKey::from_seed(1_000 + i))
        .collect();
    let workers: Vec<Worker> = (301..301 + seats as u64).map(worker).collect();
    all_succeed(
        &mut net,
        operators
            .iter()
            .map(|op| {
                let call = Call::Transfer {
                    to: op.public_key(),
                    amount: 1_000_000,
                };
                (&gov, call)
            })
            .collect(),
    );
    let endpoints: Vec<String> = (0..seats)
        .map(|i| {
            let head = format!("https://{i:03}.");
            format!("{head}{}", "a".repeat(MAX_ENDPOINT_BYTES - head.len()))
        })
        .collect();
    let registrations: Vec<Call> = operators
        .iter()
        .zip(&workers)
        .zip(&endpoints)
        .map(|((op, w), endpoint)| {
            build(Spec {
                operator: op.public_key(),
                endpoint,
                ..net.spec(w)
            })
        })
        .collect();
    all_succeed(&mut net, operators.iter().zip(registrations).collect());
    let bond = Call::Staking(veil_primitives::StakingCall::Bond { amount: 20_000 });
    all_succeed(
        &mut net,
        operators.iter().map(|op| (op, bond.clone())).collect(),
    );
    all_succeed(
        &mut net,
        operators
            .iter()
            .zip(&workers)
            .map(|(op, w)| {
                let call = Call::Staking(veil_primitives::StakingCall::Candidate {
                    worker: w.key.public_key(),
                });
                (op, call)
            })
            .collect(),
    );
    set_params(
        &mut net,
        StakingParams {
            n_gatekeepers: MAX_GATEKEEPERS,
            ..params()
        },
    );
    let (round, _) = next_election(&mut net);
    assert_eq!(round.gatekeepers.len(), seats);
    let relayer = net.operator.clone();
    let confirmations: Vec<Call> = workers
        .iter()
        .map(|w| ready(&net, w, round.round, &ROOT_KEY))
        .collect();
    let messages = all_succeed(
        &mut net,
        confirmations.into_iter().map(|c| (&relayer, c)).collect(),
    );
    assert_eq!(topic::<Launch>(&messages, LAUNCH_TOPIC).len(), 1);
    // The next election names all of them as holders, each with its long endpoint.
    let (next, _) = next_election(&mut net);
    assert_eq!(next.holders.len(), seats);
    assert!(
        next.holders
            .iter()
            .all(|h| h.endpoint.len() == MAX_ENDPOINT_BYTES)
    );
    let largest = net.state.0.values().map(Vec::len).max().unwrap();
    assert!(
        largest <= MAX_STATE_VALUE,
        "a {largest}-byte value exceeds the store's {MAX_STATE_VALUE}-byte limit"
    );
    let election = next.encode().len();
    assert!(election <= MAX_STATE_VALUE);
    assert!(
        largest >= election && election > seats * MAX_ENDPOINT_BYTES,
        "the test reached the largest election ({election} bytes)"
    );
}

#[test]
fn a_deregistered_or_slashed_gatekeeper_holds_the_key_no_more_and_a_moved_one_is_asked_where_it_moved()
 {
    let p = StakingParams {
        distribution_deadline_blocks: 6,
        ..params()
    };
    let (mut net, workers, round) = elected(p);
    for w in &workers[..3] {
        confirm(&mut net, w, round.round, &ROOT_KEY);
    }
    let holder_ids = |net: &Net| -> Vec<AccountId> {
        read(net, gatekeeper::holders)
            .unwrap()
            .into_iter()
            .map(|h| h.worker)
            .collect()
    };
    assert_eq!(holder_ids(&net).len(), 3);

    // workers[1]'s operator moves its host: the next election names it at its new endpoint.
    let moved = PrivateKey::from_seed(105);
    let spec = Spec {
        operator: moved.public_key(),
        endpoint: "http://moved",
        ..net.spec(&workers[1])
    };
    net.run(&moved, build(spec)).0.unwrap();
    let endpoint_of = |net: &Net, w: &Worker| {
        read(net, gatekeeper::holders)
            .unwrap()
            .into_iter()
            .find(|h| h.worker == w.key.public_key())
            .map(|h| h.endpoint)
    };
    assert_eq!(
        endpoint_of(&net, &workers[1]).as_deref(),
        Some("http://moved")
    );

    // Its operator replaces workers[0] with a new identity at the same endpoint: the old one
    // is deregistered, and at once no longer a key holder nor a signer of the stream.
    let op = PrivateKey::from_seed(104);
    let successor = worker(9);
    let spec = Spec {
        operator: op.public_key(),
        endpoint: "http://w1",
        ..net.spec(&successor)
    };
    net.run(&op, build(spec)).0.unwrap();
    assert!(net.worker(&workers[0].key.public_key()).is_none());
    assert_eq!(
        holder_ids(&net),
        vec![workers[1].key.public_key(), workers[2].key.public_key()]
    );
    let relayer = net.operator.clone();
    assert_eq!(
        net.run(&relayer, copy(&workers[0], 0, b"state")).0,
        Err(TxError::NotGatekeeper(veil_primitives::to_hex(
            workers[0].key.public_key()
        )))
    );

    // The next election names only the remaining holders. workers[2] stays silent and is
    // slashed: it leaves the holders too.
    let (next, _) = next_election(&mut net);
    assert_eq!(next.holders.len(), 2);
    assert!(
        next.holders
            .iter()
            .any(|h| h.worker == workers[1].key.public_key() && h.endpoint == "http://moved")
    );
    assert!(
        next.holders
            .iter()
            .all(|h| h.worker != workers[0].key.public_key())
    );
    assert_eq!(next.gatekeepers.len(), 2);
    confirm(&mut net, &workers[1], next.round, &ROOT_KEY);
    let mut slashed = Vec::new();
    while net.height < next.deadline {
        slashed.extend(topic::<Slashed>(
            &net.block(Vec::new()).messages,
            SLASH_TOPIC,
        ));
    }
    assert!(
        slashed
            .iter()
            .any(|s| s.worker == workers[2].key.public_key())
    );
    assert_eq!(holder_ids(&net), vec![workers[1].key.public_key()]);
    assert_eq!(
        net.run(&relayer, copy(&workers[2], 0, b"state")).0,
        Err(TxError::NotGatekeeper(veil_primitives::to_hex(
            workers[2].key.public_key()
        )))
    );
}

#[test]
fn a_genesis_naming_an_unattested_node_does_not_launch() {
    // Every validator refuses a genesis whose genesis node is not attested code bound to this
    // chain, its keys and its root key: no chain starts, so no election ever asks it.
    let honest = super::genesis_state(true, None);
    assert!(block_on(genesis_changes(&honest)).is_ok());
    let refused = |edit: &dyn Fn(&mut GenesisState)| {
        let mut g = honest.clone();
        edit(&mut g);
        block_on(genesis_changes(&g)).unwrap_err()
    };
    // A plain program: no evidence at all.
    let e = refused(&|g| g.genesis_attestation = None);
    assert!(e.contains("no attestation evidence"), "{e}");
    // Evidence it signed itself, not the dev RA service genesis trusts.
    let impostor = PrivateKey::from_seed(666);
    let e = refused(&|g| {
        g.genesis_attestation = Some(super::genesis_attestation(&impostor, MEASUREMENT))
    });
    assert!(e.contains("attestation is refused"), "{e}");
    // Code not on the allowlist.
    let e =
        refused(&|g| g.genesis_attestation = Some(super::genesis_attestation(&g_ra(), [8; 32])));
    assert!(e.contains("allowlist"), "{e}");
    // Evidence for another chain, another root key or other keys.
    let e = refused(&|g| g.chain_id = 8);
    assert!(e.contains("report data"), "{e}");
    let e =
        refused(&|g| g.genesis_worker.as_mut().unwrap().key_check = veil_primitives::hash(b"x"));
    assert!(e.contains("report data"), "{e}");
    let e = refused(&|g| g.genesis_worker.as_mut().unwrap().holder.ecdh_key = [1; 32]);
    assert!(e.contains("report data"), "{e}");
    // Dev evidence where genesis does not allow insecure gatekeepers (the genesis node holds
    // the root key like one).
    let e = refused(&|g| g.allow_insecure_gatekeepers = false);
    assert!(e.contains("insecure gatekeepers"), "{e}");
    // Dev evidence on a chain that trusts no dev RA service.
    let e = refused(&|g| g.dev_attestation_key = None);
    assert!(e.contains("attestation is refused"), "{e}");
}

fn g_ra() -> PrivateKey {
    PrivateKey::from_seed(100)
}

#[test]
fn gatekeepers_that_confirmed_an_expired_round_hold_the_key_when_every_earlier_holder_is_slashed() {
    let p = StakingParams {
        distribution_deadline_blocks: 6,
        ..params()
    };
    let (mut net, workers, round) = elected(p.clone());
    for w in &workers[..3] {
        confirm(&mut net, w, round.round, &ROOT_KEY);
    }
    // A fourth candidate stands and the next election seats four: the three holders and it.
    let newcomer = worker(5);
    candidate(&mut net, &PrivateKey::from_seed(107), &newcomer, 20_000);
    set_params(
        &mut net,
        StakingParams {
            n_gatekeepers: 4,
            ..p
        },
    );
    let (next, _) = next_election(&mut net);
    assert_eq!(next.gatekeepers.len(), 4);
    // The newcomer gets the key from one of them and confirms; the three holders fall silent
    // and are slashed at the deadline, which drops them from the holders.
    confirm(&mut net, &newcomer, next.round, &ROOT_KEY);
    let mut again = Vec::new();
    while net.height < next.deadline {
        again.extend(topic::<Election>(
            &net.block(Vec::new()).messages,
            crate::staking::ELECTION_TOPIC,
        ));
    }
    // The key is not orphaned: the newcomer, which proved it holds it, is the holder the
    // re-election names.
    let holder_ids = |holders: &[veil_primitives::KeyHolder]| -> Vec<AccountId> {
        holders.iter().map(|h| h.worker.clone()).collect()
    };
    let newcomer_id = vec![newcomer.key.public_key()];
    assert_eq!(
        holder_ids(&read(&net, gatekeeper::holders).unwrap()),
        newcomer_id
    );
    let again = again.last().expect("elected again at the deadline");
    assert_eq!(again.round, next.round + 1);
    assert_eq!(holder_ids(&again.holders), newcomer_id);
}

#[test]
fn a_registry_policy_that_would_deregister_every_key_holder_is_refused() {
    let (mut net, workers, round) = elected(params());
    for w in &workers[..3] {
        confirm(&mut net, w, round.round, &ROOT_KEY);
    }
    let gov = net.gov.clone();
    let set = |net: &mut Net, p: RegistryParams| {
        net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
            .0
    };
    let current = block_on(crate::registry::params(&Overlay::new(&net.state))).unwrap();
    let newer = Measurement::Dev([0x42; 32].to_vec());
    // Allowing only other code would deregister all three holders, and their pRuntimes would
    // wipe the only copies of the root key.
    let only_newer = RegistryParams {
        allowlist: vec![newer.clone()],
        ..current.clone()
    };
    assert!(matches!(
        set(&mut net, only_newer.clone()),
        Err(TxError::RevokesEveryKeyHolder(_))
    ));
    assert_eq!(read(&net, gatekeeper::holders).unwrap().len(), 3);
    // Governance admits both, one holder renews on the newer code, and then the change goes
    // through: the other two leave, the renewed one keeps the key.
    let both = RegistryParams {
        allowlist: vec![current.allowlist[0].clone(), newer],
        ..current
    };
    set(&mut net, both).unwrap();
    let renewed = &workers[0];
    let op = PrivateKey::from_seed(104);
    let endpoint = net.worker(&renewed.key.public_key()).unwrap().endpoint;
    let spec = Spec {
        operator: op.public_key(),
        endpoint: Box::leak(endpoint.into_boxed_str()),
        measurement: [0x42; 32],
        ..net.spec(renewed)
    };
    net.run(&op, build(spec)).0.unwrap();
    set(&mut net, only_newer).unwrap();
    let holders: Vec<AccountId> = read(&net, gatekeeper::holders)
        .unwrap()
        .into_iter()
        .map(|h| h.worker)
        .collect();
    assert_eq!(holders, vec![renewed.key.public_key()]);
}
