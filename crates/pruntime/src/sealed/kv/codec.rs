//! The store's byte formats: a batch's plaintext (ops with explicit lengths and a tag), log
//! file names, and applying decoded ops to the in-memory map.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

/// Largest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 << 20;
/// Largest sealed frame (a committed batch), in bytes.
pub const MAX_FRAME_LEN: usize = 256 << 20;

/// Tag of a put.
pub(super) const TAG_PUT: u8 = 1;
/// Tag of a delete.
pub(super) const TAG_DELETE: u8 = 2;

/// One operation: a value to put, or `None` to delete.
pub(super) type Op = (Vec<u8>, Option<Zeroizing<Vec<u8>>>);

pub(super) fn log_name(generation: u64) -> String {
    format!("kv-{generation}.log")
}

/// The generation of a file named `kv-<generation>.log`.
pub(super) fn parse_log_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("kv-")?.strip_suffix(".log")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(super) fn len_u32(n: usize) -> [u8; 4] {
    // Keys, values and frames are checked against limits far below u32::MAX first.
    u32::try_from(n)
        .expect("lengths are bounded by the store's limits")
        .to_be_bytes()
}

/// Replaces `buf` by an empty buffer of at least `n` bytes' capacity without reallocating a
/// buffer that may hold secrets (the old one is wiped on drop).
pub(super) fn reserve_wiped(buf: &mut Zeroizing<Vec<u8>>, n: usize) {
    if buf.capacity() < n {
        *buf = Zeroizing::new(Vec::with_capacity(n));
    }
    buf.clear();
}

/// Encoded size of a batch.
pub(super) fn encoded_len<'a>(ops: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>) -> usize {
    ops.fold(4, |n, (k, v)| {
        n + 1 + 4 + k.len() + v.map_or(0, |v| 4 + v.len())
    })
}

/// The length a batch of `len` encoded bytes is padded to with zeros, so that its frame on
/// disk (length prefix, seal overhead and all) is 256 bytes, 1 KiB or a multiple of 4 KiB: the
/// host sees how much each commit writes, and a command that wrote a few entries and one that
/// failed must not differ by that.
pub(super) fn padded_len(len: usize) -> usize {
    let frame = 4 + veil_crypto::seal::OVERHEAD;
    let target = match len + frame {
        0..=256 => 256,
        257..=1024 => 1024,
        n => n.div_ceil(4096) * 4096,
    };
    target - frame
}

/// Encodes a batch (see the module doc), zero-padded to [padded_len], into a wiped-on-drop
/// buffer allocated once.
pub(super) fn encode<'a, I>(ops: I) -> Zeroizing<Vec<u8>>
where
    I: Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + Clone,
{
    let padded = padded_len(encoded_len(ops.clone()));
    let mut out = Zeroizing::new(Vec::with_capacity(padded));
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
    out.resize(padded, 0);
    out
}

/// Bounds-checked reader over a decrypted batch.
pub(super) struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("batch encoding is truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub(super) fn u32(&mut self) -> Result<usize, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

/// Decodes a batch, enforcing the key and value limits.
pub(super) fn decode(plaintext: &[u8]) -> Result<Vec<Op>, &'static str> {
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
    // Padding: zeros only (frames written before padding have none).
    if c.0.iter().any(|&b| b != 0) {
        return Err("trailing bytes after the batch");
    }
    Ok(ops)
}

/// Applies `ops` in order to `entries`, keeping `live_bytes` up to date.
pub(super) fn apply(
    entries: &mut BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
    live_bytes: &mut u64,
    ops: Vec<Op>,
) {
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
