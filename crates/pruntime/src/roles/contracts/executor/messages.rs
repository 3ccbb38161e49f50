//! Messages between contracts: sending, receiving, replying, and confirming what the chain
//! routed.
//!
//! A successful call's messages are sealed to each destination's published key under the
//! channel's next sequence, signed as the source's miner and kept (sealed) until the chain
//! routes them; the host posts them. A routed message for a contract this worker runs is opened
//! and handed to its `message` entry; whatever happens, exactly one reply goes back, sealed to
//! the source's key: the handler's answer, its error code (an error or a trap, which change
//! nothing), or `NotDelivered` (no key, no `init`, or a message that does not open). A reply for
//! a contract this worker runs goes to the same entry. Every step happens in chain order
//! inside the sync's one atomic commit, so a restarted miner neither skips nor repeats one.

use std::sync::Arc;

use commonware_codec::{DecodeExt as _, Encode as _};
use veil_crypto::envelope;
use veil_primitives::{
    Destination, Digest, Height, Origin,
    contract::{
        ContractEgress, ContractId, ContractMessage, ContractReply, Envelope, MAX_MESSAGE_PAYLOAD,
        MessageOutcome, message_aad, reply_aad,
    },
    namespace, to_hex,
};
use veil_vm::{Call, Entry, Failure, Outgoing, Randomness};
use x25519_dalek::StaticSecret;

use super::Executor;
use crate::roles::contracts::{outbound_key, sent_key};
use veil_primitives::contract::CHANNEL_BYTES;

/// The error code a reply carries when the destination trapped or ran out of fuel (the SDK's
/// `Error::TRAPPED`).
const TRAPPED: u32 = 0xffff_0004;

impl Executor<'_> {
    /// Seals, signs and queues the messages a successful call of `source` sent.
    pub(super) fn send(&mut self, source: &ContractId, messages: Vec<Outgoing>) {
        if messages.is_empty() {
            return;
        }
        let Some(running) = self.miner.running.get_mut(source) else {
            return;
        };
        let sent = Arc::make_mut(&mut running.sent);
        let mut queued = Vec::with_capacity(messages.len());
        for m in messages {
            let destination = Digest::from(m.to);
            if !sent.contains_key(&m.to) {
                running.bytes += CHANNEL_BYTES;
            }
            let next = sent.entry(m.to).or_insert(0);
            // The VM numbered it from the same counters; they agree unless a bug says otherwise.
            debug_assert_eq!(*next, m.sequence);
            let sequence = *next;
            *next += 1;
            self.commit.put(
                sent_key(source, &destination),
                (*next).to_be_bytes().to_vec(),
            );
            let aad = message_aad(self.chain, source, &destination, sequence, m.fuel);
            // Without a published key the message cannot be sealed: the chain answers it
            // `NotDelivered` itself.
            let envelope = self.miner.keys.get(&destination).and_then(|key| {
                envelope::seal(
                    &mut rand::rng(),
                    key,
                    namespace::CONTRACT_MESSAGE,
                    &aad,
                    &m.payload,
                    MAX_MESSAGE_PAYLOAD,
                )
                .ok()
                .map(|(envelope, _)| envelope)
            });
            queued.push(ContractEgress::Message(ContractMessage {
                source: *source,
                destination,
                sequence,
                fuel: m.fuel,
                envelope,
            }));
        }
        for egress in queued {
            self.queue(egress);
        }
    }

    /// Signs `egress` as this worker and keeps it until the chain routes it.
    pub(crate) fn queue(&mut self, egress: ContractEgress) {
        let (source, destination) = egress.channel();
        let key = outbound_key(
            matches!(egress, ContractEgress::Reply(_)),
            source,
            destination,
            egress.sequence(),
        );
        let signed = self.identity.sign_contract_egress(egress, self.chain);
        self.commit.put(key.clone(), signed.encode().to_vec());
        self.miner.outbound.insert(key, signed);
    }

    /// Forgets what a contract assigned away had queued: the chain takes messages only from
    /// the current miner, which will send its own.
    pub(super) fn drop_outbound(&mut self, contract: &ContractId) {
        let stale: Vec<Vec<u8>> = self
            .miner
            .outbound
            .iter()
            .filter(|(_, s)| s.egress.speaker() == contract)
            .map(|(k, _)| k.clone())
            .collect();
        if !stale.is_empty() {
            tracing::warn!(
                contract = to_hex(contract),
                dropped = stale.len(),
                "contract assigned away with messages the chain has not routed; its next miner sends them"
            );
        }
        for key in stale {
            self.miner.outbound.remove(&key);
            self.commit.delete(key);
        }
    }

    /// A routed message or reply (origin a contract, or the chain answering `NotDelivered`),
    /// as an entry of `id`'s log, from the block at `height` whose parent is `parent`: `id`
    /// sent it (the chain routed it: stop offering it), or it is for `id` (run it).
    pub(super) fn on_contract_message(
        &mut self,
        height: Height,
        parent: &Digest,
        origin: &Origin,
        id: &ContractId,
        destination: &Destination,
        payload: &[u8],
    ) {
        let Ok(egress) = ContractEgress::decode(payload.to_vec()) else {
            return;
        };
        let to_id = matches!(destination, Destination::Contract(c) if c == id);
        let sent_by_id = matches!(origin, Origin::Contract(c) if c == id);
        if sent_by_id || (to_id && *origin == Origin::Chain) {
            self.confirm(origin, &egress);
        }
        if !to_id {
            return;
        }
        match egress {
            ContractEgress::Message(m) if &m.destination == id => self.deliver(height, parent, m),
            ContractEgress::Reply(r) if &r.source == id => self.settle(height, parent, r),
            _ => {}
        }
    }

    /// The chain routed what we queued: stop offering it to the host. A `NotDelivered` the
    /// chain answered itself consumed our message too.
    fn confirm(&mut self, origin: &Origin, egress: &ContractEgress) {
        let (source, destination) = egress.channel();
        let reply = match (origin, egress) {
            (Origin::Contract(_), ContractEgress::Message(_)) => false,
            (Origin::Contract(_), ContractEgress::Reply(_)) => true,
            (Origin::Chain, ContractEgress::Reply(_)) => false,
            _ => return,
        };
        let key = outbound_key(reply, source, destination, egress.sequence());
        if self.miner.outbound.remove(&key).is_some() {
            self.commit.delete(key);
        }
    }

    /// Runs a message to a contract this worker runs and queues its one reply.
    fn deliver(&mut self, height: Height, parent: &Digest, m: ContractMessage) {
        let index = self.next_index(&m.destination, height);
        let outcome = self.handle(height, parent, index, &m);
        let aad = reply_aad(self.chain, &m.source, &m.destination, m.sequence);
        let envelope = self
            .miner
            .keys
            .get(&m.source)
            .and_then(|key| seal(key, namespace::CONTRACT_REPLY, &aad, &outcome.encode()));
        self.queue(ContractEgress::Reply(ContractReply {
            source: m.source,
            destination: m.destination,
            sequence: m.sequence,
            fuel: m.fuel,
            envelope,
        }));
    }

    fn handle(
        &mut self,
        height: Height,
        parent: &Digest,
        index: u64,
        m: &ContractMessage,
    ) -> MessageOutcome {
        let running = &self.miner.running[&m.destination];
        let (Some(key), true, Some(sealed)) = (
            running.contract.key.as_ref(),
            running.contract.initialized,
            m.envelope.as_ref(),
        ) else {
            return MessageOutcome::NotDelivered;
        };
        let aad = message_aad(self.chain, &m.source, &m.destination, m.sequence, m.fuel);
        let Some(payload) = open(key, namespace::CONTRACT_MESSAGE, &aad, sealed) else {
            tracing::warn!(
                source = to_hex(m.source),
                destination = to_hex(m.destination),
                "a message does not open: answered NotDelivered"
            );
            return MessageOutcome::NotDelivered;
        };
        let input = veil_vm::message_input(
            m.source.as_ref().try_into().expect("32"),
            m.sequence,
            &payload,
        );
        match self.call(
            height,
            parent,
            index,
            &m.destination,
            &m.source,
            input,
            m.fuel,
        ) {
            None => MessageOutcome::NotDelivered,
            Some(Ok(output)) => MessageOutcome::Ok(output),
            Some(Err(Failure::Error { code, .. })) => MessageOutcome::Err(code),
            Some(Err(Failure::OutOfFuel | Failure::Trap(_))) => MessageOutcome::Err(TRAPPED),
        }
    }

    /// Hands a reply to the contract that sent the message.
    fn settle(&mut self, height: Height, parent: &Digest, r: ContractReply) {
        let index = self.next_index(&r.source, height);
        let running = &self.miner.running[&r.source];
        let Some(key) = running.contract.key.as_ref() else {
            return;
        };
        let outcome = match &r.envelope {
            None => MessageOutcome::NotDelivered,
            Some(sealed) => {
                let aad = reply_aad(self.chain, &r.source, &r.destination, r.sequence);
                let opened = open(key, namespace::CONTRACT_REPLY, &aad, sealed)
                    .and_then(|plain| MessageOutcome::decode(plain.to_vec()).ok());
                match opened {
                    Some(outcome) => outcome,
                    None => {
                        tracing::warn!(
                            source = to_hex(r.source),
                            destination = to_hex(r.destination),
                            "a reply does not open: handled as NotDelivered"
                        );
                        MessageOutcome::NotDelivered
                    }
                }
            }
        };
        let input = veil_vm::reply_input(
            r.destination.as_ref().try_into().expect("32"),
            r.sequence,
            &outcome,
        );
        // A failure changes nothing and is not logged: its text is the contract's (an error
        // message, a panic's), and the host reads pRuntime's logs.
        let _ = self.call(
            height,
            parent,
            index,
            &r.source,
            &r.destination,
            input,
            r.fuel,
        );
    }

    /// Runs `contract`'s `message` entry; commits its writes and queues its messages when it
    /// succeeds. `None`: the contract cannot run here (no code or key).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        height: Height,
        parent: &Digest,
        index: u64,
        contract: &ContractId,
        caller: &ContractId,
        input: Vec<u8>,
        fuel: u64,
    ) -> Option<Result<Vec<u8>, Failure>> {
        let running = self.miner.running.get(contract)?;
        let code = self.miner.codes.get(&running.contract.code)?;
        let key = running.contract.key.clone()?;
        let call = Call {
            entry: Entry::Message,
            input,
            caller: caller.as_ref().try_into().expect("32 bytes"),
            contract: (*contract).into(),
            height,
            block_hash: (*parent).into(),
            randomness: Some(Randomness { key, index }),
            fuel,
            sent: running.sent.clone(),
        };
        let storage: Arc<dyn veil_vm::Storage> = running.state.clone();
        let mut outcome = self.vm.execute(code, call, storage);
        if outcome.result.is_ok()
            && let Err(reason) = self.fits(contract, &outcome.changes, &outcome.messages)
        {
            outcome.result = Err(Failure::Trap(reason));
        }
        if outcome.result.is_ok() {
            self.apply(contract, outcome.changes, height);
            self.send(contract, outcome.messages);
        }
        Some(outcome.result)
    }
}

/// Opens an envelope to a contract key.
fn open(
    key: &[u8; 32],
    domain: &[u8],
    aad: &[u8],
    sealed: &Envelope,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    envelope::open(&StaticSecret::from(*key), domain, aad, sealed)
        .ok()
        .map(|(plain, _)| plain)
}

/// Seals a plaintext to a contract's public key.
fn seal(key: &[u8; 32], domain: &[u8], aad: &[u8], plain: &[u8]) -> Option<Envelope> {
    envelope::seal(
        &mut rand::rng(),
        key,
        domain,
        aad,
        plain,
        MAX_MESSAGE_PAYLOAD + 8,
    )
    .ok()
    .map(|(envelope, _)| envelope)
}
