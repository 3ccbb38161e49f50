//! The inclusion rule, shared by the mempool and block execution, so what a node admits is
//! what a block may carry.
//!
//! [includable] checks size, expiry, nonce and fee. The mempool ([check_transaction]) also
//! admits nonces a little ahead of the account's ([MAX_NONCE_GAP]), refuses expiries further
//! ahead than `max_expiry_blocks`, asks the sender to afford a transfer's amount besides its
//! fee, and runs the cheap checks of calls that would certainly fail, so a submitter learns why
//! at once instead of paying a fee. A block needs exactly the next nonce and charges the fee
//! ([include]).

use commonware_codec::EncodeSize;
use veil_primitives::{Balance, Call, Destination, Params, Phase, SignedTransaction, StakingCall};

use crate::{
    balances::{self, Account},
    contracts,
    error::{ContractError, ExecError, TxError},
    gatekeeper, governance, liveness,
    overlay::{Overlay, StateRead},
    registry,
    system::BlockEnv,
};

/// How far ahead of the account nonce the mempool accepts transactions.
pub const MAX_NONCE_GAP: u64 = 64;

/// What the mempool learns of a transaction the chain would admit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admissible {
    /// The sender's account in the state checked against.
    pub account: Account,
    /// The transaction's fee.
    pub fee: Balance,
    /// What it takes out of the sender's free balance if included: the fee plus a transfer's
    /// amount or a bond.
    pub spend: Balance,
}

/// Where a transaction is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inclusion {
    /// For the mempool: nonces up to [MAX_NONCE_GAP] ahead, expiry within
    /// `max_expiry_blocks`, and funds for a transfer's amount too.
    Pool,
    /// In a block: exactly the next nonce.
    Block,
}

/// The inclusion rule for block `env`: size, expiry, nonce and fee. Returns the sender's
/// account and the fee. Does not verify the signature (done in batches by the caller).
pub async fn includable<S: StateRead>(
    o: &Overlay<'_, S>,
    params: &Params,
    tx: &SignedTransaction,
    env: &BlockEnv,
    at: Inclusion,
) -> Result<(Account, Balance), ExecError> {
    let size = tx.encode_size();
    if size > params.max_tx_bytes as usize {
        return Err(TxError::Oversized {
            size,
            max: params.max_tx_bytes as usize,
        }
        .into());
    }
    let t = &tx.transaction;
    if t.expiry < env.height {
        return Err(TxError::Expired {
            expiry: t.expiry,
            height: env.height,
        }
        .into());
    }
    let account = balances::account(o, &t.sender).await?;
    let mut fee = params.fee(size);
    if let Call::Contract(call) = &t.call {
        // Set by the bucketed size and the fuel reserved, never by what the command does.
        fee = fee.saturating_add(contracts::params(o).await?.call_fee(call));
    }
    let mut needed = fee;
    match at {
        Inclusion::Block => {
            if t.nonce != account.nonce {
                return Err(TxError::BadNonce {
                    expected: account.nonce,
                    got: t.nonce,
                }
                .into());
            }
        }
        Inclusion::Pool => {
            let max = env.height.saturating_add(params.max_expiry_blocks);
            if t.expiry > max {
                return Err(TxError::ExpiryTooFar {
                    expiry: t.expiry,
                    max,
                }
                .into());
            }
            if t.nonce < account.nonce {
                return Err(TxError::NonceUsed {
                    expected: account.nonce,
                    got: t.nonce,
                }
                .into());
            }
            if t.nonce >= account.nonce + MAX_NONCE_GAP {
                return Err(TxError::BadNonce {
                    expected: account.nonce,
                    got: t.nonce,
                }
                .into());
            }
            if let Call::Transfer { amount, .. } = &t.call {
                needed = needed.saturating_add(*amount);
            }
        }
    }
    if account.free < needed {
        return Err(TxError::InsufficientBalance {
            needed,
            available: account.free,
        }
        .into());
    }
    Ok((account, fee))
}

/// Includes a transaction in the block being executed: checks [includable], pays the fee into
/// the reward pool ([liveness]) and uses the nonce. Returns the fee.
pub(crate) async fn include<S: StateRead>(
    o: &mut Overlay<'_, S>,
    params: &Params,
    tx: &SignedTransaction,
    env: &BlockEnv,
) -> Result<Balance, ExecError> {
    let (mut account, fee) = includable(o, params, tx, env, Inclusion::Block).await?;
    liveness::collect_fee(o, &mut account, fee).await?;
    account.nonce += 1;
    balances::put_account(o, &tx.transaction.sender, account);
    Ok(fee)
}

/// Checks a transaction for the mempool against the current state, for inclusion in the next
/// block `env`; does not verify the transaction signature. A worker message, and the cheap
/// claims of a registration, are checked too, so a submitter learns at once why they would
/// fail; registration evidence is verified only in the block, where it costs a fee. Returns
/// the sender's account, the fee and what the transaction spends.
pub async fn check_transaction<S: StateRead>(
    state: &S,
    tx: &SignedTransaction,
    env: &BlockEnv,
) -> Result<Admissible, ExecError> {
    let o = Overlay::new(state);
    let params = governance::params(&o).await?;
    let (account, fee) = includable(&o, &params, tx, env, Inclusion::Pool).await?;
    let t = &tx.transaction;
    match &t.call {
        Call::Register(reg) => {
            registry::check_claims(&o, env, &t.sender, reg).await?;
        }
        Call::WorkerMessage(m) => {
            super::dispatch::refuse_contract_destination(&m.message.destination)?;
            let max = params.max_message_bytes as usize;
            if m.message.payload.len() > max {
                return Err(TxError::MessageTooLarge {
                    size: m.message.payload.len(),
                    max,
                }
                .into());
            }
            registry::check_worker_message(&o, &env.chain, m, false).await?;
        }
        Call::GatekeeperMessage(m) => {
            super::dispatch::refuse_contract_destination(&m.message.destination)?;
            let max = gatekeeper::max_payload(&m.message.destination, &params);
            if m.message.payload.len() > max {
                return Err(TxError::MessageTooLarge {
                    size: m.message.payload.len(),
                    max,
                }
                .into());
            }
            if gatekeeper::check_gatekeeper_message(&o, &env.chain, m).await?
                == gatekeeper::CopyStatus::Duplicate
            {
                return Err(TxError::DuplicateGatekeeperMessage(m.message.sequence).into());
            }
        }
        Call::SendMessage {
            destination: Destination::Contract(_),
            ..
        } => {
            if gatekeeper::phase(&o).await? == Phase::Prelaunch {
                return Err(TxError::NotLaunched.into());
            }
            return Err(ContractError::RawContractMessage.into());
        }
        Call::Contract(call) => contracts::check(&o, &env.chain, t, call, false).await?,
        _ => {}
    }
    let moved = match &t.call {
        Call::Transfer { amount, .. } => *amount,
        Call::Staking(StakingCall::Bond { amount }) => *amount,
        _ => 0,
    };
    Ok(Admissible {
        account,
        fee,
        spend: fee.saturating_add(moved),
    })
}
