//! Staking and gatekeeper election (NPoS).
//!
//! Accounts bond native tokens. An operator backs one of its registered workers as a gatekeeper
//! candidate with its bond (at least `gatekeeper_min_bond`, the highest bar on the chain, since
//! gatekeepers hold the root key); other accounts nominate candidates with theirs. At every
//! multiple of `election_period_blocks` the chain elects `n_gatekeepers` candidates by
//! sequential Phragmén ([crate::phragmen]) over backers' and nominators' bonds, stores the
//! result and announces it through `mq` on the [ELECTION_TOPIC] topic. Unbonded funds become
//! free only after `unbond_delay_blocks`, so stake that misbehaved can still be slashed.

use bytes::BufMut;
use commonware_codec::{Buf, Encode as _, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use veil_primitives::{
    AccountId, Balance, Destination, Election, Height, MAX_NOMINATIONS, Message, Origin,
    StakingCall, StakingParams, to_hex,
};

use crate::{
    StateError, StateRead, TxError, balances, execute::ExecError, gatekeeper, index::AccountSet,
    keys, mq, overlay::Overlay, phragmen, registry,
};

pub use veil_primitives::ELECTION_TOPIC;
/// Most unbonding chunks an account may have at once.
pub const MAX_UNLOCKING: usize = 32;

/// Workers standing as gatekeeper candidates.
pub const CANDIDATES: AccountSet = AccountSet::new(b"staking/candidates");
/// Accounts that nominate.
pub const NOMINATORS: AccountSet = AccountSet::new(b"staking/nominators");

/// Why a staking call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// Asked to unbond more than is bonded.
    #[error("cannot unbond {amount}: only {bonded} is bonded")]
    NotEnoughBonded {
        /// Requested.
        amount: Balance,
        /// Bonded.
        bonded: Balance,
    },
    /// Too many unbonding chunks.
    #[error("at most {MAX_UNLOCKING} unbonding chunks; withdraw matured ones first")]
    TooManyUnlocking,
    /// A bond below what the role needs.
    #[error("a bond of {needed} is needed, {bonded} is bonded")]
    BondTooSmall {
        /// Least bond.
        needed: Balance,
        /// Bonded.
        bonded: Balance,
    },
    /// The worker is not registered by the sender.
    #[error("worker {0} is not registered by the sender")]
    NotYourWorker(String),
    /// The account already backs a candidate.
    #[error("the sender already backs candidate {0}; chill first")]
    AlreadyBacking(String),
    /// The account nominates and so cannot back a candidate (or the reverse).
    #[error("an account either backs a candidate or nominates; chill first")]
    OtherRole,
    /// A nomination target is not a candidate.
    #[error("{0} is not a gatekeeper candidate")]
    NotACandidate(String),
    /// No nomination target, or too many.
    #[error("nominate 1 to {MAX_NOMINATIONS} candidates")]
    BadTargets,
    /// Unbonding would leave a backer or nominator below its role's minimum.
    #[error("unbonding would leave {left} bonded, below the role's minimum {needed}; chill first")]
    WouldUnderbond {
        /// Bond that would remain.
        left: Balance,
        /// The role's minimum.
        needed: Balance,
    },
}

/// An account's bond.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Bonded, and backing the account's role.
    pub bonded: Balance,
    /// Unbonding chunks: amount and the height from which it can be withdrawn.
    pub unlocking: Vec<(Balance, Height)>,
}

impl Write for Ledger {
    fn write(&self, buf: &mut impl BufMut) {
        self.bonded.write(buf);
        self.unlocking.write(buf);
    }
}

impl EncodeSize for Ledger {
    fn encode_size(&self) -> usize {
        16 + self.unlocking.encode_size()
    }
}

impl Read for Ledger {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            bonded: u128::read(buf)?,
            unlocking: Vec::<(u128, u64)>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_UNLOCKING), ((), ())),
            )?,
        })
    }
}

/// Staking parameters (defaults before genesis sets them).
pub async fn params<S: StateRead>(o: &Overlay<'_, S>) -> Result<StakingParams, StateError> {
    Ok(o.read(&keys::staking_params()).await?.unwrap_or_default())
}

/// An account's ledger.
pub async fn ledger<S: StateRead>(
    o: &Overlay<'_, S>,
    who: &AccountId,
) -> Result<Ledger, StateError> {
    Ok(o.read(&keys::staking_ledger(who))
        .await?
        .unwrap_or_default())
}

/// An account's ledger, the candidate it backs and the candidates it nominates.
pub async fn roles<S: StateRead>(
    o: &Overlay<'_, S>,
    who: &AccountId,
) -> Result<(Ledger, Option<AccountId>, Vec<AccountId>), StateError> {
    let nominations = o
        .read_cfg(
            &keys::staking_nominations(who),
            &(RangeCfg::new(0..=MAX_NOMINATIONS), ()),
        )
        .await?
        .unwrap_or_default();
    Ok((
        ledger(o, who).await?,
        o.read(&keys::staking_backs(who)).await?,
        nominations,
    ))
}

/// The latest election, if any ran.
pub async fn election<S: StateRead>(o: &Overlay<'_, S>) -> Result<Option<Election>, StateError> {
    o.read(&keys::staking_election()).await
}

fn put_ledger<S: StateRead>(o: &mut Overlay<'_, S>, who: &AccountId, l: &Ledger) {
    if l == &Ledger::default() {
        o.remove(keys::staking_ledger(who));
    } else {
        o.put(keys::staking_ledger(who), l);
    }
}

fn fail(e: StakingError) -> ExecError {
    TxError::Staking(Box::new(e)).into()
}

/// Applies a staking call from `who` at `height`.
pub(crate) async fn apply<S: StateRead>(
    o: &mut Overlay<'_, S>,
    who: &AccountId,
    call: &StakingCall,
    height: Height,
) -> Result<(), ExecError> {
    let p = params(o).await?;
    let mut l = ledger(o, who).await?;
    let backing: Option<AccountId> = o.read(&keys::staking_backs(who)).await?;
    let nominating = NOMINATORS.contains(o, who).await?;
    match call {
        StakingCall::Bond { amount } => {
            let mut acc = balances::account(o, who).await?;
            acc.free = acc
                .free
                .checked_sub(*amount)
                .ok_or(TxError::InsufficientBalance {
                    needed: *amount,
                    available: acc.free,
                })?;
            l.bonded = l.bonded.checked_add(*amount).ok_or(TxError::Overflow)?;
            balances::put_account(o, who, acc);
        }
        StakingCall::Unbond { amount } => {
            let left =
                l.bonded
                    .checked_sub(*amount)
                    .ok_or(fail(StakingError::NotEnoughBonded {
                        amount: *amount,
                        bonded: l.bonded,
                    }))?;
            let needed = if backing.is_some() {
                p.gatekeeper_min_bond
            } else if nominating {
                p.nominator_min_bond
            } else {
                0
            };
            if left < needed {
                return Err(fail(StakingError::WouldUnderbond { left, needed }));
            }
            if l.unlocking.len() >= MAX_UNLOCKING {
                return Err(fail(StakingError::TooManyUnlocking));
            }
            l.bonded = left;
            l.unlocking
                .push((*amount, height.saturating_add(p.unbond_delay_blocks)));
        }
        StakingCall::WithdrawUnbonded => {
            let (ready, waiting): (Vec<_>, Vec<_>) =
                l.unlocking.iter().partition(|(_, at)| *at <= height);
            let amount = ready.iter().fold(0u128, |a, (v, _)| a.saturating_add(*v));
            l.unlocking = waiting;
            let mut acc = balances::account(o, who).await?;
            acc.free = acc.free.checked_add(amount).ok_or(TxError::Overflow)?;
            balances::put_account(o, who, acc);
        }
        StakingCall::Candidate { worker } => {
            let registered = registry::worker(o, worker).await?;
            if registered.is_none_or(|w| &w.operator != who) {
                return Err(fail(StakingError::NotYourWorker(to_hex(worker))));
            }
            if nominating {
                return Err(fail(StakingError::OtherRole));
            }
            if let Some(b) = &backing
                && b != worker
            {
                return Err(fail(StakingError::AlreadyBacking(to_hex(b))));
            }
            if l.bonded < p.gatekeeper_min_bond {
                return Err(fail(StakingError::BondTooSmall {
                    needed: p.gatekeeper_min_bond,
                    bonded: l.bonded,
                }));
            }
            o.put(keys::staking_backs(who), worker);
            o.put(keys::staking_backer(worker), who);
            CANDIDATES.insert(o, worker).await?;
        }
        StakingCall::Nominate { targets } => {
            if backing.is_some() {
                return Err(fail(StakingError::OtherRole));
            }
            let mut targets = targets.clone();
            targets.sort();
            targets.dedup();
            if targets.is_empty() || targets.len() > MAX_NOMINATIONS {
                return Err(fail(StakingError::BadTargets));
            }
            for t in &targets {
                if !CANDIDATES.contains(o, t).await? {
                    return Err(fail(StakingError::NotACandidate(to_hex(t))));
                }
            }
            if l.bonded < p.nominator_min_bond {
                return Err(fail(StakingError::BondTooSmall {
                    needed: p.nominator_min_bond,
                    bonded: l.bonded,
                }));
            }
            o.put(keys::staking_nominations(who), &targets);
            NOMINATORS.insert(o, who).await?;
        }
        StakingCall::Chill => {
            if let Some(worker) = backing {
                drop_candidate(o, who, &worker).await?;
            }
            o.remove(keys::staking_nominations(who));
            NOMINATORS.remove(o, who).await?;
        }
    }
    put_ledger(o, who, &l);
    Ok(())
}

/// Ends `backer`'s candidacy for `worker`.
pub(crate) async fn drop_candidate<S: StateRead>(
    o: &mut Overlay<'_, S>,
    backer: &AccountId,
    worker: &AccountId,
) -> Result<(), StateError> {
    o.remove(keys::staking_backs(backer));
    o.remove(keys::staking_backer(worker));
    CANDIDATES.remove(o, worker).await.map(|_| ())
}

/// Burns `ppm` millionths of `who`'s bond (unbonding chunks included, so unbonding right
/// before a deadline does not escape it); returns the amount burnt.
pub(crate) async fn slash<S: StateRead>(
    o: &mut Overlay<'_, S>,
    who: &AccountId,
    ppm: u32,
) -> Result<Balance, StateError> {
    let cut =
        |v: Balance| v / 1_000_000 * ppm as Balance + v % 1_000_000 * ppm as Balance / 1_000_000;
    let mut l = ledger(o, who).await?;
    let mut total = cut(l.bonded);
    l.bonded -= total;
    for (amount, _) in &mut l.unlocking {
        let c = cut(*amount);
        *amount -= c;
        total = total.saturating_add(c);
    }
    put_ledger(o, who, &l);
    Ok(total)
}

/// Runs the election when `height` ends an election period and no round is still waiting for
/// confirmations, or at once when the open round's deadline passed (after slashing its silent
/// gatekeepers, see [gatekeeper::expire_round]).
pub(crate) async fn on_block<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    height: Height,
) -> Result<(), StateError> {
    let p = params(o).await?;
    let expired = gatekeeper::expire_round(o, outbox, height, &p).await?;
    let periodic = height != 0 && height.is_multiple_of(p.election_period_blocks);
    let due = expired || (periodic && gatekeeper::open_round(o).await?.is_none());
    if !due {
        return Ok(());
    }
    // Candidates: still registered, and backed by at least the minimum.
    let mut candidates = Vec::new();
    let mut backers = Vec::new();
    let mut ecdh_keys = Vec::new();
    let mut votes = Vec::new();
    let mut members = CANDIDATES.members(o).await?;
    members.sort();
    for worker in members {
        let Some(backer) = o.read::<AccountId>(&keys::staking_backer(&worker)).await? else {
            continue;
        };
        let bonded = ledger(o, &backer).await?.bonded;
        let Some(entry) = registry::worker(o, &worker).await? else {
            continue;
        };
        if bonded < p.gatekeeper_min_bond {
            continue;
        }
        ecdh_keys.push(entry.ecdh_key);
        votes.push(phragmen::Vote {
            stake: bonded,
            targets: vec![candidates.len()],
        });
        candidates.push(worker);
        backers.push(backer);
    }
    let mut nominators = NOMINATORS.members(o).await?;
    nominators.sort();
    for n in nominators {
        let bonded = ledger(o, &n).await?.bonded;
        if bonded < p.nominator_min_bond {
            continue;
        }
        let targets: Vec<AccountId> = o
            .read_cfg(
                &keys::staking_nominations(&n),
                &(RangeCfg::new(0..=MAX_NOMINATIONS), ()),
            )
            .await?
            .unwrap_or_default();
        votes.push(phragmen::Vote {
            stake: bonded,
            targets: targets
                .iter()
                .filter_map(|t| candidates.binary_search(t).ok())
                .collect(),
        });
    }
    let winners = phragmen::elect(candidates.len(), &votes, p.n_gatekeepers as usize);
    let round = election(o).await?.map_or(1, |e| e.round + 1);
    let result = Election {
        round,
        height,
        gatekeepers: winners.iter().map(|&i| candidates[i].clone()).collect(),
        ecdh_keys: winners.iter().map(|&i| ecdh_keys[i]).collect(),
        deadline: height.saturating_add(p.distribution_deadline_blocks),
        holders: gatekeeper::holders(o).await?,
        key_check: gatekeeper::key_check(o).await?,
    };
    o.put(keys::staking_election(), &result);
    let round_backers: Vec<AccountId> = winners.iter().map(|&i| backers[i].clone()).collect();
    gatekeeper::on_election(o, &result, &round_backers).await?;
    mq::emit(
        o,
        outbox,
        Origin::Chain,
        Destination::Topic(ELECTION_TOPIC.to_vec()),
        result.encode().to_vec(),
    )
    .await
}
