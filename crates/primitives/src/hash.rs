use commonware_cryptography::{Hasher, Sha256};

/// A 32-byte SHA-256 digest: block hashes, roots and identifiers.
pub type Digest = commonware_cryptography::sha256::Digest;

/// Hashes one byte string.
pub fn hash(bytes: &[u8]) -> Digest {
    Sha256::hash(&[bytes])
}

/// Hashes the concatenation of several byte strings without copying them together.
pub fn hash_parts(parts: &[&[u8]]) -> Digest {
    Sha256::hash(parts)
}
