//! The root key's secure channel between pRuntimes.
//!
//! An elected gatekeeper's pRuntime opens `Noise_IK_25519_ChaChaPoly_BLAKE2s`
//! to a key holder named in the verified election announcement (the genesis node before launch,
//! gatekeepers after). Both static keys are registry X25519 keys, so the chain is the PKI. The
//! prologue binds the chain and the election round. The holder answers only while the round is
//! the latest it verified and it is one of that round's holders, only an initiator whose
//! static key belongs to a gatekeeper of the round, and only if its own view is no more than
//! [MAX_HOLDER_LAG] blocks behind the height the requester verified (sent inside the
//! encrypted request): a host that withholds blocks from a holder cannot make it answer for a
//! round the chain has moved past. The answer carries the era and the root key, and the
//! requester accepts it only if its check matches the one the chain announced. Hosts relay
//! the two handshake messages and learn nothing from them.

use veil_primitives::{
    ChainIdentity, Digest, Election, Height, KeyHolder, namespace, root_key_check,
};
pub use veil_pruntime_api::limits::{MAX_HOLDER_LAG, MAX_NOISE_MESSAGE};
use zeroize::Zeroizing;

/// The Noise pattern of key requests.
pub const NOISE_PARAMS: &str = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
/// Payload of a key request, followed by the requester's verified height.
const REQUEST: &[u8] = b"veil/root-key-request/v2";

/// Why a key exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelError {
    /// The handshake failed: another round, other keys, or tampered bytes.
    #[error("noise handshake failed: {0}")]
    Noise(String),
    /// The requester is not a gatekeeper of the round this holder verified.
    #[error("the requester is not an elected gatekeeper of round {0}")]
    NotElected(u64),
    /// This pRuntime is not a key holder of the round it verified (never was, or the chain
    /// dropped it: deregistered, revoked or slashed).
    #[error("this pRuntime is not a key holder of round {0}")]
    NotHolder(u64),
    /// The holder's verified view is too far behind the requester's to tell whether the
    /// round is still current.
    #[error(
        "the holder has verified height {holder}, more than {MAX_HOLDER_LAG} blocks behind the requester's {requester}; retry once it caught up"
    )]
    HolderBehind {
        /// The holder's verified height.
        holder: Height,
        /// The requester's.
        requester: Height,
    },
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
    /// Starts a request to `holder` from a requester that verified the chain up to
    /// `height`; returns it and the first handshake message.
    pub fn start(
        local: &[u8; 32],
        holder: KeyHolder,
        chain: &ChainIdentity,
        round: u64,
        height: Height,
    ) -> Result<(Self, Vec<u8>), ChannelError> {
        let p = prologue(chain, round);
        let mut state = builder(local, &p)?
            .remote_public_key(&holder.ecdh_key)
            .and_then(|b| b.build_initiator())
            .map_err(noise)?;
        let mut payload = REQUEST.to_vec();
        payload.extend_from_slice(&height.to_be_bytes());
        let mut out = vec![0u8; MAX_NOISE_MESSAGE];
        let n = state.write_message(&payload, &mut out).map_err(noise)?;
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

/// What a key holder answers with, as of its own verified view.
pub struct Holding<'a> {
    /// The latest election it verified.
    pub election: &'a Election,
    /// The height it verified.
    pub height: Height,
    /// The root key's era.
    pub era: u64,
    /// The root key.
    pub root_key: &'a [u8; 32],
}

/// A key holder's answer to `request`: the root key, to a gatekeeper of the holder's latest
/// verified election only, and only if the holder is one of that election's holders and not
/// too far behind the requester.
pub fn answer(
    local: &[u8; 32],
    chain: &ChainIdentity,
    holding: &Holding<'_>,
    request: &[u8],
) -> Result<Vec<u8>, ChannelError> {
    let election = holding.election;
    if request.len() > MAX_NOISE_MESSAGE {
        return Err(ChannelError::Malformed("request too long"));
    }
    let me = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*local)).to_bytes();
    if !election.holders.iter().any(|h| h.ecdh_key == me) {
        return Err(ChannelError::NotHolder(election.round));
    }
    let p = prologue(chain, election.round);
    let mut state = builder(local, &p)?.build_responder().map_err(noise)?;
    let mut payload = vec![0u8; MAX_NOISE_MESSAGE];
    let n = state.read_message(request, &mut payload).map_err(noise)?;
    let requester = payload[..n]
        .strip_prefix(REQUEST)
        .and_then(|h| <[u8; 8]>::try_from(h).ok())
        .map(Height::from_be_bytes)
        .ok_or(ChannelError::Malformed("not a key request"))?;
    if requester > holding.height.saturating_add(MAX_HOLDER_LAG) {
        return Err(ChannelError::HolderBehind {
            holder: holding.height,
            requester,
        });
    }
    let initiator: [u8; 32] = state
        .get_remote_static()
        .and_then(|s| s.try_into().ok())
        .ok_or(ChannelError::Malformed("no initiator key"))?;
    if !election.has_ecdh_key(&initiator) {
        return Err(ChannelError::NotElected(election.round));
    }
    let mut grant = Zeroizing::new(Vec::with_capacity(40));
    grant.extend_from_slice(&holding.era.to_be_bytes());
    grant.extend_from_slice(holding.root_key);
    let mut out = vec![0u8; MAX_NOISE_MESSAGE];
    let n = state.write_message(&grant, &mut out).map_err(noise)?;
    out.truncate(n);
    Ok(out)
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

    fn election(round: u64, keys: &[[u8; 32]], check: Digest, holder_key: [u8; 32]) -> Election {
        Election {
            round,
            height: 10,
            gatekeepers: keys
                .iter()
                .enumerate()
                .map(|(i, k)| veil_primitives::Elected {
                    worker: veil_primitives::PrivateKey::from_seed(100 + i as u64).public_key(),
                    ecdh_key: *k,
                })
                .collect(),
            deadline: 20,
            holders: vec![holder(holder_key)],
            key_check: check,
        }
    }

    fn holder(public: [u8; 32]) -> KeyHolder {
        KeyHolder {
            worker: veil_primitives::PrivateKey::from_seed(1).public_key(),
            ecdh_key: public,
            endpoint: "http://holder".into(),
            tee: Some(veil_primitives::TeeKind::Dev),
        }
    }

    #[test]
    fn an_elected_gatekeeper_gets_the_key_and_no_one_else_does() {
        let root = [7u8; 32];
        let check = root_key_check(0, &root);
        let (holder_secret, holder_public) = keypair(1);
        let (gk_secret, gk_public) = keypair(2);
        let (stranger_secret, _) = keypair(3);
        let e = election(4, &[gk_public], check, holder_public);
        let held = |root_key| Holding {
            election: &e,
            height: 100,
            era: 0,
            root_key,
        };

        let (req, m1) =
            KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 4, 100).unwrap();
        let m2 = answer(&holder_secret, &chain(), &held(&root), &m1).unwrap();
        // The handshake messages never carry the key in clear.
        assert!(!m1.windows(32).any(|w| w == root) && !m2.windows(32).any(|w| w == root));
        let (era, key) = req.finish(&m2, &check).unwrap();
        assert_eq!((era, *key), (0, root));

        // A worker that was not elected is refused.
        let (_, m1) =
            KeyRequest::start(&stranger_secret, holder(holder_public), &chain(), 4, 100).unwrap();
        assert_eq!(
            answer(&holder_secret, &chain(), &held(&root), &m1),
            Err(ChannelError::NotElected(4))
        );
        // Another round (or chain) does not even complete the handshake.
        let (_, m1) =
            KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 3, 100).unwrap();
        assert!(matches!(
            answer(&holder_secret, &chain(), &held(&root), &m1),
            Err(ChannelError::Noise(_))
        ));
        // An answer from someone who is not the holder asked for fails.
        let (req, m1) =
            KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 4, 100).unwrap();
        let (impostor_secret, _) = keypair(9);
        assert!(answer(&impostor_secret, &chain(), &held(&root), &m1).is_err());
        // A holder that hands out another key is caught by the chain's check.
        let m2 = answer(&holder_secret, &chain(), &held(&[8u8; 32]), &m1).unwrap();
        assert_eq!(req.finish(&m2, &check).unwrap_err(), ChannelError::WrongKey);
        // Garbage never panics.
        assert!(answer(&holder_secret, &chain(), &held(&root), &[0u8; 10]).is_err());
        assert!(answer(&holder_secret, &chain(), &held(&root), &vec![1u8; 70_000]).is_err());
    }

    #[test]
    fn a_holder_answers_only_for_its_current_view() {
        let root = [7u8; 32];
        let check = root_key_check(0, &root);
        let (holder_secret, holder_public) = keypair(1);
        let (gk_secret, gk_public) = keypair(2);
        let e = election(4, &[gk_public], check, holder_public);
        let held = |height| Holding {
            election: &e,
            height,
            era: 0,
            root_key: &root,
        };
        let request = |height| {
            KeyRequest::start(&gk_secret, holder(holder_public), &chain(), 4, height)
                .unwrap()
                .1
        };
        // Its host withheld blocks: the requester verified far more than the holder did, so
        // the holder cannot know the round is still current, and refuses.
        assert_eq!(
            answer(
                &holder_secret,
                &chain(),
                &held(100),
                &request(100 + MAX_HOLDER_LAG + 1)
            ),
            Err(ChannelError::HolderBehind {
                holder: 100,
                requester: 100 + MAX_HOLDER_LAG + 1
            })
        );
        // Within the bound (or ahead of the requester), it answers.
        assert!(
            answer(
                &holder_secret,
                &chain(),
                &held(100),
                &request(100 + MAX_HOLDER_LAG)
            )
            .is_ok()
        );
        assert!(answer(&holder_secret, &chain(), &held(500), &request(100)).is_ok());

        // A pRuntime the verified election does not list as a holder (one the chain dropped
        // after deregistration, revocation or a slash) holds its key back.
        let dropped = election(4, &[gk_public], check, keypair(5).1);
        let holding = Holding {
            election: &dropped,
            ..held(100)
        };
        assert_eq!(
            answer(&holder_secret, &chain(), &holding, &request(100)),
            Err(ChannelError::NotHolder(4))
        );
    }
}
