//! Chain parameters and the key allowed to change them.

use veil_primitives::{AccountId, GovernanceCall, Message, Params};

use crate::{StateError, StateRead, TxError, execute::ExecError, keys, overlay::Overlay, registry};

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

/// Applies a governance call signed by `sender`.
pub(crate) async fn apply<S: StateRead>(
    o: &mut Overlay<'_, S>,
    outbox: &mut Vec<Message>,
    sender: &AccountId,
    call: &GovernanceCall,
) -> Result<(), ExecError> {
    if governance_key(o).await?.as_ref() != Some(sender) {
        return Err(TxError::NotGovernance.into());
    }
    match call {
        GovernanceCall::SetParams(p) => {
            p.validate().map_err(TxError::InvalidParams)?;
            o.put(keys::params(), p);
        }
        GovernanceCall::SetGovernanceKey(k) => o.put(keys::governance_key(), k),
        GovernanceCall::SetRegistryParams(p) => registry::set_params(o, outbox, p).await?,
        GovernanceCall::SetStakingParams(p) => {
            p.validate().map_err(TxError::InvalidParams)?;
            o.put(keys::staking_params(), p);
        }
    }
    Ok(())
}
