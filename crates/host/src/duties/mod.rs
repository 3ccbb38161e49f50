//! The operator's duties, one module each: keep the worker registered (`registration`),
//! standing as a gatekeeper candidate (`staking`), fetch the root key when elected
//! (`key_request`), post its egress, its contracts' messages and replies, and gatekeeper
//! copies (`egress`), and post its contracts' checkpoints and recover contracts assigned to it
//! (`contracts`).
//!
//! All are driven by chain state, re-read every round, so a restarted host neither registers
//! again nor posts a message twice: it registers only when the chain has no entry for the
//! worker or the entry is within a quarter of its lifetime of lapsing, and posts only egress
//! whose sequence the chain has not routed yet and that has no live transaction in flight.
//! Transactions carry a short expiry; one that lapses unincluded is simply sent again. The
//! duties talk to their peers through [crate::ports] only.

mod contracts;
mod egress;
mod key_request;
mod registration;
mod staking;

use std::{collections::BTreeMap, path::PathBuf};

use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use tracing::warn;
use veil_primitives::{
    AccountId, Balance, Call, ChainIdentity, Height, PrivateKey, Transaction, to_hex,
};

use crate::ports::{ChainClient, Peers, PortError, WorkerClient};

/// Blocks a host transaction stays valid; after that it is sent again if still needed.
const TX_TTL: Height = 20;
/// Blocks each gatekeeper's host waits, per position in the election, before posting a copy
/// of the gatekeepers' stream that no other host has got on chain yet.
const GATEKEEPER_STAGGER: Height = 2;
/// Most of the operator's egress transactions in flight at once: a node's mempool holds at
/// most 64 pending transactions per sender, and each one past that is refused and costs the
/// host its nonce (a round of refusals until the window drains). Registration, staking and
/// gatekeeper copies keep the rest.
const MAX_EGRESS_IN_FLIGHT: usize = 56;
/// Blocks to wait after a refused registration before trying again.
const REFUSAL_BACKOFF: Height = 20;

/// What a host needs to act for its operator.
#[derive(Clone)]
pub struct OperatorConfig {
    /// The operator account: signs and pays for registrations and egress.
    pub key: PrivateKey,
    /// The pRuntime public endpoint to register.
    pub endpoint: String,
    /// Dev RA service URL (`veil ra-service`), for dev evidence.
    pub ra_service: Option<String>,
    /// Where DCAP collateral comes from, for SGX and TDX evidence.
    pub collateral: Option<CollateralSource>,
    /// Stand the worker as a gatekeeper candidate, backed by this bond.
    pub gatekeeper_bond: Option<Balance>,
}

/// Where a host gets DCAP collateral for its worker's quotes.
#[derive(Clone, Debug)]
pub enum CollateralSource {
    /// A JSON file (the `dcap-qvl` collateral form), read at each registration, so refreshing
    /// the file is enough.
    File(PathBuf),
    /// A PCCS base URL (API v4), asked at each registration.
    Pccs(String),
}

impl std::fmt::Debug for OperatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorConfig")
            .field("operator", &to_hex(self.key.public_key()))
            .field("endpoint", &self.endpoint)
            .field("ra_service", &self.ra_service)
            .field("collateral", &self.collateral)
            .field("gatekeeper_bond", &self.gatekeeper_bond)
            .finish_non_exhaustive()
    }
}

/// Duty state across rounds of one session.
pub struct Duties {
    config: OperatorConfig,
    chain: ChainIdentity,
    worker: AccountId,
    next_nonce: Option<u64>,
    registration: Option<(String, Height)>,
    retry_after: Height,
    in_flight: BTreeMap<u64, Height>,
    /// Contract messages and replies posted, by (reply, source, destination, sequence).
    contract_in_flight: BTreeMap<egress::ContractSlot, Height>,
    gatekeeper_in_flight: BTreeMap<u64, Height>,
    gatekeeper_seen: BTreeMap<u64, Height>,
    staking: Option<(String, Height)>,
    /// Checkpoints being posted, by contract (hex).
    uploads: BTreeMap<String, contracts::Upload>,
    /// Checkpoint chunks posted, by (contract, chunk index).
    checkpoint_in_flight: BTreeMap<(String, u32), Height>,
    /// Most hex bytes of log entries per recovery call.
    recovery_part_bytes: usize,
}

impl Duties {
    /// Duties for `worker` on `chain`, acting for the operator in `config`.
    pub fn new(config: OperatorConfig, chain: ChainIdentity, worker: AccountId) -> Self {
        Self {
            config,
            chain,
            worker,
            next_nonce: None,
            registration: None,
            retry_after: 0,
            in_flight: BTreeMap::new(),
            contract_in_flight: BTreeMap::new(),
            gatekeeper_in_flight: BTreeMap::new(),
            gatekeeper_seen: BTreeMap::new(),
            staking: None,
            uploads: BTreeMap::new(),
            checkpoint_in_flight: BTreeMap::new(),
            recovery_part_bytes: contracts::RECOVERY_PART_BYTES,
        }
    }

    /// Sends recovery logs in parts of at most `bytes` (hex) per call: tests make the parts
    /// small to exercise staging.
    pub fn with_recovery_part_bytes(mut self, bytes: usize) -> Self {
        self.recovery_part_bytes = bytes;
        self
    }

    /// One round: renew the registration if due, keep the candidacy, fetch the root key if
    /// elected without it, then post pending egress and gatekeeper copies.
    pub async fn round(
        &mut self,
        node: &impl ChainClient,
        pruntime: &impl WorkerClient,
        peers: &impl Peers,
    ) -> anyhow::Result<()> {
        let tip = node.status().await?.height;
        let entry = node.worker(to_hex(&self.worker)).await?;
        // Resynchronize the nonce when nothing of ours can still be pending.
        let lapsed = self.in_flight.values().any(|&exp| exp < tip)
            || self.contract_in_flight.values().any(|&exp| exp < tip)
            || self.checkpoint_in_flight.values().any(|&exp| exp < tip)
            || self.registration.as_ref().is_some_and(|r| r.1 < tip)
            || self.staking.as_ref().is_some_and(|r| r.1 < tip);
        // A lapsed chunk was noted above; the upload it belonged to expires on its own.
        self.checkpoint_in_flight.retain(|_, exp| *exp >= tip);
        if lapsed
            || (self.in_flight.is_empty()
                && self.contract_in_flight.is_empty()
                && self.checkpoint_in_flight.is_empty()
                && self.registration.is_none()
                && self.staking.is_none())
        {
            self.next_nonce = None;
        }
        // A failing registration (RA service or PCCS down, say) must not stop egress.
        if let Err(e) = self
            .register(node, pruntime, peers, tip, entry.as_ref())
            .await
        {
            warn!("registration: {e:#}; retrying in {REFUSAL_BACKOFF} blocks");
            self.retry_after = tip + REFUSAL_BACKOFF;
        }
        if let Some(entry) = &entry {
            if let Err(e) = self.stand(node, tip).await {
                warn!("gatekeeper candidacy: {e:#}");
            }
            if let Err(e) = self.fetch_root_key(pruntime, peers).await {
                warn!("root key request: {e:#}; trying the next holder next round");
            }
            // One look at what pRuntime has to say serves every posting duty.
            let effects = pruntime.side_effects().await?;
            self.post_egress(node, &effects, tip, entry).await?;
            self.post_contract_messages(node, &effects, tip).await?;
            self.post_gatekeeper_copies(node, &effects, tip).await?;
            self.contracts(node, pruntime, &effects, tip).await;
        }
        Ok(())
    }

    /// Signs `call` with the operator's next nonce, valid for [TX_TTL] blocks, and submits it.
    async fn submit(
        &mut self,
        node: &impl ChainClient,
        call: Call,
        tip: Height,
    ) -> Result<String, PortError> {
        let key = &self.config.key;
        let nonce = match self.next_nonce {
            Some(n) => n,
            None => node.account(to_hex(key.public_key())).await?.nonce,
        };
        let tx = Transaction {
            sender: key.public_key(),
            nonce,
            expiry: tip + TX_TTL,
            call,
        }
        .sign(key, &self.chain);
        match node.submit(to_hex(tx.encode())).await {
            Ok(hash) => {
                self.next_nonce = Some(nonce + 1);
                Ok(hash)
            }
            Err(e) => {
                self.next_nonce = None;
                Err(e)
            }
        }
    }
}
