//! Ingress: verified chain messages, dispatched by origin and destination to the part of
//! pRuntime that consumes them.
//!
//! Only messages from a batch [crate::sync] verified arrive here. The chain's copies of this
//! worker's own egress confirm it; the gatekeepers' stream, election and launch announcements
//! and contract instances go to the gatekeeper role; registry events to the worker role;
//! everything else addressed to this worker is returned to the caller (contracts will consume
//! it).

use commonware_codec::DecodeExt as _;
use veil_primitives::{
    Destination, ELECTION_TOPIC, Election, LAUNCH_TOPIC, Launch, Message, Origin,
    contract::CONTRACTS_TOPIC,
};

use crate::{
    egress::Emitter,
    roles::{gatekeeper, worker},
    state::State,
    sync::Seen,
};

/// Applies the verified messages `seen` to `next`; returns those addressed to this worker.
pub(crate) fn dispatch(out: &Emitter<'_>, next: &mut State, seen: Vec<Seen>) -> Vec<Message> {
    let me = out.identity.public_key();
    let mut mine = Vec::new();
    for (height, block, m) in seen {
        match (&m.origin, &m.destination) {
            (Origin::Worker(w), _) if w == &me => next.outbox.confirm(m.sequence),
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
            (Origin::Chain, Destination::Topic(t)) if t == CONTRACTS_TOPIC => {
                gatekeeper::on_contract_event(out, next, &m.payload, &block);
            }
            (Origin::Chain, Destination::Worker(_)) => {
                worker::on_registry_event(next, &m.payload);
                mine.push(m);
            }
            _ => mine.push(m),
        }
    }
    mine
}
