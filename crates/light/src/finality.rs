//! Finality: a block is final when a quorum of validators signed its finalization. With threshold
//! signatures the certificate is one BLS signature (48 bytes) under the group public key that
//! genesis fixes, so checking it needs no validator set at all.

use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::simplex::{
    scheme::bls12381_threshold::standard as bls, types::Finalization,
};
use commonware_cryptography::{
    bls12381::primitives::variant::{MinSig, Variant},
    certificate::Verifier as _,
};
use commonware_parallel::Sequential;
use veil_primitives::{AccountId, Digest, Header, Message, namespace};

/// BLS variant: 48-byte signatures (small certificates), 96-byte group key.
pub type ConsensusVariant = MinSig;
/// The consensus signing scheme.
pub type Scheme = bls::Scheme<AccountId, ConsensusVariant>;
/// The consensus group public key.
pub type GroupKey = <ConsensusVariant as Variant>::Public;
/// A finalization certificate.
pub type Certificate = Finalization<Scheme, Digest>;

/// Why a light-client check failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The certificate bytes do not decode.
    #[error("malformed certificate: {0}")]
    MalformedCertificate(String),
    /// The certificate's signature does not verify under the group key.
    #[error("certificate signature does not verify under the genesis group key")]
    BadSignature,
    /// The certificate finalizes a different block.
    #[error("certificate finalizes {certified}, not {header}")]
    WrongBlock {
        /// Hash the certificate names.
        certified: Digest,
        /// Hash of the header checked.
        header: Digest,
    },
    /// Headers do not link by hash and height.
    #[error("header {index} does not link to its successor")]
    BrokenChain {
        /// Position of the bad header.
        index: usize,
    },
    /// The messages do not hash to the header's messages root.
    #[error("messages do not match the messages root")]
    MessagesRoot,
    /// The header is not a genesis header.
    #[error("not a genesis header")]
    NotGenesis,
    /// The chain id or group key is not what genesis state commits to.
    #[error("chain id or group key does not match the genesis state")]
    GroupKeyProof,
    /// The group key bytes do not decode.
    #[error("malformed group key: {0}")]
    MalformedGroupKey(String),
}

/// Decodes a group public key.
pub fn decode_group_key(bytes: &[u8]) -> Result<GroupKey, Error> {
    GroupKey::decode(bytes.to_vec()).map_err(|e| Error::MalformedGroupKey(e.to_string()))
}

/// Decodes a finalization certificate from untrusted bytes.
pub fn decode_certificate(bytes: &[u8]) -> Result<Certificate, Error> {
    Certificate::decode_cfg(
        bytes.to_vec(),
        &Scheme::certificate_codec_config_unbounded(),
    )
    .map_err(|e| Error::MalformedCertificate(e.to_string()))
}

/// Checks that `certificate` finalizes `header` under `group_key`.
pub fn verify_finality(
    group_key: &GroupKey,
    header: &Header,
    certificate: &[u8],
) -> Result<(), Error> {
    let cert = decode_certificate(certificate)?;
    let verifier = Scheme::certificate_verifier(namespace::CONSENSUS, *group_key);
    // Threshold verification draws no randomness; the rng only satisfies the trait bound.
    let mut rng = commonware_utils::TestRng::new(0);
    if !cert.verify(&mut rng, &verifier, &Sequential) {
        return Err(Error::BadSignature);
    }
    let hash = header.hash();
    if cert.proposal.payload != hash {
        return Err(Error::WrongBlock {
            certified: cert.proposal.payload,
            header: hash,
        });
    }
    Ok(())
}

/// What a light client trusts after checking genesis: the chain and its consensus group key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// The chain id genesis state commits to.
    pub chain_id: u64,
    /// Hash of the genesis header.
    pub genesis_hash: Digest,
    /// The consensus group key committed by genesis state.
    pub group_key: GroupKey,
}

/// Checks a genesis header and the chain id and group key it commits to (one inclusion proof of
/// the chain record under the genesis state root). After this, the genesis hash alone names the
/// chain, its id and the key that finalizes it, so a host can bind a pRuntime to no other id.
pub fn verify_genesis(
    header: &Header,
    chain_id: u64,
    group_key: &[u8],
    proof: &[u8],
) -> Result<Trust, Error> {
    if header.height != 0 || header.parent != Digest::from([0u8; 32]) {
        return Err(Error::NotGenesis);
    }
    if !crate::state::verify_inclusion(
        &header.state_root,
        &veil_primitives::chain_record_key(),
        &veil_primitives::chain_record(chain_id, group_key),
        proof,
    ) {
        return Err(Error::GroupKeyProof);
    }
    Ok(Trust {
        chain_id,
        genesis_hash: header.hash(),
        group_key: decode_group_key(group_key)?,
    })
}

/// Checks that `headers` (ascending) form a hash chain ending at `certified`, which the caller
/// has checked with [verify_finality]. Every header then inherits its finality.
pub fn verify_chain(headers: &[Header], certified: &Header) -> Result<(), Error> {
    let mut next = certified;
    for (index, h) in headers.iter().enumerate().rev() {
        if next.parent != h.hash() || next.height != h.height + 1 {
            return Err(Error::BrokenChain { index });
        }
        next = h;
    }
    Ok(())
}

/// Checks that `messages` are exactly the messages `header` committed to.
pub fn verify_messages(header: &Header, messages: &[Message]) -> Result<(), Error> {
    let leaves: Vec<_> = messages.iter().map(|m| m.encode()).collect();
    if veil_crypto::merkle::root(&leaves) != header.messages_root {
        return Err(Error::MessagesRoot);
    }
    Ok(())
}
