//! A durable, batch-atomic, sealed key-value store for pRuntime state.
//!
//! Rewriting one sealed file after every batch costs time proportional to the whole state, so
//! state lives in memory and each [Batch] is appended to a log as one sealed frame, fsynced
//! before [SealedKv::commit] returns. [SealedKv::compact] rewrites the live contents into a new
//! log *generation* and deletes the old one, which bounds disk use and is what removes deleted
//! values (e.g. a wiped root key) from every file of the store. The filesystem or device may
//! still hold the old blocks; nothing is ever written in plaintext, so those are sealed too.
//!
//! # On disk
//! - `kv-manifest`: sealed (purpose `veil/pruntime/kv-manifest`) `version (1) ‖ generation (u64
//!   BE)`, bound to measurement and identity; replaced atomically (tmp, fsync, rename, fsync dir).
//! - `kv-<generation>.log`: frames `length (u32 BE) ‖ sealed batch` (purpose
//!   `veil/pruntime/kv-log`), each bound to measurement, identity, generation and its sequence
//!   number in the file, so frames cannot be moved between files, stores, code or generations,
//!   nor reordered or dropped in the middle.
//! - Batch plaintext: `op count (u32 BE)`, then per op `tag (1 = put, 2 = delete) ‖ key length
//!   (u32 BE) ‖ key`, and for a put `value length (u32 BE) ‖ value`; then zeros, so that the
//!   frame is 256 bytes, 1 KiB or a multiple of 4 KiB (what one commit writes tells the host
//!   little).
//!
//! # Recovery
//! If the last frame of the log is incomplete or does not authenticate, it is a write torn by a
//! crash: the file is truncated to the last good frame. Nothing acknowledged is lost, because a
//! commit only returns after its frame is durable. A failing frame followed by more bytes is
//! corruption or tampering and [SealedKv::open] reports it. A well-formed but unauthentic last
//! frame (e.g. copied from another store) is also treated as torn: a crash can leave arbitrary
//! bytes in the tail, and dropping it gives the host no power it does not already have (below).
//! Logs of other generations and temporary files are leftovers of an interrupted compaction and
//! are deleted.
//!
//! # Not guaranteed
//! There is no monotonic counter: the host can replace the whole directory with an older copy,
//! or cut whole frames off the end of the log, and the store opens at that older state
//! (rollback). The chain height that callers record in the store is what later work uses to
//! notice. One process must own the directory at a time.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read as _, Write as _},
    ops::Bound,
    path::{Path, PathBuf},
    sync::Mutex,
};

mod codec;
mod error;
mod files;

pub use codec::{MAX_FRAME_LEN, MAX_KEY_LEN, MAX_VALUE_LEN};
use codec::{
    Op, apply, decode, encode, encoded_len, len_u32, log_name, padded_len, parse_log_name,
    reserve_wiped,
};
pub use error::KvError;
use error::io_err;
use files::{
    FORMAT_VERSION, MANIFEST, MANIFEST_TMP, publish_manifest, read_small, stage_manifest, sync_dir,
    write_manifest,
};
use veil_crypto::{merkle, seal::SealingKey};
use veil_primitives::Digest;
use zeroize::Zeroizing;

/// The log is compacted once it exceeds `max(COMPACT_MIN_LOG, 2 × live bytes)`.
const COMPACT_MIN_LOG: u64 = 4 << 20;
/// Plaintext size at which compaction starts a new frame.
const COMPACT_FRAME_TARGET: usize = 4 << 20;
/// Cached prefix roots kept at most (the cache is cleared when full).
const ROOT_CACHE_MAX: usize = 1024;
/// Largest manifest file accepted (it holds 9 sealed bytes).
const MAX_MANIFEST_FILE: u64 = 4096;

const DOMAIN: &[u8] = veil_primitives::namespace::SEALED_KV;
const LOG_PURPOSE: &[u8] = b"veil/pruntime/kv-log";
const MANIFEST_PURPOSE: &[u8] = b"veil/pruntime/kv-manifest";

/// Changes applied together by [SealedKv::commit], in order.
#[derive(Default)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    pub fn put(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Zeroizing<Vec<u8>>>,
    ) -> &mut Self {
        self.ops.push((key.into(), Some(value.into())));
        self
    }

    /// Removes `key` (absent keys are fine).
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push((key.into(), None));
        self
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("ops", &self.ops.len())
            .finish_non_exhaustive()
    }
}

/// The store: all entries in memory, every change in a sealed append-only log.
pub struct SealedKv {
    dir: PathBuf,
    log_key: SealingKey,
    manifest_key: SealingKey,
    /// `DOMAIN ‖ measurement ‖ identity`, each with its length: the manifest's associated data
    /// and the start of every frame's.
    context: Vec<u8>,
    entries: BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
    /// Sum of key and value lengths.
    live_bytes: u64,
    generation: u64,
    /// Frames in the current log; the next frame's sequence number.
    sequence: u64,
    log: File,
    log_len: u64,
    poisoned: bool,
    roots: Mutex<HashMap<Vec<u8>, Digest>>,
    #[cfg(test)]
    bytes_written: u64,
}

impl fmt::Debug for SealedKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKv")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("sequence", &self.sequence)
            .field("entries", &self.entries.len())
            .field("live_bytes", &self.live_bytes)
            .field("log_len", &self.log_len)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// Merkle root (`veil_crypto::merkle`) over `entries` in the order given (key order, for a
/// prefix of the store), each leaf `key length (u32 BE) ‖ key ‖ value`;
/// `merkle::empty_root()` when there are none.
pub fn root_of<'a>(entries: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Digest {
    let mut leaf = Zeroizing::new(Vec::new());
    let hashes = entries
        .map(|(k, v)| {
            reserve_wiped(&mut leaf, 4 + k.len() + v.len());
            leaf.extend_from_slice(&len_u32(k.len()));
            leaf.extend_from_slice(k);
            leaf.extend_from_slice(v);
            merkle::leaf_hash(&leaf)
        })
        .collect();
    merkle::root_of_hashes(hashes)
}

impl SealedKv {
    /// Opens the store in `dir`, creating the directory and an empty store if there is none.
    ///
    /// `sealing_root` is the TEE's sealing key material, `measurement` the code measurement and
    /// `identity` the worker's public identity key; files sealed under other values do not open.
    /// A torn last frame is truncated away; any other damage is an error naming file and frame.
    pub fn open(
        dir: &Path,
        sealing_root: &[u8],
        measurement: &[u8],
        identity: &[u8],
    ) -> Result<Self, KvError> {
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let mut context = DOMAIN.to_vec();
        for part in [measurement, identity] {
            context.extend_from_slice(&(part.len() as u64).to_be_bytes());
            context.extend_from_slice(part);
        }
        let manifest_key = SealingKey::derive(sealing_root, MANIFEST_PURPOSE);
        let manifest_path = dir.join(MANIFEST);
        let generation =
            match read_small(&manifest_path, MAX_MANIFEST_FILE)? {
                Some(sealed) => {
                    let plain = manifest_key.open(&context, &sealed).map_err(|e| KvError::Corrupt {
                    path: manifest_path.clone(),
                    reason: format!(
                        "manifest cannot be unsealed ({e}): it belongs to other code, another \
                         identity or sealing key, or was tampered with"
                    ),
                })?;
                    match plain.as_slice() {
                        [FORMAT_VERSION, g @ ..] if g.len() == 8 => {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(g);
                            u64::from_be_bytes(b)
                        }
                        _ => {
                            return Err(KvError::Corrupt {
                                path: manifest_path,
                                reason: "unsupported manifest version or layout".into(),
                            });
                        }
                    }
                }
                None => {
                    Self::init_fresh(dir, &manifest_key, &context)?;
                    0
                }
            };

        let log_path = dir.join(log_name(generation));
        let log = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => KvError::Corrupt {
                    path: log_path.clone(),
                    reason: format!(
                        "log of generation {generation} named by the manifest is missing"
                    ),
                },
                _ => io_err("open", &log_path)(e),
            })?;
        let mut kv = Self {
            dir: dir.to_path_buf(),
            log_key: SealingKey::derive(sealing_root, LOG_PURPOSE),
            manifest_key,
            context,
            entries: BTreeMap::new(),
            live_bytes: 0,
            generation,
            sequence: 0,
            log,
            log_len: 0,
            poisoned: false,
            roots: Mutex::new(HashMap::new()),
            #[cfg(test)]
            bytes_written: 0,
        };
        kv.replay(&log_path)?;
        kv.remove_leftovers()?;
        Ok(kv)
    }

    /// Creates generation 0 when there is no manifest: an empty log, then the manifest. A crash
    /// between the two leaves an empty `kv-0.log`, which is accepted here; anything else
    /// without a manifest is refused rather than silently reset.
    fn init_fresh(dir: &Path, manifest_key: &SealingKey, context: &[u8]) -> Result<(), KvError> {
        for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name();
            let Some(g) = name.to_str().and_then(parse_log_name) else {
                continue;
            };
            let path = entry.path();
            let len = entry.metadata().map_err(io_err("stat", &path))?.len();
            if g != 0 || len != 0 {
                return Err(KvError::Corrupt {
                    path: dir.join(MANIFEST),
                    reason: format!("manifest is missing but log {} exists", path.display()),
                });
            }
        }
        let log_path = dir.join(log_name(0));
        File::create(&log_path)
            .and_then(|f| f.sync_all())
            .map_err(io_err("create", &log_path))?;
        sync_dir(dir)?;
        write_manifest(dir, manifest_key, context, 0)
    }

    fn frame_aad(&self, generation: u64, sequence: u64) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.context.len() + 16);
        aad.extend_from_slice(&self.context);
        aad.extend_from_slice(&generation.to_be_bytes());
        aad.extend_from_slice(&sequence.to_be_bytes());
        aad
    }

    /// Replays the current log into memory, truncating a torn last frame.
    fn replay(&mut self, path: &Path) -> Result<(), KvError> {
        let file_len = self.log.metadata().map_err(io_err("stat", path))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &self.log);
        let mut offset = 0u64;
        let mut torn = false;
        while offset < file_len {
            let remaining = file_len - offset;
            let corrupt = |reason| KvError::CorruptFrame {
                path: path.to_path_buf(),
                frame: self.sequence,
                offset,
                reason,
            };
            if remaining < 4 {
                torn = true;
                break;
            }
            let mut prefix = [0u8; 4];
            reader
                .read_exact(&mut prefix)
                .map_err(io_err("read", path))?;
            let len = u32::from_be_bytes(prefix) as u64;
            let end = offset + 4 + len;
            let is_last = end >= file_len;
            if end > file_len {
                torn = true;
                break;
            }
            if len > MAX_FRAME_LEN as u64 {
                if is_last {
                    torn = true;
                    break;
                }
                return Err(corrupt("frame length exceeds the limit"));
            }
            let mut sealed = vec![0u8; len as usize];
            reader
                .read_exact(&mut sealed)
                .map_err(io_err("read", path))?;
            let aad = self.frame_aad(self.generation, self.sequence);
            let plaintext = match self.log_key.open(&aad, &sealed) {
                Ok(p) => p,
                Err(_) if is_last => {
                    torn = true;
                    break;
                }
                Err(_) => {
                    return Err(corrupt(
                        "frame fails authentication (tampered, reordered, or from another log)",
                    ));
                }
            };
            // An authentic frame was written by this code: a bad encoding is never a torn write.
            let ops = decode(&plaintext).map_err(corrupt)?;
            apply(&mut self.entries, &mut self.live_bytes, ops);
            self.sequence += 1;
            offset = end;
        }
        drop(reader);
        if torn {
            self.log
                .set_len(offset)
                .and_then(|()| self.log.sync_all())
                .map_err(io_err("truncate torn tail of", path))?;
        }
        self.log_len = offset;
        Ok(())
    }

    /// Deletes logs of other generations and a temporary manifest (an interrupted compaction).
    fn remove_leftovers(&self) -> Result<(), KvError> {
        let mut removed = false;
        for entry in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let entry = entry.map_err(io_err("list", &self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stray =
                name == MANIFEST_TMP || parse_log_name(name).is_some_and(|g| g != self.generation);
            if stray {
                let path = entry.path();
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(|v| v.as_slice())
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.entries.contains_key(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn iter_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Current log generation (incremented by each compaction).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Frames in the current generation's log: the sequence number the next commit gets.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Merkle root over all entries; see [SealedKv::prefix_root].
    pub fn root(&self) -> Digest {
        self.prefix_root(&[])
    }

    /// Merkle root ([root_of]) over the entries under `prefix` in key order,
    /// each leaf `key length (u32 BE) ‖ key ‖ value`; `merkle::empty_root()` when there are
    /// none. Cached per prefix until a commit touches a key under it.
    pub fn prefix_root(&self, prefix: &[u8]) -> Digest {
        let mut cache = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(root) = cache.get(prefix) {
            return *root;
        }
        let root = root_of(self.iter_prefix(prefix));
        if cache.len() >= ROOT_CACHE_MAX {
            cache.clear();
        }
        cache.insert(prefix.to_vec(), root);
        root
    }

    /// Applies `batch` all-or-nothing and makes it durable before returning. On error memory is
    /// unchanged and the batch is not on disk, unless the store is now poisoned, in which case
    /// reopening shows whether it was. An empty batch does nothing. May compact afterwards
    /// (see [SealedKv::compact]); a failed automatic compaction does not fail the durable
    /// commit and is retried after the next one.
    pub fn commit(&mut self, batch: Batch) -> Result<(), KvError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.poisoned {
            return Err(KvError::Poisoned);
        }
        for (k, v) in &batch.ops {
            if k.len() > MAX_KEY_LEN {
                return Err(KvError::KeyTooLong { len: k.len() });
            }
            if let Some(v) = v
                && v.len() > MAX_VALUE_LEN
            {
                return Err(KvError::ValueTooLong { len: v.len() });
            }
        }
        let ops = || {
            batch
                .ops
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_deref().map(|v| v.as_slice())))
        };
        let sealed_len = padded_len(encoded_len(ops())) + veil_crypto::seal::OVERHEAD;
        if sealed_len > MAX_FRAME_LEN {
            return Err(KvError::BatchTooLarge { len: sealed_len });
        }
        let plaintext = encode(ops());
        self.append_frame(&plaintext)?;
        drop(plaintext);

        {
            let mut cache = self.roots.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|prefix, _| !batch.ops.iter().any(|(k, _)| k.starts_with(prefix)));
        }
        apply(&mut self.entries, &mut self.live_bytes, batch.ops);

        if self.log_len > COMPACT_MIN_LOG.max(2 * self.live_bytes) {
            // The batch is durable whatever happens here; a failure that leaves the files in an
            // unknown state has poisoned the store and the next call reports it.
            let _ = self.compact();
        }
        Ok(())
    }

    /// Seals `plaintext` as the next frame of the current log and makes it durable. On failure
    /// the log is cut back to its previous length, or the store is poisoned if that fails too.
    fn append_frame(&mut self, plaintext: &[u8]) -> Result<(), KvError> {
        let aad = self.frame_aad(self.generation, self.sequence);
        let sealed = self.log_key.seal(&mut rand::rng(), &aad, plaintext);
        let mut frame = Vec::with_capacity(4 + sealed.len());
        frame.extend_from_slice(&len_u32(sealed.len()));
        frame.extend_from_slice(&sealed);
        let path = self.dir.join(log_name(self.generation));
        let written = self
            .log
            .write_all(&frame)
            .and_then(|()| self.log.sync_data());
        if let Err(e) = written {
            let restored = self
                .log
                .set_len(self.log_len)
                .and_then(|()| self.log.sync_all());
            if restored.is_err() {
                self.poisoned = true;
            }
            return Err(io_err("append to", &path)(e));
        }
        self.log_len += frame.len() as u64;
        self.sequence += 1;
        #[cfg(test)]
        {
            self.bytes_written += frame.len() as u64;
        }
        Ok(())
    }

    /// Rewrites the live contents as generation g+1 (new log, fsync), atomically switches the
    /// manifest to it, then deletes the old log. Afterwards deleted and overwritten values are
    /// in no file of the store (the filesystem or device may still hold old, sealed blocks).
    ///
    /// If the old log cannot be deleted the store has still moved to the new generation and the
    /// error is returned; the next [SealedKv::open] deletes it.
    pub fn compact(&mut self) -> Result<(), KvError> {
        if self.poisoned {
            return Err(KvError::Poisoned);
        }
        let next = self
            .generation
            .checked_add(1)
            .ok_or_else(|| KvError::Corrupt {
                path: self.dir.join(MANIFEST),
                reason: "generation counter exhausted".into(),
            })?;
        let new_path = self.dir.join(log_name(next));
        let written = self.write_generation(next, &new_path);
        let (log, log_len, frames) = match written {
            Ok(w) => w,
            Err(e) => {
                // Nothing points at the new log yet; a stray one is also removed on open.
                let _ = fs::remove_file(&new_path);
                return Err(e);
            }
        };
        if let Err(e) = stage_manifest(&self.dir, &self.manifest_key, &self.context, next) {
            // The manifest still names the old generation; leftovers are also removed on open.
            let _ = fs::remove_file(self.dir.join(MANIFEST_TMP));
            let _ = fs::remove_file(&new_path);
            return Err(e);
        }
        if let Err(e) = publish_manifest(&self.dir) {
            // The rename may or may not be durable: which log is current is unknown.
            self.poisoned = true;
            return Err(e);
        }
        let old_path = self.dir.join(log_name(self.generation));
        self.log = log;
        self.log_len = log_len;
        self.generation = next;
        self.sequence = frames;
        fs::remove_file(&old_path).map_err(io_err("remove", &old_path))?;
        sync_dir(&self.dir)
    }

    /// Writes the live contents to a new log of `generation`; returns it (opened for
    /// appending), its length and its frame count.
    fn write_generation(
        &mut self,
        generation: u64,
        path: &Path,
    ) -> Result<(File, u64, u64), KvError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("create", path))?;
        file.set_len(0).map_err(io_err("truncate", path))?;
        let mut rng = rand::rng();
        let mut len = 0u64;
        let mut frames = 0u64;
        let mut chunk: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
        let mut entries = self.entries.iter().peekable();
        while entries.peek().is_some() {
            chunk.clear();
            let mut chunk_len = 4;
            while let Some((k, v)) = entries.peek() {
                let op_len = 1 + 4 + k.len() + 4 + v.len();
                if !chunk.is_empty() && chunk_len + op_len > COMPACT_FRAME_TARGET {
                    break;
                }
                chunk.push((k.as_slice(), Some(v.as_slice())));
                chunk_len += op_len;
                entries.next();
            }
            let plaintext = encode(chunk.iter().copied());
            let sealed =
                self.log_key
                    .seal(&mut rng, &self.frame_aad(generation, frames), &plaintext);
            drop(plaintext);
            file.write_all(&len_u32(sealed.len()))
                .and_then(|()| file.write_all(&sealed))
                .map_err(io_err("write", path))?;
            len += 4 + sealed.len() as u64;
            frames += 1;
        }
        file.sync_all().map_err(io_err("sync", path))?;
        sync_dir(&self.dir)?;
        #[cfg(test)]
        {
            self.bytes_written += len;
        }
        Ok((file, len, frames))
    }
}

#[cfg(test)]
mod tests;
