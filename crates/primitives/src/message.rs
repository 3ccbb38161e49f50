use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

use crate::{AccountId, Digest};

/// Longest topic name a message may be addressed to.
pub const MAX_TOPIC_BYTES: usize = 64;

/// Who sent a message routed by the chain's `mq` module.
///
/// Each origin has its own sequence, kept by the chain, so receivers can detect gaps and replays.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A user account, through a signed transaction.
    Account(AccountId),
    /// The chain itself (a module's output).
    Chain,
    /// A registered worker, through a signed worker message.
    Worker(AccountId),
    /// The gatekeepers as one replicated sender: the first copy of each sequence any elected
    /// gatekeeper signs.
    Gatekeepers,
    /// A contract, through a message or reply its assigned miner signed.
    Contract(Digest),
}

/// Where a message routed by `mq` goes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Destination {
    /// One worker, by its identity key.
    Worker(AccountId),
    /// One contract, by id.
    Contract(Digest),
    /// A named topic (e.g. a role such as `gatekeeper`) any interested worker reads.
    Topic(Vec<u8>),
}

/// A message the chain sends out to workers, committed by the block's messages root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Sender.
    pub origin: Origin,
    /// Receiver.
    pub destination: Destination,
    /// Position in the sender's stream, starting at 0, with no gaps.
    pub sequence: u64,
    /// Opaque payload (encrypted when it carries anything private).
    pub payload: Vec<u8>,
}

impl Write for Origin {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Account(a) => {
                0u8.write(buf);
                a.write(buf);
            }
            Self::Chain => 1u8.write(buf),
            Self::Worker(w) => {
                2u8.write(buf);
                w.write(buf);
            }
            Self::Gatekeepers => 3u8.write(buf),
            Self::Contract(c) => {
                4u8.write(buf);
                c.write(buf);
            }
        }
    }
}

impl EncodeSize for Origin {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Account(a) | Self::Worker(a) => a.encode_size(),
            Self::Chain | Self::Gatekeepers => 0,
            Self::Contract(c) => c.encode_size(),
        }
    }
}

impl Read for Origin {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Account(crate::wire::read_account(buf)?)),
            1 => Ok(Self::Chain),
            2 => Ok(Self::Worker(crate::wire::read_account(buf)?)),
            3 => Ok(Self::Gatekeepers),
            4 => Ok(Self::Contract(Digest::read(buf)?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for Destination {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Worker(w) => {
                0u8.write(buf);
                w.write(buf);
            }
            Self::Contract(c) => {
                1u8.write(buf);
                c.write(buf);
            }
            Self::Topic(t) => {
                2u8.write(buf);
                t.write(buf);
            }
        }
    }
}

impl EncodeSize for Destination {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Worker(w) => w.encode_size(),
            Self::Contract(c) => c.encode_size(),
            Self::Topic(t) => t.encode_size(),
        }
    }
}

impl Read for Destination {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Worker(crate::wire::read_account(buf)?)),
            1 => Ok(Self::Contract(Digest::read(buf)?)),
            2 => Ok(Self::Topic(Vec::<u8>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_TOPIC_BYTES), ()),
            )?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for Message {
    fn write(&self, buf: &mut impl BufMut) {
        self.origin.write(buf);
        self.destination.write(buf);
        self.sequence.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for Message {
    fn encode_size(&self) -> usize {
        self.origin.encode_size() + self.destination.encode_size() + 8 + self.payload.encode_size()
    }
}

impl Read for Message {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            origin: Origin::read(buf)?,
            destination: Destination::read(buf)?,
            sequence: u64::read(buf)?,
            payload: Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=*max_payload), ()))?,
        })
    }
}
