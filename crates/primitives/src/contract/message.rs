//! Messages between contracts, and their replies.
//!
//! A contract sends a message while it handles a command or a message. Its miner seals the
//! payload to the destination contract's public key (padded to a bucket; associated data binds
//! chain, source, destination, sequence and fuel) and signs the whole under
//! [namespace::CONTRACT_EGRESS]. Any host posts it; the chain checks that the signer is the
//! source's assigned miner and that the sequence is exactly the next one of the (source,
//! destination) [Channel], then routes it to the destination. The destination's miner runs it
//! and answers with exactly one [ContractReply], sealed to the source's key, whose
//! [MessageOutcome] is `Ok`, `Err` or `NotDelivered`; the chain checks it the same way and
//! routes it back. When the destination does not exist, or the source could not seal to it,
//! the chain answers `NotDelivered` itself (a reply without an envelope, from [Origin::Chain]).
//!
//! What the chain sees: who talks to whom, how often, the fuel reserved, and the bucket. Never
//! the payload or the outcome, except the public fact that a destination does not exist.
//!
//! [Origin::Chain]: crate::Origin::Chain

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};

use super::{ContractId, Envelope, context};
use crate::{AccountId, ChainIdentity, PrivateKey, Signature, namespace};

/// Largest payload of one message or reply: it seals into [MAX_MESSAGE_ENVELOPE].
pub const MAX_MESSAGE_PAYLOAD: usize = MAX_MESSAGE_ENVELOPE - 64;
/// Largest sealed message or reply (a bucket size).
pub const MAX_MESSAGE_ENVELOPE: usize = 8 * 1024;
/// Most fuel a message may carry for its destination (and again for the reply).
pub const MAX_MESSAGE_FUEL: u64 = 50_000_000;

/// A message from one contract to another, as the source's miner signs it and the chain routes
/// it (the routed copy is the encoded [ContractEgress], unsigned: the chain checked it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractMessage {
    /// The sending contract.
    pub source: ContractId,
    /// The receiving contract.
    pub destination: ContractId,
    /// Exactly the channel's next sequence ([Channel::sent]).
    pub sequence: u64,
    /// Fuel for the destination's handler, and again for the source's handling of the reply;
    /// prepaid by the call that sent it.
    pub fuel: u64,
    /// The payload sealed to the destination's key ([message_aad]); `None` when the source's
    /// miner knew no key for the destination (the chain then answers `NotDelivered`).
    pub envelope: Option<Envelope>,
}

/// The one reply to a [ContractMessage], from the destination back to the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractReply {
    /// The contract that sent the message (receives the reply).
    pub source: ContractId,
    /// The contract that received it (answers).
    pub destination: ContractId,
    /// The message's sequence: exactly the channel's next unanswered one ([Channel::replied]).
    pub sequence: u64,
    /// The message's fuel, for the source's handling of the reply.
    pub fuel: u64,
    /// The [MessageOutcome] sealed to the source's key ([reply_aad]); `None` only when the
    /// chain answers `NotDelivered` itself.
    pub envelope: Option<Envelope>,
}

/// What a miner posts for a contract, and what the chain routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractEgress {
    /// A message.
    Message(ContractMessage),
    /// A reply.
    Reply(ContractReply),
}

/// A [ContractEgress] signed by the miner of the contract that speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedContractEgress {
    /// The message or reply.
    pub egress: ContractEgress,
    /// The miner's identity key.
    pub signer: AccountId,
    /// Under [namespace::CONTRACT_EGRESS] over chain id, genesis hash and `egress`.
    pub signature: Signature,
}

/// The chain's record of one (source, destination) channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Channel {
    /// Messages routed so far: the next message's sequence.
    pub sent: u64,
    /// Replies routed so far: the next reply's sequence. Never above `sent`.
    pub replied: u64,
}

/// What a reply tells the source, sealed in its envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The destination handled the message; its answer.
    Ok(Vec<u8>),
    /// The destination returned this error code, or trapped; its state is unchanged.
    Err(u32),
    /// The destination never ran: it does not exist, has no key or init yet, or the message
    /// did not open.
    NotDelivered,
}

impl ContractEgress {
    /// The contract that speaks: whose miner must sign.
    pub fn speaker(&self) -> &ContractId {
        match self {
            Self::Message(m) => &m.source,
            Self::Reply(r) => &r.destination,
        }
    }

    /// The channel: (source, destination) of the message.
    pub fn channel(&self) -> (&ContractId, &ContractId) {
        match self {
            Self::Message(m) => (&m.source, &m.destination),
            Self::Reply(r) => (&r.source, &r.destination),
        }
    }

    /// The message's sequence in its channel.
    pub fn sequence(&self) -> u64 {
        match self {
            Self::Message(m) => m.sequence,
            Self::Reply(r) => r.sequence,
        }
    }

    /// Signs for `chain` with the miner's identity key.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedContractEgress {
        let signature = key.sign(namespace::CONTRACT_EGRESS, &chain.bind(&self));
        SignedContractEgress {
            egress: self,
            signer: key.public_key(),
            signature,
        }
    }
}

impl SignedContractEgress {
    /// Whether `signer` signed this for `chain` (not who the signer is: the chain checks that).
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.signer.verify(
            namespace::CONTRACT_EGRESS,
            &chain.bind(&self.egress),
            &self.signature,
        )
    }
}

/// Associated data of a message's envelope.
pub fn message_aad(
    chain: &ChainIdentity,
    source: &ContractId,
    destination: &ContractId,
    sequence: u64,
    fuel: u64,
) -> Vec<u8> {
    context(
        namespace::CONTRACT_MESSAGE,
        chain,
        destination,
        &[
            source.as_ref(),
            &sequence.to_be_bytes(),
            &fuel.to_be_bytes(),
        ],
    )
}

/// Associated data of a reply's envelope.
pub fn reply_aad(
    chain: &ChainIdentity,
    source: &ContractId,
    destination: &ContractId,
    sequence: u64,
) -> Vec<u8> {
    context(
        namespace::CONTRACT_REPLY,
        chain,
        source,
        &[destination.as_ref(), &sequence.to_be_bytes()],
    )
}

/// State key of the (source, destination) [Channel].
pub fn channel_state_key(source: &ContractId, destination: &ContractId) -> crate::Digest {
    crate::state_key(
        b"contracts/channel",
        &[source.as_ref(), destination.as_ref()].concat(),
    )
}

/// The codec of [ContractMessage] and [ContractReply], which carry the same fields.
macro_rules! channel_item_codec {
    ($t:ty) => {
        impl Write for $t {
            fn write(&self, buf: &mut impl BufMut) {
                self.source.write(buf);
                self.destination.write(buf);
                self.sequence.write(buf);
                self.fuel.write(buf);
                self.envelope.write(buf);
            }
        }

        impl EncodeSize for $t {
            fn encode_size(&self) -> usize {
                32 + 32 + 8 + 8 + self.envelope.encode_size()
            }
        }

        impl Read for $t {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
                Ok(Self {
                    source: ContractId::read(buf)?,
                    destination: ContractId::read(buf)?,
                    sequence: u64::read(buf)?,
                    fuel: u64::read(buf)?,
                    envelope: Option::<Envelope>::read_cfg(buf, &())?,
                })
            }
        }
    };
}

channel_item_codec!(ContractMessage);
channel_item_codec!(ContractReply);

impl Write for ContractEgress {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Message(m) => {
                0u8.write(buf);
                m.write(buf);
            }
            Self::Reply(r) => {
                1u8.write(buf);
                r.write(buf);
            }
        }
    }
}

impl EncodeSize for ContractEgress {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Message(m) => m.encode_size(),
            Self::Reply(r) => r.encode_size(),
        }
    }
}

impl Read for ContractEgress {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Message(ContractMessage::read(buf)?)),
            1 => Ok(Self::Reply(ContractReply::read(buf)?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for SignedContractEgress {
    fn write(&self, buf: &mut impl BufMut) {
        self.egress.write(buf);
        self.signer.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedContractEgress {
    fn encode_size(&self) -> usize {
        self.egress.encode_size() + self.signer.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedContractEgress {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            egress: ContractEgress::read(buf)?,
            signer: crate::wire::read_account(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

impl Write for Channel {
    fn write(&self, buf: &mut impl BufMut) {
        self.sent.write(buf);
        self.replied.write(buf);
    }
}

impl EncodeSize for Channel {
    fn encode_size(&self) -> usize {
        16
    }
}

impl Read for Channel {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            sent: u64::read(buf)?,
            replied: u64::read(buf)?,
        })
    }
}

impl Write for MessageOutcome {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Ok(payload) => {
                0u8.write(buf);
                payload.write(buf);
            }
            Self::Err(code) => {
                1u8.write(buf);
                code.write(buf);
            }
            Self::NotDelivered => 2u8.write(buf),
        }
    }
}

impl EncodeSize for MessageOutcome {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Ok(payload) => payload.encode_size(),
            Self::Err(_) => 4,
            Self::NotDelivered => 0,
        }
    }
}

impl Read for MessageOutcome {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Ok(Vec::<u8>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_MESSAGE_PAYLOAD), ()),
            )?)),
            1 => Ok(Self::Err(u32::read(buf)?)),
            2 => Ok(Self::NotDelivered),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}
