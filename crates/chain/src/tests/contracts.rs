//! Contracts: code uploads checked against the deploy policy, instances and assignments,
//! published contract keys, encrypted commands whose fee says nothing about them, and
//! messages between contracts.

use veil_primitives::{
    Digest, GatekeeperMessage,
    contract::{
        CODE_CHUNK_BYTES, CONTRACT_GRANT_TOPIC, CONTRACT_KEY_TOPIC, CONTRACTS_TOPIC, Channel,
        CodeInfo, CommandMessage, ContractCall, ContractEgress, ContractEvent, ContractGrant,
        ContractInfo, ContractKey, ContractLog, ContractMessage, ContractParams, ContractReply,
        Envelope, MinerPolicy, Reassignment, contract_id,
    },
};

use super::{
    launch::{confirm, elected, read, topic},
    stake::params,
    *,
};
use crate::{ContractError, StateRead as _, contracts, mq};

pub(super) fn refused(e: ContractError) -> Result<(), TxError> {
    Err(TxError::Contract(Box::new(e)))
}

/// A launched network: workers 1-3 are the gatekeepers, worker 4 is a registered miner. Its
/// heartbeat slots are as long as an era, so no era has the activity to judge anyone (the miner
/// here never heartbeats): see [heartbeats] to judge them.
pub(super) fn launched() -> (Net, Vec<Worker>) {
    let (mut net, workers, round) = elected(params());
    for w in &workers[..3] {
        confirm(&mut net, w, round.round, &ROOT_KEY);
    }
    heartbeats(&mut net, params().election_period_blocks);
    (net, workers)
}

/// Sets the registry's heartbeat interval (liveness counts one slot per interval); new
/// registrations last the whole test.
pub(super) fn heartbeats(net: &mut Net, blocks: u64) {
    let mut p = read(net, async |o| crate::registry::params(o).await).unwrap();
    p.heartbeat_blocks = blocks;
    p.registration_blocks = 100_000;
    let gov = net.gov.clone();
    let call = Call::Governance(veil_primitives::GovernanceCall::SetRegistryParams(p));
    net.run(&gov, call).0.unwrap();
}

/// Registers one more worker (seed 5) that is no gatekeeper: a second miner.
pub(super) fn second_miner(net: &mut Net) -> Worker {
    let w = worker(5);
    let op = net.operator.clone();
    let spec = Spec {
        endpoint: "http://w5",
        ..net.spec(&w)
    };
    net.run(&op, build(spec)).0.unwrap();
    w
}

/// A module that passes the deploy policy, padded by a data segment to `size` bytes or more.
fn module(size: usize, body: &str) -> Vec<u8> {
    let data = "\\00".repeat(size);
    wat::parse_str(format!(
        r#"(module
            (import "veil" "output_write" (func $out (param i32 i32)))
            (memory (export "memory") 2)
            (data (i32.const 0) "{data}")
            (func (export "init") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1)))
            {body})"#
    ))
    .unwrap()
}

fn chunks(code: &[u8]) -> Vec<ContractCall> {
    code.chunks(CODE_CHUNK_BYTES)
        .enumerate()
        .map(|(index, chunk)| ContractCall::UploadCode {
            hash: hash(code),
            size: code.len() as u32,
            index: index as u32,
            chunk: chunk.to_vec(),
        })
        .collect()
}

fn code_info(net: &Net, code: &[u8]) -> Option<CodeInfo> {
    read(net, async |o| contracts::code(o, &hash(code)).await).unwrap()
}

fn pending(net: &Net, uploader: &PrivateKey, code: &[u8]) -> Option<CodeInfo> {
    read(net, async |o| {
        contracts::upload_in_progress(o, &uploader.public_key(), &hash(code)).await
    })
    .unwrap()
}

pub(super) fn contract_info(net: &Net, id: &Digest) -> Option<ContractInfo> {
    read(net, async |o| contracts::contract(o, id).await).unwrap()
}

fn upload(net: &mut Net, from: &PrivateKey, code: &[u8]) {
    for call in chunks(code) {
        assert_eq!(net.run(from, Call::Contract(call)).0, Ok(()));
    }
}

#[test]
fn code_is_uploaded_in_chunks_and_checked_against_the_deploy_policy() {
    let (net, _, _) = elected(params());
    let dev = net.operator.clone();
    let code = module(2 * CODE_CHUNK_BYTES + 100, "");
    let parts = chunks(&code);
    assert_eq!(parts.len(), 3);
    // Nothing before the launch.
    assert_eq!(
        net.check(&dev, Call::Contract(parts[0].clone()))
            .map(|_| ()),
        Err(TxError::NotLaunched)
    );
    let (mut net, _) = launched();

    // Chunks in any order; each once; sizes must agree with the first.
    assert_eq!(net.run(&dev, Call::Contract(parts[2].clone())).0, Ok(()));
    assert_eq!(
        net.run(&dev, Call::Contract(parts[2].clone())).0,
        refused(ContractError::DuplicateChunk(2))
    );
    let ContractCall::UploadCode { hash: h, chunk, .. } = parts[0].clone() else {
        unreachable!()
    };
    let lying = ContractCall::UploadCode {
        hash: h,
        size: code.len() as u32 + 1,
        index: 0,
        chunk: chunk.clone(),
    };
    assert!(matches!(
        net.check(&dev, Call::Contract(lying)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::SizeMismatch { .. })
    ));
    let short = ContractCall::UploadCode {
        hash: h,
        size: code.len() as u32,
        index: 1,
        chunk: chunk[..10].to_vec(),
    };
    assert!(matches!(
        net.check(&dev, Call::Contract(short)),
        Err(TxError::Contract(e)) if matches!(*e, ContractError::BadChunk { .. })
    ));
    // The fee pays for the bytes kept: a chunk costs its code byte fee on top.
    let tx = net.tx(&dev, Call::Contract(parts[0].clone()));
    let size_fee = Params::default().fee(commonware_codec::EncodeSize::encode_size(&tx));
    let receipt = net.block(vec![tx]).receipts.remove(0);
    assert_eq!(receipt.result, Ok(()));
    assert_eq!(receipt.fee, size_fee + 10 * CODE_CHUNK_BYTES as u128);
    assert_eq!(code_info(&net, &code), None);
    assert_eq!(pending(&net, &dev, &code).unwrap().received, 2);

    // Someone else uploading the same hash, with a lying size and a garbage chunk, spoils
    // nothing of the developer's upload: uploads are kept per uploader.
    let griefer = PrivateKey::from_seed(103);
    let garbage = ContractCall::UploadCode {
        hash: h,
        size: code.len() as u32 + 5,
        index: 1,
        chunk: vec![0xff; CODE_CHUNK_BYTES],
    };
    assert_eq!(net.run(&griefer, Call::Contract(garbage)).0, Ok(()));

    assert_eq!(net.run(&dev, Call::Contract(parts[1].clone())).0, Ok(()));
    let info = code_info(&net, &code).unwrap();
    assert!(info.valid && info.received == 3 && info.uploader == dev.public_key());
    assert_eq!(pending(&net, &dev, &code), None);
    let stored = read(&net, async |o| contracts::code_bytes(o, &hash(&code)).await).unwrap();
    assert_eq!(stored, Some(code.clone()));
    assert_eq!(
        net.check(&dev, Call::Contract(parts[0].clone()))
            .map(|_| ()),
        refused(ContractError::CodeExists(veil_primitives::to_hex(hash(
            &code
        ))))
    );
}

#[test]
fn refused_code_is_discarded_so_it_can_be_uploaded_again() {
    let (mut net, _) = launched();
    let dev = net.operator.clone();
    // Floats break the policy; the refusal comes with the last chunk and takes every chunk.
    let floats = module(CODE_CHUNK_BYTES + 10, "(func (result f32) (f32.const 1))");
    let parts = chunks(&floats);
    assert_eq!(net.run(&dev, Call::Contract(parts[0].clone())).0, Ok(()));
    let result = net.run(&dev, Call::Contract(parts[1].clone())).0;
    assert!(
        matches!(&result, Err(TxError::Contract(e)) if matches!(**e, ContractError::InvalidCode(ref reason) if reason.contains("floating-point"))),
        "{result:?}"
    );
    assert_eq!(code_info(&net, &floats), None);
    assert_eq!(pending(&net, &dev, &floats), None);
    let o = Overlay::new(&net.state);
    let first = crate::keys::code_chunk(&dev.public_key(), &hash(&floats), 0);
    assert_eq!(block_on(o.get(&first)).unwrap(), None);

    // Chunks that do not hash to the announced hash: refused and discarded too.
    let good = module(CODE_CHUNK_BYTES + 10, "");
    let mut forged = chunks(&good);
    if let ContractCall::UploadCode { chunk, .. } = &mut forged[1] {
        chunk[0] ^= 1;
    }
    assert_eq!(net.run(&dev, Call::Contract(forged[0].clone())).0, Ok(()));
    assert_eq!(
        net.run(&dev, Call::Contract(forged[1].clone())).0,
        refused(ContractError::HashMismatch(veil_primitives::to_hex(hash(
            &good
        ))))
    );
    assert_eq!(
        (code_info(&net, &good), pending(&net, &dev, &good)),
        (None, None)
    );
    // Starting over with the right bytes works.
    upload(&mut net, &dev, &good);
    assert!(code_info(&net, &good).unwrap().valid);
}

#[test]
fn instances_run_on_registered_miners_and_move_only_at_their_developers_word() {
    let (mut net, workers) = launched();
    let dev = net.operator.clone();
    let code = module(100, "");
    let miner = workers[3].key.public_key();
    let stranger_worker = PrivateKey::from_seed(999).public_key();
    let instantiate = |miner: &AccountId, code: &[u8]| {
        Call::Contract(ContractCall::Instantiate {
            code: hash(code),
            miner: miner.clone(),
        })
    };
    assert_eq!(
        net.check(&dev, instantiate(&miner, &code)).map(|_| ()),
        refused(ContractError::UnknownCode(veil_primitives::to_hex(hash(
            &code
        ))))
    );
    upload(&mut net, &dev, &code);
    assert_eq!(
        net.check(&dev, instantiate(&stranger_worker, &code))
            .map(|_| ()),
        refused(ContractError::UnknownMiner(veil_primitives::to_hex(
            &stranger_worker
        )))
    );
    let nonce = net.check(&dev, instantiate(&miner, &code)).unwrap();
    let (result, messages) = net.run(&dev, instantiate(&miner, &code));
    assert_eq!(result, Ok(()));
    let id = contract_id(&dev.public_key(), nonce);
    assert_eq!(
        topic::<ContractEvent>(&messages, CONTRACTS_TOPIC),
        vec![ContractEvent::Instantiated {
            contract: id,
            code: hash(&code),
            developer: dev.public_key(),
            miner: miner.clone(),
            miner_ecdh: workers[3].ecdh,
        }]
    );
    let info = contract_info(&net, &id).unwrap();
    assert_eq!((info.miner.clone(), info.public_key), (miner.clone(), None));

    // The attack: a developer picking a gatekeeper, whose enclave holds the root key, to run
    // its code. Refused on instantiation and on a move.
    let gatekeeper = workers[0].key.public_key();
    assert_eq!(
        net.check(&dev, instantiate(&gatekeeper, &code)).map(|_| ()),
        refused(ContractError::GatekeeperMiner(veil_primitives::to_hex(
            &gatekeeper
        )))
    );
    let to_gatekeeper = Call::Contract(ContractCall::Assign {
        contract: id,
        miner: gatekeeper.clone(),
    });
    assert_eq!(
        net.run(&dev, to_gatekeeper).0,
        refused(ContractError::GatekeeperMiner(veil_primitives::to_hex(
            &gatekeeper
        )))
    );

    let second = second_miner(&mut net);
    let other = second.key.public_key();
    let assign = Call::Contract(ContractCall::Assign {
        contract: id,
        miner: other.clone(),
    });
    let outsider = PrivateKey::from_seed(103);
    assert_eq!(
        net.run(&outsider, assign.clone()).0,
        refused(ContractError::NotDeveloper)
    );
    let (result, messages) = net.run(&dev, assign);
    assert_eq!(result, Ok(()));
    assert_eq!(
        topic::<ContractEvent>(&messages, CONTRACTS_TOPIC),
        vec![ContractEvent::Assigned {
            contract: id,
            code: hash(&code),
            developer: dev.public_key(),
            miner: other.clone(),
            miner_ecdh: second.ecdh,
            assignment: 1,
            reason: Reassignment::Developer,
            log: ContractLog::default(),
            checkpoint: None,
        }]
    );
    let info = contract_info(&net, &id).unwrap();
    assert_eq!(
        (info.miner, info.assignment, info.granted),
        (other, 1, false)
    );
}

/// The attack: anyone instantiating contracts on a miner, whose operator then pays to post
/// every result and message they produce. The operator now decides whose contracts it takes,
/// for developers' instances and moves; governance still may place one.
#[test]
fn a_miner_takes_only_the_contracts_its_operator_admits() {
    let (mut net, workers) = launched();
    let (operator, gov) = (net.operator.clone(), net.gov.clone());
    let miner = workers[3].key.public_key();
    let stranger = PrivateKey::from_seed(300);
    let fund = Call::Transfer {
        to: stranger.public_key(),
        amount: 1_000_000,
    };
    net.run(&gov, fund).0.unwrap();
    let code = module(100, "");
    upload(&mut net, &operator, &code);
    let set = |policy| {
        Call::Contract(ContractCall::SetMinerPolicy {
            miner: miner.clone(),
            policy,
        })
    };
    let only_operator = MinerPolicy::Developers(vec![operator.public_key()]);
    let hex = veil_primitives::to_hex;
    assert_eq!(
        net.run(&stranger, set(MinerPolicy::Open)).0,
        refused(ContractError::NotTheOperator(hex(&miner))),
        "only the worker's operator sets its policy"
    );
    net.run(&operator, set(only_operator)).0.unwrap();
    let instantiate = Call::Contract(ContractCall::Instantiate {
        code: hash(&code),
        miner: miner.clone(),
    });
    let turned_away = refused(ContractError::MinerRefuses {
        miner: hex(&miner),
        developer: hex(&stranger.public_key()),
    });
    assert_eq!(
        net.check(&stranger, instantiate.clone()).map(|_| ()),
        turned_away
    );
    assert_eq!(net.run(&stranger, instantiate.clone()).0, turned_away);
    net.run(&operator, instantiate.clone()).0.unwrap();

    // Nor may the stranger move a contract there from an open miner; governance may.
    let second = second_miner(&mut net);
    let id = instance(&mut net, &stranger, &second);
    let assign = Call::Contract(ContractCall::Assign {
        contract: id,
        miner: miner.clone(),
    });
    assert_eq!(net.run(&stranger, assign.clone()).0, turned_away);
    assert_eq!(net.run(&gov, assign).0, Ok(()));
    assert_eq!(contract_info(&net, &id).unwrap().miner, miner);

    // Open again: anyone's.
    net.run(&operator, set(MinerPolicy::Open)).0.unwrap();
    assert_eq!(net.run(&stranger, instantiate).0, Ok(()));
}

pub(super) fn publish(
    net: &mut Net,
    gatekeeper: &Worker,
    sequence: u64,
    key: &ContractKey,
) -> Result<(), TxError> {
    let relayer = net.operator.clone();
    let call = Call::GatekeeperMessage(Box::new(
        GatekeeperMessage {
            signer: gatekeeper.key.public_key(),
            destination: Destination::Topic(CONTRACT_KEY_TOPIC.to_vec()),
            sequence,
            payload: commonware_codec::Encode::encode(key).to_vec(),
        }
        .sign(&gatekeeper.key, &chain()),
    ));
    net.run(&relayer, call).0
}

/// The gatekeepers' grant of `contract`'s key to `miner` for `assignment`.
pub(super) fn grant(
    net: &mut Net,
    gatekeeper: &Worker,
    contract: Digest,
    miner: &Worker,
    assignment: u64,
) -> Result<(), TxError> {
    let relayer = net.operator.clone();
    let sequence = gatekeeper_sequence(net);
    let grant = ContractGrant {
        contract,
        miner: miner.key.public_key(),
        assignment,
        envelope: Envelope {
            ephemeral: [1; 32],
            ciphertext: vec![2; 256],
        },
    };
    let call = Call::GatekeeperMessage(Box::new(
        GatekeeperMessage {
            signer: gatekeeper.key.public_key(),
            destination: Destination::Topic(CONTRACT_GRANT_TOPIC.to_vec()),
            sequence,
            payload: commonware_codec::Encode::encode(&grant).to_vec(),
        }
        .sign(&gatekeeper.key, &chain()),
    ));
    net.run(&relayer, call).0
}

/// The gatekeepers' stream's next sequence.
pub(super) fn gatekeeper_sequence(net: &Net) -> u64 {
    read(net, async |o| {
        mq::next_sequence(o, &Origin::Gatekeepers).await
    })
    .unwrap()
}

pub(super) fn command(contract: Digest, fuel: u64, len: usize, fill: u8) -> Call {
    Call::Contract(ContractCall::Command {
        contract,
        fuel,
        envelope: Envelope {
            ephemeral: [fill; 32],
            ciphertext: vec![fill; len],
        },
    })
}

/// Uploads a small module (unless it is on chain) and instantiates it on `miner`; returns the
/// contract id.
pub(super) fn instance(net: &mut Net, dev: &PrivateKey, miner: &Worker) -> Digest {
    let code = module(100, "");
    if code_info(net, &code).is_none() {
        upload(net, dev, &code);
    }
    let call = Call::Contract(ContractCall::Instantiate {
        code: hash(&code),
        miner: miner.key.public_key(),
    });
    let nonce = net.check(dev, call.clone()).unwrap();
    net.run(dev, call).0.unwrap();
    contract_id(&dev.public_key(), nonce)
}

#[test]
fn commands_need_the_published_key_a_bucket_and_bounded_fuel_and_their_fee_says_nothing() {
    let (mut net, workers) = launched();
    let dev = net.operator.clone();
    let id = instance(&mut net, &dev, &workers[3]);
    assert_eq!(
        net.check(&dev, command(id, 1_000, 256, 1)).map(|_| ()),
        refused(ContractError::NoKeyYet(veil_primitives::to_hex(id)))
    );

    // The gatekeepers publish the key on their stream; the first one stands.
    let key = ContractKey {
        contract: id,
        public_key: [5; 32],
        sealed_key: vec![9; 60],
    };
    let sequence = gatekeeper_sequence(&net);
    publish(&mut net, &workers[0], sequence, &key).unwrap();
    let later = ContractKey {
        public_key: [6; 32],
        ..key.clone()
    };
    publish(&mut net, &workers[1], sequence + 1, &later).unwrap();
    let unknown = ContractKey {
        contract: hash(b"nothing"),
        ..key.clone()
    };
    publish(&mut net, &workers[1], sequence + 2, &unknown).unwrap();
    assert_eq!(contract_info(&net, &id).unwrap().public_key, Some([5; 32]));
    assert_eq!(
        contract_info(&net, &hash(b"nothing")),
        None,
        "a key for no contract creates nothing"
    );

    // Commands wait until the miner has its key: grants for another miner or another
    // assignment do not count.
    assert_eq!(
        net.check(&dev, command(id, 1_000, 256, 1)).map(|_| ()),
        refused(ContractError::NotGranted(veil_primitives::to_hex(id)))
    );
    grant(&mut net, &workers[0], id, &workers[2], 0).unwrap();
    grant(&mut net, &workers[0], id, &workers[3], 1).unwrap();
    assert!(!contract_info(&net, &id).unwrap().granted);
    grant(&mut net, &workers[0], id, &workers[3], 0).unwrap();
    assert!(contract_info(&net, &id).unwrap().granted);

    // Until the developer's first command (its init) lands, nobody else may command it: a
    // front-runner cannot initialize someone else's contract.
    let stranger = PrivateKey::from_seed(103);
    assert_eq!(
        net.run(&stranger, command(id, 1_000, 256, 1)).0,
        refused(ContractError::NotInitialized(veil_primitives::to_hex(id)))
    );
    assert!(!contract_info(&net, &id).unwrap().initialized);

    // Lengths other than buckets and fuel out of bounds are refused.
    assert_eq!(
        net.check(&dev, command(id, 1_000, 255, 1)).map(|_| ()),
        refused(ContractError::NotABucket(255))
    );
    let max = veil_primitives::contract::ContractParams::default().max_command_fuel;
    for fuel in [0, max + 1] {
        assert_eq!(
            net.check(&dev, command(id, fuel, 256, 1)).map(|_| ()),
            refused(ContractError::BadFuel { got: fuel, max })
        );
    }
    assert_eq!(
        net.check(&dev, command(hash(b"nothing"), 1_000, 256, 1))
            .map(|_| ()),
        refused(ContractError::UnknownContract(veil_primitives::to_hex(
            hash(b"nothing")
        )))
    );

    // A command is routed to the contract with what its envelope's associated data binds.
    let tx = net.tx(&dev, command(id, 2_000, 1024, 3));
    let (nonce, expiry) = (tx.transaction.nonce, tx.transaction.expiry);
    let out = net.block(vec![tx]);
    assert_eq!(out.receipts[0].result, Ok(()));
    let routed: Vec<&Message> = out
        .messages
        .iter()
        .filter(|m| m.destination == Destination::Contract(id))
        .collect();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].origin, Origin::Account(dev.public_key()));
    let message =
        <CommandMessage as commonware_codec::DecodeExt<()>>::decode(routed[0].payload.clone())
            .unwrap();
    assert_eq!(
        (message.nonce, message.expiry, message.fuel),
        (nonce, expiry, 2_000)
    );
    assert_eq!(message.envelope.ciphertext, vec![3; 1024]);
    assert!(contract_info(&net, &id).unwrap().initialized);
    assert_eq!(net.run(&stranger, command(id, 1_000, 256, 9)).0, Ok(()));

    // Same bucket and fuel, other contents: the same fee. More fuel costs more.
    let fee = |net: &mut Net, call: Call| net.block(vec![net.tx(&dev, call)]).receipts[0].fee;
    let a = fee(&mut net, command(id, 2_000, 1024, 4));
    let b = fee(&mut net, command(id, 2_000, 1024, 200));
    let c = fee(&mut net, command(id, 200_000, 1024, 4));
    assert_eq!(a, b);
    assert!(c > a);

    // Raw messages cannot claim the contract's stream.
    let raw = Call::SendMessage {
        destination: Destination::Contract(id),
        payload: vec![1],
    };
    assert_eq!(
        net.check(&dev, raw.clone()).map(|_| ()),
        refused(ContractError::RawContractMessage)
    );
    assert_eq!(
        net.run(&dev, raw).0,
        refused(ContractError::RawContractMessage)
    );
    // Nor can a worker or the gatekeepers write into it.
    let w = &workers[3];
    let sequence = read(&net, async |o| {
        mq::next_sequence(o, &Origin::Worker(w.key.public_key())).await
    })
    .unwrap();
    let from_worker = Call::WorkerMessage(Box::new(
        veil_primitives::WorkerMessage {
            sender: w.key.public_key(),
            destination: Destination::Contract(id),
            sequence,
            payload: vec![1],
        }
        .sign(&w.key, &chain()),
    ));
    assert_eq!(
        net.check(&dev, from_worker.clone()).map(|_| ()),
        refused(ContractError::RawContractMessage)
    );
    assert_eq!(
        net.run(&dev, from_worker).0,
        refused(ContractError::RawContractMessage)
    );
    let sequence = gatekeeper_sequence(&net);
    let from_gatekeepers = Call::GatekeeperMessage(Box::new(
        GatekeeperMessage {
            signer: workers[0].key.public_key(),
            destination: Destination::Contract(id),
            sequence,
            payload: vec![1],
        }
        .sign(&workers[0].key, &chain()),
    ));
    assert_eq!(
        net.run(&dev, from_gatekeepers).0,
        refused(ContractError::RawContractMessage)
    );
}

#[test]
fn governance_sets_the_contract_parameters_and_commands_pay_by_them() {
    let (mut net, workers) = launched();
    let dev = net.operator.clone();
    let id = instance(&mut net, &dev, &workers[3]);
    let sequence = gatekeeper_sequence(&net);
    let key = ContractKey {
        contract: id,
        public_key: [5; 32],
        sealed_key: vec![9; 60],
    };
    publish(&mut net, &workers[0], sequence, &key).unwrap();
    grant(&mut net, &workers[0], id, &workers[3], 0).unwrap();
    let fee = |net: &mut Net, fuel| {
        net.block(vec![net.tx(&dev, command(id, fuel, 256, 1))])
            .receipts[0]
            .fee
    };
    let before = fee(&mut net, 1_000_000) - fee(&mut net, 1_000);

    let gov = net.gov.clone();
    let set = |p: ContractParams| Call::Governance(GovernanceCall::SetContractParams(p));
    let dearer = ContractParams {
        fuel_price_per_kilo: 3,
        max_command_fuel: 2_000_000,
        ..ContractParams::default()
    };
    assert_eq!(
        net.run(&dev, set(dearer.clone())).0,
        Err(TxError::NotGovernance)
    );
    assert_eq!(
        net.run(
            &gov,
            set(ContractParams {
                max_command_fuel: 1,
                ..ContractParams::default()
            })
        )
        .0,
        Err(TxError::InvalidParams(
            "max_command_fuel must be at least 100000"
        ))
    );
    assert_eq!(net.run(&gov, set(dearer)).0, Ok(()));
    // 999,000 fuel more costs three times what it did; the new limit holds.
    assert_eq!(fee(&mut net, 1_000_000) - fee(&mut net, 1_000), 3 * before);
    assert_eq!(
        net.check(&dev, command(id, 2_000_001, 256, 1)).map(|_| ()),
        refused(ContractError::BadFuel {
            got: 2_000_001,
            max: 2_000_000
        })
    );
}

/// A review found that the last chunk's index was computed as `index + 1` before the index
/// was bounded: `u32::MAX` overflowed and panicked every validator executing the block
/// (release builds check overflow).
#[test]
fn an_upload_chunk_index_at_the_top_of_its_range_is_refused_not_a_panic() {
    let (mut net, _) = launched();
    let dev = net.operator.clone();
    let call = Call::Contract(ContractCall::UploadCode {
        hash: hash(b"code"),
        size: 1,
        index: u32::MAX,
        chunk: vec![0],
    });
    let bad_chunk = refused(ContractError::BadChunk {
        index: u32::MAX,
        chunks: 1,
        len: 1,
        expected: 0,
    });
    assert_eq!(net.check(&dev, call.clone()).map(|_| ()), bad_chunk);
    assert_eq!(net.run(&dev, call).0, bad_chunk);
}

#[test]
fn governance_cannot_shrink_messages_below_what_pruntime_egress_needs() {
    // pRuntime sizes contract results to MIN_MESSAGE_BYTES; a smaller limit would make the
    // chain refuse a signed result for good and stop that worker's egress sequence.
    let (mut net, _) = launched();
    let gov = net.gov.clone();
    let smaller = veil_primitives::Params {
        max_message_bytes: veil_primitives::MIN_MESSAGE_BYTES - 1,
        ..veil_primitives::Params::default()
    };
    assert_eq!(
        net.run(&gov, Call::Governance(GovernanceCall::SetParams(smaller)))
            .0,
        Err(TxError::InvalidParams(
            "max_message_bytes must be at least 16384 (pRuntime's egress fits it)"
        ))
    );
    assert!(
        veil_primitives::contract::MAX_RESULTS_BYTES <= veil_primitives::MIN_MESSAGE_BYTES as usize
    );
}

/// A message (or reply) between two contracts, signed by `signer`.
pub(super) fn post(egress: ContractEgress, signer: &PrivateKey) -> Call {
    Call::Contract(ContractCall::Post(vec![egress.sign(signer, &chain())]))
}

pub(super) fn message(
    source: Digest,
    destination: Digest,
    sequence: u64,
    sealed: bool,
) -> ContractEgress {
    ContractEgress::Message(ContractMessage {
        source,
        destination,
        sequence,
        fuel: 1_000,
        envelope: sealed.then(|| Envelope {
            ephemeral: [3; 32],
            ciphertext: vec![4; 256],
        }),
    })
}

fn reply(source: Digest, destination: Digest, sequence: u64) -> ContractEgress {
    ContractEgress::Reply(ContractReply {
        source,
        destination,
        sequence,
        fuel: 1_000,
        envelope: Some(Envelope {
            ephemeral: [5; 32],
            ciphertext: vec![6; 256],
        }),
    })
}

pub(super) fn channel(net: &Net, source: &Digest, destination: &Digest) -> Channel {
    read(net, async |o| {
        contracts::channel(o, source, destination).await
    })
    .unwrap()
}

#[test]
fn contract_messages_are_routed_in_sequence_from_the_source_miner_and_answered_once() {
    let (mut net, workers) = launched();
    let dev = net.operator.clone();
    let second = second_miner(&mut net);
    let (miner_a, miner_b) = (&workers[3], &second);
    let code = module(100, "");
    upload(&mut net, &dev, &code);
    let mut instantiate = |miner: &Worker| {
        let call = Call::Contract(ContractCall::Instantiate {
            code: hash(&code),
            miner: miner.key.public_key(),
        });
        let nonce = net.check(&dev, call.clone()).unwrap();
        net.run(&dev, call).0.unwrap();
        contract_id(&dev.public_key(), nonce)
    };
    let token = instantiate(miner_a);
    let vault = instantiate(miner_b);

    // The source's miner signs message 0: routed to the destination, from the source.
    let (result, routed) = net.run(&dev, post(message(token, vault, 0, true), &miner_a.key));
    assert_eq!(result, Ok(()));
    let routed: Vec<_> = routed
        .into_iter()
        .filter(|m| m.destination == Destination::Contract(vault))
        .collect();
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].origin, Origin::Contract(token));
    assert_eq!(
        ContractEgress::decode(routed[0].payload.clone()).unwrap(),
        message(token, vault, 0, true)
    );
    assert_eq!(
        channel(&net, &token, &vault),
        Channel {
            sent: 1,
            replied: 0
        }
    );

    // Replayed, skipped, forged by another miner, or tampered: refused, nothing routed.
    let replayed = net.run(&dev, post(message(token, vault, 0, true), &miner_a.key));
    assert!(
        matches!(&replayed.0, Err(TxError::Contract(e)) if matches!(**e, ContractError::MessageReplayed { expected: 1, got: 0, .. })),
        "{replayed:?}"
    );
    let skipped = net.run(&dev, post(message(token, vault, 2, true), &miner_a.key));
    assert!(
        matches!(&skipped.0, Err(TxError::Contract(e)) if matches!(**e, ContractError::MessageSkipped { expected: 1, got: 2, .. })),
        "{skipped:?}"
    );
    // The pool keeps one a little ahead (its predecessor may be pending), never one behind.
    assert!(
        net.check(&dev, post(message(token, vault, 2, true), &miner_a.key))
            .is_ok()
    );
    assert!(
        net.check(&dev, post(message(token, vault, 0, true), &miner_a.key))
            .is_err()
    );
    let forged = net.run(&dev, post(message(token, vault, 1, true), &miner_b.key));
    assert!(
        matches!(&forged.0, Err(TxError::Contract(e)) if matches!(**e, ContractError::NotTheMiner { .. })),
        "{forged:?}"
    );
    let mut tampered = message(token, vault, 1, true).sign(&miner_a.key, &chain());
    if let ContractEgress::Message(m) = &mut tampered.egress {
        m.fuel += 1;
    }
    assert_eq!(
        net.run(&dev, Call::Contract(ContractCall::Post(vec![tampered])))
            .0,
        refused(ContractError::BadMessageSignature)
    );
    assert_eq!(
        channel(&net, &token, &vault),
        Channel {
            sent: 1,
            replied: 0
        }
    );

    // One reply, from the destination's miner, for a message the channel carried.
    let wrong_miner = net.run(&dev, post(reply(token, vault, 0), &miner_a.key));
    assert!(
        matches!(&wrong_miner.0, Err(TxError::Contract(e)) if matches!(**e, ContractError::NotTheMiner { .. }))
    );
    let early = net.run(&dev, post(reply(token, vault, 1), &miner_b.key));
    assert!(
        matches!(&early.0, Err(TxError::Contract(e)) if matches!(**e, ContractError::MessageSkipped { .. }))
    );
    let (result, routed) = net.run(&dev, post(reply(token, vault, 0), &miner_b.key));
    assert_eq!(result, Ok(()));
    assert!(
        routed.iter().any(|m| m.origin == Origin::Contract(vault)
            && m.destination == Destination::Contract(token))
    );
    let twice = net.run(&dev, post(reply(token, vault, 0), &miner_b.key));
    assert!(
        matches!(&twice.0, Err(TxError::Contract(e)) if matches!(**e, ContractError::MessageReplayed { .. }))
    );
    assert_eq!(
        channel(&net, &token, &vault),
        Channel {
            sent: 1,
            replied: 1
        }
    );

    // To a contract that does not exist, or one the source could not seal to: the chain
    // answers NotDelivered itself, at once.
    let nowhere = hash(b"no such contract");
    for (destination, sealed) in [(nowhere, true), (vault, false)] {
        let sequence = channel(&net, &token, &destination).sent;
        let (result, routed) = net.run(
            &dev,
            post(message(token, destination, sequence, sealed), &miner_a.key),
        );
        assert_eq!(result, Ok(()));
        let answers: Vec<_> = routed
            .iter()
            .filter(|m| m.destination == Destination::Contract(token))
            .collect();
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].origin, Origin::Chain);
        let ContractEgress::Reply(r) = ContractEgress::decode(answers[0].payload.clone()).unwrap()
        else {
            panic!("not a reply");
        };
        assert_eq!(
            (r.destination, r.sequence, r.envelope),
            (destination, sequence, None)
        );
        assert!(
            !routed
                .iter()
                .any(|m| m.destination == Destination::Contract(destination))
        );
        let ch = channel(&net, &token, &destination);
        assert_eq!(ch.sent, ch.replied);
    }

    // Several in one transaction: each after the one before it, all or none.
    let n = channel(&net, &token, &vault).sent;
    let both = Call::Contract(ContractCall::Post(vec![
        message(token, vault, n, true).sign(&miner_a.key, &chain()),
        message(token, vault, n + 1, true).sign(&miner_a.key, &chain()),
    ]));
    let (result, routed) = net.run(&dev, both);
    assert_eq!(result, Ok(()));
    let sequences: Vec<u64> = routed
        .iter()
        .filter(|m| m.destination == Destination::Contract(vault))
        .map(|m| {
            ContractEgress::decode(m.payload.clone())
                .unwrap()
                .sequence()
        })
        .collect();
    assert_eq!(sequences, [n, n + 1]);
    let with_replay = Call::Contract(ContractCall::Post(vec![
        message(token, vault, n + 2, true).sign(&miner_a.key, &chain()),
        message(token, vault, n + 1, true).sign(&miner_a.key, &chain()),
    ]));
    let (result, routed) = net.run(&dev, with_replay);
    assert!(
        matches!(&result, Err(TxError::Contract(e)) if matches!(**e, ContractError::MessageReplayed { .. }))
    );
    assert!(
        !routed
            .iter()
            .any(|m| m.destination == Destination::Contract(vault))
    );
    assert_eq!(channel(&net, &token, &vault).sent, n + 2);
}

/// The attack: on a network that admits dev workers, one whose identity was chosen to sort
/// first for a contract took it over when its attested miner stopped answering, and its host
/// read the contract key (and with it every command sent to the contract). A contract on an
/// enclave now moves only to enclaves; dev workers come last for the others.
#[test]
fn a_contract_on_an_enclave_never_moves_to_a_dev_worker() {
    use contracts::{Candidate, pick_miner};
    let id = hash(b"contract");
    let rank =
        |w: &AccountId| veil_primitives::hash_parts(&[b"veil/miner-pick", id.as_ref(), w.as_ref()]);
    let current = PrivateKey::from_seed(1).public_key();
    let enclave = PrivateKey::from_seed(2).public_key();
    // The attacker grinds its dev identity until it sorts before the enclave.
    let ground = (3..)
        .map(|seed| PrivateKey::from_seed(seed).public_key())
        .find(|w| rank(w) < rank(&enclave))
        .unwrap();
    let candidate = |worker: &AccountId, insecure| Candidate {
        gatekeeper: false,
        insecure,
        policy: MinerPolicy::Open,
        worker: worker.clone(),
    };
    let dev = PrivateKey::from_seed(100).public_key();
    let both = [candidate(&ground, true), candidate(&enclave, false)];
    assert_eq!(
        pick_miner(&both, &id, &dev, &current, true),
        Some(enclave.clone())
    );
    // With no other enclave the contract stays where it is rather than go to a dev worker.
    assert_eq!(pick_miner(&both[..1], &id, &dev, &current, true), None);
    // A contract already on a dev worker prefers an enclave, and may go to another dev worker.
    assert_eq!(
        pick_miner(&both, &id, &dev, &current, false),
        Some(enclave.clone())
    );
    assert_eq!(
        pick_miner(&both[..1], &id, &dev, &current, false),
        Some(ground.clone())
    );
    // Nor to a gatekeeper, even the only worker left: the contract stays where it is.
    let gatekeeper = Candidate {
        gatekeeper: true,
        ..candidate(&enclave, false)
    };
    assert_eq!(pick_miner(&[gatekeeper], &id, &dev, &current, false), None);
    // Nor does a contract move to a miner whose operator takes none of its developer's.
    let closed = Candidate {
        policy: MinerPolicy::Developers(vec![enclave.clone()]),
        ..candidate(&ground, true)
    };
    assert_eq!(pick_miner(&[closed], &id, &dev, &current, false), None);
    // A miner gone from the registry (expired, replaced) counts as an enclave while the
    // network has any: its contract, moved for missed checkpoints, cannot fall to the dev
    // worker. On a network of dev workers only, contracts still move.
    use contracts::stays_on_enclaves;
    assert!(stays_on_enclaves(Some(false), false));
    assert!(!stays_on_enclaves(Some(true), true));
    assert!(stays_on_enclaves(None, true));
    assert!(!stays_on_enclaves(None, false));
}

/// An era reads a bounded window of a miner's contracts, starting at a place drawn per block,
/// so contracts that cannot move do not keep the others from their turn.
#[test]
fn an_era_reads_a_bounded_window_of_a_miners_contracts_from_a_drawn_place() {
    let (mut net, workers) = launched();
    let dev = net.operator.clone();
    let mut ids: Vec<Digest> = (0..5)
        .map(|_| instance(&mut net, &dev, &workers[3]))
        .collect();
    ids.sort();
    let miner = workers[3].key.public_key();
    let window = |seed: u8, max: usize| {
        read(&net, async |o| {
            contracts::contracts_from(o, &miner, &hash(&[seed]), max).await
        })
        .unwrap()
    };
    let mut all = window(0, 10);
    all.sort();
    assert_eq!(all, ids, "room for all: all of them");
    let starts: std::collections::BTreeSet<Digest> = (0..20).map(|s| window(s, 2)[0]).collect();
    assert!(starts.len() > 1, "the window starts at different places");
    for s in 0..20 {
        let w = window(s, 2);
        assert_eq!(w.len(), 2);
        assert_ne!(w[0], w[1]);
    }
    assert!(window(0, 0).is_empty());
}
