//! The store's files on disk: the sealed manifest (replaced atomically) and small helpers.

use std::{
    fs::{self, File},
    io::{self, Read as _, Write as _},
    path::Path,
};

use veil_crypto::seal::SealingKey;

use super::error::{KvError, io_err};

/// The manifest's file name.
pub(super) const MANIFEST: &str = "kv-manifest";
/// Where a new manifest is written before it replaces the old.
pub(super) const MANIFEST_TMP: &str = "kv-manifest.tmp";
/// Version byte of the manifest's plaintext.
pub(super) const FORMAT_VERSION: u8 = 1;

pub(super) fn sync_dir(dir: &Path) -> Result<(), KvError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

/// Reads a whole small file, or `None` if absent; refuses files over `limit` bytes.
pub(super) fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, KvError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    if bytes.len() as u64 > limit {
        return Err(KvError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("file is larger than {limit} bytes"),
        });
    }
    Ok(Some(bytes))
}

/// Seals and atomically replaces the manifest: tmp, fsync, rename, fsync directory.
pub(super) fn write_manifest(
    dir: &Path,
    key: &SealingKey,
    context: &[u8],
    generation: u64,
) -> Result<(), KvError> {
    stage_manifest(dir, key, context, generation)?;
    publish_manifest(dir)
}

/// Writes and fsyncs the sealed manifest for `generation` to the temporary file.
pub(super) fn stage_manifest(
    dir: &Path,
    key: &SealingKey,
    context: &[u8],
    generation: u64,
) -> Result<(), KvError> {
    let mut plain = vec![FORMAT_VERSION];
    plain.extend_from_slice(&generation.to_be_bytes());
    let sealed = key.seal(&mut rand::rng(), context, &plain);
    let tmp = dir.join(MANIFEST_TMP);
    File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(&sealed)?;
            f.sync_all()
        })
        .map_err(io_err("write", &tmp))
}

/// Renames the temporary manifest over the manifest and fsyncs the directory.
pub(super) fn publish_manifest(dir: &Path) -> Result<(), KvError> {
    let path = dir.join(MANIFEST);
    fs::rename(dir.join(MANIFEST_TMP), &path).map_err(io_err("rename to", &path))?;
    sync_dir(dir)
}
