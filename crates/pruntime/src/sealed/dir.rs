//! Sealed files: everything pRuntime persists is encrypted under a key derived from the TEE's
//! sealing root and bound (as associated data) to what the file is and to the code measurement.
//! Files are replaced atomically (write, fsync, rename, fsync directory), so `kill -9` leaves
//! either the old or the new version.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use veil_crypto::seal::SealingKey;
use zeroize::Zeroizing;

/// A directory of sealed files.
pub struct SealedDir {
    dir: PathBuf,
    root: Zeroizing<Vec<u8>>,
    measurement: Vec<u8>,
}

impl SealedDir {
    /// Opens (creating) `dir`; files are sealed under `root` and bound to `measurement`.
    pub fn new(dir: &Path, root: Zeroizing<Vec<u8>>, measurement: Vec<u8>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            root,
            measurement,
        })
    }

    fn aad(&self, name: &str) -> Vec<u8> {
        let mut aad = veil_primitives::namespace::SEALED_FILE.to_vec();
        aad.extend_from_slice(name.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&self.measurement);
        aad
    }

    /// Reads and opens `name`, or `None` if it does not exist.
    pub fn read(&self, name: &str) -> anyhow::Result<Option<Zeroizing<Vec<u8>>>> {
        let path = self.dir.join(name);
        let sealed = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        let key = SealingKey::derive(&self.root, name.as_bytes());
        key.open(&self.aad(name), &sealed).map(Some).map_err(|e| {
            anyhow::anyhow!(
                "{} cannot be unsealed ({e}); it was sealed by other code or another key",
                path.display()
            )
        })
    }

    /// Seals and atomically replaces `name`.
    pub fn write(&self, name: &str, plaintext: &[u8]) -> anyhow::Result<()> {
        let key = SealingKey::derive(&self.root, name.as_bytes());
        let sealed = key.seal(&mut rand::rng(), &self.aad(name), plaintext);
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&sealed)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Deletes `name` (and makes the deletion durable); a missing file is fine.
    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        match std::fs::remove_file(self.dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(anyhow::anyhow!("cannot delete {name}: {e}")),
        }
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Raw sealed bytes of `name` (tests compare them to prove nothing changed).
    pub fn raw(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(name)).ok()
    }
}
