use commonware_codec::{Encode, EncodeSize};
use commonware_cryptography::{BatchEntry, BatchVerifier};
use commonware_parallel::Sequential;
use rand::CryptoRng;
use veil_primitives::{
    AccountId, Balance, Call, ChainIdentity, Destination, Digest, Height, Message, Origin, Phase,
    SignedTransaction, signing_payload,
};

use crate::{
    MAX_NONCE_GAP, StateError, StateRead, TxError, balances, gatekeeper, governance, mq,
    overlay::{Changes, Overlay},
    registry, staking,
    system::{self, BlockInfo},
};

/// Everything a block's execution may depend on besides state and transactions.
#[derive(Clone, Copy, Debug)]
pub struct BlockEnv {
    /// The chain.
    pub chain: ChainIdentity,
    /// Height of the block being executed.
    pub height: Height,
    /// Its timestamp (ms).
    pub timestamp: u64,
    /// Hash of its parent.
    pub parent: Digest,
}

/// The result of one included transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: Digest,
    /// Fee burnt.
    pub fee: Balance,
    /// Whether the call succeeded. A failed call still pays its fee and uses its nonce.
    pub result: Result<(), TxError>,
}

/// What executing a block produced.
#[derive(Clone, Debug, Default)]
pub struct BlockOutcome {
    /// State writes.
    pub changes: Changes,
    /// Messages sent out to workers, in order.
    pub messages: Vec<Message>,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
}

/// Why a block cannot be executed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A transaction may not be in any block (bad nonce, expired, cannot pay its fee, ...).
    #[error("transaction {index} is not includable: {error}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Reason.
        error: TxError,
    },
    /// More transactions than `max_block_txs`.
    #[error("block has {count} transactions, above the limit of {max}")]
    TooManyTransactions {
        /// Count.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Failure inside a module: either the transaction's fault or the backend's.
#[derive(Debug)]
pub(crate) enum ExecError {
    Tx(TxError),
    State(StateError),
}

impl From<TxError> for ExecError {
    fn from(e: TxError) -> Self {
        Self::Tx(e)
    }
}

impl From<StateError> for ExecError {
    fn from(e: StateError) -> Self {
        Self::State(e)
    }
}

/// Verifies all transaction signatures for `chain` in one batch.
///
/// Returns the index of the first bad signature. Batch verification needs fresh randomness so a
/// proposer cannot craft signatures that cancel out; the result does not depend on it.
pub fn verify_signatures(
    rng: &mut impl CryptoRng,
    chain: &ChainIdentity,
    txs: &[SignedTransaction],
) -> Result<(), usize> {
    if txs.is_empty() {
        return Ok(());
    }
    let payloads: Vec<Vec<u8>> = txs
        .iter()
        .map(|tx| signing_payload(chain, &tx.transaction))
        .collect();
    let ok = AccountId::verify_batch(
        rng,
        txs,
        |i, tx| BatchEntry {
            namespace: veil_primitives::namespace::TRANSACTION,
            message: &payloads[i],
            public_key: &tx.transaction.sender,
            signature: &tx.signature,
        },
        &Sequential,
    );
    if ok {
        return Ok(());
    }
    // Find the culprit for the error message.
    Err(txs
        .iter()
        .position(|tx| !tx.verify(chain))
        .unwrap_or_default())
}

/// Checks a transaction for the mempool against the current state, for inclusion in the next
/// block `env`; does not verify the transaction signature. A worker message, and the cheap
/// claims of a registration, are checked too, so a submitter learns at once why they would
/// fail; registration evidence is verified only in the block, where it costs a fee. Returns
/// the sender's next nonce.
pub async fn check_transaction<S: StateRead>(
    state: &S,
    tx: &SignedTransaction,
    env: &BlockEnv,
) -> Result<u64, ExecCheckError> {
    let o = Overlay::new(state);
    let params = governance::params(&o).await?;
    let size = tx.encode_size();
    if size > params.max_tx_bytes as usize {
        return Err(TxError::Oversized {
            size,
            max: params.max_tx_bytes as usize,
        }
        .into());
    }
    let t = &tx.transaction;
    let next = env.height;
    if t.expiry < next {
        return Err(TxError::Expired {
            expiry: t.expiry,
            height: next,
        }
        .into());
    }
    let max = next.saturating_add(params.max_expiry_blocks);
    if t.expiry > max {
        return Err(TxError::ExpiryTooFar {
            expiry: t.expiry,
            max,
        }
        .into());
    }
    let account = balances::account(&o, &t.sender).await?;
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
    let mut needed = params.fee(size);
    if let Call::Transfer { amount, .. } = &t.call {
        needed = needed.saturating_add(*amount);
    }
    if account.free < needed {
        return Err(TxError::InsufficientBalance {
            needed,
            available: account.free,
        }
        .into());
    }
    match &t.call {
        Call::Register(reg) => {
            registry::check_claims(&o, env, &t.sender, reg)
                .await?
                .map_err(|e| TxError::Registration(Box::new(e)))?;
        }
        Call::WorkerMessage(m) => {
            let max = params.max_message_bytes as usize;
            if m.message.payload.len() > max {
                return Err(TxError::MessageTooLarge {
                    size: m.message.payload.len(),
                    max,
                }
                .into());
            }
            mq::check_worker_message(&o, &env.chain, m, false).await??;
        }
        Call::GatekeeperMessage(m) => {
            let max = gatekeeper::max_payload(&m.message.destination, &params);
            if m.message.payload.len() > max {
                return Err(TxError::MessageTooLarge {
                    size: m.message.payload.len(),
                    max,
                }
                .into());
            }
            if gatekeeper::check_gatekeeper_message(&o, &env.chain, m).await??
                == gatekeeper::Copy::Duplicate
            {
                return Err(TxError::DuplicateGatekeeperMessage(m.message.sequence).into());
            }
        }
        Call::SendMessage {
            destination: Destination::Contract(_),
            ..
        } if gatekeeper::phase(&o).await? == Phase::Prelaunch => {
            return Err(TxError::NotLaunched.into());
        }
        _ => {}
    }
    Ok(account.nonce)
}

/// Failure of [check_transaction].
#[derive(Debug, thiserror::Error)]
pub enum ExecCheckError {
    /// The transaction is refused.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Executes a block on top of `state`.
///
/// The caller must have verified the signatures ([verify_signatures]). A transaction that cannot
/// be included (wrong nonce, expired, cannot pay its fee, oversized) makes the whole block
/// invalid; a call that fails after its fee is paid is recorded in its receipt.
pub async fn execute_block<S: StateRead>(
    state: &S,
    env: &BlockEnv,
    txs: &[SignedTransaction],
) -> Result<BlockOutcome, BlockError> {
    let mut o = Overlay::new(state);
    system::on_block(
        &mut o,
        BlockInfo {
            height: env.height,
            timestamp: env.timestamp,
        },
        &env.parent,
    );
    let params = governance::params(&o).await?;
    if txs.len() > params.max_block_txs as usize {
        return Err(BlockError::TooManyTransactions {
            count: txs.len(),
            max: params.max_block_txs as usize,
        });
    }
    let mut messages = Vec::new();
    registry::on_block(&mut o, &mut messages, env.height).await?;
    staking::on_block(&mut o, &mut messages, env.height).await?;
    let mut receipts = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        let invalid = |error| BlockError::InvalidTransaction { index, error };
        let t = &tx.transaction;
        let size = tx.encode_size();
        if size > params.max_tx_bytes as usize {
            return Err(invalid(TxError::Oversized {
                size,
                max: params.max_tx_bytes as usize,
            }));
        }
        if t.expiry < env.height {
            return Err(invalid(TxError::Expired {
                expiry: t.expiry,
                height: env.height,
            }));
        }
        let mut account = balances::account(&o, &t.sender).await?;
        if t.nonce != account.nonce {
            return Err(invalid(TxError::BadNonce {
                expected: account.nonce,
                got: t.nonce,
            }));
        }
        let fee = params.fee(size);
        match balances::burn(&mut o, &mut account, fee).await {
            Ok(()) => {}
            Err(ExecError::Tx(e)) => return Err(invalid(e)),
            Err(ExecError::State(e)) => return Err(e.into()),
        }
        account.nonce += 1;
        balances::put_account(&mut o, &t.sender, account);

        let mut call_overlay = Overlay::new(&o);
        let mut call_messages = Vec::new();
        let result = match apply_call(
            &mut call_overlay,
            &mut call_messages,
            env,
            t.sender.clone(),
            &t.call,
            &params,
        )
        .await
        {
            Ok(()) => Ok(call_overlay.into_changes()),
            Err(ExecError::Tx(e)) => Err(e),
            Err(ExecError::State(e)) => return Err(e.into()),
        };
        let result = result.map(|changes| {
            o.merge(changes);
            messages.append(&mut call_messages);
        });
        receipts.push(Receipt {
            tx_hash: veil_primitives::hash(&tx.encode()),
            fee,
            result,
        });
    }
    Ok(BlockOutcome {
        changes: o.into_changes(),
        messages,
        receipts,
    })
}

async fn apply_call<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    env: &BlockEnv,
    sender: AccountId,
    call: &Call,
    params: &veil_primitives::Params,
) -> Result<(), ExecError> {
    match call {
        Call::Transfer { to, amount } => balances::transfer(o, &sender, to, *amount).await,
        Call::Governance(g) => governance::apply(o, outbox, &sender, g).await,
        Call::Register(reg) => registry::register(o, outbox, env, &sender, reg).await,
        Call::Staking(c) => staking::apply(o, &sender, c, env.height).await,
        Call::WorkerMessage(m) => {
            mq::relay_worker_message(o, outbox, &env.chain, m, params.max_message_bytes as usize)
                .await?;
            let m = &m.message;
            Ok(gatekeeper::on_worker_message(
                o,
                outbox,
                &m.sender,
                &m.destination,
                &m.payload,
                env.height,
            )
            .await?)
        }
        Call::GatekeeperMessage(m) => {
            gatekeeper::relay(
                o,
                outbox,
                &env.chain,
                m,
                gatekeeper::max_payload(&m.message.destination, params),
            )
            .await
        }
        Call::SendMessage {
            destination,
            payload,
        } => {
            if matches!(destination, Destination::Contract(_))
                && gatekeeper::phase(o).await? == Phase::Prelaunch
            {
                return Err(TxError::NotLaunched.into());
            }
            mq::send(
                o,
                outbox,
                Origin::Account(sender),
                destination.clone(),
                payload.clone(),
                params.max_message_bytes as usize,
            )
            .await
        }
    }
}
