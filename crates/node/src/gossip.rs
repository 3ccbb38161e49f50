//! Transaction gossip between validators.
//!
//! A transaction accepted over RPC by one validator is sent to all others, so whoever leads the
//! next view can include it: users need not know the leader schedule. Validators are fully
//! connected, so gossip is one hop and is never relayed. Outgoing transactions are batched
//! (whatever accumulated since the last send, bounded in bytes), and a received batch is checked
//! transaction by transaction exactly like an RPC submission.

use std::sync::Arc;

use bytes::Buf as _;
use bytes::BytesMut;
use commonware_codec::{EncodeSize as _, RangeCfg, Read as _, Write as _};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, Spawner};
use futures::{StreamExt as _, channel::mpsc};
use tracing::debug;
use veil_primitives::{AccountId, MAX_TX_BYTES_CAP, SignedTransaction, TxLimits};

use crate::chain::LocalChain;

/// Most bytes of transactions in one gossip message.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Most transactions in one gossip message.
pub const MAX_BATCH_TXS: usize = 4096;

fn limits() -> (RangeCfg<usize>, TxLimits) {
    (
        RangeCfg::new(0..=MAX_BATCH_TXS),
        TxLimits {
            max_payload: MAX_TX_BYTES_CAP as usize,
        },
    )
}

/// Starts the gossip tasks: one sends what this node accepted, one takes in what peers send.
pub fn start<E, S, R, B>(
    context: E,
    chain: Arc<LocalChain<E>>,
    outbox: mpsc::Receiver<SignedTransaction>,
    (mut sender, mut receiver): (S, R),
    mut blocker: B,
) -> (Handle<()>, Handle<()>)
where
    E: commonware_storage::Context + Spawner + Clock,
    S: Sender<PublicKey = AccountId>,
    R: Receiver<PublicKey = AccountId>,
    B: Blocker<PublicKey = AccountId>,
{
    let mut outbox = outbox.ready_chunks(MAX_BATCH_TXS);
    let send = context.child("send").spawn(move |_| async move {
        while let Some(txs) = outbox.next().await {
            // Split into messages under the byte limit.
            let mut start = 0;
            while start < txs.len() {
                let mut size = 0;
                let mut end = start;
                while end < txs.len() && size + txs[end].encode_size() <= MAX_BATCH_BYTES {
                    size += txs[end].encode_size();
                    end += 1;
                }
                let batch = &txs[start..end.max(start + 1)];
                let mut buf = BytesMut::with_capacity(size + 5);
                batch.to_vec().write(&mut buf);
                let _ = sender.send(Recipients::All, buf.freeze(), false);
                start = end.max(start + 1);
            }
        }
    });
    let recv = context.child("recv").spawn(move |_| async move {
        while let Ok((peer, mut msg)) = receiver.recv().await {
            let txs = match Vec::<SignedTransaction>::read_cfg(&mut msg, &limits()) {
                Ok(txs) if msg.remaining() == 0 => txs,
                _ => {
                    // Honest validators only send well-formed batches.
                    debug!(?peer, "malformed transaction gossip; blocking peer");
                    let _ = blocker.block(peer);
                    continue;
                }
            };
            for tx in txs {
                // Duplicates and transactions already included are expected; drop quietly.
                let _ = chain.accept(tx, false).await;
            }
        }
    });
    (send, recv)
}
