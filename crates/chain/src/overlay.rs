//! Reading state and buffering writes: [StateRead] is what the node (QMDB) and tests
//! ([MemoryState]) provide, [Overlay] what every module reads and writes through.

use std::{collections::BTreeMap, future::Future};

use commonware_codec::{Decode, DecodeExt as _, Encode};
use veil_primitives::{Digest, to_hex};

use crate::error::StateError;

/// State writes: `Some(value)` sets a key, `None` deletes it. Ordered, so applying them is
/// deterministic.
pub type Changes = BTreeMap<Digest, Option<Vec<u8>>>;

/// Read access to state. The node implements it over QMDB plus the changes of blocks not yet
/// finalized; tests use [MemoryState].
pub trait StateRead: Sync {
    /// The value under `key`, if any.
    fn get(&self, key: &Digest)
    -> impl Future<Output = Result<Option<Vec<u8>>, StateError>> + Send;
}

/// State held in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryState(pub BTreeMap<Digest, Vec<u8>>);

impl MemoryState {
    /// Applies changes in place.
    pub fn apply(&mut self, changes: &Changes) {
        for (k, v) in changes {
            match v {
                Some(v) => self.0.insert(*k, v.clone()),
                None => self.0.remove(k),
            };
        }
    }
}

impl StateRead for MemoryState {
    async fn get(&self, key: &Digest) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key).cloned())
    }
}

/// Buffers writes on top of a read-only base.
pub struct Overlay<'a, S> {
    base: &'a S,
    changes: Changes,
}

impl<'a, S: StateRead> Overlay<'a, S> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a S) -> Self {
        Self {
            base,
            changes: Changes::new(),
        }
    }

    /// Writes a value.
    pub fn set(&mut self, key: Digest, value: Vec<u8>) {
        self.changes.insert(key, Some(value));
    }

    /// Deletes a key.
    pub fn remove(&mut self, key: Digest) {
        self.changes.insert(key, None);
    }

    /// Writes an encoded value.
    pub fn put<T: Encode>(&mut self, key: Digest, value: &T) {
        self.set(key, value.encode().to_vec());
    }

    /// Reads and decodes a value.
    pub async fn read<T: Decode<Cfg = ()>>(&self, key: &Digest) -> Result<Option<T>, StateError> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        T::decode(bytes::Bytes::from(bytes))
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                key: to_hex(key),
                reason: e.to_string(),
            })
    }

    /// Reads and decodes a value that needs a decoding bound.
    pub async fn read_cfg<T: Decode>(
        &self,
        key: &Digest,
        cfg: &T::Cfg,
    ) -> Result<Option<T>, StateError> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        T::decode_cfg(bytes::Bytes::from(bytes), cfg)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                key: to_hex(key),
                reason: e.to_string(),
            })
    }

    /// Moves another overlay's writes into this one.
    pub fn merge(&mut self, changes: Changes) {
        self.changes.extend(changes);
    }

    /// The buffered writes.
    pub fn into_changes(self) -> Changes {
        self.changes
    }
}

impl<S: StateRead> StateRead for Overlay<'_, S> {
    async fn get(&self, key: &Digest) -> Result<Option<Vec<u8>>, StateError> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key).await,
        }
    }
}
