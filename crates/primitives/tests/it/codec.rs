//! Property tests of the wire formats: every well-formed value round-trips, and arbitrary or
//! mutated bytes decode to an error, never a panic or a different value.

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use proptest::prelude::*;
use veil_primitives::contract::{
    Channel, CheckpointChunk, CheckpointInfo, CheckpointUpload, CodeInfo, CommandMessage,
    CommandResult, ContractCall, ContractEgress, ContractEvent, ContractGrant, ContractInfo,
    ContractKey, ContractLog, ContractMessage, ContractParams, ContractReply, ContractResults,
    Envelope, LogEntry, MessageOutcome, MinerPolicy, Reassignment, Reply, SignedCheckpointChunk,
    SignedContractEgress, bucket, contract_id, is_bucket,
};
use veil_primitives::{
    Block, BlockLimits, Call, ChainIdentity, Destination, Divergence, Election, GatekeeperMessage,
    GenesisWorker, GovernanceCall, Handover, Header, KeyHolder, Launch, Measurement, Message,
    Origin, Params, Phase, PrivateKey, Ready, Registration, RegistryEvent, RegistryParams,
    SignedGatekeeperMessage, SignedTransaction, SignedWorkerMessage, Slashed, StakingCall,
    StakingParams, TeeKind, Transaction, TxLimits, WorkerInfo, WorkerMessage, hash, root_key_check,
};

fn holder(seed: u64) -> KeyHolder {
    KeyHolder {
        worker: PrivateKey::from_seed(seed).public_key(),
        ecdh_key: [seed as u8; 32],
        endpoint: format!("http://127.0.0.1:{}", seed % 65_536),
        tee: [
            None,
            Some(TeeKind::Dev),
            Some(TeeKind::SgxDcap),
            Some(TeeKind::Tdx),
        ][(seed % 4) as usize],
    }
}

fn chain() -> ChainIdentity {
    ChainIdentity {
        chain_id: 3,
        genesis_hash: hash(b"g"),
    }
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (any::<u64>(), any::<u128>()).prop_map(|(seed, amount)| Call::Transfer {
            to: PrivateKey::from_seed(seed).public_key(),
            amount
        }),
        (any::<u128>(), 256u32..65_536).prop_map(|(fee, max)| Call::Governance(
            GovernanceCall::SetParams(Params {
                base_fee: fee,
                max_tx_bytes: max,
                ..Params::default()
            })
        )),
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(topic, payload)| Call::SendMessage {
                destination: Destination::Topic(topic),
                payload
            }),
        (
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 1..64),
            any::<u16>()
        )
            .prop_map(|(fresh, m, svn)| Call::Governance(
                GovernanceCall::SetRegistryParams(RegistryParams {
                    freshness_blocks: fresh,
                    allowlist: vec![
                        Measurement::Sgx(m.clone()),
                        Measurement::Tdx(m.clone()),
                        Measurement::Dev(m),
                        Measurement::SgxSigner {
                            mr_signer: vec![1; 32],
                            prod_id: svn ^ 1,
                            min_svn: svn
                        }
                    ],
                    advisories: vec!["INTEL-SA-00001".into()],
                    min_tcb_evaluation: u32::from(svn),
                    ..RegistryParams::default()
                })
            )),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(seed, height, evidence, collateral)| {
                let worker = PrivateKey::from_seed(seed);
                Call::Register(Box::new(Registration {
                    worker: worker.public_key(),
                    ecdh_key: [7; 32],
                    operator: PrivateKey::from_seed(seed ^ 1).public_key(),
                    endpoint: "http://127.0.0.1:8001".into(),
                    attested_height: height,
                    signature: worker.sign(b"x", b"y"),
                    evidence,
                    collateral,
                }))
            }),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(seed, sequence, payload)| {
                let worker = PrivateKey::from_seed(seed);
                Call::WorkerMessage(Box::new(
                    WorkerMessage {
                        sender: worker.public_key(),
                        destination: Destination::Topic(b"veil/heartbeat".to_vec()),
                        sequence,
                        payload,
                    }
                    .sign(&worker, &chain()),
                ))
            }),
        (any::<u128>(), any::<u64>(), 0usize..20).prop_map(|(amount, seed, n)| {
            let targets: Vec<_> = (0..n as u64)
                .map(|i| PrivateKey::from_seed(seed ^ i).public_key())
                .collect();
            Call::Staking(match seed % 6 {
                0 => StakingCall::Bond { amount },
                1 => StakingCall::Unbond { amount },
                2 => StakingCall::WithdrawUnbonded,
                3 => StakingCall::Candidate {
                    worker: PrivateKey::from_seed(seed).public_key(),
                },
                4 => StakingCall::Nominate {
                    targets: targets.into_iter().take(16).collect(),
                },
                _ => StakingCall::Chill,
            })
        }),
        (1u32..1000, any::<u128>(), any::<u64>(), any::<u32>()).prop_map(
            |(n, bond, deadline, ppm)| Call::Governance(GovernanceCall::SetStakingParams(
                StakingParams {
                    n_gatekeepers: n,
                    gatekeeper_min_bond: bond,
                    distribution_deadline_blocks: deadline,
                    slash_ppm: ppm,
                    ..StakingParams::default()
                }
            ))
        ),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(seed, sequence, payload)| {
                let key = PrivateKey::from_seed(seed);
                Call::GatekeeperMessage(Box::new(
                    GatekeeperMessage {
                        signer: key.public_key(),
                        destination: Destination::Topic(b"veil/gatekeeper-state".to_vec()),
                        sequence,
                        payload,
                    }
                    .sign(&key, &chain()),
                ))
            }),
        (any::<u128>(), any::<u64>(), any::<u128>()).prop_map(|(price, fuel, byte_fee)| {
            Call::Governance(GovernanceCall::SetContractParams(ContractParams {
                fuel_price_per_kilo: price,
                max_command_fuel: fuel,
                code_byte_fee: byte_fee,
                checkpoint_interval: fuel / 7,
                checkpoint_grace: fuel / 3,
            }))
        }),
        (
            any::<u64>(),
            any::<u64>(),
            0usize..3,
            proptest::collection::vec(any::<u8>(), 1..300)
        )
            .prop_map(|(seed, fuel, kind, bytes)| {
                let contract = contract_id(&PrivateKey::from_seed(seed).public_key(), fuel);
                Call::Contract(match kind {
                    0 => ContractCall::UploadCode {
                        hash: hash(&bytes),
                        size: bytes.len() as u32,
                        index: 0,
                        chunk: bytes,
                    },
                    1 => ContractCall::Instantiate {
                        code: hash(&bytes),
                        miner: PrivateKey::from_seed(seed).public_key(),
                    },
                    _ => ContractCall::Command {
                        contract,
                        fuel,
                        envelope: Envelope {
                            ephemeral: [seed as u8; 32],
                            ciphertext: vec![1; bucket(bytes.len())],
                        },
                    },
                })
            }),
    ]
}

fn signed_tx() -> impl Strategy<Value = SignedTransaction> {
    (any::<u64>(), any::<u64>(), any::<u64>(), call()).prop_map(|(seed, nonce, expiry, call)| {
        let key = PrivateKey::from_seed(seed);
        Transaction {
            sender: key.public_key(),
            nonce,
            expiry,
            call,
        }
        .sign(&key, &chain())
    })
}

fn header() -> impl Strategy<Value = Header> {
    (any::<u64>(), any::<[u8; 32]>(), any::<u64>()).prop_map(|(height, parent, timestamp)| Header {
        height,
        parent: parent.into(),
        timestamp,
        state_root: hash(b"s"),
        transactions_root: hash(b"t"),
        messages_root: hash(b"m"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transactions_round_trip(tx in signed_tx()) {
        let bytes = tx.encode();
        let back = SignedTransaction::decode_cfg(bytes.clone(), &TxLimits::default()).unwrap();
        prop_assert!(back.verify(&chain()));
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, tx);
    }

    #[test]
    fn mutated_transactions_never_verify_as_the_original(tx in signed_tx(), pos in any::<usize>(), bit in 0u8..8) {
        let mut bytes = tx.encode().to_vec();
        let i = pos % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(back) = SignedTransaction::decode_cfg(bytes, &TxLimits::default()) {
            // The signature covers every other byte, so any change breaks it.
            prop_assert!(back == tx || !back.verify(&chain()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedTransaction::decode_cfg(bytes.clone(), &TxLimits::default());
        let _ = Block::decode_cfg(bytes.clone(), &BlockLimits::default());
        let _ = Header::decode(bytes.clone());
        let _ = Message::decode_cfg(bytes.clone(), &1024);
        let _ = Registration::decode(bytes.clone());
        let _ = RegistryParams::decode(bytes.clone());
        let _ = WorkerInfo::decode(bytes.clone());
        let _ = RegistryEvent::decode(bytes.clone());
        let _ = SignedWorkerMessage::decode_cfg(bytes.clone(), &1024);
        let _ = StakingParams::decode(bytes.clone());
        let _ = Election::decode(bytes.clone());
        let _ = Launch::decode(bytes.clone());
        let _ = Handover::decode(bytes.clone());
        let _ = Ready::decode(bytes.clone());
        let _ = Slashed::decode(bytes.clone());
        let _ = Divergence::decode(bytes.clone());
        let _ = Phase::decode(bytes.clone());
        let _ = GenesisWorker::decode(bytes.clone());
        let _ = SignedGatekeeperMessage::decode_cfg(bytes.clone(), &1024);
        let _ = ContractCall::decode(bytes.clone());
        let _ = ContractInfo::decode(bytes.clone());
        let _ = CodeInfo::decode(bytes.clone());
        let _ = CommandMessage::decode(bytes.clone());
        let _ = ContractEvent::decode(bytes.clone());
        let _ = ContractParams::decode(bytes.clone());
        let _ = ContractKey::decode(bytes.clone());
        let _ = ContractEgress::decode(bytes.clone());
        let _ = SignedContractEgress::decode(bytes.clone());
        let _ = MessageOutcome::decode(bytes.clone());
        let _ = Channel::decode(bytes.clone());
        let _ = ContractLog::decode(bytes.clone());
        let _ = CheckpointInfo::decode(bytes.clone());
        let _ = CheckpointUpload::decode(bytes.clone());
        let _ = SignedCheckpointChunk::decode(bytes.clone());
        let _ = LogEntry::decode_cfg(bytes.clone(), &1024);
        let _ = Params::decode(bytes);
    }

    #[test]
    fn contract_types_round_trip_and_truncation_fails(
        seed in any::<u64>(),
        nonce in any::<u64>(),
        chunk in proptest::collection::vec(any::<u8>(), 1..512),
        plaintext in 0usize..20_000,
        cut in any::<usize>(),
    ) {
        let who = PrivateKey::from_seed(seed).public_key();
        let contract = contract_id(&who, nonce);
        let envelope = Envelope { ephemeral: [seed as u8; 32], ciphertext: vec![7; bucket(plaintext).min(32 * 1024)] };
        prop_assert!(is_bucket(bucket(plaintext)));
        let calls = [
            ContractCall::UploadCode { hash: hash(&chunk), size: chunk.len() as u32, index: 0, chunk: chunk.clone() },
            ContractCall::Instantiate { code: hash(&chunk), miner: who.clone() },
            ContractCall::Assign { contract, miner: who.clone() },
            ContractCall::Command { contract, fuel: nonce, envelope: envelope.clone() },
            ContractCall::SetMinerPolicy { miner: who.clone(), policy: MinerPolicy::Open },
            ContractCall::SetMinerPolicy { miner: who.clone(), policy: MinerPolicy::Developers(vec![who.clone(); (nonce % 65) as usize]) },
        ];
        for call in calls {
            let bytes = call.encode();
            prop_assert_eq!(ContractCall::decode(bytes.clone()).unwrap(), call);
            let cut = cut % bytes.len();
            prop_assert!(ContractCall::decode(bytes.slice(..cut)).is_err());
        }
        // A policy naming more developers than a miner may list is refused.
        let long = MinerPolicy::Developers(vec![who.clone(); 65]).encode();
        prop_assert!(MinerPolicy::decode(long).is_err());
        // Messages between contracts, signed by the miner: round trip, truncation, signature.
        let key = PrivateKey::from_seed(seed);
        let chain = ChainIdentity { chain_id: seed, genesis_hash: hash(&chunk) };
        let other = contract_id(&who, nonce.wrapping_add(1));
        let posts = [
            ContractEgress::Message(ContractMessage { source: contract, destination: other, sequence: nonce, fuel: seed, envelope: Some(envelope.clone()) }),
            ContractEgress::Message(ContractMessage { source: contract, destination: other, sequence: 0, fuel: 1, envelope: None }),
            ContractEgress::Reply(ContractReply { source: contract, destination: other, sequence: nonce, fuel: seed, envelope: Some(envelope.clone()) }),
        ];
        for egress in posts {
            let signed = egress.clone().sign(&key, &chain);
            prop_assert!(signed.verify(&chain));
            let bytes = signed.encode();
            let decoded = SignedContractEgress::decode(bytes.clone()).unwrap();
            prop_assert_eq!(&decoded, &signed);
            prop_assert!(SignedContractEgress::decode(bytes.slice(..cut % bytes.len())).is_err());
            let elsewhere = ChainIdentity { chain_id: seed.wrapping_add(1), ..chain };
            prop_assert!(!signed.verify(&elsewhere));
            let call = ContractCall::Post(vec![signed.clone(), signed]);
            prop_assert_eq!(ContractCall::decode(call.encode()).unwrap(), call);
        }
        for outcome in [MessageOutcome::Ok(chunk.clone()), MessageOutcome::Err(seed as u32), MessageOutcome::NotDelivered] {
            prop_assert_eq!(MessageOutcome::decode(outcome.encode()).unwrap(), outcome);
        }
        let log = ContractLog { count: seed, hash: hash(&chunk) };
        let checkpoint = CheckpointInfo { height: nonce, log, root: hash(b"root"), size: seed as u32, digest: hash(b"sealed"), miner: who.clone() };
        let info = ContractInfo { developer: who.clone(), code: hash(&chunk), miner: who.clone(), created: nonce, public_key: Some([1; 32]), initialized: seed % 2 == 0, assignment: nonce / 3, granted: seed % 3 == 0, assigned_at: seed, log, checkpoint: (seed % 2 == 0).then(|| checkpoint.clone()) };
        prop_assert_eq!(ContractInfo::decode(info.encode()).unwrap(), info);
        let chunk_call = ContractCall::Checkpoint(Box::new(CheckpointChunk { contract, height: nonce, log, root: hash(b"root"), size: seed as u32, digest: hash(b"sealed"), index: nonce as u32, bytes: chunk.clone() }.sign(&key, &chain)));
        let bytes = chunk_call.encode();
        prop_assert_eq!(ContractCall::decode(bytes.clone()).unwrap(), chunk_call.clone());
        prop_assert!(ContractCall::decode(bytes.slice(..cut % bytes.len())).is_err());
        if let ContractCall::Checkpoint(signed) = &chunk_call {
            prop_assert!(signed.verify(&chain));
            let elsewhere = ChainIdentity { chain_id: seed.wrapping_add(1), ..chain };
            prop_assert!(!signed.verify(&elsewhere));
        }
        let message = CommandMessage { nonce, expiry: seed, fuel: 5, envelope };
        prop_assert_eq!(CommandMessage::decode(message.encode()).unwrap(), message);
        let events = [
            ContractEvent::Instantiated { contract, code: hash(&chunk), developer: who.clone(), miner: who.clone(), miner_ecdh: [seed as u8; 32] },
            ContractEvent::Assigned { contract, code: hash(&chunk), developer: who.clone(), miner: who.clone(), miner_ecdh: [3; 32], assignment: nonce, reason: Reassignment::Unresponsive, log, checkpoint: Some(checkpoint) },
        ];
        for event in events {
            let bytes = event.encode();
            prop_assert_eq!(ContractEvent::decode(bytes.clone()).unwrap(), event);
            prop_assert!(ContractEvent::decode(bytes.slice(..cut % bytes.len())).is_err());
        }
        let grant = ContractGrant { contract, miner: who.clone(), assignment: nonce, envelope: Envelope { ephemeral: [1; 32], ciphertext: vec![2; 256] } };
        prop_assert_eq!(ContractGrant::decode(grant.encode()).unwrap(), grant);
        let results = ContractResults { contract, results: vec![
            CommandResult { sender: who.clone(), nonce, height: seed, reply: vec![] },
            CommandResult { sender: who.clone(), nonce, height: seed, reply: vec![9; 1024] },
        ] };
        let bytes = results.encode();
        prop_assert_eq!(ContractResults::decode(bytes.clone()).unwrap(), results);
        prop_assert!(ContractResults::decode(bytes.slice(..cut % bytes.len())).is_err());
        let replies = [
            Reply::Ok { output: chunk.clone(), events: vec![chunk.clone(), vec![]], fuel_used: nonce },
            Reply::Error { code: seed as u32, message: "nope ✓".into(), fuel_used: 1 },
            Reply::Failed { reason: "out of fuel".into(), fuel_used: 2 },
        ];
        for reply in replies {
            let bytes = reply.encode();
            prop_assert_eq!(Reply::decode(bytes.clone()).unwrap(), reply);
            prop_assert!(Reply::decode(bytes.slice(..cut % bytes.len())).is_err());
        }
        prop_assert_ne!(contract_id(&PrivateKey::from_seed(seed).public_key(), nonce.wrapping_add(1)), contract);
    }

    #[test]
    fn blocks_round_trip_and_truncation_fails(mut h in header(), txs in proptest::collection::vec(signed_tx(), 0..8), cut in any::<usize>()) {
        let wrong_root = Block { header: h.clone(), transactions: txs.clone() };
        h.transactions_root = veil_primitives::transactions_root(&txs);
        let block = Block { header: h, transactions: txs };
        let bytes = block.encode();
        let back = Block::decode_cfg(bytes.clone(), &BlockLimits::default()).unwrap();
        prop_assert_eq!(&back, &block);
        // A body that does not match the header's transactions root is refused.
        if wrong_root != block {
            prop_assert!(Block::decode_cfg(wrong_root.encode(), &BlockLimits::default()).is_err());
        }
        let cut = cut % bytes.len();
        prop_assert!(Block::decode_cfg(bytes.slice(..cut), &BlockLimits::default()).is_err());
        let mut extra = bytes.to_vec();
        extra.push(0);
        prop_assert!(Block::decode_cfg(extra, &BlockLimits::default()).is_err());
    }

    #[test]
    fn gatekeeper_types_round_trip(seed in any::<u64>(), round in any::<u64>(), n in 0usize..8, cut in any::<usize>()) {
        let keys: Vec<_> = (0..n as u64).map(|i| PrivateKey::from_seed(seed ^ i).public_key()).collect();
        let check = root_key_check(round, &[seed as u8; 32]);
        let election = Election {
            round,
            height: seed,
            gatekeepers: keys
                .iter()
                .enumerate()
                .map(|(i, k)| veil_primitives::Elected { worker: k.clone(), ecdh_key: [i as u8; 32] })
                .collect(),
            deadline: seed ^ round,
            holders: (0..n as u64).map(holder).collect(),
            key_check: check,
        };
        let bytes = election.encode();
        prop_assert_eq!(Election::decode(bytes.clone()).unwrap(), election);
        prop_assert!(Election::decode(bytes.slice(..cut % bytes.len())).is_err());
        let launch = Launch { round, era: seed, gatekeepers: keys.clone() };
        prop_assert_eq!(Launch::decode(launch.encode()).unwrap(), launch);
        let handover = Handover { round, gatekeepers: keys.clone() };
        prop_assert_eq!(Handover::decode(handover.encode()).unwrap(), handover);
        let ready = Ready { round, key_check: check };
        prop_assert_eq!(Ready::decode(ready.encode()).unwrap(), ready);
        let slashed = Slashed { round, worker: holder(seed).worker, backer: holder(round).worker, amount: seed as u128 * 7 };
        prop_assert_eq!(Slashed::decode(slashed.encode()).unwrap(), slashed);
        let divergence = Divergence { sequence: seed, routed: check, other: hash(b"x"), signer: holder(round).worker };
        prop_assert_eq!(Divergence::decode(divergence.encode()).unwrap(), divergence);
        for phase in [Phase::Prelaunch, Phase::Launched { height: seed, era: round }] {
            prop_assert_eq!(Phase::decode(phase.encode()).unwrap(), phase);
        }
        let genesis = GenesisWorker { holder: holder(seed), key_check: check };
        prop_assert_eq!(GenesisWorker::decode(genesis.encode()).unwrap(), genesis);
    }

    #[test]
    fn gatekeeper_copies_share_content_but_not_signatures(seed in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let (a, b) = (PrivateKey::from_seed(seed), PrivateKey::from_seed(seed ^ 1));
        let copy = |k: &PrivateKey| GatekeeperMessage {
            signer: k.public_key(),
            destination: Destination::Topic(b"t".to_vec()),
            sequence: 4,
            payload: payload.clone(),
        };
        prop_assert_eq!(copy(&a).content_hash(), copy(&b).content_hash());
        let signed = copy(&a).sign(&a, &chain());
        prop_assert!(signed.verify(&chain()));
        let mut forged = signed.clone();
        forged.message.signer = b.public_key();
        prop_assert!(!forged.verify(&chain()));
        let mut other = copy(&a);
        other.payload.push(1);
        prop_assert_ne!(other.content_hash(), copy(&a).content_hash());
    }

    #[test]
    fn messages_round_trip(seq in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..512), seed in any::<u64>()) {
        let m = Message {
            origin: Origin::Account(PrivateKey::from_seed(seed).public_key()),
            destination: Destination::Contract(hash(&payload)),
            sequence: seq,
            payload,
        };
        let back = Message::decode_cfg(m.encode(), &512).unwrap();
        prop_assert_eq!(back, m);
    }
}

#[test]
fn decoders_enforce_limits() {
    let key = PrivateKey::from_seed(1);
    let tx = Transaction {
        sender: key.public_key(),
        nonce: 0,
        expiry: 1,
        call: Call::SendMessage {
            destination: Destination::Topic(b"t".to_vec()),
            payload: vec![0; 1000],
        },
    }
    .sign(&key, &chain());
    assert!(SignedTransaction::decode_cfg(tx.encode(), &TxLimits { max_payload: 999 }).is_err());
    assert!(SignedTransaction::decode_cfg(tx.encode(), &TxLimits { max_payload: 1000 }).is_ok());
    let block = Block {
        header: Header {
            height: 1,
            parent: hash(b"p"),
            timestamp: 1,
            state_root: hash(b"s"),
            transactions_root: hash(b"t"),
            messages_root: hash(b"m"),
        },
        transactions: vec![tx.clone(), tx],
    };
    let limits = BlockLimits {
        max_txs: 1,
        ..BlockLimits::default()
    };
    assert!(Block::decode_cfg(block.encode(), &limits).is_err());
}
