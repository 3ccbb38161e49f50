//! Launch of the network and the gatekeepers' shared egress stream.
//!
//! Before launch the genesis node holds the root key. Each election round names its key
//! holders (the genesis node, then the gatekeepers of the last fully confirmed round). The
//! elected gatekeepers fetch the key from a holder over a Noise channel between pRuntimes and
//! confirm with a signed [Ready] worker message carrying the key's check. When every gatekeeper
//! of a round has confirmed, the round closes: its gatekeepers become the key holders and, the
//! first time, the chain launches and announces it on [LAUNCH_TOPIC]. A round that is not fully
//! confirmed by its deadline expires: [crate::staking] slashes the silent gatekeepers through
//! [expire_round] and elects again.
//!
//! Gatekeepers then speak as one sender, [Origin::Gatekeepers]: every gatekeeper signs the same
//! message for a sequence, the first copy is routed, identical copies are dropped and a copy
//! that differs is recorded as a [Divergence].

use commonware_codec::{DecodeExt as _, Encode as _, RangeCfg};
use veil_primitives::{
    AccountId, ChainIdentity, DIVERGENCE_TOPIC, Destination, Digest, Divergence, Election,
    GATEKEEPER_STATE_TOPIC, GenesisWorker, Height, KeyHolder, LAUNCH_TOPIC, Launch,
    MAX_GATEKEEPER_STATE_BYTES, MAX_GATEKEEPERS, Message, Origin, Phase, READY_TOPIC, Ready,
    SLASH_TOPIC, SignedGatekeeperMessage, Slashed, StakingParams, holders_cfg, to_hex,
};

use crate::{
    StateError, StateRead, TxError, execute::ExecError, keys, mq, overlay::Overlay, registry,
    staking,
};

/// How many routed gatekeeper messages the chain remembers, to tell duplicates from
/// divergences.
pub const ROUTED_WINDOW: u64 = 1024;

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

/// The pRuntimes that hold the root key: the gatekeepers of the last fully confirmed round, or
/// the genesis node before any round was.
pub async fn holders<S: StateRead>(o: &Overlay<'_, S>) -> Result<Vec<KeyHolder>, StateError> {
    if let Some(h) = o.read_cfg(&keys::key_holders(), &holders_cfg()).await? {
        return Ok(h);
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

/// The latest election, if it is still waiting for confirmations.
pub async fn open_round<S: StateRead>(o: &Overlay<'_, S>) -> Result<Option<Election>, StateError> {
    let Some(e) = staking::election(o).await? else {
        return Ok(None);
    };
    Ok((e.round > closed_round(o).await?).then_some(e))
}

/// The latest encrypted gatekeeper state checkpoint.
pub async fn state_checkpoint<S: StateRead>(
    o: &Overlay<'_, S>,
) -> Result<Option<Vec<u8>>, StateError> {
    o.get(&keys::gatekeeper_state()).await
}

/// How many divergences the chain recorded.
pub async fn divergences<S: StateRead>(o: &Overlay<'_, S>) -> Result<u64, StateError> {
    Ok(o.read(&keys::divergences()).await?.unwrap_or(0))
}

/// A new round was elected: it starts with no confirmations, and one without gatekeepers
/// closes at once (there is nobody to hand the key to). `backers` are the gatekeepers'
/// backers, in order.
pub(crate) async fn on_election<S: StateRead>(
    o: &mut Overlay<'_, S>,
    election: &Election,
    backers: &[AccountId],
) -> Result<(), StateError> {
    o.remove(keys::confirmed());
    o.put(keys::round_backers(), &backers.to_vec());
    if election.gatekeepers.is_empty() {
        o.put(keys::closed_round(), &election.round);
    }
    Ok(())
}

/// Counts a readiness confirmation routed from `sender`; closes the round, and launches the
/// network, once every gatekeeper of the round confirmed.
///
/// The worker message itself is always routed (its sequence is spent either way); a
/// confirmation for another round, from a worker that was not elected, or with another key
/// check simply does not count.
pub(crate) async fn on_worker_message<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    sender: &AccountId,
    destination: &Destination,
    payload: &[u8],
    height: Height,
) -> Result<(), StateError> {
    if !matches!(destination, Destination::Topic(t) if t == READY_TOPIC) {
        return Ok(());
    }
    let Ok(ready) = Ready::decode(payload.to_vec()) else {
        return Ok(());
    };
    let Some(round) = open_round(o).await? else {
        return Ok(());
    };
    if ready.round != round.round
        || ready.key_check != round.key_check
        || ready.key_check == Digest::from([0u8; 32])
        || !round.gatekeepers.contains(sender)
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

/// Every gatekeeper of `round` confirmed: they become the key holders, and the network
/// launches if it had not.
async fn close_round<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    round: &Election,
    height: Height,
) -> Result<(), StateError> {
    let mut holders = Vec::with_capacity(round.gatekeepers.len());
    for (worker, ecdh_key) in round.gatekeepers.iter().zip(&round.ecdh_keys) {
        let endpoint = registry::worker(o, worker)
            .await?
            .map(|w| w.endpoint)
            .unwrap_or_default();
        holders.push(KeyHolder {
            worker: worker.clone(),
            ecdh_key: *ecdh_key,
            endpoint,
        });
    }
    o.put(keys::key_holders(), &holders);
    o.put(keys::closed_round(), &round.round);
    o.put(keys::confirmed(), &round.gatekeepers);
    if phase(o).await? == Phase::Prelaunch {
        o.put(keys::phase(), &Phase::Launched { height, era: 0 });
        let launch = Launch {
            round: round.round,
            era: 0,
            gatekeepers: round.gatekeepers.clone(),
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

/// Closes the open round if its deadline has come: the gatekeepers that did not confirm lose
/// `slash_ppm` of their backer's bond and their candidacy. Returns whether it expired a round
/// (the caller then elects again).
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
    let backers: Vec<AccountId> = o
        .read_cfg(
            &keys::round_backers(),
            &(RangeCfg::new(0..=MAX_GATEKEEPERS as usize), ()),
        )
        .await?
        .unwrap_or_default();
    for (worker, backer) in round.gatekeepers.iter().zip(backers) {
        if confirmed.contains(worker) {
            continue;
        }
        // Chilling or unbonding after the election does not escape the slash.
        let amount = staking::slash(o, &backer, p.slash_ppm).await?;
        if o.read::<AccountId>(&keys::staking_backer(worker))
            .await?
            .as_ref()
            == Some(&backer)
        {
            staking::drop_candidate(o, &backer, worker).await?;
        }
        let slashed = Slashed {
            round: round.round,
            worker: worker.clone(),
            backer,
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
    o.put(keys::closed_round(), &round.round);
    Ok(true)
}

/// Largest payload of a gatekeeper message to `destination`: state checkpoints may be larger
/// than ordinary messages.
pub fn max_payload(destination: &Destination, params: &veil_primitives::Params) -> usize {
    let ordinary = params.max_message_bytes as usize;
    match destination {
        Destination::Topic(t) if t == GATEKEEPER_STATE_TOPIC => {
            ordinary.max(MAX_GATEKEEPER_STATE_BYTES)
        }
        _ => ordinary,
    }
}

/// What a gatekeeper message would do.
#[derive(Debug, PartialEq, Eq)]
pub enum Copy {
    /// It carries the stream's next sequence: it is routed.
    First,
    /// An identical copy was routed: dropped.
    Duplicate,
    /// A different copy was routed (its content hash): a divergence.
    Diverges(Digest),
}

/// Checks a gatekeeper's copy of a message: signed by an elected gatekeeper or a key holder,
/// for this chain, at or below the stream's next sequence.
pub async fn check_gatekeeper_message<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    signed: &SignedGatekeeperMessage,
) -> Result<Result<Copy, TxError>, StateError> {
    let m = &signed.message;
    let elected = staking::election(o)
        .await?
        .is_some_and(|e| e.gatekeepers.contains(&m.signer));
    if !elected && !holders(o).await?.iter().any(|h| h.worker == m.signer) {
        return Ok(Err(TxError::NotGatekeeper(to_hex(&m.signer))));
    }
    if !signed.verify(chain) {
        return Ok(Err(TxError::BadGatekeeperSignature));
    }
    let expected = mq::next_sequence(o, &Origin::Gatekeepers).await?;
    if m.sequence > expected {
        return Ok(Err(TxError::SequenceGap {
            expected,
            got: m.sequence,
        }));
    }
    if m.sequence == expected {
        return Ok(Ok(Copy::First));
    }
    match o
        .read::<Digest>(&keys::gatekeeper_routed(m.sequence))
        .await?
    {
        Some(d) if d == m.content_hash() => Ok(Ok(Copy::Duplicate)),
        Some(d) => Ok(Ok(Copy::Diverges(d))),
        None => Ok(Err(TxError::SequenceReplayed {
            expected,
            got: m.sequence,
        })),
    }
}

/// Routes the first copy of a gatekeeper message (of at most `max_payload` bytes, see
/// [max_payload]), drops duplicates and records divergences. A state checkpoint is also kept
/// in chain state, where recovering gatekeepers read it.
pub(crate) async fn relay<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    chain: &ChainIdentity,
    signed: &SignedGatekeeperMessage,
    max_payload: usize,
) -> Result<(), ExecError> {
    let m = &signed.message;
    match check_gatekeeper_message(o, chain, signed).await?? {
        Copy::First => {
            let is_state =
                matches!(&m.destination, Destination::Topic(t) if t == GATEKEEPER_STATE_TOPIC);
            let max = if is_state {
                MAX_GATEKEEPER_STATE_BYTES.max(max_payload)
            } else {
                max_payload
            };
            mq::send(
                o,
                outbox,
                Origin::Gatekeepers,
                m.destination.clone(),
                m.payload.clone(),
                max,
            )
            .await?;
            o.put(keys::gatekeeper_routed(m.sequence), &m.content_hash());
            if m.sequence >= ROUTED_WINDOW {
                o.remove(keys::gatekeeper_routed(m.sequence - ROUTED_WINDOW));
            }
            if is_state {
                o.set(keys::gatekeeper_state(), m.payload.clone());
            }
            Ok(())
        }
        Copy::Duplicate => Ok(()),
        Copy::Diverges(routed) => {
            let count = divergences(o).await?;
            o.put(keys::divergences(), &(count + 1));
            let record = Divergence {
                sequence: m.sequence,
                routed,
                other: m.content_hash(),
                signer: m.signer.clone(),
            };
            Ok(mq::emit(
                o,
                outbox,
                Origin::Chain,
                Destination::Topic(DIVERGENCE_TOPIC.to_vec()),
                record.encode().to_vec(),
            )
            .await?)
        }
    }
}
