//! Contract logs, checkpoints and reassignment: what a contract's next miner recovers from.

use veil_primitives::{
    AccountId, Digest, GovernanceCall, HEARTBEAT_TOPIC, StakingCall, WorkerMessage,
    contract::{
        CHECKPOINT_CHUNK_BYTES, CONTRACTS_TOPIC, CheckpointChunk, ContractCall, ContractEvent,
        ContractKey, ContractLog, ContractParams, Reassignment, in_log,
    },
};

use super::{
    contracts::{
        command, contract_info, gatekeeper_sequence, grant, heartbeats, instance, launched,
        message, post, publish, refused, second_miner,
    },
    launch::{confirm, read, topic},
    stake::staking,
    *,
};
use crate::{ContractError, StateRead as _, contracts, keys, mq};

/// A contract on `workers[3]`, its key published and granted, initialized by one command.
fn running(net: &mut Net, workers: &[Worker]) -> Digest {
    let dev = net.operator.clone();
    let id = instance(net, &dev, &workers[3]);
    let key = ContractKey {
        contract: id,
        public_key: [5; 32],
        sealed_key: vec![9; 60],
    };
    let sequence = gatekeeper_sequence(net);
    publish(net, &workers[0], sequence, &key).unwrap();
    grant(net, &workers[0], id, &workers[3], 0).unwrap();
    net.run(&dev, command(id, 1_000, 256, 1)).0.unwrap();
    id
}

/// Chunk `index` of a checkpoint of `size` bytes, signed by `signer`.
fn chunk(
    id: Digest,
    height: u64,
    log: ContractLog,
    size: u32,
    index: u32,
    signer: &PrivateKey,
) -> Call {
    let len = CheckpointChunk::expected_len(size, index).unwrap_or(1);
    Call::Contract(ContractCall::Checkpoint(Box::new(
        CheckpointChunk {
            contract: id,
            height,
            log,
            root: hash(b"root"),
            size,
            digest: hash(&size.to_be_bytes()),
            index,
            bytes: vec![index as u8 + 1; len],
        }
        .sign(signer, &chain()),
    )))
}

fn log(net: &Net, id: &Digest) -> ContractLog {
    contract_info(net, id).unwrap().log
}

/// Folds what `messages`, routed at the net's current height, add to `id`'s log.
fn fold(net: &Net, mut log: ContractLog, id: &Digest, messages: &[Message]) -> ContractLog {
    for m in messages.iter().filter(|m| in_log(id, m)) {
        log.fold(net.height, &block_hash(net.height - 1), m);
    }
    log
}

#[test]
fn every_message_routed_to_or_from_a_contract_is_folded_into_its_log() {
    let (mut net, workers) = launched();
    let dev = net.operator.clone();
    let a = running(&mut net, &workers);
    let b = running(&mut net, &workers);
    assert_eq!(log(&net, &a).count, 1, "the init command");

    // A command: into its contract's log only.
    let (before_a, before_b) = (log(&net, &a), log(&net, &b));
    let (result, out) = net.run(&dev, command(a, 1_000, 256, 2));
    assert_eq!(result, Ok(()));
    assert_eq!(log(&net, &a), fold(&net, before_a, &a, &out));
    assert_eq!(log(&net, &a).count, 2);
    assert_eq!(log(&net, &b), before_b);

    // A message from a to b: into both; and the hash binds height, parent and message.
    let (before_a, before_b) = (log(&net, &a), log(&net, &b));
    let (result, out) = net.run(&dev, post(message(a, b, 0, true), &workers[3].key));
    assert_eq!(result, Ok(()));
    assert_eq!(log(&net, &a), fold(&net, before_a, &a, &out));
    assert_eq!(log(&net, &b), fold(&net, before_b, &b, &out));
    assert_eq!((log(&net, &a).count, log(&net, &b).count), (3, 2));
    let mut elsewhere = before_b;
    elsewhere.fold(net.height + 1, &block_hash(net.height - 1), &out[0]);
    assert_ne!(elsewhere, log(&net, &b));
}

#[test]
fn a_checkpoint_is_kept_once_complete_and_only_from_the_contracts_miner() {
    let (mut net, workers) = launched();
    let relayer = net.operator.clone();
    let id = running(&mut net, &workers);
    let miner = &workers[3].key;
    let now = log(&net, &id);
    let height = net.height;
    let size = CHECKPOINT_CHUNK_BYTES as u32 + 100;

    // Another worker's signature, or one for another chain, is refused.
    assert_eq!(
        net.check(&relayer, chunk(id, height, now, size, 0, &workers[2].key))
            .map(|_| ()),
        refused(ContractError::NotTheCheckpointMiner {
            contract: veil_primitives::to_hex(id),
            miner: veil_primitives::to_hex(miner.public_key()),
            signer: veil_primitives::to_hex(workers[2].key.public_key()),
        })
    );
    let mut forged = chunk(id, height, now, size, 0, miner);
    if let Call::Contract(ContractCall::Checkpoint(c)) = &mut forged {
        c.chunk.root = hash(b"another root");
    }
    assert_eq!(
        net.check(&relayer, forged).map(|_| ()),
        refused(ContractError::BadCheckpointSignature)
    );
    // A log position the chain never reached, a height beyond it, a chunk of the wrong length.
    let ahead = ContractLog {
        count: now.count + 1,
        ..now
    };
    assert!(matches!(
        net.check(&relayer, chunk(id, height, ahead, size, 0, miner)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::StaleCheckpoint { .. })
    ));
    assert!(matches!(
        net.check(&relayer, chunk(id, height + 5, now, size, 0, miner)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::StaleCheckpoint { .. })
    ));
    assert!(matches!(
        net.check(&relayer, chunk(id, height, now, size, 2, miner)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::BadCheckpointChunk { .. })
    ));

    // The first chunk starts an upload; the contract keeps no checkpoint until the last.
    assert_eq!(
        net.run(&relayer, chunk(id, height, now, size, 0, miner)).0,
        Ok(())
    );
    assert_eq!(contract_info(&net, &id).unwrap().checkpoint, None);
    assert_eq!(
        net.run(&relayer, chunk(id, height, now, size, 0, miner)).0,
        refused(ContractError::DuplicateChunk(0))
    );
    // A review's attack: anyone posting an older checkpoint's chunk again (or a chunk of another
    // seal of the same state) restarted the upload, so a multi-chunk checkpoint never completed
    // and the contract was moved for missed checkpoints. Only a newer one replaces it.
    for (h, s) in [(height - 1, size), (height, size + 1)] {
        assert!(matches!(
            net.run(&relayer, chunk(id, h, now, s, 0, miner)).0,
            Err(TxError::Contract(e)) if matches!(*e, ContractError::StaleCheckpoint { .. })
        ));
    }
    assert_eq!(
        net.run(&relayer, chunk(id, height, now, size, 1, miner)).0,
        Ok(())
    );
    let kept = contract_info(&net, &id).unwrap().checkpoint.unwrap();
    assert_eq!(
        (kept.height, kept.log, kept.size, &kept.miner),
        (height, now, size, &miner.public_key())
    );
    let (info, bytes) = read(&net, async |o| contracts::checkpoint_bytes(o, &id).await)
        .unwrap()
        .unwrap();
    assert_eq!(info, kept);
    let mut expected = vec![1; CHECKPOINT_CHUNK_BYTES];
    expected.extend(vec![2; 100]);
    assert_eq!(bytes, expected);

    // One no newer is refused; a newer one replaces it, and the old chunks leave state.
    assert!(matches!(
        net.check(&relayer, chunk(id, height, now, 10, 0, miner)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::StaleCheckpoint { .. })
    ));
    assert_eq!(
        net.run(&relayer, chunk(id, height + 1, now, 10, 0, miner))
            .0,
        Ok(())
    );
    let kept = contract_info(&net, &id).unwrap().checkpoint.unwrap();
    assert_eq!((kept.height, kept.size), (height + 1, 10));
    for index in 0..2 {
        let old = read(&net, async |o| {
            o.get(&keys::checkpoint_chunk(&id, height, index)).await
        })
        .unwrap();
        assert_eq!(old, None, "chunk {index} of the replaced checkpoint");
    }
}

/// Renews every worker's registration under the current (long) lifetime, each by its
/// operator (the gatekeepers' backers, [super::launch::elected]).
fn renew(net: &mut Net, workers: &[Worker]) {
    for (i, w) in workers.iter().enumerate() {
        let op = if i < 3 {
            PrivateKey::from_seed(104 + i as u64)
        } else {
            net.operator.clone()
        };
        let endpoint: &'static str = Box::leak(format!("http://w{}", w.ecdh[0]).into_boxed_str());
        let call = build(Spec {
            operator: op.public_key(),
            endpoint,
            ..net.spec(w)
        });
        net.run(&op, call).0.unwrap();
    }
}

/// Heartbeats from `active` in every block until the next era (of 10 blocks) begins; returns
/// the contract events of the era's first block.
fn era(net: &mut Net, active: &[&Worker]) -> Vec<ContractEvent> {
    let relayer = net.operator.clone();
    loop {
        let txs = active
            .iter()
            .map(|w| {
                let sequence = read(net, async |o| {
                    mq::next_sequence(o, &Origin::Worker(w.key.public_key())).await
                })
                .unwrap();
                let beat = Call::WorkerMessage(Box::new(
                    WorkerMessage {
                        sender: w.key.public_key(),
                        destination: Destination::Topic(HEARTBEAT_TOPIC.to_vec()),
                        sequence,
                        payload: vec![0; 40],
                    }
                    .sign(&w.key, &chain()),
                ));
                net.tx(&relayer, beat)
            })
            .collect::<Vec<_>>();
        // One sender: its transactions' nonces follow each other.
        let txs = txs
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut tx = t.transaction;
                tx.nonce += i as u64;
                tx.sign(&relayer, &chain())
            })
            .collect();
        let out = net.block(txs);
        for r in &out.receipts {
            assert_eq!(r.result, Ok(()));
        }
        if net.height.is_multiple_of(10) {
            return topic::<ContractEvent>(&out.messages, CONTRACTS_TOPIC);
        }
    }
}

#[test]
fn a_contract_moves_at_its_developers_or_governances_word_naming_what_to_recover_from() {
    let (mut net, workers) = launched();
    let (dev, gov) = (net.operator.clone(), net.gov.clone());
    let id = running(&mut net, &workers);
    let miner = &workers[3].key;
    let height = net.height;
    let now = log(&net, &id);
    let relayer = net.operator.clone();
    net.run(&relayer, chunk(id, height, now, 10, 0, miner))
        .0
        .unwrap();
    net.run(&dev, command(id, 1_000, 256, 3)).0.unwrap();
    let checkpoint = contract_info(&net, &id).unwrap().checkpoint;
    assert!(checkpoint.is_some());

    let assign = |to: &Worker| {
        Call::Contract(ContractCall::Assign {
            contract: id,
            miner: to.key.public_key(),
        })
    };
    let outsider = PrivateKey::from_seed(103);
    assert_eq!(
        net.run(&outsider, assign(&workers[2])).0,
        refused(ContractError::NotDeveloper)
    );
    assert_eq!(
        net.run(&dev, assign(&workers[3])).0,
        refused(ContractError::SameMiner(veil_primitives::to_hex(id))),
        "a move to the miner it runs on"
    );
    let (result, out) = net.run(&gov, assign(&workers[2]));
    assert_eq!(result, Ok(()));
    let events = topic::<ContractEvent>(&out, CONTRACTS_TOPIC);
    assert_eq!(events.len(), 1);
    let ContractEvent::Assigned {
        miner: to,
        assignment,
        reason,
        log: named,
        checkpoint: named_checkpoint,
        ..
    } = &events[0]
    else {
        panic!("{events:?}");
    };
    assert_eq!(
        (to, *assignment, *reason),
        (&workers[2].key.public_key(), 1, Reassignment::Governance)
    );
    assert_eq!(
        (*named, named_checkpoint),
        (log(&net, &id), &checkpoint),
        "the log when it moved, and the latest checkpoint"
    );
    assert_eq!(log(&net, &id).count, now.count + 1);
    let info = contract_info(&net, &id).unwrap();
    assert_eq!(
        (info.assigned_at, info.granted),
        (net.height, false),
        "the new miner waits for its grant"
    );
    // Commands still flow: the new miner keeps them while it recovers.
    assert_eq!(net.run(&dev, command(id, 1_000, 256, 4)).0, Ok(()));

    // The old miner's checkpoints are refused from now on.
    assert!(matches!(
        net.check(&relayer, chunk(id, net.height, log(&net, &id), 10, 0, miner)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::NotTheCheckpointMiner { .. })
    ));
    let (result, out) = net.run(&dev, assign(&workers[3]));
    assert_eq!(result, Ok(()));
    assert!(matches!(
        topic::<ContractEvent>(&out, CONTRACTS_TOPIC)[..],
        [ContractEvent::Assigned {
            reason: Reassignment::Developer,
            assignment: 2,
            ..
        }]
    ));
}

#[test]
fn contracts_of_an_unresponsive_miner_move_to_a_responsive_one_at_the_era() {
    let (mut net, workers) = launched();
    let id = running(&mut net, &workers);
    heartbeats(&mut net, 5);
    renew(&mut net, &workers);
    let second = second_miner(&mut net);
    let others: Vec<&Worker> = workers[..3].iter().chain([&second]).collect();
    // The era the contract started in, then a full era with the miner silent (its last
    // heartbeat lands in the first block of the era the next call ends).
    era(
        &mut net,
        &workers.iter().chain([&second]).collect::<Vec<_>>(),
    );
    assert!(era(&mut net, &others).is_empty());
    let events = era(&mut net, &others);
    let moved: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ContractEvent::Assigned {
                contract,
                miner,
                reason,
                ..
            } if *contract == id => Some((miner.clone(), *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(moved.len(), 1, "{events:?}");
    assert_eq!(moved[0].1, Reassignment::Unresponsive);
    assert_eq!(
        moved[0].0,
        second.key.public_key(),
        "the miner that is no gatekeeper takes it"
    );
    assert_eq!(contract_info(&net, &id).unwrap().miner, moved[0].0);
    // The index by miner follows (it is what the era reads, not every contract).
    let of = |net: &Net, w: &AccountId| {
        read(net, async |o| contracts::contracts_of(o, w).await).unwrap()
    };
    assert_eq!(of(&net, &workers[3].key.public_key()), Vec::<Digest>::new());
    assert_eq!(of(&net, &moved[0].0), vec![id]);
}

/// The attack: a developer's contract on a plain miner whose operator then gets it elected
/// gatekeeper; without the era's move the developer's code would run, for good, in an enclave
/// that holds the root key.
#[test]
fn a_miner_elected_gatekeeper_sheds_its_contracts_at_the_era() {
    let (mut net, workers) = launched();
    let id = running(&mut net, &workers);
    renew(&mut net, &workers);
    let second = second_miner(&mut net);
    let miner = workers[3].key.public_key();
    let op = net.operator.clone();
    staking(&mut net, &op, StakingCall::Bond { amount: 30_000 }).unwrap();
    staking(
        &mut net,
        &op,
        StakingCall::Candidate {
            worker: miner.clone(),
        },
    )
    .unwrap();
    // The round the periodic election opened meanwhile closes; the next one counts the bond.
    let open = read(&net, async |o| {
        crate::gatekeeper::rounds::open_round(o).await
    })
    .unwrap();
    if let Some(round) = open {
        for w in &workers[..3] {
            confirm(&mut net, w, round.round, &ROOT_KEY);
        }
    }
    // The next era's first block elects it, then moves its contract off it.
    let everyone: Vec<&Worker> = workers.iter().chain([&second]).collect();
    let events = era(&mut net, &everyone);
    let elected: Vec<AccountId> = read(&net, crate::gatekeeper::election)
        .unwrap()
        .unwrap()
        .gatekeepers
        .into_iter()
        .map(|g| g.worker)
        .collect();
    assert!(elected.contains(&miner), "the largest bond is seated");
    let [
        ContractEvent::Assigned {
            contract,
            miner: to,
            reason: Reassignment::Gatekeeper,
            ..
        },
    ] = &events[..]
    else {
        panic!("{events:?}");
    };
    assert_eq!(*contract, id);
    assert!(
        !elected.contains(to),
        "moved to a miner that is no gatekeeper"
    );
    assert_eq!(contract_info(&net, &id).unwrap().miner, *to);
    // It stays there.
    assert!(era(&mut net, &everyone).is_empty());
}

#[test]
fn a_contract_whose_log_outruns_its_checkpoints_moves_after_the_grace() {
    let (mut net, workers) = launched();
    let (dev, gov) = (net.operator.clone(), net.gov.clone());
    let set = Call::Governance(GovernanceCall::SetContractParams(ContractParams {
        checkpoint_interval: 5,
        checkpoint_grace: 15,
        ..ContractParams::default()
    }));
    net.run(&gov, set).0.unwrap();
    renew(&mut net, &workers);
    let id = running(&mut net, &workers);
    let second = second_miner(&mut net);
    let everyone: Vec<&Worker> = workers.iter().chain([&second]).collect();

    // Checkpointed up to the log: it stays however long it idles.
    let relayer = net.operator.clone();
    let height = net.height;
    net.run(
        &relayer,
        chunk(id, height, log(&net, &id), 10, 0, &workers[3].key),
    )
    .0
    .unwrap();
    for _ in 0..3 {
        assert!(era(&mut net, &everyone).is_empty());
    }
    // The log moves on and no checkpoint follows: moved once the grace has passed.
    net.run(&dev, command(id, 1_000, 256, 4)).0.unwrap();
    let mut eras = 0;
    let events = loop {
        let events = era(&mut net, &everyone);
        eras += 1;
        if !events.is_empty() {
            break events;
        }
        assert!(eras < 5, "never moved");
    };
    assert!(matches!(
        events[..],
        [ContractEvent::Assigned {
            reason: Reassignment::MissedCheckpoints,
            ..
        }]
    ));
    let info = contract_info(&net, &id).unwrap();
    assert!(net.height - info.checkpoint.unwrap().height > 15);
    assert_ne!(info.miner, workers[3].key.public_key());
}

#[test]
fn the_index_of_contracts_by_miner_follows_every_move() {
    let (mut net, workers) = launched();
    let second = super::contracts::second_miner(&mut net);
    let dev = net.operator.clone();
    let ids: Vec<Digest> = (0..3)
        .map(|_| instance(&mut net, &dev, &workers[3]))
        .collect();
    let of = |net: &Net, w: &Worker| {
        read(net, async |o| {
            contracts::contracts_of(o, &w.key.public_key()).await
        })
        .unwrap()
    };
    assert_eq!(of(&net, &workers[3]), ids);
    let assign = |id: Digest, to: &Worker| {
        Call::Contract(ContractCall::Assign {
            contract: id,
            miner: to.key.public_key(),
        })
    };
    net.run(&dev, assign(ids[0], &second)).0.unwrap();
    assert_eq!(
        of(&net, &workers[3]),
        vec![ids[2], ids[1]],
        "the last one fills the gap"
    );
    assert_eq!(of(&net, &second), vec![ids[0]]);
    net.run(&dev, assign(ids[1], &second)).0.unwrap();
    net.run(&dev, assign(ids[0], &workers[3])).0.unwrap();
    assert_eq!(of(&net, &workers[3]), vec![ids[2], ids[0]]);
    assert_eq!(of(&net, &second), vec![ids[1]]);
}
