//! The gatekeeper role: fetching the root key over a Noise channel, and the deterministic
//! gatekeeper state machine with its encrypted checkpoints on chain.
//!
//! **Key distribution.** An elected gatekeeper's pRuntime opens `Noise_IK_25519_ChaChaPoly_BLAKE2s`
//! to a key holder named in the verified election announcement (the genesis node before launch,
//! gatekeepers after). Both static keys are registry X25519 keys, so the chain is the PKI. The
//! prologue binds the chain and the election round. The holder answers only an initiator whose
//! static key belongs to a gatekeeper of the round it verified itself; the answer carries the
//! era and the root key, and the requester accepts it only if its check matches the one the
//! chain announced. Hosts relay the two handshake messages and learn nothing from them.
//!
//! **Replicated state.** Gatekeepers draw all randomness from a [Drbg] keyed by the root key
//! and the triggering block, so every gatekeeper emits byte-identical messages. The state is
//! checkpointed on chain encrypted under a key derived from the root key; a gatekeeper that
//! joins or lost its state restores it from the latest checkpoint once it holds the root key.

use bytes::BufMut;
use commonware_codec::{
    Buf, DecodeExt as _, Encode as _, EncodeSize, RangeCfg, Read, ReadExt, Write,
};
use veil_crypto::{drbg::Drbg, seal::SealingKey};
use veil_primitives::{
    ChainIdentity, Digest, Election, Height, KeyHolder, MAX_GATEKEEPER_STATE_BYTES,
    SignedGatekeeperMessage, namespace, root_key_check,
};
use zeroize::Zeroizing;

/// The Noise pattern of key requests.
pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// Largest Noise message.
pub const MAX_NOISE_MESSAGE: usize = 65_535;
/// Payload of a key request.
const REQUEST: &[u8] = b"veil/root-key-request/v1";
/// Most unconfirmed gatekeeper messages kept.
pub const MAX_PENDING: usize = 64;

/// Why a key exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelError {
    /// The handshake failed: another round, other keys, or tampered bytes.
    #[error("noise handshake failed: {0}")]
    Noise(String),
    /// The requester is not a gatekeeper of the round this holder verified.
    #[error("the requester is not an elected gatekeeper of round {0}")]
    NotElected(u64),
    /// The answer decrypted but does not carry what was asked for.
    #[error("malformed key exchange: {0}")]
    Malformed(&'static str),
    /// The key received does not match the check the chain announced.
    #[error("the root key received does not match the chain's key check")]
    WrongKey,
}

fn noise(e: snow::Error) -> ChannelError {
    ChannelError::Noise(e.to_string())
}

/// Binds a handshake to the chain and the election round.
pub fn prologue(chain: &ChainIdentity, round: u64) -> Vec<u8> {
    let mut p = namespace::NOISE_PROLOGUE.to_vec();
    p.extend_from_slice(&chain.chain_id.to_be_bytes());
    p.extend_from_slice(chain.genesis_hash.as_ref());
    p.extend_from_slice(&round.to_be_bytes());
    p
}

fn builder<'a>(local: &'a [u8; 32], prologue: &'a [u8]) -> Result<snow::Builder<'a>, ChannelError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|e: snow::Error| ChannelError::Noise(e.to_string()))?;
    snow::Builder::new(params)
        .local_private_key(local)
        .and_then(|b| b.prologue(prologue))
        .map_err(noise)
}

/// An elected gatekeeper's key request in flight.
pub struct KeyRequest {
    state: snow::HandshakeState,
    /// The holder asked.
    pub holder: KeyHolder,
    /// The election round it is for.
    pub round: u64,
}

impl KeyRequest {
    /// Starts a request to `holder`; returns it and the first handshake message.
    pub fn start(
        local: &[u8; 32],
        holder: KeyHolder,
        chain: &ChainIdentity,
        round: u64,
    ) -> Result<(Self, Vec<u8>), ChannelError> {
        let p = prologue(chain, round);
        let mut state = builder(local, &p)?
            .remote_public_key(&holder.ecdh_key)
            .and_then(|b| b.build_initiator())
            .map_err(noise)?;
        let mut out = vec![0u8; MAX_NOISE_MESSAGE];
        let n = state.write_message(REQUEST, &mut out).map_err(noise)?;
        out.truncate(n);
        Ok((
            Self {
                state,
                holder,
                round,
            },
            out,
        ))
    }

    /// Reads the holder's answer: the era and root key, checked against `key_check`.
    pub fn finish(
        mut self,
        answer: &[u8],
        key_check: &Digest,
    ) -> Result<(u64, Zeroizing<[u8; 32]>), ChannelError> {
        if answer.len() > MAX_NOISE_MESSAGE {
            return Err(ChannelError::Malformed("answer too long"));
        }
        let mut payload = Zeroizing::new(vec![0u8; MAX_NOISE_MESSAGE]);
        let n = self
            .state
            .read_message(answer, &mut payload)
            .map_err(noise)?;
        if n != 40 {
            return Err(ChannelError::Malformed("grant must be era and key"));
        }
        let era = u64::from_be_bytes(payload[..8].try_into().expect("8 bytes"));
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&payload[8..40]);
        if &root_key_check(era, &key) != key_check {
            return Err(ChannelError::WrongKey);
        }
        Ok((era, key))
    }
}

/// A key holder's answer to `request`: the root key, to a gatekeeper of `election` only.
pub fn answer(
    local: &[u8; 32],
    chain: &ChainIdentity,
    election: &Election,
    era: u64,
    root_key: &[u8; 32],
    request: &[u8],
) -> Result<Vec<u8>, ChannelError> {
    if request.len() > MAX_NOISE_MESSAGE {
        return Err(ChannelError::Malformed("request too long"));
    }
    let p = prologue(chain, election.round);
    let mut state = builder(local, &p)?.build_responder().map_err(noise)?;
    let mut payload = vec![0u8; MAX_NOISE_MESSAGE];
    let n = state.read_message(request, &mut payload).map_err(noise)?;
    if &payload[..n] != REQUEST {
        return Err(ChannelError::Malformed("not a key request"));
    }
    let initiator: [u8; 32] = state
        .get_remote_static()
        .and_then(|s| s.try_into().ok())
        .ok_or(ChannelError::Malformed("no initiator key"))?;
    if !election.ecdh_keys.contains(&initiator) {
        return Err(ChannelError::NotElected(election.round));
    }
    let mut grant = Zeroizing::new(Vec::with_capacity(40));
    grant.extend_from_slice(&era.to_be_bytes());
    grant.extend_from_slice(root_key);
    let mut out = vec![0u8; MAX_NOISE_MESSAGE];
    let n = state.write_message(&grant, &mut out).map_err(noise)?;
    out.truncate(n);
    Ok(out)
}

/// The replicated gatekeeper state: identical on every gatekeeper, checkpointed on chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatekeeperState {
    /// Root-key era.
    pub era: u64,
    /// Launch height (0 before launch).
    pub launched_at: Height,
    /// The latest election round checkpointed.
    pub round: u64,
    /// Next sequence of the gatekeepers' stream.
    pub next_sequence: u64,
}

impl Write for GatekeeperState {
    fn write(&self, buf: &mut impl BufMut) {
        self.era.write(buf);
        self.launched_at.write(buf);
        self.round.write(buf);
        self.next_sequence.write(buf);
    }
}

impl EncodeSize for GatekeeperState {
    fn encode_size(&self) -> usize {
        32
    }
}

impl Read for GatekeeperState {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        Ok(Self {
            era: u64::read(buf)?,
            launched_at: u64::read(buf)?,
            round: u64::read(buf)?,
            next_sequence: u64::read(buf)?,
        })
    }
}

fn checkpoint_key(root_key: &[u8; 32], chain: &ChainIdentity) -> SealingKey {
    let mut purpose = b"veil/gatekeeper-state".to_vec();
    purpose.extend_from_slice(&chain.chain_id.to_be_bytes());
    purpose.extend_from_slice(chain.genesis_hash.as_ref());
    SealingKey::derive(root_key, &purpose)
}

fn checkpoint_aad(chain: &ChainIdentity, era: u64, sequence: u64) -> Vec<u8> {
    let mut aad = namespace::GATEKEEPER_STATE.to_vec();
    aad.extend_from_slice(&chain.chain_id.to_be_bytes());
    aad.extend_from_slice(chain.genesis_hash.as_ref());
    aad.extend_from_slice(&era.to_be_bytes());
    aad.extend_from_slice(&sequence.to_be_bytes());
    aad
}

/// Encrypts `state` as the checkpoint carried by gatekeeper message `sequence`, triggered by
/// block `block`: `era ‖ sequence ‖ sealed`. The nonce comes from the DRBG, so every gatekeeper
/// produces the same bytes, and each sequence gets its own nonce.
pub fn seal_checkpoint(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    sequence: u64,
    block: &Digest,
    state: &GatekeeperState,
) -> Vec<u8> {
    let mut rng = Drbg::new(root_key, block.as_ref(), &checkpoint_label(sequence));
    let sealed = checkpoint_key(root_key, chain).seal(
        &mut rng,
        &checkpoint_aad(chain, state.era, sequence),
        &state.encode(),
    );
    let mut out = Vec::with_capacity(16 + sealed.len());
    out.extend_from_slice(&state.era.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&sealed);
    out
}

fn checkpoint_label(sequence: u64) -> Vec<u8> {
    let mut label = b"checkpoint".to_vec();
    label.extend_from_slice(&sequence.to_be_bytes());
    label
}

/// Opens a checkpoint: checks it was made under this root key for this chain, and returns its
/// sequence and state.
pub fn open_checkpoint(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    bytes: &[u8],
) -> Result<(u64, GatekeeperState), String> {
    if bytes.len() < 16 || bytes.len() > MAX_GATEKEEPER_STATE_BYTES {
        return Err("checkpoint has an invalid length".into());
    }
    let era = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    let sequence = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let plain = checkpoint_key(root_key, chain)
        .open(&checkpoint_aad(chain, era, sequence), &bytes[16..])
        .map_err(|e| e.to_string())?;
    let state = GatekeeperState::decode(plain.to_vec()).map_err(|e| e.to_string())?;
    if state.era != era {
        return Err("checkpoint era mismatch".into());
    }
    Ok((sequence, state))
}

/// What a gatekeeper pRuntime holds: the root key, the replicated state, and its copies of
/// gatekeeper messages not yet seen on chain. Sealed with the sync state, in one file, so a
/// crash never separates the state from the blocks that produced it.
#[derive(Clone, PartialEq, Eq)]
pub struct GatekeeperRole {
    /// Root-key era.
    pub era: u64,
    /// The root key.
    pub root_key: Zeroizing<[u8; 32]>,
    /// The replicated state.
    pub state: GatekeeperState,
    /// Signed copies not yet seen on chain, in sequence order.
    pub pending: Vec<SignedGatekeeperMessage>,
}

impl std::fmt::Debug for GatekeeperRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatekeeperRole")
            .field("era", &self.era)
            .field("root_key", &"<redacted>")
            .field("state", &self.state)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl GatekeeperRole {
    /// The check of the held key.
    pub fn key_check(&self) -> Digest {
        root_key_check(self.era, &self.root_key)
    }
}

impl Write for GatekeeperRole {
    fn write(&self, buf: &mut impl BufMut) {
        self.era.write(buf);
        buf.put_slice(self.root_key.as_ref());
        self.state.write(buf);
        self.pending.write(buf);
    }
}

impl EncodeSize for GatekeeperRole {
    fn encode_size(&self) -> usize {
        8 + 32 + self.state.encode_size() + self.pending.encode_size()
    }
}

impl Read for GatekeeperRole {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        let era = u64::read(buf)?;
        let mut root_key = Zeroizing::new([0u8; 32]);
        if buf.remaining() < 32 {
            return Err(commonware_codec::Error::EndOfBuffer);
        }
        buf.copy_to_slice(root_key.as_mut());
        Ok(Self {
            era,
            root_key,
            state: GatekeeperState::read(buf)?,
            pending: Vec::<SignedGatekeeperMessage>::read_cfg(
                buf,
                &(
                    RangeCfg::new(0..=MAX_PENDING),
                    veil_primitives::MAX_TX_BYTES_CAP as usize,
                ),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use x25519_dalek::{PublicKey, StaticSecret};

    use super::*;

    fn chain() -> ChainIdentity {
        ChainIdentity {
            chain_id: 5,
            genesis_hash: veil_primitives::hash(b"g"),
        }
    }

    fn keypair(seed: u8) -> ([u8; 32], [u8; 32]) {
        let secret = StaticSecret::from([seed; 32]);
        (secret.to_bytes(), PublicKey::from(&secret).to_bytes())
    }

    fn election(round: u64, keys: &[[u8; 32]], check: Digest) -> Election {
        Election {
            round,
            height: 10,
            gatekeepers: Vec::new(),
            ecdh_keys: keys.to_vec(),
            deadline: 20,
            holders: Vec::new(),
            key_check: check,
        }
    }

    fn holder(public: [u8; 32]) -> KeyHolder {
        KeyHolder {
            worker: veil_primitives::PrivateKey::from_seed(1).public_key(),
            ecdh_key: public,
            endpoint: "http://holder".into(),
        }
    }

    #[test]
    fn an_elected_gatekeeper_gets_the_key_and_no_one_else_does() {
        let root = [7u8; 32];
        let check = root_key_check(0, &root);
        let (holder_secret, holder_public) = keypair(1);
        let (gk_secret, gk_public) = keypair(2);
        let (stranger_secret, _) = keypair(3);
        let e = election(4, &[gk_public], check);

        let (req, m1) = KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 4).unwrap();
        let m2 = answer(&holder_secret, &chain(), &e, 0, &root, &m1).unwrap();
        // The handshake messages never carry the key in clear.
        assert!(!m1.windows(32).any(|w| w == root) && !m2.windows(32).any(|w| w == root));
        let (era, key) = req.finish(&m2, &check).unwrap();
        assert_eq!((era, *key), (0, root));

        // A worker that was not elected is refused.
        let (_, m1) =
            KeyRequest::start(&stranger_secret, holder(holder_public), &chain(), 4).unwrap();
        assert_eq!(
            answer(&holder_secret, &chain(), &e, 0, &root, &m1),
            Err(ChannelError::NotElected(4))
        );
        // Another round (or chain) does not even complete the handshake.
        let (_, m1) = KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 3).unwrap();
        assert!(matches!(
            answer(&holder_secret, &chain(), &e, 0, &root, &m1),
            Err(ChannelError::Noise(_))
        ));
        // An answer from someone who is not the holder asked for fails.
        let (req, m1) = KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 4).unwrap();
        let (impostor_secret, _) = keypair(9);
        assert!(answer(&impostor_secret, &chain(), &e, 0, &root, &m1).is_err());
        // A holder that hands out another key is caught by the chain's check.
        let m2 = answer(&holder_secret, &chain(), &e, 0, &[8u8; 32], &m1).unwrap();
        assert_eq!(req.finish(&m2, &check).unwrap_err(), ChannelError::WrongKey);
        // Garbage never panics.
        assert!(answer(&holder_secret, &chain(), &e, 0, &root, &[0u8; 10]).is_err());
        assert!(answer(&holder_secret, &chain(), &e, 0, &root, &vec![1u8; 70_000]).is_err());
    }

    #[test]
    fn checkpoints_are_deterministic_bound_and_secret() {
        let root = [7u8; 32];
        let state = GatekeeperState {
            era: 0,
            launched_at: 12,
            round: 3,
            next_sequence: 5,
        };
        let block = veil_primitives::hash(b"block");
        let a = seal_checkpoint(&root, &chain(), 4, &block, &state);
        // Every gatekeeper computes the same bytes.
        assert_eq!(a, seal_checkpoint(&root, &chain(), 4, &block, &state));
        assert_ne!(a, seal_checkpoint(&root, &chain(), 5, &block, &state));
        assert_eq!(open_checkpoint(&root, &chain(), &a).unwrap(), (4, state));
        // Another key, another chain, or a moved sequence does not open.
        assert!(open_checkpoint(&[8u8; 32], &chain(), &a).is_err());
        let other = ChainIdentity {
            chain_id: 6,
            ..chain()
        };
        assert!(open_checkpoint(&root, &other, &a).is_err());
        let mut moved = a.clone();
        moved[15] ^= 1;
        assert!(open_checkpoint(&root, &chain(), &moved).is_err());
        assert!(open_checkpoint(&root, &chain(), &a[..10]).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    //! Whatever bytes a host or a peer hands in, decoding fails cleanly and never panics.

    use commonware_cryptography::Signer as _;
    use proptest::prelude::*;
    use x25519_dalek::{PublicKey, StaticSecret};

    use super::*;

    fn chain() -> ChainIdentity {
        ChainIdentity {
            chain_id: 5,
            genesis_hash: veil_primitives::hash(b"g"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_handshake_and_checkpoint_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let secret = StaticSecret::from([1u8; 32]);
            let public = PublicKey::from(&StaticSecret::from([2u8; 32])).to_bytes();
            let election = Election {
                round: 1,
                height: 1,
                gatekeepers: Vec::new(),
                ecdh_keys: vec![public],
                deadline: 2,
                holders: Vec::new(),
                key_check: root_key_check(0, &[7; 32]),
            };
            prop_assert!(answer(secret.as_bytes(), &chain(), &election, 0, &[7; 32], &bytes).is_err());
            let holder = KeyHolder {
                worker: veil_primitives::PrivateKey::from_seed(3).public_key(),
                ecdh_key: PublicKey::from(&secret).to_bytes(),
                endpoint: "x".into(),
            };
            let (request, _) = KeyRequest::start(&[2u8; 32], holder, &chain(), 1).unwrap();
            prop_assert!(request.finish(&bytes, &election.key_check).is_err());
            prop_assert!(open_checkpoint(&[7; 32], &chain(), &bytes).is_err());
            let _ = crate::sync::decode_state(&bytes);
            let _ = GatekeeperRole::decode(bytes.clone());
        }
    }
}
