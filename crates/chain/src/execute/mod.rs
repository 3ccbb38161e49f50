//! Executing a block: the one place that sequences the modules.
//!
//! Per block, in this order:
//! 1. [system] records the block (height, time, parent hash);
//! 2. [registry] removes the registrations that expire now; at an era's first block,
//!    [liveness] judges the era that ended;
//! 3. [gatekeeper] expires an election round past its deadline (slashing its silent
//!    gatekeepers through [staking]);
//! 4. if that happened, or a periodic election is due, [staking::elect] seats gatekeepers and
//!    [gatekeeper] starts the new round;
//! 5. at an era's first block, [contracts] moves the contracts of unresponsive miners, of the
//!    gatekeepers (just elected), and of miners that missed their checkpoints to other miners;
//! 6. each transaction: the shared inclusion rule ([check::includable]: size, expiry, nonce,
//!    fee), then its call ([dispatch]), whose writes and messages are kept only if it succeeds.
//!
//! Modules never call each other to run their per-block work; they are called from here.

pub mod check;
pub mod dispatch;

use commonware_codec::Encode;
use commonware_cryptography::{BatchEntry, BatchVerifier};
use commonware_parallel::Sequential;
use rand::CryptoRng;
use veil_primitives::{
    AccountId, Balance, Call, ChainIdentity, Digest, Message, SignedTransaction,
};

use crate::{
    contracts,
    error::{BlockError, ExecError, TxError},
    gatekeeper, governance, liveness,
    overlay::{Changes, Overlay, StateRead},
    registry, staking,
    system::{self, BlockEnv, BlockInfo},
};

/// The result of one included transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: Digest,
    /// Fee paid (into the reward pool).
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
        .map(|tx| veil_primitives::signing_payload(chain, &tx.transaction))
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

/// Refuses a call's writes when one value exceeds what the store keeps, so an oversized
/// value fails its call instead of the block that carries it.
fn within_value_limit(changes: Changes) -> Result<Changes, TxError> {
    let largest = changes.values().flatten().map(Vec::len).max().unwrap_or(0);
    if largest > veil_primitives::MAX_STATE_VALUE {
        return Err(TxError::StateValueTooLarge {
            size: largest,
            max: veil_primitives::MAX_STATE_VALUE,
        });
    }
    Ok(changes)
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
    registry::expire(&mut o, &mut messages, env.height).await?;
    let unresponsive = liveness::on_block(&mut o, &mut messages, env.height).await?;
    let staking_params = staking::params(&o).await?;
    let expired =
        gatekeeper::rounds::expire_round(&mut o, &mut messages, env.height, &staking_params)
            .await?;
    if expired || gatekeeper::election_due(&o, env.height, &staking_params).await? {
        let seated = staking::elect(&o, &staking_params).await?;
        gatekeeper::rounds::start_round(
            &mut o,
            &mut messages,
            env.height,
            &staking_params,
            &seated,
        )
        .await?;
    }
    // After the election: a worker seated just now sheds its contracts at once, and none
    // moves onto it.
    if let Some(unresponsive) = unresponsive {
        contracts::on_era(&mut o, &mut messages, env, &unresponsive).await?;
    }
    let mut receipts = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        let invalid = |error| BlockError::InvalidTransaction { index, error };
        let fee = match check::include(&mut o, &params, tx, env).await {
            Ok(fee) => fee,
            Err(ExecError::Tx(e)) => return Err(invalid(e)),
            Err(ExecError::State(e)) => return Err(e.into()),
        };
        let mut call_overlay = Overlay::new(&o);
        let mut call_messages = Vec::new();
        let result = match dispatch::apply_call(
            &mut call_overlay,
            &mut call_messages,
            env,
            &tx.transaction,
            &params,
        )
        .await
        {
            Ok(()) => within_value_limit(call_overlay.into_changes()),
            Err(ExecError::Tx(e)) => Err(e),
            Err(ExecError::State(e)) => return Err(e.into()),
        };
        // An upload whose last chunk failed the hash or the deploy policy loses its earlier
        // chunks too, outside the failed call's writes.
        if let (Call::Contract(call), Err(error)) = (&tx.transaction.call, &result)
            && let Some(hash) = contracts::refused_upload(call, error)
        {
            contracts::discard_upload(&mut o, &tx.transaction.sender, hash).await?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_over_the_store_limit_fails_the_call() {
        let mut changes = Changes::new();
        changes.insert(veil_primitives::hash(b"small"), Some(vec![0; 10]));
        changes.insert(veil_primitives::hash(b"gone"), None);
        let limit = veil_primitives::MAX_STATE_VALUE;
        changes.insert(veil_primitives::hash(b"edge"), Some(vec![0; limit]));
        assert!(within_value_limit(changes.clone()).is_ok());
        changes.insert(veil_primitives::hash(b"big"), Some(vec![0; limit + 1]));
        assert_eq!(
            within_value_limit(changes),
            Err(TxError::StateValueTooLarge {
                size: limit + 1,
                max: limit
            })
        );
    }
}
