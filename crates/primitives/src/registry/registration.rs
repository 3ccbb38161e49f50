//! A worker's registration request: its keys, operator and endpoint under the worker's
//! signature, then the attestation evidence and collateral the signature leaves out.

use bytes::BufMut;
use commonware_codec::{Buf, Encode as _, EncodeSize, Error, Read, ReadExt, Write};
use commonware_cryptography::Verifier as _;

use super::limits::{MAX_ATTESTATION_BYTES, MAX_ENDPOINT_BYTES};
use crate::{
    AccountId, ChainIdentity, Height, Signature, namespace,
    wire::{bytes_cfg, read_string, string_size, write_string},
};

/// A worker's request to register, signed by the worker's identity key.
///
/// The evidence's report data binds the worker keys, the genesis and the block at
/// `attested_height`; the worker's signature binds the operator and endpoint, so nobody who
/// sees the quote can register the worker under another account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Worker signing key (its identity).
    pub worker: AccountId,
    /// Worker X25519 key.
    pub ecdh_key: [u8; 32],
    /// Account that submits the registration and pays for the worker.
    pub operator: AccountId,
    /// Public pRuntime URL or multiaddr.
    pub endpoint: String,
    /// Height of the block whose hash the evidence binds.
    pub attested_height: Height,
    /// The worker's signature over [Registration::signing_payload].
    pub signature: Signature,
    /// Encoded evidence (for dev mode, carrying the RA service's signed quote).
    pub evidence: Vec<u8>,
    /// DCAP collateral (JSON); empty for dev evidence.
    pub collateral: Vec<u8>,
}

impl Registration {
    /// The bytes the worker signs: chain, then every field but the attestation blobs.
    pub fn signing_payload(
        chain: &ChainIdentity,
        worker: &AccountId,
        ecdh_key: &[u8; 32],
        operator: &AccountId,
        endpoint: &str,
        attested_height: Height,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&chain.chain_id.to_be_bytes());
        out.extend_from_slice(chain.genesis_hash.as_ref());
        out.extend_from_slice(&worker.encode());
        out.extend_from_slice(ecdh_key);
        out.extend_from_slice(&operator.encode());
        out.extend_from_slice(&endpoint.as_bytes().to_vec().encode());
        out.extend_from_slice(&attested_height.to_be_bytes());
        out
    }

    /// Whether the worker signed this registration for `chain`.
    pub fn verify_signature(&self, chain: &ChainIdentity) -> bool {
        let payload = Self::signing_payload(
            chain,
            &self.worker,
            &self.ecdh_key,
            &self.operator,
            &self.endpoint,
            self.attested_height,
        );
        self.worker
            .verify(namespace::REGISTRATION, &payload, &self.signature)
    }
}

impl Write for Registration {
    fn write(&self, buf: &mut impl BufMut) {
        self.worker.write(buf);
        self.ecdh_key.write(buf);
        self.operator.write(buf);
        write_string(&self.endpoint, buf);
        self.attested_height.write(buf);
        self.signature.write(buf);
        self.evidence.write(buf);
        self.collateral.write(buf);
    }
}

impl EncodeSize for Registration {
    fn encode_size(&self) -> usize {
        self.worker.encode_size()
            + 32
            + self.operator.encode_size()
            + string_size(&self.endpoint)
            + 8
            + self.signature.encode_size()
            + self.evidence.encode_size()
            + self.collateral.encode_size()
    }
}

impl Read for Registration {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            worker: crate::wire::read_account(buf)?,
            ecdh_key: <[u8; 32]>::read(buf)?,
            operator: crate::wire::read_account(buf)?,
            endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            attested_height: u64::read(buf)?,
            signature: Signature::read(buf)?,
            evidence: Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_ATTESTATION_BYTES))?,
            collateral: Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_ATTESTATION_BYTES))?,
        })
    }
}
