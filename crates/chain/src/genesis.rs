//! The state at height 0, written from the genesis spec.

use veil_primitives::{
    AccountId, Balance, Digest, GenesisWorker, Params, RegistryParams, StakingParams, TeeKind,
    contract::ContractParams,
};

use crate::{
    balances,
    error::{ExecError, StateError, TxError},
    keys,
    overlay::{Changes, MemoryState, Overlay},
    registry,
    system::{self, BlockInfo},
};

/// The chain-level part of a genesis spec.
#[derive(Clone, Debug)]
pub struct GenesisState {
    /// The chain id, which every signature covers; committed by genesis state.
    pub chain_id: u64,
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
    /// Contract parameters (fuel price and limit, code fee).
    pub contracts: ContractParams,
    /// The genesis node (public identity, endpoint, root-key check), if the network has one.
    /// Without one the network never launches.
    pub genesis_worker: Option<GenesisWorker>,
    /// The genesis node's attestation; required with `genesis_worker`.
    pub genesis_attestation: Option<GenesisAttestation>,
    /// The dev RA service's key. Setting it allows insecure (dev) attestation on this chain.
    pub dev_attestation_key: Option<AccountId>,
    /// Let workers with dev attestation be gatekeeper candidates (devnets only: such a
    /// gatekeeper's host can read the root key). Meaningless without `dev_attestation_key`.
    pub allow_insecure_gatekeepers: bool,
    /// DER root certificate for DCAP quotes; `None` trusts Intel's production root.
    pub dcap_root: Option<Vec<u8>>,
}

/// The genesis node's TEE evidence, from its pRuntime's `Bootstrap` (dev evidence signed by
/// the dev RA service), and the DCAP collateral it needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisAttestation {
    /// Encoded `veil_attestation::Evidence`.
    pub evidence: Vec<u8>,
    /// DCAP collateral (empty for dev evidence).
    pub collateral: Vec<u8>,
}

/// Checks that the genesis node, if genesis names one, runs attested code: its evidence is
/// vouched for under genesis's trust anchors, binds its keys, its root-key check and this
/// chain ([veil_attestation::genesis_report_data]), and passes the registration policy at the
/// genesis time. A node with dev evidence holds the root key like a gatekeeper, so it needs
/// `allow_insecure_gatekeepers`. Every validator runs this on the same spec, so all of them
/// refuse a genesis whose genesis node is a plain program.
pub fn verify_genesis_worker(genesis: &GenesisState) -> Result<Option<TeeKind>, String> {
    let Some(worker) = &genesis.genesis_worker else {
        return Ok(None);
    };
    let attestation = genesis.genesis_attestation.as_ref().ok_or(
        "the genesis node has no attestation evidence: take it from its pRuntime's Bootstrap",
    )?;
    let expected = veil_attestation::genesis_report_data(
        genesis.chain_id,
        &genesis.consensus_key,
        worker.holder.worker.as_ref(),
        &worker.holder.ecdh_key,
        &worker.key_check,
    );
    let anchors = veil_attestation::TrustAnchors {
        dev_key: genesis.dev_attestation_key.as_ref(),
        dcap_root: genesis.dcap_root.as_deref(),
    };
    let verified = registry::admit(
        &genesis.registry,
        anchors,
        (&attestation.evidence, &attestation.collateral),
        genesis.timestamp / 1000,
        &expected,
    )
    .map_err(|e| format!("the genesis node's attestation is refused: {e}"))?;
    if verified.kind.insecure() && !genesis.allow_insecure_gatekeepers {
        return Err("the genesis node has dev (insecure) attestation, which holds the root key                     like a gatekeeper: genesis must allow insecure gatekeepers for it"
            .into());
    }
    Ok(Some(verified.kind))
}

/// The state writes of genesis (height 0).
pub async fn genesis_changes(genesis: &GenesisState) -> Result<Changes, String> {
    genesis.params.validate()?;
    let genesis_tee = verify_genesis_worker(genesis)?;
    genesis
        .registry
        .validate()
        .map_err(|e| format!("registry: {e}"))?;
    genesis
        .staking
        .validate()
        .map_err(|e| format!("staking: {e}"))?;
    genesis
        .contracts
        .validate()
        .map_err(|e| format!("contracts: {e}"))?;
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
    o.set(
        keys::chain(),
        veil_primitives::chain_record(genesis.chain_id, &genesis.consensus_key),
    );
    o.put(keys::governance_key(), &genesis.governance);
    o.put(keys::registry_params(), &genesis.registry);
    o.put(keys::staking_params(), &genesis.staking);
    o.put(keys::contract_params(), &genesis.contracts);
    if let Some(identity) = &genesis.genesis_worker {
        // Key holders carry the TEE the chain verified, which gatekeepers' pRuntimes check.
        let mut identity = identity.clone();
        identity.holder.tee = genesis_tee;
        o.put(keys::genesis_worker(), &identity);
    }
    if let Some(k) = &genesis.dev_attestation_key {
        o.put(keys::dev_attestation_key(), k);
    }
    if genesis.allow_insecure_gatekeepers {
        o.set(keys::insecure_gatekeepers(), Vec::new());
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
