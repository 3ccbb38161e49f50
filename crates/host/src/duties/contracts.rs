//! The contracts this worker runs: posting their checkpoints, and recovering those assigned
//! here from another miner.
//!
//! Checkpoints: once a contract's log has moved past its latest checkpoint and
//! `checkpoint_interval` blocks have passed since it (or since the assignment), the host asks
//! pRuntime for a checkpoint of its synced state and posts its signed chunks, a few per round.
//!
//! Recovery: pRuntime lists each contract it recovers with the checkpoint and log positions
//! the assignment named; once it holds the contract key, the host brings it the chain's sealed
//! checkpoint and the log entries after it (the node's index of messages by contract, so
//! nothing else is read). pRuntime checks all of it; the host only fetches.

use commonware_codec::{Decode as _, DecodeExt as _};
use tracing::{info, warn};
use veil_primitives::{
    Call, Height, MAX_TX_BYTES_CAP,
    contract::{ContractCall, LogEntry, SignedCheckpointChunk},
    from_hex, to_hex,
};
use veil_pruntime_api::{
    ContractStatusView, RecoverCheckpoint, RecoverRequest, RecoveringView, SideEffectsView,
    StageRecoveryRequest,
};
use veil_rpc_api::limits::MAX_LOG_ENTRIES;

use super::{Duties, MAX_EGRESS_IN_FLIGHT, TX_TTL};
use crate::ports::{ChainClient, WorkerClient};

/// Most checkpoint chunks posted per round (the rest follow in the next rounds).
const CHUNKS_PER_ROUND: usize = 16;
/// Most hex bytes of log entries in one call of a recovery, well within pRuntime's request
/// limit (a checkpoint rides with the last part).
pub(super) const RECOVERY_PART_BYTES: usize = 64 * 1024 * 1024;

/// `entries` in consecutive parts of at most `max` hex bytes each (an entry larger than
/// that alone); at least one part, maybe empty.
fn split_hex(entries: Vec<String>, max: usize) -> Vec<Vec<String>> {
    let mut parts = vec![Vec::new()];
    let mut size = 0;
    for e in entries {
        let last = parts.last_mut().expect("never empty");
        if !last.is_empty() && size + e.len() > max {
            parts.push(Vec::new());
            size = 0;
        }
        size += e.len();
        parts.last_mut().expect("never empty").push(e);
    }
    parts
}

/// A checkpoint being posted.
pub(super) struct Upload {
    /// The height of its state.
    height: Height,
    /// Its encoded signed chunks.
    chunks: Vec<String>,
    /// The next chunk to post.
    next: usize,
    /// When to give up on it and make a fresh one.
    expires: Height,
}

impl Duties {
    /// Recovers the contracts that wait for it, and posts checkpoints that are due.
    pub(super) async fn contracts(
        &mut self,
        node: &impl ChainClient,
        pruntime: &impl WorkerClient,
        effects: &SideEffectsView,
        tip: Height,
    ) {
        let running: Vec<&String> = effects.contracts.iter().map(|c| &c.contract).collect();
        self.uploads.retain(|id, _| running.contains(&id));
        for status in &effects.contracts {
            let result = match &status.recovering {
                Some(recovering) if status.has_key => {
                    self.recover(node, pruntime, &status.contract, recovering)
                        .await
                }
                Some(_) => Ok(()),
                None if status.has_key => self.checkpoint(node, pruntime, status, tip).await,
                None => Ok(()),
            };
            if let Err(e) = result {
                warn!(contract = status.contract, "contract duty: {e:#}");
            }
        }
    }

    async fn recover(
        &mut self,
        node: &impl ChainClient,
        pruntime: &impl WorkerClient,
        contract: &str,
        recovering: &RecoveringView,
    ) -> anyhow::Result<()> {
        // The chain's latest checkpoint: the one the assignment named, or a later one.
        let found = node.checkpoint(contract.to_string()).await?;
        if let Some(named) = recovering.checkpoint_height {
            anyhow::ensure!(
                found.as_ref().is_some_and(|c| c.record.height >= named),
                "the chain no longer has the checkpoint at height {named} the assignment named, \
                 nor a later one"
            );
        }
        if let Some(c) = &found
            && c.record.log_count > recovering.synced_count
        {
            // Made after this worker's sync: usable once it has synced that far.
            return Ok(());
        }
        let (checkpoint, mut from, start) = match found {
            Some(c) => (
                Some(RecoverCheckpoint {
                    record: c.encoded,
                    sealed: c.sealed,
                }),
                c.record.height + 1,
                c.record.log_count,
            ),
            None => (None, 0, 0),
        };
        let needed = recovering.to_count.saturating_sub(start) as usize;
        info!(
            contract,
            checkpoint = recovering.checkpoint_height,
            entries = needed,
            "recovering a contract assigned here"
        );
        let mut entries = Vec::with_capacity(needed);
        while entries.len() < needed {
            let page = node
                .contract_log(contract.to_string(), from, MAX_LOG_ENTRIES)
                .await?;
            let Some(last) = page.last() else {
                anyhow::bail!(
                    "the node's log of the contract has {} of the {needed} entries after the checkpoint",
                    entries.len()
                );
            };
            let last = LogEntry::decode_cfg(from_hex(last)?, &(MAX_TX_BYTES_CAP as usize))
                .map_err(|e| anyhow::anyhow!("the node sent a bad log entry: {e}"))?;
            from = last.height + 1;
            entries.extend(page);
            if needed > MAX_LOG_ENTRIES as usize {
                info!(
                    contract,
                    fetched = entries.len().min(needed),
                    needed,
                    "fetching the contract's log"
                );
            }
        }
        entries.truncate(needed);
        // A log too large for one call goes in parts, staged from the start each attempt.
        let mut parts = split_hex(entries, self.recovery_part_bytes);
        let last = parts.pop().unwrap_or_default();
        let mut staged = 0;
        for part in parts {
            let n = part.len() as u64;
            let view = pruntime
                .stage_recovery(StageRecoveryRequest {
                    contract: contract.to_string(),
                    offset: staged,
                    entries: part,
                })
                .await?;
            staged += n;
            anyhow::ensure!(
                view.staged == staged,
                "pRuntime counts {} staged log entries, not {staged}",
                view.staged
            );
            info!(
                contract,
                staged, needed, "staged log entries for the recovery"
            );
        }
        let done = pruntime
            .recover(RecoverRequest {
                contract: contract.to_string(),
                checkpoint,
                entries: last,
                staged,
            })
            .await?;
        info!(
            contract,
            log = done.log_count,
            "contract recovered; this worker runs it now"
        );
        Ok(())
    }

    async fn checkpoint(
        &mut self,
        node: &impl ChainClient,
        pruntime: &impl WorkerClient,
        status: &ContractStatusView,
        tip: Height,
    ) -> anyhow::Result<()> {
        let Some(view) = node.contract(status.contract.clone()).await? else {
            return Ok(());
        };
        if view.miner != to_hex(&self.worker) || !view.granted {
            return Ok(());
        }
        let (kept_height, kept_count) = view
            .checkpoint
            .as_ref()
            .map_or((0, 0), |c| (c.height, c.log_count));
        let upload = self.uploads.get(&status.contract);
        let stale = upload.is_some_and(|u| u.height <= kept_height && view.checkpoint.is_some());
        if stale || upload.is_some_and(|u| tip > u.expires) {
            self.uploads.remove(&status.contract);
        }
        if !self.uploads.contains_key(&status.contract) {
            let since = view
                .checkpoint
                .as_ref()
                .map_or(view.assigned_at, |c| c.height.max(view.assigned_at));
            let due = view.log_count > kept_count
                && status.log_count > kept_count
                && tip >= since + view.checkpoint_interval;
            if !due {
                return Ok(());
            }
            let made = pruntime.checkpoint(status.contract.clone()).await?;
            if made.height <= kept_height || made.log_count <= kept_count {
                return Ok(());
            }
            info!(
                contract = status.contract,
                height = made.height,
                bytes = made.size,
                chunks = made.chunks.len(),
                "posting a checkpoint"
            );
            self.uploads.insert(
                status.contract.clone(),
                Upload {
                    height: made.height,
                    chunks: made.chunks,
                    next: 0,
                    expires: tip + 4 * TX_TTL,
                },
            );
        }
        let Some(mut upload) = self.uploads.remove(&status.contract) else {
            return Ok(());
        };
        let mut posted = 0;
        while upload.next < upload.chunks.len() && posted < CHUNKS_PER_ROUND {
            let live = self.in_flight.values().filter(|&&exp| tip <= exp).count()
                + self
                    .checkpoint_in_flight
                    .values()
                    .filter(|&&exp| tip <= exp)
                    .count();
            if live >= MAX_EGRESS_IN_FLIGHT {
                break;
            }
            let chunk = SignedCheckpointChunk::decode(from_hex(&upload.chunks[upload.next])?)
                .map_err(|e| anyhow::anyhow!("pRuntime returned a bad checkpoint chunk: {e}"))?;
            let call = Call::Contract(ContractCall::Checkpoint(Box::new(chunk)));
            match self.submit(node, call, tip).await {
                Ok(_) => {
                    self.checkpoint_in_flight
                        .insert((status.contract.clone(), upload.next as u32), tip + TX_TTL);
                    upload.next += 1;
                    posted += 1;
                }
                Err(e) => {
                    // Dropped: the next due round makes a fresh one.
                    warn!(
                        contract = status.contract,
                        height = upload.height,
                        "checkpoint chunk not accepted: {e}"
                    );
                    return Ok(());
                }
            }
        }
        // Kept until the chain shows it (or it expires), so it is not made again meanwhile.
        self.uploads.insert(status.contract.clone(), upload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_hex;

    #[test]
    fn a_log_splits_into_parts_within_the_limit_and_in_order() {
        let entries: Vec<String> = [4, 4, 2, 9, 1, 1].map(|n| "a".repeat(n)).to_vec();
        let parts = split_hex(entries.clone(), 8);
        // In order, nothing lost; each part within 8 bytes but for an entry larger alone.
        assert_eq!(parts.concat(), entries);
        let sizes: Vec<usize> = parts
            .iter()
            .map(|p| p.iter().map(String::len).sum())
            .collect();
        assert_eq!(sizes, [8, 2, 9, 2]);
        assert_eq!(split_hex(Vec::new(), 8), vec![Vec::<String>::new()]);
        assert_eq!(split_hex(entries.clone(), usize::MAX), vec![entries]);
    }
}
