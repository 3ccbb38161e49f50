//! Key files. Secrets are written with owner-only permissions and zeroized after use.

use std::path::Path;

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::{Signer as _, bls12381::primitives::group::Share};
use serde::{Deserialize, Serialize};
use veil_primitives::{AccountId, PrivateKey, decode_hex, from_hex, to_hex};
use zeroize::Zeroize as _;

/// An account key file (`veil key generate`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountKeyFile {
    /// Public key (hex): the account id.
    pub public_key: String,
    /// Ed25519 secret key (hex).
    pub secret_key: String,
}

impl AccountKeyFile {
    /// Wraps a key.
    pub fn new(key: &PrivateKey) -> Self {
        Self {
            public_key: to_hex(key.public_key()),
            secret_key: to_hex(key.encode()),
        }
    }

    /// The signing key, checked against the public key in the file.
    pub fn private_key(&self) -> anyhow::Result<PrivateKey> {
        let key = decode_private(&self.secret_key)?;
        let public: AccountId =
            decode_hex(&self.public_key).map_err(|e| anyhow::anyhow!("public_key: {e}"))?;
        anyhow::ensure!(
            key.public_key() == public,
            "key file is inconsistent: secret key does not match public key"
        );
        Ok(key)
    }
}

/// A validator's key file: identity key plus its threshold share of the consensus key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorKeyFile {
    /// Identity public key (hex).
    pub public_key: String,
    /// Identity secret key (hex).
    pub secret_key: String,
    /// Threshold share (hex, commonware codec).
    pub consensus_share: String,
}

impl ValidatorKeyFile {
    /// Wraps a validator's secrets.
    pub fn new(key: &PrivateKey, share: &Share) -> Self {
        Self {
            public_key: to_hex(key.public_key()),
            secret_key: to_hex(key.encode()),
            consensus_share: to_hex(share.encode()),
        }
    }

    /// Identity key and share.
    pub fn secrets(&self) -> anyhow::Result<(PrivateKey, Share)> {
        let key = AccountKeyFile {
            public_key: self.public_key.clone(),
            secret_key: self.secret_key.clone(),
        }
        .private_key()?;
        let mut bytes =
            from_hex(&self.consensus_share).map_err(|e| anyhow::anyhow!("consensus_share: {e}"))?;
        let share = Share::decode(bytes.clone());
        bytes.zeroize();
        let share = share.map_err(|e| anyhow::anyhow!("consensus_share: {e}"))?;
        Ok((key, share))
    }
}

fn decode_private(hex: &str) -> anyhow::Result<PrivateKey> {
    let mut bytes = from_hex(hex).map_err(|e| anyhow::anyhow!("secret_key: {e}"))?;
    let key = PrivateKey::decode(bytes.clone());
    bytes.zeroize();
    key.map_err(|e| anyhow::anyhow!("secret_key: {e}"))
}

/// Writes a JSON file readable only by its owner.
pub fn write_secret_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(value)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Reads a JSON file.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("invalid {}: {e}", path.display()))
}
