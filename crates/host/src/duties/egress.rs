//! Posting egress: the worker's signed messages in sequence order, its contracts' messages and
//! replies in each channel's order, and a gatekeeper's copies of the gatekeepers' stream, each
//! only while the chain has not routed it.

use std::collections::BTreeSet;

use commonware_codec::{Decode as _, DecodeExt as _, EncodeSize as _};
use tracing::{info, warn};
use veil_primitives::{
    Call, Digest, Height, MAX_TX_BYTES_CAP, SignedGatekeeperMessage, SignedWorkerMessage,
    contract::{ContractCall, ContractEgress, MAX_POST_BATCH, SignedContractEgress},
    from_hex, to_hex,
};
use veil_pruntime_api::SideEffectsView;
use veil_rpc_api::WorkerView;

use super::{Duties, GATEKEEPER_STAGGER, MAX_EGRESS_IN_FLIGHT, TX_TTL};
use crate::ports::ChainClient;

/// Bytes of contract messages packed into one transaction: what the least transaction size
/// governance may set still carries with its own fields.
const POST_BYTES: usize = veil_primitives::MIN_MESSAGE_BYTES as usize;

/// A contract message (`false`) or reply (`true`) by channel and sequence.
pub(super) type ContractSlot = (bool, Digest, Digest, u64);

impl Duties {
    /// Posts the messages and replies of the contracts this worker runs that the chain has not
    /// routed, each channel in order, packed up to [MAX_POST_BATCH] (or [POST_BYTES]) per
    /// transaction; a channel whose next one is refused waits a round (the chain takes no gaps).
    /// One already routed is left to pRuntime to confirm.
    pub(super) async fn post_contract_messages(
        &mut self,
        node: &impl ChainClient,
        effects: &SideEffectsView,
        tip: Height,
    ) -> anyhow::Result<()> {
        let mut pending = Vec::with_capacity(effects.contract_messages.len());
        for egress in &effects.contract_messages {
            let signed = SignedContractEgress::decode(from_hex(&egress.message)?)
                .map_err(|e| anyhow::anyhow!("pRuntime returned a bad contract message: {e}"))?;
            let (source, destination) = signed.egress.channel();
            let reply = matches!(signed.egress, ContractEgress::Reply(_));
            pending.push(((reply, *source, *destination, egress.sequence), signed));
        }
        // Routed ones left pRuntime's list: they are done.
        let listed: BTreeSet<ContractSlot> = pending.iter().map(|(slot, _)| *slot).collect();
        self.contract_in_flight
            .retain(|slot, _| listed.contains(slot));
        let todo: Vec<(ContractSlot, SignedContractEgress)> = pending
            .into_iter()
            .filter(|(slot, _)| {
                self.contract_in_flight
                    .get(slot)
                    .is_none_or(|&exp| tip > exp)
            })
            .collect();
        let mut batches: Vec<Vec<(ContractSlot, SignedContractEgress)>> = Vec::new();
        let mut size = 0;
        for item in todo {
            let len = item.1.encode_size();
            match batches.last_mut() {
                Some(batch) if batch.len() < MAX_POST_BATCH && size + len <= POST_BYTES => {
                    size += len;
                    batch.push(item);
                }
                _ => {
                    size = len;
                    batches.push(vec![item]);
                }
            }
        }
        for batch in batches {
            let live = self.in_flight.values().filter(|&&exp| tip <= exp).count()
                + self
                    .contract_in_flight
                    .values()
                    .filter(|&&exp| tip <= exp)
                    .count()
                    .div_ceil(MAX_POST_BATCH);
            if live >= MAX_EGRESS_IN_FLIGHT {
                break;
            }
            let (slots, items): (Vec<ContractSlot>, Vec<SignedContractEgress>) =
                batch.into_iter().unzip();
            let call = Call::Contract(ContractCall::Post(items));
            match self.submit(node, call, tip).await {
                Ok(hash) => {
                    info!(count = slots.len(), %hash, "contract messages posted");
                    for slot in slots {
                        self.contract_in_flight.insert(slot, tip + TX_TTL);
                    }
                }
                Err(e) if e.to_string().contains("was already routed") => {
                    // Ours, routed while pRuntime had not synced it: wait for it to confirm.
                    for slot in slots {
                        self.contract_in_flight.insert(slot, tip + TX_TTL);
                    }
                }
                Err(e) => {
                    // A gap: an earlier one is still on its way. The next round tries again.
                    warn!(count = slots.len(), "contract messages not accepted: {e:#}");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Posts this gatekeeper's copies of the gatekeepers' messages that the chain has not
    /// routed. Other gatekeepers post identical copies; the chain keeps the first.
    pub(super) async fn post_gatekeeper_copies(
        &mut self,
        node: &impl ChainClient,
        effects: &SideEffectsView,
        tip: Height,
    ) -> anyhow::Result<()> {
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
            .and_then(|e| e.position(&to_hex(&self.worker)))
            .unwrap_or(0) as u64;
        for egress in &effects.gatekeeper_messages {
            let (seq, encoded) = (&egress.sequence, &egress.message);
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

    pub(super) async fn post_egress(
        &mut self,
        node: &impl ChainClient,
        effects: &SideEffectsView,
        tip: Height,
        entry: &WorkerView,
    ) -> anyhow::Result<()> {
        let next = entry.next_sequence.unwrap_or(0);
        self.in_flight.retain(|&seq, _| seq >= next);
        for egress in &effects.messages {
            let (seq, encoded) = (&egress.sequence, &egress.message);
            if *seq < next || self.in_flight.get(seq).is_some_and(|&exp| tip <= exp) {
                continue;
            }
            // Within the mempool's window: the rest go once these land.
            if self.in_flight.values().filter(|&&exp| tip <= exp).count() >= MAX_EGRESS_IN_FLIGHT {
                break;
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
}
