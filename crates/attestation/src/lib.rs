//! Remote attestation evidence: what a pRuntime presents to prove its code and bind its
//! identity keys.
//!
//! Evidence is a TEE kind plus the raw quote. Every kind carries 64 bytes of report data chosen
//! by the enclave; Veil puts [report_data] there, which binds the worker's signing and ECDH
//! keys, the chain (genesis hash) and a recent block hash (freshness).
//!
//! Verification (DCAP via `dcap-qvl`, and the dev RA service's signature) is not implemented
//! yet; this crate defines the formats pRuntime produces.

pub mod dcap;
pub mod dev;

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use veil_primitives::{Digest, hash_parts};

/// Domain of the report data hash.
pub const REPORT_DATA_DOMAIN: &[u8] = b"_VEIL_ATTESTATION_REPORT_DATA";
/// Largest quote accepted from untrusted input.
pub const MAX_QUOTE_BYTES: usize = 64 * 1024;

/// Which TEE produced the evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeeKind {
    /// Simulated TEE. Insecure: for development only.
    Dev,
    /// Intel SGX with a DCAP quote.
    SgxDcap,
    /// Intel TDX with a DCAP quote.
    Tdx,
}

impl TeeKind {
    /// Whether evidence of this kind proves anything. Dev evidence does not.
    pub fn insecure(self) -> bool {
        matches!(self, Self::Dev)
    }
}

/// The report data a worker's evidence must carry.
pub fn report_data(
    signing_key: &[u8],
    ecdh_key: &[u8],
    genesis_hash: &Digest,
    block_hash: &Digest,
) -> [u8; 64] {
    let h = hash_parts(&[
        REPORT_DATA_DOMAIN,
        signing_key,
        ecdh_key,
        genesis_hash.as_ref(),
        block_hash.as_ref(),
    ]);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(h.as_ref());
    out
}

/// Evidence from a TEE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// TEE kind.
    pub kind: TeeKind,
    /// The quote, in the kind's native format ([DevQuote] encoding for `Dev`).
    pub quote: Vec<u8>,
}

/// The dev TEE's simulated quote: the measurement (hash of the pRuntime binary) and the report
/// data, unsigned. The dev RA service signs it; nothing else vouches for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevQuote {
    /// SHA-256 of the pRuntime binary.
    pub measurement: [u8; 32],
    /// Report data.
    pub report_data: [u8; 64],
}

impl Write for DevQuote {
    fn write(&self, buf: &mut impl BufMut) {
        self.measurement.write(buf);
        self.report_data.write(buf);
    }
}

impl EncodeSize for DevQuote {
    fn encode_size(&self) -> usize {
        96
    }
}

impl Read for DevQuote {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            measurement: <[u8; 32]>::read(buf)?,
            report_data: <[u8; 64]>::read(buf)?,
        })
    }
}

impl Write for Evidence {
    fn write(&self, buf: &mut impl BufMut) {
        let tag: u8 = match self.kind {
            TeeKind::Dev => 0,
            TeeKind::SgxDcap => 1,
            TeeKind::Tdx => 2,
        };
        tag.write(buf);
        self.quote.write(buf);
    }
}

impl EncodeSize for Evidence {
    fn encode_size(&self) -> usize {
        1 + self.quote.encode_size()
    }
}

impl Read for Evidence {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let kind = match u8::read(buf)? {
            0 => TeeKind::Dev,
            1 => TeeKind::SgxDcap,
            2 => TeeKind::Tdx,
            t => return Err(Error::InvalidEnum(t)),
        };
        let quote = Vec::<u8>::read_cfg(buf, &(RangeCfg::new(0..=MAX_QUOTE_BYTES), ()))?;
        Ok(Self { kind, quote })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};
    use veil_primitives::hash;

    #[test]
    fn report_data_binds_every_input() {
        let base = report_data(b"s", b"e", &hash(b"g"), &hash(b"b"));
        assert_ne!(base, report_data(b"S", b"e", &hash(b"g"), &hash(b"b")));
        assert_ne!(base, report_data(b"s", b"E", &hash(b"g"), &hash(b"b")));
        assert_ne!(base, report_data(b"s", b"e", &hash(b"G"), &hash(b"b")));
        assert_ne!(base, report_data(b"s", b"e", &hash(b"g"), &hash(b"B")));
    }

    #[test]
    fn evidence_round_trips_and_rejects_junk() {
        let e = Evidence {
            kind: TeeKind::Dev,
            quote: DevQuote {
                measurement: [1; 32],
                report_data: [2; 64],
            }
            .encode()
            .to_vec(),
        };
        assert_eq!(Evidence::decode(e.encode()).unwrap(), e);
        assert!(Evidence::decode(bytes::Bytes::from_static(&[9, 0])).is_err());
        assert!(Evidence::decode(bytes::Bytes::from_static(&[0])).is_err());
    }
}
