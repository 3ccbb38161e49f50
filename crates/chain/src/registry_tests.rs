//! Registry and worker-message tests with dev evidence (DCAP paths are in `tests/dcap.rs`).

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use futures::executor::block_on;
use veil_attestation::{DevQuote, Evidence, TeeKind, VerifyError, dev, report_data};
use veil_primitives::{
    AccountId, Call, ChainIdentity, DeregistrationReason, Destination, GovernanceCall, Measurement,
    Message, Origin, Params, PrivateKey, Registration, RegistryEvent, RegistryParams,
    SignedTransaction, Transaction, WorkerMessage, hash,
};

use crate::{
    BlockEnv, BlockOutcome, ExecCheckError, GenesisState, MemoryState, TxError, balances,
    check_transaction, execute_block, genesis_changes, overlay::Overlay, registry,
    registry::RegistrationError,
};

const MEASUREMENT: [u8; 32] = [9; 32];
/// The era-0 root key the test genesis node holds.
const ROOT_KEY: [u8; 32] = [42; 32];

fn genesis_holder() -> veil_primitives::KeyHolder {
    veil_primitives::KeyHolder {
        worker: PrivateKey::from_seed(200).public_key(),
        ecdh_key: [200; 32],
        endpoint: "http://genesis".into(),
    }
}

fn chain() -> ChainIdentity {
    ChainIdentity {
        chain_id: 7,
        genesis_hash: hash(b"genesis"),
    }
}

/// Hash the test chain gives the block at `height`.
fn block_hash(height: u64) -> veil_primitives::Digest {
    hash(&height.to_be_bytes())
}

fn env_at(height: u64, base_ms: u64) -> BlockEnv {
    BlockEnv {
        chain: chain(),
        height,
        timestamp: base_ms + height * 1000,
        parent: block_hash(height - 1),
    }
}

/// A chain in memory with a dev RA service, a governance key and a funded operator.
struct Net {
    state: MemoryState,
    height: u64,
    ra: PrivateKey,
    gov: PrivateKey,
    operator: PrivateKey,
    /// Block time of height 0 (ms).
    base_ms: u64,
    /// Endpoint registrations name by default.
    endpoint: &'static str,
}

fn policy() -> RegistryParams {
    RegistryParams {
        allowlist: vec![Measurement::Dev(MEASUREMENT.to_vec())],
        freshness_blocks: 10,
        registration_blocks: 50,
        heartbeat_blocks: 5,
        ..Default::default()
    }
}

impl Net {
    fn new(allow_insecure: bool) -> Self {
        Self::with_anchors(allow_insecure, None, 0)
    }

    /// A chain trusting `dcap_root`, whose blocks are timed from `base_ms`.
    fn with_anchors(allow_insecure: bool, dcap_root: Option<Vec<u8>>, base_ms: u64) -> Self {
        let (ra, gov, operator) = (
            PrivateKey::from_seed(100),
            PrivateKey::from_seed(101),
            PrivateKey::from_seed(102),
        );
        let genesis = GenesisState {
            timestamp: 0,
            balances: vec![
                (gov.public_key(), 1_000_000_000),
                (operator.public_key(), 1_000_000_000),
                (PrivateKey::from_seed(103).public_key(), 1_000_000_000),
                (PrivateKey::from_seed(104).public_key(), 1_000_000_000),
                (PrivateKey::from_seed(105).public_key(), 1_000_000_000),
                (PrivateKey::from_seed(106).public_key(), 1_000_000_000),
                (PrivateKey::from_seed(107).public_key(), 1_000_000_000),
            ],
            governance: gov.public_key(),
            params: Params::default(),
            consensus_key: vec![7; 96],
            registry: policy(),
            dev_attestation_key: allow_insecure.then(|| ra.public_key()),
            dcap_root,
            staking: Default::default(),
            genesis_worker: Some(veil_primitives::GenesisWorker {
                holder: genesis_holder(),
                key_check: veil_primitives::root_key_check(0, &ROOT_KEY),
            }),
        };
        let mut state = MemoryState::default();
        state.apply(&block_on(genesis_changes(&genesis)).unwrap());
        let mut net = Self {
            state,
            height: 0,
            ra,
            gov,
            operator,
            base_ms,
            endpoint: "http://127.0.0.1:9000",
        };
        // A few blocks so there are recent hashes to attest.
        for _ in 0..3 {
            net.block(Vec::new());
        }
        net
    }

    fn block(&mut self, txs: Vec<SignedTransaction>) -> BlockOutcome {
        self.height += 1;
        let out = block_on(execute_block(
            &self.state,
            &env_at(self.height, self.base_ms),
            &txs,
        ))
        .unwrap();
        self.state.apply(&out.changes);
        out
    }

    fn tx(&self, from: &PrivateKey, call: Call) -> SignedTransaction {
        let o = Overlay::new(&self.state);
        let nonce = block_on(balances::account(&o, &from.public_key()))
            .unwrap()
            .nonce;
        Transaction {
            sender: from.public_key(),
            nonce,
            expiry: self.height + 100,
            call,
        }
        .sign(from, &chain())
    }

    /// Runs one call in a block; returns its result and the block's messages.
    fn run(&mut self, from: &PrivateKey, call: Call) -> (Result<(), TxError>, Vec<Message>) {
        let tx = self.tx(from, call);
        let out = self.block(vec![tx]);
        (out.receipts[0].result.clone(), out.messages)
    }

    /// What the mempool says about a call for the next block.
    fn check(&self, from: &PrivateKey, call: Call) -> Result<u64, TxError> {
        let tx = self.tx(from, call);
        match block_on(check_transaction(
            &self.state,
            &tx,
            &env_at(self.height + 1, self.base_ms),
        )) {
            Ok(n) => Ok(n),
            Err(ExecCheckError::Tx(e)) => Err(e),
            Err(ExecCheckError::State(e)) => panic!("{e}"),
        }
    }

    fn worker(&self, w: &AccountId) -> Option<veil_primitives::WorkerInfo> {
        block_on(registry::worker(&Overlay::new(&self.state), w)).unwrap()
    }

    fn count(&self) -> u64 {
        block_on(registry::count(&Overlay::new(&self.state))).unwrap()
    }
}

/// A worker's keys.
struct Worker {
    key: PrivateKey,
    ecdh: [u8; 32],
}

fn worker(seed: u64) -> Worker {
    Worker {
        key: PrivateKey::from_seed(seed),
        ecdh: [seed as u8; 32],
    }
}

/// How to build a registration; each field defaults to the honest value.
struct Spec<'a> {
    worker: &'a Worker,
    operator: AccountId,
    endpoint: &'a str,
    attested: u64,
    measurement: [u8; 32],
    ra: &'a PrivateKey,
    genesis: veil_primitives::Digest,
    quoted_keys: Option<&'a Worker>,
    signer: Option<&'a PrivateKey>,
}

impl Net {
    fn spec<'a>(&'a self, w: &'a Worker) -> Spec<'a> {
        Spec {
            worker: w,
            operator: self.operator.public_key(),
            endpoint: self.endpoint,
            attested: self.height,
            measurement: MEASUREMENT,
            ra: &self.ra,
            genesis: chain().genesis_hash,
            quoted_keys: None,
            signer: None,
        }
    }
}

fn build(s: Spec<'_>) -> Call {
    let quoted = s.quoted_keys.unwrap_or(s.worker);
    let data = report_data(
        quoted.key.public_key().as_ref(),
        &quoted.ecdh,
        &s.genesis,
        &block_hash(s.attested),
    );
    let signed = dev::sign(
        s.ra,
        DevQuote {
            measurement: s.measurement,
            report_data: data,
        },
    );
    let evidence = Evidence {
        kind: TeeKind::Dev,
        quote: signed.encode().to_vec(),
    };
    let payload = Registration::signing_payload(
        &chain(),
        &s.worker.key.public_key(),
        &s.worker.ecdh,
        &s.operator,
        s.endpoint,
        s.attested,
    );
    let signature = s
        .signer
        .unwrap_or(&s.worker.key)
        .sign(veil_primitives::namespace::REGISTRATION, &payload);
    Call::Register(Box::new(Registration {
        worker: s.worker.key.public_key(),
        ecdh_key: s.worker.ecdh,
        operator: s.operator,
        endpoint: s.endpoint.into(),
        attested_height: s.attested,
        signature,
        evidence: evidence.encode().to_vec(),
        collateral: Vec::new(),
    }))
}

fn refused(e: RegistrationError) -> Result<(), TxError> {
    Err(TxError::Registration(Box::new(e)))
}

fn events_for(messages: &[Message], w: &AccountId) -> Vec<RegistryEvent> {
    messages
        .iter()
        .filter(|m| m.origin == Origin::Chain && m.destination == Destination::Worker(w.clone()))
        .map(|m| RegistryEvent::decode(m.payload.clone()).unwrap())
        .collect()
}

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

mod dcap {
    //! The DCAP path end to end: quotes and collateral from a test root CA, verified at block
    //! time by the chain, then judged by the registry policy.

    use veil_attestation::{
        dcap::DcapError,
        testing::{CollateralSpec, DEFAULT_ISSUE_SECS, SgxQuoteSpec, TestCa},
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

mod staking {
    //! Bonds, candidacy, nominations and the Phragmén gatekeeper election, on registered
    //! workers.

    use veil_primitives::{Election, StakingCall, StakingParams};

    use super::*;
    use crate::staking::{ELECTION_TOPIC, Ledger, StakingError, ledger};

    /// Rounds stay open long enough that no test here reaches a deadline by accident.
    pub(super) fn params() -> StakingParams {
        StakingParams {
            n_gatekeepers: 3,
            gatekeeper_min_bond: 10_000,
            nominator_min_bond: 1_000,
            election_period_blocks: 10,
            unbond_delay_blocks: 5,
            distribution_deadline_blocks: 1_000,
            slash_ppm: 100_000,
        }
    }

    fn net() -> Net {
        net_with(params())
    }

    pub(super) fn net_with(p: StakingParams) -> Net {
        let mut net = Net::new(true);
        set_params(&mut net, p);
        net
    }

    pub(super) fn set_params(net: &mut Net, p: StakingParams) {
        let gov = net.gov.clone();
        net.run(&gov, Call::Governance(GovernanceCall::SetStakingParams(p)))
            .0
            .unwrap();
    }

    /// A gatekeeper's readiness confirmation for `round`, as its next worker message.
    pub(super) fn ready(net: &Net, w: &Worker, round: u64, root_key: &[u8; 32]) -> Call {
        let sequence = block_on(crate::mq::next_sequence(
            &Overlay::new(&net.state),
            &Origin::Worker(w.key.public_key()),
        ))
        .unwrap();
        Call::WorkerMessage(Box::new(
            WorkerMessage {
                sender: w.key.public_key(),
                destination: Destination::Topic(veil_primitives::READY_TOPIC.to_vec()),
                sequence,
                payload: veil_primitives::Ready {
                    round,
                    key_check: veil_primitives::root_key_check(0, root_key),
                }
                .encode()
                .to_vec(),
            }
            .sign(&w.key, &chain()),
        ))
    }

    fn staking(net: &mut Net, who: &PrivateKey, call: StakingCall) -> Result<(), TxError> {
        net.run(who, Call::Staking(call)).0
    }

    fn refused(e: StakingError) -> Result<(), TxError> {
        Err(TxError::Staking(Box::new(e)))
    }

    fn ledger_of(net: &Net, who: &PrivateKey) -> Ledger {
        block_on(ledger(&Overlay::new(&net.state), &who.public_key())).unwrap()
    }

    /// Registers `w` operated by `op` at its own endpoint and backs it with `bond`.
    pub(super) fn candidate(net: &mut Net, op: &PrivateKey, w: &Worker, bond: u128) {
        let endpoint: &'static str = Box::leak(format!("http://w{}", w.ecdh[0]).into_boxed_str());
        net.run(
            op,
            build(Spec {
                operator: op.public_key(),
                endpoint,
                ..net.spec(w)
            }),
        )
        .0
        .unwrap();
        staking(net, op, StakingCall::Bond { amount: bond }).unwrap();
        staking(
            net,
            op,
            StakingCall::Candidate {
                worker: w.key.public_key(),
            },
        )
        .unwrap();
    }

    /// Runs empty blocks up to the next election; returns its result and the announcement.
    pub(super) fn next_election(net: &mut Net) -> (Election, Vec<Election>) {
        let period = params().election_period_blocks;
        let mut announced = Vec::new();
        loop {
            let out = net.block(Vec::new());
            announced.extend(
                out.messages
                    .iter()
                    .filter(|m| m.destination == Destination::Topic(ELECTION_TOPIC.to_vec()))
                    .map(|m| Election::decode(m.payload.clone()).unwrap()),
            );
            if net.height.is_multiple_of(period) {
                let stored = block_on(crate::staking::election(&Overlay::new(&net.state)))
                    .unwrap()
                    .unwrap();
                return (stored, announced);
            }
        }
    }

    #[test]
    fn bonds_unbond_after_the_delay() {
        let mut net = net();
        let who = PrivateKey::from_seed(104);
        let free = |net: &Net| {
            block_on(balances::account(
                &Overlay::new(&net.state),
                &who.public_key(),
            ))
            .unwrap()
            .free
        };
        staking(&mut net, &who, StakingCall::Bond { amount: 5_000 }).unwrap();
        assert_eq!(ledger_of(&net, &who).bonded, 5_000);
        assert_eq!(
            staking(&mut net, &who, StakingCall::Unbond { amount: 6_000 }),
            refused(StakingError::NotEnoughBonded {
                amount: 6_000,
                bonded: 5_000
            })
        );
        staking(&mut net, &who, StakingCall::Unbond { amount: 2_000 }).unwrap();
        let unlock_at = net.height + params().unbond_delay_blocks;
        assert_eq!(
            ledger_of(&net, &who),
            Ledger {
                bonded: 3_000,
                unlocking: vec![(2_000, unlock_at)]
            }
        );
        // Too early: nothing moves.
        let before = free(&net);
        staking(&mut net, &who, StakingCall::WithdrawUnbonded).unwrap();
        assert_eq!(ledger_of(&net, &who).unlocking.len(), 1);
        let after_early = free(&net);
        assert!(after_early < before, "only the fee was paid");
        while net.height < unlock_at {
            net.block(Vec::new());
        }
        let tx = net.tx(&who, Call::Staking(StakingCall::WithdrawUnbonded));
        let out = net.block(vec![tx]);
        assert_eq!(out.receipts[0].result, Ok(()));
        assert!(ledger_of(&net, &who).unlocking.is_empty());
        assert_eq!(free(&net) + out.receipts[0].fee, after_early + 2_000);
    }

    #[test]
    fn roles_have_rules() {
        let mut net = net();
        let (op, other) = (net.operator.clone(), PrivateKey::from_seed(104));
        let w = worker(1);
        net.run(&op, build(net.spec(&w))).0.unwrap();
        let id = w.key.public_key();
        // Someone else's worker.
        staking(&mut net, &other, StakingCall::Bond { amount: 20_000 }).unwrap();
        assert_eq!(
            staking(
                &mut net,
                &other,
                StakingCall::Candidate { worker: id.clone() }
            ),
            refused(StakingError::NotYourWorker(veil_primitives::to_hex(&id)))
        );
        // Too little bond.
        staking(&mut net, &op, StakingCall::Bond { amount: 500 }).unwrap();
        assert_eq!(
            staking(&mut net, &op, StakingCall::Candidate { worker: id.clone() }),
            refused(StakingError::BondTooSmall {
                needed: 10_000,
                bonded: 500
            })
        );
        staking(&mut net, &op, StakingCall::Bond { amount: 10_000 }).unwrap();
        staking(&mut net, &op, StakingCall::Candidate { worker: id.clone() }).unwrap();
        // A backer may not nominate, nor unbond below the candidate minimum.
        assert_eq!(
            staking(
                &mut net,
                &op,
                StakingCall::Nominate {
                    targets: vec![id.clone()]
                }
            ),
            refused(StakingError::OtherRole)
        );
        assert_eq!(
            staking(&mut net, &op, StakingCall::Unbond { amount: 1_000 }),
            refused(StakingError::WouldUnderbond {
                left: 9_500,
                needed: 10_000
            })
        );
        // Nominations name candidates only, 1 to 16 of them.
        let stranger = worker(9).key.public_key();
        assert_eq!(
            staking(
                &mut net,
                &other,
                StakingCall::Nominate {
                    targets: vec![stranger.clone()]
                }
            ),
            refused(StakingError::NotACandidate(veil_primitives::to_hex(
                &stranger
            )))
        );
        assert_eq!(
            staking(&mut net, &other, StakingCall::Nominate { targets: vec![] }),
            refused(StakingError::BadTargets)
        );
        staking(
            &mut net,
            &other,
            StakingCall::Nominate {
                targets: vec![id.clone()],
            },
        )
        .unwrap();
        assert_eq!(
            staking(
                &mut net,
                &other,
                StakingCall::Candidate { worker: id.clone() }
            ),
            refused(StakingError::NotYourWorker(veil_primitives::to_hex(&id)))
        );
        // Chill lifts the role and its minimum.
        staking(&mut net, &op, StakingCall::Chill).unwrap();
        staking(&mut net, &op, StakingCall::Unbond { amount: 10_500 }).unwrap();
    }

    #[test]
    fn elections_follow_stake_and_skip_deregistered_workers() {
        // No election while candidates line up.
        let mut net = net_with(StakingParams {
            election_period_blocks: 1_000,
            ..params()
        });
        let ops: Vec<PrivateKey> = (104..108).map(PrivateKey::from_seed).collect();
        let workers: Vec<Worker> = (1..5).map(worker).collect();
        for (op, w) in ops.iter().zip(&workers) {
            candidate(&mut net, op, w, 20_000);
        }
        // A heavy nominator backs workers 2 and 3: both must be elected.
        let nominator = net.operator.clone();
        staking(&mut net, &nominator, StakingCall::Bond { amount: 500_000 }).unwrap();
        staking(
            &mut net,
            &nominator,
            StakingCall::Nominate {
                targets: vec![workers[2].key.public_key(), workers[3].key.public_key()],
            },
        )
        .unwrap();
        set_params(&mut net, params());
        let (first, announced) = next_election(&mut net);
        assert_eq!(announced, vec![first.clone()]);
        assert_eq!(first.round, 1);
        // Before launch the genesis node holds the key, and gatekeepers must end with its key.
        assert_eq!(first.holders, vec![genesis_holder()]);
        assert_eq!(
            first.key_check,
            veil_primitives::root_key_check(0, &ROOT_KEY)
        );
        assert_eq!(first.deadline, first.height + 1_000);
        assert_eq!(first.gatekeepers.len(), 3);
        assert!(first.gatekeepers.contains(&workers[2].key.public_key()));
        assert!(first.gatekeepers.contains(&workers[3].key.public_key()));
        // Each with its registered X25519 key.
        for (g, key) in first.gatekeepers.iter().zip(&first.ecdh_keys) {
            assert_eq!(&net.worker(g).unwrap().ecdh_key, key);
        }

        // While the round waits for confirmations, no periodic election replaces it.
        let (still, announced) = next_election(&mut net);
        assert_eq!((still.round, announced.len()), (1, 0));
        let relayer = net.operator.clone();
        for g in &first.gatekeepers {
            let w = workers.iter().find(|w| &w.key.public_key() == g).unwrap();
            let call = ready(&net, w, first.round, &ROOT_KEY);
            net.run(&relayer, call).0.unwrap();
        }

        // Governance revokes worker 2's code: the next election skips it.
        let mut p = policy();
        p.allowlist = vec![Measurement::Dev(vec![1; 32])];
        let gov = net.gov.clone();
        net.run(&gov, Call::Governance(GovernanceCall::SetRegistryParams(p)))
            .0
            .unwrap();
        let (second, _) = next_election(&mut net);
        assert_eq!(second.round, first.round + 1);
        assert!(
            second.gatekeepers.is_empty(),
            "every candidate ran revoked code"
        );
    }
}

mod bootstrap {
    //! Launch: readiness confirmations, the deadline with slashing and re-election, contracts
    //! refused before launch, and the gatekeepers' shared stream.

    use veil_primitives::{
        DIVERGENCE_TOPIC, Divergence, Election, GATEKEEPER_STATE_TOPIC, GatekeeperMessage,
        LAUNCH_TOPIC, Launch, Phase, SLASH_TOPIC, Slashed, StakingParams,
    };

    use super::{
        staking::{candidate, net_with, next_election, params, ready, set_params},
        *,
    };
    use crate::gatekeeper;

    fn read<T>(net: &Net, f: impl AsyncFnOnce(&Overlay<'_, MemoryState>) -> T) -> T {
        block_on(f(&Overlay::new(&net.state)))
    }

    fn topic<T: commonware_codec::DecodeExt<()>>(messages: &[Message], t: &[u8]) -> Vec<T> {
        messages
            .iter()
            .filter(|m| {
                m.origin == Origin::Chain && m.destination == Destination::Topic(t.to_vec())
            })
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
                gatekeepers: round.gatekeepers.clone()
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
            round.gatekeepers
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
        assert!(!again.gatekeepers.contains(&silent.key.public_key()));
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
}
