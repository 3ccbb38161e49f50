//! Worker registry types: what a worker submits to register, what the chain stores, the policy
//! governance sets, and the signed messages (egress) registered workers send through `mq`.
//!
//! They live here rather than in the chain crate because pRuntime builds registrations and
//! egress, and reads registry entries by proof, without linking the chain's state machine.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};

use crate::{
    AccountId, ChainIdentity, Destination, Digest, Encode, Height, PrivateKey, Signature,
    hash_parts, namespace, state_key,
};

/// Longest endpoint (pRuntime public URL or multiaddr) a worker may register.
pub const MAX_ENDPOINT_BYTES: usize = 256;
/// Longest measurement (SGX MRENCLAVE is 32 bytes, TDX MRTD 48).
pub const MAX_MEASUREMENT_BYTES: usize = 64;
/// Longest TCB status or advisory id.
pub const MAX_LABEL_BYTES: usize = 64;
/// Most entries in each list of [RegistryParams].
pub const MAX_POLICY_ENTRIES: usize = 256;
/// How many recent block hashes the chain keeps for attestation freshness. pRuntime keeps as
/// many, so any hash the chain accepts is one pRuntime can still quote.
pub const RECENT_BLOCK_HASHES: u64 = 256;
/// Largest evidence or collateral blob in a registration.
pub const MAX_ATTESTATION_BYTES: usize = 48 * 1024;

/// Topic of worker heartbeats. Payload: synced height (u64, big-endian) then that block's hash.
pub const HEARTBEAT_TOPIC: &[u8] = b"veil/heartbeat";

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

/// Registration policy and worker duties, set at genesis and changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryParams {
    /// Accepted DCAP TCB statuses (e.g. `UpToDate`).
    pub tcb_statuses: Vec<String>,
    /// Intel security advisories tolerated; a quote listing any other is refused.
    pub advisories: Vec<String>,
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

/// A worker's request to register, signed by the worker's identity key.
///
/// The evidence's report data binds the worker keys, the genesis and the block at
/// `attested_height`; the worker's signature binds the operator and endpoint, so nobody who
/// sees the quote can register the worker under another account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Worker signing key (its identity).
    pub worker: AccountId,
    /// Worker X25519 key.
    pub ecdh_key: [u8; 32],
    /// Account that submits the registration and pays for the worker.
    pub operator: AccountId,
    /// Public pRuntime URL or multiaddr.
    pub endpoint: String,
    /// Height of the block whose hash the evidence binds.
    pub attested_height: Height,
    /// The worker's signature over [Registration::signing_payload].
    pub signature: Signature,
    /// Encoded evidence (for dev mode, carrying the RA service's signed quote).
    pub evidence: Vec<u8>,
    /// DCAP collateral (JSON); empty for dev evidence.
    pub collateral: Vec<u8>,
}

impl Registration {
    /// The bytes the worker signs: chain, then every field but the attestation blobs.
    pub fn signing_payload(
        chain: &ChainIdentity,
        worker: &AccountId,
        ecdh_key: &[u8; 32],
        operator: &AccountId,
        endpoint: &str,
        attested_height: Height,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&chain.chain_id.to_be_bytes());
        out.extend_from_slice(chain.genesis_hash.as_ref());
        out.extend_from_slice(&worker.encode());
        out.extend_from_slice(ecdh_key);
        out.extend_from_slice(&operator.encode());
        out.extend_from_slice(&endpoint.as_bytes().to_vec().encode());
        out.extend_from_slice(&attested_height.to_be_bytes());
        out
    }

    /// Whether the worker signed this registration for `chain`.
    pub fn verify_signature(&self, chain: &ChainIdentity) -> bool {
        let payload = Self::signing_payload(
            chain,
            &self.worker,
            &self.ecdh_key,
            &self.operator,
            &self.endpoint,
            self.attested_height,
        );
        self.worker
            .verify(namespace::REGISTRATION, &payload, &self.signature)
    }
}

/// What the chain stores for a registered worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Worker X25519 key.
    pub ecdh_key: [u8; 32],
    /// TEE kind.
    pub tee: TeeKind,
    /// Code measurement (MRENCLAVE, MRTD, or dev binary hash).
    pub measurement: Vec<u8>,
    /// MRSIGNER (SGX only).
    pub signer: Vec<u8>,
    /// ISVPRODID (SGX only).
    pub prod_id: u16,
    /// ISVSVN (SGX only).
    pub svn: u16,
    /// TCB status at registration (`dev` for dev evidence).
    pub tcb_status: String,
    /// Intel advisories that applied at registration.
    pub advisory_ids: Vec<String>,
    /// Registered with dev evidence: nothing proves it runs in a TEE.
    pub insecure: bool,
    /// Public pRuntime URL or multiaddr.
    pub endpoint: String,
    /// Operator account.
    pub operator: AccountId,
    /// Height of the (last) registration.
    pub registered_at: Height,
    /// First height at which the registration is no longer valid.
    pub expiry: Height,
}

impl WorkerInfo {
    /// The code identity, for allowlist checks.
    pub fn code(&self) -> CodeIdentity<'_> {
        CodeIdentity {
            tee: self.tee,
            measurement: &self.measurement,
            signer: &self.signer,
            prod_id: self.prod_id,
            svn: self.svn,
        }
    }
}

/// State key of a worker's registry entry, computable by a light client.
pub fn worker_key(worker: &AccountId) -> Digest {
    state_key(b"registry/worker", worker.as_ref())
}

/// What the chain tells a worker about its registration (payload of an `mq` message from
/// [crate::Origin::Chain] to [Destination::Worker]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryEvent {
    /// Registered (or renewed) until `expiry`; heartbeat every `heartbeat_blocks`.
    Registered {
        /// First height at which the registration lapses.
        expiry: Height,
        /// Heartbeat interval.
        heartbeat_blocks: u64,
    },
    /// No longer registered.
    Deregistered {
        /// Why.
        reason: DeregistrationReason,
    },
}

/// Why a worker left the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeregistrationReason {
    /// The registration expired without renewal.
    Expired,
    /// Governance removed its measurement from the allowlist.
    Revoked,
    /// The operator registered a new identity at the same endpoint.
    Replaced,
}

/// A message a registered worker sends through `mq` (egress), signed by its identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerMessage {
    /// The worker.
    pub sender: AccountId,
    /// Receiver.
    pub destination: Destination,
    /// Exactly the worker's next `mq` sequence.
    pub sequence: u64,
    /// Payload.
    pub payload: Vec<u8>,
}

/// A [WorkerMessage] and the worker's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedWorkerMessage {
    /// The message.
    pub message: WorkerMessage,
    /// Signature under [namespace::WORKER_MESSAGE] over chain id, genesis hash and message.
    pub signature: Signature,
}

impl WorkerMessage {
    /// The bytes a worker signs.
    pub fn signing_payload(&self, chain: &ChainIdentity) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.encode_size());
        out.extend_from_slice(&chain.chain_id.to_be_bytes());
        out.extend_from_slice(chain.genesis_hash.as_ref());
        out.extend_from_slice(&self.encode());
        out
    }

    /// Signs the message for `chain`.
    pub fn sign(self, key: &PrivateKey, chain: &ChainIdentity) -> SignedWorkerMessage {
        let signature = key.sign(namespace::WORKER_MESSAGE, &self.signing_payload(chain));
        SignedWorkerMessage {
            message: self,
            signature,
        }
    }
}

impl SignedWorkerMessage {
    /// Whether the sender signed this message for `chain`.
    pub fn verify(&self, chain: &ChainIdentity) -> bool {
        self.message.sender.verify(
            namespace::WORKER_MESSAGE,
            &self.message.signing_payload(chain),
            &self.signature,
        )
    }

    /// Hash identifying the signed message (for deduplication).
    pub fn hash(&self) -> Digest {
        hash_parts(&[&self.encode()])
    }
}

/// Bounds for decoding registry types from untrusted bytes.
fn bytes_cfg(max: usize) -> (RangeCfg<usize>, ()) {
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

fn write_strings(v: &[String], buf: &mut impl BufMut) {
    (v.len() as u32).write(buf);
    for s in v {
        write_string(s, buf);
    }
}

fn strings_size(v: &[String]) -> usize {
    4 + v.iter().map(|s| string_size(s)).sum::<usize>()
}

fn read_strings(buf: &mut impl Buf) -> Result<Vec<String>, Error> {
    let n = u32::read(buf)? as usize;
    if n > MAX_POLICY_ENTRIES {
        return Err(Error::InvalidLength(n));
    }
    (0..n).map(|_| read_string(buf, MAX_LABEL_BYTES)).collect()
}

impl Write for RegistryParams {
    fn write(&self, buf: &mut impl BufMut) {
        write_strings(&self.tcb_statuses, buf);
        write_strings(&self.advisories, buf);
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
            + self.allowlist.encode_size()
            + 24
    }
}

impl Read for RegistryParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            tcb_statuses: read_strings(buf)?,
            advisories: read_strings(buf)?,
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

impl Write for Registration {
    fn write(&self, buf: &mut impl BufMut) {
        self.worker.write(buf);
        self.ecdh_key.write(buf);
        self.operator.write(buf);
        write_string(&self.endpoint, buf);
        self.attested_height.write(buf);
        self.signature.write(buf);
        self.evidence.write(buf);
        self.collateral.write(buf);
    }
}

impl EncodeSize for Registration {
    fn encode_size(&self) -> usize {
        self.worker.encode_size()
            + 32
            + self.operator.encode_size()
            + string_size(&self.endpoint)
            + 8
            + self.signature.encode_size()
            + self.evidence.encode_size()
            + self.collateral.encode_size()
    }
}

impl Read for Registration {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            worker: AccountId::read(buf)?,
            ecdh_key: <[u8; 32]>::read(buf)?,
            operator: AccountId::read(buf)?,
            endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            attested_height: u64::read(buf)?,
            signature: Signature::read(buf)?,
            evidence: Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_ATTESTATION_BYTES))?,
            collateral: Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_ATTESTATION_BYTES))?,
        })
    }
}

impl Write for WorkerInfo {
    fn write(&self, buf: &mut impl BufMut) {
        self.ecdh_key.write(buf);
        self.tee.write(buf);
        self.measurement.write(buf);
        self.signer.write(buf);
        self.prod_id.write(buf);
        self.svn.write(buf);
        write_string(&self.tcb_status, buf);
        write_strings(&self.advisory_ids, buf);
        self.insecure.write(buf);
        write_string(&self.endpoint, buf);
        self.operator.write(buf);
        self.registered_at.write(buf);
        self.expiry.write(buf);
    }
}

impl EncodeSize for WorkerInfo {
    fn encode_size(&self) -> usize {
        32 + 1
            + self.measurement.encode_size()
            + self.signer.encode_size()
            + 4
            + string_size(&self.tcb_status)
            + strings_size(&self.advisory_ids)
            + 1
            + string_size(&self.endpoint)
            + self.operator.encode_size()
            + 16
    }
}

impl Read for WorkerInfo {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            ecdh_key: <[u8; 32]>::read(buf)?,
            tee: TeeKind::read(buf)?,
            measurement: Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_MEASUREMENT_BYTES))?,
            signer: Vec::<u8>::read_cfg(buf, &bytes_cfg(MAX_MEASUREMENT_BYTES))?,
            prod_id: u16::read(buf)?,
            svn: u16::read(buf)?,
            tcb_status: read_string(buf, MAX_LABEL_BYTES)?,
            advisory_ids: read_strings(buf)?,
            insecure: bool::read(buf)?,
            endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            operator: AccountId::read(buf)?,
            registered_at: u64::read(buf)?,
            expiry: u64::read(buf)?,
        })
    }
}

impl Write for RegistryEvent {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Registered {
                expiry,
                heartbeat_blocks,
            } => {
                0u8.write(buf);
                expiry.write(buf);
                heartbeat_blocks.write(buf);
            }
            Self::Deregistered { reason } => {
                1u8.write(buf);
                let tag: u8 = match reason {
                    DeregistrationReason::Expired => 0,
                    DeregistrationReason::Revoked => 1,
                    DeregistrationReason::Replaced => 2,
                };
                tag.write(buf);
            }
        }
    }
}

impl EncodeSize for RegistryEvent {
    fn encode_size(&self) -> usize {
        match self {
            Self::Registered { .. } => 17,
            Self::Deregistered { .. } => 2,
        }
    }
}

impl Read for RegistryEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Registered {
                expiry: u64::read(buf)?,
                heartbeat_blocks: u64::read(buf)?,
            }),
            1 => Ok(Self::Deregistered {
                reason: match u8::read(buf)? {
                    0 => DeregistrationReason::Expired,
                    1 => DeregistrationReason::Revoked,
                    2 => DeregistrationReason::Replaced,
                    t => return Err(Error::InvalidEnum(t)),
                },
            }),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for WorkerMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.sender.write(buf);
        self.destination.write(buf);
        self.sequence.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for WorkerMessage {
    fn encode_size(&self) -> usize {
        self.sender.encode_size() + self.destination.encode_size() + 8 + self.payload.encode_size()
    }
}

impl Read for WorkerMessage {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            sender: AccountId::read(buf)?,
            destination: Destination::read(buf)?,
            sequence: u64::read(buf)?,
            payload: Vec::<u8>::read_cfg(buf, &bytes_cfg(*max_payload))?,
        })
    }
}

impl Write for SignedWorkerMessage {
    fn write(&self, buf: &mut impl BufMut) {
        self.message.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedWorkerMessage {
    fn encode_size(&self) -> usize {
        self.message.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedWorkerMessage {
    /// Largest accepted payload.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, Error> {
        Ok(Self {
            message: WorkerMessage::read_cfg(buf, max_payload)?,
            signature: Signature::read(buf)?,
        })
    }
}

/// Serde of byte vectors as `0x` hex.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::to_hex(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        crate::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
