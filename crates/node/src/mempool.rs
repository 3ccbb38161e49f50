//! Pending transactions, ordered per sender by nonce.
//!
//! The pool holds only transactions that passed [veil_chain::check_transaction] and signature
//! verification. Proposers take them in nonce order per sender, round-robin across senders, so
//! one busy account cannot starve the others. Finalized and expired transactions are pruned on
//! every finalized block.

use std::collections::{BTreeMap, HashMap, HashSet};

use veil_primitives::{AccountId, Digest, Height, SignedTransaction};

/// Why the pool refused a transaction it could otherwise accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The same transaction is already pending.
    #[error("transaction already pending")]
    Duplicate,
    /// Another transaction with this nonce is pending for the sender.
    #[error("another transaction with nonce {0} is pending for this sender")]
    NonceTaken(u64),
    /// The pool is full.
    #[error("mempool full ({0} transactions); retry later")]
    Full(usize),
}

/// Pending transactions.
#[derive(Debug)]
pub struct Mempool {
    capacity: usize,
    by_sender: HashMap<AccountId, BTreeMap<u64, SignedTransaction>>,
    hashes: HashSet<Digest>,
    len: usize,
}

impl Mempool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            by_sender: HashMap::new(),
            hashes: HashSet::new(),
            len: 0,
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a transaction is pending.
    pub fn contains(&self, hash: &Digest) -> bool {
        self.hashes.contains(hash)
    }

    /// Adds a checked transaction.
    pub fn insert(&mut self, hash: Digest, tx: SignedTransaction) -> Result<(), PoolError> {
        if self.hashes.contains(&hash) {
            return Err(PoolError::Duplicate);
        }
        if self.len >= self.capacity {
            return Err(PoolError::Full(self.len));
        }
        let nonce = tx.transaction.nonce;
        let queue = self
            .by_sender
            .entry(tx.transaction.sender.clone())
            .or_default();
        if queue.contains_key(&nonce) {
            return Err(PoolError::NonceTaken(nonce));
        }
        queue.insert(nonce, tx);
        self.hashes.insert(hash);
        self.len += 1;
        Ok(())
    }

    /// Up to `max` transactions for a block at `height`, each sender's in consecutive nonce order
    /// starting from `next_nonce(sender)`.
    pub fn select(
        &self,
        max: usize,
        height: Height,
        mut next_nonce: impl FnMut(&AccountId) -> Option<u64>,
    ) -> Vec<SignedTransaction> {
        let mut lanes: Vec<_> = self
            .by_sender
            .iter()
            .filter_map(|(sender, queue)| {
                let start = next_nonce(sender)?;
                let mut expect = start;
                let run: Vec<_> = queue
                    .range(start..)
                    .take_while(|(n, tx)| {
                        let ok = **n == expect && tx.transaction.expiry >= height;
                        expect += 1;
                        ok
                    })
                    .map(|(_, tx)| tx)
                    .collect();
                (!run.is_empty()).then_some(run)
            })
            .collect();
        // Deterministic order across runs helps debugging; fairness comes from round-robin.
        lanes.sort_by(|a, b| a[0].transaction.sender.cmp(&b[0].transaction.sender));
        let mut out = Vec::with_capacity(max.min(self.len));
        let mut depth = 0;
        while out.len() < max {
            let mut any = false;
            for lane in &lanes {
                if let Some(tx) = lane.get(depth) {
                    any = true;
                    out.push((*tx).clone());
                    if out.len() == max {
                        break;
                    }
                }
            }
            if !any {
                break;
            }
            depth += 1;
        }
        out
    }

    /// Drops transactions made obsolete by a finalized block: nonces below each sender's next
    /// nonce, and anything expired at `height`.
    pub fn prune(&mut self, height: Height, mut next_nonce: impl FnMut(&AccountId) -> u64) {
        let mut removed = Vec::new();
        self.by_sender.retain(|sender, queue| {
            let next = next_nonce(sender);
            queue.retain(|nonce, tx| {
                let keep = *nonce >= next && tx.transaction.expiry > height;
                if !keep {
                    removed.push(tx.hash());
                }
                keep
            });
            !queue.is_empty()
        });
        for h in removed {
            self.hashes.remove(&h);
            self.len -= 1;
        }
    }

    /// Removes one transaction (e.g. one that can no longer be included).
    pub fn remove(&mut self, tx: &SignedTransaction) {
        let hash = tx.hash();
        if !self.hashes.remove(&hash) {
            return;
        }
        let sender = &tx.transaction.sender;
        if let Some(queue) = self.by_sender.get_mut(sender) {
            if queue.remove(&tx.transaction.nonce).is_some() {
                self.len -= 1;
            }
            if queue.is_empty() {
                self.by_sender.remove(sender);
            }
        }
    }

    /// Senders with pending transactions.
    pub fn senders(&self) -> impl Iterator<Item = &AccountId> {
        self.by_sender.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use veil_primitives::{Call, ChainIdentity, PrivateKey, Transaction, hash};

    fn tx(seed: u64, nonce: u64, expiry: u64) -> SignedTransaction {
        let k = PrivateKey::from_seed(seed);
        Transaction {
            sender: k.public_key(),
            nonce,
            expiry,
            call: Call::Transfer {
                to: k.public_key(),
                amount: 1,
            },
        }
        .sign(
            &k,
            &ChainIdentity {
                chain_id: 1,
                genesis_hash: hash(b"g"),
            },
        )
    }

    #[test]
    fn selects_consecutive_nonces_round_robin() {
        let mut pool = Mempool::new(100);
        for (seed, nonce) in [(1, 0), (1, 1), (1, 3), (2, 5), (2, 6)] {
            let t = tx(seed, nonce, 10);
            pool.insert(t.hash(), t).unwrap();
        }
        let a = PrivateKey::from_seed(1).public_key();
        let picked = pool.select(10, 1, |s| Some(if *s == a { 0 } else { 5 }));
        assert_eq!(picked.len(), 4, "nonce 3 waits for nonce 2");
        let picked = pool.select(2, 1, |s| Some(if *s == a { 0 } else { 5 }));
        assert_ne!(picked[0].transaction.sender, picked[1].transaction.sender);
    }

    #[test]
    fn rejects_duplicates_and_prunes() {
        let mut pool = Mempool::new(2);
        let t = tx(1, 0, 10);
        pool.insert(t.hash(), t.clone()).unwrap();
        assert_eq!(pool.insert(t.hash(), t), Err(PoolError::Duplicate));
        let t2 = tx(1, 1, 3);
        pool.insert(t2.hash(), t2).unwrap();
        let t3 = tx(2, 0, 10);
        assert_eq!(pool.insert(t3.hash(), t3), Err(PoolError::Full(2)));
        pool.prune(3, |_| 1);
        assert!(pool.is_empty());
    }
}
