//! Message routing, and nothing else.
//!
//! Every message leaving the chain for workers goes through here. Each origin has one sequence,
//! starting at 0 and kept in state, so a receiver that sees sequence `n` knows exactly which
//! messages came before. The block's messages are committed by the header's messages root.
//! Who may send what (a worker's signature, a gatekeeper's copy) is checked by the modules
//! that own those senders, before they call `send`.

use veil_primitives::{Destination, Message, Origin};

use crate::{
    error::{ExecError, StateError, TxError},
    keys,
    overlay::{Overlay, StateRead},
};

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
