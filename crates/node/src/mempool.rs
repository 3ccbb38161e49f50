//! Pending transactions, ordered per sender by nonce, that cannot be filled for free.
//!
//! The pool holds only transactions that passed [veil_chain::check_transaction] and signature
//! verification, and admits one only if the sender could pay for it after everything it already
//! has pending: the sum of the fees and spent amounts of a sender's pending transactions stays
//! within its balance, and a sender has at most [MAX_PER_SENDER] pending.
//!
//! A transaction whose nonce extends the sender's run of consecutive nonces from its account's
//! next one is *ready*: it can execute. One that leaves a gap is *queued*: it waits at most
//! [QUEUE_TTL] blocks for the gap to fill, and queued transactions together may take at most a
//! quarter of the pool. When the pool is full, a queued transaction is evicted first (oldest
//! first); otherwise a ready one comes in only by evicting the lowest-fee sender tail (the
//! highest nonce of a sender, so no run is broken) whose fee is strictly lower, the oldest among
//! equals. Proposers take ready transactions in nonce order per sender, round-robin across
//! senders, so one busy account cannot starve the others. Finalized, expired and lapsed queued
//! transactions are pruned on every finalized block.

use std::collections::{BTreeMap, HashMap};

use veil_primitives::{AccountId, Balance, Digest, Height, SignedTransaction};

/// Most transactions one sender may have pending.
pub const MAX_PER_SENDER: usize = 64;
/// Blocks a queued transaction (one behind a nonce gap) waits for the gap to fill.
pub const QUEUE_TTL: Height = 20;

/// Why the pool refused a transaction it could otherwise accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The same transaction is already pending.
    #[error("transaction already pending")]
    Duplicate,
    /// Another transaction with this nonce is pending for the sender.
    #[error("another transaction with nonce {0} is pending for this sender")]
    NonceTaken(u64),
    /// The pool is full of transactions paying at least as much.
    #[error("mempool full ({0} transactions); retry later")]
    Full(usize),
    /// The sender has as many transactions pending as it may.
    #[error("the sender has {0} transactions pending, the most one sender may")]
    SenderFull(usize),
    /// With what the sender already has pending, it could not pay for this one.
    #[error(
        "the sender's pending transactions would spend {needed}, above its balance {available}"
    )]
    Unaffordable {
        /// Fees and amounts of the pending transactions plus this one.
        needed: Balance,
        /// The sender's free balance.
        available: Balance,
    },
    /// Too many transactions behind nonce gaps are waiting already.
    #[error(
        "nonce {nonce} leaves a gap after the sender's next nonce {next}, and the pool's room for \
         such transactions is full; send the missing nonces first"
    )]
    QueueFull {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's next executable nonce.
        next: u64,
    },
}

/// What the chain says of a transaction being admitted.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    /// The sender's next nonce in finalized state.
    pub account_nonce: u64,
    /// The sender's free balance in finalized state.
    pub balance: Balance,
    /// Its fee.
    pub fee: Balance,
    /// What it spends if included: its fee plus any amount it moves out of the free balance.
    pub spend: Balance,
    /// The height it would be included at next.
    pub height: Height,
}

#[derive(Debug)]
struct Entry {
    tx: SignedTransaction,
    fee: Balance,
    spend: Balance,
    /// Admission order, for age.
    order: u64,
    /// Behind a nonce gap: dropped at this height unless the gap fills.
    queued_until: Option<Height>,
}

/// Pending transactions.
#[derive(Debug)]
pub struct Mempool {
    capacity: usize,
    by_sender: HashMap<AccountId, BTreeMap<u64, Entry>>,
    hashes: HashMap<Digest, (AccountId, u64)>,
    queued: usize,
    admitted: u64,
}

impl Mempool {
    /// An empty pool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            by_sender: HashMap::new(),
            hashes: HashMap::new(),
            queued: 0,
            admitted: 0,
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Pending transactions behind a nonce gap.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Digest) -> bool {
        self.hashes.contains_key(hash)
    }

    /// Most queued transactions at once.
    fn queue_capacity(&self) -> usize {
        (self.capacity / 4).max(1)
    }

    /// Admits a transaction the chain checked, if the sender can pay for it after everything
    /// it has pending and there is room (see the module docs).
    pub fn insert(
        &mut self,
        hash: Digest,
        tx: SignedTransaction,
        a: Admission,
    ) -> Result<(), PoolError> {
        if self.hashes.contains_key(&hash) {
            return Err(PoolError::Duplicate);
        }
        let sender = tx.transaction.sender.clone();
        let nonce = tx.transaction.nonce;
        let lane = self.by_sender.get(&sender);
        if lane.is_some_and(|l| l.contains_key(&nonce)) {
            return Err(PoolError::NonceTaken(nonce));
        }
        let pending = lane.map_or(0, BTreeMap::len);
        if pending >= MAX_PER_SENDER {
            return Err(PoolError::SenderFull(pending));
        }
        let committed = lane.map_or(0, |l| {
            l.values()
                .fold(0 as Balance, |sum, e| sum.saturating_add(e.spend))
        });
        let needed = committed.saturating_add(a.spend);
        if needed > a.balance {
            return Err(PoolError::Unaffordable {
                needed,
                available: a.balance,
            });
        }
        let next = next_ready(lane, a.account_nonce);
        let ready = nonce == next;
        if !ready && self.queued >= self.queue_capacity() {
            return Err(PoolError::QueueFull { nonce, next });
        }
        if self.len() >= self.capacity {
            self.evict_for(a.fee, ready)?;
        }
        self.admitted += 1;
        let entry = Entry {
            tx,
            fee: a.fee,
            spend: a.spend,
            order: self.admitted,
            queued_until: (!ready).then(|| a.height.saturating_add(QUEUE_TTL)),
        };
        if !ready {
            self.queued += 1;
        }
        self.hashes.insert(hash, (sender.clone(), nonce));
        let lane = self.by_sender.entry(sender).or_default();
        lane.insert(nonce, entry);
        if ready {
            // Filling a gap may make queued transactions after it ready.
            self.queued -= promote(lane, nonce + 1);
        }
        Ok(())
    }

    /// Makes room for one transaction paying `fee`: a queued transaction goes first, else the
    /// lowest-fee sender tail paying strictly less (the oldest among equals).
    fn evict_for(&mut self, fee: Balance, ready: bool) -> Result<(), PoolError> {
        let queued = self
            .by_sender
            .iter()
            .flat_map(|(s, l)| l.iter().map(move |(n, e)| (s, *n, e)))
            .filter(|(_, _, e)| e.queued_until.is_some())
            .min_by_key(|(_, _, e)| e.order)
            .map(|(s, n, _)| (s.clone(), n));
        let victim = match queued {
            Some(v) if ready => Some(v),
            _ if !ready => None,
            _ => self
                .by_sender
                .iter()
                .filter_map(|(s, l)| l.iter().next_back().map(|(n, e)| (s, *n, e)))
                .filter(|(_, _, e)| e.fee < fee)
                .min_by_key(|(_, _, e)| (e.fee, e.order))
                .map(|(s, n, _)| (s.clone(), n)),
        };
        let Some((sender, nonce)) = victim else {
            return Err(PoolError::Full(self.len()));
        };
        self.remove_entry(&sender, nonce);
        Ok(())
    }

    fn remove_entry(&mut self, sender: &AccountId, nonce: u64) {
        let Some(lane) = self.by_sender.get_mut(sender) else {
            return;
        };
        if let Some(e) = lane.remove(&nonce) {
            self.hashes.remove(&e.tx.hash());
            if e.queued_until.is_some() {
                self.queued -= 1;
            }
        }
        if lane.is_empty() {
            self.by_sender.remove(sender);
        }
    }

    /// Up to `max` ready transactions for a block at `height`: each sender's consecutive nonces
    /// from `next_nonce` (`None` skips the sender), round-robin across senders.
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
                    .take_while(|(n, e)| {
                        let ok = **n == expect && e.tx.transaction.expiry >= height;
                        expect += 1;
                        ok
                    })
                    .map(|(_, e)| &e.tx)
                    .collect();
                (!run.is_empty()).then_some(run)
            })
            .collect();
        lanes.sort_by(|a, b| a[0].transaction.sender.cmp(&b[0].transaction.sender));
        let mut out = Vec::with_capacity(max.min(self.len()));
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

    /// After a block at `height`: drops transactions whose nonce is used or whose expiry
    /// passed, and queued ones whose wait is over; marks as ready those a gap no longer
    /// separates from the sender's next nonce.
    pub fn prune(&mut self, height: Height, mut next_nonce: impl FnMut(&AccountId) -> u64) {
        let mut removed = Vec::new();
        self.by_sender.retain(|sender, lane| {
            let next = next_nonce(sender);
            lane.retain(|nonce, e| {
                let lapsed = e.queued_until.is_some_and(|until| until <= height);
                let keep = *nonce >= next && e.tx.transaction.expiry > height && !lapsed;
                if !keep {
                    removed.push(e.tx.hash());
                }
                keep
            });
            promote(lane, next);
            !lane.is_empty()
        });
        for h in removed {
            self.hashes.remove(&h);
        }
        self.queued = self
            .by_sender
            .values()
            .flat_map(BTreeMap::values)
            .filter(|e| e.queued_until.is_some())
            .count();
    }

    /// Removes a transaction (for example one a block can no longer include).
    pub fn remove(&mut self, tx: &SignedTransaction) {
        if let Some((sender, nonce)) = self.hashes.get(&tx.hash()).cloned() {
            self.remove_entry(&sender, nonce);
        }
    }

    /// Senders with pending transactions.
    pub fn senders(&self) -> impl Iterator<Item = &AccountId> {
        self.by_sender.keys()
    }
}

/// The first nonce after the run of consecutive nonces pending from `account_nonce`.
fn next_ready(lane: Option<&BTreeMap<u64, Entry>>, account_nonce: u64) -> u64 {
    let mut next = account_nonce;
    if let Some(lane) = lane {
        for n in lane.range(account_nonce..).map(|(n, _)| *n) {
            if n != next {
                break;
            }
            next += 1;
        }
    }
    next
}

/// Marks ready the queued transactions that now continue the run at `from`; returns how many.
fn promote(lane: &mut BTreeMap<u64, Entry>, from: u64) -> usize {
    let mut promoted = 0;
    for (expect, (n, e)) in (from..).zip(lane.range_mut(from..)) {
        if *n != expect {
            break;
        }
        if e.queued_until.take().is_some() {
            promoted += 1;
        }
    }
    promoted
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

    /// A rich sender whose next nonce is `nonce`.
    fn rich(nonce: u64) -> Admission {
        Admission {
            account_nonce: nonce,
            balance: 1_000_000,
            fee: 10,
            spend: 11,
            height: 1,
        }
    }

    fn add(pool: &mut Mempool, t: SignedTransaction, a: Admission) -> Result<(), PoolError> {
        pool.insert(t.hash(), t, a)
    }

    #[test]
    fn selects_consecutive_nonces_round_robin() {
        let mut pool = Mempool::new(100);
        for (seed, nonce, next) in [(1, 0, 0), (1, 1, 0), (1, 3, 0), (2, 5, 5), (2, 6, 5)] {
            add(&mut pool, tx(seed, nonce, 10), rich(next)).unwrap();
        }
        assert_eq!(pool.queued(), 1, "nonce 3 waits behind a gap");
        let a = PrivateKey::from_seed(1).public_key();
        let picked = pool.select(10, 1, |s| Some(if *s == a { 0 } else { 5 }));
        assert_eq!(picked.len(), 4, "nonce 3 waits for nonce 2");
        let picked = pool.select(2, 1, |s| Some(if *s == a { 0 } else { 5 }));
        assert_ne!(picked[0].transaction.sender, picked[1].transaction.sender);
        // Filling the gap makes the queued one ready.
        add(&mut pool, tx(1, 2, 10), rich(0)).unwrap();
        assert_eq!(pool.queued(), 0);
    }

    #[test]
    fn rejects_duplicates_and_prunes() {
        let mut pool = Mempool::new(2);
        let t = tx(1, 0, 10);
        add(&mut pool, t.clone(), rich(0)).unwrap();
        assert_eq!(add(&mut pool, t, rich(0)), Err(PoolError::Duplicate));
        add(&mut pool, tx(1, 1, 3), rich(0)).unwrap();
        // Full of transactions paying as much: refused.
        assert_eq!(
            add(&mut pool, tx(2, 0, 10), rich(0)),
            Err(PoolError::Full(2))
        );
        pool.prune(3, |_| 1);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_sender_cannot_pend_more_than_it_can_pay() {
        let mut pool = Mempool::new(100);
        let poor = Admission {
            balance: 25,
            ..rich(0)
        };
        add(&mut pool, tx(1, 0, 10), poor).unwrap();
        add(&mut pool, tx(1, 1, 10), poor).unwrap();
        assert_eq!(
            add(&mut pool, tx(1, 2, 10), poor),
            Err(PoolError::Unaffordable {
                needed: 33,
                available: 25
            })
        );
        for n in 0..MAX_PER_SENDER as u64 {
            let _ = add(&mut pool, tx(2, n, 10), rich(0));
        }
        assert_eq!(
            add(&mut pool, tx(2, 99, 10), rich(0)),
            Err(PoolError::SenderFull(MAX_PER_SENDER))
        );
    }

    #[test]
    fn gapped_transactions_take_a_quarter_of_the_pool_and_lapse() {
        let mut pool = Mempool::new(8);
        // Senders each one nonce ahead of their account: queued, two fit.
        for seed in 10..12 {
            add(&mut pool, tx(seed, 1, 100), rich(0)).unwrap();
        }
        assert!(matches!(
            add(&mut pool, tx(12, 1, 100), rich(0)),
            Err(PoolError::QueueFull { nonce: 1, next: 0 })
        ));
        // Ready transactions fill the rest, then evict queued ones.
        for seed in 20..28 {
            add(&mut pool, tx(seed, 0, 100), rich(0)).unwrap();
        }
        assert_eq!((pool.len(), pool.queued()), (8, 0));
        // Queued ones that never become ready lapse.
        let mut pool = Mempool::new(8);
        add(&mut pool, tx(10, 1, 100), rich(0)).unwrap();
        pool.prune(1 + QUEUE_TTL - 1, |_| 0);
        assert_eq!(pool.len(), 1);
        pool.prune(1 + QUEUE_TTL, |_| 0);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_full_pool_evicts_the_cheapest_tail_for_a_better_paying_transaction() {
        let mut pool = Mempool::new(2);
        let cheap = Admission { fee: 5, ..rich(0) };
        add(&mut pool, tx(1, 0, 10), cheap).unwrap();
        add(&mut pool, tx(1, 1, 10), cheap).unwrap();
        let better = Admission { fee: 6, ..rich(0) };
        add(&mut pool, tx(2, 0, 10), better).unwrap();
        // Sender 1's tail (nonce 1) went, not its head: its run is unbroken.
        let s1 = PrivateKey::from_seed(1).public_key();
        let picked = pool.select(10, 1, |_| Some(0));
        assert_eq!(picked.len(), 2);
        assert!(
            picked
                .iter()
                .any(|t| t.transaction.nonce == 0 && t.transaction.sender == s1)
        );
    }
}
