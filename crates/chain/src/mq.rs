//! Message routing.
//!
//! Every message leaving the chain for workers goes through here. Each origin has one sequence,
//! starting at 0 and kept in state, so a receiver that sees sequence `n` knows exactly which
//! messages came before. The block's messages are committed by the header's messages root.

use veil_primitives::{ChainIdentity, Destination, Message, Origin, SignedWorkerMessage, to_hex};

use crate::{StateError, StateRead, TxError, execute::ExecError, keys, overlay::Overlay, registry};

/// Next sequence of `origin`.
pub async fn next_sequence<S: StateRead>(
    o: &Overlay<'_, S>,
    origin: &Origin,
) -> Result<u64, StateError> {
    Ok(o.read(&keys::mq_sequence(origin)).await?.unwrap_or(0))
}

/// Queues a message for the block's outbound list, assigning the origin's next sequence.
pub(crate) async fn send<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    origin: Origin,
    destination: Destination,
    payload: Vec<u8>,
    max_payload: usize,
) -> Result<(), ExecError> {
    if payload.len() > max_payload {
        return Err(TxError::MessageTooLarge {
            size: payload.len(),
            max: max_payload,
        }
        .into());
    }
    Ok(emit(o, outbox, origin, destination, payload).await?)
}

/// Queues a message without limits (for the chain's own messages).
pub(crate) async fn emit<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    origin: Origin,
    destination: Destination,
    payload: Vec<u8>,
) -> Result<(), StateError> {
    let sequence = next_sequence(o, &origin).await?;
    o.put(keys::mq_sequence(&origin), &(sequence + 1));
    outbox.push(Message {
        origin,
        destination,
        sequence,
        payload,
    });
    Ok(())
}

/// Checks a worker's signed message: the sender is registered, signed it for this chain, and
/// numbered it `next` (the returned value) or, when `exact` is false, later.
pub async fn check_worker_message<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    signed: &SignedWorkerMessage,
    exact: bool,
) -> Result<Result<u64, TxError>, StateError> {
    let m = &signed.message;
    if registry::worker(o, &m.sender).await?.is_none() {
        return Ok(Err(TxError::UnknownWorker(to_hex(&m.sender))));
    }
    if !signed.verify(chain) {
        return Ok(Err(TxError::BadWorkerSignature));
    }
    let expected = next_sequence(o, &Origin::Worker(m.sender.clone())).await?;
    if m.sequence < expected {
        return Ok(Err(TxError::SequenceReplayed {
            expected,
            got: m.sequence,
        }));
    }
    if exact && m.sequence > expected {
        return Ok(Err(TxError::SequenceGap {
            expected,
            got: m.sequence,
        }));
    }
    Ok(Ok(expected))
}

/// Routes a registered worker's signed message, which must carry exactly its next sequence.
pub(crate) async fn relay_worker_message<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    chain: &ChainIdentity,
    signed: &SignedWorkerMessage,
    max_payload: usize,
) -> Result<(), ExecError> {
    check_worker_message(o, chain, signed, true).await??;
    let m = &signed.message;
    send(
        o,
        outbox,
        Origin::Worker(m.sender.clone()),
        m.destination.clone(),
        m.payload.clone(),
        max_payload,
    )
    .await
}
