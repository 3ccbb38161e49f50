//! The worker role, which every pRuntime has: attestation and registration, what the chain
//! says of its registration, and heartbeats while registered.

use commonware_codec::{DecodeExt as _, Encode as _};
use veil_attestation::{Evidence, report_data};
use veil_primitives::{
    AccountId, Digest, HEARTBEAT_TOPIC, Height, MAX_ENDPOINT_BYTES, Registration, RegistryEvent,
    namespace, to_hex,
};

use crate::{
    egress::Emitter, error::RuntimeError, identity::Identity, state::State, tee::TeeBackend,
};

/// A registry event the chain addressed to this worker sets what pRuntime knows of its
/// registration. Unconfirmed egress stays on deregistration: a sequence, once signed, always
/// carries the same message, and it is posted again after re-registration.
///
/// Deregistration (expiry, replacement, or revocation of its code or platform) also ends the
/// gatekeeper role: the chain no longer counts this worker as a key holder, so the root key
/// it held is wiped rather than kept where nobody is accountable for it.
pub(crate) fn on_registry_event(next: &mut State, payload: &[u8]) {
    match RegistryEvent::decode(payload.to_vec()) {
        Ok(RegistryEvent::Registered {
            expiry,
            heartbeat_blocks,
        }) => next.outbox.registration = Some((expiry, heartbeat_blocks)),
        Ok(RegistryEvent::Deregistered { reason }) => {
            next.outbox.registration = None;
            if next.gatekeeper.take().is_some() {
                tracing::warn!(
                    ?reason,
                    "deregistered: gatekeeper role ended, root key wiped"
                );
            }
        }
        Err(_) => {}
    }
}

/// Signs a heartbeat when the batch that led from `previous` to `next` crossed a multiple of
/// the heartbeat interval while registered. The payload is the height and hash reached.
pub(crate) fn heartbeat(out: &Emitter<'_>, next: &mut State, previous: Height) {
    let height = next.synced_height();
    if let Some((expiry, every)) = next.outbox.registration
        && height < expiry
        && height / every > previous / every
    {
        let mut payload = height.to_be_bytes().to_vec();
        payload.extend_from_slice(next.last_hash.as_ref());
        out.routine(&mut next.outbox, HEARTBEAT_TOPIC, payload);
    }
}

/// Evidence binding the identity keys, the genesis and a recently synced block.
pub(crate) fn ra_quote(
    tee: &dyn TeeBackend,
    identity: &Identity,
    state: &State,
    block_hash: &Digest,
) -> Result<Evidence, RuntimeError> {
    if !state.recent.contains(block_hash) {
        return Err(RuntimeError::UnknownBlock(to_hex(block_hash)));
    }
    let data = report_data(
        identity.public_key().as_ref(),
        &identity.ecdh_public(),
        &state.genesis_hash,
        block_hash,
    );
    Ok(tee.evidence(&data)?)
}

/// A registration for `operator` at `endpoint`, attesting the last synced block: evidence from
/// the TEE plus the worker's signature binding operator and endpoint. Dev evidence still needs
/// the dev RA service's signature, and DCAP evidence its collateral.
pub(crate) fn registration(
    tee: &dyn TeeBackend,
    identity: &Identity,
    state: &State,
    operator: AccountId,
    endpoint: String,
) -> Result<Registration, RuntimeError> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(RuntimeError::Invalid(format!(
            "endpoint must be 1..={MAX_ENDPOINT_BYTES} bytes"
        )));
    }
    let evidence = ra_quote(tee, identity, state, &state.last_hash)?;
    let worker = identity.public_key();
    let ecdh_key = identity.ecdh_public();
    let attested_height = state.synced_height();
    let payload = Registration::signing_payload(
        &state.chain(),
        &worker,
        &ecdh_key,
        &operator,
        &endpoint,
        attested_height,
    );
    let signature = identity.sign(namespace::REGISTRATION, &payload);
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
