//! An enumerable set of accounts in state.
//!
//! State is a key-value map with hashed keys, so a module that must walk its members (the
//! registry on a policy change, staking at an election) keeps them in a dense index:
//! `at(i)` for `i < count` plus each member's position, with swap-remove.

use veil_primitives::{AccountId, Digest, to_hex};

use crate::{
    error::StateError,
    keys,
    overlay::{Overlay, StateRead},
};

/// A set of accounts under one state prefix.
#[derive(Clone, Copy, Debug)]
pub struct AccountSet {
    prefix: &'static [u8],
}

impl AccountSet {
    /// The set stored under `prefix` (a module-qualified name, e.g. `registry/workers`).
    pub const fn new(prefix: &'static [u8]) -> Self {
        Self { prefix }
    }

    fn count_key(&self) -> Digest {
        keys::key(self.prefix, b"count")
    }

    fn at_key(&self, i: u64) -> Digest {
        let mut item = b"at".to_vec();
        item.extend_from_slice(&i.to_be_bytes());
        keys::key(self.prefix, &item)
    }

    fn position_key(&self, id: &AccountId) -> Digest {
        let mut item = b"pos".to_vec();
        item.extend_from_slice(id.as_ref());
        keys::key(self.prefix, &item)
    }

    /// Number of members.
    pub async fn count<S: StateRead>(&self, o: &Overlay<'_, S>) -> Result<u64, StateError> {
        Ok(o.read(&self.count_key()).await?.unwrap_or(0))
    }

    /// The member at `i` (`0..count`).
    pub async fn at<S: StateRead>(
        &self,
        o: &Overlay<'_, S>,
        i: u64,
    ) -> Result<Option<AccountId>, StateError> {
        o.read(&self.at_key(i)).await
    }

    /// Whether `id` is a member.
    pub async fn contains<S: StateRead>(
        &self,
        o: &Overlay<'_, S>,
        id: &AccountId,
    ) -> Result<bool, StateError> {
        Ok(o.get(&self.position_key(id)).await?.is_some())
    }

    /// Every member, in index order.
    pub async fn members<S: StateRead>(
        &self,
        o: &Overlay<'_, S>,
    ) -> Result<Vec<AccountId>, StateError> {
        let mut out = Vec::new();
        for i in 0..self.count(o).await? {
            if let Some(id) = self.at(o, i).await? {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Adds `id`; returns whether it was new.
    pub async fn insert<S: StateRead>(
        &self,
        o: &mut Overlay<'_, S>,
        id: &AccountId,
    ) -> Result<bool, StateError> {
        if self.contains(o, id).await? {
            return Ok(false);
        }
        let n = self.count(o).await?;
        o.put(self.at_key(n), id);
        o.put(self.position_key(id), &n);
        o.put(self.count_key(), &(n + 1));
        Ok(true)
    }

    /// Removes `id` (the last member takes its place); returns whether it was a member.
    pub async fn remove<S: StateRead>(
        &self,
        o: &mut Overlay<'_, S>,
        id: &AccountId,
    ) -> Result<bool, StateError> {
        let Some(pos) = o.read::<u64>(&self.position_key(id)).await? else {
            return Ok(false);
        };
        let n = self.count(o).await?;
        let last = n.checked_sub(1).ok_or_else(|| StateError::Corrupt {
            key: to_hex(self.count_key()),
            reason: "a member in an empty set".into(),
        })?;
        if pos != last
            && let Some(moved) = self.at(o, last).await?
        {
            o.put(self.at_key(pos), &moved);
            o.put(self.position_key(&moved), &pos);
        }
        o.remove(self.at_key(last));
        o.remove(self.position_key(id));
        o.put(self.count_key(), &last);
        Ok(true)
    }
}
