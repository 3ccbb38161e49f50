//! What the chain stores for a registered worker, and what it tells the worker about it.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};

use super::{
    limits::{MAX_ENDPOINT_BYTES, MAX_LABEL_BYTES, MAX_MEASUREMENT_BYTES, MAX_POLICY_ENTRIES},
    policy::{CodeIdentity, TeeKind},
};
use crate::{
    AccountId, Digest, Height, state_key,
    wire::{
        bytes_cfg, read_string, read_strings, string_size, strings_size, write_string,
        write_strings,
    },
};

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
    /// Which of Intel's TCB evaluations judged the platform at registration (its collateral's
    /// `tcbEvaluationDataNumber`; 0 for dev evidence).
    pub tcb_evaluation: u32,
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
/// [crate::Origin::Chain] to [crate::Destination::Worker]).
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
    /// Governance's new policy no longer admits it: its measurement left the allowlist, or
    /// its TCB status, an advisory or its TCB evaluation is no longer accepted.
    Revoked,
    /// The operator registered a new identity at the same endpoint.
    Replaced,
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
        self.tcb_evaluation.write(buf);
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
            + 4
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
            advisory_ids: read_strings(buf, MAX_POLICY_ENTRIES, MAX_LABEL_BYTES)?,
            tcb_evaluation: u32::read(buf)?,
            insecure: bool::read(buf)?,
            endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            operator: crate::wire::read_account(buf)?,
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
