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

/// `public_RequestRootKey` result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyAnswerView {
    /// Second Noise message (hex), for the requester's `FinishKeyRequest`.
    pub message: String,
}

/// A public answer and the worker's signature over its exact bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignedAnswer {
    /// The answer, as JSON text.
    pub payload: String,
    /// Worker public key (hex).
    pub public_key: String,
    /// Ed25519 signature over `payload` under [namespace::PUBLIC_ANSWER] (hex).
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
}

impl SignedAnswer {
    /// Checks the signature; returns the signer and the payload.
    pub fn verify(&self) -> Result<(AccountId, &str), AnswerError> {
        let key: AccountId = decode_hex(&self.public_key)
            .map_err(|e| AnswerError::Malformed(format!("public_key: {e}")))?;
        let bytes = from_hex(&self.signature)
            .map_err(|e| AnswerError::Malformed(format!("signature: {e}")))?;
        let sig = Signature::decode(bytes)
            .map_err(|e| AnswerError::Malformed(format!("signature: {e}")))?;
        if !key.verify(namespace::PUBLIC_ANSWER, self.payload.as_bytes(), &sig) {
            return Err(AnswerError::BadSignature);
        }
        Ok((key, &self.payload))
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
    /// Public facts ([Info]: identity, TEE, sync progress).
    #[method(name = "Info")]
    async fn info(&self) -> RpcResult<SignedAnswer>;
    /// The worker identity ([crate::IdentityView]).
    #[method(name = "GetIdentity")]
    async fn get_identity(&self) -> RpcResult<SignedAnswer>;
    /// Answers an elected gatekeeper's Noise key request (key holders only).
    #[method(name = "RequestRootKey")]
    async fn request_root_key(&self, message: String) -> RpcResult<KeyAnswerView>;
}
