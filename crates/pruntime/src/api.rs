//! pRuntime's JSON-RPC APIs, named as in the whitepaper.
//!
//! - Private (for the host, bind to loopback): `InitRuntime`, `SyncBlockchain`, `GetRAQuote`,
//!   `GetIdentity`, `GetSyncState`, `GetRegistration`, `DumpSideEffect`, `Bootstrap`,
//!   `StartKeyRequest`, `FinishKeyRequest`.
//! - Public (for users and other workers): `Info` and `GetIdentity`, each answer signed by the
//!   worker key so it can be relayed by anyone without being forged, and `RequestRootKey`, a
//!   Noise handshake message in and out (only elected gatekeepers can complete it).
//!
//! Every input is untrusted: sizes are bounded and bytes decoded with limits; a refused call
//! changes nothing.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use jsonrpsee::{
    RpcModule,
    core::RpcResult,
    proc_macros::rpc,
    server::{Server, ServerConfig, ServerHandle},
    types::ErrorObjectOwned,
};
use serde::{Deserialize, Serialize};
use veil_primitives::{Digest, Header, MAX_TX_BYTES_CAP, Message, decode_hex, from_hex, to_hex};

use crate::{
    runtime::{Runtime, RuntimeError, SignedAnswer},
    sync::Batch,
};

const INVALID_PARAMS: i32 = -32602;
const SYNC_REJECTED: i32 = -32020;
const GENESIS_REJECTED: i32 = -32021;
const UNKNOWN_BLOCK: i32 = -32022;
const RETIRED: i32 = -32023;
const KEY_EXCHANGE: i32 = -32024;
const INTERNAL: i32 = -32050;

fn invalid(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, format!("invalid params: {msg}"), None::<()>)
}

fn runtime_error(e: RuntimeError) -> ErrorObjectOwned {
    let code = match &e {
        RuntimeError::Sync(_) => SYNC_REJECTED,
        RuntimeError::Genesis(_) => GENESIS_REJECTED,
        RuntimeError::UnknownBlock(_) => UNKNOWN_BLOCK,
        RuntimeError::Invalid(_) => INVALID_PARAMS,
        RuntimeError::Retired => RETIRED,
        RuntimeError::KeyExchange(_) => KEY_EXCHANGE,
        RuntimeError::Internal(_) => INTERNAL,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

/// `InitRuntime` parameters: the chain to follow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InitRequest {
    /// Chain id.
    pub chain_id: u64,
    /// Encoded genesis header.
    pub genesis_header: String,
    /// Encoded consensus group key.
    pub group_key: String,
    /// Inclusion proof of the group key under the genesis state root.
    pub group_key_proof: String,
}

/// `SyncBlockchain` parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Encoded consecutive headers.
    pub headers: Vec<String>,
    /// Encoded finalization of the last header.
    pub certificate: String,
    /// Encoded outbound messages of each block.
    pub messages: Vec<Vec<String>>,
}

/// `SyncBlockchain` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Height synced to.
    pub synced_height: u64,
    /// Messages in the batch addressed to this worker.
    pub messages_for_worker: usize,
}

/// `GetIdentity` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityView {
    /// Signing public key.
    pub public_key: String,
    /// ECDH public key.
    pub ecdh_public_key: String,
    /// TEE kind.
    pub tee: veil_attestation::TeeKind,
    /// Dev mode.
    pub insecure: bool,
    /// Measurement.
    pub measurement: String,
}

/// `GetRAQuote` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuoteView {
    /// Encoded evidence.
    pub evidence: String,
    /// The block hash bound into the report data.
    pub block_hash: String,
}

/// The host's API.
#[rpc(server, client)]
pub trait PrivateApi {
    /// Sets the chain to follow.
    #[method(name = "InitRuntime")]
    async fn init_runtime(&self, request: InitRequest) -> RpcResult<()>;
    /// Feeds a batch of finalized blocks.
    #[method(name = "SyncBlockchain")]
    async fn sync_blockchain(&self, request: SyncRequest) -> RpcResult<SyncResponse>;
    /// Attestation evidence bound to a recently synced block.
    #[method(name = "GetRAQuote")]
    async fn get_ra_quote(&self, block_hash: String) -> RpcResult<QuoteView>;
    /// The worker identity.
    #[method(name = "GetIdentity")]
    async fn get_identity(&self) -> RpcResult<IdentityView>;
    /// Sync progress (`null` before `InitRuntime`).
    #[method(name = "GetSyncState")]
    async fn get_sync_state(&self) -> RpcResult<Option<SyncStateView>>;
    /// A signed registration for `operator` at `endpoint`, attesting the last synced block.
    #[method(name = "GetRegistration")]
    async fn get_registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> RpcResult<RegistrationView>;
    /// Signed egress messages not yet seen on chain, in sequence order.
    #[method(name = "DumpSideEffect")]
    async fn dump_side_effect(&self) -> RpcResult<SideEffectsView>;
    /// Takes the genesis role (once per network): seals a genesis identity and the era-0 root
    /// key, and reveals the identity's public keys only.
    #[method(name = "Bootstrap")]
    async fn bootstrap(&self) -> RpcResult<BootstrapView>;
    /// Starts fetching the root key (elected gatekeepers only): the first Noise message and
    /// the holder to deliver it to.
    #[method(name = "StartKeyRequest")]
    async fn start_key_request(&self) -> RpcResult<KeyRequestView>;
    /// Completes the key request with the holder's answer; seals the key and confirms
    /// readiness on chain (through egress).
    #[method(name = "FinishKeyRequest")]
    async fn finish_key_request(&self, answer: String) -> RpcResult<KeyReceivedView>;
}

/// `StartKeyRequest` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRequestView {
    /// The holder's identity key.
    pub holder: String,
    /// The holder's public API URL.
    pub endpoint: String,
    /// The election round.
    pub round: u64,
    /// First Noise message (hex), for the holder's `public_RequestRootKey`.
    pub message: String,
}

/// `FinishKeyRequest` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyReceivedView {
    /// Era of the root key.
    pub era: u64,
    /// Its check (hex), as the chain knows it.
    pub key_check: String,
}

/// `public_RequestRootKey` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyAnswerView {
    /// Second Noise message (hex), for the requester's `FinishKeyRequest`.
    pub message: String,
}

/// `Bootstrap` result: the public genesis identity `pk_g`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BootstrapView {
    /// ed25519 key (hex).
    pub genesis_key: String,
    /// X25519 key (hex): the static key of the genesis node's secure channels.
    pub genesis_ecdh_key: String,
    /// Check of the era-0 root key (hex): a hash that names the key without revealing it.
    pub key_check: String,
    /// Whether the role was created by this call (else it already existed).
    pub created: bool,
}

/// `GetRegistration` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistrationView {
    /// Encoded `Registration` (evidence inside, collateral empty).
    pub registration: String,
    /// TEE kind of the evidence.
    pub tee: veil_attestation::TeeKind,
    /// Height of the attested block.
    pub attested_height: u64,
}

/// `DumpSideEffect` result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SideEffectsView {
    /// Encoded `SignedWorkerMessage`s, in sequence order.
    pub messages: Vec<String>,
    /// Their sequences.
    pub sequences: Vec<u64>,
    /// Registered until this height, as the chain told pRuntime (`null`: not registered).
    pub registered_until: Option<u64>,
    /// Encoded `SignedGatekeeperMessage`s: this gatekeeper's copies of the gatekeepers'
    /// messages not yet seen on chain, in sequence order.
    #[serde(default)]
    pub gatekeeper_messages: Vec<String>,
    /// Their sequences in the gatekeepers' stream.
    #[serde(default)]
    pub gatekeeper_sequences: Vec<u64>,
}

/// `GetSyncState` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncStateView {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: String,
    /// Last synced height.
    pub synced_height: u64,
    /// Hash of the last synced block.
    pub synced_hash: String,
    /// Whether the latest verified election elected this worker.
    #[serde(default)]
    pub elected: bool,
    /// Whether it holds the root key the election names.
    #[serde(default)]
    pub holds_root_key: bool,
    /// Whether the network launched.
    #[serde(default)]
    pub launched: bool,
    /// `active` or `retired` if this is the genesis node.
    #[serde(default)]
    pub genesis: Option<String>,
}

/// The users' API; answers are signed by the worker key.
#[rpc(server, client, namespace = "public")]
pub trait PublicApi {
    /// Public facts (identity, TEE, sync progress).
    #[method(name = "Info")]
    async fn info(&self) -> RpcResult<SignedAnswer>;
    /// The worker identity.
    #[method(name = "GetIdentity")]
    async fn get_identity(&self) -> RpcResult<SignedAnswer>;
    /// Answers an elected gatekeeper's Noise key request (key holders only).
    #[method(name = "RequestRootKey")]
    async fn request_root_key(&self, message: String) -> RpcResult<KeyAnswerView>;
}

/// Shared handle to the runtime for both servers.
#[derive(Clone)]
pub struct Api {
    runtime: Arc<Mutex<Runtime>>,
}

impl Api {
    /// Wraps a runtime.
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime: Arc::new(Mutex::new(runtime)),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Runtime) -> T) -> T {
        let mut guard = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn identity_view(&self) -> IdentityView {
        self.with(|r| {
            let info = r.info();
            IdentityView {
                public_key: info.public_key,
                ecdh_public_key: info.ecdh_public_key,
                tee: info.tee,
                insecure: info.insecure,
                measurement: info.measurement,
            }
        })
    }

    /// Serves the private API on `private` and the public API on `public`.
    pub async fn serve(
        self,
        private: SocketAddr,
        public: SocketAddr,
    ) -> anyhow::Result<((SocketAddr, ServerHandle), (SocketAddr, ServerHandle))> {
        let host = Server::builder()
            .set_config(
                ServerConfig::builder()
                    .max_request_body_size(256 * 1024 * 1024)
                    .max_connections(16)
                    .build(),
            )
            .build(private)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind private API on {private}: {e}"))?;
        let users = Server::builder()
            .set_config(
                ServerConfig::builder()
                    .max_request_body_size(64 * 1024)
                    .max_connections(1024)
                    .build(),
            )
            .build(public)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind public API on {public}: {e}"))?;
        let host_addr = host.local_addr()?;
        let users_addr = users.local_addr()?;
        let private_module: RpcModule<Api> = PrivateApiServer::into_rpc(self.clone());
        let public_module: RpcModule<Api> = PublicApiServer::into_rpc(self);
        Ok((
            (host_addr, host.start(private_module)),
            (users_addr, users.start(public_module)),
        ))
    }
}

fn decode_batch(request: &SyncRequest) -> Result<Batch, ErrorObjectOwned> {
    if request.headers.len() > crate::sync::MAX_BATCH_HEADERS {
        return Err(runtime_error(RuntimeError::Sync(
            crate::sync::SyncError::TooLarge(request.headers.len()),
        )));
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
    Ok(Batch {
        headers,
        certificate,
        messages,
    })
}

#[jsonrpsee::core::async_trait]
impl PrivateApiServer for Api {
    async fn init_runtime(&self, request: InitRequest) -> RpcResult<()> {
        let header = from_hex(&request.genesis_header)
            .map_err(invalid)
            .and_then(|b| Header::decode(b).map_err(invalid))?;
        let key = from_hex(&request.group_key).map_err(invalid)?;
        let proof = from_hex(&request.group_key_proof).map_err(invalid)?;
        self.with(|r| r.init(request.chain_id, &header, &key, &proof))
            .map_err(runtime_error)
    }

    async fn sync_blockchain(&self, request: SyncRequest) -> RpcResult<SyncResponse> {
        let batch = decode_batch(&request)?;
        let (height, mine) = self.with(|r| r.sync(&batch)).map_err(runtime_error)?;
        Ok(SyncResponse {
            synced_height: height,
            messages_for_worker: mine.len(),
        })
    }

    async fn get_ra_quote(&self, block_hash: String) -> RpcResult<QuoteView> {
        let hash: Digest = decode_hex(&block_hash).map_err(invalid)?;
        let evidence = self.with(|r| r.ra_quote(&hash)).map_err(runtime_error)?;
        Ok(QuoteView {
            evidence: to_hex(evidence.encode()),
            block_hash: to_hex(hash),
        })
    }

    async fn get_identity(&self) -> RpcResult<IdentityView> {
        Ok(self.identity_view())
    }

    async fn get_sync_state(&self) -> RpcResult<Option<SyncStateView>> {
        Ok(self.with(|r| {
            let info = r.info();
            r.state().map(|s| SyncStateView {
                chain_id: s.chain_id,
                genesis_hash: to_hex(s.genesis_hash),
                synced_height: s.next_height - 1,
                synced_hash: to_hex(s.last_hash),
                elected: info.gatekeeper,
                holds_root_key: s.gatekeeper.as_ref().is_some_and(|g| {
                    s.election
                        .as_ref()
                        .is_some_and(|e| e.key_check == g.key_check())
                }),
                launched: info.launched,
                genesis: info.genesis,
            })
        }))
    }

    async fn get_registration(
        &self,
        operator: String,
        endpoint: String,
    ) -> RpcResult<RegistrationView> {
        self.registration_view(&operator, endpoint)
    }

    async fn bootstrap(&self) -> RpcResult<BootstrapView> {
        let b = self.with(|r| r.bootstrap()).map_err(runtime_error)?;
        Ok(BootstrapView {
            genesis_key: to_hex(b.public.0),
            genesis_ecdh_key: to_hex(b.public.1),
            key_check: to_hex(b.key_check),
            created: b.created,
        })
    }

    async fn start_key_request(&self) -> RpcResult<KeyRequestView> {
        let (holder, message, round) = self
            .with(|r| r.start_key_request())
            .map_err(runtime_error)?;
        Ok(KeyRequestView {
            holder: to_hex(&holder.worker),
            endpoint: holder.endpoint,
            round,
            message: to_hex(message),
        })
    }

    async fn finish_key_request(&self, answer: String) -> RpcResult<KeyReceivedView> {
        let answer = from_hex(&answer).map_err(invalid)?;
        let (era, check) = self
            .with(|r| r.finish_key_request(&answer))
            .map_err(runtime_error)?;
        Ok(KeyReceivedView {
            era,
            key_check: to_hex(check),
        })
    }

    async fn dump_side_effect(&self) -> RpcResult<SideEffectsView> {
        let (pending, gatekeeper, info) =
            self.with(|r| (r.side_effects(), r.gatekeeper_side_effects(), r.info()));
        Ok(SideEffectsView {
            sequences: pending.iter().map(|m| m.message.sequence).collect(),
            messages: pending.iter().map(|m| to_hex(m.encode())).collect(),
            registered_until: info.registered_until,
            gatekeeper_sequences: gatekeeper.iter().map(|m| m.message.sequence).collect(),
            gatekeeper_messages: gatekeeper.iter().map(|m| to_hex(m.encode())).collect(),
        })
    }
}

impl Api {
    fn registration_view(
        &self,
        operator: &str,
        endpoint: String,
    ) -> Result<RegistrationView, ErrorObjectOwned> {
        let operator = decode_hex(operator).map_err(|e| invalid(format!("operator: {e}")))?;
        let (reg, tee) = self
            .with(|r| {
                r.registration(operator, endpoint)
                    .map(|reg| (reg, r.info().tee))
            })
            .map_err(runtime_error)?;
        Ok(RegistrationView {
            attested_height: reg.attested_height,
            registration: to_hex(reg.encode()),
            tee,
        })
    }
}

#[jsonrpsee::core::async_trait]
impl PublicApiServer for Api {
    async fn info(&self) -> RpcResult<SignedAnswer> {
        self.with(|r| r.sign_answer(&r.info()))
            .map_err(|e| runtime_error(RuntimeError::Internal(e)))
    }

    async fn get_identity(&self) -> RpcResult<SignedAnswer> {
        let view = self.identity_view();
        self.with(|r| r.sign_answer(&view))
            .map_err(|e| runtime_error(RuntimeError::Internal(e)))
    }

    async fn request_root_key(&self, message: String) -> RpcResult<KeyAnswerView> {
        if message.len() > 2 * (crate::gatekeeper::MAX_NOISE_MESSAGE + 1) {
            return Err(invalid("message too long"));
        }
        let message = from_hex(&message).map_err(invalid)?;
        let answer = self
            .with(|r| r.answer_key_request(&message))
            .map_err(runtime_error)?;
        Ok(KeyAnswerView {
            message: to_hex(answer),
        })
    }
}
