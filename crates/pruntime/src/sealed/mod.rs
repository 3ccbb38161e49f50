//! Sealed storage: everything pRuntime keeps on disk is encrypted under a key only this code,
//! on this TEE, can derive.
//!
//! - [dir]: single sealed files replaced atomically (the identity, which the store is bound
//!   to).
//! - [kv]: the sealed key-value store holding all other state, with batch-atomic commits and a
//!   Merkle root over its contents.

pub mod dir;
pub mod kv;

use commonware_codec::{EncodeSize, Write};
use zeroize::Zeroizing;

/// Secret bytes as a codec buffer that wipes them when dropped (decoding needs owned `Bytes`,
/// and a plain copy would be freed with the secret in it).
pub fn wiped_bytes(secret: &[u8]) -> bytes::Bytes {
    bytes::Bytes::from_owner(Zeroizing::new(secret.to_vec()))
}

/// Encodes a value holding secrets straight into a buffer that is wiped when dropped: the
/// codec's own `encode` returns a plain buffer, which would be freed with the secret in it.
pub fn encode_wiped<T: Write + EncodeSize>(value: &T) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.encode_size()));
    value.write(&mut *out);
    out
}
