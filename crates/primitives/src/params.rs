use commonware_codec::{EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

use crate::Balance;

/// Largest encoded block. Proposers stop adding transactions before reaching it, and it sizes the
/// peer-to-peer message limit.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// Hard cap on `Params::max_tx_bytes` (governance cannot raise it further).
pub const MAX_TX_BYTES_CAP: u32 = 64 * 1024;
/// Largest value one state key may hold (the state store's limit). Every value the chain
/// writes is bounded below it by construction or checked against it.
pub const MAX_STATE_VALUE: usize = 64 * 1024;
/// Hard cap on `Params::max_block_txs`.
pub const MAX_BLOCK_TXS_CAP: u32 = 50_000;

/// Chain parameters. Set at genesis and changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Fee charged for every transaction.
    pub base_fee: Balance,
    /// Fee charged per byte of the encoded transaction.
    pub byte_fee: Balance,
    /// Largest accepted encoded transaction, in bytes.
    pub max_tx_bytes: u32,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// Largest message payload routed through mq, in bytes.
    pub max_message_bytes: u32,
    /// Furthest in the future (in blocks) a transaction's expiry may be.
    pub max_expiry_blocks: u64,
}

/// The least `max_message_bytes` may be: pRuntime sizes its egress (contract results above
/// all) to fit it, and a message the chain refuses would stop the worker's sequence for good.
pub const MIN_MESSAGE_BYTES: u32 = 16 * 1024;

/// The least `max_tx_bytes` may be: a message of [MIN_MESSAGE_BYTES] with its signature and
/// the transaction around it.
pub const MIN_TX_BYTES: u32 = 20 * 1024;

impl Default for Params {
    fn default() -> Self {
        Self {
            base_fee: 1_000,
            byte_fee: 10,
            max_tx_bytes: 64 * 1024,
            max_block_txs: 10_000,
            max_message_bytes: 16 * 1024,
            max_expiry_blocks: 100_000,
        }
    }
}

impl Params {
    /// The fee for a transaction of `len` encoded bytes.
    pub fn fee(&self, len: usize) -> Balance {
        self.base_fee
            .saturating_add(self.byte_fee.saturating_mul(len as Balance))
    }

    /// Checks invariants that would make the chain unusable if violated.
    pub fn validate(&self) -> Result<(), &'static str> {
        // A worker's egress message of MIN_MESSAGE_BYTES travels in one transaction.
        if self.max_tx_bytes < MIN_TX_BYTES || self.max_tx_bytes > MAX_TX_BYTES_CAP {
            return Err("max_tx_bytes must be between 20480 and 65536");
        }
        if self.max_block_txs == 0 || self.max_block_txs > MAX_BLOCK_TXS_CAP {
            return Err("max_block_txs must be between 1 and 50000");
        }
        if self.max_expiry_blocks == 0 {
            return Err("max_expiry_blocks must be positive");
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err("max_message_bytes must be at least 16384 (pRuntime's egress fits it)");
        }
        Ok(())
    }
}

impl Write for Params {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.base_fee.write(buf);
        self.byte_fee.write(buf);
        self.max_tx_bytes.write(buf);
        self.max_block_txs.write(buf);
        self.max_message_bytes.write(buf);
        self.max_expiry_blocks.write(buf);
    }
}

impl EncodeSize for Params {
    fn encode_size(&self) -> usize {
        16 + 16 + 4 + 4 + 4 + 8
    }
}

impl Read for Params {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            base_fee: u128::read(buf)?,
            byte_fee: u128::read(buf)?,
            max_tx_bytes: u32::read(buf)?,
            max_block_txs: u32::read(buf)?,
            max_message_bytes: u32::read(buf)?,
            max_expiry_blocks: u64::read(buf)?,
        })
    }
}
