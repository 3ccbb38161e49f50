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
//!   (u32 BE) ‖ key`, and for a put `value length (u32 BE) ‖ value`.
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

use veil_crypto::{merkle, seal::SealingKey};
use veil_primitives::Digest;
use zeroize::Zeroizing;

/// Largest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 << 20;
/// Largest sealed frame (a committed batch), in bytes.
pub const MAX_FRAME_LEN: usize = 256 << 20;

/// The log is compacted once it exceeds `max(COMPACT_MIN_LOG, 2 × live bytes)`.
const COMPACT_MIN_LOG: u64 = 4 << 20;
/// Plaintext size at which compaction starts a new frame.
const COMPACT_FRAME_TARGET: usize = 4 << 20;
/// Cached prefix roots kept at most (the cache is cleared when full).
const ROOT_CACHE_MAX: usize = 1024;
/// Largest manifest file accepted (it holds 9 sealed bytes).
const MAX_MANIFEST_FILE: u64 = 4096;

const DOMAIN: &[u8] = b"_VEIL_PRUNTIME_SEALED_KV";
const LOG_PURPOSE: &[u8] = b"veil/pruntime/kv-log";
const MANIFEST_PURPOSE: &[u8] = b"veil/pruntime/kv-manifest";
const MANIFEST: &str = "kv-manifest";
const MANIFEST_TMP: &str = "kv-manifest.tmp";
const FORMAT_VERSION: u8 = 1;
const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;

/// Why the store could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// A filesystem operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A log frame that is not the last one is corrupt or was tampered with.
    #[error("{path}: frame {frame} at byte {offset} is corrupt or tampered with: {reason}")]
    CorruptFrame {
        /// The log file.
        path: PathBuf,
        /// Sequence number of the frame.
        frame: u64,
        /// Byte offset of its length prefix.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The manifest is corrupt, from another store, code or identity, or the files it names
    /// are missing.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key in the batch is longer than [MAX_KEY_LEN].
    #[error("key of {len} bytes exceeds the {MAX_KEY_LEN}-byte limit")]
    KeyTooLong {
        /// Its length.
        len: usize,
    },
    /// A value in the batch is longer than [MAX_VALUE_LEN].
    #[error("value of {len} bytes exceeds the {MAX_VALUE_LEN}-byte limit")]
    ValueTooLong {
        /// Its length.
        len: usize,
    },
    /// The sealed batch would exceed [MAX_FRAME_LEN]; split it.
    #[error("batch of {len} sealed bytes exceeds the {MAX_FRAME_LEN}-byte frame limit")]
    BatchTooLarge {
        /// Its sealed length.
        len: usize,
    },
    /// An earlier failure left the files in an unknown state; reopen the store.
    #[error("an earlier write failure left the store's files in an unknown state; reopen it")]
    Poisoned,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KvError {
    let path = path.to_path_buf();
    move |source| KvError::Io { op, path, source }
}

/// One operation: a value to put, or `None` to delete.
type Op = (Vec<u8>, Option<Zeroizing<Vec<u8>>>);

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

fn log_name(generation: u64) -> String {
    format!("kv-{generation}.log")
}

/// The generation of a file named `kv-<generation>.log`.
fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("kv-")?.strip_suffix(".log")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn len_u32(n: usize) -> [u8; 4] {
    // Keys, values and frames are checked against limits far below u32::MAX first.
    u32::try_from(n)
        .expect("lengths are bounded by the store's limits")
        .to_be_bytes()
}

fn sync_dir(dir: &Path) -> Result<(), KvError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

/// Replaces `buf` by an empty buffer of at least `n` bytes' capacity without reallocating a
/// buffer that may hold secrets (the old one is wiped on drop).
fn reserve_wiped(buf: &mut Zeroizing<Vec<u8>>, n: usize) {
    if buf.capacity() < n {
        *buf = Zeroizing::new(Vec::with_capacity(n));
    }
    buf.clear();
}

/// Encoded size of a batch.
fn encoded_len<'a>(ops: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>) -> usize {
    ops.fold(4, |n, (k, v)| {
        n + 1 + 4 + k.len() + v.map_or(0, |v| 4 + v.len())
    })
}

/// Encodes a batch (see the module doc) into a wiped-on-drop buffer allocated once.
fn encode<'a, I>(ops: I) -> Zeroizing<Vec<u8>>
where
    I: Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + Clone,
{
    let mut out = Zeroizing::new(Vec::with_capacity(encoded_len(ops.clone())));
    out.extend_from_slice(&len_u32(ops.clone().count()));
    for (k, v) in ops {
        out.push(if v.is_some() { TAG_PUT } else { TAG_DELETE });
        out.extend_from_slice(&len_u32(k.len()));
        out.extend_from_slice(k);
        if let Some(v) = v {
            out.extend_from_slice(&len_u32(v.len()));
            out.extend_from_slice(v);
        }
    }
    out
}

/// Bounds-checked reader over a decrypted batch.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("batch encoding is truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<usize, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// Decodes a batch, enforcing the key and value limits.
fn decode(plaintext: &[u8]) -> Result<Vec<Op>, &'static str> {
    let mut c = Cursor(plaintext);
    let count = c.u32()?;
    // Each op takes at least 5 bytes: never trust the count for the allocation.
    let mut ops = Vec::with_capacity(count.min(c.0.len() / 5));
    for _ in 0..count {
        let tag = c.take(1)?[0];
        let key_len = c.u32()?;
        if key_len > MAX_KEY_LEN {
            return Err("key exceeds the size limit");
        }
        let key = c.take(key_len)?.to_vec();
        let value = match tag {
            TAG_PUT => {
                let len = c.u32()?;
                if len > MAX_VALUE_LEN {
                    return Err("value exceeds the size limit");
                }
                Some(Zeroizing::new(c.take(len)?.to_vec()))
            }
            TAG_DELETE => None,
            _ => return Err("unknown operation tag"),
        };
        ops.push((key, value));
    }
    if !c.0.is_empty() {
        return Err("trailing bytes after the batch");
    }
    Ok(ops)
}

/// Applies `ops` in order to `entries`, keeping `live_bytes` up to date.
fn apply(entries: &mut BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>, live_bytes: &mut u64, ops: Vec<Op>) {
    for (key, value) in ops {
        let key_len = key.len() as u64;
        let old = match value {
            Some(value) => {
                *live_bytes += key_len + value.len() as u64;
                entries.insert(key, value)
            }
            None => entries.remove(&key),
        };
        if let Some(old) = old {
            *live_bytes -= key_len + old.len() as u64;
        }
    }
}

/// Reads a whole small file, or `None` if absent; refuses files over `limit` bytes.
fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, KvError> {
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

    /// Merkle root (`veil_crypto::merkle::root`) over the entries under `prefix` in key order,
    /// each leaf `key length (u32 BE) ‖ key ‖ value`; `merkle::empty_root()` when there are
    /// none. Cached per prefix until a commit touches a key under it.
    pub fn prefix_root(&self, prefix: &[u8]) -> Digest {
        let mut cache = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(root) = cache.get(prefix) {
            return *root;
        }
        let mut leaf = Zeroizing::new(Vec::new());
        let hashes = self
            .iter_prefix(prefix)
            .map(|(k, v)| {
                reserve_wiped(&mut leaf, 4 + k.len() + v.len());
                leaf.extend_from_slice(&len_u32(k.len()));
                leaf.extend_from_slice(k);
                leaf.extend_from_slice(v);
                merkle::leaf_hash(&leaf)
            })
            .collect();
        let root = merkle::root_of_hashes(hashes);
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
        let sealed_len = encoded_len(ops()) + veil_crypto::seal::OVERHEAD;
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

/// Seals and atomically replaces the manifest: tmp, fsync, rename, fsync directory.
fn write_manifest(
    dir: &Path,
    key: &SealingKey,
    context: &[u8],
    generation: u64,
) -> Result<(), KvError> {
    stage_manifest(dir, key, context, generation)?;
    publish_manifest(dir)
}

/// Writes and fsyncs the sealed manifest for `generation` to the temporary file.
fn stage_manifest(
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
fn publish_manifest(dir: &Path) -> Result<(), KvError> {
    let path = dir.join(MANIFEST);
    fs::rename(dir.join(MANIFEST_TMP), &path).map_err(io_err("rename to", &path))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    const ROOT: &[u8] = b"test sealing root";
    const MEAS: &[u8] = b"measurement A";
    const ID: &[u8] = b"identity A";

    /// A directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "veil-kv-{name}-{}-{}-{:08x}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst),
                rand::rng().random::<u32>()
            ));
            let _ = fs::remove_dir_all(&path);
            Self(path)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    type Dump = Vec<(Vec<u8>, Vec<u8>)>;

    fn open(dir: &Path) -> SealedKv {
        SealedKv::open(dir, ROOT, MEAS, ID).unwrap()
    }

    fn dump(kv: &SealedKv) -> Dump {
        kv.iter_prefix(&[])
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    fn put_all(kv: &mut SealedKv, pairs: &[(&[u8], &[u8])]) {
        let mut b = Batch::new();
        for (k, v) in pairs {
            b.put(*k, v.to_vec());
        }
        kv.commit(b).unwrap();
    }

    fn copy_dir(src: &Path, dst: &Path) {
        fs::create_dir_all(dst).unwrap();
        for e in fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn log_of(dir: &Path, generation: u64) -> PathBuf {
        dir.join(log_name(generation))
    }

    /// Splits a log into whole frames (length prefix included).
    fn split_frames(log: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = log;
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            out.push(rest[..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        out
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// Every frame of every log in the store's directory, decrypted with the store's own key.
    fn decrypted_frames(kv: &SealedKv) -> Vec<Zeroizing<Vec<u8>>> {
        let mut out = Vec::new();
        for name in file_names(&kv.dir) {
            let Some(g) = parse_log_name(&name) else {
                continue;
            };
            let bytes = fs::read(kv.dir.join(&name)).unwrap();
            for (seq, frame) in split_frames(&bytes).iter().enumerate() {
                let aad = kv.frame_aad(g, seq as u64);
                out.push(kv.log_key.open(&aad, &frame[4..]).unwrap());
            }
        }
        out
    }

    fn assert_corrupt_frame(result: Result<SealedKv, KvError>, expected_frame: u64) {
        match result {
            Err(KvError::CorruptFrame { frame, path, .. }) => {
                assert_eq!(frame, expected_frame, "wrong frame reported");
                assert!(parse_log_name(path.file_name().unwrap().to_str().unwrap()).is_some());
            }
            other => panic!("expected a corrupt frame error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_across_reopen() {
        let tmp = TempDir::new("roundtrip");
        let mut kv = open(&tmp.0);
        assert!(kv.is_empty());
        assert_eq!(file_names(&tmp.0), ["kv-0.log", "kv-manifest"]);
        put_all(
            &mut kv,
            &[(b"a/1", b"one"), (b"a/2", b"two"), (b"b", b"bee")],
        );
        assert_eq!(kv.get(b"a/1"), Some(&b"one"[..]));
        assert_eq!(kv.sequence(), 1);

        // Empty batch: nothing written.
        let len = fs::metadata(log_of(&tmp.0, 0)).unwrap().len();
        kv.commit(Batch::new()).unwrap();
        assert_eq!(kv.sequence(), 1);
        assert_eq!(fs::metadata(log_of(&tmp.0, 0)).unwrap().len(), len);

        // Overwrite, delete, delete of a missing key, and a put then delete in one batch.
        let mut b = Batch::new();
        b.put(b"a/1".to_vec(), b"uno".to_vec())
            .delete(b"b".to_vec())
            .delete(b"missing".to_vec())
            .put(b"tmp".to_vec(), b"x".to_vec())
            .delete(b"tmp".to_vec());
        assert_eq!(b.len(), 5);
        kv.commit(b).unwrap();
        let expected: Dump = vec![
            (b"a/1".to_vec(), b"uno".to_vec()),
            (b"a/2".to_vec(), b"two".to_vec()),
        ];
        assert_eq!(dump(&kv), expected);
        assert_eq!(kv.live_bytes, 3 + 3 + 3 + 3);
        drop(kv);

        let kv = open(&tmp.0);
        assert_eq!(dump(&kv), expected);
        assert_eq!(kv.len(), 2);
        assert!(kv.contains(b"a/2") && !kv.contains(b"b") && !kv.contains(b"tmp"));
        assert_eq!(kv.get(b"b"), None);
        assert_eq!(kv.iter_prefix(b"a/").count(), 2);
        assert_eq!(kv.iter_prefix(b"b").count(), 0);
        assert_eq!((kv.generation(), kv.sequence()), (0, 2));
        assert_eq!(kv.live_bytes, 12);
    }

    #[test]
    fn limits_are_errors_and_leave_memory_unchanged() {
        let tmp = TempDir::new("limits");
        let mut kv = open(&tmp.0);
        put_all(&mut kv, &[(b"k", b"v")]);
        let before = (dump(&kv), kv.sequence(), kv.log_len);

        let mut b = Batch::new();
        b.put(b"ok".to_vec(), b"v".to_vec())
            .put(vec![0u8; MAX_KEY_LEN + 1], b"v".to_vec());
        assert!(matches!(kv.commit(b), Err(KvError::KeyTooLong { len }) if len == MAX_KEY_LEN + 1));
        let mut b = Batch::new();
        b.delete(b"k".to_vec())
            .put(b"big".to_vec(), vec![0u8; MAX_VALUE_LEN + 1]);
        assert!(matches!(kv.commit(b), Err(KvError::ValueTooLong { .. })));
        assert_eq!((dump(&kv), kv.sequence(), kv.log_len), before);

        // Largest key and value are fine.
        let mut b = Batch::new();
        b.put(vec![7u8; MAX_KEY_LEN], vec![1u8; MAX_VALUE_LEN]);
        kv.commit(b).unwrap();
        drop(kv);
        let kv = open(&tmp.0);
        assert_eq!(
            kv.get(&[7u8; MAX_KEY_LEN]).map(<[u8]>::len),
            Some(MAX_VALUE_LEN)
        );
    }

    #[test]
    fn debug_does_not_print_values() {
        let tmp = TempDir::new("debug");
        let mut kv = open(&tmp.0);
        let mut b = Batch::new();
        b.put(b"key".to_vec(), b"SECRETVALUE".to_vec());
        let batch_debug = format!("{b:?}");
        kv.commit(b).unwrap();
        let kv_debug = format!("{kv:?}");
        for d in [batch_debug, kv_debug] {
            assert!(!d.contains("SECRETVALUE"), "{d}");
            assert!(!d.contains("83, 69, 67"), "{d}");
        }
    }

    #[test]
    fn torn_tail_recovers_exactly_the_acknowledged_batches() {
        let tmp = TempDir::new("torn");
        let base = tmp.join("base");
        let mut kv = open(&base);
        put_all(&mut kv, &[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]);
        let after_a = dump(&kv);
        let end_a = kv.log_len;
        let mut b = Batch::new();
        b.put(b"a".to_vec(), b"one".to_vec())
            .delete(b"b".to_vec())
            .put(b"d".to_vec(), b"4".to_vec())
            .put(b"e".to_vec(), vec![5u8; 100]);
        kv.commit(b).unwrap();
        let after_b = dump(&kv);
        let end_b = kv.log_len;
        assert_eq!(end_b, fs::metadata(log_of(&base, 0)).unwrap().len());
        drop(kv);

        for cut in end_a..=end_b {
            let dir = tmp.join(&format!("cut-{cut}"));
            copy_dir(&base, &dir);
            let f = OpenOptions::new()
                .write(true)
                .open(log_of(&dir, 0))
                .unwrap();
            f.set_len(cut).unwrap();
            drop(f);
            let mut kv = open(&dir);
            let (expected, seq) = if cut == end_b {
                (&after_b, 2)
            } else {
                (&after_a, 1)
            };
            assert_eq!(&dump(&kv), expected, "cut at {cut}");
            assert_eq!(kv.sequence(), seq);
            let len = if cut == end_b { end_b } else { end_a };
            assert_eq!(fs::metadata(log_of(&dir, 0)).unwrap().len(), len);

            // The store keeps working and the new commit survives another reopen.
            put_all(&mut kv, &[(b"f", b"after crash")]);
            let expected_after = dump(&kv);
            drop(kv);
            let kv = open(&dir);
            assert_eq!(dump(&kv), expected_after);
            assert_eq!(kv.get(b"f"), Some(&b"after crash"[..]));
            drop(kv);
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// A store with one frame per batch: `batches` frames in generation 0.
    fn store_with_frames(dir: &Path, id: &[u8], meas: &[u8], batches: usize) -> Vec<Dump> {
        let mut kv = SealedKv::open(dir, ROOT, meas, id).unwrap();
        let mut states = vec![dump(&kv)];
        for i in 0..batches {
            let k = format!("key-{i}");
            let v = format!("value-{i}");
            put_all(&mut kv, &[(k.as_bytes(), v.as_bytes())]);
            states.push(dump(&kv));
        }
        states
    }

    #[test]
    fn tampered_middle_frames_are_reported() {
        let tmp = TempDir::new("tamper");
        let base = tmp.join("base");
        store_with_frames(&base, ID, MEAS, 4);
        let log = fs::read(log_of(&base, 0)).unwrap();
        let frames = split_frames(&log);
        assert_eq!(frames.len(), 4);
        let write = |name: &str, frames: &[&Vec<u8>]| {
            let dir = tmp.join(name);
            copy_dir(&base, &dir);
            fs::write(
                log_of(&dir, 0),
                frames
                    .iter()
                    .flat_map(|f| f.iter().copied())
                    .collect::<Vec<u8>>(),
            )
            .unwrap();
            dir
        };
        let [f0, f1, f2, f3] = [&frames[0], &frames[1], &frames[2], &frames[3]];

        // A flipped byte inside a middle frame.
        let mut flipped = f1.clone();
        flipped[20] ^= 0x40;
        let dir = write("flip", &[f0, &flipped, f2, f3]);
        assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);
        // Nothing was truncated or deleted on failure.
        assert_eq!(fs::read(log_of(&dir, 0)).unwrap().len(), log.len());

        // Swapped frames.
        let dir = write("swap", &[f0, f2, f1, f3]);
        assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);
        let dir = write("swap-first", &[f1, f0, f2, f3]);
        assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 0);

        // A dropped middle frame.
        let dir = write("drop", &[f0, f2, f3]);
        assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);

        // A duplicated frame in the middle.
        let dir = write("dup", &[f0, f1, f1, f2]);
        assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 2);
    }

    #[test]
    fn oversized_length_prefix_is_corrupt_unless_torn_tail() {
        let tmp = TempDir::new("oversize");
        let states = store_with_frames(&tmp.0, ID, MEAS, 1);
        let path = log_of(&tmp.0, 0);
        let good = fs::metadata(&path).unwrap().len();
        let huge = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();

        // At the tail and running past the end of the file: a torn length prefix.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&huge).unwrap();
        f.write_all(b"short").unwrap();
        drop(f);
        let kv = open(&tmp.0);
        assert_eq!(dump(&kv), states[1]);
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
        drop(kv);

        // Followed by more bytes than it claims (a sparse file): corruption.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&huge).unwrap();
        f.set_len(good + 4 + MAX_FRAME_LEN as u64 + 100).unwrap();
        drop(f);
        assert_corrupt_frame(SealedKv::open(&tmp.0, ROOT, MEAS, ID), 1);
    }

    /// Puts `foreign` (a frame with sequence number 1 or 3 in its own log) into the log of the
    /// 3-frame store in `dir` and checks it is refused or cut off, never applied.
    fn check_foreign_frames(
        tmp: &TempDir,
        name: &str,
        target: &Path,
        generation: u64,
        foreign: &[Vec<u8>],
    ) {
        let log = fs::read(log_of(target, generation)).unwrap();
        let frames = split_frames(&log);
        assert_eq!(frames.len(), 3);
        let expected = dump(&open(target));

        // In the middle, at the right sequence number: corruption.
        let dir = tmp.join(&format!("{name}-middle"));
        copy_dir(target, &dir);
        let middle = [&frames[0], &foreign[1], &frames[2]];
        fs::write(
            log_of(&dir, generation),
            middle.map(|f| f.as_slice()).concat(),
        )
        .unwrap();
        assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);

        // Appended at the right sequence number: cut off as a torn tail, never applied.
        let dir = tmp.join(&format!("{name}-tail"));
        copy_dir(target, &dir);
        let mut tail = log.clone();
        tail.extend_from_slice(&foreign[3]);
        fs::write(log_of(&dir, generation), &tail).unwrap();
        let kv = open(&dir);
        assert_eq!(dump(&kv), expected);
        assert_eq!(kv.sequence(), 3);
        assert_eq!(fs::read(log_of(&dir, generation)).unwrap(), log);
    }

    #[test]
    fn frames_from_other_stores_or_generations_are_refused() {
        let tmp = TempDir::new("foreign");
        let target = tmp.join("target");
        store_with_frames(&target, ID, MEAS, 3);

        // Another identity and another measurement, same sealing root.
        for (name, id, meas) in [
            ("identity", &b"identity B"[..], MEAS),
            ("measurement", ID, &b"measurement B"[..]),
        ] {
            let other = tmp.join(name);
            store_with_frames(&other, id, meas, 4);
            let frames = split_frames(&fs::read(log_of(&other, 0)).unwrap());
            check_foreign_frames(&tmp, name, &target, 0, &frames);
        }

        // Another generation of the same store.
        let gens = tmp.join("generations");
        store_with_frames(&gens, ID, MEAS, 4);
        let old = split_frames(&fs::read(log_of(&gens, 0)).unwrap());
        let mut kv = open(&gens);
        kv.compact().unwrap();
        assert_eq!(kv.sequence(), 1);
        put_all(&mut kv, &[(b"x", b"1")]);
        put_all(&mut kv, &[(b"y", b"2")]);
        drop(kv);
        check_foreign_frames(&tmp, "generation", &gens, 1, &old);
    }

    #[test]
    fn manifest_is_bound_to_identity_measurement_and_root() {
        let tmp = TempDir::new("manifest");
        let a = tmp.join("a");
        let b = tmp.join("b");
        store_with_frames(&a, ID, MEAS, 1);
        store_with_frames(&b, b"identity B", MEAS, 1);
        let corrupt = |r: Result<SealedKv, KvError>| matches!(r, Err(KvError::Corrupt { .. }));

        assert!(corrupt(SealedKv::open(&a, ROOT, MEAS, b"identity B")));
        assert!(corrupt(SealedKv::open(&a, ROOT, b"measurement B", ID)));
        assert!(corrupt(SealedKv::open(&a, b"other root", MEAS, ID)));

        // B's manifest in A's directory.
        fs::copy(b.join(MANIFEST), a.join(MANIFEST)).unwrap();
        assert!(corrupt(SealedKv::open(&a, ROOT, MEAS, ID)));
        assert_eq!(file_names(&a), ["kv-0.log", "kv-manifest"]);

        // A missing manifest beside a non-empty log is refused, not reset.
        fs::remove_file(a.join(MANIFEST)).unwrap();
        assert!(corrupt(SealedKv::open(&a, ROOT, MEAS, ID)));
        // A manifest naming a missing log is refused.
        fs::copy(b.join(MANIFEST), a.join(MANIFEST)).unwrap();
        fs::remove_file(log_of(&b, 0)).unwrap();
        assert!(corrupt(SealedKv::open(&b, ROOT, MEAS, b"identity B")));
        // A crash while creating the store (empty log, no manifest) starts afresh.
        let c = tmp.join("c");
        fs::create_dir_all(&c).unwrap();
        fs::write(log_of(&c, 0), b"").unwrap();
        fs::write(c.join(MANIFEST_TMP), b"partial").unwrap();
        assert!(open(&c).is_empty());
        assert_eq!(file_names(&c), ["kv-0.log", "kv-manifest"]);
    }

    #[test]
    fn compaction_keeps_contents_and_erases_deleted_values() {
        let tmp = TempDir::new("compact");
        let mut kv = open(&tmp.0);
        let mut secret = b"ROOT-KEY-SECRET-".to_vec();
        secret.extend((0..16).map(|_| b'a' + rand::rng().random_range(0..26u8)));
        let values: Vec<Vec<u8>> = (0..20)
            .map(|i| format!("visible-value-{i:04}").into_bytes())
            .collect();
        let all_plain: Vec<&[u8]> = values
            .iter()
            .map(Vec::as_slice)
            .chain([secret.as_slice()])
            .collect();
        let no_plaintext_on_disk = || {
            for name in file_names(&tmp.0) {
                let bytes = fs::read(tmp.join(&name)).unwrap();
                for p in &all_plain {
                    assert!(!contains(&bytes, p), "plaintext in {name}");
                }
            }
        };

        let mut b = Batch::new();
        b.put(b"keys/root".to_vec(), secret.clone());
        for (i, v) in values.iter().enumerate() {
            b.put(format!("data/{i:04}").into_bytes(), v.clone());
        }
        kv.commit(b).unwrap();
        no_plaintext_on_disk();
        let mut b = Batch::new();
        b.delete(b"keys/root".to_vec())
            .put(b"data/0000".to_vec(), b"changed".to_vec());
        kv.commit(b).unwrap();
        no_plaintext_on_disk();
        assert!(!kv.contains(b"keys/root"));
        // Before compaction the deleted secret is still in the (sealed) log.
        assert!(decrypted_frames(&kv).iter().any(|f| contains(f, &secret)));

        let (root, data_root, contents) = (kv.root(), kv.prefix_root(b"data/"), dump(&kv));
        kv.roots.lock().unwrap().clear();
        kv.compact().unwrap();
        no_plaintext_on_disk();
        assert_eq!(kv.generation(), 1);
        assert_eq!(kv.sequence(), 1);
        assert_eq!(file_names(&tmp.0), ["kv-1.log", "kv-manifest"]);
        assert!(!decrypted_frames(&kv).iter().any(|f| contains(f, &secret)));
        assert!(
            decrypted_frames(&kv)
                .iter()
                .any(|f| contains(f, &values[5]))
        );
        assert_eq!(
            (kv.root(), kv.prefix_root(b"data/"), dump(&kv)),
            (root, data_root, contents.clone())
        );

        // Commits after compaction go to the new generation and everything survives reopen.
        put_all(&mut kv, &[(b"data/new", b"fresh")]);
        drop(kv);
        let mut kv = open(&tmp.0);
        assert_eq!((kv.generation(), kv.sequence()), (1, 2));
        assert_eq!(kv.get(b"data/new"), Some(&b"fresh"[..]));
        kv.compact().unwrap();
        kv.compact().unwrap();
        assert_eq!(file_names(&tmp.0), ["kv-3.log", "kv-manifest"]);
        drop(kv);
        let kv = open(&tmp.0);
        let mut expected = contents;
        expected.push((b"data/new".to_vec(), b"fresh".to_vec()));
        expected.sort();
        assert_eq!(dump(&kv), expected);
        no_plaintext_on_disk();

        // An empty store compacts to an empty log.
        let empty = TempDir::new("compact-empty");
        let mut kv = open(&empty.0);
        kv.compact().unwrap();
        assert_eq!((kv.generation(), kv.sequence(), kv.log_len), (1, 0, 0));
        drop(kv);
        assert!(open(&empty.0).is_empty());
    }

    #[test]
    fn crash_mid_compaction_recovers_and_removes_leftovers() {
        let tmp = TempDir::new("crash-compact");
        let orig = tmp.join("orig");
        store_with_frames(&orig, ID, MEAS, 3);
        let expected = dump(&open(&orig));

        // Crash before the manifest switch: a new-generation log (whole or partial) and a
        // temporary manifest are left behind.
        let compacted = tmp.join("compacted");
        copy_dir(&orig, &compacted);
        let mut kv = open(&compacted);
        kv.compact().unwrap();
        drop(kv);
        for partial in [false, true] {
            let dir = tmp.join(&format!("before-switch-{partial}"));
            copy_dir(&orig, &dir);
            let mut new_log = fs::read(log_of(&compacted, 1)).unwrap();
            if partial {
                new_log.truncate(new_log.len() / 2);
            }
            fs::write(log_of(&dir, 1), new_log).unwrap();
            fs::write(dir.join(MANIFEST_TMP), b"half a manifest").unwrap();
            let mut kv = open(&dir);
            assert_eq!(kv.generation(), 0);
            assert_eq!(dump(&kv), expected);
            assert_eq!(file_names(&dir), ["kv-0.log", "kv-manifest"]);
            // Compacting again reuses generation 1 cleanly.
            kv.compact().unwrap();
            drop(kv);
            let kv = open(&dir);
            assert_eq!((kv.generation(), dump(&kv)), (1, expected.clone()));
        }

        // Crash after the switch but before the old log was deleted.
        let dir = tmp.join("after-switch");
        copy_dir(&compacted, &dir);
        fs::copy(log_of(&orig, 0), log_of(&dir, 0)).unwrap();
        let kv = open(&dir);
        assert_eq!(kv.generation(), 1);
        assert_eq!(dump(&kv), expected);
        assert_eq!(file_names(&dir), ["kv-1.log", "kv-manifest"]);

        // Unrelated files in the directory are left alone.
        fs::write(dir.join("other.sealed"), b"x").unwrap();
        drop(kv);
        let _kv = open(&dir);
        assert_eq!(
            file_names(&dir),
            ["kv-1.log", "kv-manifest", "other.sealed"]
        );
    }

    #[test]
    fn roots_are_canonical_and_scoped() {
        let tmp = TempDir::new("roots");
        let mut a = open(&tmp.join("a"));
        let mut b = open(&tmp.join("b"));
        assert_eq!(a.root(), merkle::empty_root());
        assert_eq!(a.prefix_root(b"x"), merkle::empty_root());

        let pairs: [(&[u8], &[u8]); 5] = [
            (b"acct/1", b"10"),
            (b"acct/2", b"20"),
            (b"code/1", b"wasm"),
            (b"acct/3", b"30"),
            (b"z", b""),
        ];
        put_all(&mut a, &pairs);
        for p in pairs.iter().rev() {
            put_all(&mut b, &[*p]);
        }
        assert_eq!(a.root(), b.root());
        assert_eq!(a.prefix_root(b"acct/"), b.prefix_root(b"acct/"));
        assert_ne!(a.root(), merkle::empty_root());

        // The root is merkle::root over `u32 key length ‖ key ‖ value`, sorted by key.
        let leaves = |kv: &SealedKv, prefix: &[u8]| -> Vec<Vec<u8>> {
            kv.iter_prefix(prefix)
                .map(|(k, v)| [&(k.len() as u32).to_be_bytes()[..], k, v].concat())
                .collect()
        };
        assert_eq!(a.root(), merkle::root(&leaves(&a, b"")));
        assert_eq!(a.prefix_root(b"acct/"), merkle::root(&leaves(&a, b"acct/")));
        assert_eq!(leaves(&a, b"acct/").len(), 3);

        // Any value change changes the root and the roots of prefixes covering it, only those.
        let (root, acct, code) = (a.root(), a.prefix_root(b"acct/"), a.prefix_root(b"code/"));
        put_all(&mut a, &[(b"acct/2", b"21")]);
        assert_ne!(a.root(), root);
        assert_ne!(a.prefix_root(b"acct/"), acct);
        assert_eq!(a.prefix_root(b"code/"), code);
        put_all(&mut a, &[(b"acct/2", b"20")]);
        assert_eq!((a.root(), a.prefix_root(b"acct/")), (root, acct));
        // A commit invalidates only the cached roots of prefixes it touches.
        put_all(&mut a, &[(b"code/1", b"wasm2")]);
        {
            let cache = a.roots.lock().unwrap();
            assert!(cache.contains_key(&b"acct/"[..]));
            assert!(!cache.contains_key(&b"code/"[..]) && !cache.contains_key(&b""[..]));
        }
        assert_ne!(a.prefix_root(b"code/"), code);
        assert_eq!(a.prefix_root(b"acct/"), acct);

        // Cached roots match a freshly computed one, also after reopen.
        let cached = (a.root(), a.prefix_root(b"acct/"));
        a.roots.lock().unwrap().clear();
        assert_eq!((a.root(), a.prefix_root(b"acct/")), cached);
        drop(a);
        let a = open(&tmp.join("a"));
        assert_eq!((a.root(), a.prefix_root(b"acct/")), cached);

        // Deleting back to empty gives the empty root; key/value boundaries are unambiguous.
        let mut c = open(&tmp.join("c"));
        put_all(&mut c, &[(b"ab", b"c")]);
        let mut d = open(&tmp.join("d"));
        put_all(&mut d, &[(b"a", b"bc")]);
        assert_ne!(c.root(), d.root());
        let mut del = Batch::new();
        del.delete(b"ab".to_vec());
        c.commit(del).unwrap();
        assert_eq!(c.root(), merkle::empty_root());
    }

    #[test]
    fn scale_smoke_and_bounded_log_growth() {
        let tmp = TempDir::new("scale");
        let mut kv = open(&tmp.0);
        let mut rng = rand::rng();
        let mut spot = Vec::new();
        let mut logical = 0u64;
        let dir_size = || -> u64 {
            file_names(&tmp.0)
                .iter()
                .map(|n| fs::metadata(tmp.join(n)).unwrap().len())
                .sum()
        };
        for pass in 0..3u32 {
            for batch in 0..50u32 {
                let mut b = Batch::new();
                for j in 0..1000u32 {
                    let i = batch * 1000 + j;
                    let mut v = vec![0u8; 390 + (i % 20) as usize];
                    rng.fill_bytes(&mut v);
                    if i % 997 == 0 {
                        spot.retain(|(k, _): &(u32, Vec<u8>)| *k != i);
                        spot.push((i, v.clone()));
                    }
                    b.put(format!("acct/{i:08}").into_bytes(), v);
                }
                let before = kv.log_len;
                let generation = kv.generation();
                kv.commit(b).unwrap();
                if kv.generation() == generation {
                    logical += kv.log_len - before;
                }
                // After every commit the log is within the compaction threshold.
                assert!(kv.log_len <= COMPACT_MIN_LOG.max(2 * kv.live_bytes));
                assert!(dir_size() <= kv.log_len + 1024);
            }
            if pass == 0 {
                // Insert only: about one byte written per live byte.
                assert!(
                    kv.bytes_written < 3 * kv.live_bytes,
                    "{} vs {}",
                    kv.bytes_written,
                    kv.live_bytes
                );
                assert_eq!(kv.generation(), 0);
            }
        }
        assert_eq!(kv.len(), 50_000);
        assert!(kv.live_bytes > 19_000_000);
        assert!(
            kv.generation() >= 1,
            "overwrites must have triggered compaction"
        );
        // Compaction at most doubles what commits wrote.
        assert!(
            kv.bytes_written < 3 * logical,
            "{} vs {logical}",
            kv.bytes_written
        );
        let root = kv.root();
        drop(kv);

        let kv = open(&tmp.0);
        assert_eq!(kv.len(), 50_000);
        for (i, v) in &spot {
            assert_eq!(
                kv.get(format!("acct/{i:08}").as_bytes()),
                Some(v.as_slice())
            );
        }
        assert_eq!(kv.root(), root);
        assert_eq!(file_names(&tmp.0).len(), 2);
    }

    fn garbage() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..400),
            // Plausible length prefixes followed by noise.
            (0u32..200, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(len, rest)| [
                &len.to_be_bytes()[..],
                &rest
            ]
            .concat()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn garbage_files_never_panic(
            manifest in proptest::option::of(garbage()),
            logs in proptest::collection::vec((0u64..3, garbage()), 0..3),
        ) {
            let tmp = TempDir::new("garbage");
            fs::create_dir_all(&tmp.0).unwrap();
            if let Some(m) = &manifest {
                fs::write(tmp.join(MANIFEST), m).unwrap();
            }
            for (g, bytes) in &logs {
                fs::write(log_of(&tmp.0, *g), bytes).unwrap();
            }
            // Nothing here is authentic, so at best the store opens empty.
            if let Ok(kv) = SealedKv::open(&tmp.0, ROOT, MEAS, ID) {
                prop_assert!(kv.is_empty());
            }
        }

        #[test]
        fn damaged_logs_open_to_a_committed_state_or_fail(
            offset in 0usize..4096,
            damage in garbage(),
            mode in 0u8..3,
        ) {
            let tmp = TempDir::new("damage");
            let states = store_with_frames(&tmp.0, ID, MEAS, 3);
            let path = log_of(&tmp.0, 0);
            let mut log = fs::read(&path).unwrap();
            let at = offset % (log.len() + 1);
            match mode {
                0 => log.extend_from_slice(&damage),
                1 => log.truncate(at),
                _ => {
                    for (i, b) in damage.iter().enumerate() {
                        if let Some(x) = log.get_mut(at + i) {
                            *x = *b;
                        }
                    }
                }
            }
            fs::write(&path, &log).unwrap();
            match SealedKv::open(&tmp.0, ROOT, MEAS, ID) {
                Ok(kv) => prop_assert!(states.contains(&dump(&kv))),
                Err(e) => {
                    prop_assert!(mode != 1, "a truncated log must open: {e}");
                    prop_assert!(matches!(e, KvError::CorruptFrame { .. }), "{e}");
                }
            }
        }
    }
}
