//! Bounded strings and byte strings on the wire (decoders take a maximum), and byte vectors as
//! `0x` hex in JSON.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

/// Bounds for decoding registry types from untrusted bytes.
pub(crate) fn bytes_cfg(max: usize) -> (RangeCfg<usize>, ()) {
    (RangeCfg::new(0..=max), ())
}

pub(crate) fn read_string(buf: &mut impl Buf, max: usize) -> Result<String, Error> {
    let bytes = Vec::<u8>::read_cfg(buf, &bytes_cfg(max))?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("string", "not UTF-8"))
}

pub(crate) fn write_string(s: &str, buf: &mut impl BufMut) {
    s.as_bytes().to_vec().write(buf);
}

pub(crate) fn string_size(s: &str) -> usize {
    s.as_bytes().to_vec().encode_size()
}

pub(crate) fn write_strings(v: &[String], buf: &mut impl BufMut) {
    (v.len() as u32).write(buf);
    for s in v {
        write_string(s, buf);
    }
}

pub(crate) fn strings_size(v: &[String]) -> usize {
    4 + v.iter().map(|s| string_size(s)).sum::<usize>()
}

/// Reads at most `max_entries` strings of at most `max_len` bytes each.
pub(crate) fn read_strings(
    buf: &mut impl Buf,
    max_entries: usize,
    max_len: usize,
) -> Result<Vec<String>, Error> {
    let n = u32::read(buf)? as usize;
    if n > max_entries {
        return Err(Error::InvalidLength(n));
    }
    (0..n).map(|_| read_string(buf, max_len)).collect()
}

/// Serde of byte vectors as `0x` hex.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::to_hex(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        crate::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
