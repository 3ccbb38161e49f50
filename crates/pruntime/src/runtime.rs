//! The runtime: identity, sealed sync state, and the operations the APIs expose.

use std::path::Path;

use commonware_codec::{DecodeExt as _, Encode as _};
use serde::{Deserialize, Serialize};
use veil_attestation::{Evidence, TeeKind, report_data};
use veil_primitives::{
    AccountId, ChainIdentity, Destination, Digest, ELECTION_TOPIC, Election,
    GATEKEEPER_STATE_TOPIC, GatekeeperMessage, HEARTBEAT_TOPIC, Header, Height, KeyHolder,
    LAUNCH_TOPIC, Launch, MAX_ENDPOINT_BYTES, Message, Origin, READY_TOPIC, Ready, Registration,
    RegistryEvent, SignedGatekeeperMessage, SignedWorkerMessage, WorkerMessage, namespace, to_hex,
};

use crate::{
    gatekeeper::{self, ChannelError, GatekeeperRole, KeyRequest},
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
    /// `active` while this genesis node holds the root key, `retired` once it wiped it after
    /// the launch; `null` if this runtime is not the genesis node.
    pub genesis: Option<String>,
    /// Whether the network launched, as this runtime verified.
    pub launched: bool,
    /// Whether this runtime holds the root key as a gatekeeper.
    pub holds_root_key: bool,
    /// The era of the root key it holds.
    pub era: Option<u64>,
    /// This gatekeeper's copies of gatekeeper messages not yet seen on chain.
    pub gatekeeper_pending: usize,
    /// Next sequence of the gatekeepers' stream in this gatekeeper's replicated state.
    pub gatekeeper_sequence: Option<u64>,
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

/// What `Bootstrap` reveals: the public genesis identity `pk_g` and the root key's check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrapped {
    /// Signing key and X25519 key.
    pub public: (AccountId, [u8; 32]),
    /// Check of the era-0 root key.
    pub key_check: Digest,
    /// Whether the role was created by this call.
    pub created: bool,
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
    /// This was the genesis node and it retired after the launch: it answers nothing.
    #[error("this genesis node retired after the launch and wiped its keys; it answers nothing")]
    Retired,
    /// A root-key exchange failed.
    #[error("key exchange refused: {0}")]
    KeyExchange(#[from] ChannelError),
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
    retired: Option<AccountId>,
    key_request: Option<KeyRequest>,
    attempts: u64,
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
        let retired = GenesisRole::retired(&sealed)?;
        let mut runtime = Self {
            tee,
            sealed,
            identity,
            state,
            genesis,
            retired,
            key_request: None,
            attempts: 0,
        };
        // A crash between sealing the launch and wiping the role finishes the wipe now.
        runtime.retire_if_launched()?;
        Ok((runtime, created))
    }

    fn retire_if_launched(&mut self) -> anyhow::Result<()> {
        if self.state.as_ref().is_some_and(|s| s.launched.is_some())
            && let Some(role) = self.genesis.take()
        {
            self.retired = Some(role.retire(&self.sealed)?);
            tracing::info!("the network launched: genesis node retired, root key wiped");
        }
        Ok(())
    }

    fn ensure_active(&self) -> Result<(), RuntimeError> {
        match self.retired {
            Some(_) => Err(RuntimeError::Retired),
            None => Ok(()),
        }
    }

    fn chain(state: &SyncState) -> ChainIdentity {
        ChainIdentity {
            chain_id: state.chain_id,
            genesis_hash: state.genesis_hash,
        }
    }

    /// Takes the genesis role: creates and seals the genesis identity and the era-0 root key
    /// (or loads them if this runtime already has the role). Returns the public genesis
    /// identity `pk_g` and whether it was created now.
    pub fn bootstrap(&mut self) -> Result<Bootstrapped, RuntimeError> {
        self.ensure_active()?;
        if let Some(role) = &self.genesis {
            return Ok(Bootstrapped {
                public: role.public(),
                key_check: role.key_check(),
                created: false,
            });
        }
        let (role, created) = GenesisRole::bootstrap(&self.sealed)?;
        let out = Bootstrapped {
            public: role.public(),
            key_check: role.key_check(),
            created,
        };
        self.genesis = Some(role);
        Ok(out)
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
        self.ensure_active()?;
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
        self.ensure_active()?;
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let me = self.identity.public_key();
        let chain = Self::chain(state);
        let (mut next, seen) = state.check(batch, &me)?;
        let previous = state.next_height - 1;
        let mut mine = Vec::new();
        let out = Egress {
            identity: &self.identity,
            chain: &chain,
        };
        for (height, block, m) in seen {
            match (&m.origin, &m.destination) {
                (Origin::Worker(w), _) if w == &me => next.egress.confirm(m.sequence),
                (Origin::Gatekeepers, _) => out.routed(&mut next, &m),
                (Origin::Chain, Destination::Topic(t)) if t == ELECTION_TOPIC => {
                    if let Ok(e) = Election::decode(m.payload.clone()) {
                        out.election(&mut next, e, &block);
                    }
                }
                (Origin::Chain, Destination::Topic(t)) if t == LAUNCH_TOPIC => {
                    if let Ok(l) = Launch::decode(m.payload.clone()) {
                        out.launch(&mut next, &l, height, &block);
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
        {
            let mut payload = height.to_be_bytes().to_vec();
            payload.extend_from_slice(next.last_hash.as_ref());
            out.egress(&mut next, HEARTBEAT_TOPIC, payload);
        }
        self.sealed.write(SYNC_FILE, &next.encode())?;
        self.state = Some(next);
        self.retire_if_launched()?;
        Ok((height, mine))
    }

    /// Starts a key request to one of the holders the latest verified election names (a
    /// different one on each attempt); returns the holder and the first Noise message, which
    /// the host delivers to the holder's public `RequestRootKey`.
    pub fn start_key_request(&mut self) -> Result<(KeyHolder, Vec<u8>, u64), RuntimeError> {
        self.ensure_active()?;
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let me = self.identity.public_key();
        let election = state
            .election
            .as_ref()
            .ok_or_else(|| RuntimeError::Invalid("no gatekeeper election seen yet".into()))?;
        if !election.gatekeepers.contains(&me) {
            return Err(ChannelError::NotElected(election.round).into());
        }
        if state
            .gatekeeper
            .as_ref()
            .is_some_and(|r| r.key_check() == election.key_check)
        {
            return Err(RuntimeError::Invalid("already holds the root key".into()));
        }
        let holders: Vec<&KeyHolder> = election.holders.iter().filter(|h| h.worker != me).collect();
        if holders.is_empty() {
            return Err(RuntimeError::Invalid(
                "the election names no key holder".into(),
            ));
        }
        let holder = holders[(self.attempts % holders.len() as u64) as usize].clone();
        self.attempts += 1;
        let (request, message) = KeyRequest::start(
            self.identity.ecdh_secret(),
            holder.clone(),
            &Self::chain(state),
            election.round,
        )?;
        let round = election.round;
        self.key_request = Some(request);
        Ok((holder, message, round))
    }

    /// Completes the key request with the holder's answer: seals the root key, restores the
    /// gatekeeper state from the latest checkpoint seen on chain, and confirms readiness.
    pub fn finish_key_request(&mut self, answer: &[u8]) -> Result<(u64, Digest), RuntimeError> {
        self.ensure_active()?;
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let request = self
            .key_request
            .take()
            .ok_or_else(|| RuntimeError::Invalid("no key request in flight".into()))?;
        let election = state
            .election
            .as_ref()
            .filter(|e| e.round == request.round)
            .ok_or_else(|| {
                RuntimeError::Invalid(
                    "a new election started since the request; start again".into(),
                )
            })?;
        let chain = Self::chain(state);
        let (era, root_key) = request.finish(answer, &election.key_check)?;
        let mut next = state.clone();
        let restored = next
            .checkpoint
            .as_deref()
            .and_then(|c| gatekeeper::open_checkpoint(&root_key, &chain, c).ok())
            .map(|(_, s)| s)
            .unwrap_or(gatekeeper::GatekeeperState {
                era,
                ..Default::default()
            });
        let role = GatekeeperRole {
            era,
            root_key,
            state: restored,
            pending: Vec::new(),
        };
        let check = role.key_check();
        next.gatekeeper = Some(role);
        Egress {
            identity: &self.identity,
            chain: &chain,
        }
        .ready(&mut next);
        self.sealed.write(SYNC_FILE, &next.encode())?;
        self.state = Some(next);
        tracing::info!(era, "root key received and sealed");
        Ok((era, check))
    }

    /// A key holder's answer to an elected gatekeeper's request (the public `RequestRootKey`).
    pub fn answer_key_request(&self, request: &[u8]) -> Result<Vec<u8>, RuntimeError> {
        self.ensure_active()?;
        let state = self.state.as_ref().ok_or(SyncError::NotInitialized)?;
        let election = state
            .election
            .as_ref()
            .ok_or_else(|| RuntimeError::Invalid("no gatekeeper election seen yet".into()))?;
        let chain = Self::chain(state);
        let answer = if let Some(g) = &self.genesis {
            gatekeeper::answer(g.ecdh_secret(), &chain, election, 0, g.root_key(), request)
        } else if let Some(role) = &state.gatekeeper {
            gatekeeper::answer(
                self.identity.ecdh_secret(),
                &chain,
                election,
                role.era,
                &role.root_key,
                request,
            )
        } else {
            return Err(RuntimeError::Invalid(
                "this worker holds no root key".into(),
            ));
        };
        Ok(answer?)
    }

    /// This gatekeeper's copies of gatekeeper messages not yet seen on chain.
    pub fn gatekeeper_side_effects(&self) -> Vec<SignedGatekeeperMessage> {
        self.state
            .as_ref()
            .and_then(|s| s.gatekeeper.as_ref())
            .map(|g| g.pending.clone())
            .unwrap_or_default()
    }

    /// Signed egress not yet seen on chain, for the host to post.
    pub fn side_effects(&self) -> Vec<SignedWorkerMessage> {
        if self.retired.is_some() {
            return Vec::new();
        }
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
        self.ensure_active()?;
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
        self.ensure_active()?;
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
        let role = self.state.as_ref().and_then(|s| s.gatekeeper.as_ref());
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
            election_round: self
                .state
                .as_ref()
                .and_then(|s| s.election.as_ref())
                .map_or(0, |e| e.round),
            gatekeeper: self
                .state
                .as_ref()
                .is_some_and(|s| s.elected(&self.identity.public_key())),
            genesis_key: self
                .genesis
                .as_ref()
                .map(|g| g.public().0)
                .or_else(|| self.retired.clone())
                .map(to_hex),
            genesis: match (&self.genesis, &self.retired) {
                (_, Some(_)) => Some("retired".into()),
                (Some(_), None) => Some("active".into()),
                (None, None) => None,
            },
            launched: self.state.as_ref().is_some_and(|s| s.launched.is_some()),
            holds_root_key: role.is_some(),
            era: role.map(|r| r.era),
            gatekeeper_pending: role.map_or(0, |r| r.pending.len()),
            gatekeeper_sequence: role.map(|r| r.state.next_sequence),
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

/// What a sync step emits: worker egress (signed with the identity key) and this gatekeeper's
/// copies of the gatekeepers' messages.
struct Egress<'a> {
    identity: &'a Identity,
    chain: &'a ChainIdentity,
}

impl Egress<'_> {
    /// Signs a worker message with the next egress sequence (dropped if too many are pending).
    fn egress(&self, next: &mut SyncState, topic: &[u8], payload: Vec<u8>) {
        if next.egress.pending.len() >= MAX_PENDING_EGRESS {
            tracing::warn!(
                "egress queue full; dropping a message to {}",
                String::from_utf8_lossy(topic)
            );
            return;
        }
        let message = WorkerMessage {
            sender: self.identity.public_key(),
            destination: Destination::Topic(topic.to_vec()),
            sequence: next.egress.next_sequence,
            payload,
        };
        next.egress
            .pending
            .push(self.identity.sign_message(message, self.chain));
        next.egress.next_sequence += 1;
    }

    /// Confirms readiness if this worker is elected and holds the key the election names.
    fn ready(&self, next: &mut SyncState) {
        let Some(e) = &next.election else { return };
        let Some(role) = &next.gatekeeper else { return };
        if !e.gatekeepers.contains(&self.identity.public_key()) || role.key_check() != e.key_check {
            return;
        }
        let ready = Ready {
            round: e.round,
            key_check: e.key_check,
        };
        self.egress(next, READY_TOPIC, ready.encode().to_vec());
    }

    /// A verified election: remember it, confirm readiness, and after launch checkpoint the
    /// state for the new round.
    fn election(&self, next: &mut SyncState, e: Election, block: &Digest) {
        let elected = e.gatekeepers.contains(&self.identity.public_key());
        let round = e.round;
        next.election = Some(e);
        self.ready(next);
        if elected
            && next.launched.is_some()
            && let Some(role) = &mut next.gatekeeper
            && role.state.round < round
        {
            role.state.round = round;
            self.checkpoint(role, block);
        }
    }

    /// The verified launch: the launch round's gatekeepers checkpoint the state.
    fn launch(&self, next: &mut SyncState, launch: &Launch, height: Height, block: &Digest) {
        next.launched = Some(height);
        if launch.gatekeepers.contains(&self.identity.public_key())
            && let Some(role) = &mut next.gatekeeper
        {
            role.state.launched_at = height;
            role.state.round = role.state.round.max(launch.round);
            self.checkpoint(role, block);
        }
    }

    /// Emits the state as the stream's next message, encrypted under the root key with a
    /// DRBG nonce, so every gatekeeper emits the same bytes.
    fn checkpoint(&self, role: &mut GatekeeperRole, block: &Digest) {
        if role.pending.len() >= gatekeeper::MAX_PENDING {
            tracing::warn!("gatekeeper queue full; skipping a checkpoint");
            return;
        }
        let sequence = role.state.next_sequence;
        role.state.next_sequence += 1;
        let payload =
            gatekeeper::seal_checkpoint(&role.root_key, self.chain, sequence, block, &role.state);
        let message = GatekeeperMessage {
            signer: self.identity.public_key(),
            destination: Destination::Topic(GATEKEEPER_STATE_TOPIC.to_vec()),
            sequence,
            payload,
        };
        role.pending
            .push(self.identity.sign_gatekeeper_message(message, self.chain));
    }

    /// A gatekeeper message routed by the chain: confirms our copies up to it, keeps the
    /// latest checkpoint, and adopts the chain's state when it is ahead of ours (the first copy
    /// on chain wins).
    fn routed(&self, next: &mut SyncState, m: &Message) {
        let is_state =
            matches!(&m.destination, Destination::Topic(t) if t == GATEKEEPER_STATE_TOPIC);
        if is_state {
            next.checkpoint = Some(m.payload.clone());
        }
        let Some(role) = &mut next.gatekeeper else {
            return;
        };
        if let Some(ours) = role
            .pending
            .iter()
            .find(|p| p.message.sequence == m.sequence)
            && (ours.message.payload != m.payload || ours.message.destination != m.destination)
        {
            tracing::warn!(
                sequence = m.sequence,
                "gatekeeper divergence: the chain routed another copy"
            );
        }
        role.pending.retain(|p| p.message.sequence > m.sequence);
        if is_state {
            match gatekeeper::open_checkpoint(&role.root_key, self.chain, &m.payload) {
                Ok((seq, state)) if seq == m.sequence => {
                    if state.next_sequence >= role.state.next_sequence {
                        role.state = state;
                    }
                }
                Ok(_) => tracing::warn!(sequence = m.sequence, "checkpoint names another sequence"),
                Err(e) => tracing::warn!(sequence = m.sequence, "checkpoint does not open: {e}"),
            }
        }
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
