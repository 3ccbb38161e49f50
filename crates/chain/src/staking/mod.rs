//! Staking and the gatekeeper election rule (NPoS).
//!
//! Accounts bond native tokens. An operator backs one of its registered workers as a gatekeeper
//! candidate with its bond (at least `gatekeeper_min_bond`, the highest bar on the chain, since
//! gatekeepers hold the root key); other accounts nominate candidates with theirs. [elect]
//! computes who wins `n_gatekeepers` seats by sequential Phragmén ([phragmen]) over backers'
//! and nominators' bonds; when to elect, and what an election starts, is the gatekeeper
//! module's business ([crate::gatekeeper]), sequenced by [crate::execute]. Unbonded funds
//! become free only after `unbond_delay_blocks`, so stake that misbehaved can still be slashed
//! (`slash`). Each election records the stake behind every seated gatekeeper ([Exposure]):
//! its nominators share its slashes ([slash_gatekeeper]) and its rewards ([reward_shares]).

pub mod phragmen;

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use veil_primitives::{
    AccountId, Balance, Height, MAX_NOMINATIONS, StakingCall, StakingParams, to_hex,
};

pub use crate::error::{MAX_UNLOCKING, StakingError};
use crate::{
    balances,
    error::{ExecError, StateError, TxError},
    index::AccountSet,
    keys,
    overlay::{Overlay, StateRead},
    registry,
};

pub use veil_primitives::ELECTION_TOPIC;

/// Workers standing as gatekeeper candidates.
pub const CANDIDATES: AccountSet = AccountSet::new(b"staking/candidates");
/// Accounts that nominate.
pub const NOMINATORS: AccountSet = AccountSet::new(b"staking/nominators");

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

fn put_ledger<S: StateRead>(o: &mut Overlay<'_, S>, who: &AccountId, l: &Ledger) {
    if l == &Ledger::default() {
        o.remove(keys::staking_ledger(who));
    } else {
        o.put(keys::staking_ledger(who), l);
    }
}

fn fail(e: StakingError) -> ExecError {
    e.into()
}

/// Replaces the staking parameters (a governance call).
pub(crate) fn set_params<S: StateRead>(
    o: &mut Overlay<'_, S>,
    p: &StakingParams,
) -> Result<(), ExecError> {
    p.validate().map_err(TxError::InvalidParams)?;
    o.put(keys::staking_params(), p);
    Ok(())
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
            let Some(registered) = registry::worker(o, worker)
                .await?
                .filter(|w| &w.operator == who)
            else {
                return Err(fail(StakingError::NotYourWorker(to_hex(worker))));
            };
            if registered.insecure && !registry::insecure_gatekeepers_allowed(o).await? {
                return Err(fail(StakingError::InsecureWorker(to_hex(worker))));
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
            if backing.is_none() && CANDIDATES.count(o).await? >= p.max_candidates as u64 {
                return Err(fail(StakingError::Full {
                    role: "candidate",
                    max: p.max_candidates,
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
            if !nominating && NOMINATORS.count(o).await? >= p.max_nominators as u64 {
                return Err(fail(StakingError::Full {
                    role: "nominator",
                    max: p.max_nominators,
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

/// Takes `ppm` millionths of `who`'s bond (unbonding chunks included, so unbonding right
/// before a deadline does not escape it); returns the amount taken, which the caller moves
/// into the reward pool.
pub(crate) async fn slash<S: StateRead>(
    o: &mut Overlay<'_, S>,
    who: &AccountId,
    ppm: u32,
) -> Result<Balance, StateError> {
    let mut l = ledger(o, who).await?;
    let mut total = cut(l.bonded, ppm);
    l.bonded -= total;
    for (amount, _) in &mut l.unlocking {
        let c = cut(*amount, ppm);
        *amount -= c;
        total = total.saturating_add(c);
    }
    put_ledger(o, who, &l);
    Ok(total)
}

/// Most nominators paid through one gatekeeper: the largest stakes behind it share its
/// rewards, every stake behind it shares its slashes (a payout stays bounded work in one
/// block; the stake that counted in its election is all at risk).
pub const MAX_REWARDED: usize = 256;
/// Exposure entries per stored page (each page one state value).
const EXPOSURE_PAGE: usize = 1_024;

/// A candidate [elect] seated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seated {
    /// The worker.
    pub worker: AccountId,
    /// Its registered X25519 key.
    pub ecdh_key: [u8; 32],
    /// The account whose bond backs it (slashed if the gatekeeper fails its duty).
    pub backer: AccountId,
    /// Who stands behind it, at the election.
    pub exposure: Exposure,
}

/// The stake behind a seated gatekeeper at its election: its backer's bond and, for each
/// nominator of it, that nominator's bond split evenly over the seated gatekeepers it
/// nominated. They share the gatekeeper's slashes (all of them) and rewards (the backer and
/// the [MAX_REWARDED] largest) until the next election, whatever they bond, unbond or
/// nominate meanwhile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// The backer's bond.
    pub own: Balance,
    /// Nominators and their stake, largest first.
    pub others: Vec<(AccountId, Balance)>,
}

fn page_cfg() -> (RangeCfg<usize>, ((), ())) {
    (RangeCfg::new(0..=EXPOSURE_PAGE), ((), ()))
}

/// The stake behind `worker` at the latest election (empty if it was not seated).
pub async fn exposure<S: StateRead>(
    o: &Overlay<'_, S>,
    worker: &AccountId,
) -> Result<Exposure, StateError> {
    let Some((own, pages)) = o
        .read_cfg::<(Balance, u32)>(&keys::staking_exposure(worker), &((), ()))
        .await?
    else {
        return Ok(Exposure::default());
    };
    let mut others = Vec::new();
    for page in 0..pages {
        let entries: Vec<(AccountId, Balance)> = o
            .read_cfg(&keys::staking_exposure_page(worker, page), &page_cfg())
            .await?
            .unwrap_or_default();
        others.extend(entries);
    }
    Ok(Exposure { own, others })
}

/// Replaces the exposures of the gatekeepers of the last election (`previous`) with those of
/// the ones just `seated`.
pub(crate) async fn set_exposures<S: StateRead>(
    o: &mut Overlay<'_, S>,
    previous: &[AccountId],
    seated: &[Seated],
) -> Result<(), StateError> {
    for w in previous {
        let head = o
            .read_cfg::<(Balance, u32)>(&keys::staking_exposure(w), &((), ()))
            .await?;
        if let Some((_, pages)) = head {
            for page in 0..pages {
                o.remove(keys::staking_exposure_page(w, page));
            }
            o.remove(keys::staking_exposure(w));
        }
    }
    for s in seated {
        let e = &s.exposure;
        let pages = e.others.chunks(EXPOSURE_PAGE);
        let count = pages.len() as u32;
        for (page, entries) in (0..).zip(pages) {
            o.put(
                keys::staking_exposure_page(&s.worker, page),
                &entries.to_vec(),
            );
        }
        o.put(keys::staking_exposure(&s.worker), &(e.own, count));
    }
    Ok(())
}

/// Slashes the stake behind gatekeeper `worker`: `ppm` millionths of its `backer`'s whole bond
/// ([slash]) and of each exposed nominator's stake in it (from its bond, then from its
/// unbonding chunks, newest first). Returns the total taken.
pub(crate) async fn slash_gatekeeper<S: StateRead>(
    o: &mut Overlay<'_, S>,
    worker: &AccountId,
    backer: &AccountId,
    ppm: u32,
) -> Result<Balance, StateError> {
    let mut total = slash(o, backer, ppm).await?;
    for (nominator, stake) in exposure(o, worker).await?.others {
        let mut due = cut(stake, ppm);
        let mut l = ledger(o, &nominator).await?;
        let from_bond = due.min(l.bonded);
        l.bonded -= from_bond;
        due -= from_bond;
        let mut taken = from_bond;
        for (amount, _) in l.unlocking.iter_mut().rev() {
            let c = due.min(*amount);
            *amount -= c;
            due -= c;
            taken += c;
        }
        l.unlocking.retain(|(amount, _)| *amount > 0);
        put_ledger(o, &nominator, &l);
        total = total.saturating_add(taken);
    }
    Ok(total)
}

/// How gatekeeper `worker`'s `reward` is paid: its backer takes `commission_ppm` of it, and the
/// rest is split by stake between the backer and the [MAX_REWARDED] largest exposed
/// nominators (rounded down; what rounding leaves is not paid). Zero shares are left out.
pub async fn reward_shares<S: StateRead>(
    o: &Overlay<'_, S>,
    worker: &AccountId,
    backer: &AccountId,
    reward: Balance,
    commission_ppm: u32,
) -> Result<Vec<(AccountId, Balance)>, StateError> {
    let mut e = exposure(o, worker).await?;
    e.others.truncate(MAX_REWARDED);
    let commission = cut(reward, commission_ppm);
    let rest = reward - commission;
    // Stakes scaled down together until their sum fits 64 bits, so `rest * stake` cannot
    // overflow and the shares add up to at most `rest`.
    let sum = e
        .others
        .iter()
        .fold(e.own, |t, (_, stake)| t.saturating_add(*stake));
    let shift = (Balance::BITS - sum.leading_zeros()).saturating_sub(63);
    let own = e.own >> shift;
    let others: Vec<(&AccountId, Balance)> = e
        .others
        .iter()
        .map(|(n, stake)| (n, stake >> shift))
        .collect();
    let total = others.iter().fold(own, |t, (_, stake)| t + stake);
    let part = |stake: Balance| match total {
        0 => 0,
        _ => rest / total * stake + rest % total * stake / total,
    };
    let own = if total == 0 { rest } else { part(own) };
    let mut out = vec![(backer.clone(), commission + own)];
    out.extend(others.iter().map(|(n, stake)| ((*n).clone(), part(*stake))));
    out.retain(|(_, amount)| *amount > 0);
    Ok(out)
}

/// `ppm` millionths of `v`, rounded down, without overflow.
fn cut(v: Balance, ppm: u32) -> Balance {
    v / 1_000_000 * ppm as Balance + v % 1_000_000 * ppm as Balance / 1_000_000
}

/// Elects up to `n_gatekeepers` of the candidates still registered and backed by at least the
/// minimum, by sequential Phragmén over backers' and nominators' bonds; in election order.
/// Reads state only.
pub async fn elect<S: StateRead>(
    o: &Overlay<'_, S>,
    p: &StakingParams,
) -> Result<Vec<Seated>, StateError> {
    let mut candidates: Vec<Seated> = Vec::new();
    let mut votes = Vec::new();
    let insecure_allowed = registry::insecure_gatekeepers_allowed(o).await?;
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
        if bonded < p.gatekeeper_min_bond || (entry.insecure && !insecure_allowed) {
            continue;
        }
        votes.push(phragmen::Vote {
            stake: bonded,
            targets: vec![candidates.len()],
        });
        candidates.push(Seated {
            worker,
            ecdh_key: entry.ecdh_key,
            backer,
            exposure: Exposure {
                own: bonded,
                others: Vec::new(),
            },
        });
    }
    let mut nominators = NOMINATORS.members(o).await?;
    nominators.sort();
    let mut voters = Vec::new();
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
        let targets: Vec<usize> = targets
            .iter()
            .filter_map(|t| candidates.binary_search_by(|c| c.worker.cmp(t)).ok())
            .collect();
        voters.push((n, bonded, targets.clone()));
        votes.push(phragmen::Vote {
            stake: bonded,
            targets,
        });
    }
    let winners = phragmen::elect(candidates.len(), &votes, p.n_gatekeepers as usize);
    // Each nominator's bond, split evenly over the winners it nominated, is exposed to them.
    for (n, bonded, targets) in voters {
        let seated: Vec<usize> = targets
            .into_iter()
            .filter(|t| winners.contains(t))
            .collect();
        if seated.is_empty() {
            continue;
        }
        let stake = bonded / seated.len() as Balance;
        for t in seated {
            candidates[t].exposure.others.push((n.clone(), stake));
        }
    }
    Ok(winners
        .iter()
        .map(|&i| {
            let mut s = candidates[i].clone();
            s.exposure
                .others
                .sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
            s
        })
        .collect())
}
