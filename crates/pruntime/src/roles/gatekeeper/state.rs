//! The replicated gatekeeper state and its encrypted checkpoints on chain.
//!
//! Gatekeepers draw all randomness from a [Drbg] keyed by the root key and the triggering
//! block, so every gatekeeper emits byte-identical messages. The state is checkpointed on chain
//! encrypted under a key derived from the root key; a gatekeeper that joins or lost its state
//! restores it from the latest checkpoint once it holds the root key.

use bytes::BufMut;
use commonware_codec::{
    Buf, DecodeExt as _, Encode as _, EncodeSize, RangeCfg, Read, ReadExt, Write,
};
use veil_crypto::{drbg::Drbg, seal::SealingKey};
use veil_primitives::{
    ChainIdentity, Digest, Height, MAX_GATEKEEPER_STATE_BYTES, SignedGatekeeperMessage, namespace,
    root_key_check,
};
use veil_pruntime_api::limits::MAX_PENDING_GATEKEEPER;
use zeroize::Zeroizing;

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
/// block `block`: `era ‖ sequence ‖ sealed`. The nonce comes from a DRBG keyed by the root key
/// over the block, the sequence and the plaintext itself (SIV-style): every gatekeeper with
/// the same state produces the same bytes, and two gatekeepers whose states diverge never
/// encrypt different plaintexts under one nonce.
pub fn seal_checkpoint(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    sequence: u64,
    block: &Digest,
    state: &GatekeeperState,
) -> Vec<u8> {
    let plain = Zeroizing::new(state.encode().to_vec());
    let mut rng = Drbg::new(
        root_key,
        block.as_ref(),
        &checkpoint_label(sequence, &plain),
    );
    let sealed = checkpoint_key(root_key, chain).seal(
        &mut rng,
        &checkpoint_aad(chain, state.era, sequence),
        &plain,
    );
    let mut out = Vec::with_capacity(16 + sealed.len());
    out.extend_from_slice(&state.era.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&sealed);
    out
}

/// The nonce DRBG's label: the sequence and a hash of the plaintext (only ever fed to the
/// keyed DRBG, so it reveals nothing beyond whether two checkpoints are identical).
fn checkpoint_label(sequence: u64, plain: &[u8]) -> Vec<u8> {
    let mut label = b"checkpoint".to_vec();
    label.extend_from_slice(&sequence.to_be_bytes());
    label.extend_from_slice(veil_primitives::hash(plain).as_ref());
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
                    RangeCfg::new(0..=MAX_PENDING_GATEKEEPER),
                    veil_primitives::MAX_TX_BYTES_CAP as usize,
                ),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainIdentity {
        ChainIdentity {
            chain_id: 5,
            genesis_hash: veil_primitives::hash(b"g"),
        }
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
        // Two gatekeepers whose states diverge at one sequence use different nonces, so one
        // nonce never encrypts two plaintexts under the key (the nonce follows the 16-byte
        // header and the version byte).
        let diverged = GatekeeperState {
            round: 4,
            ..state.clone()
        };
        let b = seal_checkpoint(&root, &chain(), 4, &block, &diverged);
        assert_ne!(a[17..29], b[17..29]);
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
