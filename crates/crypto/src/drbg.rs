//! A deterministic random bit generator for replicated state machines.
//!
//! Gatekeepers must emit byte-identical output, so whatever they would draw from a system RNG
//! (nonces, contract keys) they draw from a [Drbg] seeded by secret key material (the root key)
//! and public context every replica agrees on (the block that triggered the work, a label).
//! Without the key the output is unpredictable; with it, every replica computes the same bytes.
//!
//! Construction: HKDF-SHA256 extract with the context as salt and the key as input key
//! material, then HKDF-Expand of 32-byte blocks, each under `domain ‖ label ‖ counter`.

use std::convert::Infallible;

use hkdf::Hkdf;
use rand::{TryCryptoRng, TryRng};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Domain of the gatekeepers' DRBG expansions.
const DOMAIN: &[u8] = veil_primitives::namespace::GATEKEEPER_DRBG;

/// A deterministic, key-dependent byte stream.
pub struct Drbg {
    prk: Hkdf<Sha256>,
    domain: &'static [u8],
    label: Vec<u8>,
    counter: u64,
    block: Zeroizing<[u8; 32]>,
    used: usize,
}

impl Drbg {
    /// A stream for `label`, keyed by `key` and bound to `context` (e.g. a block hash).
    pub fn new(key: &[u8], context: &[u8], label: &[u8]) -> Self {
        Self::with_domain(DOMAIN, key, context, label)
    }

    /// The same construction under another domain, so streams of different roles (gatekeepers,
    /// contracts) never coincide even under one key.
    pub fn with_domain(domain: &'static [u8], key: &[u8], context: &[u8], label: &[u8]) -> Self {
        Self {
            prk: Hkdf::<Sha256>::new(Some(context), key),
            domain,
            label: label.to_vec(),
            counter: 0,
            block: Zeroizing::new([0u8; 32]),
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut info = Vec::with_capacity(self.domain.len() + 1 + self.label.len() + 8);
        info.extend_from_slice(self.domain);
        info.push(self.label.len() as u8);
        info.extend_from_slice(&self.label);
        info.extend_from_slice(&self.counter.to_be_bytes());
        self.prk
            .expand(&info, self.block.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        self.counter += 1;
        self.used = 0;
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.used == 32 {
                self.refill();
            }
            let n = (32 - self.used).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            filled += n;
        }
    }
}

impl TryRng for Drbg {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for Drbg {}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(d: &mut Drbg, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        d.fill(&mut v);
        v
    }

    #[test]
    fn replicas_agree_and_any_input_changes_the_stream() {
        let a = bytes(&mut Drbg::new(b"root key", b"block", b"nonce"), 100);
        assert_eq!(
            a,
            bytes(&mut Drbg::new(b"root key", b"block", b"nonce"), 100)
        );
        assert_ne!(
            a,
            bytes(&mut Drbg::new(b"root kez", b"block", b"nonce"), 100)
        );
        assert_ne!(
            a,
            bytes(&mut Drbg::new(b"root key", b"blocl", b"nonce"), 100)
        );
        assert_ne!(
            a,
            bytes(&mut Drbg::new(b"root key", b"block", b"nonc"), 100)
        );
        // Drawing in pieces gives the same stream as drawing at once.
        let mut d = Drbg::new(b"root key", b"block", b"nonce");
        let mut pieces = bytes(&mut d, 7);
        pieces.extend(bytes(&mut d, 50));
        pieces.extend(bytes(&mut d, 43));
        assert_eq!(pieces, a);
        // Blocks do not repeat.
        assert_ne!(a[..32], a[32..64]);
    }
}
