//! The node's JSON-RPC server over HTTP and WebSocket (one port): the implementation of
//! [veil_rpc_api::VeilApiServer] (methods, views and error codes live in `veil-rpc-api`; see
//! `docs/rpc.md`).

use std::{net::SocketAddr, sync::Arc};

use commonware_codec::{Decode as _, Encode as _};
use commonware_consensus::{marshal::Identifier, types::Height};
use commonware_runtime::{Clock, Spawner};
use jsonrpsee::{
    PendingSubscriptionSink,
    core::{RpcResult, SubscriptionResult, async_trait},
    server::{
        BatchRequestConfig, Server, ServerConfig, ServerHandle, middleware::rpc::RpcServiceBuilder,
    },
    types::ErrorObjectOwned,
};
use veil_metrics::{MetricsLayer, Render, RpcMetrics};
use veil_primitives::{
    AccountId, Digest, GenesisNodeStatus, Phase, SignedTransaction, TxLimits, decode_hex, from_hex,
    to_hex,
};
use veil_rpc_api::{
    AccountView, ActivityView, BlockId, BlockView, CheckpointRecordView, CheckpointView,
    ContractView, ElectionView, EraView, GatekeeperStreamView, GenesisView, HeadView, LivenessView,
    MessageView, MessagesView, PhaseView, ProofKind, StakingView, StatusView, StorageView,
    SyncBatchView, TransactionView, TxStatus, VeilApiServer, WorkerView,
    codes::{INVALID_PARAMS, POOL_REJECTED, TX_REJECTED, UNAVAILABLE},
    limits::{
        MAX_BATCH_CALLS, MAX_CONNECTIONS, MAX_LISTED_WORKERS, MAX_LOG_BYTES, MAX_LOG_ENTRIES,
        MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_SUBSCRIPTIONS_PER_CONNECTION, MAX_SYNC_BATCH,
        MAX_SYNC_BATCH_BYTES,
    },
};

use crate::{
    chain::{Head, LocalChain, SubmitError},
    engine::Marshal,
};

fn invalid(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, format!("invalid params: {msg}"), None::<()>)
}

fn unavailable(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(UNAVAILABLE, msg.to_string(), None::<()>)
}

impl From<Head> for HeadView {
    fn from(h: Head) -> Self {
        Self {
            height: h.height,
            hash: to_hex(h.hash),
            timestamp: h.timestamp,
        }
    }
}

/// Serves the API for one node.
pub struct Rpc<E: commonware_storage::Context + Spawner + Clock> {
    chain: Arc<LocalChain<E>>,
    marshal: Marshal,
    validators: usize,
    group_key: String,
    metrics: Render,
}

impl<E: commonware_storage::Context + Spawner + Clock> Rpc<E> {
    /// Wraps a node. `metrics` renders the node's Prometheus metrics.
    pub fn new(
        chain: Arc<LocalChain<E>>,
        marshal: Marshal,
        validators: usize,
        group_key: String,
        metrics: Render,
    ) -> Self {
        Self {
            chain,
            marshal,
            validators,
            group_key,
            metrics,
        }
    }

    /// Starts serving HTTP and WebSocket on `addr`, with `GET /metrics` beside JSON-RPC and
    /// every call counted in `calls`.
    pub async fn serve(
        self,
        addr: SocketAddr,
        calls: &RpcMetrics,
    ) -> anyhow::Result<(SocketAddr, ServerHandle)> {
        let metrics = self.metrics.clone();
        let module = self.into_rpc();
        let calls = calls.for_methods(module.method_names());
        let config = ServerConfig::builder()
            .max_request_body_size(MAX_REQUEST_BYTES)
            .max_response_body_size(MAX_RESPONSE_BYTES)
            .max_connections(MAX_CONNECTIONS)
            .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH_CALLS))
            .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS_PER_CONNECTION)
            .build();
        let server = Server::builder()
            .set_config(config)
            .set_http_middleware(tower::ServiceBuilder::new().layer(MetricsLayer::new(metrics)))
            .set_rpc_middleware(RpcServiceBuilder::new().layer(calls.layer()))
            .build(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind RPC on {addr}: {e}"))?;
        let local = server.local_addr()?;
        Ok((local, server.start(module)))
    }

    /// Appends finalized block `h`'s header and messages to a sync batch; returns their hex
    /// size.
    async fn push_sync_block(
        &self,
        h: u64,
        headers: &mut Vec<String>,
        messages: &mut Vec<Vec<String>>,
    ) -> RpcResult<usize> {
        let Some(block) = self.marshal.get_block(Height::new(h)).await else {
            return Err(unavailable(format!("finalized block {h} missing")));
        };
        let header = to_hex(block.inner().header.encode());
        let ms: Vec<String> = self
            .chain
            .store
            .messages(h, veil_primitives::MAX_TX_BYTES_CAP as usize)
            .map_err(unavailable)?
            .ok_or_else(|| unavailable(format!("messages of block {h} missing")))?
            .iter()
            .map(|m| to_hex(m.encode()))
            .collect();
        let size = header.len() + ms.iter().map(String::len).sum::<usize>();
        headers.push(header);
        messages.push(ms);
        Ok(size)
    }

    async fn block_view(&self, height: u64) -> RpcResult<Option<BlockView>> {
        if height == 0 {
            let genesis = self.chain.genesis_block();
            return Ok(Some(BlockView {
                hash: to_hex(genesis.hash()),
                header: (&genesis.header).into(),
                header_encoded: to_hex(genesis.header.encode()),
                transactions: Vec::new(),
                finalization: None,
            }));
        }
        let Some(block) = self.marshal.get_block(Height::new(height)).await else {
            return Ok(None);
        };
        let fin = self.marshal.get_finalization(Height::new(height)).await;
        let b = block.inner();
        Ok(Some(BlockView {
            hash: to_hex(b.hash()),
            header: (&b.header).into(),
            header_encoded: to_hex(b.header.encode()),
            transactions: b.transactions.iter().map(|t| to_hex(t.encode())).collect(),
            finalization: fin.map(|f| to_hex(f.encode())),
        }))
    }
}

#[async_trait]
impl<E> VeilApiServer for Rpc<E>
where
    E: commonware_storage::Context + Spawner + Clock,
{
    async fn submit_transaction(&self, tx: String) -> RpcResult<String> {
        let bytes = from_hex(&tx).map_err(|e| invalid(format!("tx is not hex: {e}")))?;
        let max = veil_primitives::MAX_TX_BYTES_CAP as usize;
        if bytes.len() > max {
            return Err(ErrorObjectOwned::owned(
                TX_REJECTED,
                format!(
                    "transaction is {} bytes, above the limit of {max}",
                    bytes.len()
                ),
                None::<()>,
            ));
        }
        let tx =
            SignedTransaction::decode_cfg(bytes, &TxLimits { max_payload: max }).map_err(|e| {
                let e = veil_chain::TxError::from(e);
                ErrorObjectOwned::owned(TX_REJECTED, e.to_string(), None::<()>)
            })?;
        match self.chain.submit(tx).await {
            Ok(hash) => Ok(to_hex(hash)),
            Err(SubmitError::Rejected(e)) => Err(ErrorObjectOwned::owned(
                TX_REJECTED,
                e.to_string(),
                None::<()>,
            )),
            Err(SubmitError::Pool(e)) => Err(ErrorObjectOwned::owned(
                POOL_REJECTED,
                e.to_string(),
                None::<()>,
            )),
            Err(e @ SubmitError::Unavailable(_)) => Err(unavailable(e)),
        }
    }

    async fn get_block(&self, id: BlockId) -> RpcResult<Option<BlockView>> {
        match id {
            BlockId::Height(h) => self.block_view(h).await,
            BlockId::Hash(hash) => {
                let digest: Digest = decode_hex(&hash).map_err(invalid)?;
                if digest == self.chain.identity.genesis_hash {
                    return self.block_view(0).await;
                }
                match self.marshal.get_info(Identifier::Digest(digest)).await {
                    Some((h, _)) => self.block_view(h.get()).await,
                    None => Ok(None),
                }
            }
        }
    }

    async fn finalized_head(&self) -> RpcResult<HeadView> {
        Ok(self.chain.tip().into())
    }

    async fn subscribe_finalized_heads(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        let mut heads = self.chain.subscribe_heads();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                _ = sink.closed() => return Ok(()),
                head = heads.recv() => match head {
                    Ok(head) => {
                        let msg = serde_json::value::to_raw_value(&HeadView::from(head))?;
                        if sink.send(msg).await.is_err() {
                            return Ok(());
                        }
                    }
                    // A slow subscriber skips heads it missed; the next one still arrives.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }

    async fn get_storage(&self, key: String) -> RpcResult<StorageView> {
        let key: Digest = decode_hex(&key).map_err(invalid)?;
        let proven = self.chain.state.prove(&key).await.map_err(unavailable)?;
        let block_hash = match self.chain.store.head(proven.height).map_err(unavailable)? {
            Some((hash, _)) => hash,
            None if proven.height == 0 => self.chain.identity.genesis_hash,
            None => return Err(unavailable("finalized head missing from index")),
        };
        Ok(StorageView {
            height: proven.height,
            block_hash: to_hex(block_hash),
            state_root: to_hex(proven.root),
            key: to_hex(key),
            proof_kind: if proven.value.is_some() {
                ProofKind::Inclusion
            } else {
                ProofKind::Exclusion
            },
            value: proven.value.map(to_hex),
            proof: to_hex(proven.proof),
        })
    }

    async fn get_code(&self, hash: String) -> RpcResult<Option<String>> {
        let hash: Digest = decode_hex(&hash).map_err(invalid)?;
        let code = self.chain.state.code(&hash).await.map_err(unavailable)?;
        Ok(code.map(to_hex))
    }

    async fn get_contract(&self, contract: String) -> RpcResult<Option<ContractView>> {
        let id: Digest = decode_hex(&contract).map_err(invalid)?;
        let info = self.chain.state.contract(&id).await.map_err(unavailable)?;
        let interval = self
            .chain
            .state
            .contract_params()
            .await
            .map_err(unavailable)?
            .checkpoint_interval;
        Ok(info.map(|c| ContractView::new(&id, &c, interval)))
    }

    async fn get_checkpoint(&self, contract: String) -> RpcResult<Option<CheckpointView>> {
        let id: Digest = decode_hex(&contract).map_err(invalid)?;
        let found = self
            .chain
            .state
            .checkpoint(&id)
            .await
            .map_err(unavailable)?;
        Ok(found.map(|(info, sealed)| CheckpointView {
            contract,
            record: CheckpointRecordView::new(&info),
            encoded: to_hex(info.encode()),
            sealed: to_hex(sealed),
        }))
    }

    async fn get_contract_log(
        &self,
        contract: String,
        from: u64,
        max: u64,
    ) -> RpcResult<Vec<String>> {
        let id: Digest = decode_hex(&contract).map_err(invalid)?;
        let entries = self
            .chain
            .store
            .contract_log(
                &id,
                from,
                max.clamp(1, MAX_LOG_ENTRIES) as usize,
                MAX_LOG_BYTES,
                veil_primitives::MAX_TX_BYTES_CAP as usize,
            )
            .map_err(unavailable)?;
        Ok(entries.iter().map(|e| to_hex(e.encode())).collect())
    }

    async fn get_messages(&self, height: u64) -> RpcResult<Option<MessagesView>> {
        let Some(block) = self.block_view(height).await? else {
            return Ok(None);
        };
        let messages = if height == 0 {
            Vec::new()
        } else {
            match self
                .chain
                .store
                .messages(height, veil_primitives::MAX_TX_BYTES_CAP as usize)
                .map_err(unavailable)?
            {
                Some(m) => m,
                // Finalized by consensus but not yet applied here.
                None => return Ok(None),
            }
        };
        Ok(Some(MessagesView {
            height,
            messages_root: block.header.messages_root,
            messages: messages.iter().map(MessageView::from).collect(),
        }))
    }

    async fn get_account(&self, account: String) -> RpcResult<AccountView> {
        let id: AccountId = decode_hex(&account).map_err(invalid)?;
        let height = self.chain.tip().height;
        let a = self
            .chain
            .state
            .account_at(None, &id)
            .await
            .map_err(unavailable)?;
        let rewards = self.chain.state.rewards(&id).await.map_err(unavailable)?;
        Ok(AccountView {
            account: to_hex(&id),
            balance: a.free.to_string(),
            nonce: a.nonce,
            height,
            rewards: rewards.to_string(),
        })
    }

    async fn get_staking(&self, account: String) -> RpcResult<StakingView> {
        let id: AccountId = decode_hex(&account).map_err(invalid)?;
        let (ledger, backs, nominations) =
            self.chain.state.staking(&id).await.map_err(unavailable)?;
        let exposure = self.chain.state.exposure(&id).await.map_err(unavailable)?;
        Ok(StakingView {
            account: to_hex(&id),
            bonded: ledger.bonded.to_string(),
            unlocking: ledger
                .unlocking
                .iter()
                .map(|(a, h)| (a.to_string(), *h))
                .collect(),
            backs: backs.map(to_hex),
            nominations: nominations.iter().map(to_hex).collect(),
            exposure: exposure
                .iter()
                .map(|(g, stake)| (to_hex(g), stake.to_string()))
                .collect(),
        })
    }

    async fn get_transaction(&self, hash: String) -> RpcResult<TransactionView> {
        let digest: Digest = decode_hex(&hash).map_err(invalid)?;
        let receipt = self.chain.store.receipt(&digest).map_err(unavailable)?;
        let view = match receipt {
            Some(r) => TransactionView {
                hash: to_hex(digest),
                status: TxStatus::Finalized,
                height: Some(r.height),
                index: Some(r.index),
                fee: Some(r.fee.to_string()),
                success: Some(r.error.is_none()),
                error: r.error,
            },
            None => TransactionView {
                hash: to_hex(digest),
                status: if self.chain.mempool.lock().contains(&digest) {
                    TxStatus::Pending
                } else {
                    TxStatus::Unknown
                },
                height: None,
                index: None,
                fee: None,
                success: None,
                error: None,
            },
        };
        Ok(view)
    }

    async fn get_worker(&self, worker: String) -> RpcResult<Option<WorkerView>> {
        let id: AccountId = decode_hex(&worker).map_err(invalid)?;
        let w = self.chain.state.worker(&id).await.map_err(unavailable)?;
        let Some((info, policy, next)) = w else {
            return Ok(None);
        };
        let (era, current, last) = self.chain.state.activity(&id).await.map_err(unavailable)?;
        Ok(Some(WorkerView {
            activity: Some(ActivityView { era, current, last }),
            ..WorkerView::new(&id, &info, &policy, Some(next))
        }))
    }

    async fn workers(&self) -> RpcResult<Vec<WorkerView>> {
        let (_, list) = self
            .chain
            .state
            .workers(MAX_LISTED_WORKERS)
            .await
            .map_err(unavailable)?;
        Ok(list
            .iter()
            .map(|(id, info, policy)| WorkerView::new(id, info, policy, None))
            .collect())
    }

    async fn election(&self) -> RpcResult<Option<ElectionView>> {
        let e = self.chain.state.election().await.map_err(unavailable)?;
        let l = self
            .chain
            .state
            .launch_status()
            .await
            .map_err(unavailable)?;
        Ok(e.map(|e| ElectionView::new(&e, l.closed_round, &l.confirmed)))
    }

    async fn gatekeeper_stream(&self) -> RpcResult<GatekeeperStreamView> {
        let b = self
            .chain
            .state
            .launch_status()
            .await
            .map_err(unavailable)?;
        Ok(GatekeeperStreamView {
            next_sequence: b.next_gatekeeper_sequence,
            state_checkpoint: b.state_checkpoint.map(to_hex),
            divergences: b.divergences,
        })
    }

    async fn status(&self) -> RpcResult<StatusView> {
        let election = self.chain.state.election().await.map_err(unavailable)?;
        let b = self
            .chain
            .state
            .launch_status()
            .await
            .map_err(unavailable)?;
        let (phase, era) = match b.phase {
            Phase::Prelaunch => (PhaseView::Prelaunch, None),
            Phase::Launched { era, .. } => (PhaseView::Launched, Some(era)),
        };
        let genesis = match (&b.genesis_worker, era) {
            (None, _) => GenesisNodeStatus::None,
            (Some(_), None) => GenesisNodeStatus::Active,
            (Some(_), Some(_)) => GenesisNodeStatus::Retired,
        };
        let registry = self
            .chain
            .state
            .registry_summary()
            .await
            .map_err(unavailable)?;
        let liveness = self.chain.state.liveness().await.map_err(unavailable)?;
        let tip = self.chain.tip();
        let finalized = self
            .marshal
            .get_info(Identifier::Latest)
            .await
            .map(|(h, _)| h.get())
            .unwrap_or(0)
            .max(tip.height);
        Ok(StatusView {
            chain_id: self.chain.identity.chain_id,
            genesis_hash: to_hex(self.chain.identity.genesis_hash),
            group_key: self.group_key.clone(),
            height: tip.height,
            finalized,
            hash: to_hex(tip.hash),
            validators: self.validators,
            peers: crate::metrics::connected_peers(&(self.metrics)()),
            mempool: self.chain.mempool.lock().len(),
            workers: registry.workers,
            insecure_workers: registry.insecure_workers,
            insecure_gatekeepers: registry.insecure_gatekeepers,
            election_round: election.as_ref().map_or(0, |e| e.round),
            gatekeepers: election.map_or(0, |e| e.gatekeepers.len()),
            phase,
            era,
            genesis,
            confirmed_gatekeepers: b.confirmed.len(),
            divergences: b.divergences,
            liveness: LivenessView {
                era: liveness.era,
                ends_at: (liveness.era + 1) * liveness.era_blocks.max(1),
                last: liveness.last.map(|(era, r)| EraView {
                    era,
                    judged: r.judged,
                    unresponsive: r.unresponsive,
                    max: r.max,
                }),
            },
        })
    }

    async fn metrics(&self) -> RpcResult<String> {
        Ok((self.metrics)())
    }

    async fn get_sync_batch(&self, from: u64, max: u64) -> RpcResult<Option<SyncBatchView>> {
        if from == 0 {
            return Err(invalid(
                "from must be at least 1 (genesis is given by veil_genesis)",
            ));
        }
        let tip = self.chain.tip().height;
        if from > tip {
            return Ok(None);
        }
        let upper = tip.min(from.saturating_add(max.clamp(1, MAX_SYNC_BATCH) - 1));
        // Gather blocks until the batch reaches its byte budget or `upper`.
        let mut headers = Vec::new();
        let mut messages = Vec::new();
        let mut size = 0;
        let mut last = from;
        loop {
            size += self
                .push_sync_block(last, &mut headers, &mut messages)
                .await?;
            if last == upper || size >= MAX_SYNC_BATCH_BYTES {
                break;
            }
            last += 1;
        }
        // End at the highest gathered block that has its own certificate; if none has, go on to
        // the next one that does (past the budget, still far below the response limit).
        let mut to = last;
        let certificate = loop {
            if let Some(f) = self.marshal.get_finalization(Height::new(to)).await {
                break f.encode();
            }
            if to > from {
                to -= 1;
                continue;
            }
            to = last;
            let found = loop {
                to += 1;
                if to > tip || to > last + MAX_SYNC_BATCH {
                    return Ok(None);
                }
                self.push_sync_block(to, &mut headers, &mut messages)
                    .await?;
                if let Some(f) = self.marshal.get_finalization(Height::new(to)).await {
                    break f.encode();
                }
            };
            break found;
        };
        let n = (to - from + 1) as usize;
        headers.truncate(n);
        messages.truncate(n);
        Ok(Some(SyncBatchView {
            headers,
            messages,
            certificate: to_hex(certificate),
        }))
    }

    async fn genesis(&self) -> RpcResult<GenesisView> {
        let proof = self
            .chain
            .store
            .genesis_proof()
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("genesis proof missing"))?;
        Ok(GenesisView {
            chain_id: self.chain.identity.chain_id,
            genesis_hash: to_hex(self.chain.identity.genesis_hash),
            header_encoded: to_hex(self.chain.genesis.encode()),
            group_key: self.group_key.clone(),
            chain_proof: to_hex(proof),
        })
    }
}
