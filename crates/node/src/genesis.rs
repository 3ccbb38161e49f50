//! The genesis spec: the file every node of a network starts from.
//!
//! It names the validators (identity key and peer-to-peer address), the consensus group's public
//! polynomial (dealt by a trusted dealer at genesis), the governance key, initial balances and
//! chain parameters. Validator secrets (identity key, threshold share) live in per-validator key
//! files, never in the spec.

use std::{collections::BTreeSet, net::SocketAddr, num::NonZeroU32, path::Path};

use commonware_codec::{Decode as _, Encode as _};
use commonware_cryptography::{
    Signer as _,
    bls12381::{
        dkg::feldman_desmedt::deal,
        primitives::{
            group::Share,
            sharing::{Mode, ModeVersion, Sharing},
        },
    },
};
use commonware_math::algebra::Random as _;
use commonware_utils::{N3f1, ordered::Set};
use serde::{Deserialize, Serialize};
use veil_chain::GenesisState;
use veil_primitives::{
    AccountId, Balance, Params, PrivateKey, RegistryParams, StakingParams,
    contract::ContractParams, decode_hex, from_hex, to_hex,
};

use veil_light::finality::ConsensusVariant as Variant_;
pub use veil_light::{GroupKey, Scheme};

/// Most validators a spec may name.
pub const MAX_VALIDATORS: u32 = 128;

/// One validator in the spec.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSpec {
    /// Identity key (hex): peer-to-peer identity and consensus participant.
    pub public_key: String,
    /// Address other validators dial.
    pub p2p: SocketAddr,
}

/// An initial balance.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSpec {
    /// Account (hex public key).
    pub account: String,
    /// Amount in the smallest unit.
    pub amount: Balance,
}

/// The genesis spec file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisSpec {
    /// Operator-chosen chain id; signatures cover it.
    pub chain_id: u64,
    /// Genesis time, ms since the Unix epoch.
    pub timestamp: u64,
    /// The validator set.
    pub validators: Vec<ValidatorSpec>,
    /// The consensus group's public polynomial (hex, commonware codec).
    pub consensus_sharing: String,
    /// The governance key (hex).
    pub governance: String,
    /// Initial balances.
    pub balances: Vec<BalanceSpec>,
    /// Chain parameters.
    #[serde(default)]
    pub params: Params,
    /// Worker registration: policy and trust anchors.
    #[serde(default)]
    pub registry: RegistrySpec,
    /// Staking and gatekeeper election parameters.
    #[serde(default)]
    pub staking: StakingParams,
    /// Contract parameters: fuel price and limit, code fee.
    #[serde(default)]
    pub contracts: ContractParams,
    /// The genesis node's public identity `pk_g` (from pRuntime's `Bootstrap`): the one
    /// pRuntime elected gatekeepers will ask for the first root key.
    #[serde(default)]
    pub genesis_worker: Option<GenesisWorkerSpec>,
}

/// The genesis node in the genesis spec: its public identity, where gatekeepers reach it,
/// the check of the root key it created, and the evidence that a TEE runs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GenesisWorkerSpec {
    /// ed25519 key (hex).
    pub signing_key: String,
    /// X25519 key (hex).
    pub ecdh_key: String,
    /// Public pRuntime API URL, where elected gatekeepers' hosts send key requests.
    pub endpoint: String,
    /// Check of the era-0 root key (hex), from `Bootstrap`.
    pub key_check: String,
    /// Encoded attestation evidence (hex) from `Bootstrap`, binding the keys, the key check and
    /// the chain; dev evidence signed by the dev RA service.
    pub evidence: String,
    /// DCAP collateral for the evidence (hex), if it is a DCAP quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collateral: Option<String>,
}

/// Worker registration settings in the genesis spec.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySpec {
    /// Registration policy (governance may change it later).
    pub params: RegistryParams,
    /// Accept dev (simulated, INSECURE) attestation. Fixed for the chain's life; needs
    /// `dev_attestation_key`.
    pub allow_insecure: bool,
    /// Also let dev-attested workers stand as gatekeepers (their hosts can read the root
    /// key). Fixed for the chain's life; needs `allow_insecure`.
    pub allow_insecure_gatekeepers: bool,
    /// Key of the dev RA service (`veil ra-service`), hex.
    pub dev_attestation_key: Option<String>,
    /// DER root certificate for DCAP quotes, hex; absent means Intel's production root.
    pub dcap_root_ca: Option<String>,
}

/// A parsed, checked genesis spec.
#[derive(Clone)]
pub struct Genesis {
    /// Chain id.
    pub chain_id: u64,
    /// Validators in consensus order (sorted by key).
    pub participants: Set<AccountId>,
    /// Their addresses, in the same order.
    pub addresses: Vec<SocketAddr>,
    /// The group's public polynomial.
    pub sharing: Sharing<Variant_>,
    /// Chain state at genesis.
    pub state: GenesisState,
}

impl Genesis {
    /// The consensus group public key: all a light client needs to check finality.
    pub fn group_key(&self) -> GroupKey {
        *self.sharing.public()
    }

    /// Reads and checks a spec file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read genesis spec {}: {e}", path.display()))?;
        let spec: GenesisSpec = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid genesis spec {}: {e}", path.display()))?;
        Self::from_spec(&spec)
    }

    /// Checks a spec.
    pub fn from_spec(spec: &GenesisSpec) -> anyhow::Result<Self> {
        anyhow::ensure!(!spec.validators.is_empty(), "genesis names no validators");
        anyhow::ensure!(
            spec.validators.len() <= MAX_VALIDATORS as usize,
            "genesis names {} validators; at most {MAX_VALIDATORS} are supported",
            spec.validators.len()
        );
        let mut validators = Vec::new();
        for v in &spec.validators {
            let key: AccountId = decode_hex(&v.public_key)
                .map_err(|e| anyhow::anyhow!("validator key {}: {e}", v.public_key))?;
            validators.push((key, v.p2p));
        }
        validators.sort_by(|a, b| a.0.cmp(&b.0));
        let unique: BTreeSet<_> = validators.iter().map(|v| &v.0).collect();
        anyhow::ensure!(
            unique.len() == validators.len(),
            "duplicate validator key in genesis"
        );
        let participants = Set::from_iter_dedup(validators.iter().map(|v| v.0.clone()));
        let addresses = validators.iter().map(|v| v.1).collect();
        let sharing_bytes = from_hex(&spec.consensus_sharing)
            .map_err(|e| anyhow::anyhow!("consensus_sharing: {e}"))?;
        let sharing = Sharing::<Variant_>::decode_cfg(
            sharing_bytes,
            &(
                NonZeroU32::new(MAX_VALIDATORS).expect("nonzero"),
                ModeVersion::v0(),
            ),
        )
        .map_err(|e| anyhow::anyhow!("consensus_sharing: {e}"))?;
        anyhow::ensure!(
            sharing.total().get() as usize == participants.len(),
            "consensus_sharing is for {} validators, but the spec names {}",
            sharing.total(),
            participants.len()
        );
        let governance: AccountId =
            decode_hex(&spec.governance).map_err(|e| anyhow::anyhow!("governance: {e}"))?;
        let mut balances = Vec::new();
        for b in &spec.balances {
            let who: AccountId = decode_hex(&b.account)
                .map_err(|e| anyhow::anyhow!("balance account {}: {e}", b.account))?;
            balances.push((who, b.amount));
        }
        spec.params
            .validate()
            .map_err(|e| anyhow::anyhow!("params: {e}"))?;
        spec.staking
            .validate()
            .map_err(|e| anyhow::anyhow!("staking params: {e}"))?;
        spec.contracts
            .validate()
            .map_err(|e| anyhow::anyhow!("contract params: {e}"))?;
        spec.registry
            .params
            .validate()
            .map_err(|e| anyhow::anyhow!("registry params: {e}"))?;
        let dev_attestation_key = match (
            &spec.registry.dev_attestation_key,
            spec.registry.allow_insecure,
        ) {
            (Some(k), true) => Some(
                decode_hex::<AccountId>(k)
                    .map_err(|e| anyhow::anyhow!("registry.dev_attestation_key: {e}"))?,
            ),
            (None, true) => {
                anyhow::bail!("registry.allow_insecure needs registry.dev_attestation_key")
            }
            (Some(_), false) => anyhow::bail!(
                "registry.dev_attestation_key is set but registry.allow_insecure is false; \
                 set allow_insecure to accept dev attestation, or remove the key"
            ),
            (None, false) => None,
        };
        if spec.registry.allow_insecure_gatekeepers && !spec.registry.allow_insecure {
            anyhow::bail!("registry.allow_insecure_gatekeepers needs registry.allow_insecure");
        }
        let dcap_root = spec
            .registry
            .dcap_root_ca
            .as_deref()
            .map(from_hex)
            .transpose()
            .map_err(|e| anyhow::anyhow!("registry.dcap_root_ca: {e}"))?;
        let genesis_attestation = match &spec.genesis_worker {
            Some(g) => Some(veil_chain::GenesisAttestation {
                evidence: from_hex(&g.evidence)
                    .map_err(|e| anyhow::anyhow!("genesis_worker.evidence: {e}"))?,
                collateral: g
                    .collateral
                    .as_deref()
                    .map(from_hex)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("genesis_worker.collateral: {e}"))?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        let genesis_worker = match &spec.genesis_worker {
            Some(g) => {
                let key: AccountId = decode_hex(&g.signing_key)
                    .map_err(|e| anyhow::anyhow!("genesis_worker.signing_key: {e}"))?;
                let ecdh: [u8; 32] = from_hex(&g.ecdh_key)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| anyhow::anyhow!("genesis_worker.ecdh_key: 32 bytes of hex"))?;
                let key_check = decode_hex(&g.key_check)
                    .map_err(|e| anyhow::anyhow!("genesis_worker.key_check: {e}"))?;
                anyhow::ensure!(
                    !g.endpoint.is_empty()
                        && g.endpoint.len() <= veil_primitives::MAX_ENDPOINT_BYTES,
                    "genesis_worker.endpoint must be 1 to {} bytes",
                    veil_primitives::MAX_ENDPOINT_BYTES
                );
                Some(veil_primitives::GenesisWorker {
                    holder: veil_primitives::KeyHolder {
                        worker: key,
                        ecdh_key: ecdh,
                        endpoint: g.endpoint.clone(),
                        // Set from the evidence once genesis verification checked it.
                        tee: None,
                    },
                    key_check,
                })
            }
            None => None,
        };
        let consensus_key = sharing.public().encode().to_vec();
        Ok(Self {
            chain_id: spec.chain_id,
            participants,
            addresses,
            sharing,
            state: GenesisState {
                chain_id: spec.chain_id,
                timestamp: spec.timestamp,
                balances,
                governance,
                params: spec.params.clone(),
                consensus_key,
                registry: spec.registry.params.clone(),
                staking: spec.staking.clone(),
                contracts: spec.contracts.clone(),
                genesis_worker,
                genesis_attestation,
                dev_attestation_key,
                allow_insecure_gatekeepers: spec.registry.allow_insecure_gatekeepers,
                dcap_root,
            },
        })
        .and_then(|g: Self| {
            veil_chain::verify_genesis_worker(&g.state).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(g)
        })
    }

    /// The consensus scheme of the validator holding `share`, or of a non-signing verifier.
    pub fn scheme(&self, share: Option<Share>) -> anyhow::Result<Scheme> {
        match share {
            Some(share) => Scheme::signer(
                crate::CONSENSUS_NAMESPACE,
                self.participants.clone(),
                self.sharing.clone(),
                share,
            )
            .ok_or_else(|| anyhow::anyhow!("the threshold share does not match this genesis")),
            None => Ok(Scheme::verifier(
                crate::CONSENSUS_NAMESPACE,
                self.participants.clone(),
                self.sharing.clone(),
            )),
        }
    }
}

/// Everything `veil genesis` creates for a new network; the caller writes the secrets to key
/// files.
pub struct Generated {
    /// The spec.
    pub spec: GenesisSpec,
    /// Each validator's identity key and threshold share, in spec order.
    pub validators: Vec<(PrivateKey, Share)>,
    /// The governance key.
    pub governance: PrivateKey,
    /// A funded account for demos and tests.
    pub faucet: PrivateKey,
}

/// Creates a new network: fresh validator keys, a dealt threshold key, governance and faucet keys.
pub fn generate(
    rng: &mut impl rand::CryptoRng,
    chain_id: u64,
    timestamp: u64,
    p2p: &[SocketAddr],
    faucet_balance: Balance,
    params: Params,
) -> anyhow::Result<Generated> {
    anyhow::ensure!(!p2p.is_empty(), "at least one validator is needed");
    let mut keys: Vec<PrivateKey> = p2p.iter().map(|_| PrivateKey::random(&mut *rng)).collect();
    keys.sort_by_key(|k| k.public_key());
    let participants = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
    let (output, shares) = deal::<Variant_, _, N3f1>(&mut *rng, Mode::NonZeroCounter, participants)
        .map_err(|e| anyhow::anyhow!("dealing threshold shares: {e:?}"))?;
    let governance = PrivateKey::random(&mut *rng);
    let faucet = PrivateKey::random(&mut *rng);
    let mut validators = Vec::new();
    let mut specs = Vec::new();
    for (key, addr) in keys.iter().zip(p2p) {
        let share = shares
            .get_value(&key.public_key())
            .ok_or_else(|| anyhow::anyhow!("dealer produced no share for a validator"))?;
        validators.push((key.clone(), share.clone()));
        specs.push(ValidatorSpec {
            public_key: to_hex(key.public_key()),
            p2p: *addr,
        });
    }
    let spec = GenesisSpec {
        chain_id,
        timestamp,
        validators: specs,
        consensus_sharing: to_hex(output.public().encode()),
        governance: to_hex(governance.public_key()),
        balances: vec![BalanceSpec {
            account: to_hex(faucet.public_key()),
            amount: faucet_balance,
        }],
        params,
        registry: RegistrySpec::default(),
        staking: StakingParams::default(),
        contracts: ContractParams::default(),
        genesis_worker: None,
    };
    Ok(Generated {
        spec,
        validators,
        governance,
        faucet,
    })
}
