//! The genesis role: the one-off pRuntime that creates the network's first root key.
//!
//! `Bootstrap` makes a genesis identity (an ed25519 key and an X25519 key, `pk_g`) and the root
//! key of era 0, `k_r^(0)`, and seals all three together. Only the public halves ever leave
//! pRuntime: `veil genesis` puts them in the genesis spec, so the chain, and through it every
//! gatekeeper, knows whom to ask for the root key.

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use rand::Rng as _;
use veil_primitives::{AccountId, PrivateKey};
use x25519_dalek::{PublicKey as EcdhPublic, StaticSecret};
use zeroize::Zeroizing;

use crate::sealed::kv::{Batch, SealedKv};

const ROLE: &[u8] = b"genesis/role";
const RETIRED: &[u8] = b"genesis/retired";
const SEALED_LEN: usize = 96;

/// The genesis node's secrets: its identity and the era-0 root key.
pub struct GenesisRole {
    signing: PrivateKey,
    ecdh: StaticSecret,
    root_key: Zeroizing<[u8; 32]>,
}

impl GenesisRole {
    /// Loads the sealed genesis role, if this pRuntime was bootstrapped.
    pub fn load(store: &SealedKv) -> anyhow::Result<Option<Self>> {
        let Some(bytes) = store.get(ROLE) else {
            return Ok(None);
        };
        anyhow::ensure!(
            bytes.len() == SEALED_LEN,
            "sealed genesis role has the wrong length"
        );
        let signing = PrivateKey::decode(bytes::Bytes::copy_from_slice(&bytes[..32]))
            .map_err(|e| anyhow::anyhow!("sealed genesis identity: {e}"))?;
        let mut ecdh = Zeroizing::new([0u8; 32]);
        ecdh.copy_from_slice(&bytes[32..64]);
        let mut root_key = Zeroizing::new([0u8; 32]);
        root_key.copy_from_slice(&bytes[64..]);
        Ok(Some(Self {
            signing,
            ecdh: StaticSecret::from(*ecdh),
            root_key,
        }))
    }

    /// Loads the genesis role, or creates and seals it. Returns it and whether it was created.
    pub fn bootstrap(store: &mut SealedKv) -> anyhow::Result<(Self, bool)> {
        if let Some(role) = Self::load(store)? {
            return Ok((role, false));
        }
        let signing = PrivateKey::random(commonware_utils::sys_rng());
        let ecdh = StaticSecret::random_from_rng(&mut rand::rng());
        let mut root_key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(root_key.as_mut());
        let mut sealed = Zeroizing::new(Vec::with_capacity(SEALED_LEN));
        sealed.extend_from_slice(&signing.encode());
        sealed.extend_from_slice(ecdh.as_bytes());
        sealed.extend_from_slice(root_key.as_ref());
        let mut batch = Batch::default();
        batch.put(ROLE, sealed);
        store.commit(batch)?;
        Ok((
            Self {
                signing,
                ecdh,
                root_key,
            },
            true,
        ))
    }

    /// The public genesis identity, `pk_g`.
    pub fn public(&self) -> (AccountId, [u8; 32]) {
        (
            self.signing.public_key(),
            EcdhPublic::from(&self.ecdh).to_bytes(),
        )
    }

    /// The era-0 root key. Never leaves pRuntime except encrypted to an elected gatekeeper.
    pub fn root_key(&self) -> &[u8; 32] {
        &self.root_key
    }

    /// The check of the era-0 root key, which the genesis spec publishes.
    pub fn key_check(&self) -> veil_primitives::Digest {
        veil_primitives::root_key_check(0, &self.root_key)
    }

    /// The genesis ECDH secret, the static key of its Noise channels.
    pub(crate) fn ecdh_secret(&self) -> &[u8; 32] {
        self.ecdh.as_bytes()
    }

    /// Wipes the role: deletes its record and leaves a sealed marker naming the retired
    /// identity (in one commit), so a restarted pRuntime still knows it must answer nothing,
    /// then compacts the store so no file keeps the sealed secrets. The secrets in memory are
    /// zeroized when the last reference drops.
    pub fn retire(key: AccountId, store: &mut SealedKv) -> anyhow::Result<AccountId> {
        let mut batch = Batch::default();
        batch.put(RETIRED, key.encode().to_vec());
        batch.delete(ROLE);
        store.commit(batch)?;
        store.compact()?;
        Ok(key)
    }

    /// The retired genesis identity, if this pRuntime was the genesis node and retired.
    pub fn retired(store: &SealedKv) -> anyhow::Result<Option<AccountId>> {
        let Some(bytes) = store.get(RETIRED) else {
            return Ok(None);
        };
        AccountId::decode(bytes::Bytes::copy_from_slice(bytes))
            .map(Some)
            .map_err(|e| anyhow::anyhow!("sealed retirement marker: {e}"))
    }
}
