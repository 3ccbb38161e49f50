//! Registration, renewal, expiry, replacement and revocation, and worker messages, with dev
//! evidence.

use super::*;

#[test]
fn registration_stores_the_entry_and_tells_the_worker() {
    let mut net = Net::new(true);
    let w = worker(1);
    let call = build(net.spec(&w));
    assert_eq!(net.check(&net.operator, call.clone()), Ok(0));
    let operator = net.operator.clone();
    let (result, messages) = net.run(&operator, call);
    assert_eq!(result, Ok(()));
    let info = net.worker(&w.key.public_key()).unwrap();
    assert_eq!(info.ecdh_key, w.ecdh);
    assert_eq!(info.tee, TeeKind::Dev);
    assert!(info.insecure);
    assert_eq!(info.measurement, MEASUREMENT.to_vec());
    assert_eq!(info.operator, operator.public_key());
    assert_eq!(info.endpoint, "http://127.0.0.1:9000");
    assert_eq!(info.registered_at, 4);
    assert_eq!(info.expiry, 4 + 50);
    assert_eq!(net.count(), 1);
    assert_eq!(
        events_for(&messages, &w.key.public_key()),
        vec![RegistryEvent::Registered {
            expiry: 54,
            heartbeat_blocks: 5
        }]
    );
}

#[test]
fn every_bad_registration_is_refused_with_its_reason() {
    let mut net = Net::new(true);
    let w = worker(1);
    let other = worker(2);
    let intruder = PrivateKey::from_seed(103);
    let rogue_ra = PrivateKey::from_seed(55);
    type Case<'a> = Box<dyn Fn(&Net) -> (Call, RegistrationError) + 'a>;
    let cases: Vec<(&str, Case<'_>)> = vec![
        (
            "untrusted RA service",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        ra: &rogue_ra,
                        ..net.spec(&w)
                    }),
                    RegistrationError::Evidence(VerifyError::Dev(dev::DevError::UntrustedSigner)),
                )
            }),
        ),
        (
            "report data of other keys",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        quoted_keys: Some(&other),
                        ..net.spec(&w)
                    }),
                    RegistrationError::ReportDataMismatch,
                )
            }),
        ),
        (
            "report data of another genesis",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        genesis: hash(b"other chain"),
                        ..net.spec(&w)
                    }),
                    RegistrationError::ReportDataMismatch,
                )
            }),
        ),
        (
            "block in the future",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        attested: net.height + 1,
                        ..net.spec(&w)
                    }),
                    RegistrationError::FutureBlock {
                        attested: net.height + 1,
                        height: net.height + 1,
                    },
                )
            }),
        ),
        (
            "code not allowlisted",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        measurement: [1; 32],
                        ..net.spec(&w)
                    }),
                    RegistrationError::NotAllowlisted(veil_primitives::to_hex([1u8; 32])),
                )
            }),
        ),
        (
            "worker signed for another operator",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        operator: intruder.public_key(),
                        ..net.spec(&w)
                    }),
                    RegistrationError::OperatorMismatch {
                        signed: veil_primitives::to_hex(intruder.public_key()),
                    },
                )
            }),
        ),
        (
            "registration not signed by the worker",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        signer: Some(&other.key),
                        ..net.spec(&w)
                    }),
                    RegistrationError::BadWorkerSignature,
                )
            }),
        ),
        (
            "empty endpoint",
            Box::new(|net: &Net| {
                (
                    build(Spec {
                        endpoint: "",
                        ..net.spec(&w)
                    }),
                    RegistrationError::EmptyEndpoint,
                )
            }),
        ),
    ];
    let operator = net.operator.clone();
    for (name, case) in cases {
        let (call, reason) = case(&net);
        // The mempool checks the claims; the evidence only a block checks, for a fee.
        let evidence = matches!(
            reason,
            RegistrationError::Evidence(_)
                | RegistrationError::ReportDataMismatch
                | RegistrationError::NotAllowlisted(_)
        );
        let mempool = net.check(&operator, call.clone());
        if evidence {
            assert!(mempool.is_ok(), "mempool: {name}: {mempool:?}");
        } else {
            assert_eq!(
                mempool,
                Err(TxError::Registration(Box::new(reason.clone()))),
                "mempool: {name}"
            );
        }
        let (result, _) = net.run(&operator, call);
        assert_eq!(result, refused(reason), "block: {name}");
        assert_eq!(net.count(), 0, "{name}");
    }

    // Malformed evidence.
    let Call::Register(mut reg) = build(net.spec(&w)) else {
        unreachable!()
    };
    reg.evidence = vec![7, 1, 2];
    let (result, _) = net.run(&operator, Call::Register(reg));
    assert!(
        matches!(&result, Err(TxError::Registration(e)) if matches!(**e, RegistrationError::Evidence(VerifyError::Malformed(_)))),
        "{result:?}"
    );

    // Stale: attests a block older than freshness_blocks.
    let attested = net.height;
    let stale = build(Spec {
        attested,
        ..net.spec(&w)
    });
    for _ in 0..10 {
        net.block(Vec::new());
    }
    let (result, _) = net.run(&operator, stale);
    assert_eq!(
        result,
        refused(RegistrationError::Stale {
            attested,
            height: net.height,
            max_age: 10
        })
    );

    // A worker cannot be taken over by another operator.
    net.run(&operator, build(net.spec(&w))).0.unwrap();
    let (result, _) = net.run(
        &intruder,
        build(Spec {
            operator: intruder.public_key(),
            endpoint: "http://evil",
            ..net.spec(&w)
        }),
    );
    assert_eq!(result, refused(RegistrationError::OwnedByOther));
}

#[test]
fn dev_evidence_is_refused_unless_genesis_allows_insecure_attestation() {
    let mut net = Net::new(false);
    let w = worker(1);
    let operator = net.operator.clone();
    let (result, _) = net.run(&operator, build(net.spec(&w)));
    assert_eq!(
        result,
        refused(RegistrationError::Evidence(VerifyError::InsecureNotAllowed))
    );
    assert_eq!(net.count(), 0);
}

#[test]
fn renewal_extends_and_lapsed_registrations_expire() {
    let mut net = Net::new(true);
    let w = worker(1);
    let id = w.key.public_key();
    let operator = net.operator.clone();
    net.run(&operator, build(net.spec(&w))).0.unwrap();
    let first = net.worker(&id).unwrap().expiry;
    // Renew halfway.
    while net.height < first - 25 {
        net.block(Vec::new());
    }
    net.run(&operator, build(net.spec(&w))).0.unwrap();
    let second = net.worker(&id).unwrap().expiry;
    assert!(second > first);
    assert_eq!(net.count(), 1);
    // The first expiry passes without effect.
    while net.height < first + 1 {
        net.block(Vec::new());
    }
    assert!(net.worker(&id).is_some());
    // The renewed one lapses at its height.
    let mut deregistered = Vec::new();
    while net.height < second {
        let out = net.block(Vec::new());
        deregistered.extend(events_for(&out.messages, &id));
    }
    assert!(net.worker(&id).is_none());
    assert_eq!(net.count(), 0);
    assert_eq!(
        deregistered,
        vec![RegistryEvent::Deregistered {
            reason: DeregistrationReason::Expired
        }]
    );
}

#[test]
fn a_new_identity_at_the_same_endpoint_replaces_the_old() {
    let mut net = Net::new(true);
    let (old, new) = (worker(1), worker(2));
    let operator = net.operator.clone();
    net.run(&operator, build(net.spec(&old))).0.unwrap();
    let (result, messages) = net.run(&operator, build(net.spec(&new)));
    assert_eq!(result, Ok(()));
    assert!(net.worker(&old.key.public_key()).is_none());
    assert!(net.worker(&new.key.public_key()).is_some());
    assert_eq!(net.count(), 1);
    assert_eq!(
        events_for(&messages, &old.key.public_key()),
        vec![RegistryEvent::Deregistered {
            reason: DeregistrationReason::Replaced
        }]
    );
    // Another endpoint is another worker.
    let third = worker(3);
    net.run(
        &operator,
        build(Spec {
            endpoint: "http://127.0.0.1:9001",
            ..net.spec(&third)
        }),
    )
    .0
    .unwrap();
    assert_eq!(net.count(), 2);
}

#[test]
fn removing_a_measurement_deregisters_its_workers() {
    let mut net = Net::new(true);
    let (a, b) = (worker(1), worker(2));
    let operator = net.operator.clone();
    net.run(&operator, build(net.spec(&a))).0.unwrap();
    // `b` runs other allowlisted code.
    let mut p = policy();
    p.allowlist.push(Measurement::Dev(vec![5; 32]));
    let gov = net.gov.clone();
    net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
        .0
        .unwrap();
    net.run(
        &operator,
        build(Spec {
            measurement: [5; 32],
            endpoint: "http://b",
            ..net.spec(&b)
        }),
    )
    .0
    .unwrap();
    assert_eq!(net.count(), 2);
    // Governance drops MEASUREMENT: `a` goes, `b` stays.
    let mut p = policy();
    p.allowlist = vec![Measurement::Dev(vec![5; 32])];
    let (result, messages) = net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)));
    assert_eq!(result, Ok(()));
    assert!(net.worker(&a.key.public_key()).is_none());
    assert!(net.worker(&b.key.public_key()).is_some());
    assert_eq!(net.count(), 1);
    assert_eq!(
        events_for(&messages, &a.key.public_key()),
        vec![RegistryEvent::Deregistered {
            reason: DeregistrationReason::Revoked
        }]
    );
    // Only governance may change the policy, and only to a valid one.
    let (result, _) = net.run(
        &operator,
        Call::Governance(GovernanceCall::SetRegistryParams(policy())),
    );
    assert_eq!(result, Err(TxError::NotGovernance));
    let bad = RegistryParams {
        freshness_blocks: 0,
        ..policy()
    };
    let (result, _) = net.run(
        &gov,
        Call::Governance(GovernanceCall::SetRegistryParams(bad)),
    );
    assert!(matches!(result, Err(TxError::InvalidParams(_))));
}

#[test]
fn worker_messages_need_registration_signature_and_the_exact_next_sequence() {
    let mut net = Net::new(true);
    let w = worker(1);
    let id = w.key.public_key();
    let relayer = PrivateKey::from_seed(103);
    let msg = |seq: u64, key: &PrivateKey| {
        Call::WorkerMessage(Box::new(
            WorkerMessage {
                sender: id.clone(),
                destination: Destination::Topic(b"heartbeat".to_vec()),
                sequence: seq,
                payload: vec![seq as u8],
            }
            .sign(key, &chain()),
        ))
    };
    // Unknown sender.
    let unknown = Err(TxError::UnknownWorker(veil_primitives::to_hex(&id)));
    assert_eq!(net.check(&relayer, msg(0, &w.key)).map(|_| ()), unknown);
    assert_eq!(net.run(&relayer, msg(0, &w.key)).0, unknown);

    let operator = net.operator.clone();
    net.run(&operator, build(net.spec(&w))).0.unwrap();
    // Bad signature.
    assert_eq!(
        net.run(&relayer, msg(0, &relayer)).0,
        Err(TxError::BadWorkerSignature)
    );
    // Gap.
    assert_eq!(
        net.run(&relayer, msg(1, &w.key)).0,
        Err(TxError::SequenceGap {
            expected: 0,
            got: 1
        })
    );
    // In order: routed with the worker as origin, relayed by anyone.
    let (result, messages) = net.run(&relayer, msg(0, &w.key));
    assert_eq!(result, Ok(()));
    assert_eq!(
        messages,
        vec![Message {
            origin: Origin::Worker(id.clone()),
            destination: Destination::Topic(b"heartbeat".to_vec()),
            sequence: 0,
            payload: vec![0],
        }]
    );
    // Replay: refused by the mempool and in a block.
    let replayed = Err(TxError::SequenceReplayed {
        expected: 1,
        got: 0,
    });
    assert_eq!(net.check(&relayer, msg(0, &w.key)).map(|_| ()), replayed);
    assert_eq!(net.run(&relayer, msg(0, &w.key)).0, replayed);
    // The next one, and two in one block (the mempool accepts the later one ahead).
    let t1 = net.tx(&relayer, msg(1, &w.key));
    let t2 = net.tx(&operator, msg(2, &w.key));
    assert!(net.check(&operator, msg(2, &w.key)).is_ok());
    let out = net.block(vec![t1, t2]);
    assert_eq!(out.receipts[0].result, Ok(()));
    assert_eq!(out.receipts[1].result, Ok(()));
    assert_eq!(
        out.messages.iter().map(|m| m.sequence).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn moving_to_a_new_endpoint_frees_the_old_one() {
    let mut net = Net::new(true);
    let (w, newcomer) = (worker(1), worker(2));
    let operator = net.operator.clone();
    net.run(&operator, build(net.spec(&w))).0.unwrap();
    // `w` renews at another endpoint.
    net.run(
        &operator,
        build(Spec {
            endpoint: "http://moved",
            ..net.spec(&w)
        }),
    )
    .0
    .unwrap();
    assert_eq!(
        net.worker(&w.key.public_key()).unwrap().endpoint,
        "http://moved"
    );
    // A new worker at the old endpoint replaces nothing: `w` lives on at its new one.
    let (result, messages) = net.run(&operator, build(net.spec(&newcomer)));
    assert_eq!(result, Ok(()));
    assert!(events_for(&messages, &w.key.public_key()).is_empty());
    assert!(net.worker(&w.key.public_key()).is_some());
    assert_eq!(net.count(), 2);
    // A new worker at the new endpoint does replace it.
    let third = worker(3);
    net.run(
        &operator,
        build(Spec {
            endpoint: "http://moved",
            ..net.spec(&third)
        }),
    )
    .0
    .unwrap();
    assert!(net.worker(&w.key.public_key()).is_none());
    assert_eq!(net.count(), 2);
}
