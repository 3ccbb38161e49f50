//! The genesis role: the one-off pRuntime that creates the network's first root key.
//!
//! `Bootstrap` makes a genesis identity (an ed25519 key and an X25519 key, `pk_g`) and the root
//! key of era 0, `k_r^(0)`, and seals all three together with the chain they belong to: the
//! chain id and the consensus group key, dealt before the genesis node is bootstrapped. The
//! role then follows no other chain, so a host cannot feed it a self-certified chain whose
//! election names the host's own key. Only the public halves ever leave
//! pRuntime: `veil genesis` puts them in the genesis spec, so the chain, and through it every
//! gatekeeper, knows whom to ask for the root key.

use commonware_codec::{DecodeExt as _, Encode as _, Write as _};
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use rand::Rng as _;
use veil_primitives::{AccountId, PrivateKey};
use x25519_dalek::{PublicKey as EcdhPublic, StaticSecret};
use zeroize::Zeroizing;

use crate::sealed::kv::{Batch, SealedKv};

const ROLE: &[u8] = b"genesis/role";
const RETIRED: &[u8] = b"genesis/retired";
/// Secrets (signing key, X25519 key, root key) then the chain id, before the group key.
const FIXED_LEN: usize = 104;
/// Longest encoded group key accepted.
const MAX_GROUP_KEY: usize = 256;

/// The chain a genesis role belongs to: the only one it may follow, and the only one under
/// which it hands out the root key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBinding {
    /// Chain id.
    pub chain_id: u64,
    /// Encoded consensus group key (dealt before the genesis node is bootstrapped).
    pub group_key: Vec<u8>,
}

/// The genesis node's secrets, its identity and the era-0 root key, bound to one chain.
pub struct GenesisRole {
    signing: PrivateKey,
    ecdh: StaticSecret,
    root_key: Zeroizing<[u8; 32]>,
    binding: ChainBinding,
}

impl GenesisRole {
    /// Loads the sealed genesis role, if this pRuntime was bootstrapped.
    pub fn load(store: &SealedKv) -> anyhow::Result<Option<Self>> {
        let Some(bytes) = store.get(ROLE) else {
            return Ok(None);
        };
        anyhow::ensure!(
            bytes.len() > FIXED_LEN && bytes.len() <= FIXED_LEN + MAX_GROUP_KEY,
            "sealed genesis role has the wrong length"
        );
        let signing = PrivateKey::decode(crate::sealed::wiped_bytes(&bytes[..32]))
            .map_err(|e| anyhow::anyhow!("sealed genesis identity: {e}"))?;
        let mut ecdh = Zeroizing::new([0u8; 32]);
        ecdh.copy_from_slice(&bytes[32..64]);
        let mut root_key = Zeroizing::new([0u8; 32]);
        root_key.copy_from_slice(&bytes[64..96]);
        let chain_id = u64::from_be_bytes(bytes[96..104].try_into().expect("8 bytes"));
        Ok(Some(Self {
            signing,
            ecdh: StaticSecret::from(*ecdh),
            root_key,
            binding: ChainBinding {
                chain_id,
                group_key: bytes[FIXED_LEN..].to_vec(),
            },
        }))
    }

    /// Creates the genesis role for the chain `binding` names and seals it in one commit.
    pub fn create(store: &mut SealedKv, binding: ChainBinding) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !binding.group_key.is_empty() && binding.group_key.len() <= MAX_GROUP_KEY,
            "a group key of 1 to {MAX_GROUP_KEY} bytes is needed"
        );
        let signing = PrivateKey::random(commonware_utils::sys_rng());
        let ecdh = StaticSecret::random_from_rng(&mut rand::rng());
        let mut root_key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(root_key.as_mut());
        let mut sealed = Zeroizing::new(Vec::with_capacity(FIXED_LEN + binding.group_key.len()));
        signing.write(&mut *sealed);
        sealed.extend_from_slice(ecdh.as_bytes());
        sealed.extend_from_slice(root_key.as_ref());
        sealed.extend_from_slice(&binding.chain_id.to_be_bytes());
        sealed.extend_from_slice(&binding.group_key);
        let mut batch = Batch::default();
        batch.put(ROLE, sealed);
        store.commit(batch)?;
        Ok(Self {
            signing,
            ecdh,
            root_key,
            binding,
        })
    }

    /// The chain this role belongs to.
    pub fn binding(&self) -> &ChainBinding {
        &self.binding
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
