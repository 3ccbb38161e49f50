//! Sizes of registry data, bounding what decoders accept from untrusted bytes.

/// Longest endpoint (pRuntime public URL or multiaddr) a worker may register.
pub const MAX_ENDPOINT_BYTES: usize = 256;
/// Longest measurement (SGX MRENCLAVE is 32 bytes, TDX MRTD 48).
pub const MAX_MEASUREMENT_BYTES: usize = 64;
/// Longest TCB status or advisory id.
pub const MAX_LABEL_BYTES: usize = 64;
/// Most entries in each list of [super::RegistryParams].
pub const MAX_POLICY_ENTRIES: usize = 256;
/// How many recent block hashes the chain keeps for attestation freshness. pRuntime keeps as
/// many, so any hash the chain accepts is one pRuntime can still quote.
pub const RECENT_BLOCK_HASHES: u64 = 256;
/// Largest evidence or collateral blob in a registration.
pub const MAX_ATTESTATION_BYTES: usize = 48 * 1024;
