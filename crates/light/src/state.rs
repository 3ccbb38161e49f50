//! State proofs: a value (or its absence) under a block's state root.
//!
//! The chain's state is a QMDB `current::ordered` database. Its root commits both the log of
//! operations and which of them are still active, so one proof shows a key's current value and
//! an exclusion proof shows a key is absent, both against one 32-byte root.

use commonware_codec::{Decode as _, RangeCfg};
use commonware_cryptography::Sha256;
use commonware_storage::{
    mmr,
    qmdb::{
        any::value::VariableEncoding,
        current::ordered::proof::constant::{ExclusionProof, KeyValueProof},
    },
};
use veil_primitives::Digest;

/// Merkle family of the state database.
pub type Family = mmr::Family;
/// Bytes per activity-bitmap chunk. Writer and verifier must agree.
pub const CHUNK: usize = 32;
/// Largest state value. Writers must refuse larger ones: the database cannot reopen otherwise.
pub const MAX_VALUE: usize = veil_primitives::MAX_STATE_VALUE;
/// Most digests a proof may carry (real proofs carry about log2 of the operation count).
pub const MAX_PROOF_DIGESTS: usize = 256;

/// How state values are encoded in the database.
pub type ValueEncoding = VariableEncoding<Vec<u8>>;
/// Proof that a key holds a value.
pub type InclusionProof = KeyValueProof<Family, Digest, Digest, CHUNK>;
/// Proof that a key holds nothing.
pub type AbsenceProof = ExclusionProof<Family, Digest, ValueEncoding, Digest, CHUNK>;

fn value_cfg() -> (RangeCfg<usize>, ()) {
    (RangeCfg::new(0..=MAX_VALUE), ())
}

/// Decodes an inclusion proof from untrusted bytes.
pub fn decode_inclusion(bytes: &[u8]) -> Result<InclusionProof, commonware_codec::Error> {
    InclusionProof::decode_cfg(bytes.to_vec(), &(MAX_PROOF_DIGESTS, ()))
}

/// Decodes an exclusion proof from untrusted bytes.
pub fn decode_absence(bytes: &[u8]) -> Result<AbsenceProof, commonware_codec::Error> {
    AbsenceProof::decode_cfg(
        bytes.to_vec(),
        &(MAX_PROOF_DIGESTS, ((), value_cfg()), value_cfg()),
    )
}

/// Checks that `key` holds `value` under `root`, given an encoded inclusion proof.
pub fn verify_inclusion(root: &Digest, key: &Digest, value: &[u8], proof: &[u8]) -> bool {
    let Ok(proof) = decode_inclusion(proof) else {
        return false;
    };
    proof.verify::<Sha256, ValueEncoding>(*key, value.to_vec(), root)
}

/// Checks that `key` holds nothing under `root`, given an encoded exclusion proof.
pub fn verify_absence(root: &Digest, key: &Digest, proof: &[u8]) -> bool {
    let Ok(proof) = decode_absence(proof) else {
        return false;
    };
    proof.verify::<Sha256>(key, root)
}
