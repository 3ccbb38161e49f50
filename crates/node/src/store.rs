//! Durable indexes beside the consensus archives: the genesis header, each finalized block's
//! outbound messages, and transaction receipts. Written before the state commit of a block, so
//! a crash never leaves committed state without its outputs (a replayed block rewrites them).

use std::path::Path;

use commonware_codec::{DecodeExt as _, Encode as _};
use redb::{Database, TableDefinition};
use veil_chain::Receipt;
use veil_primitives::{Digest, Header, Height, Message};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
const HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("heads");

/// Where a finalized transaction landed and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    /// Block height.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
    /// Fee burnt.
    pub fee: u128,
    /// `None` on success, else the error.
    pub error: Option<String>,
}

/// The index database.
pub struct Store {
    db: Database,
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("index database: {e}")
}

impl Store {
    /// Opens or creates the database file, caching at most `cache_bytes` of its pages.
    pub fn open(path: &Path, cache_bytes: usize) -> anyhow::Result<Self> {
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(err)?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.open_table(MESSAGES).map_err(err)?;
        tx.open_table(RECEIPTS).map_err(err)?;
        tx.open_table(HEADS).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// The genesis header, once recorded.
    pub fn genesis(&self) -> anyhow::Result<Option<Header>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(META).map_err(err)?;
        let Some(v) = table.get("genesis").map_err(err)? else {
            return Ok(None);
        };
        Header::decode(v.value().to_vec())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("stored genesis header is corrupt: {e}"))
    }

    /// Records the genesis header.
    pub fn set_genesis(&self, header: &Header) -> anyhow::Result<()> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut table = tx.open_table(META).map_err(err)?;
            table
                .insert("genesis", header.encode().as_ref())
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The proof of the consensus group key under the genesis state root.
    pub fn genesis_proof(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(META).map_err(err)?;
        Ok(table
            .get("genesis_consensus_proof")
            .map_err(err)?
            .map(|v| v.value().to_vec()))
    }

    /// Records the proof of the consensus group key under the genesis state root.
    pub fn set_genesis_proof(&self, proof: &[u8]) -> anyhow::Result<()> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut table = tx.open_table(META).map_err(err)?;
            table
                .insert("genesis_consensus_proof", proof)
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Records a finalized block's hash, timestamp and outputs.
    pub fn put_outputs(
        &self,
        height: Height,
        hash: &Digest,
        timestamp: u64,
        messages: &[Message],
        receipts: &[Receipt],
    ) -> anyhow::Result<()> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut heads = tx.open_table(HEADS).map_err(err)?;
            let mut head = hash.as_ref().to_vec();
            head.extend_from_slice(&timestamp.to_be_bytes());
            heads.insert(height, head.as_slice()).map_err(err)?;
            let mut table = tx.open_table(MESSAGES).map_err(err)?;
            let encoded = messages.to_vec().encode();
            table.insert(height, encoded.as_ref()).map_err(err)?;
            let mut table = tx.open_table(RECEIPTS).map_err(err)?;
            for (index, r) in receipts.iter().enumerate() {
                let mut value = Vec::with_capacity(32);
                value.extend_from_slice(&height.to_be_bytes());
                value.extend_from_slice(&(index as u32).to_be_bytes());
                value.extend_from_slice(&r.fee.to_be_bytes());
                if let Err(e) = &r.result {
                    value.extend_from_slice(e.to_string().as_bytes());
                }
                let key: [u8; 32] = r.tx_hash.as_ref().try_into().expect("32-byte digest");
                table.insert(&key, value.as_slice()).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Hash and timestamp of the finalized block at `height`.
    pub fn head(&self, height: Height) -> anyhow::Result<Option<(Digest, u64)>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(HEADS).map_err(err)?;
        let Some(v) = table.get(height).map_err(err)? else {
            return Ok(None);
        };
        let v = v.value();
        if v.len() != 40 {
            return Err(anyhow::anyhow!("stored head at {height} is corrupt"));
        }
        let hash: [u8; 32] = v[..32].try_into().expect("32 bytes");
        let ts = u64::from_be_bytes(v[32..].try_into().expect("8 bytes"));
        Ok(Some((Digest::from(hash), ts)))
    }

    /// A finalized block's outbound messages (`None` if the height is not finalized here).
    pub fn messages(
        &self,
        height: Height,
        max_payload: usize,
    ) -> anyhow::Result<Option<Vec<Message>>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(MESSAGES).map_err(err)?;
        let Some(v) = table.get(height).map_err(err)? else {
            return Ok(None);
        };
        use commonware_codec::{Decode as _, RangeCfg};
        Vec::<Message>::decode_cfg(v.value().to_vec(), &(RangeCfg::new(..), max_payload))
            .map(Some)
            .map_err(|e| anyhow::anyhow!("stored messages at {height} are corrupt: {e}"))
    }

    /// A finalized transaction's receipt.
    pub fn receipt(&self, hash: &Digest) -> anyhow::Result<Option<StoredReceipt>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(RECEIPTS).map_err(err)?;
        let key: [u8; 32] = hash.as_ref().try_into().expect("32-byte digest");
        let Some(v) = table.get(&key).map_err(err)? else {
            return Ok(None);
        };
        let v = v.value();
        if v.len() < 28 {
            return Err(anyhow::anyhow!("stored receipt is corrupt"));
        }
        let error = (v.len() > 28).then(|| String::from_utf8_lossy(&v[28..]).into_owned());
        Ok(Some(StoredReceipt {
            height: u64::from_be_bytes(v[0..8].try_into().expect("8 bytes")),
            index: u32::from_be_bytes(v[8..12].try_into().expect("4 bytes")),
            fee: u128::from_be_bytes(v[12..28].try_into().expect("16 bytes")),
            error,
        }))
    }
}
