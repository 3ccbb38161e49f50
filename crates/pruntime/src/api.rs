//! pRuntime's JSON-RPC servers: the implementations of the private and public APIs that
//! `veil-pruntime-api` defines (methods named as in the whitepaper).
//!
//! Every input is untrusted: sizes are bounded and bytes decoded with limits; a refused call
//! changes nothing. Calls that change state (`InitRuntime`, `SyncBlockchain`, `Bootstrap`, key
//! requests) run on tokio's blocking pool, one at a time behind the runtime's writer lock;
//! calls that only read answer from the runtime's current snapshot at once, so a long sync
//! never stalls `Info` or a key holder's answer (see [crate::runtime]). Contract queries run
//! on the snapshot too, on the [query pool](crate::query_pool).

use std::{net::SocketAddr, sync::Arc};

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use jsonrpsee::{
    RpcModule,
    core::RpcResult,
    server::{
        BatchRequestConfig, Server, ServerConfig, ServerHandle, middleware::rpc::RpcServiceBuilder,
    },
    types::ErrorObjectOwned,
};
use veil_metrics::{MetricsLayer, inc};
use veil_primitives::{
    Digest, Header, MAX_TX_BYTES_CAP, Message,
    contract::{CheckpointInfo, LogEntry},
    decode_hex, from_hex,
    query::MAX_QUERY_BYTES,
    to_hex,
};
use veil_pruntime_api::{
    BootstrapRequest, BootstrapView, CheckpointView, EgressView, IdentityView, InitRequest,
    KeyAnswerView, KeyReceivedView, KeyRequestView, PrivateApiServer, PublicApiServer,
    QueryRequestView, QuoteView, RecoverRequest, RecoveredView, RegistrationView, SideEffectsView,
    SignedAnswer, StageRecoveryRequest, StagedView, SyncRequest, SyncResponse, SyncStateView,
    codes::{
        BUSY, GENESIS_REJECTED, INTERNAL, INVALID_PARAMS, KEY_EXCHANGE, QUERY_REFUSED,
        RECOVERY_REFUSED, RETIRED, STALE_EPOCH, SYNC_REJECTED, UNKNOWN_BLOCK,
    },
    limits::{
        MAX_ANSWER_NONCE, MAX_NOISE_MESSAGE, MAX_PRIVATE_CONNECTIONS, MAX_PRIVATE_REQUEST_BYTES,
        MAX_PUBLIC_CONNECTIONS, MAX_PUBLIC_REQUEST_BYTES, MAX_SYNC_HEADERS,
    },
};

use crate::{
    error::RuntimeError,
    metrics::ApiMetrics,
    query_pool::{PoolError, QueryPool},
    roles::contracts::query::{QueryError, Request},
    roles::genesis::ChainBinding,
    runtime::Runtime,
    sync::{Batch, SyncError},
    throttle::{PUBLIC_BURST, PUBLIC_RATE_PER_SEC, PeerLimiter, serve_public},
};

fn invalid(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, format!("invalid params: {msg}"), None::<()>)
}

/// Decodes the hex `LogEntry`s of a recovery request.
fn log_entries(entries: &[String]) -> Result<Vec<LogEntry>, ErrorObjectOwned> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let bytes = from_hex(e).map_err(|e| invalid(format!("entry {i}: {e}")))?;
            LogEntry::decode_cfg(bytes, &(MAX_TX_BYTES_CAP as usize))
                .map_err(|e| invalid(format!("entry {i}: {e}")))
        })
        .collect()
}

fn runtime_error(e: RuntimeError) -> ErrorObjectOwned {
    let code = match &e {
        RuntimeError::Sync(_) | RuntimeError::Contracts(_) => SYNC_REJECTED,
        RuntimeError::Genesis(_) => GENESIS_REJECTED,
        RuntimeError::UnknownBlock(_) => UNKNOWN_BLOCK,
        RuntimeError::Invalid(_) => INVALID_PARAMS,
        RuntimeError::Retired => RETIRED,
        RuntimeError::KeyExchange(_) => KEY_EXCHANGE,
        RuntimeError::Recovery(_) => RECOVERY_REFUSED,
        RuntimeError::Internal(_) => INTERNAL,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

/// Shared handle to the runtime for both servers.
#[derive(Clone)]
pub struct Api {
    runtime: Arc<Runtime>,
    metrics: ApiMetrics,
    queries: QueryPool,
}

impl Api {
    /// Wraps a runtime; starts the threads that answer queries.
    pub fn new(runtime: Runtime) -> std::io::Result<Self> {
        Ok(Self {
            runtime: Arc::new(runtime),
            metrics: ApiMetrics::default(),
            queries: QueryPool::for_this_machine(MAX_PUBLIC_CONNECTIONS as usize)?,
        })
    }

    /// The runtime behind the servers.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Runs a state change on the blocking pool.
    async fn change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Runtime) -> Result<T, RuntimeError> + Send + 'static,
    ) -> RpcResult<T> {
        self.try_change(f).await.map_err(runtime_error)
    }

    /// [Self::change], with the refusal as it is (for callers that count it).
    async fn try_change<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Runtime) -> Result<T, RuntimeError> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || f(&runtime))
            .await
            .map_err(|e| RuntimeError::Internal(anyhow::anyhow!("{e}")))?
    }

    fn identity_view(&self) -> IdentityView {
        let info = self.runtime.info();
        IdentityView {
            public_key: info.public_key,
            ecdh_public_key: info.ecdh_public_key,
            tee: info.tee,
            insecure: info.insecure,
            measurement: info.measurement,
        }
    }

    fn sign<T: serde::Serialize>(
        &self,
        answer: &T,
        nonce: Option<String>,
    ) -> RpcResult<SignedAnswer> {
        let nonce = nonce.map(|n| from_hex(&n)).transpose().map_err(invalid)?;
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_ANSWER_NONCE) {
            return Err(invalid(format!(
                "nonce longer than {MAX_ANSWER_NONCE} bytes"
            )));
        }
        self.runtime
            .sign_answer(answer, nonce.as_deref())
            .map_err(|e| runtime_error(RuntimeError::Internal(e)))
    }

    /// Serves the private API on `private` and the public API on `public`.
    pub async fn serve(
        self,
        private: SocketAddr,
        public: SocketAddr,
    ) -> anyhow::Result<((SocketAddr, ServerHandle), (SocketAddr, ServerHandle))> {
        let private_module: RpcModule<Api> = PrivateApiServer::into_rpc(self.clone());
        let calls = self
            .metrics
            .calls
            .for_methods(private_module.method_names());
        let render = self.metrics.render(self.runtime.clone());
        let host = Server::builder()
            .set_config(
                ServerConfig::builder()
                    .max_request_body_size(MAX_PRIVATE_REQUEST_BYTES)
                    .max_response_body_size(MAX_PRIVATE_REQUEST_BYTES)
                    .max_connections(MAX_PRIVATE_CONNECTIONS)
                    .build(),
            )
            .set_http_middleware(tower::ServiceBuilder::new().layer(MetricsLayer::new(render)))
            .set_rpc_middleware(RpcServiceBuilder::new().layer(calls.layer()))
            .build(private)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind private API on {private}: {e}"))?;
        let users_config = ServerConfig::builder()
            .max_request_body_size(MAX_PUBLIC_REQUEST_BYTES)
            .max_response_body_size(MAX_PUBLIC_REQUEST_BYTES)
            .max_connections(MAX_PUBLIC_CONNECTIONS)
            .set_batch_request_config(BatchRequestConfig::Disabled)
            .http_only()
            .build();
        let host_addr = host.local_addr()?;
        let public_module: RpcModule<Api> = PublicApiServer::into_rpc(self);
        let limiter = Arc::new(PeerLimiter::new(PUBLIC_RATE_PER_SEC, PUBLIC_BURST));
        let users = serve_public(public, users_config, public_module, limiter).await?;
        Ok(((host_addr, host.start(private_module)), users))
    }
}

fn decode_batch(request: &SyncRequest) -> Result<Batch, ErrorObjectOwned> {
    if request.headers.len() > MAX_SYNC_HEADERS {
        return Err(runtime_error(RuntimeError::Sync(SyncError::TooLarge(
            request.headers.len(),
        ))));
    }
    let headers = request
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let bytes = from_hex(h).map_err(|e| invalid(format!("header {i}: {e}")))?;
            Header::decode(bytes).map_err(|e| invalid(format!("header {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let certificate =
        from_hex(&request.certificate).map_err(|e| invalid(format!("certificate: {e}")))?;
    let messages = request
        .messages
        .iter()
        .enumerate()
        .map(|(i, block)| {
            block
                .iter()
                .map(|m| {
                    let bytes =
                        from_hex(m).map_err(|e| invalid(format!("message of block {i}: {e}")))?;
                    Message::decode_cfg(bytes, &(MAX_TX_BYTES_CAP as usize))
                        .map_err(|e| invalid(format!("message of block {i}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let code = request
        .code
        .iter()
        .enumerate()
        .map(|(i, c)| from_hex(c).map_err(|e| invalid(format!("code {i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Batch {
        headers,
        certificate,
        messages,
        code,
    })
}

#[jsonrpsee::core::async_trait]
impl PrivateApiServer for Api {
    async fn init_runtime(&self, request: InitRequest) -> RpcResult<()> {
        let header = from_hex(&request.genesis_header)
            .map_err(invalid)
            .and_then(|b| Header::decode(b).map_err(invalid))?;
        let key = from_hex(&request.group_key).map_err(invalid)?;
        let proof = from_hex(&request.chain_proof).map_err(invalid)?;
        self.change(move |r| r.init(request.chain_id, &header, &key, &proof))
            .await
    }

    async fn sync_blockchain(&self, request: SyncRequest) -> RpcResult<SyncResponse> {
        let refused = &self.metrics.refused;
        let batch =
            decode_batch(&request).inspect_err(|_| inc(refused, "reason", "undecodable"))?;
        let (height, mine) = self
            .try_change(move |r| r.sync(&batch))
            .await
            .map_err(|e| {
                inc(refused, "reason", e.kind());
                runtime_error(e)
            })?;
        self.metrics.applied.inc();
        Ok(SyncResponse {
            synced_height: height,
            messages_for_worker: mine.len(),
            egress_pending: self.runtime.info().egress_pending,
        })
    }

    async fn get_ra_quote(&self, block_hash: String) -> RpcResult<QuoteView> {
        let hash: Digest = decode_hex(&block_hash).map_err(invalid)?;
        let evidence = self.runtime.ra_quote(&hash).map_err(runtime_error)?;
        Ok(QuoteView {
            evidence: to_hex(evidence.encode()),
            block_hash: to_hex(hash),
        })
    }

    async fn get_identity(&self) -> RpcResult<IdentityView> {
        Ok(self.identity_view())
    }

    async fn get_sync_state(&self) -> RpcResult<Option<SyncStateView>> {
        let info = self.runtime.info();
        Ok(self.runtime.state().map(|s| SyncStateView {
            chain_id: s.chain_id,
            genesis_hash: to_hex(s.genesis_hash),
            synced_height: s.synced_height(),
            synced_hash: to_hex(s.last_hash),
            elected: info.gatekeeper,
            holds_root_key: s.holds_current_key(),
            launched: info.launched,
            genesis: info.genesis,
        }))
    }

    async fn get_registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> RpcResult<RegistrationView> {
        let operator = decode_hex(&operator).map_err(|e| invalid(format!("operator: {e}")))?;
        let reg = self
            .runtime
            .registration(operator, endpoint)
            .map_err(runtime_error)?;
        Ok(RegistrationView {
            attested_height: reg.attested_height,
            registration: to_hex(reg.encode()),
            tee: self.runtime.info().tee,
        })
    }

    async fn bootstrap(&self, request: BootstrapRequest) -> RpcResult<BootstrapView> {
        let binding = ChainBinding {
            chain_id: request.chain_id,
            group_key: from_hex(&request.group_key)
                .map_err(|e| invalid(format!("group_key: {e}")))?,
        };
        let b = self.change(move |r| r.bootstrap(binding)).await?;
        Ok(BootstrapView {
            genesis_key: to_hex(b.public.0),
            genesis_ecdh_key: to_hex(b.public.1),
            key_check: to_hex(b.key_check),
            created: b.created,
            evidence: to_hex(b.evidence.encode()),
        })
    }

    async fn start_key_request(&self) -> RpcResult<KeyRequestView> {
        let (holder, message, round) = self.change(|r| r.start_key_request()).await?;
        Ok(KeyRequestView {
            holder: to_hex(&holder.worker),
            endpoint: holder.endpoint,
            round,
            message: to_hex(message),
        })
    }

    async fn finish_key_request(&self, answer: String) -> RpcResult<KeyReceivedView> {
        let answer = from_hex(&answer).map_err(invalid)?;
        let (era, check) = self.change(move |r| r.finish_key_request(&answer)).await?;
        Ok(KeyReceivedView {
            era,
            key_check: to_hex(check),
        })
    }

    async fn dump_side_effect(&self) -> RpcResult<SideEffectsView> {
        let pending = self.runtime.side_effects();
        let copies = self.runtime.gatekeeper_side_effects();
        let contract_messages = self
            .runtime
            .contract_side_effects()
            .iter()
            .map(|m| EgressView {
                sequence: m.egress.sequence(),
                message: to_hex(m.encode()),
            })
            .collect();
        Ok(SideEffectsView {
            contract_messages,
            contracts: self.runtime.contract_statuses(),
            messages: pending
                .iter()
                .map(|m| EgressView {
                    sequence: m.message.sequence,
                    message: to_hex(m.encode()),
                })
                .collect(),
            registered_until: self.runtime.info().registered_until,
            gatekeeper_messages: copies
                .iter()
                .map(|m| EgressView {
                    sequence: m.message.sequence,
                    message: to_hex(m.encode()),
                })
                .collect(),
        })
    }

    async fn get_checkpoint(&self, contract: String) -> RpcResult<CheckpointView> {
        let id: Digest = decode_hex(&contract).map_err(|e| invalid(format!("contract: {e}")))?;
        let runtime = self.runtime.clone();
        // Sealing a large state takes a while: off the async threads, but no writer lock.
        let made = tokio::task::spawn_blocking(move || runtime.checkpoint(&id))
            .await
            .map_err(|e| runtime_error(RuntimeError::Internal(anyhow::anyhow!("{e}"))))?
            .map_err(runtime_error)?;
        Ok(CheckpointView {
            contract,
            height: made.info.height,
            log_count: made.info.log.count,
            size: made.info.size,
            chunks: made.chunks.iter().map(|c| to_hex(c.encode())).collect(),
        })
    }

    async fn stage_recovery_entries(&self, request: StageRecoveryRequest) -> RpcResult<StagedView> {
        let id: Digest =
            decode_hex(&request.contract).map_err(|e| invalid(format!("contract: {e}")))?;
        let entries = log_entries(&request.entries)?;
        let offset = request.offset;
        let staged = self
            .change(move |r| r.stage_recovery(&id, offset, &entries))
            .await?;
        Ok(StagedView {
            contract: request.contract,
            staged,
        })
    }

    async fn recover_contract(&self, request: RecoverRequest) -> RpcResult<RecoveredView> {
        let id: Digest =
            decode_hex(&request.contract).map_err(|e| invalid(format!("contract: {e}")))?;
        let checkpoint = request
            .checkpoint
            .as_ref()
            .map(|c| {
                let record = from_hex(&c.record)
                    .map_err(|e| e.to_string())
                    .and_then(|b| CheckpointInfo::decode(b).map_err(|e| e.to_string()))
                    .map_err(|e| invalid(format!("checkpoint record: {e}")))?;
                let sealed =
                    from_hex(&c.sealed).map_err(|e| invalid(format!("checkpoint: {e}")))?;
                Ok::<_, ErrorObjectOwned>((record, sealed))
            })
            .transpose()?;
        let entries = log_entries(&request.entries)?;
        let staged = request.staged;
        let (log_count, height) = self
            .change(move |r| {
                let checkpoint = checkpoint.as_ref().map(|(c, b)| (c, b.as_slice()));
                r.recover(&id, checkpoint, staged, &entries)
            })
            .await?;
        Ok(RecoveredView {
            contract: request.contract,
            log_count,
            height,
        })
    }
}

#[jsonrpsee::core::async_trait]
impl PublicApiServer for Api {
    async fn info(&self, nonce: Option<String>) -> RpcResult<SignedAnswer> {
        self.sign(&self.runtime.info(), nonce)
    }

    async fn get_identity(&self, nonce: Option<String>) -> RpcResult<SignedAnswer> {
        self.sign(&self.identity_view(), nonce)
    }

    async fn contract_query(&self, request: QueryRequestView) -> RpcResult<String> {
        if request.ciphertext.len() > 2 * MAX_QUERY_BYTES + 2 {
            return Err(invalid("query too large"));
        }
        let query = Request::from_view(&request).map_err(invalid)?;
        let runtime = self.runtime.clone();
        let answer = self
            .queries
            .run(move || runtime.query(&query))
            .await
            .map_err(|e| match e {
                PoolError::Busy => ErrorObjectOwned::owned(BUSY, e.to_string(), None::<()>),
                PoolError::Lost => ErrorObjectOwned::owned(INTERNAL, e.to_string(), None::<()>),
            })?
            .map_err(|e| match e {
                QueryError::StaleEpoch { current } => {
                    ErrorObjectOwned::owned(STALE_EPOCH, e.to_string(), Some(to_hex(current)))
                }
                e => ErrorObjectOwned::owned(QUERY_REFUSED, e.to_string(), None::<()>),
            })?;
        Ok(to_hex(answer))
    }

    async fn request_root_key(&self, message: String) -> RpcResult<KeyAnswerView> {
        if message.len() > 2 * (MAX_NOISE_MESSAGE + 1) {
            return Err(invalid("message too long"));
        }
        let message = from_hex(&message).map_err(invalid)?;
        let answer = self
            .runtime
            .answer_key_request(&message)
            .map_err(runtime_error)?;
        Ok(KeyAnswerView {
            message: to_hex(answer),
        })
    }
}
