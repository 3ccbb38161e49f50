//! The state machine's tests, one module per suite, over a shared harness: a chain in memory
//! ([Net]) with a dev RA service, a governance key and funded operators, and builders of
//! registrations.

mod checkpoints;
mod contracts;
mod dcap;
mod launch;
mod liveness;
mod registration;
mod rules;
mod stake;

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
    BlockEnv, BlockOutcome, ExecError, GenesisState, MemoryState, TxError, balances,
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
        tee: Some(veil_primitives::TeeKind::Dev),
    }
}

fn genesis_worker() -> veil_primitives::GenesisWorker {
    veil_primitives::GenesisWorker {
        holder: genesis_holder(),
        key_check: veil_primitives::root_key_check(0, &ROOT_KEY),
    }
}

/// Dev evidence for [genesis_worker] on chain 7 with the tests' group key, signed by `ra`, for
/// code `measurement`.
fn genesis_attestation(ra: &PrivateKey, measurement: [u8; 32]) -> crate::GenesisAttestation {
    let holder = genesis_holder();
    let report_data = veil_attestation::genesis_report_data(
        chain().chain_id,
        &[7; 96],
        holder.worker.as_ref(),
        &holder.ecdh_key,
        &veil_primitives::root_key_check(0, &ROOT_KEY),
    );
    let signed = dev::sign(
        ra,
        DevQuote {
            measurement,
            report_data,
        },
    );
    crate::GenesisAttestation {
        evidence: Evidence {
            kind: TeeKind::Dev,
            quote: signed.encode().to_vec(),
        }
        .encode()
        .to_vec(),
        collateral: Vec::new(),
    }
}

/// The tests' genesis: funded accounts 101 to 107, the dev RA key 100 if `allow_insecure`
/// (then also an attested genesis node), and `dcap_root` as the DCAP anchor.
fn genesis_state(allow_insecure: bool, dcap_root: Option<Vec<u8>>) -> GenesisState {
    let ra = PrivateKey::from_seed(100);
    GenesisState {
        chain_id: chain().chain_id,
        timestamp: 0,
        balances: (101..108)
            .map(|seed| (PrivateKey::from_seed(seed).public_key(), 1_000_000_000))
            .collect(),
        governance: PrivateKey::from_seed(101).public_key(),
        params: Params::default(),
        consensus_key: vec![7; 96],
        registry: policy(),
        dev_attestation_key: allow_insecure.then(|| ra.public_key()),
        allow_insecure_gatekeepers: allow_insecure,
        dcap_root,
        staking: Default::default(),
        contracts: Default::default(),
        // A genesis node needs attestation; these tests have dev evidence only.
        genesis_worker: allow_insecure.then(genesis_worker),
        genesis_attestation: allow_insecure.then(|| genesis_attestation(&ra, MEASUREMENT)),
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

    /// A chain that accepts dev attestation for workers but not for gatekeepers.
    fn without_insecure_gatekeepers() -> Self {
        let mut net = Self::new(true);
        net.state.0.remove(&crate::keys::insecure_gatekeepers());
        net
    }

    /// A chain trusting `dcap_root`, whose blocks are timed from `base_ms`.
    fn with_anchors(allow_insecure: bool, dcap_root: Option<Vec<u8>>, base_ms: u64) -> Self {
        let (ra, gov, operator) = (
            PrivateKey::from_seed(100),
            PrivateKey::from_seed(101),
            PrivateKey::from_seed(102),
        );
        let genesis = genesis_state(allow_insecure, dcap_root);
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
            Ok(a) => Ok(a.account.nonce),
            Err(ExecError::Tx(e)) => Err(e),
            Err(ExecError::State(e)) => panic!("{e}"),
        }
    }

    fn worker(&self, w: &AccountId) -> Option<veil_primitives::WorkerInfo> {
        block_on(registry::worker(&Overlay::new(&self.state), w)).unwrap()
    }

    /// Registered workers; also checks the kept count of insecure ones against a scan.
    fn count(&self) -> u64 {
        let o = Overlay::new(&self.state);
        let n = block_on(registry::count(&o)).unwrap();
        let scanned = (0..n)
            .filter(|&i| {
                let w = block_on(registry::worker_at(&o, i)).unwrap().unwrap();
                self.worker(&w).unwrap().insecure
            })
            .count() as u64;
        assert_eq!(block_on(registry::insecure_count(&o)).unwrap(), scanned);
        n
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
