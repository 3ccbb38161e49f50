//! The operator's duties: keep the worker registered and post its egress.
//!
//! Both are driven by chain state, re-read every round, so a restarted host neither registers
//! again nor posts a message twice: it registers only when the chain has no entry for the
//! worker or the entry is within a quarter of its lifetime of lapsing, and posts only egress
//! whose sequence the chain has not routed yet and that has no live transaction in flight.
//! Transactions carry a short expiry; one that lapses unincluded is simply sent again.

use std::{collections::BTreeMap, path::PathBuf};

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use jsonrpsee::{core::client::ClientT as _, http_client::HttpClient, rpc_params};
use tracing::{info, warn};
use veil_attestation::{Evidence, TeeKind};
use veil_node::rpc::{VeilApiClient as _, WorkerView};
use veil_primitives::{
    AccountId, Balance, Call, ChainIdentity, Height, MAX_TX_BYTES_CAP, PrivateKey, Registration,
    SignedGatekeeperMessage, SignedWorkerMessage, StakingCall, Transaction, from_hex, to_hex,
};
use veil_pruntime::api::{PrivateApiClient as _, PublicApiClient as _};

/// Blocks a host transaction stays valid; after that it is sent again if still needed.
const TX_TTL: Height = 20;
/// Blocks each gatekeeper's host waits, per position in the election, before posting a copy
/// of the gatekeepers' stream that no other host has got on chain yet.
const GATEKEEPER_STAGGER: Height = 2;
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
pub(crate) struct Duties {
    config: OperatorConfig,
    chain: ChainIdentity,
    worker: AccountId,
    next_nonce: Option<u64>,
    registration: Option<(String, Height)>,
    retry_after: Height,
    in_flight: BTreeMap<u64, Height>,
    gatekeeper_in_flight: BTreeMap<u64, Height>,
    gatekeeper_seen: BTreeMap<u64, Height>,
    staking: Option<(String, Height)>,
}

impl Duties {
    pub(crate) fn new(config: OperatorConfig, chain: ChainIdentity, worker: AccountId) -> Self {
        Self {
            config,
            chain,
            worker,
            next_nonce: None,
            registration: None,
            retry_after: 0,
            in_flight: BTreeMap::new(),
            gatekeeper_in_flight: BTreeMap::new(),
            gatekeeper_seen: BTreeMap::new(),
            staking: None,
        }
    }

    /// One round: renew the registration if due, then post pending egress.
    pub(crate) async fn round(
        &mut self,
        node: &HttpClient,
        pruntime: &HttpClient,
    ) -> anyhow::Result<()> {
        let tip = node.status().await?.height;
        let entry = node.get_worker(to_hex(&self.worker)).await?;
        // Resynchronize the nonce when nothing of ours can still be pending.
        let lapsed = self.in_flight.values().any(|&exp| exp < tip)
            || self.registration.as_ref().is_some_and(|r| r.1 < tip)
            || self.staking.as_ref().is_some_and(|r| r.1 < tip);
        if lapsed
            || (self.in_flight.is_empty() && self.registration.is_none() && self.staking.is_none())
        {
            self.next_nonce = None;
        }
        // A failing registration (RA service or PCCS down, say) must not stop egress.
        if let Err(e) = self.register(node, pruntime, tip, entry.as_ref()).await {
            warn!("registration: {e:#}; retrying in {REFUSAL_BACKOFF} blocks");
            self.retry_after = tip + REFUSAL_BACKOFF;
        }
        if let Some(entry) = &entry {
            if let Err(e) = self.stand(node, tip).await {
                warn!("gatekeeper candidacy: {e:#}");
            }
            if let Err(e) = self.fetch_root_key(pruntime).await {
                warn!("root key request: {e:#}; trying the next holder next round");
            }
            self.post_egress(node, pruntime, tip, entry).await?;
            self.post_gatekeeper_copies(node, pruntime, tip).await?;
        }
        Ok(())
    }

    /// An elected gatekeeper without the root key asks a holder for it: the host carries the
    /// first Noise message to the holder's public API and its answer back, and learns nothing
    /// from either.
    async fn fetch_root_key(&mut self, pruntime: &HttpClient) -> anyhow::Result<()> {
        let Some(state) = pruntime.get_sync_state().await? else {
            return Ok(());
        };
        if !state.elected || state.holds_root_key {
            return Ok(());
        }
        let request = pruntime
            .start_key_request()
            .await
            .map_err(|e| anyhow::anyhow!("pRuntime would not start a key request: {e}"))?;
        let holder = crate::http(&request.endpoint)?;
        let answer = holder
            .request_root_key(request.message)
            .await
            .map_err(|e| {
                anyhow::anyhow!("key holder {} at {}: {e}", request.holder, request.endpoint)
            })?;
        let received = pruntime
            .finish_key_request(answer.message)
            .await
            .map_err(|e| anyhow::anyhow!("pRuntime refused the holder's answer: {e}"))?;
        info!(
            round = request.round,
            holder = %request.holder,
            era = received.era,
            "root key received by pRuntime; readiness confirmation queued"
        );
        Ok(())
    }

    /// Posts this gatekeeper's copies of the gatekeepers' messages that the chain has not
    /// routed. Other gatekeepers post identical copies; the chain keeps the first.
    async fn post_gatekeeper_copies(
        &mut self,
        node: &HttpClient,
        pruntime: &HttpClient,
        tip: Height,
    ) -> anyhow::Result<()> {
        let effects = pruntime.dump_side_effect().await?;
        if effects.gatekeeper_messages.is_empty() {
            self.gatekeeper_in_flight.clear();
            self.gatekeeper_seen.clear();
            return Ok(());
        }
        let next = node.gatekeeper_stream().await?.next_sequence;
        self.gatekeeper_in_flight.retain(|&seq, _| seq >= next);
        self.gatekeeper_seen.retain(|&seq, _| seq >= next);
        // Every gatekeeper holds the same copies; the first on chain wins and the rest only
        // cost fees. The n-th gatekeeper of the election waits n * STAGGER blocks before
        // posting a copy, so usually one host posts and the others find it routed.
        let position = node
            .election()
            .await?
            .and_then(|e| {
                e.gatekeepers
                    .iter()
                    .position(|g| g == &to_hex(&self.worker))
            })
            .unwrap_or(0) as u64;
        for (seq, encoded) in effects
            .gatekeeper_sequences
            .iter()
            .zip(&effects.gatekeeper_messages)
        {
            let seen = *self.gatekeeper_seen.entry(*seq).or_insert(tip);
            if *seq < next
                || tip < seen + position * GATEKEEPER_STAGGER
                || self
                    .gatekeeper_in_flight
                    .get(seq)
                    .is_some_and(|&exp| tip <= exp)
            {
                continue;
            }
            let msg = SignedGatekeeperMessage::decode_cfg(
                from_hex(encoded)?,
                &(MAX_TX_BYTES_CAP as usize),
            )
            .map_err(|e| anyhow::anyhow!("pRuntime returned a bad gatekeeper message: {e}"))?;
            match self
                .submit(node, Call::GatekeeperMessage(Box::new(msg)), tip)
                .await
            {
                Ok(hash) => {
                    info!(sequence = seq, %hash, "gatekeeper copy posted");
                    self.gatekeeper_in_flight.insert(*seq, tip + TX_TTL);
                }
                Err(e)
                    if e.to_string()
                        .contains("already routed with the same content") =>
                {
                    self.gatekeeper_in_flight.insert(*seq, tip + TX_TTL);
                }
                Err(e) => {
                    warn!(sequence = seq, "gatekeeper copy not accepted: {e:#}");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Keeps the registered worker standing as a gatekeeper candidate: bonds up to the
    /// configured amount, then declares the candidacy, one transaction per round.
    async fn stand(&mut self, node: &HttpClient, tip: Height) -> anyhow::Result<()> {
        let Some(bond) = self.config.gatekeeper_bond else {
            return Ok(());
        };
        if let Some((hash, until)) = self.staking.clone() {
            let view = node.get_transaction(hash).await?;
            if view.status == "finalized" {
                self.staking = None;
                if let Some(e) = view.error {
                    warn!(%e, "staking transaction failed");
                }
            } else if tip <= until {
                return Ok(());
            } else {
                self.staking = None;
            }
        }
        let view = node
            .get_staking(to_hex(self.config.key.public_key()))
            .await?;
        if view.backs.as_deref() == Some(to_hex(&self.worker).as_str()) {
            return Ok(());
        }
        let bonded: Balance = view
            .bonded
            .parse()
            .map_err(|e| anyhow::anyhow!("node reported a bad bond: {e}"))?;
        let call = if bonded < bond {
            StakingCall::Bond {
                amount: bond - bonded,
            }
        } else {
            StakingCall::Candidate {
                worker: self.worker.clone(),
            }
        };
        let what = format!("{call:?}");
        let hash = self.submit(node, Call::Staking(call), tip).await?;
        info!(%hash, call = %what, "gatekeeper candidacy");
        self.staking = Some((hash, tip + TX_TTL));
        Ok(())
    }

    async fn register(
        &mut self,
        node: &HttpClient,
        pruntime: &HttpClient,
        tip: Height,
        entry: Option<&WorkerView>,
    ) -> anyhow::Result<()> {
        let due = match entry {
            None => true,
            Some(w) => {
                let margin = ((w.expiry - w.registered_at) / 4).max(1);
                w.expiry.saturating_sub(tip) <= margin
            }
        };
        if let Some((hash, until)) = self.registration.clone() {
            let view = node.get_transaction(hash.clone()).await?;
            if view.status == "finalized" {
                self.registration = None;
                match view.error {
                    None => {
                        info!(worker = %to_hex(&self.worker), height = ?view.height, "worker registered");
                        return Ok(());
                    }
                    Some(e) => {
                        warn!(%e, "registration refused by the chain; retrying in {REFUSAL_BACKOFF} blocks");
                        self.retry_after = tip + REFUSAL_BACKOFF;
                    }
                }
            } else if tip <= until {
                return Ok(());
            } else {
                self.registration = None;
            }
        }
        if !due || tip < self.retry_after {
            return Ok(());
        }
        let reg = self.build_registration(pruntime).await?;
        let attested = reg.attested_height;
        match self.submit(node, Call::Register(Box::new(reg)), tip).await {
            Ok(hash) => {
                info!(%hash, attested, renew = entry.is_some(), "registration submitted");
                self.registration = Some((hash, tip + TX_TTL));
            }
            Err(e) => {
                warn!("registration not accepted: {e:#}; retrying in {REFUSAL_BACKOFF} blocks");
                self.retry_after = tip + REFUSAL_BACKOFF;
            }
        }
        Ok(())
    }

    async fn build_registration(&self, pruntime: &HttpClient) -> anyhow::Result<Registration> {
        let view = pruntime
            .get_registration(
                to_hex(self.config.key.public_key()),
                self.config.endpoint.clone(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("pRuntime would not sign a registration: {e}"))?;
        let mut reg = Registration::decode(from_hex(&view.registration)?)
            .map_err(|e| anyhow::anyhow!("pRuntime returned a bad registration: {e}"))?;
        match view.tee {
            TeeKind::Dev => {
                let url = self.config.ra_service.as_deref().ok_or_else(|| {
                    anyhow::anyhow!("pRuntime runs in dev mode: give --ra-service to register")
                })?;
                let ra = crate::http(url)?;
                let signed: String = ra
                    .request("ra_signDevQuote", rpc_params![to_hex(&reg.evidence)])
                    .await
                    .map_err(|e| anyhow::anyhow!("dev RA service at {url}: {e}"))?;
                reg.evidence = Evidence {
                    kind: TeeKind::Dev,
                    quote: from_hex(&signed)?,
                }
                .encode()
                .to_vec();
            }
            TeeKind::SgxDcap | TeeKind::Tdx => {
                let source = self.config.collateral.as_ref().ok_or_else(|| {
                    anyhow::anyhow!(
                        "DCAP evidence needs collateral: give --pccs-url URL or --collateral FILE"
                    )
                })?;
                reg.collateral = match source {
                    CollateralSource::File(path) => std::fs::read(path).map_err(|e| {
                        anyhow::anyhow!("cannot read collateral {}: {e}", path.display())
                    })?,
                    CollateralSource::Pccs(url) => {
                        let evidence = Evidence::decode(reg.evidence.clone())
                            .map_err(|e| anyhow::anyhow!("pRuntime returned bad evidence: {e}"))?;
                        crate::pccs::fetch_collateral(&crate::pccs::client()?, url, &evidence.quote)
                            .await?
                    }
                };
            }
        }
        Ok(reg)
    }

    async fn post_egress(
        &mut self,
        node: &HttpClient,
        pruntime: &HttpClient,
        tip: Height,
        entry: &WorkerView,
    ) -> anyhow::Result<()> {
        let next = entry.next_sequence.unwrap_or(0);
        self.in_flight.retain(|&seq, _| seq >= next);
        let effects = pruntime.dump_side_effect().await?;
        for (seq, encoded) in effects.sequences.iter().zip(&effects.messages) {
            if *seq < next || self.in_flight.get(seq).is_some_and(|&exp| tip <= exp) {
                continue;
            }
            let msg =
                SignedWorkerMessage::decode_cfg(from_hex(encoded)?, &(MAX_TX_BYTES_CAP as usize))
                    .map_err(|e| anyhow::anyhow!("pRuntime returned bad egress: {e}"))?;
            match self
                .submit(node, Call::WorkerMessage(Box::new(msg)), tip)
                .await
            {
                Ok(hash) => {
                    info!(sequence = seq, %hash, "egress posted");
                    self.in_flight.insert(*seq, tip + TX_TTL);
                }
                Err(e) => {
                    // The rest would leave a gap; try again next round.
                    warn!(sequence = seq, "egress not accepted: {e:#}");
                    break;
                }
            }
        }
        Ok(())
    }

    async fn submit(
        &mut self,
        node: &HttpClient,
        call: Call,
        tip: Height,
    ) -> anyhow::Result<String> {
        let key = &self.config.key;
        let nonce = match self.next_nonce {
            Some(n) => n,
            None => node.get_account(to_hex(key.public_key())).await?.nonce,
        };
        let tx = Transaction {
            sender: key.public_key(),
            nonce,
            expiry: tip + TX_TTL,
            call,
        }
        .sign(key, &self.chain);
        match node.submit_transaction(to_hex(tx.encode())).await {
            Ok(hash) => {
                self.next_nonce = Some(nonce + 1);
                Ok(hash)
            }
            Err(e) => {
                self.next_nonce = None;
                Err(anyhow::anyhow!("{e}"))
            }
        }
    }
}
