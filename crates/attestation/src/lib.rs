//! Remote attestation evidence: what a pRuntime presents to prove its code and bind its
//! identity keys.
//!
//! Evidence is a TEE kind plus the raw quote. Every kind carries 64 bytes of report data chosen
//! by the enclave; Veil puts [report_data] there, which binds the worker's signing and ECDH
//! keys, the chain (genesis hash) and a recent block hash (freshness).
//!
//! `verify` checks evidence for the chain's registry: the dev RA service's signature
//! ([dev]) or a DCAP quote (`dcap`), at the block time. It sits behind the `dcap` feature, which
//! the chain (and the host, for collateral) enables and pRuntime does not: the measured enclave
//! links no quote verifier, x509 or TLS code it never calls.
//!
//! Feature `test-utils` adds `testing`, a test PKI issuing DCAP quotes and collateral.

#[cfg(feature = "dcap")]
pub mod dcap;
pub mod dev;
#[cfg(feature = "test-utils")]
pub mod testing;

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
#[cfg(feature = "dcap")]
use veil_primitives::AccountId;
use veil_primitives::{Digest, hash_parts};

/// Domain of the report data hash.
pub const REPORT_DATA_DOMAIN: &[u8] = veil_primitives::namespace::REPORT_DATA;
/// Largest quote accepted from untrusted input.
pub const MAX_QUOTE_BYTES: usize = 64 * 1024;

pub use veil_primitives::TeeKind;

/// What the chain trusts to vouch for evidence, fixed at genesis.
#[cfg(feature = "dcap")]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrustAnchors<'a> {
    /// The dev RA service's key; `None` unless genesis allows insecure attestation.
    pub dev_key: Option<&'a AccountId>,
    /// DER root certificate for DCAP; `None` means Intel's production root.
    pub dcap_root: Option<&'a [u8]>,
}

/// What verified evidence says about the code that produced it.
#[cfg(feature = "dcap")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// TEE kind.
    pub kind: TeeKind,
    /// MRENCLAVE, MRTD, or the dev measurement.
    pub measurement: Vec<u8>,
    /// MRSIGNER (SGX only; empty otherwise).
    pub signer: Vec<u8>,
    /// ISVPRODID (SGX only).
    pub prod_id: u16,
    /// ISVSVN (SGX only).
    pub svn: u16,
    /// DCAP TCB status, or `dev`.
    pub tcb_status: String,
    /// Intel advisories that apply.
    pub advisory_ids: Vec<String>,
    /// Which of Intel's TCB evaluations judged the platform ([dcap::DcapReport::tcb_evaluation];
    /// 0 for dev evidence).
    pub tcb_evaluation: u32,
    /// Debug enclave or TD: the host can read its memory.
    pub debug: bool,
    /// The report data.
    pub report_data: [u8; 64],
}

/// Why evidence was not accepted.
#[cfg(feature = "dcap")]
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Bytes that do not decode as evidence.
    #[error("malformed evidence: {0}")]
    Malformed(String),
    /// Dev evidence on a chain whose genesis does not allow insecure attestation.
    #[error("dev (insecure) evidence is not accepted: genesis does not allow insecure attestation")]
    InsecureNotAllowed,
    /// The dev RA service's signature was refused.
    #[error("dev evidence: {0}")]
    Dev(#[from] dev::DevError),
    /// The DCAP quote was refused.
    #[error(transparent)]
    Dcap(#[from] dcap::DcapError),
    /// The quote is of another TEE than the evidence claims.
    #[error("evidence claims {claimed:?} but the quote is {actual:?}")]
    KindMismatch {
        /// Kind in the evidence.
        claimed: TeeKind,
        /// Kind of the quote.
        actual: TeeKind,
    },
}

/// Verifies encoded evidence at `now_secs` (the block time) against the chain's trust anchors.
///
/// This checks only that a trusted party vouches for the quote; whether its code, TCB and report
/// data are acceptable is the registry policy's decision.
#[cfg(feature = "dcap")]
pub fn verify(
    evidence: &[u8],
    collateral: &[u8],
    anchors: TrustAnchors<'_>,
    now_secs: u64,
) -> Result<Verified, VerifyError> {
    use commonware_codec::DecodeExt as _;
    let evidence =
        Evidence::decode(evidence.to_vec()).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    match evidence.kind {
        TeeKind::Dev => {
            let key = anchors.dev_key.ok_or(VerifyError::InsecureNotAllowed)?;
            let quote = dev::verify(&evidence.quote, key)?;
            Ok(Verified {
                kind: TeeKind::Dev,
                measurement: quote.measurement.to_vec(),
                signer: Vec::new(),
                prod_id: 0,
                svn: 0,
                tcb_status: "dev".into(),
                advisory_ids: Vec::new(),
                tcb_evaluation: 0,
                debug: false,
                report_data: quote.report_data,
            })
        }
        claimed @ (TeeKind::SgxDcap | TeeKind::Tdx) => {
            let collateral = dcap::parse_collateral(collateral)?;
            let report = match anchors.dcap_root {
                Some(root) => {
                    dcap::verify_with_root(root.to_vec(), &evidence.quote, &collateral, now_secs)?
                }
                None => dcap::verify(&evidence.quote, &collateral, now_secs)?,
            };
            let actual = if report.tdx {
                TeeKind::Tdx
            } else {
                TeeKind::SgxDcap
            };
            if actual != claimed {
                return Err(VerifyError::KindMismatch { claimed, actual });
            }
            Ok(Verified {
                kind: actual,
                measurement: report.measurement,
                signer: report.signer,
                prod_id: report.prod_id,
                svn: report.svn,
                tcb_status: report.tcb_status,
                advisory_ids: report.advisory_ids,
                tcb_evaluation: report.tcb_evaluation,
                debug: report.debug,
                report_data: report.report_data,
            })
        }
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

/// The report data the genesis node's evidence must carry: its identity and X25519 keys, the
/// check of the root key it created, and the chain (id and validators' group key) it is bound
/// to, so the evidence cannot be reused for another key or another chain.
pub fn genesis_report_data(
    chain_id: u64,
    group_key: &[u8],
    genesis_key: &[u8],
    ecdh_key: &[u8],
    key_check: &Digest,
) -> [u8; 64] {
    let h = hash_parts(&[
        veil_primitives::namespace::GENESIS_REPORT_DATA,
        &chain_id.to_be_bytes(),
        veil_primitives::hash(group_key).as_ref(),
        genesis_key,
        ecdh_key,
        key_check.as_ref(),
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
        self.kind.write(buf);
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
        let kind = TeeKind::read(buf)?;
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
