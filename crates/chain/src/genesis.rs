use veil_primitives::{AccountId, Balance, Params};

use crate::{
    StateError, TxError, balances,
    execute::ExecError,
    keys,
    overlay::{Changes, MemoryState, Overlay},
    system::{self, BlockInfo},
};

/// The chain-level part of a genesis spec.
#[derive(Clone, Debug)]
pub struct GenesisState {
    /// Genesis timestamp (ms).
    pub timestamp: u64,
    /// Initial balances.
    pub balances: Vec<(AccountId, Balance)>,
    /// The governance key.
    pub governance: AccountId,
    /// Initial parameters.
    pub params: Params,
    /// The consensus group public key, encoded.
    pub consensus_key: Vec<u8>,
}

/// The state writes of genesis (height 0).
pub async fn genesis_changes(genesis: &GenesisState) -> Result<Changes, String> {
    genesis.params.validate()?;
    let empty = MemoryState::default();
    let mut o = Overlay::new(&empty);
    system::on_block(
        &mut o,
        BlockInfo {
            height: 0,
            timestamp: genesis.timestamp,
        },
    );
    o.put(keys::params(), &genesis.params);
    o.set(keys::consensus_key(), genesis.consensus_key.clone());
    o.put(keys::governance_key(), &genesis.governance);
    for (who, amount) in &genesis.balances {
        match balances::mint(&mut o, who, *amount).await {
            Ok(()) => {}
            Err(ExecError::Tx(TxError::Overflow)) => return Err("genesis balances overflow".into()),
            Err(ExecError::Tx(e)) => return Err(e.to_string()),
            Err(ExecError::State(
                StateError::Backend(e) | StateError::Corrupt { reason: e, .. },
            )) => {
                return Err(e);
            }
        }
    }
    Ok(o.into_changes())
}
