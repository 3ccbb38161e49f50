//! The registration policy governance sets: which code may register (per TEE kind), which
//! platform TCB statuses and advisories are tolerated, and how long a registration lasts.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

use super::limits::{
    MAX_LABEL_BYTES, MAX_MEASUREMENT_BYTES, MAX_POLICY_ENTRIES, RECENT_BLOCK_HASHES,
};
use crate::{
    Digest, hash_parts,
    wire::{bytes_cfg, hex_bytes, read_strings, strings_size, write_strings},
};

/// Which TEE produced a worker's evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl Write for TeeKind {
    fn write(&self, buf: &mut impl BufMut) {
        let tag: u8 = match self {
            Self::Dev => 0,
            Self::SgxDcap => 1,
            Self::Tdx => 2,
        };
        tag.write(buf);
    }
}

impl EncodeSize for TeeKind {
    fn encode_size(&self) -> usize {
        1
    }
}

impl Read for TeeKind {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Dev),
            1 => Ok(Self::SgxDcap),
            2 => Ok(Self::Tdx),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

/// An allowlisted measurement. Each entry admits one TEE kind only, so a dev quote (which
/// claims whatever measurement it likes) can never match an enclave's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measurement {
    /// Exactly this SGX enclave (MRENCLAVE, hex).
    Sgx(#[serde(with = "hex_bytes")] Vec<u8>),
    /// Exactly this TDX trust domain: the digest [tdx_measurement] of its MRTD, configuration
    /// and runtime measurement registers (hex).
    Tdx(#[serde(with = "hex_bytes")] Vec<u8>),
    /// Any SGX enclave of this product signed by this MRSIGNER, at least at this ISVSVN.
    SgxSigner {
        /// MRSIGNER, hex.
        #[serde(with = "hex_bytes")]
        mr_signer: Vec<u8>,
        /// ISVPRODID: which of the signer's enclaves.
        prod_id: u16,
        /// Lowest accepted ISVSVN.
        min_svn: u16,
    },
    /// A dev pRuntime build (SHA-256 of the binary, hex). Dev evidence proves nothing; it is
    /// accepted only where genesis allows insecure attestation.
    Dev(#[serde(with = "hex_bytes")] Vec<u8>),
}

/// The code identity a verified quote reports, as the allowlist sees it.
#[derive(Clone, Copy, Debug)]
pub struct CodeIdentity<'a> {
    /// TEE kind.
    pub tee: TeeKind,
    /// MRENCLAVE, the TDX digest, or the dev binary hash.
    pub measurement: &'a [u8],
    /// MRSIGNER (SGX only; empty otherwise).
    pub signer: &'a [u8],
    /// ISVPRODID (SGX only).
    pub prod_id: u16,
    /// ISVSVN (SGX only).
    pub svn: u16,
}

impl Measurement {
    /// Whether this entry admits the code.
    pub fn allows(&self, code: &CodeIdentity<'_>) -> bool {
        match (self, code.tee) {
            (Self::Sgx(m), TeeKind::SgxDcap)
            | (Self::Tdx(m), TeeKind::Tdx)
            | (Self::Dev(m), TeeKind::Dev) => m == code.measurement,
            (
                Self::SgxSigner {
                    mr_signer,
                    prod_id,
                    min_svn,
                },
                TeeKind::SgxDcap,
            ) => mr_signer == code.signer && *prod_id == code.prod_id && code.svn >= *min_svn,
            _ => false,
        }
    }
}

/// Domain of the TDX measurement digest.
pub const TDX_MEASUREMENT_DOMAIN: &[u8] = crate::namespace::TDX_MEASUREMENT;

/// The measurement Veil allowlists for a TDX trust domain: a digest of MRTD (firmware),
/// MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0..3 (boot chain, kernel, command line and
/// application), so that allowlisting a TD pins everything that runs in it, not only its
/// firmware.
pub fn tdx_measurement(registers: &[&[u8]; 8]) -> Digest {
    let mut parts: Vec<&[u8]> = vec![TDX_MEASUREMENT_DOMAIN];
    parts.extend_from_slice(registers);
    hash_parts(&parts)
}

impl Write for Measurement {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Sgx(m) => {
                0u8.write(buf);
                m.write(buf);
            }
            Self::Tdx(m) => {
                1u8.write(buf);
                m.write(buf);
            }
            Self::SgxSigner {
                mr_signer,
                prod_id,
                min_svn,
            } => {
                2u8.write(buf);
                mr_signer.write(buf);
                prod_id.write(buf);
                min_svn.write(buf);
            }
            Self::Dev(m) => {
                3u8.write(buf);
                m.write(buf);
            }
        }
    }
}

impl EncodeSize for Measurement {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Sgx(m) | Self::Tdx(m) | Self::Dev(m) => m.encode_size(),
            Self::SgxSigner { mr_signer, .. } => mr_signer.encode_size() + 4,
        }
    }
}

impl Read for Measurement {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let bytes = |buf: &mut _| Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_MEASUREMENT_BYTES));
        match u8::read(buf)? {
            0 => Ok(Self::Sgx(bytes(buf)?)),
            1 => Ok(Self::Tdx(bytes(buf)?)),
            2 => Ok(Self::SgxSigner {
                mr_signer: bytes(buf)?,
                prod_id: u16::read(buf)?,
                min_svn: u16::read(buf)?,
            }),
            3 => Ok(Self::Dev(bytes(buf)?)),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

/// Registration policy and worker duties, set at genesis and changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryParams {
    /// Accepted DCAP TCB statuses (e.g. `UpToDate`).
    pub tcb_statuses: Vec<String>,
    /// Intel security advisories tolerated; a quote listing any other is refused.
    pub advisories: Vec<String>,
    /// Lowest `tcbEvaluationDataNumber` accepted in DCAP collateral. The operator picks the
    /// collateral, and TCB info older than Intel's latest TCB recovery may still be inside its
    /// validity window while calling a now-vulnerable platform up to date: after a recovery,
    /// governance raises this to the new evaluation number, which also deregisters the
    /// workers attested under an older one. Key holders renew with current collateral first:
    /// the chain refuses a policy that would deregister every one of them (their pRuntimes
    /// would wipe the root key).
    pub min_tcb_evaluation: u32,
    /// Code allowed to register. Removing an entry deregisters the workers it admitted.
    pub allowlist: Vec<Measurement>,
    /// Evidence must bind a block from at most this many blocks ago.
    pub freshness_blocks: u64,
    /// A registration lasts this many blocks; workers re-attest before it runs out.
    pub registration_blocks: u64,
    /// A registered worker sends a heartbeat every this many blocks.
    pub heartbeat_blocks: u64,
}

impl Default for RegistryParams {
    fn default() -> Self {
        Self {
            tcb_statuses: vec!["UpToDate".into()],
            advisories: Vec::new(),
            min_tcb_evaluation: 0,
            allowlist: Vec::new(),
            freshness_blocks: 64,
            registration_blocks: 14_400,
            heartbeat_blocks: 100,
        }
    }
}

impl RegistryParams {
    /// Checks invariants that would make registration unusable.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.freshness_blocks == 0 || self.freshness_blocks > RECENT_BLOCK_HASHES {
            return Err("freshness_blocks must be between 1 and 256");
        }
        if self.registration_blocks < 2 * self.freshness_blocks {
            return Err("registration_blocks must be at least twice freshness_blocks");
        }
        if self.heartbeat_blocks == 0 {
            return Err("heartbeat_blocks must be positive");
        }
        if self.tcb_statuses.len() > MAX_POLICY_ENTRIES
            || self.advisories.len() > MAX_POLICY_ENTRIES
            || self.allowlist.len() > MAX_POLICY_ENTRIES
        {
            return Err("policy lists hold at most 256 entries");
        }
        if self
            .tcb_statuses
            .iter()
            .chain(&self.advisories)
            .any(|s| s.len() > MAX_LABEL_BYTES)
        {
            return Err("TCB statuses and advisory ids are at most 64 bytes");
        }
        if self.allowlist.iter().any(|m| match m {
            Measurement::Sgx(m) | Measurement::Tdx(m) | Measurement::Dev(m) => m.len() != 32,
            Measurement::SgxSigner { mr_signer, .. } => mr_signer.len() != 32,
        }) {
            return Err("allowlisted measurements and MRSIGNERs are 32 bytes");
        }
        Ok(())
    }
}

impl Write for RegistryParams {
    fn write(&self, buf: &mut impl BufMut) {
        write_strings(&self.tcb_statuses, buf);
        write_strings(&self.advisories, buf);
        self.min_tcb_evaluation.write(buf);
        self.allowlist.write(buf);
        self.freshness_blocks.write(buf);
        self.registration_blocks.write(buf);
        self.heartbeat_blocks.write(buf);
    }
}

impl EncodeSize for RegistryParams {
    fn encode_size(&self) -> usize {
        strings_size(&self.tcb_statuses)
            + strings_size(&self.advisories)
            + 4
            + self.allowlist.encode_size()
            + 24
    }
}

impl Read for RegistryParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            tcb_statuses: read_strings(buf, MAX_POLICY_ENTRIES, MAX_LABEL_BYTES)?,
            advisories: read_strings(buf, MAX_POLICY_ENTRIES, MAX_LABEL_BYTES)?,
            min_tcb_evaluation: u32::read(buf)?,
            allowlist: Vec::<Measurement>::read_cfg(
                buf,
                &(RangeCfg::new(0..=MAX_POLICY_ENTRIES), ()),
            )?,
            freshness_blocks: u64::read(buf)?,
            registration_blocks: u64::read(buf)?,
            heartbeat_blocks: u64::read(buf)?,
        })
    }
}
