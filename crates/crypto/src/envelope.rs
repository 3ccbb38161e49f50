//! Envelopes: a message encrypted to a recipient's X25519 public key, padded to a size bucket,
//! with a one-time key for the recipient's reply.
//!
//! Used for contract commands (to the contract's key) and queries (to the worker's key). The
//! sender draws an ephemeral X25519 key; both sides derive, with HKDF-SHA256 over the shared
//! secret (salted with the envelope's domain, bound to both public keys), a request key and a
//! reply key. The request is sealed with ChaCha20-Poly1305 under the caller's associated data
//! (chain, contract, sender, nonce, expiry: whatever must not be swapped), so a ciphertext
//! moved to another context fails to open. A request key encrypts exactly one message (a fresh
//! ephemeral key makes a fresh key), so its nonce is fixed. A reply draws a random nonce: the
//! recipient may be made to open the same envelope twice (a replayed query), and two replies
//! under one key must never share a nonce.
//!
//! Padding hides lengths: the plaintext is framed as `length (u32 LE) ‖ bytes ‖ zeros` to fill
//! a bucket, so a ciphertext is always exactly one of [bucket]'s sizes (256 B, 1 KiB, 4 KiB,
//! then 4 KiB steps) and its length leaks only the bucket.
//!
//! Wire formats: an envelope is `ephemeral public key (32) ‖ ciphertext (a bucket size)`; a
//! reply is `nonce (12) ‖ ciphertext`, a bucket size in all.

use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use hkdf::Hkdf;
use rand::CryptoRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

pub use veil_primitives::contract::{Envelope, bucket, is_bucket};

/// Authentication tag length.
const TAG: usize = 16;
/// Length prefix inside the padded plaintext.
const FRAME: usize = 4;
/// A reply's random nonce, sent in front of it.
const REPLY_NONCE: usize = 12;

/// Why an envelope did not open, or could not be sealed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The plaintext does not fit the largest bucket allowed.
    #[error("plaintext of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Plaintext length.
        len: usize,
        /// Largest plaintext allowed.
        max: usize,
    },
    /// A ciphertext whose length is not a bucket size, or too short.
    #[error("ciphertext of {0} bytes is not a padding bucket")]
    NotABucket(usize),
    /// The ephemeral key is a low-order point (no shared secret).
    #[error("ephemeral key is not a valid X25519 public key")]
    WeakKey,
    /// Wrong recipient, wrong associated data (another chain, contract, sender, nonce or
    /// expiry), or tampered bytes.
    #[error("envelope failed authentication (wrong key or context, or tampered)")]
    Authentication,
    /// The padding frame is inconsistent (only possible from a faulty sealer).
    #[error("envelope padding is malformed")]
    Padding,
}

/// The one-time key for the reply to an envelope: the recipient seals with it, the sender
/// opens with it. Only the two of them can derive it.
pub struct ReplyKey(Zeroizing<[u8; 32]>);

struct Keys {
    request: Zeroizing<[u8; 32]>,
    reply: ReplyKey,
}

fn derive(domain: &[u8], shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Keys {
    let hk = Hkdf::<Sha256>::new(Some(domain), shared);
    let mut info = [0u8; 64 + 7];
    info[..32].copy_from_slice(ephemeral);
    info[32..64].copy_from_slice(recipient);
    let mut request = Zeroizing::new([0u8; 32]);
    info[64..].copy_from_slice(b"request");
    hk.expand(&info, request.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut reply = Zeroizing::new([0u8; 32]);
    info[64..].copy_from_slice(b"reply\0\0");
    hk.expand(&info, reply.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    Keys {
        request,
        reply: ReplyKey(reply),
    }
}

/// Frames and pads `plaintext` so that, with the tag and `extra` bytes sent beside the
/// ciphertext, the whole is a bucket size.
fn pad(plaintext: &[u8], max: usize, extra: usize) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    if plaintext.len() > max {
        return Err(EnvelopeError::TooLarge {
            len: plaintext.len(),
            max,
        });
    }
    let len = bucket(plaintext.len() + extra) - TAG - extra;
    let mut padded = Zeroizing::new(Vec::with_capacity(len));
    padded.extend_from_slice(&(plaintext.len() as u32).to_le_bytes());
    padded.extend_from_slice(plaintext);
    padded.resize(len, 0);
    Ok(padded)
}

fn unpad(padded: Zeroizing<Vec<u8>>) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    let len = padded
        .get(..FRAME)
        .map(|frame| u32::from_le_bytes(frame.try_into().expect("4 bytes")) as usize)
        .ok_or(EnvelopeError::Padding)?;
    let body = padded
        .get(FRAME..FRAME + len)
        .ok_or(EnvelopeError::Padding)?;
    if padded[FRAME + len..].iter().any(|&byte| byte != 0) {
        return Err(EnvelopeError::Padding);
    }
    Ok(Zeroizing::new(body.to_vec()))
}

fn encrypt(key: &[u8; 32], nonce: &[u8; REPLY_NONCE], aad: &[u8], padded: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(&Key::from(*key))
        .encrypt(&Nonce::from(*nonce), Payload { msg: padded, aad })
        .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail")
}

fn decrypt(
    key: &[u8; 32],
    nonce: &[u8; REPLY_NONCE],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    ChaCha20Poly1305::new(&Key::from(*key))
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Authentication)
}

fn bucketed(len: usize) -> Result<(), EnvelopeError> {
    if !is_bucket(len) {
        return Err(EnvelopeError::NotABucket(len));
    }
    Ok(())
}

/// Seals `plaintext` (at most `max` bytes) to `recipient` under `domain` and `aad`. Returns the
/// envelope and the key that will open the reply.
pub fn seal(
    rng: &mut impl CryptoRng,
    recipient: &[u8; 32],
    domain: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    max: usize,
) -> Result<(Envelope, ReplyKey), EnvelopeError> {
    let padded = pad(plaintext, max, 0)?;
    let secret = StaticSecret::random_from_rng(rng);
    let ephemeral = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(*recipient));
    if !shared.was_contributory() {
        return Err(EnvelopeError::WeakKey);
    }
    let keys = derive(domain, shared.as_bytes(), &ephemeral, recipient);
    let ciphertext = encrypt(&keys.request, &[0; REPLY_NONCE], aad, &padded);
    Ok((
        Envelope {
            ephemeral,
            ciphertext,
        },
        keys.reply,
    ))
}

/// Opens an envelope with the recipient's secret key, checking `domain` and `aad`. Returns the
/// plaintext and the key to seal the reply with.
pub fn open(
    recipient: &StaticSecret,
    domain: &[u8],
    aad: &[u8],
    envelope: &Envelope,
) -> Result<(Zeroizing<Vec<u8>>, ReplyKey), EnvelopeError> {
    let shared = recipient.diffie_hellman(&PublicKey::from(envelope.ephemeral));
    if !shared.was_contributory() {
        return Err(EnvelopeError::WeakKey);
    }
    let public = PublicKey::from(recipient).to_bytes();
    let keys = derive(domain, shared.as_bytes(), &envelope.ephemeral, &public);
    bucketed(envelope.ciphertext.len())?;
    let padded = decrypt(&keys.request, &[0; REPLY_NONCE], aad, &envelope.ciphertext)?;
    Ok((unpad(padded)?, keys.reply))
}

impl ReplyKey {
    /// Seals a reply (at most `max` bytes) under a random nonce, padded like the request:
    /// `nonce ‖ ciphertext` is a bucket size.
    pub fn seal(
        &self,
        rng: &mut impl CryptoRng,
        aad: &[u8],
        plaintext: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let padded = pad(plaintext, max, REPLY_NONCE)?;
        let mut nonce = [0u8; REPLY_NONCE];
        rng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend_from_slice(&encrypt(&self.0, &nonce, aad, &padded));
        Ok(out)
    }

    /// Opens a reply.
    pub fn open(&self, aad: &[u8], reply: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        bucketed(reply.len())?;
        let (nonce, ciphertext) = reply.split_at(REPLY_NONCE);
        let nonce: &[u8; REPLY_NONCE] = nonce.try_into().expect("12 bytes");
        unpad(decrypt(&self.0, nonce, aad, ciphertext)?)
    }
}

/// The keys of a query session: a static X25519 agreement between the client's session key and
/// the worker's registered key, so one key exchange serves every query of the session. Each
/// request is sealed under its counter (the worker refuses a counter it has seen, and the
/// client never repeats one); answers draw a random nonce like a [ReplyKey], so a worker made
/// to answer one request twice never reuses a nonce.
pub struct SessionKeys {
    request: Zeroizing<[u8; 32]>,
    answer: ReplyKey,
}

impl SessionKeys {
    /// Derives the session's keys on either side: `own` is the client's session secret and
    /// `peer` the worker's key, or the other way round; `session` and `worker` are the two
    /// public keys, in that order on both sides.
    pub fn derive(
        domain: &[u8],
        own: &StaticSecret,
        peer: &[u8; 32],
        session: &[u8; 32],
        worker: &[u8; 32],
    ) -> Result<Self, EnvelopeError> {
        let shared = own.diffie_hellman(&PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(EnvelopeError::WeakKey);
        }
        let keys = derive(domain, shared.as_bytes(), session, worker);
        Ok(Self {
            request: keys.request,
            answer: keys.reply,
        })
    }

    fn nonce(counter: u64) -> [u8; REPLY_NONCE] {
        let mut nonce = [0u8; REPLY_NONCE];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        nonce
    }

    /// Seals request number `counter` (padded to a bucket).
    pub fn seal_request(
        &self,
        counter: u64,
        aad: &[u8],
        plaintext: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let padded = pad(plaintext, max, 0)?;
        Ok(encrypt(&self.request, &Self::nonce(counter), aad, &padded))
    }

    /// Opens request number `counter`.
    pub fn open_request(
        &self,
        counter: u64,
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        bucketed(ciphertext.len())?;
        unpad(decrypt(
            &self.request,
            &Self::nonce(counter),
            aad,
            ciphertext,
        )?)
    }

    /// The key answers are sealed with.
    pub fn answer(&self) -> &ReplyKey {
        &self.answer
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    const DOMAIN: &[u8] = b"_VEIL_TEST_ENVELOPE";

    fn recipient() -> (StaticSecret, [u8; 32]) {
        let secret = StaticSecret::from([9u8; 32]);
        let public = PublicKey::from(&secret).to_bytes();
        (secret, public)
    }

    #[test]
    fn buckets_are_256_1k_4k_then_4k_steps() {
        assert_eq!(bucket(0), 256);
        assert_eq!(bucket(236), 256);
        assert_eq!(bucket(237), 1024);
        assert_eq!(bucket(1004), 1024);
        assert_eq!(bucket(1005), 4096);
        assert_eq!(bucket(4076), 4096);
        assert_eq!(bucket(4077), 8192);
        for len in [0, 1, 236, 237, 5000, 100_000] {
            assert!(is_bucket(bucket(len)));
        }
        assert!(!is_bucket(255) && !is_bucket(2048) && !is_bucket(4097));
    }

    #[test]
    fn a_request_and_its_reply_round_trip_and_every_ciphertext_is_a_bucket() {
        let mut rng = StdRng::seed_from_u64(1);
        let (secret, public) = recipient();
        let (envelope, sender_reply) =
            seal(&mut rng, &public, DOMAIN, b"aad", b"hello", 1 << 16).unwrap();
        assert_eq!(envelope.ciphertext.len(), 256);
        let (plaintext, reply) = open(&secret, DOMAIN, b"aad", &envelope).unwrap();
        assert_eq!(plaintext.as_slice(), b"hello");
        let answer = reply
            .seal(&mut rng, b"reply-aad", &[7u8; 2000], 1 << 16)
            .unwrap();
        assert_eq!(answer.len(), 4096);
        assert_eq!(
            sender_reply.open(b"reply-aad", &answer).unwrap().as_slice(),
            &[7u8; 2000]
        );
        assert_eq!(
            sender_reply.open(b"other-aad", &answer).err(),
            Some(EnvelopeError::Authentication)
        );
    }

    /// A review found replies sealed under a fixed nonce: a host that replays one envelope to
    /// its recipient gets two different replies under one key and nonce, whose XOR is the XOR
    /// of the plaintexts.
    #[test]
    fn two_replies_to_one_replayed_envelope_never_share_a_nonce() {
        let mut rng = StdRng::seed_from_u64(5);
        let (secret, public) = recipient();
        let (envelope, sender_reply) =
            seal(&mut rng, &public, DOMAIN, b"", b"query", 1024).unwrap();
        let (_, first) = open(&secret, DOMAIN, b"", &envelope).unwrap();
        let (_, replayed) = open(&secret, DOMAIN, b"", &envelope).unwrap();
        let a = first.seal(&mut rng, b"", &[0u8; 100], 1024).unwrap();
        let b = replayed.seal(&mut rng, b"", &[1u8; 100], 1024).unwrap();
        assert_ne!(a[..12], b[..12], "each reply draws its own nonce");
        // Under a shared keystream the XOR of the ciphertexts would be the XOR of the framed
        // plaintexts: here 0 ^ 1 over the 100 bytes after the 4-byte length.
        let xor: Vec<u8> = a[12..].iter().zip(&b[12..]).map(|(x, y)| x ^ y).collect();
        assert_ne!(&xor[4..104], &[1u8; 100][..], "no keystream reuse");
        assert_eq!(sender_reply.open(b"", &a).unwrap().as_slice(), &[0u8; 100]);
        assert_eq!(sender_reply.open(b"", &b).unwrap().as_slice(), &[1u8; 100]);
    }

    #[test]
    fn another_context_recipient_or_domain_or_a_flipped_bit_is_refused() {
        let mut rng = StdRng::seed_from_u64(2);
        let (secret, public) = recipient();
        let (envelope, _) = seal(&mut rng, &public, DOMAIN, b"chain 1", b"pay 5", 1024).unwrap();
        let refused = |result: Result<(Zeroizing<Vec<u8>>, ReplyKey), EnvelopeError>| {
            assert_eq!(result.err(), Some(EnvelopeError::Authentication))
        };
        refused(open(&secret, DOMAIN, b"chain 2", &envelope));
        refused(open(&secret, b"_VEIL_OTHER", b"chain 1", &envelope));
        refused(open(
            &StaticSecret::from([3u8; 32]),
            DOMAIN,
            b"chain 1",
            &envelope,
        ));
        let mut tampered = envelope.clone();
        tampered.ciphertext[17] ^= 1;
        refused(open(&secret, DOMAIN, b"chain 1", &tampered));
        let mut swapped = envelope.clone();
        swapped.ephemeral = PublicKey::from(&StaticSecret::from([4u8; 32])).to_bytes();
        refused(open(&secret, DOMAIN, b"chain 1", &swapped));
        let mut cut = envelope.clone();
        cut.ciphertext.truncate(255);
        assert_eq!(
            open(&secret, DOMAIN, b"chain 1", &cut).err(),
            Some(EnvelopeError::NotABucket(255))
        );
        let mut weak = envelope;
        weak.ephemeral = [0; 32];
        assert_eq!(
            open(&secret, DOMAIN, b"chain 1", &weak).err(),
            Some(EnvelopeError::WeakKey)
        );
    }

    #[test]
    fn plaintexts_over_the_limit_are_refused_before_encrypting() {
        let mut rng = StdRng::seed_from_u64(3);
        let (_, public) = recipient();
        assert_eq!(
            seal(&mut rng, &public, DOMAIN, b"", &[0; 11], 10).err(),
            Some(EnvelopeError::TooLarge { len: 11, max: 10 })
        );
    }

    proptest! {
        #[test]
        fn the_length_seen_is_the_bucket_of_the_plaintext(len in 0usize..20_000, seed: u64) {
            let mut rng = StdRng::seed_from_u64(seed);
            let (secret, public) = recipient();
            let plaintext = vec![0xabu8; len];
            let (envelope, _) = seal(&mut rng, &public, DOMAIN, b"", &plaintext, 1 << 20).unwrap();
            prop_assert_eq!(envelope.ciphertext.len(), bucket(len));
            let (opened, _) = open(&secret, DOMAIN, b"", &envelope).unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        }

        #[test]
        fn arbitrary_envelopes_never_panic(ephemeral: [u8; 32], ciphertext in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let (secret, _) = recipient();
            let _ = open(&secret, DOMAIN, b"", &Envelope { ephemeral, ciphertext });
        }
    }

    #[test]
    fn session_keys_agree_and_bind_counter_and_context() {
        let worker = StaticSecret::from([3u8; 32]);
        let session = StaticSecret::from([4u8; 32]);
        let (wp, sp) = (
            PublicKey::from(&worker).to_bytes(),
            PublicKey::from(&session).to_bytes(),
        );
        let client = SessionKeys::derive(DOMAIN, &session, &wp, &sp, &wp).unwrap();
        let server = SessionKeys::derive(DOMAIN, &worker, &sp, &sp, &wp).unwrap();
        let sealed = client.seal_request(7, b"aad", b"query", 100).unwrap();
        assert!(is_bucket(sealed.len()));
        assert_eq!(
            server.open_request(7, b"aad", &sealed).unwrap().as_slice(),
            b"query"
        );
        assert!(server.open_request(8, b"aad", &sealed).is_err());
        assert!(server.open_request(7, b"other", &sealed).is_err());
        let other = SessionKeys::derive(DOMAIN, &StaticSecret::from([5u8; 32]), &wp, &sp, &wp);
        assert!(other.unwrap().open_request(7, b"aad", &sealed).is_err());
        let mut rng = StdRng::seed_from_u64(1);
        let answer = server
            .answer()
            .seal(&mut rng, b"a", b"answer", 100)
            .unwrap();
        assert_eq!(
            client.answer().open(b"a", &answer).unwrap().as_slice(),
            b"answer"
        );
    }
}
