//! Authenticated encryption under derived keys: sealing data at rest inside pRuntime, and the
//! building block of envelopes.
//!
//! A [SealingKey] is derived with HKDF-SHA256 from root key material and a purpose label, so
//! one root (e.g. the enclave's sealing key) yields independent keys per use. [SealingKey::seal]
//! encrypts with ChaCha20-Poly1305 under a fresh random nonce and binds caller-chosen associated
//! data (what the bytes are, for which measurement or chain), so sealed bytes moved to another
//! purpose or context fail to open.
//!
//! Format: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.

use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use rand::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = 1 + NONCE_LEN + 16;

/// HKDF salt for every key derived here.
const SALT: &[u8] = veil_primitives::namespace::CRYPTO_SEAL;

/// Why sealed bytes did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Too short or an unknown version.
    #[error("sealed data is malformed")]
    Malformed,
    /// Wrong key, wrong associated data, or tampered bytes.
    #[error("sealed data failed authentication (wrong key, context or tampered)")]
    Authentication,
}

/// A 256-bit AEAD key, wiped on drop.
pub struct SealingKey(Zeroizing<[u8; 32]>);

impl SealingKey {
    /// Derives the key for `purpose` from root key material.
    pub fn derive(root: &[u8], purpose: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(SALT), root);
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(purpose, okm.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Self(okm)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(*self.0))
    }

    /// Encrypts `plaintext`, binding `aad`.
    pub fn seal(&self, rng: &mut impl CryptoRng, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts sealed bytes, checking `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < OVERHEAD || sealed[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        self.cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| SealError::Authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let mut rng = rand::rng();
        let k = SealingKey::derive(b"root", b"identity");
        let sealed = k.seal(&mut rng, b"ctx", b"secret");
        assert_eq!(k.open(b"ctx", &sealed).unwrap().as_slice(), b"secret");
        assert_eq!(k.open(b"other", &sealed), Err(SealError::Authentication));
        let other = SealingKey::derive(b"root", b"sync");
        assert_eq!(other.open(b"ctx", &sealed), Err(SealError::Authentication));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(k.open(b"ctx", &flipped), Err(SealError::Authentication));
        assert_eq!(k.open(b"ctx", &sealed[..10]), Err(SealError::Malformed));
        // Fresh nonces: sealing twice gives different bytes.
        assert_ne!(k.seal(&mut rng, b"ctx", b"secret"), sealed);
    }
}
