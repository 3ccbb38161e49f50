//! Run a Veil validator: consensus, peer-to-peer networking, durable storage, mempool and
//! JSON-RPC.
//!
//! - [engine]: the commonware wiring (simplex, marshal, broadcast, p2p channels).
//! - [application]: what consensus calls (`propose`, `verify`) and the finalizer's reporter.
//! - [chain]: [chain::LocalChain], this node's copy of the chain: building, checking and
//!   finalizing blocks, mempool admission, the finalized tip.
//! - [state]: authenticated state (QMDB) with speculative batches per unfinalized block, and
//!   read views for RPC; [store]: the redb index of finalized outputs.
//! - [mempool], [gossip], [rpc] (the `veil-rpc-api` server), [genesis], [run].
//!
//! Thread and lock model: one commonware runtime (tokio in `veil node`, deterministic in tests)
//! with 2 worker threads runs consensus, p2p, gossip and RPC. All state work (executing a
//! proposal or a peer's block, committing a finalized one) runs under one async lock in
//! [chain::LocalChain], so a block's parent state cannot change under it; the mempool and the
//! tip sit behind short synchronous mutexes; RPC reads take the state store's read lock for a
//! view of finalized state.

pub mod application;
pub mod chain;
pub mod engine;
pub mod genesis;
pub mod gossip;
pub mod mempool;
pub mod metrics;
pub mod rpc;
pub mod run;
pub mod state;
pub mod store;
#[cfg(feature = "test-utils")]
pub mod synthetic;

/// Namespace of consensus signatures (votes and certificates).
pub const CONSENSUS_NAMESPACE: &[u8] = veil_primitives::namespace::CONSENSUS;

use std::{path::Path, sync::Arc};

use commonware_runtime::{Clock, Spawner};
use veil_primitives::{ChainIdentity, Header};

use crate::{
    chain::{Head, LocalChain, ProductionConfig},
    genesis::Genesis,
    state::StateStore,
    store::Store,
};

/// Opens (or creates at genesis) a node's chain state and indexes.
///
/// `partition_prefix` separates nodes that share one storage root (simulations).
pub async fn open_chain<E>(
    context: E,
    partition_prefix: &str,
    genesis: &Genesis,
    index_path: &Path,
    config: ProductionConfig,
) -> anyhow::Result<Arc<LocalChain<E>>>
where
    E: commonware_storage::Context + Spawner + Clock,
{
    let store = Store::open(index_path, config.index_cache_bytes)?;
    let changes = veil_chain::genesis_changes(&genesis.state)
        .await
        .map_err(|e| anyhow::anyhow!("genesis state: {e}"))?;
    let (state, created) =
        StateStore::open(context.child("state"), partition_prefix, || changes).await?;
    let header_for = |root| Header {
        height: 0,
        parent: veil_primitives::Digest::from([0u8; 32]),
        timestamp: genesis.state.timestamp,
        state_root: root,
        transactions_root: veil_crypto::merkle::empty_root(),
        messages_root: veil_crypto::merkle::empty_root(),
    };
    let header = match (store.genesis()?, created) {
        (_, Some(root)) => {
            let header = header_for(root);
            store.set_genesis(&header)?;
            header
        }
        (Some(header), None) => header,
        (None, None) => {
            let committed = state.committed();
            anyhow::ensure!(
                committed.height == 0,
                "the index database has no genesis record but state is at height {}; \
                 the data directory is damaged",
                committed.height
            );
            let header = header_for(state.root().await?);
            store.set_genesis(&header)?;
            header
        }
    };
    // Light clients check the group key against the genesis hash with this proof; QMDB proves
    // against its current root only, so it is taken while the state is still at genesis.
    if store.genesis_proof()?.is_none() {
        anyhow::ensure!(
            state.committed().height == 0,
            "the index database lost the genesis proof of the consensus key; \
             the data directory is damaged"
        );
        let proven = state.prove(&veil_chain::keys::chain()).await?;
        store.set_genesis_proof(&proven.proof)?;
    }
    let genesis_hash = header.hash();
    let committed = state.committed();
    let tip = if committed.height == 0 {
        Head {
            height: 0,
            hash: genesis_hash,
            timestamp: header.timestamp,
        }
    } else {
        let (hash, timestamp) = store.head(committed.height)?.ok_or_else(|| {
            anyhow::anyhow!(
                "state is at height {} but the index has no record of that block",
                committed.height
            )
        })?;
        Head {
            height: committed.height,
            hash,
            timestamp,
        }
    };
    let identity = ChainIdentity {
        chain_id: genesis.chain_id,
        genesis_hash,
    };
    Ok(Arc::new(LocalChain::new(
        identity, header, state, store, tip, config,
    )))
}
