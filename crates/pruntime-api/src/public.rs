//! The users' API: public facts and root-key requests, each answer signed by the worker key.

use commonware_codec::DecodeExt as _;
use commonware_cryptography::Verifier as _;
#[cfg(any(feature = "client", feature = "server"))]
#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use veil_primitives::{
    AccountId, GenesisNodeStatus, Height, Signature, TeeKind, decode_hex, from_hex, namespace,
};

pub use crate::limits::MAX_ANSWER_NONCE;

/// Public facts about a pRuntime (the payload of `public_Info`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Info {
    /// Worker signing key (hex).
    pub public_key: String,
    /// Worker ECDH key (hex).
    pub ecdh_public_key: String,
    /// TEE kind.
    pub tee: TeeKind,
    /// `true` in dev mode: nothing proves this runtime runs in a TEE.
    pub insecure: bool,
    /// Code measurement (hex).
    pub measurement: String,
    /// Chain id, once initialized.
    pub chain_id: Option<u64>,
    /// Genesis hash, once initialized.
    pub genesis_hash: Option<String>,
    /// Last synced height (0 = genesis only).
    pub synced_height: Height,
    /// Hash of the last synced block.
    pub synced_hash: Option<String>,
    /// Messages addressed to this worker received so far.
    pub messages_received: u64,
    /// Registered until this height, as the chain told this runtime (`null`: not registered).
    pub registered_until: Option<Height>,
    /// Egress messages signed but not yet seen on chain.
    pub egress_pending: usize,
    /// The latest gatekeeper election this runtime has verified (0: none yet).
    pub election_round: u64,
    /// Whether that election elected this worker as a gatekeeper.
    pub gatekeeper: bool,
    /// The public genesis identity (ed25519 key), if this runtime is the genesis node.
    pub genesis_key: Option<String>,
    /// `active` while this genesis node holds the root key, `retired` once it wiped it after
    /// the launch; `null` if this runtime is not the genesis node.
    pub genesis: Option<GenesisNodeStatus>,
    /// Whether the network launched, as this runtime verified.
    pub launched: bool,
    /// Whether this runtime holds the root key as a gatekeeper.
    pub holds_root_key: bool,
    /// The era of the root key it holds.
    pub era: Option<u64>,
    /// This gatekeeper's copies of gatekeeper messages not yet seen on chain.
    pub gatekeeper_pending: usize,
    /// Next sequence of the gatekeepers' stream in this gatekeeper's replicated state.
    pub gatekeeper_sequence: Option<u64>,
}

/// `public_ContractQuery` parameters: a sealed query within a session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueryRequestView {
    /// The signed session grant (hex `SignedGrant`): needed on a session's first query, and
    /// again whenever the worker answers that it does not know the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The session's X25519 public key (hex).
    pub session: String,
    /// The worker's query epoch (hex, 16 bytes), bound into the sealed request: a worker that
    /// restarted, or dropped a live session from a full table, since refuses the request with
    /// `STALE_EPOCH` and its new epoch. Any 16 bytes (zeros) to learn it.
    pub epoch: String,
    /// The request's counter: above every counter of the session the worker has seen.
    pub counter: u64,
    /// The sealed `QueryCall` (hex, a bucket size).
    pub ciphertext: String,
}

/// `public_RequestRootKey` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyAnswerView {
    /// Second Noise message (hex), for the requester's `FinishKeyRequest`.
    pub message: String,
}

/// A public answer and the worker's signature over its exact bytes and the client's nonce.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedAnswer {
    /// The answer, as JSON text.
    pub payload: String,
    /// The nonce the client sent with its request (hex), signed with the payload: an answer
    /// recorded earlier cannot pass for the answer to a new request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Worker public key (hex).
    pub public_key: String,
    /// Ed25519 signature over [SignedAnswer::signed_bytes] under [namespace::PUBLIC_ANSWER]
    /// (hex).
    pub signature: String,
}

/// Why a signed answer was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnswerError {
    /// The public key or signature is not well-formed.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The signature does not verify: the answer was altered or not signed by that key.
    #[error("the answer's signature does not verify")]
    BadSignature,
    /// The payload is not the expected JSON.
    #[error("the answer's payload does not decode: {0}")]
    Payload(String),
    /// The answer was signed for another request's nonce (or none): a replay.
    #[error("the answer does not carry this request's nonce: an old answer replayed")]
    Stale,
}

impl SignedAnswer {
    /// What the signature covers: the nonce (length-prefixed, empty when none) and the payload.
    pub fn signed_bytes(nonce: Option<&[u8]>, payload: &str) -> Vec<u8> {
        let nonce = nonce.unwrap_or_default();
        let mut out = Vec::with_capacity(1 + nonce.len() + payload.len());
        out.push(nonce.len() as u8);
        out.extend_from_slice(nonce);
        out.extend_from_slice(payload.as_bytes());
        out
    }

    /// Checks the signature; returns the signer and the payload. Says nothing about freshness:
    /// use [Self::verify_fresh] when the request carried a nonce.
    pub fn verify(&self) -> Result<(AccountId, &str), AnswerError> {
        let key: AccountId = decode_hex(&self.public_key)
            .map_err(|e| AnswerError::Malformed(format!("public_key: {e}")))?;
        let bytes = from_hex(&self.signature)
            .map_err(|e| AnswerError::Malformed(format!("signature: {e}")))?;
        let sig = Signature::decode(bytes)
            .map_err(|e| AnswerError::Malformed(format!("signature: {e}")))?;
        let nonce = self
            .nonce
            .as_deref()
            .map(from_hex)
            .transpose()
            .map_err(|e| AnswerError::Malformed(format!("nonce: {e}")))?;
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_ANSWER_NONCE) {
            return Err(AnswerError::Malformed("nonce too long".into()));
        }
        let signed = Self::signed_bytes(nonce.as_deref(), &self.payload);
        if !key.verify(namespace::PUBLIC_ANSWER, &signed, &sig) {
            return Err(AnswerError::BadSignature);
        }
        Ok((key, &self.payload))
    }

    /// Checks the signature and that the answer was signed for `nonce`, the one this client
    /// just sent.
    pub fn verify_fresh(&self, nonce: &[u8]) -> Result<(AccountId, &str), AnswerError> {
        let verified = self.verify()?;
        let signed_for = self
            .nonce
            .as_deref()
            .map(from_hex)
            .transpose()
            .ok()
            .flatten();
        if signed_for.as_deref() != Some(nonce) {
            return Err(AnswerError::Stale);
        }
        Ok(verified)
    }

    /// [Self::verify_fresh], then decodes the payload as `T`.
    pub fn open_fresh<T: DeserializeOwned>(
        &self,
        nonce: &[u8],
    ) -> Result<(AccountId, T), AnswerError> {
        let (key, payload) = self.verify_fresh(nonce)?;
        let value =
            serde_json::from_str(payload).map_err(|e| AnswerError::Payload(e.to_string()))?;
        Ok((key, value))
    }

    /// Checks the signature and decodes the payload as `T`.
    pub fn open<T: DeserializeOwned>(&self) -> Result<(AccountId, T), AnswerError> {
        let (key, payload) = self.verify()?;
        let value =
            serde_json::from_str(payload).map_err(|e| AnswerError::Payload(e.to_string()))?;
        Ok((key, value))
    }
}

/// The users' API; answers are signed by the worker key.
#[cfg(any(feature = "client", feature = "server"))]
#[cfg_attr(
    all(feature = "client", feature = "server"),
    rpc(client, server, namespace = "public")
)]
#[cfg_attr(
    all(feature = "client", not(feature = "server")),
    rpc(client, namespace = "public")
)]
#[cfg_attr(
    all(feature = "server", not(feature = "client")),
    rpc(server, namespace = "public")
)]
pub trait PublicApi {
    /// Public facts ([Info]: identity, TEE, sync progress). `nonce` (hex, at most
    /// [MAX_ANSWER_NONCE] bytes) is signed into the answer; see [SignedAnswer::verify_fresh].
    #[method(name = "Info")]
    async fn info(&self, nonce: Option<String>) -> RpcResult<SignedAnswer>;
    /// The worker identity ([crate::IdentityView]), with an optional nonce as for `Info`.
    #[method(name = "GetIdentity")]
    async fn get_identity(&self, nonce: Option<String>) -> RpcResult<SignedAnswer>;
    /// Answers an elected gatekeeper's Noise key request (key holders only).
    #[method(name = "RequestRootKey")]
    async fn request_root_key(&self, message: String) -> RpcResult<KeyAnswerView>;
    /// Runs a sealed query on a contract this worker runs; returns the sealed `QueryAnswer`
    /// (hex, a bucket size), which only the session can open.
    #[method(name = "ContractQuery")]
    async fn contract_query(&self, request: QueryRequestView) -> RpcResult<String>;
}
