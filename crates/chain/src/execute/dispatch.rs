//! Calls to the modules that carry them out, and routed worker messages to their consumers by
//! topic.
//!
//! A worker's signed egress is checked and routed by [registry]; what it means to the chain is
//! decided here by its topic: a readiness confirmation goes to [gatekeeper::rounds]. Every routed
//! worker message and first gatekeeper copy counts as its signer's activity ([liveness]). Adding a consumer is one arm of `on_worker_message`.

use veil_primitives::{
    Call, Destination, GatekeeperMessage, GovernanceCall, HEARTBEAT_TOPIC, Message, Origin, Params,
    Phase, READY_TOPIC, Transaction, WorkerMessage,
    contract::{CONTRACT_GRANT_TOPIC, CONTRACT_KEY_TOPIC},
};

use crate::{
    balances, contracts,
    error::{ContractError, ExecError, StateError, TxError},
    gatekeeper, governance, liveness, mq,
    overlay::{Overlay, StateRead},
    registry, staking,
    system::BlockEnv,
};

/// Carries out a transaction's call in the block `env`.
pub(crate) async fn apply_call<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    tx: &Transaction,
    params: &Params,
) -> Result<(), ExecError> {
    let sender = &tx.sender;
    match &tx.call {
        Call::Transfer { to, amount } => balances::transfer(o, sender, to, *amount).await,
        Call::Governance(g) => {
            governance::authorize(o, sender).await?;
            match g {
                GovernanceCall::SetParams(p) => governance::set_params(o, p),
                GovernanceCall::SetGovernanceKey(k) => {
                    governance::set_key(o, k);
                    Ok(())
                }
                GovernanceCall::SetRegistryParams(p) => registry::set_params(o, outbox, p).await,
                GovernanceCall::SetStakingParams(p) => staking::set_params(o, p),
                GovernanceCall::SetContractParams(p) => contracts::set_params(o, p),
            }
        }
        Call::Register(reg) => registry::register(o, outbox, env, sender, reg).await,
        Call::Staking(c) => staking::apply(o, sender, c, env.height).await,
        Call::WorkerMessage(m) => {
            refuse_contract_destination(&m.message.destination)?;
            registry::relay_worker_message(
                o,
                outbox,
                &env.chain,
                m,
                params.max_message_bytes as usize,
            )
            .await?;
            liveness::record(o, &m.message.sender, env.height).await?;
            Ok(on_worker_message(o, outbox, &m.message, env).await?)
        }
        Call::GatekeeperMessage(m) => {
            refuse_contract_destination(&m.message.destination)?;
            let routed = gatekeeper::stream::relay(
                o,
                outbox,
                &env.chain,
                m,
                gatekeeper::max_payload(&m.message.destination, params),
            )
            .await?;
            if routed {
                liveness::record(o, &m.message.signer, env.height).await?;
                on_gatekeeper_message(o, &m.message).await?;
            }
            Ok(())
        }
        Call::Contract(c) => contracts::apply(o, outbox, env, tx, c).await,
        Call::SendMessage {
            destination,
            payload,
        } => {
            if matches!(destination, Destination::Contract(_)) {
                if gatekeeper::phase(o).await? == Phase::Prelaunch {
                    return Err(TxError::NotLaunched.into());
                }
                // Commands reach contracts only as `ContractCall::Command`, which pays for its
                // fuel and is padded; nothing else may claim a contract's stream.
                return Err(ContractError::RawContractMessage.into());
            }
            mq::send(
                o,
                outbox,
                Origin::Account(sender.clone()),
                destination.clone(),
                payload.clone(),
                params.max_message_bytes as usize,
            )
            .await
        }
    }
}

/// A contract's stream carries commands only (`ContractCall::Command`, padded and paid for by
/// fuel); worker and gatekeeper messages may not address a contract.
pub(crate) fn refuse_contract_destination(destination: &Destination) -> Result<(), ExecError> {
    if matches!(destination, Destination::Contract(_)) {
        return Err(ContractError::RawContractMessage.into());
    }
    Ok(())
}

/// A gatekeeper message the chain just routed (the first copy), handed to the module that
/// consumes its topic. The launch's readiness and state checkpoints are handled in
/// [gatekeeper]; contract keys go to [contracts].
async fn on_gatekeeper_message<S: StateRead>(
    o: &mut Overlay<'_, S>,
    m: &GatekeeperMessage,
) -> Result<(), StateError> {
    match &m.destination {
        Destination::Topic(topic) if topic == CONTRACT_KEY_TOPIC => {
            contracts::on_key(o, &m.payload).await
        }
        Destination::Topic(topic) if topic == CONTRACT_GRANT_TOPIC => {
            contracts::on_grant(o, &m.payload).await
        }
        _ => Ok(()),
    }
}

/// A worker message the chain just routed, handed to the module that consumes its topic.
async fn on_worker_message<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    m: &WorkerMessage,
    env: &BlockEnv,
) -> Result<(), StateError> {
    let Destination::Topic(topic) = &m.destination else {
        return Ok(());
    };
    match topic.as_slice() {
        READY_TOPIC => {
            gatekeeper::rounds::on_ready(o, outbox, &m.sender, &m.payload, env.height).await
        }
        // Counted as activity like every routed side effect ([liveness::record]).
        HEARTBEAT_TOPIC => Ok(()),
        _ => Ok(()),
    }
}
