//! The gatekeepers' shared egress stream.
//!
//! Gatekeepers speak as one sender, [Origin::Gatekeepers]: every gatekeeper signs the same
//! message for a sequence (they are replicated deterministic state machines), the first copy is
//! routed, identical copies are dropped and a copy that differs is recorded as a [Divergence].

use commonware_codec::Encode as _;
use veil_primitives::{
    ChainIdentity, DIVERGENCE_TOPIC, Destination, Digest, Divergence, GATEKEEPER_STATE_TOPIC,
    MAX_GATEKEEPER_STATE_BYTES, Message, Origin, SignedGatekeeperMessage, to_hex,
};

use super::rounds;
use crate::{
    error::{ExecError, StateError, TxError},
    keys, mq,
    overlay::{Overlay, StateRead},
    registry,
};

/// How many routed gatekeeper messages the chain remembers, to tell duplicates from
/// divergences.
pub const ROUTED_WINDOW: u64 = 1024;

/// The latest encrypted gatekeeper state checkpoint.
pub async fn state_checkpoint<S: StateRead>(
    o: &Overlay<'_, S>,
) -> Result<Option<Vec<u8>>, StateError> {
    o.get(&keys::gatekeeper_state()).await
}

/// How many divergences the chain recorded.
pub async fn divergences<S: StateRead>(o: &Overlay<'_, S>) -> Result<u64, StateError> {
    Ok(o.read(&keys::divergences()).await?.unwrap_or(0))
}

/// Largest payload of a gatekeeper message to `destination`: state checkpoints may be larger
/// than ordinary messages.
pub fn max_payload(destination: &Destination, params: &veil_primitives::Params) -> usize {
    let ordinary = params.max_message_bytes as usize;
    match destination {
        Destination::Topic(t) if t == GATEKEEPER_STATE_TOPIC => {
            ordinary.max(MAX_GATEKEEPER_STATE_BYTES)
        }
        _ => ordinary,
    }
}

/// What a gatekeeper's copy of a message would do.
#[derive(Debug, PartialEq, Eq)]
pub enum CopyStatus {
    /// It carries the stream's next sequence: it is routed.
    First,
    /// An identical copy was routed: dropped.
    Duplicate,
    /// A different copy was routed (its content hash): a divergence.
    Diverges(Digest),
}

/// Checks a gatekeeper's copy of a message: signed by a registered worker that is an elected
/// gatekeeper or a key holder, for this chain, at or below the stream's next sequence.
pub async fn check_gatekeeper_message<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    signed: &SignedGatekeeperMessage,
) -> Result<CopyStatus, ExecError> {
    let m = &signed.message;
    // `holders` lists registered workers only; an elected one must still be registered too.
    let elected = rounds::election(o)
        .await?
        .is_some_and(|e| e.is_elected(&m.signer))
        && registry::worker(o, &m.signer).await?.is_some();
    if !elected
        && !rounds::holders(o)
            .await?
            .iter()
            .any(|h| h.worker == m.signer)
    {
        return Err(TxError::NotGatekeeper(to_hex(&m.signer)).into());
    }
    if !signed.verify(chain) {
        return Err(TxError::BadGatekeeperSignature.into());
    }
    let expected = mq::next_sequence(o, &Origin::Gatekeepers).await?;
    if m.sequence > expected {
        return Err(TxError::SequenceGap {
            expected,
            got: m.sequence,
        }
        .into());
    }
    if m.sequence == expected {
        return Ok(CopyStatus::First);
    }
    match o
        .read::<Digest>(&keys::gatekeeper_routed(m.sequence))
        .await?
    {
        Some(d) if d == m.content_hash() => Ok(CopyStatus::Duplicate),
        Some(d) => Ok(CopyStatus::Diverges(d)),
        None => Err(TxError::SequenceReplayed {
            expected,
            got: m.sequence,
        }
        .into()),
    }
}

/// Routes the first copy of a gatekeeper message (of at most `max_payload` bytes, see
/// [max_payload]), drops duplicates and records divergences. A state checkpoint is also kept
/// in chain state, where recovering gatekeepers read it.
pub(crate) async fn relay<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    chain: &ChainIdentity,
    signed: &SignedGatekeeperMessage,
    max_payload: usize,
) -> Result<bool, ExecError> {
    let m = &signed.message;
    match check_gatekeeper_message(o, chain, signed).await? {
        CopyStatus::First => {
            let is_state =
                matches!(&m.destination, Destination::Topic(t) if t == GATEKEEPER_STATE_TOPIC);
            let max = if is_state {
                MAX_GATEKEEPER_STATE_BYTES.max(max_payload)
            } else {
                max_payload
            };
            mq::send(
                o,
                outbox,
                Origin::Gatekeepers,
                m.destination.clone(),
                m.payload.clone(),
                max,
            )
            .await?;
            o.put(keys::gatekeeper_routed(m.sequence), &m.content_hash());
            if m.sequence >= ROUTED_WINDOW {
                o.remove(keys::gatekeeper_routed(m.sequence - ROUTED_WINDOW));
            }
            if is_state {
                o.set(keys::gatekeeper_state(), m.payload.clone());
            }
            Ok(true)
        }
        CopyStatus::Duplicate => Ok(false),
        CopyStatus::Diverges(routed) => {
            let count = divergences(o).await?;
            o.put(keys::divergences(), &(count + 1));
            let record = Divergence {
                sequence: m.sequence,
                routed,
                other: m.content_hash(),
                signer: m.signer.clone(),
            };
            mq::emit(
                o,
                outbox,
                Origin::Chain,
                Destination::Topic(DIVERGENCE_TOPIC.to_vec()),
                record.encode().to_vec(),
            )
            .await?;
            Ok(false)
        }
    }
}
