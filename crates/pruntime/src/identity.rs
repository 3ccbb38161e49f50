//! The worker identity: an ed25519 signing key (signs egress and public answers) and an X25519
//! ECDH key (secure channels, encrypted key delivery). Created inside pRuntime at first start,
//! sealed, never exported.

use commonware_codec::{DecodeExt as _, Write as _};
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use veil_primitives::{
    AccountId, ChainIdentity, PrivateKey, Signature, SignedWorkerMessage, WorkerMessage,
};
use x25519_dalek::{PublicKey as EcdhPublic, StaticSecret};
use zeroize::Zeroizing;

use crate::sealed::dir::SealedDir;

const FILE: &str = "identity";

/// The worker's keys.
pub struct Identity {
    signing: PrivateKey,
    ecdh: StaticSecret,
}

impl Identity {
    /// Loads the sealed identity, or creates and seals a new one. Returns it and whether it was
    /// created now.
    pub fn load_or_create(dir: &SealedDir) -> anyhow::Result<(Self, bool)> {
        if let Some(bytes) = dir.read(FILE)? {
            anyhow::ensure!(bytes.len() == 64, "sealed identity has the wrong length");
            let signing = PrivateKey::decode(crate::sealed::wiped_bytes(&bytes[..32]))
                .map_err(|e| anyhow::anyhow!("sealed identity: {e}"))?;
            let mut ecdh = Zeroizing::new([0u8; 32]);
            ecdh.copy_from_slice(&bytes[32..]);
            return Ok((
                Self {
                    signing,
                    ecdh: StaticSecret::from(*ecdh),
                },
                false,
            ));
        }
        let signing = PrivateKey::random(commonware_utils::sys_rng());
        let ecdh = StaticSecret::random_from_rng(&mut rand::rng());
        let mut bytes = Zeroizing::new(Vec::with_capacity(64));
        signing.write(&mut *bytes);
        bytes.extend_from_slice(ecdh.as_bytes());
        dir.write(FILE, &bytes)?;
        Ok((Self { signing, ecdh }, true))
    }

    /// Fresh keys that are never sealed, for unit tests.
    #[cfg(test)]
    pub(crate) fn ephemeral() -> Self {
        Self {
            signing: PrivateKey::random(commonware_utils::sys_rng()),
            ecdh: StaticSecret::random_from_rng(&mut rand::rng()),
        }
    }

    /// The signing public key: the worker's id.
    pub fn public_key(&self) -> AccountId {
        self.signing.public_key()
    }

    /// The ECDH public key.
    pub fn ecdh_public(&self) -> [u8; 32] {
        EcdhPublic::from(&self.ecdh).to_bytes()
    }

    /// Signs `msg` under `namespace`.
    pub fn sign(&self, namespace: &[u8], msg: &[u8]) -> Signature {
        self.signing.sign(namespace, msg)
    }

    /// Signs an egress message for `chain`.
    pub fn sign_message(&self, msg: WorkerMessage, chain: &ChainIdentity) -> SignedWorkerMessage {
        msg.sign(&self.signing, chain)
    }

    /// Signs this gatekeeper's copy of a message of the gatekeepers' stream.
    pub fn sign_gatekeeper_message(
        &self,
        msg: veil_primitives::GatekeeperMessage,
        chain: &ChainIdentity,
    ) -> veil_primitives::SignedGatekeeperMessage {
        msg.sign(&self.signing, chain)
    }

    /// Signs a contract's message or reply as the contract's miner.
    pub fn sign_contract_egress(
        &self,
        egress: veil_primitives::contract::ContractEgress,
        chain: &ChainIdentity,
    ) -> veil_primitives::contract::SignedContractEgress {
        egress.sign(&self.signing, chain)
    }

    /// Signs a chunk of a contract checkpoint as this worker.
    pub fn sign_checkpoint_chunk(
        &self,
        chunk: veil_primitives::contract::CheckpointChunk,
        chain: &ChainIdentity,
    ) -> veil_primitives::contract::SignedCheckpointChunk {
        chunk.sign(&self.signing, chain)
    }

    /// The ECDH secret, for Noise handshakes (never leaves pRuntime).
    pub(crate) fn ecdh_secret(&self) -> &[u8; 32] {
        self.ecdh.as_bytes()
    }
}
