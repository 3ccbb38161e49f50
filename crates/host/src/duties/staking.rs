//! Standing as a gatekeeper candidate: bond up to the configured amount, then declare the
//! candidacy, one transaction per round.

use commonware_cryptography::Signer as _;
use tracing::{info, warn};
use veil_primitives::{Balance, Call, Height, StakingCall, to_hex};
use veil_rpc_api::TxStatus;

use super::{Duties, TX_TTL};
use crate::ports::ChainClient;

impl Duties {
    /// Keeps the registered worker standing as a gatekeeper candidate: bonds up to the
    /// configured amount, then declares the candidacy, one transaction per round.
    pub(super) async fn stand(
        &mut self,
        node: &impl ChainClient,
        tip: Height,
    ) -> anyhow::Result<()> {
        let Some(bond) = self.config.gatekeeper_bond else {
            return Ok(());
        };
        if let Some((hash, until)) = self.staking.clone() {
            let view = node.transaction(hash).await?;
            if view.status == TxStatus::Finalized {
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
        let view = node.staking(to_hex(self.config.key.public_key())).await?;
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
}
