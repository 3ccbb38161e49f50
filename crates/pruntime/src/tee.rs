//! The TEE abstraction: where pRuntime's sealing key and attestation evidence come from.
//!
//! - [DevTee]: **insecure dev mode** for machines without a TEE. The sealing key is read from a
//!   key file, the measurement is the SHA-256 of the running pRuntime binary, and the evidence is
//!   an unsigned [DevQuote]. Anyone with the key file can read sealed data; dev evidence proves
//!   nothing, and the chain accepts it only when genesis allows insecure attestation.
//! - [GramineSgx]: pRuntime inside an SGX enclave under Gramine. The sealing key is Gramine's
//!   MRENCLAVE-bound key (`/dev/attestation/keys/_sgx_mrenclave`); evidence is a DCAP quote
//!   obtained by writing the report data to `/dev/attestation/user_report_data` and reading
//!   `/dev/attestation/quote`.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use commonware_codec::Encode as _;
use sha2::{Digest as _, Sha256};
use veil_attestation::{DevQuote, Evidence, TeeKind};
use zeroize::Zeroizing;

/// A TEE as pRuntime sees it.
pub trait TeeBackend: Send + Sync {
    /// Which TEE this is.
    fn kind(&self) -> TeeKind;
    /// The code measurement evidence will carry.
    fn measurement(&self) -> Vec<u8>;
    /// Root key material for sealing; bound to this code on a real TEE.
    fn sealing_root(&self) -> anyhow::Result<Zeroizing<Vec<u8>>>;
    /// Evidence carrying `report_data`.
    fn evidence(&self, report_data: &[u8; 64]) -> anyhow::Result<Evidence>;
}

/// Insecure simulated TEE (see the module docs).
pub struct DevTee {
    key_file: PathBuf,
    measurement: [u8; 32],
}

impl DevTee {
    /// Uses `key_file` as the sealing key (created with 32 random bytes if missing) and the
    /// running binary as the measured code.
    pub fn new(key_file: &Path) -> anyhow::Result<Self> {
        if !key_file.exists() {
            use rand::Rng as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rng().fill_bytes(key.as_mut());
            if let Some(dir) = key_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(key_file)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", key_file.display()))?;
            f.write_all(key.as_ref())?;
            f.sync_all()?;
        }
        let exe = std::env::current_exe()?;
        let bytes = std::fs::read(&exe)
            .map_err(|e| anyhow::anyhow!("cannot measure {}: {e}", exe.display()))?;
        Ok(Self {
            key_file: key_file.to_path_buf(),
            measurement: Sha256::digest(&bytes).into(),
        })
    }
}

impl TeeBackend for DevTee {
    fn kind(&self) -> TeeKind {
        TeeKind::Dev
    }

    fn measurement(&self) -> Vec<u8> {
        self.measurement.to_vec()
    }

    fn sealing_root(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let key = Zeroizing::new(std::fs::read(&self.key_file).map_err(|e| {
            anyhow::anyhow!(
                "cannot read dev sealing key {}: {e}",
                self.key_file.display()
            )
        })?);
        anyhow::ensure!(
            key.len() >= 32,
            "dev sealing key {} is shorter than 32 bytes",
            self.key_file.display()
        );
        Ok(key)
    }

    fn evidence(&self, report_data: &[u8; 64]) -> anyhow::Result<Evidence> {
        Ok(Evidence {
            kind: TeeKind::Dev,
            quote: DevQuote {
                measurement: self.measurement,
                report_data: *report_data,
            }
            .encode()
            .to_vec(),
        })
    }
}

/// SGX under Gramine (see the module docs).
pub struct GramineSgx {
    root: PathBuf,
}

impl GramineSgx {
    /// Uses Gramine's attestation pseudo-files under `root` (normally `/dev/attestation`).
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            root.join("quote").exists(),
            "{} has no quote file: not running under Gramine with remote attestation enabled",
            root.display()
        );
        Ok(Self {
            root: root.to_path_buf(),
        })
    }
}

impl TeeBackend for GramineSgx {
    fn kind(&self) -> TeeKind {
        TeeKind::SgxDcap
    }

    fn measurement(&self) -> Vec<u8> {
        // MRENCLAVE opens the enclave's target info (SGX TARGETINFO, offset 0).
        std::fs::read(self.root.join("my_target_info"))
            .ok()
            .and_then(|t| t.get(..32).map(<[u8]>::to_vec))
            .unwrap_or_default()
    }

    fn sealing_root(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let path = self.root.join("keys").join("_sgx_mrenclave");
        Ok(Zeroizing::new(std::fs::read(&path).map_err(|e| {
            anyhow::anyhow!("cannot read {}: {e}", path.display())
        })?))
    }

    fn evidence(&self, report_data: &[u8; 64]) -> anyhow::Result<Evidence> {
        std::fs::write(self.root.join("user_report_data"), report_data)?;
        let quote = std::fs::read(self.root.join("quote"))?;
        Ok(Evidence {
            kind: TeeKind::SgxDcap,
            quote,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gramine_backend_uses_the_attestation_files() {
        let root = std::env::temp_dir().join(format!("veil-gramine-{}", std::process::id()));
        std::fs::create_dir_all(root.join("keys")).unwrap();
        std::fs::write(root.join("quote"), b"QUOTE").unwrap();
        std::fs::write(root.join("keys/_sgx_mrenclave"), [7u8; 16]).unwrap();
        std::fs::write(root.join("my_target_info"), [9u8; 512]).unwrap();
        let tee = GramineSgx::new(&root).unwrap();
        assert_eq!(tee.sealing_root().unwrap().as_slice(), &[7u8; 16]);
        assert_eq!(tee.measurement(), vec![9u8; 32]);
        let e = tee.evidence(&[5u8; 64]).unwrap();
        assert_eq!(e.kind, TeeKind::SgxDcap);
        assert_eq!(
            std::fs::read(root.join("user_report_data")).unwrap(),
            vec![5u8; 64]
        );
        std::fs::remove_dir_all(&root).unwrap();
        assert!(GramineSgx::new(&root).is_err());
    }
}
