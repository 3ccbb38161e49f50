use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{Encode, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

use crate::{Digest, Height, SignedTransaction, TxLimits, hash};

/// Bounds for decoding blocks from untrusted bytes.
#[derive(Clone, Copy, Debug)]
pub struct BlockLimits {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// Bounds for each transaction.
    pub tx: TxLimits,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self {
            max_txs: crate::Params::default().max_block_txs as usize,
            tx: TxLimits::default(),
        }
    }
}

/// A block header. Its hash is the block hash; it commits to everything in the block and to
/// everything the block did (state and outbound messages), so a light client that holds a
/// certified header can check any of them by proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Height; genesis is 0.
    pub height: Height,
    /// Hash of the parent header (all zeros for genesis).
    pub parent: Digest,
    /// Proposer's clock, in milliseconds since the Unix epoch. Never decreases.
    pub timestamp: u64,
    /// Root of the authenticated state after executing this block.
    pub state_root: Digest,
    /// Merkle root of the block's transactions.
    pub transactions_root: Digest,
    /// Merkle root of the messages this block sends out to workers.
    pub messages_root: Digest,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> Digest {
        hash(&self.encode())
    }
}

/// A header with its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Transactions in execution order.
    pub transactions: Vec<SignedTransaction>,
}

impl Block {
    /// The block hash (hash of the header).
    pub fn hash(&self) -> Digest {
        self.header.hash()
    }
}

impl Write for Header {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.parent.write(buf);
        self.timestamp.write(buf);
        self.state_root.write(buf);
        self.transactions_root.write(buf);
        self.messages_root.write(buf);
    }
}

impl EncodeSize for Header {
    fn encode_size(&self) -> usize {
        8 + 32 + 8 + 32 + 32 + 32
    }
}

impl Read for Header {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            height: u64::read(buf)?,
            parent: Digest::read(buf)?,
            timestamp: u64::read(buf)?,
            state_root: Digest::read(buf)?,
            transactions_root: Digest::read(buf)?,
            messages_root: Digest::read(buf)?,
        })
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.transactions.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.header.encode_size() + self.transactions.encode_size()
    }
}

impl Read for Block {
    type Cfg = BlockLimits;
    fn read_cfg(buf: &mut impl Buf, limits: &BlockLimits) -> Result<Self, Error> {
        Ok(Self {
            header: Header::read(buf)?,
            transactions: Vec::<SignedTransaction>::read_cfg(
                buf,
                &(RangeCfg::new(0..=limits.max_txs), limits.tx),
            )?,
        })
    }
}
