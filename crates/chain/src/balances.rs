//! Native token: accounts, transfers and fees.
//!
//! Fees are burnt (taken out of total issuance), so no validator gains by stuffing blocks.

use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use veil_primitives::{AccountId, Balance};

use crate::{
    error::{ExecError, StateError, TxError},
    keys,
    overlay::{Overlay, StateRead},
};

/// An account record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Next transaction nonce.
    pub nonce: u64,
    /// Spendable balance.
    pub free: Balance,
}

impl Write for Account {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.nonce.write(buf);
        self.free.write(buf);
    }
}

impl EncodeSize for Account {
    fn encode_size(&self) -> usize {
        8 + 16
    }
}

impl Read for Account {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            nonce: u64::read(buf)?,
            free: u128::read(buf)?,
        })
    }
}

/// Reads an account; absent accounts are empty.
pub async fn account<S: StateRead>(
    o: &Overlay<'_, S>,
    id: &AccountId,
) -> Result<Account, StateError> {
    Ok(o.read(&keys::account(id)).await?.unwrap_or_default())
}

/// Writes an account, deleting it when it is empty so dust leaves no trace in state.
pub fn put_account<S: StateRead>(o: &mut Overlay<'_, S>, id: &AccountId, account: Account) {
    if account == Account::default() {
        o.remove(keys::account(id));
    } else {
        o.put(keys::account(id), &account);
    }
}

/// Total issuance.
pub async fn total_issuance<S: StateRead>(o: &Overlay<'_, S>) -> Result<Balance, StateError> {
    Ok(o.read::<u128>(&keys::total_issuance()).await?.unwrap_or(0))
}

/// Moves `amount` from `from` to `to`.
pub(crate) async fn transfer<S: StateRead>(
    o: &mut Overlay<'_, S>,
    from: &AccountId,
    to: &AccountId,
    amount: Balance,
) -> Result<(), ExecError> {
    let mut sender = account(o, from).await?;
    if sender.free < amount {
        return Err(TxError::InsufficientBalance {
            needed: amount,
            available: sender.free,
        }
        .into());
    }
    if from == to {
        return Ok(());
    }
    sender.free -= amount;
    let mut receiver = account(o, to).await?;
    receiver.free = receiver.free.checked_add(amount).ok_or(TxError::Overflow)?;
    put_account(o, from, sender);
    put_account(o, to, receiver);
    Ok(())
}

/// Adds `amount` new tokens to the total issuance (the caller puts them somewhere: the
/// liveness module's reward pool).
pub(crate) async fn issue<S: StateRead>(
    o: &mut Overlay<'_, S>,
    amount: Balance,
) -> Result<(), StateError> {
    let issuance = total_issuance(o).await?.saturating_add(amount);
    o.put(keys::total_issuance(), &issuance);
    Ok(())
}

/// Credits a genesis balance.
pub(crate) async fn mint<S: StateRead>(
    o: &mut Overlay<'_, S>,
    who: &AccountId,
    amount: Balance,
) -> Result<(), ExecError> {
    let mut acc = account(o, who).await?;
    acc.free = acc.free.checked_add(amount).ok_or(TxError::Overflow)?;
    put_account(o, who, acc);
    let issuance = total_issuance(o)
        .await?
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    o.put(keys::total_issuance(), &issuance);
    Ok(())
}
