//! Bounded strings and byte strings on the wire (decoders take a maximum), and byte vectors as
//! `0x` hex in JSON.

use bytes::BufMut;
use commonware_codec::{Buf, DecodeExt as _, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

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

/// Account ids decoded lately, by their bytes. Decoding one checks it is a point on the curve
/// (a field square root, about as costly as a third of a signature check), and the chain
/// decodes the same few ids over and over: a transaction's sender in the mempool, in the
/// proposal and in execution, a contract's developer and miner with every command to it.
static ACCOUNTS: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<[u8; 32], crate::AccountId>>,
> = std::sync::OnceLock::new();
/// Ids remembered at once; past it the cache starts over, so a flood of distinct ids costs
/// what decoding did before and no more memory.
const ACCOUNTS_CACHED: usize = 16_384;

/// Reads an account id, as `AccountId::read` does (the same bytes give the same id or the same
/// error), from the cache when it was decoded lately.
pub(crate) fn read_account(buf: &mut impl Buf) -> Result<crate::AccountId, Error> {
    let raw = <[u8; 32]>::read(buf)?;
    let cache = ACCOUNTS.get_or_init(Default::default);
    if let Some(id) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&raw) {
        return Ok(id.clone());
    }
    let id = crate::AccountId::decode(bytes::Bytes::copy_from_slice(&raw))?;
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= ACCOUNTS_CACHED {
        cache.clear();
    }
    cache.insert(raw, id.clone());
    Ok(id)
}

#[cfg(test)]
mod account_tests {
    use commonware_cryptography::Signer as _;

    use super::*;

    fn decode_plain(raw: [u8; 32]) -> Result<crate::AccountId, Error> {
        crate::AccountId::decode(bytes::Bytes::copy_from_slice(&raw))
    }

    #[test]
    fn a_cached_account_reads_as_decoding_does() {
        for seed in 0..40 {
            let id = crate::PrivateKey::from_seed(seed).public_key();
            let raw: [u8; 32] = id.as_ref().try_into().unwrap();
            for _ in 0..2 {
                assert_eq!(
                    read_account(&mut bytes::Bytes::copy_from_slice(&raw)).unwrap(),
                    id
                );
            }
        }
        // Bytes that are no point fail every time, never from a cache.
        let bad = (0u8..=255)
            .map(|b| [b; 32])
            .find(|raw| decode_plain(*raw).is_err())
            .expect("some constant bytes are no point");
        for _ in 0..2 {
            assert!(read_account(&mut bytes::Bytes::copy_from_slice(&bad)).is_err());
        }
        // Too few bytes.
        assert!(read_account(&mut bytes::Bytes::from_static(&[1u8; 31])).is_err());
    }
}
