//! Contract keys: the gatekeepers derive each new contract's key from the root key and publish
//! its public half, with the key itself sealed under the root key, on their shared stream.
//!
//! Everything is deterministic in the root key, the chain and the contract id, so every
//! gatekeeper emits the same bytes and the chain routes the first copy. A gatekeeper that joins
//! later derives the same key. The miner of each assignment gets the key in a [ContractGrant]:
//! an envelope to the X25519 key the chain registered for it (its attested identity), which
//! only that pRuntime opens. The gatekeepers act on the chain's own assignment event, so the
//! assignment is checked on chain before the key leaves.

use commonware_codec::{DecodeExt as _, Encode as _};
use veil_crypto::{drbg::Drbg, envelope, seal::SealingKey};
use veil_primitives::{
    AccountId, ChainIdentity, Digest,
    contract::{
        CONTRACT_GRANT_TOPIC, CONTRACT_KEY_TOPIC, ContractEvent, ContractGrant, ContractId,
        ContractKey, grant_aad,
    },
    namespace,
};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::state::GatekeeperRole;
use crate::egress::Emitter;

fn chain_context(chain: &ChainIdentity, contract: &ContractId) -> Vec<u8> {
    let mut context = chain.chain_id.to_be_bytes().to_vec();
    context.extend_from_slice(chain.genesis_hash.as_ref());
    context.extend_from_slice(contract.as_ref());
    context
}

/// The contract key of `contract`: a DRBG under the contract-key domain, keyed by the root key
/// and bound to the chain and the contract.
pub fn contract_key(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    contract: &ContractId,
) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    Drbg::with_domain(
        namespace::CONTRACT_KEY,
        root_key,
        &chain_context(chain, contract),
        b"contract-key",
    )
    .fill(key.as_mut());
    key
}

/// The X25519 public key clients encrypt commands to.
pub fn public_key(contract_key: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*contract_key)).to_bytes()
}

fn seal_key(root_key: &[u8; 32], chain: &ChainIdentity) -> SealingKey {
    let mut purpose = b"veil/contract-key-seal".to_vec();
    purpose.extend_from_slice(&chain.chain_id.to_be_bytes());
    purpose.extend_from_slice(chain.genesis_hash.as_ref());
    SealingKey::derive(root_key, &purpose)
}

fn seal_aad(chain: &ChainIdentity, contract: &ContractId) -> Vec<u8> {
    let mut aad = namespace::CONTRACT_KEY_SEAL.to_vec();
    aad.extend_from_slice(&chain_context(chain, contract));
    aad
}

/// The key record the gatekeepers publish for `contract`. The sealing nonce comes from a DRBG
/// over the root key and the contract, so every gatekeeper seals the same bytes, and no two
/// contracts share a nonce.
pub fn publication(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    contract: &ContractId,
) -> ContractKey {
    let key = contract_key(root_key, chain, contract);
    let mut rng = Drbg::with_domain(
        namespace::CONTRACT_KEY_SEAL,
        root_key,
        &chain_context(chain, contract),
        b"nonce",
    );
    let sealed_key =
        seal_key(root_key, chain).seal(&mut rng, &seal_aad(chain, contract), key.as_ref());
    ContractKey {
        contract: *contract,
        public_key: public_key(&key),
        sealed_key,
    }
}

/// Opens a published sealed key with the root key.
pub fn open_sealed(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    published: &ContractKey,
) -> Option<Zeroizing<[u8; 32]>> {
    let plain = seal_key(root_key, chain)
        .open(&seal_aad(chain, &published.contract), &published.sealed_key)
        .ok()?;
    let mut key = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return None;
    }
    key.copy_from_slice(&plain);
    Some(key)
}

/// The contract key of `contract` sealed to `miner` for one assignment. The envelope's
/// ephemeral key comes from a DRBG over the root key and the assignment, so every gatekeeper
/// seals the same bytes; `None` only for a low-order `miner_ecdh` (which registration refuses).
pub fn grant(
    root_key: &[u8; 32],
    chain: &ChainIdentity,
    contract: &ContractId,
    miner: &AccountId,
    miner_ecdh: &[u8; 32],
    assignment: u64,
) -> Option<ContractGrant> {
    let key = contract_key(root_key, chain, contract);
    let mut context = chain_context(chain, contract);
    context.extend_from_slice(miner.as_ref());
    context.extend_from_slice(&assignment.to_be_bytes());
    let mut rng = Drbg::with_domain(namespace::CONTRACT_GRANT, root_key, &context, b"ephemeral");
    let aad = grant_aad(chain, contract, miner, assignment);
    let (envelope, _) = envelope::seal(
        &mut rng,
        miner_ecdh,
        namespace::CONTRACT_GRANT,
        &aad,
        key.as_ref(),
        32,
    )
    .ok()?;
    Some(ContractGrant {
        contract: *contract,
        miner: miner.clone(),
        assignment,
        envelope,
    })
}

/// Opens a grant addressed to this miner; `None` if it does not open or holds no key.
pub fn open_grant(
    ecdh_secret: &[u8; 32],
    chain: &ChainIdentity,
    grant: &ContractGrant,
) -> Option<Zeroizing<[u8; 32]>> {
    let aad = grant_aad(chain, &grant.contract, &grant.miner, grant.assignment);
    let secret = StaticSecret::from(*ecdh_secret);
    let (plain, _) =
        envelope::open(&secret, namespace::CONTRACT_GRANT, &aad, &grant.envelope).ok()?;
    let key: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(Zeroizing::new(key))
}

/// A verified contracts event from the chain: a gatekeeper holding the root key publishes a new
/// contract's key, and grants it to the miner of each assignment. `_block` is the triggering
/// block (kept for symmetry with checkpoints; the key depends only on the contract).
pub(crate) fn on_contract_event(
    out: &Emitter<'_>,
    role: &mut GatekeeperRole,
    payload: &[u8],
    _block: &Digest,
) {
    let (contract, miner, miner_ecdh, assignment) = match ContractEvent::decode(payload.to_vec()) {
        Ok(ContractEvent::Instantiated {
            contract,
            miner,
            miner_ecdh,
            ..
        }) => {
            let record = publication(&role.root_key, out.chain, &contract);
            out.gatekeeper(role, CONTRACT_KEY_TOPIC, |_| record.encode().to_vec());
            (contract, miner, miner_ecdh, 0)
        }
        Ok(ContractEvent::Assigned {
            contract,
            miner,
            miner_ecdh,
            assignment,
            ..
        }) => (contract, miner, miner_ecdh, assignment),
        Ok(ContractEvent::SessionRevoked { .. }) | Err(_) => return,
    };
    match grant(
        &role.root_key,
        out.chain,
        &contract,
        &miner,
        &miner_ecdh,
        assignment,
    ) {
        Some(g) => {
            out.gatekeeper(role, CONTRACT_GRANT_TOPIC, |_| g.encode().to_vec());
        }
        None => tracing::warn!("the miner's registered X25519 key is invalid: no grant"),
    }
}

#[cfg(test)]
mod tests {
    use veil_primitives::hash;

    use super::*;

    fn chain(id: u64) -> ChainIdentity {
        ChainIdentity {
            chain_id: id,
            genesis_hash: hash(b"genesis"),
        }
    }

    #[test]
    fn only_the_assigned_miner_opens_its_grant_and_every_gatekeeper_seals_the_same_one() {
        let root = [7u8; 32];
        let contract = hash(b"contract");
        use commonware_cryptography::Signer as _;
        let miner = veil_primitives::PrivateKey::from_seed(3).public_key();
        let secret = [4u8; 32];
        let ecdh = PublicKey::from(&StaticSecret::from(secret)).to_bytes();
        let g = grant(&root, &chain(1), &contract, &miner, &ecdh, 2).unwrap();
        assert_eq!(
            Some(&g),
            grant(&root, &chain(1), &contract, &miner, &ecdh, 2).as_ref()
        );
        assert_eq!(
            open_grant(&secret, &chain(1), &g).as_deref(),
            Some(&*contract_key(&root, &chain(1), &contract))
        );
        // Another secret, chain, assignment or miner: nothing opens.
        assert!(open_grant(&[5u8; 32], &chain(1), &g).is_none());
        assert!(open_grant(&secret, &chain(2), &g).is_none());
        for moved in [
            ContractGrant {
                assignment: 3,
                ..g.clone()
            },
            ContractGrant {
                contract: hash(b"other"),
                ..g.clone()
            },
        ] {
            assert!(open_grant(&secret, &chain(1), &moved).is_none());
        }
    }

    #[test]
    fn every_gatekeeper_publishes_the_same_key_and_only_the_root_key_opens_it() {
        let root = [7u8; 32];
        let contract = hash(b"contract");
        let a = publication(&root, &chain(1), &contract);
        assert_eq!(a, publication(&root, &chain(1), &contract));
        assert_eq!(
            open_sealed(&root, &chain(1), &a).as_deref(),
            Some(&*contract_key(&root, &chain(1), &contract))
        );
        assert_eq!(
            a.public_key,
            public_key(&contract_key(&root, &chain(1), &contract))
        );
        assert!(open_sealed(&[8u8; 32], &chain(1), &a).is_none());
        assert!(open_sealed(&root, &chain(2), &a).is_none());
        // Another contract, chain or root key: another key.
        let other = publication(&root, &chain(1), &hash(b"other"));
        assert_ne!(other.public_key, a.public_key);
        assert_ne!(
            other.sealed_key[1..13],
            a.sealed_key[1..13],
            "nonces differ"
        );
        assert_ne!(
            publication(&root, &chain(2), &contract).public_key,
            a.public_key
        );
        assert_ne!(
            publication(&[8u8; 32], &chain(1), &contract).public_key,
            a.public_key
        );
        let moved = ContractKey {
            contract: hash(b"other"),
            ..a
        };
        assert!(
            open_sealed(&root, &chain(1), &moved).is_none(),
            "bound to its contract"
        );
    }
}
