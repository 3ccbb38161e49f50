//! Chain parameters and the key allowed to change them.
//!
//! This module only says who governs and holds the chain-wide parameters; a governance call that
//! sets another module's parameters is carried out by that module (the dispatch in
//! [crate::execute] routes it there after `authorize`).

use veil_primitives::{AccountId, Params};

use crate::{
    error::{ExecError, StateError, TxError},
    keys,
    overlay::{Overlay, StateRead},
};

/// Current parameters (defaults before genesis has set them).
pub async fn params<S: StateRead>(o: &Overlay<'_, S>) -> Result<Params, StateError> {
    Ok(o.read(&keys::params()).await?.unwrap_or_default())
}

/// Current governance key, if one was set at genesis.
pub async fn governance_key<S: StateRead>(
    o: &Overlay<'_, S>,
) -> Result<Option<AccountId>, StateError> {
    o.read(&keys::governance_key()).await
}

/// Refuses a governance call unless `sender` is the governance key.
pub(crate) async fn authorize<S: StateRead>(
    o: &Overlay<'_, S>,
    sender: &AccountId,
) -> Result<(), ExecError> {
    if governance_key(o).await?.as_ref() != Some(sender) {
        return Err(TxError::NotGovernance.into());
    }
    Ok(())
}

/// Replaces the chain parameters.
pub(crate) fn set_params<S: StateRead>(
    o: &mut Overlay<'_, S>,
    p: &Params,
) -> Result<(), ExecError> {
    p.validate().map_err(TxError::InvalidParams)?;
    o.put(keys::params(), p);
    Ok(())
}

/// Hands governance to another key.
pub(crate) fn set_key<S: StateRead>(o: &mut Overlay<'_, S>, key: &AccountId) {
    o.put(keys::governance_key(), key);
}
