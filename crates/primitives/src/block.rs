use bytes::BufMut;
use commonware_codec::Buf;
use commonware_codec::{Encode, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

pub use crate::params::{MAX_BLOCK_BYTES, MAX_BLOCK_TXS_CAP, MAX_TX_BYTES_CAP};
use crate::{Digest, Height, SignedTransaction, TxLimits, hash};

/// Bounds for decoding blocks from untrusted bytes.
#[derive(Clone, Copy, Debug)]
pub struct BlockLimits {
    /// Most transactions in one block.
    pub max_txs: usize,
    /// Largest encoded transaction.
    pub max_tx_bytes: usize,
    /// Bounds for each transaction.
    pub tx: TxLimits,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self {
            max_txs: MAX_BLOCK_TXS_CAP as usize,
            max_tx_bytes: MAX_TX_BYTES_CAP as usize,
            tx: TxLimits {
                max_payload: MAX_TX_BYTES_CAP as usize,
            },
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

/// The transactions root of a body: the Merkle root over the encoded transactions.
pub fn transactions_root(txs: &[SignedTransaction]) -> Digest {
    let leaves: Vec<_> = txs.iter().map(|t| t.encode()).collect();
    crate::merkle::root(&leaves)
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
        let start = buf.remaining();
        let block = Self {
            header: Header::read(buf)?,
            transactions: Vec::<SignedTransaction>::read_cfg(
                buf,
                &(RangeCfg::new(0..=limits.max_txs), limits.tx),
            )?,
        };
        if start - buf.remaining() > MAX_BLOCK_BYTES {
            return Err(Error::Invalid("Block", "larger than MAX_BLOCK_BYTES"));
        }
        // The block hash covers the header only: a body that is not the one the header
        // commits to is refused where it enters, so no peer can pass off an altered body
        // under a genuine (even finalized) header.
        if transactions_root(&block.transactions) != block.header.transactions_root {
            return Err(Error::Invalid(
                "Block",
                "transactions do not match the header's transactions root",
            ));
        }
        Ok(block)
    }
}

impl commonware_cryptography::Digestible for Block {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.hash()
    }
}

impl commonware_consensus::Heightable for Block {
    fn height(&self) -> commonware_consensus::types::Height {
        commonware_consensus::types::Height::new(self.header.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.header.parent
    }
}

impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(_: &BlockLimits) -> usize {
        MAX_BLOCK_BYTES
    }
}
