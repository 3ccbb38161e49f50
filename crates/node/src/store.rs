//! Durable indexes beside the consensus archives: the genesis header, each finalized block's
//! outbound messages, transaction receipts, and each contract's log (where its messages are, so
//! a miner recovering a contract fetches only those). Written before the state commit of a block, so
//! a crash never leaves committed state without its outputs (a replayed block rewrites them).

use std::path::Path;

use commonware_codec::{DecodeExt as _, Encode as _, EncodeSize as _};
use redb::{Database, TableDefinition};
use veil_chain::Receipt;
use veil_primitives::{Destination, Digest, Header, Height, Message, Origin, contract::LogEntry};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
const HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("heads");
/// `contract ‖ height ‖ position` of every message in a contract's log: keyed by place, so
/// rewriting a replayed block's outputs changes nothing.
const CONTRACT_LOG: TableDefinition<&[u8], ()> = TableDefinition::new("contract_log");

/// The contracts whose logs `m` belongs to: its destination and its source, when contracts.
fn log_contracts(m: &Message) -> Vec<Digest> {
    let mut out = Vec::with_capacity(2);
    if let Destination::Contract(c) = &m.destination {
        out.push(*c);
    }
    if let Origin::Contract(c) = &m.origin
        && !out.contains(c)
    {
        out.push(*c);
    }
    out
}

fn log_key(contract: &Digest, height: Height, position: u32) -> [u8; 44] {
    let mut key = [0u8; 44];
    key[..32].copy_from_slice(contract.as_ref());
    key[32..40].copy_from_slice(&height.to_be_bytes());
    key[40..].copy_from_slice(&position.to_be_bytes());
    key
}

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
        tx.open_table(CONTRACT_LOG).map_err(err)?;
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
            let mut log = tx.open_table(CONTRACT_LOG).map_err(err)?;
            for (position, m) in messages.iter().enumerate() {
                for contract in log_contracts(m) {
                    let key = log_key(&contract, height, position as u32);
                    log.insert(key.as_slice(), ()).map_err(err)?;
                }
            }
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

    /// `contract`'s log entries in blocks from height `from` on, in order, whole blocks only:
    /// it stops at the first block boundary after `max` entries or `max_bytes` of them.
    pub fn contract_log(
        &self,
        contract: &Digest,
        from: Height,
        max: usize,
        max_bytes: usize,
        max_payload: usize,
    ) -> anyhow::Result<Vec<LogEntry>> {
        let tx = self.db.begin_read().map_err(err)?;
        let table = tx.open_table(CONTRACT_LOG).map_err(err)?;
        let start = log_key(contract, from, 0);
        let end = log_key(contract, Height::MAX, u32::MAX);
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut block: Option<(Height, Digest, Vec<Message>)> = None;
        for item in table
            .range(start.as_slice()..=end.as_slice())
            .map_err(err)?
        {
            let (key, _) = item.map_err(err)?;
            let key = key.value();
            let height = u64::from_be_bytes(key[32..40].try_into().expect("8 bytes"));
            let position = u32::from_be_bytes(key[40..44].try_into().expect("4 bytes")) as usize;
            if block.as_ref().is_none_or(|(h, _, _)| *h != height) {
                // A page ends at a block's end, so the next starts at the next height.
                if out.len() >= max || (!out.is_empty() && bytes > max_bytes) {
                    break;
                }
                let messages = self.messages(height, max_payload)?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "the contract log names block {height}, whose messages are missing"
                    )
                })?;
                let parent = match self.head(height.saturating_sub(1))? {
                    Some((hash, _)) => hash,
                    None if height == 1 => self
                        .genesis()?
                        .ok_or_else(|| anyhow::anyhow!("the genesis header is missing"))?
                        .hash(),
                    None => anyhow::bail!(
                        "the contract log names block {height}, whose parent is missing"
                    ),
                };
                block = Some((height, parent, messages));
            }
            let (_, parent, messages) = block.as_ref().expect("just set");
            let message = messages.get(position).cloned().ok_or_else(|| {
                anyhow::anyhow!(
                    "the contract log names message {position} of block {height}, which has {}",
                    messages.len()
                )
            })?;
            let entry = LogEntry {
                height,
                parent: *parent,
                message,
            };
            bytes += entry.encode_size();
            out.push(entry);
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use veil_primitives::{Destination, Origin, contract::in_log, hash};

    use super::*;

    fn message(origin: Origin, destination: Destination, sequence: u64) -> Message {
        Message {
            origin,
            destination,
            sequence,
            payload: vec![sequence as u8; 10],
        }
    }

    #[test]
    fn a_contracts_log_lists_its_messages_in_order_by_whole_blocks() {
        let dir = std::env::temp_dir().join(format!("veil-store-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("index.redb"), 1 << 20).unwrap();
        let (a, b) = (hash(b"a"), hash(b"b"));
        let genesis = Header {
            height: 0,
            parent: Digest::from([0; 32]),
            timestamp: 0,
            state_root: hash(b"root"),
            transactions_root: hash(b"txs"),
            messages_root: hash(b"messages"),
        };
        store.set_genesis(&genesis).unwrap();
        let blocks: Vec<Vec<Message>> = vec![
            vec![
                message(Origin::Chain, Destination::Contract(a), 0),
                message(Origin::Chain, Destination::Topic(b"x".to_vec()), 1),
            ],
            vec![],
            vec![
                message(Origin::Contract(a), Destination::Contract(b), 0),
                message(Origin::Chain, Destination::Contract(b), 2),
                message(Origin::Contract(b), Destination::Contract(a), 0),
            ],
            vec![message(Origin::Contract(a), Destination::Contract(a), 1)],
        ];
        for (i, messages) in blocks.iter().enumerate() {
            let height = i as u64 + 1;
            // Written twice, as after a crash between the index and the state commit.
            for _ in 0..2 {
                store
                    .put_outputs(height, &hash(&height.to_be_bytes()), height, messages, &[])
                    .unwrap();
            }
        }
        let expected = |contract: &Digest, from: u64| -> Vec<LogEntry> {
            let mut out = Vec::new();
            for (i, messages) in blocks.iter().enumerate() {
                let height = i as u64 + 1;
                let parent = if height == 1 {
                    genesis.hash()
                } else {
                    hash(&(height - 1).to_be_bytes())
                };
                for m in messages.iter().filter(|m| in_log(contract, m)) {
                    if height >= from {
                        out.push(LogEntry {
                            height,
                            parent,
                            message: m.clone(),
                        });
                    }
                }
            }
            out
        };
        let all = |c: &Digest, from, max| store.contract_log(c, from, max, 1 << 20, 64).unwrap();
        assert_eq!(all(&a, 0, 100), expected(&a, 0));
        assert_eq!(all(&a, 0, 100).len(), 4);
        assert_eq!(all(&b, 0, 100), expected(&b, 0));
        assert_eq!(all(&a, 3, 100), expected(&a, 3));
        // A page ends at a block's end: block 3 holds two of `a`'s entries.
        let page = all(&a, 0, 2);
        assert_eq!(page, expected(&a, 0)[..3].to_vec());
        assert_eq!(all(&hash(b"none"), 0, 100), vec![]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
