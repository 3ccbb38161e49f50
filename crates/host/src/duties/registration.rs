//! Keeping the worker registered: register when the chain has no entry, renew when a
//! quarter of the registration's lifetime is left. Dev evidence is signed by the dev RA
//! service; DCAP evidence gets its collateral from a PCCS or a file.

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use tracing::{info, warn};
use veil_attestation::{Evidence, TeeKind};
use veil_primitives::{Call, Height, Registration, from_hex, to_hex};
use veil_rpc_api::{TxStatus, WorkerView};

use super::{CollateralSource, Duties, REFUSAL_BACKOFF, TX_TTL};
use crate::ports::{ChainClient, Peers, WorkerClient};

impl Duties {
    pub(super) async fn register(
        &mut self,
        node: &impl ChainClient,
        pruntime: &impl WorkerClient,
        peers: &impl Peers,
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
            let view = node.transaction(hash.clone()).await?;
            if view.status == TxStatus::Finalized {
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
        let reg = self.build_registration(pruntime, peers).await?;
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

    async fn build_registration(
        &self,
        pruntime: &impl WorkerClient,
        peers: &impl Peers,
    ) -> anyhow::Result<Registration> {
        let view = pruntime
            .registration(
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
                let signed = peers
                    .sign_dev_quote(url, to_hex(&reg.evidence))
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
                        peers.collateral(url, &evidence.quote).await?
                    }
                };
            }
        }
        Ok(reg)
    }
}
