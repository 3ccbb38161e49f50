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

use commonware_codec::Encode as _;
use veil_primitives::{
    AccountId, Destination, Height, Message, Origin,
    liveness::{EraRecord, LIVENESS_TOPIC, LivenessEvent, MIN_ERA_ACTIVITY},
};

use crate::{
    error::StateError,
    keys, mq,
    overlay::{Overlay, StateRead},
    registry, staking,
};

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
/// the new one begins.
pub(crate) async fn on_block<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    height: Height,
) -> Result<(), StateError> {
    let period = staking::params(o).await?.election_period_blocks;
    if height == 0 || !height.is_multiple_of(period.max(1)) {
        return Ok(());
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
    if judged.is_empty() {
        return Ok(());
    }
    let max = judged.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let mut record = EraRecord {
        judged: judged.len() as u32,
        unresponsive: 0,
        max,
    };
    if max >= MIN_ERA_ACTIVITY {
        for (worker, activity) in judged {
            if activity.saturating_mul(4) < max {
                record.unresponsive += 1;
                let event = LivenessEvent::Unresponsive {
                    worker,
                    era: ended,
                    activity,
                    max,
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
        }
    }
    o.put(keys::liveness_era(ended), &record);
    Ok(())
}
