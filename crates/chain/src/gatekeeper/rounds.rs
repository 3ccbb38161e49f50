//! Election rounds and the launch.
//!
//! Before launch the genesis node holds the root key. Each election round names its key
//! holders (the genesis node, then the gatekeepers of the last fully confirmed round). The
//! elected gatekeepers fetch the key from a holder over a Noise channel between pRuntimes and
//! confirm with a signed [Ready] worker message carrying the key's check. When every gatekeeper
//! of a round has confirmed, the round closes: its gatekeepers become the key holders, the
//! chain announces it on [HANDOVER_TOPIC] (earlier gatekeepers outside the round wipe their
//! key) and, the first time, launches and announces it on [LAUNCH_TOPIC]. A round that is not
//! fully confirmed by its deadline expires (`expire_round`): the silent gatekeepers' backers
//! are slashed, those that confirmed join the key holders, and the chain elects again.

use commonware_codec::{DecodeExt as _, Encode as _, RangeCfg};
use veil_primitives::{
    AccountId, Destination, Digest, ELECTION_TOPIC, Elected, Election, GenesisWorker,
    HANDOVER_TOPIC, Handover, Height, KeyHolder, LAUNCH_TOPIC, Launch, MAX_GATEKEEPERS, Message,
    Origin, Phase, Ready, SLASH_TOPIC, Slashed, StakingParams, holders_cfg,
};

use crate::{
    error::StateError,
    keys, liveness, mq,
    overlay::{Overlay, StateRead},
    registry,
    staking::{self, Seated},
};

/// Whether the network has launched.
pub async fn phase<S: StateRead>(o: &Overlay<'_, S>) -> Result<Phase, StateError> {
    Ok(o.read(&keys::phase()).await?.unwrap_or_default())
}

/// The genesis node named at genesis, if any.
pub async fn genesis_worker<S: StateRead>(
    o: &Overlay<'_, S>,
) -> Result<Option<GenesisWorker>, StateError> {
    o.read(&keys::genesis_worker()).await
}

/// The pRuntimes that hold the root key: the gatekeepers of the last fully confirmed round
/// that are still registered and were not slashed since, or the genesis node before any round
/// was. A deregistered or revoked worker drops out at once: nobody asks it for the key, and it
/// may no longer sign the gatekeepers' stream. Each holder comes with the endpoint and TEE it
/// is registered with now, so one that moved its host since its round closed is asked there.
pub async fn holders<S: StateRead>(o: &Overlay<'_, S>) -> Result<Vec<KeyHolder>, StateError> {
    if let Some(all) = o
        .read_cfg::<Vec<KeyHolder>>(&keys::key_holders(), &holders_cfg())
        .await?
    {
        let mut registered = Vec::with_capacity(all.len());
        for mut h in all {
            if let Some(entry) = registry::worker(o, &h.worker).await? {
                h.endpoint = entry.endpoint;
                h.tee = Some(entry.tee);
                registered.push(h);
            }
        }
        return Ok(registered);
    }
    Ok(genesis_worker(o)
        .await?
        .map(|g| vec![g.holder])
        .unwrap_or_default())
}

/// The check of the root key gatekeepers must hold (zero when the network has no genesis node,
/// which no real key matches).
pub async fn key_check<S: StateRead>(o: &Overlay<'_, S>) -> Result<Digest, StateError> {
    Ok(genesis_worker(o)
        .await?
        .map_or(Digest::from([0u8; 32]), |g| g.key_check))
}

/// Gatekeepers of the current round that confirmed.
pub async fn confirmed<S: StateRead>(o: &Overlay<'_, S>) -> Result<Vec<AccountId>, StateError> {
    Ok(o.read_cfg(
        &keys::confirmed(),
        &(RangeCfg::new(0..=MAX_GATEKEEPERS as usize), ()),
    )
    .await?
    .unwrap_or_default())
}

/// The last closed (fully confirmed or expired) election round.
pub async fn closed_round<S: StateRead>(o: &Overlay<'_, S>) -> Result<u64, StateError> {
    Ok(o.read(&keys::closed_round()).await?.unwrap_or(0))
}

/// The gatekeepers of the latest election with the accounts that backed them then.
pub async fn round_backers<S: StateRead>(
    o: &Overlay<'_, S>,
) -> Result<Vec<(AccountId, AccountId)>, StateError> {
    Ok(o.read_cfg(
        &keys::round_backers(),
        &(RangeCfg::new(0..=MAX_GATEKEEPERS as usize), ((), ())),
    )
    .await?
    .unwrap_or_default())
}

/// The latest election, if any ran.
pub async fn election<S: StateRead>(o: &Overlay<'_, S>) -> Result<Option<Election>, StateError> {
    o.read(&keys::election()).await
}

/// The latest election, if it is still waiting for confirmations.
pub async fn open_round<S: StateRead>(o: &Overlay<'_, S>) -> Result<Option<Election>, StateError> {
    let Some(e) = election(o).await? else {
        return Ok(None);
    };
    Ok((e.round > closed_round(o).await?).then_some(e))
}

/// Whether a periodic election is due at `height`: it ends an election period and no round is
/// still waiting for confirmations.
pub async fn election_due<S: StateRead>(
    o: &Overlay<'_, S>,
    height: Height,
    p: &StakingParams,
) -> Result<bool, StateError> {
    let periodic = height != 0 && height.is_multiple_of(p.election_period_blocks);
    Ok(periodic && open_round(o).await?.is_none())
}

/// Starts round `n + 1` with the gatekeepers [staking::elect] seated: stores and announces the
/// election (with the key holders and the root-key check they must end up holding). It starts
/// with no confirmations; a round without gatekeepers closes at once (there is nobody to hand
/// the key to).
pub(crate) async fn start_round<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    height: Height,
    p: &StakingParams,
    seated: &[Seated],
) -> Result<(), StateError> {
    let previous = election(o).await?;
    let round = previous.as_ref().map_or(1, |e| e.round + 1);
    let previous: Vec<AccountId> = previous
        .map(|e| e.gatekeepers.into_iter().map(|g| g.worker).collect())
        .unwrap_or_default();
    staking::set_exposures(o, &previous, seated).await?;
    let result = Election {
        round,
        height,
        gatekeepers: seated
            .iter()
            .map(|s| Elected {
                worker: s.worker.clone(),
                ecdh_key: s.ecdh_key,
            })
            .collect(),
        deadline: height.saturating_add(p.distribution_deadline_blocks),
        holders: holders(o).await?,
        key_check: key_check(o).await?,
    };
    o.put(keys::election(), &result);
    o.remove(keys::confirmed());
    let backers: Vec<(AccountId, AccountId)> = seated
        .iter()
        .map(|s| (s.worker.clone(), s.backer.clone()))
        .collect();
    o.put(keys::round_backers(), &backers);
    if result.gatekeepers.is_empty() {
        o.put(keys::closed_round(), &result.round);
    }
    mq::emit(
        o,
        outbox,
        Origin::Chain,
        Destination::Topic(ELECTION_TOPIC.to_vec()),
        result.encode().to_vec(),
    )
    .await
}

/// Counts a readiness confirmation (the payload of a worker message routed to
/// [veil_primitives::READY_TOPIC]) from `sender`; closes the round, and launches the network,
/// once every gatekeeper of the round confirmed.
///
/// The worker message itself is always routed (its sequence is spent either way); a
/// confirmation for another round, from a worker that was not elected, or with another key
/// check simply does not count.
pub(crate) async fn on_ready<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    sender: &AccountId,
    payload: &[u8],
    height: Height,
) -> Result<(), StateError> {
    let Ok(ready) = Ready::decode(payload.to_vec()) else {
        return Ok(());
    };
    let Some(round) = open_round(o).await? else {
        return Ok(());
    };
    if ready.round != round.round
        || ready.key_check != round.key_check
        || ready.key_check == Digest::from([0u8; 32])
        || !round.is_elected(sender)
    {
        return Ok(());
    }
    let mut confirmed = confirmed(o).await?;
    if confirmed.contains(sender) {
        return Ok(());
    }
    confirmed.push(sender.clone());
    if confirmed.len() < round.gatekeepers.len() {
        o.put(keys::confirmed(), &confirmed);
        return Ok(());
    }
    close_round(o, outbox, &round, height).await
}

/// Every gatekeeper of `round` confirmed: they become the key holders (announced, so that
/// earlier ones outside the round wipe the key), and the network launches if it had not.
async fn close_round<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    round: &Election,
    height: Height,
) -> Result<(), StateError> {
    let holders = key_holders_of(o, round.gatekeepers.iter()).await?;
    let gatekeepers: Vec<AccountId> = round.workers().cloned().collect();
    o.put(keys::key_holders(), &holders);
    o.put(keys::closed_round(), &round.round);
    o.put(keys::confirmed(), &gatekeepers);
    let handover = Handover {
        round: round.round,
        gatekeepers: gatekeepers.clone(),
    };
    mq::emit(
        o,
        outbox,
        Origin::Chain,
        Destination::Topic(HANDOVER_TOPIC.to_vec()),
        handover.encode().to_vec(),
    )
    .await?;
    if phase(o).await? == Phase::Prelaunch {
        o.put(keys::phase(), &Phase::Launched { height, era: 0 });
        let launch = Launch {
            round: round.round,
            era: 0,
            gatekeepers,
        };
        mq::emit(
            o,
            outbox,
            Origin::Chain,
            Destination::Topic(LAUNCH_TOPIC.to_vec()),
            launch.encode().to_vec(),
        )
        .await?;
    }
    Ok(())
}

/// Key-holder entries for elected gatekeepers, with what the registry says of them now.
async fn key_holders_of<'a, S: StateRead>(
    o: &Overlay<'_, S>,
    gatekeepers: impl Iterator<Item = &'a Elected>,
) -> Result<Vec<KeyHolder>, StateError> {
    let mut holders = Vec::new();
    for g in gatekeepers {
        let entry = registry::worker(o, &g.worker).await?;
        holders.push(KeyHolder {
            worker: g.worker.clone(),
            ecdh_key: g.ecdh_key,
            endpoint: entry
                .as_ref()
                .map(|w| w.endpoint.clone())
                .unwrap_or_default(),
            tee: entry.map(|w| w.tee),
        });
    }
    Ok(holders)
}

/// Closes the open round if its deadline has come: the gatekeepers that did not confirm lose
/// `slash_ppm` of their backer's bond and their candidacy, unless none confirmed (then no key
/// holder may have been reachable, and nobody is at fault). After launch, the gatekeepers that
/// did confirm join the key holders: they proved they hold the key, and if every earlier
/// holder was slashed they are the only ones left who do. Returns whether it expired a round
/// (the caller then elects again at once).
pub(crate) async fn expire_round<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    height: Height,
    p: &StakingParams,
) -> Result<bool, StateError> {
    let Some(round) = open_round(o).await? else {
        return Ok(false);
    };
    if height < round.deadline {
        return Ok(false);
    }
    let confirmed = confirmed(o).await?;
    if confirmed.is_empty() {
        // Nobody got the key: the holders may have been unreachable, which is no gatekeeper's
        // fault. The round fails without slashing and the chain elects again.
        o.put(keys::closed_round(), &round.round);
        return Ok(true);
    }
    let backers = round_backers(o).await?;
    for (worker, backer) in &backers {
        if confirmed.contains(worker) {
            continue;
        }
        // Chilling, unbonding or nominating others after the election does not escape the
        // slash: it falls on the stake exposed at the election.
        let amount = staking::slash_gatekeeper(o, worker, backer, p.slash_ppm).await?;
        liveness::add_to_pool(o, amount).await?;
        if o.read::<AccountId>(&keys::staking_backer(worker))
            .await?
            .as_ref()
            == Some(backer)
        {
            staking::drop_candidate(o, backer, worker).await?;
        }
        // A slashed gatekeeper that held the key from an earlier round holds it no more.
        if let Some(mut held) = o
            .read_cfg::<Vec<KeyHolder>>(&keys::key_holders(), &holders_cfg())
            .await?
            && held.iter().any(|h| &h.worker == worker)
        {
            held.retain(|h| &h.worker != worker);
            o.put(keys::key_holders(), &held);
        }
        let slashed = Slashed {
            round: round.round,
            worker: worker.clone(),
            backer: backer.clone(),
            amount,
        };
        mq::emit(
            o,
            outbox,
            Origin::Chain,
            Destination::Topic(SLASH_TOPIC.to_vec()),
            slashed.encode().to_vec(),
        )
        .await?;
    }
    // Before launch the key holders are the genesis node (no list): a confirmed gatekeeper
    // becomes one when its round closes.
    if let Some(mut held) = o
        .read_cfg::<Vec<KeyHolder>>(&keys::key_holders(), &holders_cfg())
        .await?
    {
        let joining = round.gatekeepers.iter().filter(|g| {
            confirmed.contains(&g.worker) && !held.iter().any(|h| h.worker == g.worker)
        });
        let mut joining = key_holders_of(o, joining).await?;
        // The list is bounded like an election's: those who just proved the key come first.
        joining.append(&mut held);
        joining.truncate(MAX_GATEKEEPERS as usize);
        o.put(keys::key_holders(), &joining);
    }
    o.put(keys::closed_round(), &round.round);
    Ok(true)
}
