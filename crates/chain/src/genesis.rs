//! The state at height 0, written from the genesis spec.

use veil_primitives::{
    AccountId, Balance, Digest, GenesisWorker, Params, RegistryParams, StakingParams,
};

use crate::{
    balances,
    error::{ExecError, StateError, TxError},
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
    /// The registration policy.
    pub registry: RegistryParams,
    /// Staking and election parameters.
    pub staking: StakingParams,
    /// The genesis node (public identity, endpoint, root-key check), if the network has one.
    /// Without one the network never launches.
    pub genesis_worker: Option<GenesisWorker>,
    /// The dev RA service's key. Setting it allows insecure (dev) attestation on this chain.
    pub dev_attestation_key: Option<AccountId>,
    /// DER root certificate for DCAP quotes; `None` trusts Intel's production root.
    pub dcap_root: Option<Vec<u8>>,
}

/// The state writes of genesis (height 0).
pub async fn genesis_changes(genesis: &GenesisState) -> Result<Changes, String> {
    genesis.params.validate()?;
    genesis
        .registry
        .validate()
        .map_err(|e| format!("registry: {e}"))?;
    genesis
        .staking
        .validate()
        .map_err(|e| format!("staking: {e}"))?;
    let empty = MemoryState::default();
    let mut o = Overlay::new(&empty);
    system::on_block(
        &mut o,
        BlockInfo {
            height: 0,
            timestamp: genesis.timestamp,
        },
        &Digest::from([0u8; 32]),
    );
    o.put(keys::params(), &genesis.params);
    o.set(keys::consensus_key(), genesis.consensus_key.clone());
    o.put(keys::governance_key(), &genesis.governance);
    o.put(keys::registry_params(), &genesis.registry);
    o.put(keys::staking_params(), &genesis.staking);
    if let Some(identity) = &genesis.genesis_worker {
        o.put(keys::genesis_worker(), identity);
    }
    if let Some(k) = &genesis.dev_attestation_key {
        o.put(keys::dev_attestation_key(), k);
    }
    if let Some(root) = &genesis.dcap_root {
        o.set(keys::dcap_root(), root.clone());
    }
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
