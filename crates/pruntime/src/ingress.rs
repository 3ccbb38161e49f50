//! Ingress: verified chain messages, dispatched by origin and destination to the part of
//! pRuntime that consumes them.
//!
//! Only messages from a batch [crate::sync] verified arrive here. The chain's copies of this
//! worker's own egress confirm it; the gatekeepers' stream, election, launch, handover and
//! slashing announcements and contract events go to the gatekeeper role; contract events, keys, grants, and every
//! message to or from a contract (its log) to the miner role's executor; registry events to the worker role; everything else
//! addressed to this worker is returned to the caller.

use commonware_codec::DecodeExt as _;
use veil_primitives::{
    Destination, ELECTION_TOPIC, Election, HANDOVER_TOPIC, Handover, LAUNCH_TOPIC, Launch, Message,
    Origin, SLASH_TOPIC, Slashed,
    contract::{CONTRACT_GRANT_TOPIC, CONTRACT_KEY_TOPIC, CONTRACT_RESULTS_TOPIC, CONTRACTS_TOPIC},
};

use crate::{
    egress::Emitter,
    roles::{
        contracts::executor::{Executor, ExecutorError},
        gatekeeper, worker,
    },
    state::State,
    sync::Seen,
};

/// Applies the verified messages `seen` to `next` and the contracts in `executor`, in chain
/// order; returns those addressed to this worker.
///
/// No contract result is dropped: a batch of several blocks whose results do not fit the
/// egress queue's room is refused, nothing changed, and the host sends fewer blocks
/// (`TooManyResults`; `result_cap` a further cap for tests); a single block's all go out, so
/// the queue passes its bound by at most one block's results and sync always moves on.
pub(crate) fn dispatch(
    out: &Emitter<'_>,
    next: &mut State,
    executor: &mut Executor<'_>,
    seen: Vec<Seen>,
    blocks: usize,
    result_cap: usize,
) -> Result<Vec<Message>, ExecutorError> {
    let me = out.identity.public_key();
    let mut mine = Vec::new();
    let mut rolled_back = false;
    for Seen {
        height,
        block,
        parent,
        message: m,
    } in seen
    {
        match (&m.origin, &m.destination) {
            (Origin::Contract(_), _) | (_, Destination::Contract(_)) => {
                executor.on_log_message(height, &parent, &m);
            }
            (Origin::Worker(w), _) if w == &me => {
                if m.sequence >= next.outbox.next_sequence && !rolled_back {
                    // Egress this store never signed: it lost state (set aside as corrupted,
                    // or an older copy put back by the host). Harmless, as everything in it
                    // derives from the chain, but worth saying.
                    rolled_back = true;
                    tracing::warn!(
                        sequence = m.sequence,
                        signed = next.outbox.next_sequence,
                        height,
                        "the chain carries egress of this worker that its local state never \
                         signed: the state is older than the worker (reset or rolled back); \
                         it is rebuilt from the chain"
                    );
                }
                next.outbox.confirm(m.sequence)
            }
            (Origin::Gatekeepers, Destination::Topic(t)) if t == CONTRACT_KEY_TOPIC => {
                executor.on_key(&m.payload);
                gatekeeper::on_routed(out, next, &m);
            }
            (Origin::Gatekeepers, Destination::Topic(t)) if t == CONTRACT_GRANT_TOPIC => {
                executor.on_grant(&m.payload);
                gatekeeper::on_routed(out, next, &m);
            }
            (Origin::Gatekeepers, _) => gatekeeper::on_routed(out, next, &m),
            (Origin::Chain, Destination::Topic(t)) if t == ELECTION_TOPIC => {
                if let Ok(e) = Election::decode(m.payload.clone()) {
                    gatekeeper::on_election(out, next, e, &block);
                }
            }
            (Origin::Chain, Destination::Topic(t)) if t == LAUNCH_TOPIC => {
                if let Ok(l) = Launch::decode(m.payload.clone()) {
                    gatekeeper::on_launch(out, next, &l, height, &block);
                }
            }
            (Origin::Chain, Destination::Topic(t)) if t == HANDOVER_TOPIC => {
                if let Ok(h) = Handover::decode(m.payload.clone()) {
                    gatekeeper::on_handover(out, next, &h);
                }
            }
            (Origin::Chain, Destination::Topic(t)) if t == SLASH_TOPIC => {
                if let Ok(s) = Slashed::decode(m.payload.clone()) {
                    gatekeeper::on_slashed(out, next, &s);
                }
            }
            (Origin::Chain, Destination::Topic(t)) if t == CONTRACTS_TOPIC => {
                executor.on_event(&m.payload)?;
                gatekeeper::on_contract_event(out, next, &m.payload, &block);
            }
            (Origin::Chain, Destination::Worker(_)) => {
                worker::on_registry_event(next, &m.payload);
                mine.push(m);
            }
            _ => mine.push(m),
        }
    }
    let results = executor.take_results();
    let room = Emitter::result_room(&next.outbox).min(result_cap);
    if results.len() > room && blocks > 1 {
        return Err(ExecutorError::TooManyResults {
            needed: results.len(),
            room,
        });
    }
    out.block_results(&mut next.outbox, CONTRACT_RESULTS_TOPIC, results);
    executor.prune_revoked(next.timestamp);
    Ok(mine)
}
