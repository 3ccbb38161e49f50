//! The worker registry: who may run pRuntime for this chain.
//!
//! A worker registers with attestation evidence, checked at block time against the trust anchors
//! fixed at genesis (the dev RA key, if insecure attestation is allowed, and the DCAP root) and
//! the policy governance sets ([RegistryParams]). An entry lasts `registration_blocks`; workers
//! renew by registering again. The chain tells a worker about its registration through `mq`
//! ([RegistryEvent]), so pRuntime learns it from verified blocks rather than from its host.
//!
//! Entries are indexed (`registry/index/i`) so a policy change can walk them and deregister the
//! workers whose code is no longer allowlisted, and queued by expiry height so lapsed entries
//! leave state at the first block past their expiry.
//!
//! A registered worker speaks through signed egress ([SignedWorkerMessage]): this module checks
//! the signature and the sequence, then hands the message to `mq` for routing.

use veil_attestation::{TrustAnchors, report_data};
use veil_primitives::{
    AccountId, ChainIdentity, CodeIdentity, DeregistrationReason, Destination, Digest, Encode as _,
    Height, KeyHolder, Message, Origin, Registration, RegistryEvent, RegistryParams,
    SignedWorkerMessage, WorkerInfo, hash_parts, holders_cfg, to_hex,
};

pub use crate::error::RegistrationError;
use crate::{
    error::{ExecError, StateError, TxError},
    index::AccountSet,
    keys, mq,
    overlay::{Overlay, StateRead},
    system::BlockEnv,
};

/// The registration policy (defaults before genesis sets one).
pub async fn params<S: StateRead>(o: &Overlay<'_, S>) -> Result<RegistryParams, StateError> {
    Ok(o.read(&keys::registry_params()).await?.unwrap_or_default())
}

/// A worker's entry.
pub async fn worker<S: StateRead>(
    o: &Overlay<'_, S>,
    worker: &AccountId,
) -> Result<Option<WorkerInfo>, StateError> {
    o.read(&veil_primitives::worker_key(worker)).await
}

/// Registered workers.
pub const WORKERS: AccountSet = AccountSet::new(b"registry/workers");

/// Number of registered workers.
pub async fn count<S: StateRead>(o: &Overlay<'_, S>) -> Result<u64, StateError> {
    WORKERS.count(o).await
}

/// The registered worker at index `i` (`0..count`).
pub async fn worker_at<S: StateRead>(
    o: &Overlay<'_, S>,
    i: u64,
) -> Result<Option<AccountId>, StateError> {
    WORKERS.at(o, i).await
}

/// The cheap half of [check]: everything but the evidence (operator, endpoint, worker
/// signature, freshness, ownership). The mempool runs only this, so a registration whose
/// evidence fails still pays its fee in a block: verifying evidence costs about a millisecond
/// and must not be free to ask for. Returns the hash of the attested block.
pub async fn check_claims<S: StateRead>(
    o: &Overlay<'_, S>,
    env: &BlockEnv,
    sender: &AccountId,
    reg: &Registration,
) -> Result<Digest, ExecError> {
    let policy = params(o).await?;
    let refuse = |e: RegistrationError| Err(ExecError::from(e));

    if &reg.operator != sender {
        return refuse(RegistrationError::OperatorMismatch {
            signed: to_hex(&reg.operator),
        });
    }
    if reg.endpoint.is_empty() {
        return refuse(RegistrationError::EmptyEndpoint);
    }
    if !reg.verify_signature(&env.chain) {
        return refuse(RegistrationError::BadWorkerSignature);
    }
    if reg.attested_height >= env.height {
        return refuse(RegistrationError::FutureBlock {
            attested: reg.attested_height,
            height: env.height,
        });
    }
    if env.height - reg.attested_height > policy.freshness_blocks {
        return refuse(RegistrationError::Stale {
            attested: reg.attested_height,
            height: env.height,
            max_age: policy.freshness_blocks,
        });
    }
    // The parent is in `env` (the mempool checks before the block records it in state).
    let recorded = if reg.attested_height + 1 == env.height {
        Some(env.parent)
    } else {
        o.read::<Digest>(&keys::block_hash(reg.attested_height))
            .await?
    };
    let Some(block_hash) = recorded else {
        // Pruned: only possible if freshness exceeds what the chain keeps, which params forbid.
        return refuse(RegistrationError::Stale {
            attested: reg.attested_height,
            height: env.height,
            max_age: policy.freshness_blocks,
        });
    };
    if let Some(existing) = worker(o, &reg.worker).await?
        && &existing.operator != sender
    {
        return refuse(RegistrationError::OwnedByOther);
    }
    Ok(block_hash)
}

/// Checks a registration submitted by `sender` for the block `env`, without writing anything.
/// Returns the entry it would store.
pub async fn check<S: StateRead>(
    o: &Overlay<'_, S>,
    env: &BlockEnv,
    sender: &AccountId,
    reg: &Registration,
) -> Result<WorkerInfo, ExecError> {
    let block_hash = check_claims(o, env, sender, reg).await?;
    let policy = params(o).await?;
    let dev_key: Option<AccountId> = o.read(&keys::dev_attestation_key()).await?;
    let dcap_root = o.get(&keys::dcap_root()).await?;
    let anchors = TrustAnchors {
        dev_key: dev_key.as_ref(),
        dcap_root: dcap_root.as_deref(),
    };
    let expected = report_data(
        reg.worker.as_ref(),
        &reg.ecdh_key,
        &env.chain.genesis_hash,
        &block_hash,
    );
    let verified = admit(
        &policy,
        anchors,
        (&reg.evidence, &reg.collateral),
        env.timestamp / 1000,
        &expected,
    )?;
    Ok(WorkerInfo {
        ecdh_key: reg.ecdh_key,
        tee: verified.kind,
        measurement: verified.measurement,
        signer: verified.signer,
        prod_id: verified.prod_id,
        svn: verified.svn,
        tcb_status: verified.tcb_status,
        advisory_ids: verified.advisory_ids,
        tcb_evaluation: verified.tcb_evaluation,
        insecure: verified.kind.insecure(),
        endpoint: reg.endpoint.clone(),
        operator: sender.clone(),
        registered_at: env.height,
        expiry: env.height.saturating_add(policy.registration_blocks),
    })
}

/// Checks `evidence` (with its collateral) against the trust anchors and `policy` at
/// `now_secs`: vouched for, carrying `expected` report data, no debug enclave, TCB status,
/// advisories and TCB evaluation accepted (DCAP), and code on the allowlist. Shared by registrations and the
/// genesis node's attestation.
pub fn admit(
    policy: &RegistryParams,
    anchors: TrustAnchors<'_>,
    (evidence, collateral): (&[u8], &[u8]),
    now_secs: u64,
    expected: &[u8; 64],
) -> Result<veil_attestation::Verified, RegistrationError> {
    let verified = veil_attestation::verify(evidence, collateral, anchors, now_secs)?;
    if &verified.report_data != expected {
        return Err(RegistrationError::ReportDataMismatch);
    }
    if verified.debug {
        return Err(RegistrationError::DebugEnclave);
    }
    if !verified.kind.insecure() {
        if !policy.tcb_statuses.contains(&verified.tcb_status) {
            return Err(RegistrationError::TcbStatus(verified.tcb_status));
        }
        if let Some(a) = verified
            .advisory_ids
            .iter()
            .find(|a| !policy.advisories.contains(a))
        {
            return Err(RegistrationError::Advisory(a.clone()));
        }
        if verified.tcb_evaluation < policy.min_tcb_evaluation {
            return Err(RegistrationError::TcbEvaluation {
                got: verified.tcb_evaluation,
                min: policy.min_tcb_evaluation,
            });
        }
    }
    let code = CodeIdentity {
        tee: verified.kind,
        measurement: &verified.measurement,
        signer: &verified.signer,
        prod_id: verified.prod_id,
        svn: verified.svn,
    };
    if !policy.allowlist.iter().any(|m| m.allows(&code)) {
        return Err(RegistrationError::NotAllowlisted(to_hex(
            &verified.measurement,
        )));
    }
    Ok(verified)
}

/// Registers (or renews) a worker. A new identity at the operator's endpoint replaces the old.
pub(crate) async fn register<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    sender: &AccountId,
    reg: &Registration,
) -> Result<(), ExecError> {
    let info = check(o, env, sender, reg).await?;
    let slot = keys::registry_slot(&slot_id(&info.operator, &info.endpoint));
    if let Some(previous) = o.read::<AccountId>(&slot).await?
        && previous != reg.worker
    {
        // Only an entry of this operator at this endpoint is replaced.
        let theirs = worker(o, &previous).await?;
        if theirs.is_some_and(|p| p.operator == info.operator && p.endpoint == info.endpoint) {
            remove(o, outbox, &previous, DeregistrationReason::Replaced).await?;
        }
    }
    let previous = worker(o, &reg.worker).await?;
    count_insecure(
        o,
        previous.as_ref().is_some_and(|e| e.insecure),
        info.insecure,
    )
    .await?;
    match previous {
        None => {
            WORKERS.insert(o, &reg.worker).await?;
        }
        // A renewal at a new endpoint frees the old one.
        Some(old) if old.endpoint != info.endpoint => {
            let old_slot = keys::registry_slot(&slot_id(&old.operator, &old.endpoint));
            if o.read::<AccountId>(&old_slot).await?.as_ref() == Some(&reg.worker) {
                o.remove(old_slot);
            }
        }
        Some(_) => {}
    }
    o.put(slot, &reg.worker);
    let queued = o
        .read(&keys::expiring_count(info.expiry))
        .await?
        .unwrap_or(0u64);
    o.put(keys::expiring_at(info.expiry, queued), &reg.worker);
    o.put(keys::expiring_count(info.expiry), &(queued + 1));
    let heartbeat_blocks = params(o).await?.heartbeat_blocks;
    let event = RegistryEvent::Registered {
        expiry: info.expiry,
        heartbeat_blocks,
    };
    o.put(veil_primitives::worker_key(&reg.worker), &info);
    notify(o, outbox, &reg.worker, event).await?;
    Ok(())
}

/// Removes the entries that expire at `height`. Runs at the start of every block.
pub(crate) async fn expire<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    height: Height,
) -> Result<(), StateError> {
    let n: u64 = o.read(&keys::expiring_count(height)).await?.unwrap_or(0);
    for i in 0..n {
        let key = keys::expiring_at(height, i);
        if let Some(w) = o.read::<AccountId>(&key).await? {
            // Renewed entries moved their expiry; only remove those still due now.
            if worker(o, &w).await?.is_some_and(|e| e.expiry == height) {
                remove(o, outbox, &w, DeregistrationReason::Expired).await?;
            }
        }
        o.remove(key);
    }
    if n > 0 {
        o.remove(keys::expiring_count(height));
    }
    Ok(())
}

/// Replaces the policy and deregisters workers whose code or platform it no longer allows.
///
/// A policy that would deregister every key holder is refused: each holder's pRuntime wipes
/// the root key on deregistration, so the network would lose it (after a TCB recovery, a
/// holder renews with current collateral first, then governance raises the bar).
pub(crate) async fn set_params<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    new: &RegistryParams,
) -> Result<(), ExecError> {
    new.validate().map_err(TxError::InvalidParams)?;
    let mut revoked = Vec::new();
    for w in WORKERS.members(o).await? {
        if let Some(e) = worker(o, &w).await?
            && !still_admitted(new, &e)
        {
            revoked.push(w);
        }
    }
    if let Some(held) = o
        .read_cfg::<Vec<KeyHolder>>(&keys::key_holders(), &holders_cfg())
        .await?
    {
        let mut registered = Vec::with_capacity(held.len());
        for h in held {
            if worker(o, &h.worker).await?.is_some() {
                registered.push(h.worker);
            }
        }
        if !registered.is_empty() && registered.iter().all(|w| revoked.contains(w)) {
            let names: Vec<String> = registered.iter().map(to_hex).collect();
            return Err(TxError::RevokesEveryKeyHolder(names.join(", ")).into());
        }
    }
    o.put(keys::registry_params(), new);
    for w in revoked {
        remove(o, outbox, &w, DeregistrationReason::Revoked).await?;
    }
    Ok(())
}

/// Whether a registered worker still passes the policy's code and platform rules.
fn still_admitted(policy: &RegistryParams, e: &WorkerInfo) -> bool {
    let code = e.code();
    if !policy.allowlist.iter().any(|m| m.allows(&code)) {
        return false;
    }
    e.insecure
        || (policy.tcb_statuses.contains(&e.tcb_status)
            && e.advisory_ids.iter().all(|a| policy.advisories.contains(a))
            && e.tcb_evaluation >= policy.min_tcb_evaluation)
}

async fn remove<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    w: &AccountId,
    reason: DeregistrationReason,
) -> Result<(), StateError> {
    let Some(info) = worker(o, w).await? else {
        return Ok(());
    };
    o.remove(veil_primitives::worker_key(w));
    let slot = keys::registry_slot(&slot_id(&info.operator, &info.endpoint));
    if o.read::<AccountId>(&slot).await?.as_ref() == Some(w) {
        o.remove(slot);
    }
    WORKERS.remove(o, w).await?;
    count_insecure(o, info.insecure, false).await?;
    notify(o, outbox, w, RegistryEvent::Deregistered { reason }).await
}

/// Keeps [insecure_count] when a worker's entry goes from `was` to `is` insecure.
async fn count_insecure<S: StateRead>(
    o: &mut Overlay<'_, S>,
    was: bool,
    is: bool,
) -> Result<(), StateError> {
    if was == is {
        return Ok(());
    }
    let n = insecure_count(o).await?;
    let n = if is { n + 1 } else { n.saturating_sub(1) };
    o.put(keys::insecure_workers(), &n);
    Ok(())
}

/// How many registered workers hold dev (insecure) attestation.
pub async fn insecure_count<S: StateRead>(o: &Overlay<'_, S>) -> Result<u64, StateError> {
    Ok(o.read(&keys::insecure_workers()).await?.unwrap_or(0))
}

/// Whether genesis lets workers with dev attestation stand as gatekeepers.
pub async fn insecure_gatekeepers_allowed<S: StateRead>(
    o: &Overlay<'_, S>,
) -> Result<bool, StateError> {
    Ok(o.get(&keys::insecure_gatekeepers()).await?.is_some())
}

async fn notify<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    w: &AccountId,
    event: RegistryEvent,
) -> Result<(), StateError> {
    mq::emit(
        o,
        outbox,
        Origin::Chain,
        Destination::Worker(w.clone()),
        event.encode().to_vec(),
    )
    .await
}

fn slot_id(operator: &AccountId, endpoint: &str) -> Digest {
    hash_parts(&[operator.as_ref(), endpoint.as_bytes()])
}

/// Checks a worker's signed message: the sender is registered, signed it for this chain, and
/// numbered it `next` (the returned value) or, when `exact` is false, later.
pub async fn check_worker_message<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    signed: &SignedWorkerMessage,
    exact: bool,
) -> Result<u64, ExecError> {
    let m = &signed.message;
    if worker(o, &m.sender).await?.is_none() {
        return Err(TxError::UnknownWorker(to_hex(&m.sender)).into());
    }
    if !signed.verify(chain) {
        return Err(TxError::BadWorkerSignature.into());
    }
    let expected = mq::next_sequence(o, &Origin::Worker(m.sender.clone())).await?;
    if m.sequence < expected {
        return Err(TxError::SequenceReplayed {
            expected,
            got: m.sequence,
        }
        .into());
    }
    if exact && m.sequence > expected {
        return Err(TxError::SequenceGap {
            expected,
            got: m.sequence,
        }
        .into());
    }
    Ok(expected)
}

/// Routes a registered worker's signed message, which must carry exactly its next sequence.
/// What the message means to the chain (a readiness confirmation, a heartbeat) is for the
/// caller to dispatch by topic.
pub(crate) async fn relay_worker_message<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    chain: &ChainIdentity,
    signed: &SignedWorkerMessage,
    max_payload: usize,
) -> Result<(), ExecError> {
    check_worker_message(o, chain, signed, true).await?;
    let m = &signed.message;
    mq::send(
        o,
        outbox,
        Origin::Worker(m.sender.clone()),
        m.destination.clone(),
        m.payload.clone(),
        max_payload,
    )
    .await
}
