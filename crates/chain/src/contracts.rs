//! Contracts: code uploads, instances, miner assignments, contract keys and encrypted commands.
//!
//! The chain never sees a contract's inputs, state or outputs. It keeps the public parts: code
//! (checked against the VM's deploy policy once its last chunk arrives), which miner runs each
//! contract, the contract's public key once the gatekeepers publish it, and the order of
//! commands. A command is routed to its contract as a message from the sender's account; the
//! contract's miner decrypts and runs it. Its fee depends only on its bucketed size and the fuel
//! it reserves, never on what it does. Everything here is refused before the launch.
//!
//! Every message routed to or from a contract is folded into its log ([ContractLog]); its
//! miner posts encrypted checkpoints of its state, and the chain keeps the latest complete one.
//! A contract moves to another miner when its developer or governance asks, when its miner is
//! judged unresponsive, or when its log ran ahead of its checkpoints for too long ([on_era]);
//! the event names the log position and checkpoint the new miner recovers from.

use commonware_codec::{DecodeExt as _, Encode as _};
use veil_primitives::{
    AccountId, ChainIdentity, Destination, Digest, Election, Message, Origin, Phase, Transaction,
    contract::{
        CODE_CHUNK_BYTES, CONTRACTS_TOPIC, Channel, CheckpointChunk, CheckpointInfo,
        CheckpointUpload, CodeInfo, CommandMessage, ContractCall, ContractEgress, ContractEvent,
        ContractGrant, ContractInfo, ContractKey, ContractLog, ContractParams, ContractReply,
        MAX_CHECKPOINT_BYTES, MAX_CODE_BYTES, MinerPolicy, Reassignment, SignedCheckpointChunk,
        SignedContractEgress, contract_id, in_log, is_bucket,
    },
    hash_parts, to_hex,
};

use crate::{
    error::{ContractError, ExecError, StateError, TxError},
    gatekeeper, governance, keys, liveness, mq,
    overlay::{Overlay, StateRead},
    registry,
    system::BlockEnv,
};

/// The contract parameters (defaults unless genesis set them).
pub async fn params<S: StateRead>(o: &Overlay<'_, S>) -> Result<ContractParams, StateError> {
    Ok(o.read(&keys::contract_params()).await?.unwrap_or_default())
}

/// Sets the contract parameters (genesis or governance).
pub(crate) fn set_params<S: StateRead>(
    o: &mut Overlay<'_, S>,
    p: &ContractParams,
) -> Result<(), ExecError> {
    p.validate().map_err(TxError::InvalidParams)?;
    o.put(keys::contract_params(), p);
    Ok(())
}

/// Valid code's record.
pub async fn code<S: StateRead>(
    o: &Overlay<'_, S>,
    hash: &Digest,
) -> Result<Option<CodeInfo>, StateError> {
    o.read(&keys::code(hash)).await
}

/// A contract instance.
pub async fn contract<S: StateRead>(
    o: &Overlay<'_, S>,
    id: &Digest,
) -> Result<Option<ContractInfo>, StateError> {
    o.read(&keys::contract(id)).await
}

/// A contract that must exist for the call to go on.
async fn existing<S: StateRead>(
    o: &Overlay<'_, S>,
    id: &Digest,
) -> Result<ContractInfo, ExecError> {
    Ok(contract(o, id)
        .await?
        .ok_or_else(|| ContractError::UnknownContract(to_hex(id)))?)
}

/// A valid module's bytes, reassembled from its chunks.
pub async fn code_bytes<S: StateRead>(
    o: &Overlay<'_, S>,
    hash: &Digest,
) -> Result<Option<Vec<u8>>, StateError> {
    let Some(info) = code(o, hash).await? else {
        return Ok(None);
    };
    assemble(o, hash, &info).await.map(Some)
}

/// An upload in progress by `uploader`.
pub async fn upload_in_progress<S: StateRead>(
    o: &Overlay<'_, S>,
    uploader: &AccountId,
    hash: &Digest,
) -> Result<Option<CodeInfo>, StateError> {
    o.read(&keys::code_upload(uploader, hash)).await
}

async fn assemble<S: StateRead>(
    o: &Overlay<'_, S>,
    hash: &Digest,
    info: &CodeInfo,
) -> Result<Vec<u8>, StateError> {
    let mut bytes = Vec::with_capacity(info.size as usize);
    for index in 0..info.chunks() {
        let key = keys::code_chunk(&info.uploader, hash, index);
        let chunk = o.get(&key).await?.ok_or_else(|| StateError::Corrupt {
            key: to_hex(key),
            reason: format!("chunk {index} of valid code is missing"),
        })?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn launched<S: StateRead>(o: &Overlay<'_, S>) -> Result<(), ExecError> {
    if gatekeeper::phase(o).await? == Phase::Prelaunch {
        return Err(TxError::NotLaunched.into());
    }
    Ok(())
}

/// The miner's registered X25519 key, which the gatekeepers seal the contract key to.
async fn registered_miner<S: StateRead>(
    o: &Overlay<'_, S>,
    miner: &AccountId,
) -> Result<[u8; 32], ExecError> {
    match registry::worker(o, miner).await? {
        Some(info) => Ok(info.ecdh_key),
        None => Err(ContractError::UnknownMiner(to_hex(miner)).into()),
    }
}

/// Refuses a gatekeeper of the latest election as a developer's miner: it holds the root key,
/// and a developer's code in its enclave is one side channel away from it.
async fn not_a_gatekeeper<S: StateRead>(
    o: &Overlay<'_, S>,
    worker: &AccountId,
) -> Result<(), ExecError> {
    let elected = o
        .read::<Election>(&keys::election())
        .await?
        .is_some_and(|e| e.gatekeepers.iter().any(|g| &g.worker == worker));
    if elected {
        return Err(ContractError::GatekeeperMiner(to_hex(worker)).into());
    }
    Ok(())
}

/// A miner's policy: which developers' contracts it takes.
pub async fn miner_policy<S: StateRead>(
    o: &Overlay<'_, S>,
    miner: &AccountId,
) -> Result<MinerPolicy, StateError> {
    Ok(o.read(&keys::miner_policy(miner))
        .await?
        .unwrap_or_default())
}

/// Refuses `miner` for a contract of `developer` unless its operator's policy takes it.
async fn admitted<S: StateRead>(
    o: &Overlay<'_, S>,
    miner: &AccountId,
    developer: &AccountId,
) -> Result<(), ExecError> {
    if !miner_policy(o, miner).await?.admits(developer) {
        return Err(ContractError::MinerRefuses {
            miner: to_hex(miner),
            developer: to_hex(developer),
        }
        .into());
    }
    Ok(())
}

/// A (source, destination) channel of messages (empty until its first message).
pub async fn channel<S: StateRead>(
    o: &Overlay<'_, S>,
    source: &Digest,
    destination: &Digest,
) -> Result<Channel, StateError> {
    Ok(o.read(&keys::channel(source, destination))
        .await?
        .unwrap_or_default())
}

/// The checks that need no writes, shared by the mempool and the block: launched, sizes,
/// buckets, fuel, existence. A command also needs its contract's key; a posted message, its
/// miner's signature and its channel's sequence (exactly the next in a block, not behind it in
/// the pool). `exact` is for a block: the sequence must be the next, not merely unused.
pub async fn check<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    tx: &Transaction,
    call: &ContractCall,
    exact: bool,
) -> Result<(), ExecError> {
    launched(o).await?;
    if let ContractCall::RevokeSession { .. } = call {
        return Ok(());
    }
    match call {
        ContractCall::UploadCode {
            hash,
            size,
            index,
            chunk,
        } => {
            if *size == 0 || *size > MAX_CODE_BYTES {
                return Err(ContractError::CodeTooLarge {
                    size: *size,
                    max: MAX_CODE_BYTES,
                }
                .into());
            }
            let chunks = size.div_ceil(CODE_CHUNK_BYTES as u32);
            // The index comes from the transaction: compared before any arithmetic on it.
            let expected = if *index >= chunks {
                0
            } else if *index == chunks - 1 {
                *size as usize - (chunks as usize - 1) * CODE_CHUNK_BYTES
            } else {
                CODE_CHUNK_BYTES
            };
            if *index >= chunks || chunk.len() != expected {
                return Err(ContractError::BadChunk {
                    index: *index,
                    chunks,
                    len: chunk.len(),
                    expected,
                }
                .into());
            }
            if code(o, hash).await?.is_some() {
                return Err(ContractError::CodeExists(to_hex(hash)).into());
            }
            if let Some(info) = upload_in_progress(o, &tx.sender, hash).await? {
                if info.size != *size {
                    return Err(ContractError::SizeMismatch {
                        hash: to_hex(hash),
                        expected: info.size,
                        got: *size,
                    }
                    .into());
                }
                if o.get(&keys::code_chunk(&tx.sender, hash, *index))
                    .await?
                    .is_some()
                {
                    return Err(ContractError::DuplicateChunk(*index).into());
                }
            }
        }
        ContractCall::Instantiate { code: hash, miner } => {
            if code(o, hash).await?.is_none() {
                return Err(ContractError::UnknownCode(to_hex(hash)).into());
            }
            registered_miner(o, miner).await?;
            not_a_gatekeeper(o, miner).await?;
            admitted(o, miner, &tx.sender).await?;
            let id = contract_id(&tx.sender, tx.nonce);
            if contract(o, &id).await?.is_some() {
                return Err(ContractError::ContractExists(to_hex(id)).into());
            }
        }
        ContractCall::Assign {
            contract: id,
            miner,
        } => {
            let info = existing(o, id).await?;
            let governance = governance::authorize(o, &tx.sender).await.is_ok();
            if info.developer != tx.sender && !governance {
                return Err(ContractError::NotDeveloper.into());
            }
            if &info.miner == miner {
                return Err(ContractError::SameMiner(to_hex(id)).into());
            }
            registered_miner(o, miner).await?;
            // Governance may (a last resort the chain's own moves never take); the next era
            // moves the contract off again if a miner can take it.
            if !governance {
                not_a_gatekeeper(o, miner).await?;
                admitted(o, miner, &info.developer).await?;
            }
        }
        ContractCall::SetMinerPolicy { miner, .. } => {
            let operator = registry::worker(o, miner).await?.map(|w| w.operator);
            if operator.as_ref() != Some(&tx.sender) {
                return Err(ContractError::NotTheOperator(to_hex(miner)).into());
            }
        }
        ContractCall::RevokeSession { .. } => {}
        ContractCall::Checkpoint(signed) => check_checkpoint(o, chain, signed).await?,
        ContractCall::Post(items) => {
            // In a block each is checked against the state its predecessors left ([apply]).
            if !exact {
                for signed in items {
                    check_post(o, chain, signed, false).await?;
                }
            }
        }
        ContractCall::Command {
            contract: id,
            fuel,
            envelope,
        } => {
            let max = params(o).await?.max_command_fuel;
            if *fuel == 0 || *fuel > max {
                return Err(ContractError::BadFuel { got: *fuel, max }.into());
            }
            if !is_bucket(envelope.ciphertext.len()) {
                return Err(ContractError::NotABucket(envelope.ciphertext.len()).into());
            }
            let info = existing(o, id).await?;
            if info.public_key.is_none() {
                return Err(ContractError::NoKeyYet(to_hex(id)).into());
            }
            // A first miner without the key could not open it; a later one keeps what
            // arrives while it recovers and runs it once it has the key.
            if !info.granted && info.assignment == 0 {
                return Err(ContractError::NotGranted(to_hex(id)).into());
            }
            if !info.initialized && info.developer != tx.sender {
                return Err(ContractError::NotInitialized(to_hex(id)).into());
            }
        }
    }
    Ok(())
}

/// Carries out a contracts call of `tx` in block `env`.
pub(crate) async fn apply<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    tx: &Transaction,
    call: &ContractCall,
) -> Result<(), ExecError> {
    if let ContractCall::Post(items) = call {
        // In order, each against what the ones before it routed: all or none.
        for signed in items {
            check_post(o, &env.chain, signed, true).await?;
            post(o, outbox, env, &signed.egress).await?;
            liveness::record(o, &signed.signer, env.height).await?;
        }
        return Ok(());
    }
    check(o, &env.chain, tx, call, true).await?;
    if let ContractCall::Checkpoint(signed) = call {
        return checkpoint(o, env, signed).await;
    }
    match call {
        ContractCall::UploadCode {
            hash,
            size,
            index,
            chunk,
        } => upload(o, &tx.sender, hash, *size, *index, chunk).await,
        ContractCall::Instantiate { code, miner } => {
            let miner_ecdh = registered_miner(o, miner).await?;
            let id = contract_id(&tx.sender, tx.nonce);
            o.put(
                keys::contract(&id),
                &ContractInfo {
                    developer: tx.sender.clone(),
                    code: *code,
                    miner: miner.clone(),
                    created: env.height,
                    public_key: None,
                    initialized: false,
                    assignment: 0,
                    granted: false,
                    assigned_at: env.height,
                    log: ContractLog::default(),
                    checkpoint: None,
                },
            );
            let count: u64 = o.read(&keys::contracts_count()).await?.unwrap_or(0);
            o.put(keys::contract_at(count), &id);
            o.put(keys::contracts_count(), &(count + 1));
            add_to_miner(o, miner, &id).await?;
            let event = ContractEvent::Instantiated {
                contract: id,
                code: *code,
                developer: tx.sender.clone(),
                miner: miner.clone(),
                miner_ecdh,
            };
            announce(o, outbox, &event).await
        }
        ContractCall::Assign {
            contract: id,
            miner,
        } => {
            let reason = if existing(o, id).await?.developer == tx.sender {
                Reassignment::Developer
            } else {
                Reassignment::Governance
            };
            reassign(o, outbox, env, id, miner, reason).await
        }
        ContractCall::RevokeSession { session, expiry } => {
            let event = ContractEvent::SessionRevoked {
                account: tx.sender.clone(),
                session: *session,
                expiry: *expiry,
            };
            announce(o, outbox, &event).await
        }
        ContractCall::Command {
            contract: id,
            fuel,
            envelope,
        } => {
            let mut info = existing(o, id).await?;
            if !info.initialized {
                // The developer's first command: the miner runs it as `init`.
                info.initialized = true;
                o.put(keys::contract(id), &info);
            }
            let message = CommandMessage {
                nonce: tx.nonce,
                expiry: tx.expiry,
                fuel: *fuel,
                envelope: envelope.clone(),
            };
            Ok(route(
                o,
                outbox,
                env,
                Origin::Account(tx.sender.clone()),
                *id,
                message.encode().to_vec(),
            )
            .await?)
        }
        ContractCall::SetMinerPolicy { miner, policy } => {
            match policy {
                MinerPolicy::Open => o.remove(keys::miner_policy(miner)),
                MinerPolicy::Developers(_) => o.put(keys::miner_policy(miner), policy),
            }
            Ok(())
        }
        // Applied above.
        ContractCall::Post(_) | ContractCall::Checkpoint(_) => Ok(()),
    }
}

/// Routes a message to contract `to` and folds it into the log of every contract it concerns
/// (its destination, and its source when a contract sent it).
async fn route<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    origin: Origin,
    to: Digest,
    payload: Vec<u8>,
) -> Result<(), StateError> {
    mq::emit(o, outbox, origin, Destination::Contract(to), payload).await?;
    let message = outbox.last().expect("just emitted");
    let mut involved = vec![to];
    if let Origin::Contract(source) = &message.origin
        && *source != to
    {
        involved.push(*source);
    }
    for id in involved {
        if let Some(mut info) = contract(o, &id).await? {
            debug_assert!(in_log(&id, message));
            info.log.fold(env.height, &env.parent, message);
            o.put(keys::contract(&id), &info);
        }
    }
    Ok(())
}

/// Moves `id` to `miner`: a new assignment whose key the gatekeepers grant, and an event naming
/// the log position and checkpoint the new miner recovers from.
async fn reassign<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    id: &Digest,
    miner: &AccountId,
    reason: Reassignment,
) -> Result<(), ExecError> {
    let miner_ecdh = registered_miner(o, miner).await?;
    let mut info = existing(o, id).await?;
    remove_from_miner(o, &info.miner, id).await?;
    add_to_miner(o, miner, id).await?;
    info.miner = miner.clone();
    info.assignment += 1;
    info.granted = false;
    info.assigned_at = env.height;
    o.put(keys::contract(id), &info);
    let event = ContractEvent::Assigned {
        contract: *id,
        code: info.code,
        developer: info.developer.clone(),
        miner: miner.clone(),
        miner_ecdh,
        assignment: info.assignment,
        reason,
        log: info.log,
        checkpoint: info.checkpoint.clone(),
    };
    announce(o, outbox, &event).await
}

/// A checkpoint chunk: signed by the contract's current miner, newer than the checkpoint the
/// chain keeps, within the log and the chain, the right length for its place.
async fn check_checkpoint<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    signed: &SignedCheckpointChunk,
) -> Result<(), ExecError> {
    let chunk = &signed.chunk;
    let info = existing(o, &chunk.contract).await?;
    if info.miner != signed.signer {
        return Err(ContractError::NotTheCheckpointMiner {
            contract: to_hex(chunk.contract),
            miner: to_hex(&info.miner),
            signer: to_hex(&signed.signer),
        }
        .into());
    }
    if !signed.verify(chain) {
        return Err(ContractError::BadCheckpointSignature.into());
    }
    let stale = |reason| {
        ExecError::from(ContractError::StaleCheckpoint {
            contract: to_hex(chunk.contract),
            height: chunk.height,
            count: chunk.log.count,
            reason,
        })
    };
    if let Some(latest) = &info.checkpoint
        && (chunk.height <= latest.height || chunk.log.count < latest.log.count)
    {
        return Err(stale("the chain keeps a checkpoint at least as recent"));
    }
    if chunk.log.count > info.log.count {
        return Err(stale("it claims more of the log than the chain routed"));
    }
    if chunk.height > crate::system::block_info(o).await?.height {
        return Err(stale("its height is beyond the chain"));
    }
    let len_ok = chunk.size > 0
        && chunk.size <= MAX_CHECKPOINT_BYTES
        && CheckpointChunk::expected_len(chunk.size, chunk.index) == Some(chunk.bytes.len());
    if !len_ok {
        return Err(ContractError::BadCheckpointChunk {
            index: chunk.index,
            size: chunk.size,
            len: chunk.bytes.len(),
            max: MAX_CHECKPOINT_BYTES,
        }
        .into());
    }
    if let Some(upload) = o
        .read::<CheckpointUpload>(&keys::checkpoint_upload(&chunk.contract))
        .await?
    {
        if upload.info == describe(signed) {
            let key = keys::checkpoint_chunk(&chunk.contract, chunk.height, chunk.index);
            if o.get(&key).await?.is_some() {
                return Err(ContractError::DuplicateChunk(chunk.index).into());
            }
        } else if chunk.height <= upload.info.height {
            // Only a newer checkpoint replaces one arriving: an old chunk posted again (by
            // anyone) cannot restart the upload, and two seals of one state never mix.
            return Err(stale("a checkpoint at least as recent is arriving"));
        }
    }
    Ok(())
}

/// The record a chunk's checkpoint will have.
fn describe(signed: &SignedCheckpointChunk) -> CheckpointInfo {
    let c = &signed.chunk;
    CheckpointInfo {
        height: c.height,
        log: c.log,
        root: c.root,
        size: c.size,
        digest: c.digest,
        miner: signed.signer.clone(),
    }
}

/// Stores a checked chunk. A chunk of another checkpoint than the one arriving replaces it (the
/// miner moved on); the last chunk makes the checkpoint the contract's latest and drops the
/// previous one's chunks. Counts as the miner's activity.
async fn checkpoint<S: StateRead>(
    o: &mut Overlay<'_, S>,
    env: &BlockEnv,
    signed: &SignedCheckpointChunk,
) -> Result<(), ExecError> {
    let chunk = &signed.chunk;
    let id = chunk.contract;
    let info = describe(signed);
    let upload_key = keys::checkpoint_upload(&id);
    let mut upload = match o.read::<CheckpointUpload>(&upload_key).await? {
        Some(u) if u.info == info => u,
        previous => {
            if let Some(p) = previous {
                drop_chunks(o, &id, &p.info).await?;
            }
            CheckpointUpload { info, received: 0 }
        }
    };
    o.set(
        keys::checkpoint_chunk(&id, chunk.height, chunk.index),
        chunk.bytes.clone(),
    );
    upload.received += 1;
    liveness::record(o, &signed.signer, env.height).await?;
    if upload.received < upload.info.chunks() {
        o.put(upload_key, &upload);
        return Ok(());
    }
    o.remove(upload_key);
    let mut contract = existing(o, &id).await?;
    if let Some(previous) = contract.checkpoint.replace(upload.info) {
        drop_chunks(o, &id, &previous).await?;
    }
    o.put(keys::contract(&id), &contract);
    Ok(())
}

async fn drop_chunks<S: StateRead>(
    o: &mut Overlay<'_, S>,
    id: &Digest,
    info: &CheckpointInfo,
) -> Result<(), StateError> {
    for index in 0..info.chunks() {
        o.remove(keys::checkpoint_chunk(id, info.height, index));
    }
    Ok(())
}

/// A contract's latest complete checkpoint, reassembled.
pub async fn checkpoint_bytes<S: StateRead>(
    o: &Overlay<'_, S>,
    id: &Digest,
) -> Result<Option<(CheckpointInfo, Vec<u8>)>, StateError> {
    let Some(info) = contract(o, id).await?.and_then(|c| c.checkpoint) else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(info.size as usize);
    for index in 0..info.chunks() {
        let key = keys::checkpoint_chunk(id, info.height, index);
        let chunk = o.get(&key).await?.ok_or_else(|| StateError::Corrupt {
            key: to_hex(key),
            reason: format!("chunk {index} of a complete checkpoint is missing"),
        })?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some((info, bytes)))
}

/// Most contracts of unresponsive miners and gatekeepers moved at one era's first block (the
/// rest at the next, from another place in each miner's index: their miner is judged again).
const ERA_MOVES: usize = 1_024;
/// Most contracts examined for missed checkpoints at one era's first block, round robin from
/// where the last era stopped: the block's work stays bounded however many contracts exist.
const ERA_CHECKS: u64 = 256;

/// Up to `max` of the contracts `miner` runs, from a place in its index drawn from `seed`
/// (wrapping around): the work stays bounded however many it runs, and contracts that
/// cannot move do not keep the others from their turn.
pub(crate) async fn contracts_from<S: StateRead>(
    o: &Overlay<'_, S>,
    miner: &AccountId,
    seed: &Digest,
    max: usize,
) -> Result<Vec<Digest>, StateError> {
    let count: u64 = o
        .read(&keys::miner_contracts_count(miner))
        .await?
        .unwrap_or(0);
    if count == 0 || max == 0 {
        return Ok(Vec::new());
    }
    let draw = hash_parts(&[b"veil/era-moves", seed.as_ref(), miner.as_ref()]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&draw.as_ref()[..8]);
    let start = u64::from_be_bytes(first) % count;
    let mut out = Vec::new();
    for k in 0..count.min(max as u64) {
        if let Some(id) = o
            .read(&keys::miner_contract_at(miner, (start + k) % count))
            .await?
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// The contracts `miner` runs.
pub async fn contracts_of<S: StateRead>(
    o: &Overlay<'_, S>,
    miner: &AccountId,
) -> Result<Vec<Digest>, StateError> {
    let count: u64 = o
        .read(&keys::miner_contracts_count(miner))
        .await?
        .unwrap_or(0);
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        if let Some(id) = o.read(&keys::miner_contract_at(miner, i)).await? {
            out.push(id);
        }
    }
    Ok(out)
}

async fn add_to_miner<S: StateRead>(
    o: &mut Overlay<'_, S>,
    miner: &AccountId,
    id: &Digest,
) -> Result<(), StateError> {
    let count: u64 = o
        .read(&keys::miner_contracts_count(miner))
        .await?
        .unwrap_or(0);
    o.put(keys::miner_contract_at(miner, count), id);
    o.put(keys::miner_contract_position(miner, id), &count);
    o.put(keys::miner_contracts_count(miner), &(count + 1));
    Ok(())
}

async fn remove_from_miner<S: StateRead>(
    o: &mut Overlay<'_, S>,
    miner: &AccountId,
    id: &Digest,
) -> Result<(), StateError> {
    let Some(position) = o
        .read::<u64>(&keys::miner_contract_position(miner, id))
        .await?
    else {
        return Ok(());
    };
    let count: u64 = o
        .read(&keys::miner_contracts_count(miner))
        .await?
        .unwrap_or(0);
    let last = count.saturating_sub(1);
    if position != last
        && let Some(moved) = o
            .read::<Digest>(&keys::miner_contract_at(miner, last))
            .await?
    {
        o.put(keys::miner_contract_at(miner, position), &moved);
        o.put(keys::miner_contract_position(miner, &moved), &position);
    }
    o.remove(keys::miner_contract_at(miner, last));
    o.remove(keys::miner_contract_position(miner, id));
    o.put(keys::miner_contracts_count(miner), &last);
    Ok(())
}

/// At an era's first block, after its election: the contracts of the miners judged
/// `unresponsive` and of the gatekeepers just elected (from the index by miner, at most
/// [ERA_MOVES] in all), and those among the next [ERA_CHECKS] contracts whose log has run
/// ahead of their latest checkpoint for longer than `checkpoint_grace` blocks of their current
/// assignment, move to other registered miners that are no gatekeepers ([pick_miner]). A
/// contract with nowhere to go stays where it is.
pub(crate) async fn on_era<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    unresponsive: &[AccountId],
) -> Result<(), StateError> {
    let grace = params(o).await?.checkpoint_grace;
    let mut moves: Vec<(Digest, Reassignment)> = Vec::new();
    // A miner elected gatekeeper after it took contracts (or one governance placed a contract
    // on) sheds them: its enclave now holds the root key.
    let gatekeepers: Vec<AccountId> = gatekeeper::election(o)
        .await?
        .map(|e| e.gatekeepers.into_iter().map(|g| g.worker).collect())
        .unwrap_or_default();
    let shedding = unresponsive
        .iter()
        .map(|w| (w, Reassignment::Unresponsive))
        .chain(
            gatekeepers
                .iter()
                .filter(|w| !unresponsive.contains(w))
                .map(|w| (w, Reassignment::Gatekeeper)),
        );
    for (w, reason) in shedding {
        let room = ERA_MOVES - moves.len();
        for id in contracts_from(o, w, &env.parent, room).await? {
            moves.push((id, reason));
        }
    }
    let count: u64 = o.read(&keys::contracts_count()).await?.unwrap_or(0);
    if count > 0 {
        let start = o
            .read::<u64>(&keys::contracts_era_cursor())
            .await?
            .unwrap_or(0)
            % count;
        let n = count.min(ERA_CHECKS);
        for k in 0..n {
            let Some(id) = o
                .read::<Digest>(&keys::contract_at((start + k) % count))
                .await?
            else {
                continue;
            };
            if moves.iter().any(|(m, _)| *m == id) {
                continue;
            }
            let Some(info) = contract(o, &id).await? else {
                continue;
            };
            let checkpointed = info.checkpoint.as_ref().map_or(0, |c| c.log.count);
            let since = info
                .checkpoint
                .as_ref()
                .map_or(info.assigned_at, |c| c.height.max(info.assigned_at));
            if info.log.count > checkpointed && env.height.saturating_sub(since) > grace {
                moves.push((id, Reassignment::MissedCheckpoints));
            }
        }
        o.put(keys::contracts_era_cursor(), &((start + n) % count));
    }
    if moves.is_empty() {
        return Ok(());
    }
    let candidates = candidates(o, unresponsive).await?;
    let any_enclave = registry::insecure_count(o).await? < registry::count(o).await?;
    for (id, reason) in moves {
        let Some(info) = contract(o, &id).await? else {
            continue;
        };
        // A contract on an attested enclave never moves to a dev worker: whoever runs one
        // reads the contract key, and with it every command the contract ever took.
        let current = registry::worker(o, &info.miner).await?.map(|w| w.insecure);
        let secure = stays_on_enclaves(current, any_enclave);
        let Some(miner) = pick_miner(&candidates, &id, &info.developer, &info.miner, secure) else {
            continue;
        };
        match reassign(o, outbox, env, &id, &miner, reason).await {
            Ok(()) => {}
            Err(ExecError::State(e)) => return Err(e),
            // Cannot happen for a registered pick; the contract stays.
            Err(ExecError::Tx(_)) => {}
        }
    }
    Ok(())
}

/// A worker a contract may move to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// A gatekeeper of the latest election.
    pub(crate) gatekeeper: bool,
    /// Registered with dev (simulated TEE) evidence.
    pub(crate) insecure: bool,
    /// Which developers' contracts it takes.
    pub(crate) policy: MinerPolicy,
    /// The worker.
    pub(crate) worker: AccountId,
}

/// The workers contracts may move to this era: registered and not judged unresponsive.
async fn candidates<S: StateRead>(
    o: &Overlay<'_, S>,
    unresponsive: &[AccountId],
) -> Result<Vec<Candidate>, StateError> {
    let gatekeepers: Vec<AccountId> = o
        .read::<Election>(&keys::election())
        .await?
        .map(|e| e.gatekeepers.into_iter().map(|g| g.worker).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for i in 0..registry::count(o).await? {
        if let Some(w) = registry::worker_at(o, i).await?
            && !unresponsive.contains(&w)
            && let Some(info) = registry::worker(o, &w).await?
        {
            out.push(Candidate {
                gatekeeper: gatekeepers.contains(&w),
                insecure: info.insecure,
                policy: miner_policy(o, &w).await?,
                worker: w,
            });
        }
    }
    Ok(out)
}

/// Whether a contract may move only to attested enclaves: its miner is one (`current`: that
/// miner's `insecure` flag, `None` if it is no longer registered). A miner gone from the
/// registry (expired, revoked, replaced) counts as an enclave while the network has any, so a
/// contract whose enclave miner left cannot fall to a dev worker; on a network of dev workers
/// only, contracts move among them.
pub(crate) fn stays_on_enclaves(current: Option<bool>, any_enclave: bool) -> bool {
    match current {
        Some(insecure) => !insecure,
        None => any_enclave,
    }
}

/// The miner a contract moves to: a candidate other than its current miner, not a gatekeeper
/// (it holds the root key: the chain puts no developer's code beside it, as developers may
/// not), whose policy takes the contract's `developer`; never a dev worker if the current
/// miner is an attested enclave (`secure`), since a dev worker's host reads the contract key.
/// Preferred: attested workers; among equals, the lowest `H(contract ‖ worker)`, which
/// spreads contracts over miners and needs no state. A worker choosing its identity to sort
/// first therefore wins only among its equals. None: the contract stays where it is.
pub(crate) fn pick_miner(
    candidates: &[Candidate],
    id: &Digest,
    developer: &AccountId,
    current: &AccountId,
    secure: bool,
) -> Option<AccountId> {
    candidates
        .iter()
        .filter(|c| {
            c.worker != *current
                && !c.gatekeeper
                && !(secure && c.insecure)
                && c.policy.admits(developer)
        })
        .min_by_key(|c| {
            (
                c.insecure,
                hash_parts(&[b"veil/miner-pick", id.as_ref(), c.worker.as_ref()]),
            )
        })
        .map(|c| c.worker.clone())
}

/// A posted message or reply: signed by the speaking contract's assigned miner, and exactly
/// the channel's next (replays and gaps are refused, so delivery is ordered and exactly once).
async fn check_post<S: StateRead>(
    o: &Overlay<'_, S>,
    chain: &ChainIdentity,
    signed: &SignedContractEgress,
    exact: bool,
) -> Result<(), ExecError> {
    let egress = &signed.egress;
    let speaker = existing(o, egress.speaker()).await?;
    if speaker.miner != signed.signer {
        return Err(ContractError::NotTheMiner {
            contract: to_hex(egress.speaker()),
            miner: to_hex(&speaker.miner),
            signer: to_hex(&signed.signer),
        }
        .into());
    }
    if !signed.verify(chain) {
        return Err(ContractError::BadMessageSignature.into());
    }
    let (source, destination) = egress.channel();
    let ch = channel(o, source, destination).await?;
    let got = egress.sequence();
    let (what, expected) = match egress {
        ContractEgress::Message(_) => ("message", ch.sent),
        ContractEgress::Reply(_) => ("reply", ch.replied),
    };
    let replayed = got < expected;
    // A reply answers a routed message: never one the channel has not carried yet.
    let skipped =
        (exact && got > expected) || matches!(egress, ContractEgress::Reply(_) if got >= ch.sent);
    if replayed || skipped {
        let (source_id, destination) = (to_hex(source), to_hex(destination));
        return Err(if replayed {
            ContractError::MessageReplayed {
                what,
                source_id,
                destination,
                expected,
                got,
            }
        } else {
            ContractError::MessageSkipped {
                what,
                source_id,
                destination,
                expected,
                got,
            }
        }
        .into());
    }
    Ok(())
}

/// Routes a checked message or reply. A message to a contract that does not exist, or one its
/// source could not seal (it knew no key for the destination) while nothing earlier in the
/// channel waits for a reply, is answered `NotDelivered` by the chain at once: no miner would
/// ever answer it. Everything else goes to its destination's miner, which answers in order.
async fn post<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    egress: &ContractEgress,
) -> Result<(), StateError> {
    let (source, destination) = egress.channel();
    let (source, destination) = (*source, *destination);
    let mut ch = channel(o, &source, &destination).await?;
    match egress {
        ContractEgress::Message(m) => {
            ch.sent += 1;
            let undeliverable = contract(o, &destination).await?.is_none()
                || (m.envelope.is_none() && ch.replied == m.sequence);
            if undeliverable {
                ch.replied += 1;
                let reply = ContractEgress::Reply(ContractReply {
                    source,
                    destination,
                    sequence: m.sequence,
                    fuel: m.fuel,
                    envelope: None,
                });
                route(
                    o,
                    outbox,
                    env,
                    Origin::Chain,
                    source,
                    reply.encode().to_vec(),
                )
                .await?;
            } else {
                route(
                    o,
                    outbox,
                    env,
                    Origin::Contract(source),
                    destination,
                    egress.encode().to_vec(),
                )
                .await?;
            }
        }
        ContractEgress::Reply(_) => {
            ch.replied += 1;
            route(
                o,
                outbox,
                env,
                Origin::Contract(destination),
                source,
                egress.encode().to_vec(),
            )
            .await?;
        }
    }
    o.put(keys::channel(&source, &destination), &ch);
    Ok(())
}

async fn announce<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    event: &ContractEvent,
) -> Result<(), ExecError> {
    Ok(mq::emit(
        o,
        outbox,
        Origin::Chain,
        Destination::Topic(CONTRACTS_TOPIC.to_vec()),
        event.encode().to_vec(),
    )
    .await?)
}

/// Stores a chunk of the uploader's upload; with the last one, checks the whole module's hash
/// and the deploy policy. A valid module becomes the code under its hash (its chunks stay where
/// they are); one that fails either check is discarded, chunks and all, and the call fails.
async fn upload<S: StateRead>(
    o: &mut Overlay<'_, S>,
    uploader: &AccountId,
    hash: &Digest,
    size: u32,
    index: u32,
    chunk: &[u8],
) -> Result<(), ExecError> {
    let mut info = upload_in_progress(o, uploader, hash)
        .await?
        .unwrap_or(CodeInfo {
            size,
            received: 0,
            uploader: uploader.clone(),
            valid: false,
        });
    o.set(keys::code_chunk(uploader, hash, index), chunk.to_vec());
    info.received += 1;
    if info.received < info.chunks() {
        o.put(keys::code_upload(uploader, hash), &info);
        return Ok(());
    }
    let bytes = assemble(o, hash, &info).await?;
    let refusal = if veil_primitives::hash(&bytes) != *hash {
        Some(ContractError::HashMismatch(to_hex(hash)))
    } else {
        veil_vm::Vm::new(veil_vm::Limits::default())
            .deploy(&bytes)
            .err()
            .map(|err| ContractError::InvalidCode(err.to_string()))
    };
    match refusal {
        None => {
            info.valid = true;
            o.remove(keys::code_upload(uploader, hash));
            o.put(keys::code(hash), &info);
            Ok(())
        }
        // Fails the call, which drops its own writes; the executor then removes the earlier
        // chunks ([discard_upload]), so the next upload under this hash starts clean.
        Some(err) => Err(err.into()),
    }
}

/// Whether a failed call was the last chunk of a module that the hash check or the policy
/// refused, whose earlier chunks [discard_upload] must remove.
pub fn refused_upload<'a>(call: &'a ContractCall, error: &TxError) -> Option<&'a Digest> {
    match (call, error) {
        (ContractCall::UploadCode { hash, .. }, TxError::Contract(e))
            if matches!(
                **e,
                ContractError::HashMismatch(_) | ContractError::InvalidCode(_)
            ) =>
        {
            Some(hash)
        }
        _ => None,
    }
}

/// Removes a refused upload's chunks and record (called by the executor when an upload's
/// final chunk fails the hash or the policy, outside the failed call's overlay).
pub(crate) async fn discard_upload<S: StateRead>(
    o: &mut Overlay<'_, S>,
    uploader: &AccountId,
    hash: &Digest,
) -> Result<(), StateError> {
    if let Some(info) = upload_in_progress(o, uploader, hash).await? {
        for index in 0..info.chunks() {
            o.remove(keys::code_chunk(uploader, hash, index));
        }
        o.remove(keys::code_upload(uploader, hash));
    }
    Ok(())
}

/// A contract key the gatekeepers published (the first routed copy): records the public key
/// and the sealed key. Later keys for the same contract are ignored; a key for a contract that
/// does not exist is ignored too (the gatekeepers only publish for instances they saw).
pub(crate) async fn on_key<S: StateRead>(
    o: &mut Overlay<'_, S>,
    payload: &[u8],
) -> Result<(), StateError> {
    let Ok(key) = ContractKey::decode(payload.to_vec()) else {
        return Ok(());
    };
    let Some(mut info) = contract(o, &key.contract).await? else {
        return Ok(());
    };
    if info.public_key.is_some() {
        return Ok(());
    }
    info.public_key = Some(key.public_key);
    o.put(keys::contract(&key.contract), &info);
    o.set(keys::contract_sealed_key(&key.contract), key.sealed_key);
    Ok(())
}

/// The gatekeepers handed a contract key to a miner (the first routed copy): commands flow once
/// the grant names the contract's current miner and assignment. A grant for an older
/// assignment, another miner or no contract changes nothing.
pub(crate) async fn on_grant<S: StateRead>(
    o: &mut Overlay<'_, S>,
    payload: &[u8],
) -> Result<(), StateError> {
    let Ok(grant) = ContractGrant::decode(payload.to_vec()) else {
        return Ok(());
    };
    let Some(mut info) = contract(o, &grant.contract).await? else {
        return Ok(());
    };
    if info.granted || info.miner != grant.miner || info.assignment != grant.assignment {
        return Ok(());
    }
    info.granted = true;
    o.put(keys::contract(&grant.contract), &info);
    Ok(())
}
