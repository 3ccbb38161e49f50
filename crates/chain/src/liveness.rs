//! Responsiveness monitoring (whitepaper §4.10): activity counted per worker and era, and the
//! paper's relative rule evaluated at each era's end.
//!
//! An era is the election period (`StakingParams::election_period_blocks`): era `e` is heights
//! `[e · period, (e + 1) · period)`. Modules that route a worker's side effects call [record].
//! A worker's activity `c_n` is the number of heartbeat slots (`heartbeat_blocks` each, the
//! registry's heartbeat interval) of the era in which the chain routed at least one of its side
//! effects: a healthy worker, idle or busy, is active in every slot, so a busy one does not
//! dwarf an idle one, and a silent one shows nothing.
//! At the first block of era `e + 1`, [on_block] judges era `e`: among the workers registered
//! when it began and still registered, worker `n` is unresponsive when `4 · c_n < max c`,
//! unless the busiest showed less than [MIN_ERA_ACTIVITY]. Each unresponsive worker gets a
//! [LivenessEvent] on [LIVENESS_TOPIC]; the era's summary is kept ([era_record]). The
//! activity of the current and the last era stays readable; older counts are removed.
//!
//! **Pool and rewards.** Transaction fees ([collect_fee]), slashes and each era's issuance
//! (`era_issuance`, minted at the era's end) go into one reward pool. When an era is judged,
//! each unresponsive worker's backer loses `unresponsive_gatekeeper_slash_ppm` of its bond if
//! the worker is a gatekeeper of the latest election (and each nominator exposed to it that
//! share of its stake in it; the candidacy also ends, so the election that follows in the
//! same block passes it over), `unresponsive_miner_slash_ppm` of its operator's bond
//! otherwise; then the whole pool is split among the responsive workers judged, a gatekeeper
//! weighing `gatekeeper_reward_weight` and a miner 1, and paid to the miner's operator, or to
//! the gatekeeper's backer (`gatekeeper_commission_ppm`) and, by stake, to it and its exposed
//! nominators ([staking::reward_shares]; what integer division leaves stays). Nothing is
//! burnt: total issuance changes only by `era_issuance`.

use commonware_codec::Encode as _;
use veil_primitives::{
    AccountId, Balance, Destination, Election, Height, Message, Origin,
    liveness::{EraRecord, LIVENESS_TOPIC, LivenessEvent, MIN_ERA_ACTIVITY},
};

use crate::{
    balances::{self, Account},
    error::{ExecError, StateError, TxError},
    keys, mq,
    overlay::{Overlay, StateRead},
    registry, staking,
};

/// The reward pool.
pub async fn pool<S: StateRead>(o: &Overlay<'_, S>) -> Result<Balance, StateError> {
    Ok(o.read(&keys::liveness_pool()).await?.unwrap_or(0))
}

/// Rewards `account` has received, in all.
pub async fn rewards<S: StateRead>(
    o: &Overlay<'_, S>,
    account: &AccountId,
) -> Result<Balance, StateError> {
    Ok(o.read(&keys::liveness_rewards(account)).await?.unwrap_or(0))
}

/// Moves `amount` (a fee or a slash) into the reward pool.
pub(crate) async fn add_to_pool<S: StateRead>(
    o: &mut Overlay<'_, S>,
    amount: Balance,
) -> Result<(), StateError> {
    let total = pool(o).await?.saturating_add(amount);
    o.put(keys::liveness_pool(), &total);
    Ok(())
}

/// Takes a transaction's fee from `account` (the caller stores it) into the reward pool.
pub(crate) async fn collect_fee<S: StateRead>(
    o: &mut Overlay<'_, S>,
    account: &mut Account,
    fee: Balance,
) -> Result<(), ExecError> {
    account.free = account
        .free
        .checked_sub(fee)
        .ok_or(TxError::InsufficientBalance {
            needed: fee,
            available: account.free,
        })?;
    Ok(add_to_pool(o, fee).await?)
}

/// `amount · weight / total` without overflow.
fn share(amount: Balance, weight: u32, total: u64) -> Balance {
    let (weight, total) = (weight as Balance, total.max(1) as Balance);
    amount / total * weight + amount % total * weight / total
}

/// The era of `height` for an era of `period` blocks.
pub fn era(height: Height, period: u64) -> u64 {
    height / period.max(1)
}

/// The era `height` belongs to, under the current parameters.
pub async fn era_at<S: StateRead>(o: &Overlay<'_, S>, height: Height) -> Result<u64, StateError> {
    Ok(era(
        height,
        staking::params(o).await?.election_period_blocks,
    ))
}

/// `worker`'s activity in `era` so far.
pub async fn activity<S: StateRead>(
    o: &Overlay<'_, S>,
    era: u64,
    worker: &AccountId,
) -> Result<u64, StateError> {
    Ok(o.read(&keys::liveness_activity(era, worker))
        .await?
        .unwrap_or(0))
}

/// The summary of a judged era.
pub async fn era_record<S: StateRead>(
    o: &Overlay<'_, S>,
    era: u64,
) -> Result<Option<EraRecord>, StateError> {
    o.read(&keys::liveness_era(era)).await
}

/// Counts a routed side effect of `worker` in the block at `height`: its heartbeat slot is
/// active (counted once however many it has).
pub(crate) async fn record<S: StateRead>(
    o: &mut Overlay<'_, S>,
    worker: &AccountId,
    height: Height,
) -> Result<(), StateError> {
    let slot = height / registry::params(o).await?.heartbeat_blocks.max(1);
    let last = keys::liveness_slot(worker);
    if o.read::<u64>(&last).await?.is_some_and(|s| s >= slot) {
        return Ok(());
    }
    o.put(last, &slot);
    let era = era_at(o, height).await?;
    let count = activity(o, era, worker).await?;
    o.put(keys::liveness_activity(era, worker), &(count + 1));
    Ok(())
}

/// At an era's first block: judges the era that just ended, then notes who is registered as
/// the new one begins. Returns, at an era's first block only, the workers judged unresponsive.
pub(crate) async fn on_block<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    height: Height,
) -> Result<Option<Vec<AccountId>>, StateError> {
    let period = staking::params(o).await?.election_period_blocks;
    if height == 0 || !height.is_multiple_of(period.max(1)) {
        return Ok(None);
    }
    let current = era(height, period);
    let ended = current - 1;
    let mut registered = Vec::new();
    for i in 0..registry::count(o).await? {
        if let Some(w) = registry::worker_at(o, i).await? {
            registered.push(w);
        }
    }
    let mut judged = Vec::new();
    for w in &registered {
        let member = keys::liveness_member(ended, w);
        if o.read::<bool>(&member).await?.is_some() {
            judged.push((w.clone(), activity(o, ended, w).await?));
            o.remove(member);
        }
        if ended > 0 {
            o.remove(keys::liveness_activity(ended - 1, w));
        }
        o.put(keys::liveness_member(current, w), &true);
    }
    let params = staking::params(o).await?;
    if params.era_issuance > 0 {
        balances::issue(o, params.era_issuance).await?;
        add_to_pool(o, params.era_issuance).await?;
    }
    if judged.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let max = judged.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let mut record = EraRecord {
        judged: judged.len() as u32,
        max,
        ..EraRecord::default()
    };
    if max < MIN_ERA_ACTIVITY {
        // An idle era judges nobody and pays nobody: the pool waits for the next.
        o.put(keys::liveness_era(ended), &record);
        return Ok(Some(Vec::new()));
    }
    let gatekeepers: Vec<AccountId> = o
        .read::<Election>(&keys::election())
        .await?
        .map(|e| e.gatekeepers.into_iter().map(|g| g.worker).collect())
        .unwrap_or_default();
    let mut responsive = Vec::new();
    let mut unresponsive = Vec::new();
    for (worker, activity) in judged {
        let gatekeeper = gatekeepers.contains(&worker);
        let candidacy = o.read::<AccountId>(&keys::staking_backer(&worker)).await?;
        let operator = registry::worker(o, &worker).await?.map(|w| w.operator);
        let backer = match (gatekeeper, candidacy, operator) {
            (true, Some(backer), _) => backer,
            (_, _, Some(operator)) => operator,
            (_, Some(backer), None) => backer,
            (_, None, None) => continue,
        };
        if activity.saturating_mul(4) >= max {
            let weight = if gatekeeper {
                params.gatekeeper_reward_weight
            } else {
                1
            };
            responsive.push((backer, weight, gatekeeper.then(|| worker.clone())));
            continue;
        }
        record.unresponsive += 1;
        let ppm = if gatekeeper {
            params.unresponsive_gatekeeper_slash_ppm
        } else {
            params.unresponsive_miner_slash_ppm
        };
        let slashed = if gatekeeper {
            staking::slash_gatekeeper(o, &worker, &backer, ppm).await?
        } else {
            staking::slash(o, &backer, ppm).await?
        };
        add_to_pool(o, slashed).await?;
        record.slashed = record.slashed.saturating_add(slashed);
        if gatekeeper {
            staking::drop_candidate(o, &backer, &worker).await?;
        }
        unresponsive.push(worker.clone());
        let event = LivenessEvent::Unresponsive {
            worker,
            era: ended,
            activity,
            max,
            slashed,
        };
        mq::emit(
            o,
            outbox,
            Origin::Chain,
            Destination::Topic(LIVENESS_TOPIC.to_vec()),
            event.encode().to_vec(),
        )
        .await?;
    }
    let total: u64 = responsive.iter().map(|(_, w, _)| *w as u64).sum();
    let available = pool(o).await?;
    for (backer, weight, gatekeeper) in responsive {
        let amount = share(available, weight, total);
        if amount == 0 {
            continue;
        }
        // A gatekeeper's share is split with the nominators exposed to it.
        let payees = match gatekeeper {
            Some(worker) => {
                let commission = params.gatekeeper_commission_ppm;
                staking::reward_shares(o, &worker, &backer, amount, commission).await?
            }
            None => vec![(backer, amount)],
        };
        for (payee, amount) in payees {
            let mut account = balances::account(o, &payee).await?;
            account.free = account.free.saturating_add(amount);
            balances::put_account(o, &payee, account);
            let received = rewards(o, &payee).await?.saturating_add(amount);
            o.put(keys::liveness_rewards(&payee), &received);
            record.paid = record.paid.saturating_add(amount);
        }
    }
    o.put(keys::liveness_pool(), &(available - record.paid));
    o.put(keys::liveness_era(ended), &record);
    Ok(Some(unresponsive))
}
