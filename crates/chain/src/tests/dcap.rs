//! The DCAP path end to end: quotes and collateral from a test root CA, verified at block
//! time by the chain, then judged by the registry policy.

use veil_attestation::{
    dcap::DcapError,
    testing::{CollateralSpec, DEFAULT_ISSUE_SECS, DEFAULT_TCB_EVALUATION, SgxQuoteSpec, TestCa},
};

use super::*;

const MR_ENCLAVE: [u8; 32] = [0xE1; 32];
const MR_SIGNER: [u8; 32] = [0x51; 32];
const PROD_ID: u16 = 4;
const DEV_ONLY: [u8; 32] = [0xD0; 32];

/// A chain trusting `ca`, at a time inside the collateral's validity.
fn net(ca: &TestCa) -> Net {
    let mut net = Net::with_anchors(
        false,
        Some(ca.root_der()),
        (DEFAULT_ISSUE_SECS + 86_400) * 1000,
    );
    let mut p = policy();
    p.allowlist = vec![
        Measurement::Sgx(MR_ENCLAVE.to_vec()),
        Measurement::SgxSigner {
            mr_signer: MR_SIGNER.to_vec(),
            prod_id: PROD_ID,
            min_svn: 3,
        },
        // A dev build with the same hash admits no enclave, and vice versa.
        Measurement::Dev(DEV_ONLY.to_vec()),
    ];
    p.tcb_statuses = vec!["UpToDate".into(), "SWHardeningNeeded".into()];
    p.advisories = vec!["INTEL-SA-00615".into()];
    let gov = net.gov.clone();
    net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
        .0
        .unwrap();
    net
}

struct Quote {
    spec: SgxQuoteSpec,
    collateral: CollateralSpec,
    kind: TeeKind,
    keys_of: Option<u64>,
}

fn honest() -> Quote {
    Quote {
        spec: SgxQuoteSpec {
            mr_enclave: MR_ENCLAVE,
            mr_signer: [0; 32],
            isv_prod_id: 0,
            isv_svn: 1,
            debug: false,
            report_data: [0; 64],
        },
        collateral: CollateralSpec::default(),
        kind: TeeKind::SgxDcap,
        keys_of: None,
    }
}

fn register(net: &mut Net, ca: &TestCa, w: &Worker, mut q: Quote) -> Result<(), TxError> {
    let quoted = q.keys_of.map(worker);
    let keys = quoted.as_ref().unwrap_or(w);
    q.spec.report_data = report_data(
        keys.key.public_key().as_ref(),
        &keys.ecdh,
        &chain().genesis_hash,
        &block_hash(net.height),
    );
    let Call::Register(mut reg) = build(net.spec(w)) else {
        unreachable!()
    };
    reg.evidence = Evidence {
        kind: q.kind,
        quote: ca.sgx_quote(&q.spec),
    }
    .encode()
    .to_vec();
    reg.collateral = ca.collateral(&q.collateral);
    let operator = net.operator.clone();
    net.run(&operator, Call::Register(reg)).0
}

#[test]
fn an_attested_enclave_registers_as_secure() {
    let ca = TestCa::new(1);
    let mut net = net(&ca);
    let w = worker(1);
    assert_eq!(register(&mut net, &ca, &w, honest()), Ok(()));
    let info = net.worker(&w.key.public_key()).unwrap();
    assert_eq!(info.tee, TeeKind::SgxDcap);
    assert!(!info.insecure);
    assert_eq!(info.measurement, MR_ENCLAVE.to_vec());
    assert_eq!(info.tcb_status, "UpToDate");
}

#[test]
fn every_bad_dcap_registration_is_refused_with_its_reason() {
    let ca = TestCa::new(1);
    let mut net = net(&ca);
    let w = worker(1);
    type Expect = fn(&RegistrationError) -> bool;
    let refusals: Vec<(&str, Quote, Expect)> = vec![
        (
            "debug enclave",
            Quote {
                spec: SgxQuoteSpec {
                    debug: true,
                    ..honest().spec
                },
                ..honest()
            },
            |e| *e == RegistrationError::DebugEnclave,
        ),
        (
            "TCB out of date",
            Quote {
                collateral: CollateralSpec {
                    tcb_status: "OutOfDate".into(),
                    ..Default::default()
                },
                ..honest()
            },
            |e| *e == RegistrationError::TcbStatus("OutOfDate".into()),
        ),
        (
            "advisory not tolerated",
            Quote {
                collateral: CollateralSpec {
                    tcb_status: "SWHardeningNeeded".into(),
                    advisory_ids: vec!["INTEL-SA-00615".into(), "INTEL-SA-00999".into()],
                    ..Default::default()
                },
                ..honest()
            },
            |e| *e == RegistrationError::Advisory("INTEL-SA-00999".into()),
        ),
        (
            "code not allowlisted",
            Quote {
                spec: SgxQuoteSpec {
                    mr_enclave: [2; 32],
                    ..honest().spec
                },
                ..honest()
            },
            |e| matches!(e, RegistrationError::NotAllowlisted(_)),
        ),
        (
            "signer allowlisted but SVN too low",
            Quote {
                spec: SgxQuoteSpec {
                    mr_enclave: [2; 32],
                    mr_signer: MR_SIGNER,
                    isv_prod_id: PROD_ID,
                    isv_svn: 2,
                    ..honest().spec
                },
                ..honest()
            },
            |e| matches!(e, RegistrationError::NotAllowlisted(_)),
        ),
        (
            "another product of the allowlisted signer",
            Quote {
                spec: SgxQuoteSpec {
                    mr_enclave: [2; 32],
                    mr_signer: MR_SIGNER,
                    isv_prod_id: PROD_ID + 1,
                    isv_svn: 9,
                    ..honest().spec
                },
                ..honest()
            },
            |e| matches!(e, RegistrationError::NotAllowlisted(_)),
        ),
        (
            "an enclave whose MRENCLAVE only a dev entry lists",
            Quote {
                spec: SgxQuoteSpec {
                    mr_enclave: DEV_ONLY,
                    ..honest().spec
                },
                ..honest()
            },
            |e| matches!(e, RegistrationError::NotAllowlisted(_)),
        ),
        (
            "report data of other keys",
            Quote {
                keys_of: Some(9),
                ..honest()
            },
            |e| *e == RegistrationError::ReportDataMismatch,
        ),
        (
            "SGX quote presented as TDX",
            Quote {
                kind: TeeKind::Tdx,
                ..honest()
            },
            |e| {
                *e == RegistrationError::Evidence(VerifyError::KindMismatch {
                    claimed: TeeKind::Tdx,
                    actual: TeeKind::SgxDcap,
                })
            },
        ),
        (
            "collateral expired at block time",
            Quote {
                collateral: CollateralSpec {
                    issue_secs: DEFAULT_ISSUE_SECS - 1000,
                    next_update_secs: DEFAULT_ISSUE_SECS,
                    ..Default::default()
                },
                ..honest()
            },
            |e| {
                matches!(
                    e,
                    RegistrationError::Evidence(VerifyError::Dcap(DcapError::Verification(_)))
                )
            },
        ),
    ];
    for (name, quote, expected) in refusals {
        match register(&mut net, &ca, &w, quote) {
            Err(TxError::Registration(e)) => assert!(expected(&e), "{name}: got {e}"),
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
        assert_eq!(net.count(), 0, "{name}");
    }

    // A quote from another CA (e.g. a forged Intel chain) proves nothing here.
    let rogue = TestCa::new(2);
    match register(&mut net, &rogue, &w, honest()) {
        Err(TxError::Registration(e)) => assert!(
            matches!(*e, RegistrationError::Evidence(VerifyError::Dcap(_))),
            "{e}"
        ),
        other => panic!("rogue CA: {other:?}"),
    }

    // The tolerated advisory with an accepted status, and a new enough SVN under the
    // allowlisted signer, both register.
    let tolerated = Quote {
        collateral: CollateralSpec {
            tcb_status: "SWHardeningNeeded".into(),
            advisory_ids: vec!["INTEL-SA-00615".into()],
            ..Default::default()
        },
        ..honest()
    };
    assert_eq!(register(&mut net, &ca, &w, tolerated), Ok(()));
    let signed = Quote {
        spec: SgxQuoteSpec {
            mr_enclave: [2; 32],
            mr_signer: MR_SIGNER,
            isv_prod_id: PROD_ID,
            isv_svn: 3,
            ..honest().spec
        },
        ..honest()
    };
    let w2 = worker(2);
    assert_eq!(
        register_at(&mut net, &ca, &w2, signed, "http://second"),
        Ok(())
    );
    assert_eq!(net.count(), 2);
}

#[test]
fn dropping_a_tcb_status_or_advisory_revokes_workers_registered_under_it() {
    let ca = TestCa::new(1);
    let mut net = net(&ca);
    let (a, b) = (worker(1), worker(2));
    assert_eq!(register(&mut net, &ca, &a, honest()), Ok(()));
    let hardened = Quote {
        collateral: CollateralSpec {
            tcb_status: "SWHardeningNeeded".into(),
            advisory_ids: vec!["INTEL-SA-00615".into()],
            ..Default::default()
        },
        ..honest()
    };
    assert_eq!(
        register_at(&mut net, &ca, &b, hardened, "http://second"),
        Ok(())
    );
    assert_eq!(net.count(), 2);
    // Governance stops tolerating the advisory: `b` goes, `a` stays.
    let mut p = block_on(registry::params(&Overlay::new(&net.state))).unwrap();
    p.advisories.clear();
    let gov = net.gov.clone();
    net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
        .0
        .unwrap();
    assert!(net.worker(&b.key.public_key()).is_none());
    assert!(net.worker(&a.key.public_key()).is_some());
    // And no longer accepts `UpToDate` either: `a` goes.
    let mut p = block_on(registry::params(&Overlay::new(&net.state))).unwrap();
    p.tcb_statuses = vec!["SWHardeningNeeded".into()];
    net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
        .0
        .unwrap();
    assert_eq!(net.count(), 0);
}

/// The attack: after Intel's TCB recovery a vulnerable platform presents collateral from the
/// evaluation before it, still inside its validity window, which calls the platform up to date.
#[test]
fn collateral_from_before_a_tcb_recovery_is_refused_and_its_workers_revoked() {
    let ca = TestCa::new(1);
    let mut net = net(&ca);
    let (a, b) = (worker(1), worker(2));
    let before = || Quote {
        collateral: CollateralSpec {
            tcb_evaluation: DEFAULT_TCB_EVALUATION - 1,
            ..Default::default()
        },
        ..honest()
    };
    // Before governance names the recovery, both evaluations are accepted.
    assert_eq!(register(&mut net, &ca, &a, before()), Ok(()));
    assert_eq!(
        net.worker(&a.key.public_key()).unwrap().tcb_evaluation,
        DEFAULT_TCB_EVALUATION - 1
    );
    assert_eq!(
        register_at(&mut net, &ca, &b, honest(), "http://second"),
        Ok(())
    );
    // Governance accepts the recovery's evaluation and later only: the worker attested with
    // older collateral goes, the other stays.
    let mut p = block_on(registry::params(&Overlay::new(&net.state))).unwrap();
    p.min_tcb_evaluation = DEFAULT_TCB_EVALUATION;
    let gov = net.gov.clone();
    net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
        .0
        .unwrap();
    assert!(net.worker(&a.key.public_key()).is_none());
    assert!(net.worker(&b.key.public_key()).is_some());
    // Its old collateral, still valid at block time, no longer registers it.
    match register(&mut net, &ca, &a, before()) {
        Err(TxError::Registration(e)) => assert_eq!(
            *e,
            RegistrationError::TcbEvaluation {
                got: DEFAULT_TCB_EVALUATION - 1,
                min: DEFAULT_TCB_EVALUATION,
            }
        ),
        other => panic!("collateral from before the recovery: {other:?}"),
    }
    assert!(net.worker(&a.key.public_key()).is_none());
    // Current collateral does.
    assert_eq!(register(&mut net, &ca, &a, honest()), Ok(()));
}

fn register_at(
    net: &mut Net,
    ca: &TestCa,
    w: &Worker,
    q: Quote,
    endpoint: &'static str,
) -> Result<(), TxError> {
    let saved = std::mem::replace(&mut net.endpoint, endpoint);
    let r = register(net, ca, w, q);
    net.endpoint = saved;
    r
}
