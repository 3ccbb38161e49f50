//! Fetching the root key when elected: the host carries the first Noise message from its
//! pRuntime to a key holder's public API and the answer back, and learns nothing from either.

use tracing::info;

use super::Duties;
use crate::ports::{Peers, WorkerClient};

impl Duties {
    /// An elected gatekeeper without the root key asks a holder for it: the host carries the
    /// first Noise message to the holder's public API and its answer back, and learns nothing
    /// from either.
    pub(super) async fn fetch_root_key(
        &mut self,
        pruntime: &impl WorkerClient,
        peers: &impl Peers,
    ) -> anyhow::Result<()> {
        let Some(state) = pruntime.sync_state().await? else {
            return Ok(());
        };
        if !state.elected || state.holds_root_key {
            return Ok(());
        }
        let request = pruntime
            .start_key_request()
            .await
            .map_err(|e| anyhow::anyhow!("pRuntime would not start a key request: {e}"))?;
        let answer = peers
            .request_root_key(&request.endpoint, request.message)
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
}
