//! Egress: everything pRuntime says to the chain, signed here and posted by the host.
//!
//! Two streams, one emitter (`Emitter`):
//! - the worker's own messages ([Outbox]: heartbeats, readiness confirmations), signed with the
//!   identity key under a per-worker sequence the chain checks exactly;
//! - a gatekeeper's copies of the gatekeepers' shared stream (kept in the gatekeeper role),
//!   which every gatekeeper signs identically so the first copy on chain serves for all.
//!
//! A sequence, once signed, always carries the same message: unconfirmed messages are kept
//! (sealed) until the chain routes them, and outlive a deregistration.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, RangeCfg, Read, ReadExt, Write};
use veil_primitives::{
    ChainIdentity, Destination, GatekeeperMessage, Height, MAX_TX_BYTES_CAP, MIN_MESSAGE_BYTES,
    SignedWorkerMessage, WorkerMessage,
};
use veil_pruntime_api::limits::{MAX_EGRESS_BACKLOG, MAX_PENDING_EGRESS, MAX_PENDING_GATEKEEPER};

use crate::{identity::Identity, roles::gatekeeper::state::GatekeeperRole};

/// Egress slots only essential messages may take (see [Emitter::essential]).
pub(crate) const RESERVED_EGRESS: usize = 8;
/// Most egress messages pending at once, past [MAX_EGRESS_BACKLOG]: one block's contract
/// results are never dropped and may go beyond the backlog ([Emitter::block_results]), as
/// may essential messages then.
pub(crate) const MAX_OUTBOX: usize = 64 * MAX_EGRESS_BACKLOG;

/// What pRuntime knows of its registration (from the chain's messages) and its egress queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    /// Registered until this height, with this heartbeat interval; `None` if not registered.
    pub registration: Option<(Height, u64)>,
    /// Sequence of the next egress message.
    pub next_sequence: u64,
    /// Signed egress not yet seen on chain, in sequence order.
    pub pending: Vec<SignedWorkerMessage>,
}

impl Outbox {
    /// The chain routed our message `sequence`: it and everything before it are confirmed.
    pub fn confirm(&mut self, sequence: u64) {
        self.pending.retain(|m| m.message.sequence > sequence);
        self.next_sequence = self.next_sequence.max(sequence + 1);
    }
}

/// Signs egress for one chain with the worker's identity.
pub(crate) struct Emitter<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) chain: &'a ChainIdentity,
}

impl Emitter<'_> {
    /// Signs a routine worker message (a heartbeat) to `topic` with the next egress
    /// sequence. Dropped (with a warning) when the queue has no room left beside the slots
    /// reserved for essential messages: the host is not posting, and a later heartbeat
    /// replaces this one.
    pub(crate) fn routine(&self, outbox: &mut Outbox, topic: &[u8], payload: Vec<u8>) {
        self.push(outbox, topic, payload, MAX_PENDING_EGRESS - RESERVED_EGRESS);
    }

    /// Signs an essential worker message (a readiness confirmation, whose loss would get an
    /// honest gatekeeper slashed). It may use the [RESERVED_EGRESS] slots routine messages and
    /// results leave free, so a backlog of either never crowds it out.
    pub(crate) fn essential(&self, outbox: &mut Outbox, topic: &[u8], payload: Vec<u8>) {
        let room = MAX_EGRESS_BACKLOG
            .max(outbox.pending.len() + 1)
            .min(MAX_OUTBOX);
        self.push(outbox, topic, payload, room);
    }

    /// How many more result messages fit the queue within its backlog, less the reserve.
    pub(crate) fn result_room(outbox: &Outbox) -> usize {
        (MAX_EGRESS_BACKLOG - RESERVED_EGRESS).saturating_sub(outbox.pending.len())
    }

    /// Signs one block's contract results, all of them: the commands ran, and their senders
    /// wait for these. The queue may go past [MAX_EGRESS_BACKLOG] by that block's results
    /// (sync batches of several blocks that would are refused first, so the host sends fewer).
    pub(crate) fn block_results(&self, outbox: &mut Outbox, topic: &[u8], payloads: Vec<Vec<u8>>) {
        for payload in payloads {
            self.push(outbox, topic, payload, MAX_OUTBOX);
        }
    }

    fn push(&self, outbox: &mut Outbox, topic: &[u8], payload: Vec<u8>, room: usize) {
        // The chain takes any payload up to MIN_MESSAGE_BYTES whatever governance sets; a
        // larger one might be refused for good, and no later sequence could follow it.
        if payload.len() > MIN_MESSAGE_BYTES as usize {
            tracing::error!(
                len = payload.len(),
                "an egress message to {} is over {MIN_MESSAGE_BYTES} bytes: not signed",
                String::from_utf8_lossy(topic)
            );
            return;
        }
        if outbox.pending.len() >= room {
            tracing::warn!(
                "egress queue full; dropping a message to {}",
                String::from_utf8_lossy(topic)
            );
            return;
        }
        let message = WorkerMessage {
            sender: self.identity.public_key(),
            destination: Destination::Topic(topic.to_vec()),
            sequence: outbox.next_sequence,
            payload,
        };
        outbox
            .pending
            .push(self.identity.sign_message(message, self.chain));
        outbox.next_sequence += 1;
    }

    /// Signs this gatekeeper's copy of the gatekeepers' next message to `topic`. Returns
    /// whether it was emitted (not when [MAX_PENDING_GATEKEEPER] copies already wait).
    pub(crate) fn gatekeeper(
        &self,
        role: &mut GatekeeperRole,
        topic: &[u8],
        payload: impl FnOnce(u64) -> Vec<u8>,
    ) -> bool {
        if role.pending.len() >= MAX_PENDING_GATEKEEPER {
            tracing::warn!(
                "gatekeeper queue full; skipping a message to {}",
                String::from_utf8_lossy(topic)
            );
            return false;
        }
        let sequence = role.state.next_sequence;
        role.state.next_sequence += 1;
        let message = GatekeeperMessage {
            signer: self.identity.public_key(),
            destination: Destination::Topic(topic.to_vec()),
            sequence,
            payload: payload(sequence),
        };
        role.pending
            .push(self.identity.sign_gatekeeper_message(message, self.chain));
        true
    }
}

impl Write for Outbox {
    fn write(&self, buf: &mut impl BufMut) {
        self.registration.write(buf);
        self.next_sequence.write(buf);
        self.pending.write(buf);
    }
}

impl EncodeSize for Outbox {
    fn encode_size(&self) -> usize {
        self.registration.encode_size() + 8 + self.pending.encode_size()
    }
}

impl Read for Outbox {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            registration: Option::<(Height, u64)>::read_cfg(buf, &((), ()))?,
            next_sequence: u64::read(buf)?,
            pending: Vec::<SignedWorkerMessage>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_OUTBOX), MAX_TX_BYTES_CAP as usize),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use veil_primitives::{HEARTBEAT_TOPIC, READY_TOPIC, hash};

    use super::*;

    /// Runs `f` with an emitter for a throwaway identity and chain.
    fn with_emitter(f: impl FnOnce(&Emitter<'_>)) {
        let identity = Identity::ephemeral();
        let chain = ChainIdentity {
            chain_id: 1,
            genesis_hash: hash(b"genesis"),
        };
        f(&Emitter {
            identity: &identity,
            chain: &chain,
        })
    }

    #[test]
    fn a_heartbeat_or_result_backlog_leaves_room_for_readiness() {
        with_emitter(|out| {
            let mut outbox = Outbox::default();
            // The host stops posting: heartbeats pile up until only the reserve is left.
            for _ in 0..MAX_PENDING_EGRESS * 2 {
                out.routine(&mut outbox, HEARTBEAT_TOPIC, vec![0; 40]);
            }
            assert_eq!(outbox.pending.len(), MAX_PENDING_EGRESS - RESERVED_EGRESS);
            // A message the chain might refuse for good is never signed: it would block every
            // later sequence.
            let before = outbox.clone();
            out.block_results(
                &mut outbox,
                b"veil/contract-results",
                vec![vec![2; MIN_MESSAGE_BYTES as usize + 1]],
            );
            assert_eq!(outbox, before);
            // Results fill the queue beyond (none is dropped; sync batches keep it near its
            // backlog).
            let results = MAX_EGRESS_BACKLOG - outbox.pending.len() - RESERVED_EGRESS;
            out.block_results(
                &mut outbox,
                b"veil/contract-results",
                vec![vec![2; 40]; results],
            );
            assert_eq!(outbox.pending.len(), MAX_EGRESS_BACKLOG - RESERVED_EGRESS);
            // Readiness still gets signed, in sequence, up to the full queue.
            for _ in 0..RESERVED_EGRESS {
                out.essential(&mut outbox, READY_TOPIC, vec![1]);
            }
            assert_eq!(outbox.pending.len(), MAX_EGRESS_BACKLOG);
            let last = outbox.pending.last().unwrap();
            assert_eq!(
                last.message.destination,
                Destination::Topic(READY_TOPIC.to_vec())
            );
            assert_eq!(last.message.sequence, MAX_EGRESS_BACKLOG as u64 - 1);
            // The sealed outbox still decodes at its fullest.
            let bytes = commonware_codec::Encode::encode(&outbox);
            let decoded: Outbox = commonware_codec::DecodeExt::decode(bytes).unwrap();
            assert_eq!(decoded, outbox);
        });
    }

    /// One block's results all go out, past the backlog if need be (the commands ran), and
    /// readiness is still signed after them.
    #[test]
    fn a_blocks_results_are_never_dropped_and_readiness_still_follows() {
        with_emitter(|out| {
            let mut outbox = Outbox::default();
            out.block_results(
                &mut outbox,
                b"veil/contract-results",
                vec![vec![2; 40]; MAX_EGRESS_BACKLOG - RESERVED_EGRESS],
            );
            out.block_results(&mut outbox, b"veil/contract-results", vec![vec![3; 40]; 50]);
            assert_eq!(
                outbox.pending.len(),
                MAX_EGRESS_BACKLOG - RESERVED_EGRESS + 50
            );
            out.essential(&mut outbox, READY_TOPIC, vec![1]);
            assert_eq!(
                outbox.pending.len(),
                MAX_EGRESS_BACKLOG - RESERVED_EGRESS + 51
            );
            let bytes = commonware_codec::Encode::encode(&outbox);
            let decoded: Outbox = commonware_codec::DecodeExt::decode(bytes).unwrap();
            assert_eq!(decoded, outbox, "a queue past the backlog still reopens");
        });
    }
}
