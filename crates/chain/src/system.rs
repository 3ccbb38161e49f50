//! The current block, readable by every module and provable to light clients.

use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use veil_primitives::{ChainIdentity, Digest, Height, RECENT_BLOCK_HASHES};

use crate::{
    error::StateError,
    keys,
    overlay::{Overlay, StateRead},
};

/// Everything a block's execution may depend on besides state and transactions.
#[derive(Clone, Copy, Debug)]
pub struct BlockEnv {
    /// The chain.
    pub chain: ChainIdentity,
    /// Height of the block being executed.
    pub height: Height,
    /// Its timestamp (ms).
    pub timestamp: u64,
    /// Hash of its parent.
    pub parent: Digest,
}

/// Height and time of the block being executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockInfo {
    /// Height.
    pub height: Height,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

impl Write for BlockInfo {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.height.write(buf);
        self.timestamp.write(buf);
    }
}

impl EncodeSize for BlockInfo {
    fn encode_size(&self) -> usize {
        16
    }
}

impl Read for BlockInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            height: u64::read(buf)?,
            timestamp: u64::read(buf)?,
        })
    }
}

/// Reads the last executed block's info.
pub async fn block_info<S: StateRead>(o: &Overlay<'_, S>) -> Result<BlockInfo, StateError> {
    Ok(o.read(&keys::block_info()).await?.unwrap_or_default())
}

/// Records the block being executed and its parent's hash, and forgets the hash that fell out
/// of the recent window.
pub fn on_block<S: StateRead>(o: &mut Overlay<'_, S>, info: BlockInfo, parent: &Digest) {
    o.put(keys::block_info(), &info);
    if info.height > 0 {
        let parent_height = info.height - 1;
        o.put(keys::block_hash(parent_height), parent);
        if let Some(old) = parent_height.checked_sub(RECENT_BLOCK_HASHES) {
            o.remove(keys::block_hash(old));
        }
    }
}

/// Hash of a recent block (within [RECENT_BLOCK_HASHES] of the current one).
pub async fn block_hash<S: StateRead>(
    o: &Overlay<'_, S>,
    height: Height,
) -> Result<Option<Digest>, StateError> {
    o.read(&keys::block_hash(height)).await
}
