//! Worker registry types: the policy governance sets ([policy]), what a worker submits to
//! register ([registration]), and what the chain stores and tells the worker ([entry]).
//!
//! They live here rather than in the chain crate because pRuntime builds registrations and
//! reads registry entries by proof without linking the chain's state machine.

mod entry;
mod limits;
mod policy;
mod registration;

pub use entry::{DeregistrationReason, RegistryEvent, WorkerInfo, worker_key};
pub use limits::{
    MAX_ATTESTATION_BYTES, MAX_ENDPOINT_BYTES, MAX_LABEL_BYTES, MAX_MEASUREMENT_BYTES,
    MAX_POLICY_ENTRIES, RECENT_BLOCK_HASHES,
};
pub use policy::{
    CodeIdentity, Measurement, RegistryParams, TDX_MEASUREMENT_DOMAIN, TeeKind, tdx_measurement,
};
pub use registration::Registration;
