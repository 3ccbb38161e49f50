//! The gatekeeper role: getting the root key from a holder ([channel]), confirming readiness,
//! running the replicated gatekeeper state with its checkpoints on chain ([state]), and
//! publishing contract keys ([contracts]).
//!
//! Everything here reacts to verified chain messages ([crate::ingress] calls in) or to a
//! completed key request; nothing trusts the host.

pub mod channel;
pub mod contracts;
pub mod state;

use commonware_codec::Encode as _;
use veil_primitives::{
    AccountId, Destination, Digest, Election, GATEKEEPER_STATE_TOPIC, Handover, Height, KeyHolder,
    Launch, Message, READY_TOPIC, Ready, Slashed,
};

use self::{
    channel::{ChannelError, KeyRequest},
    state::{GatekeeperRole, GatekeeperState, open_checkpoint, seal_checkpoint},
};
use crate::{egress::Emitter, state::State};

/// Confirms readiness if this worker is elected and holds the key the election names.
pub(crate) fn ready(out: &Emitter<'_>, next: &mut State) {
    let Some(e) = &next.election else { return };
    if !e.is_elected(&out.identity.public_key()) || !next.holds_current_key() {
        return;
    }
    let ready = Ready {
        round: e.round,
        key_check: e.key_check,
    };
    out.essential(&mut next.outbox, READY_TOPIC, ready.encode().to_vec());
}

/// A verified election: remember it, confirm readiness, and after launch checkpoint the state
/// for the new round.
pub(crate) fn on_election(out: &Emitter<'_>, next: &mut State, e: Election, block: &Digest) {
    let elected = e.is_elected(&out.identity.public_key());
    let round = e.round;
    next.election = Some(e);
    ready(out, next);
    if elected
        && next.launched.is_some()
        && let Some(role) = &mut next.gatekeeper
        && role.state.round < round
    {
        role.state.round = round;
        checkpoint(out, role, block);
    }
}

/// The verified launch: the launch round's gatekeepers checkpoint the state.
pub(crate) fn on_launch(
    out: &Emitter<'_>,
    next: &mut State,
    launch: &Launch,
    height: Height,
    block: &Digest,
) {
    next.launched = Some(height);
    if launch.gatekeepers.contains(&out.identity.public_key())
        && let Some(role) = &mut next.gatekeeper
    {
        role.state.launched_at = height;
        role.state.round = role.state.round.max(launch.round);
        checkpoint(out, role, block);
    }
}

/// A verified handover: every gatekeeper of a round confirmed and holds the root key. A
/// gatekeeper of an earlier round outside it is no longer a key holder, so it wipes the key
/// (the runtime then compacts the sealed store, so no old copy stays in its files).
pub(crate) fn on_handover(out: &Emitter<'_>, next: &mut State, h: &Handover) {
    if next.gatekeeper.is_some() && !h.gatekeepers.contains(&out.identity.public_key()) {
        next.gatekeeper = None;
        tracing::info!(
            round = h.round,
            "the gatekeepers of a round without this worker hold the root key: gatekeeper role \
             ended, root key wiped"
        );
    }
}

/// A verified slash of a gatekeeper that missed a round's deadline: the chain dropped it from
/// the key holders, so if it is this worker, it wipes the key as on a handover.
pub(crate) fn on_slashed(out: &Emitter<'_>, next: &mut State, s: &Slashed) {
    if s.worker == out.identity.public_key() && next.gatekeeper.take().is_some() {
        tracing::warn!(
            round = s.round,
            "slashed for missing the round's deadline: no longer a key holder, root key wiped"
        );
    }
}

/// Emits the state as the stream's next message, encrypted under the root key with a DRBG
/// nonce, so every gatekeeper emits the same bytes.
fn checkpoint(out: &Emitter<'_>, role: &mut GatekeeperRole, block: &Digest) {
    // The checkpoint carries the state as it will be once its own sequence is spent.
    let mut after = role.state.clone();
    after.next_sequence += 1;
    let root_key = role.root_key.clone();
    let chain = *out.chain;
    out.gatekeeper(role, GATEKEEPER_STATE_TOPIC, |sequence| {
        seal_checkpoint(&root_key, &chain, sequence, block, &after)
    });
}

/// A verified contracts event: after the launch, a gatekeeper holding the root key publishes
/// each new contract's key ([contracts]).
pub(crate) fn on_contract_event(
    out: &Emitter<'_>,
    next: &mut State,
    payload: &[u8],
    block: &Digest,
) {
    if next.launched.is_none() {
        return;
    }
    if let Some(role) = &mut next.gatekeeper {
        contracts::on_contract_event(out, role, payload, block);
    }
}

/// A gatekeeper message routed by the chain: confirms our copies up to it, keeps the latest
/// checkpoint, and adopts the chain's state when it is ahead of ours (the first copy on chain
/// wins).
pub(crate) fn on_routed(out: &Emitter<'_>, next: &mut State, m: &Message) {
    let is_state = matches!(&m.destination, Destination::Topic(t) if t == GATEKEEPER_STATE_TOPIC);
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
        match open_checkpoint(&role.root_key, out.chain, &m.payload) {
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

/// Picks a holder the latest verified election names (a different one on each attempt) and
/// starts a Noise key request to it.
pub(crate) fn start_key_request(
    state: &State,
    me: &AccountId,
    ecdh_secret: &[u8; 32],
    insecure: bool,
    attempt: u64,
) -> Result<(KeyRequest, Vec<u8>), KeyRequestError> {
    let election = state.election.as_ref().ok_or(KeyRequestError::NoElection)?;
    if !election.is_elected(me) {
        return Err(ChannelError::NotElected(election.round).into());
    }
    if state.holds_current_key() {
        return Err(KeyRequestError::AlreadyHeld);
    }
    let holders: Vec<&KeyHolder> = election
        .holders
        .iter()
        .filter(|h| &h.worker != me)
        .collect();
    if holders.is_empty() {
        return Err(KeyRequestError::NoHolder);
    }
    // The root key is taken only from a pRuntime whose TEE the chain verified (the genesis
    // node's evidence at genesis, a gatekeeper's at registration); a dev one only by a
    // pRuntime that is itself in dev mode.
    let holders: Vec<&KeyHolder> = holders
        .into_iter()
        .filter(|h| h.tee.is_some_and(|tee| insecure || !tee.insecure()))
        .collect();
    if holders.is_empty() {
        return Err(KeyRequestError::NoAttestedHolder);
    }
    let holder = holders[(attempt % holders.len() as u64) as usize].clone();
    Ok(KeyRequest::start(
        ecdh_secret,
        holder,
        &state.chain(),
        election.round,
        state.synced_height(),
    )?)
}

/// Completes a key request with the holder's answer: the role, restored from the latest
/// checkpoint on chain when there is one, and readiness confirmed. Returns the next state.
pub(crate) fn finish_key_request(
    out: &Emitter<'_>,
    state: &State,
    request: KeyRequest,
    answer: &[u8],
) -> Result<State, KeyRequestError> {
    let election = state
        .election
        .as_ref()
        .filter(|e| e.round == request.round)
        .ok_or(KeyRequestError::Superseded)?;
    let (era, root_key) = request.finish(answer, &election.key_check)?;
    let mut next = state.clone();
    let restored = next
        .checkpoint
        .as_deref()
        .and_then(|c| open_checkpoint(&root_key, &state.chain(), c).ok())
        .map(|(_, s)| s)
        .unwrap_or(GatekeeperState {
            era,
            ..Default::default()
        });
    next.gatekeeper = Some(GatekeeperRole {
        era,
        root_key,
        state: restored,
        pending: Vec::new(),
    });
    ready(out, &mut next);
    Ok(next)
}

/// Why a key request could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum KeyRequestError {
    /// No election verified yet.
    #[error("no gatekeeper election seen yet")]
    NoElection,
    /// This worker already holds the key the election names.
    #[error("already holds the root key")]
    AlreadyHeld,
    /// The election names no holder other than this worker.
    #[error("the election names no key holder")]
    NoHolder,
    /// No holder the election names is attested as this pRuntime requires: the chain
    /// verified no TEE for it, or only dev attestation while this pRuntime runs in a TEE.
    #[error(
        "no key holder of the election is attested (a pRuntime in a TEE takes the root key only from TEE-attested holders)"
    )]
    NoAttestedHolder,
    /// No request in flight.
    #[error("no key request in flight")]
    NotStarted,
    /// A newer election arrived while the request was in flight.
    #[error("a new election started since the request; start again")]
    Superseded,
    /// The channel refused.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}
