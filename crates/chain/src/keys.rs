//! The chain's key space.
//!
//! Every state key is [veil_primitives::state_key]: `SHA-256(namespace ‖ module ‖ item)`, so keys are fixed-size, spread
//! evenly, and a light client can compute the key of anything it wants a proof for.

use veil_primitives::{AccountId, Digest, Origin};

/// Key of an item owned by `module`.
pub fn key(module: &[u8], item: &[u8]) -> Digest {
    veil_primitives::state_key(module, item)
}

/// An account record: nonce and free balance.
pub fn account(id: &AccountId) -> Digest {
    key(b"balances/account", id.as_ref())
}

/// Total issuance of the native token.
pub fn total_issuance() -> Digest {
    key(b"balances/issuance", &[])
}

/// The current block (height, timestamp).
pub fn block_info() -> Digest {
    key(b"system/block", &[])
}

/// The chain parameters.
pub fn params() -> Digest {
    key(b"governance/params", &[])
}

/// The consensus group public key (encoded), fixed at genesis.
///
/// Genesis state commits it, and the genesis hash commits the genesis state root, so a light
/// client handed a genesis hash can check the group key it is given by proof.
pub fn consensus_key() -> Digest {
    veil_primitives::consensus_key_key()
}

/// The governance key.
pub fn governance_key() -> Digest {
    key(b"governance/key", &[])
}

/// Next sequence of a message origin.
pub fn mq_sequence(origin: &Origin) -> Digest {
    use veil_primitives::Encode;
    key(b"mq/sequence", &origin.encode())
}
