//! The runtime: identity, sealed sync state, and the operations the APIs expose.

use std::path::Path;

use commonware_codec::{DecodeExt as _, Encode as _};
use serde::{Deserialize, Serialize};
use veil_attestation::{Evidence, TeeKind, report_data};
use veil_primitives::{
    AccountId, ChainIdentity, Destination, Digest, Election, HEARTBEAT_TOPIC, Header, Height,
    MAX_ENDPOINT_BYTES, Message, Origin, Registration, RegistryEvent, SignedWorkerMessage,
    WorkerMessage, namespace, to_hex,
};

use crate::{
    genesis::GenesisRole,
    identity::{Identity, PUBLIC_ANSWER_NAMESPACE},
    storage::SealedDir,
    sync::{Batch, MAX_PENDING_EGRESS, SyncError, SyncState, decode_state},
    tee::TeeBackend,
};

const SYNC_FILE: &str = "sync";

/// Public facts about this pRuntime.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Info {
    /// Worker signing key (hex).
    pub public_key: String,
    /// Worker ECDH key (hex).
    pub ecdh_public_key: String,
    /// TEE kind.
    pub tee: TeeKind,
    /// `true` in dev mode: nothing proves this runtime runs in a TEE.
    pub insecure: bool,
    /// Code measurement (hex).
    pub measurement: String,
    /// Chain id, once initialized.
    pub chain_id: Option<u64>,
    /// Genesis hash, once initialized.
    pub genesis_hash: Option<String>,
    /// Last synced height (0 = genesis only).
    pub synced_height: Height,
    /// Hash of the last synced block.
    pub synced_hash: Option<String>,
    /// Messages addressed to this worker received so far.
    pub messages_received: u64,
    /// Registered until this height, as the chain told this runtime (`null`: not registered).
    pub registered_until: Option<Height>,
    /// Egress messages signed but not yet seen on chain.
    pub egress_pending: usize,
    /// The latest gatekeeper election this runtime has verified (0: none yet).
    pub election_round: u64,
    /// Whether that election elected this worker as a gatekeeper.
    pub gatekeeper: bool,
    /// The public genesis identity (ed25519 key), if this runtime is the genesis node.
    pub genesis_key: Option<String>,
}

/// A public answer and the worker's signature over its exact bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedAnswer {
    /// The answer, as JSON text.
    pub payload: String,
    /// Worker public key (hex).
    pub public_key: String,
    /// Ed25519 signature over `payload` under the public-answer namespace (hex).
    pub signature: String,
}

/// Errors of runtime operations.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A sync batch was refused.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The genesis given is not acceptable.
    #[error("genesis rejected: {0}")]
    Genesis(String),
    /// The block hash is not one pRuntime synced recently.
    #[error("block {0} is not among the recently synced blocks")]
    UnknownBlock(String),
    /// A request pRuntime will not sign.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Storage or TEE failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// pRuntime.
pub struct Runtime {
    tee: Box<dyn TeeBackend>,
    sealed: SealedDir,
    identity: Identity,
    state: Option<SyncState>,
    genesis: Option<GenesisRole>,
}

impl Runtime {
    /// Opens the runtime's sealed data in `data_dir`, creating the identity at first start.
    pub fn open(tee: Box<dyn TeeBackend>, data_dir: &Path) -> anyhow::Result<(Self, bool)> {
        let sealed = SealedDir::new(data_dir, tee.sealing_root()?, tee.measurement())?;
        let (identity, created) = Identity::load_or_create(&sealed)?;
        let state = match sealed.read(SYNC_FILE)? {
            Some(bytes) => Some(decode_state(&bytes)?),
            None => None,
        };
        let genesis = GenesisRole::load(&sealed)?;
        Ok((
            Self {
                tee,
                sealed,
                identity,
                state,
                genesis,
            },
            created,
        ))
    }

    /// Takes the genesis role: creates and seals the genesis identity and the era-0 root key
    /// (or loads them if this runtime already has the role). Returns the public genesis
    /// identity `pk_g` and whether it was created now.
    pub fn bootstrap(&mut self) -> Result<((AccountId, [u8; 32]), bool), RuntimeError> {
        if let Some(role) = &self.genesis {
            return Ok((role.public(), false));
        }
        let (role, created) = GenesisRole::bootstrap(&self.sealed)?;
        let public = role.public();
        self.genesis = Some(role);
        Ok((public, created))
    }

    /// The genesis role, if this runtime was bootstrapped.
    pub fn genesis(&self) -> Option<&GenesisRole> {
        self.genesis.as_ref()
    }

    /// The worker identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Sync progress, once initialized.
    pub fn state(&self) -> Option<&SyncState> {
        self.state.as_ref()
    }

    /// Raw sealed sync file (for tests that prove nothing was written).
    pub fn sealed_state_bytes(&self) -> Option<Vec<u8>> {
        self.sealed.raw(SYNC_FILE)
    }

    /// Sets the chain to follow, checking that the group key is the one genesis commits to.
    /// Idempotent for the same genesis; a different genesis is refused.
    pub fn init(
        &mut self,
        chain_id: u64,
        genesis: &Header,
        group_key: &[u8],
        proof: &[u8],
    ) -> Result<(), RuntimeError> {
        let trust = veil_light::verify_genesis(genesis, group_key, proof)
            .map_err(|e| RuntimeError::Genesis(e.to_string()))?;
        if let Some(s) = &self.state {
            if s.genesis_hash == trust.genesis_hash && s.chain_id == chain_id {
                return Ok(());
            }
            return Err(RuntimeError::Genesis(format!(
                "already following genesis {} (chain {})",
                to_hex(s.genesis_hash),
                s.chain_id
            )));
        }
        let state = SyncState::genesis(chain_id, &trust);
        self.sealed.write(SYNC_FILE, &state.encode())?;
        self.state = Some(state);
        Ok(())
    }

    /// Checks and applies a batch; returns the new height and the messages addressed to this
    /// worker. Nothing changes unless the whole batch is valid.
    ///
    /// The chain's registry events set what pRuntime knows of its registration, copies of its
    /// own egress confirm it, and crossing a heartbeat height while registered signs a
    /// heartbeat. All of it is sealed together with the sync progress.
    pub fn sync(&mut self, batch: &Batch) -> Result<(Height, Vec<Message>), RuntimeError> {
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let me = self.identity.public_key();
        let (mut next, seen) = state.check(batch, &me)?;
        let previous = state.next_height - 1;
        let mut mine = Vec::new();
        for m in seen {
            match (&m.origin, &m.destination) {
                (Origin::Worker(w), _) if w == &me => next.egress.confirm(m.sequence),
                (Origin::Chain, Destination::Topic(_)) => {
                    if let Ok(e) = Election::decode(m.payload.clone()) {
                        next.election = (e.round, e.gatekeepers.contains(&me));
                    }
                }
                (Origin::Chain, Destination::Worker(_)) => {
                    match RegistryEvent::decode(m.payload.clone()) {
                        Ok(RegistryEvent::Registered {
                            expiry,
                            heartbeat_blocks,
                        }) => next.egress.registration = Some((expiry, heartbeat_blocks)),
                        // Unconfirmed egress stays: a sequence, once signed, always carries
                        // the same message, and it is posted again after re-registration.
                        Ok(RegistryEvent::Deregistered { .. }) => next.egress.registration = None,
                        Err(_) => {}
                    }
                    mine.push(m);
                }
                _ => mine.push(m),
            }
        }
        let height = next.next_height - 1;
        if let Some((expiry, every)) = next.egress.registration
            && height < expiry
            && height / every > previous / every
            && next.egress.pending.len() < MAX_PENDING_EGRESS
        {
            let mut payload = height.to_be_bytes().to_vec();
            payload.extend_from_slice(next.last_hash.as_ref());
            let heartbeat = WorkerMessage {
                sender: me,
                destination: Destination::Topic(HEARTBEAT_TOPIC.to_vec()),
                sequence: next.egress.next_sequence,
                payload,
            };
            let chain = ChainIdentity {
                chain_id: next.chain_id,
                genesis_hash: next.genesis_hash,
            };
            next.egress
                .pending
                .push(self.identity.sign_message(heartbeat, &chain));
            next.egress.next_sequence += 1;
        }
        self.sealed.write(SYNC_FILE, &next.encode())?;
        self.state = Some(next);
        Ok((height, mine))
    }

    /// Signed egress not yet seen on chain, for the host to post.
    pub fn side_effects(&self) -> Vec<SignedWorkerMessage> {
        self.state
            .as_ref()
            .map(|s| s.egress.pending.clone())
            .unwrap_or_default()
    }

    /// A registration for `operator` at `endpoint`, attesting the last synced block: evidence
    /// from the TEE plus the worker's signature binding operator and endpoint. Dev evidence
    /// still needs the dev RA service's signature, and DCAP evidence its collateral.
    pub fn registration(
        &self,
        operator: AccountId,
        endpoint: String,
    ) -> Result<Registration, RuntimeError> {
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_BYTES {
            return Err(RuntimeError::Invalid(format!(
                "endpoint must be 1..={MAX_ENDPOINT_BYTES} bytes"
            )));
        }
        let evidence = self.ra_quote(&state.last_hash)?;
        let chain = ChainIdentity {
            chain_id: state.chain_id,
            genesis_hash: state.genesis_hash,
        };
        let worker = self.identity.public_key();
        let ecdh_key = self.identity.ecdh_public();
        let attested_height = state.next_height - 1;
        let payload = Registration::signing_payload(
            &chain,
            &worker,
            &ecdh_key,
            &operator,
            &endpoint,
            attested_height,
        );
        let signature = self.identity.sign(namespace::REGISTRATION, &payload);
        Ok(Registration {
            worker,
            ecdh_key,
            operator,
            endpoint,
            attested_height,
            signature,
            evidence: evidence.encode().to_vec(),
            collateral: Vec::new(),
        })
    }

    /// Evidence binding the identity keys, the genesis and a recently synced block.
    pub fn ra_quote(&self, block_hash: &Digest) -> Result<Evidence, RuntimeError> {
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        if !state.recent.contains(block_hash) {
            return Err(RuntimeError::UnknownBlock(to_hex(block_hash)));
        }
        let data = report_data(
            self.identity.public_key().as_ref(),
            &self.identity.ecdh_public(),
            &state.genesis_hash,
            block_hash,
        );
        Ok(self.tee.evidence(&data)?)
    }

    /// Public facts.
    pub fn info(&self) -> Info {
        let kind = self.tee.kind();
        Info {
            public_key: to_hex(self.identity.public_key()),
            ecdh_public_key: to_hex(self.identity.ecdh_public()),
            tee: kind,
            insecure: kind.insecure(),
            measurement: to_hex(self.tee.measurement()),
            chain_id: self.state.as_ref().map(|s| s.chain_id),
            genesis_hash: self.state.as_ref().map(|s| to_hex(s.genesis_hash)),
            synced_height: self.state.as_ref().map(|s| s.next_height - 1).unwrap_or(0),
            synced_hash: self.state.as_ref().map(|s| to_hex(s.last_hash)),
            messages_received: self
                .state
                .as_ref()
                .map(|s| s.messages_received)
                .unwrap_or(0),
            registered_until: self
                .state
                .as_ref()
                .and_then(|s| s.egress.registration.map(|r| r.0)),
            egress_pending: self
                .state
                .as_ref()
                .map(|s| s.egress.pending.len())
                .unwrap_or(0),
            election_round: self.state.as_ref().map_or(0, |s| s.election.0),
            gatekeeper: self.state.as_ref().is_some_and(|s| s.election.1),
            genesis_key: self.genesis.as_ref().map(|g| to_hex(g.public().0)),
        }
    }

    /// Signs a public answer.
    pub fn sign_answer<T: Serialize>(&self, answer: &T) -> anyhow::Result<SignedAnswer> {
        let payload = serde_json::to_string(answer)?;
        let signature = self
            .identity
            .sign(PUBLIC_ANSWER_NAMESPACE, payload.as_bytes());
        Ok(SignedAnswer {
            payload,
            public_key: to_hex(self.identity.public_key()),
            signature: to_hex(signature.encode()),
        })
    }
}

/// Checks a signed answer and returns its payload (for clients).
pub fn verify_answer(answer: &SignedAnswer) -> Result<String, String> {
    use commonware_cryptography::Verifier as _;
    let key: veil_primitives::AccountId =
        veil_primitives::decode_hex(&answer.public_key).map_err(|e| format!("public_key: {e}"))?;
    let bytes = veil_primitives::from_hex(&answer.signature).map_err(|e| e.to_string())?;
    let sig = veil_primitives::Signature::decode(bytes).map_err(|e| e.to_string())?;
    if !key.verify(PUBLIC_ANSWER_NAMESPACE, answer.payload.as_bytes(), &sig) {
        return Err("signature does not verify".into());
    }
    Ok(answer.payload.clone())
}
