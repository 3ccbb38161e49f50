//! Define the identifiers, transactions, blocks and messages every Veil component shares.
//!
//! Everything here is plain data plus its canonical binary encoding ([commonware_codec]).
//! Decoders of external bytes take explicit limits ([TxLimits], [BlockLimits], payload bounds)
//! so that a hostile peer, host or RPC client can never make a node allocate more than a block
//! may hold.
//!
//! Modules: transactions and calls (`transaction`), blocks and headers (`block`), messages and
//! their origins and destinations (`message`), chain parameters (`params`), the worker registry
//! (`registry`) and workers' signed egress (`egress`), contracts ([contract]), staking and elections (`staking`), the
//! gatekeepers' protocol data (`gatekeeper`), hashing (`hash`), bounded strings on the wire
//! (`wire`), and [namespace], every signing, hashing and sealing domain.

mod block;
pub mod contract;
mod egress;
mod gatekeeper;
mod hash;
pub mod liveness;
pub mod merkle;
mod message;
pub mod namespace;
mod params;
pub mod query;
mod registry;
mod staking;
mod transaction;
mod wire;

pub use block::{
    Block, BlockLimits, Header, MAX_BLOCK_BYTES, MAX_BLOCK_TXS_CAP, MAX_TX_BYTES_CAP,
    transactions_root,
};
pub use commonware_codec::{Decode, DecodeExt, Encode, Error as CodecError, Read, ReadExt, Write};
pub use egress::{HEARTBEAT_TOPIC, SignedWorkerMessage, WorkerMessage};
pub use gatekeeper::{
    DIVERGENCE_TOPIC, Divergence, GATEKEEPER_STATE_TOPIC, GatekeeperMessage, GenesisNodeStatus,
    GenesisWorker, HANDOVER_TOPIC, Handover, KeyHolder, LAUNCH_TOPIC, Launch,
    MAX_GATEKEEPER_STATE_BYTES, Phase, READY_TOPIC, Ready, SLASH_TOPIC, SignedGatekeeperMessage,
    Slashed, holders_cfg, root_key_check,
};
pub use hash::{Digest, hash, hash_parts};
pub use message::{Destination, MAX_TOPIC_BYTES, Message, Origin};
pub use params::Params;
pub use params::{MAX_STATE_VALUE, MIN_MESSAGE_BYTES, MIN_TX_BYTES};
pub use registry::{
    CodeIdentity, DeregistrationReason, MAX_ATTESTATION_BYTES, MAX_ENDPOINT_BYTES, MAX_LABEL_BYTES,
    MAX_MEASUREMENT_BYTES, MAX_POLICY_ENTRIES, Measurement, RECENT_BLOCK_HASHES, Registration,
    RegistryEvent, RegistryParams, TDX_MEASUREMENT_DOMAIN, TeeKind, WorkerInfo, tdx_measurement,
    worker_key,
};
pub use staking::{
    ELECTION_TOPIC, Elected, Election, MAX_CANDIDATES_CAP, MAX_GATEKEEPERS, MAX_NOMINATIONS,
    MAX_NOMINATORS_CAP, StakingCall, StakingParams,
};
pub use transaction::{
    Call, GovernanceCall, SignedTransaction, Transaction, TxLimits, signing_payload,
};

/// Account identifier: an ed25519 public key.
pub type AccountId = commonware_cryptography::ed25519::PublicKey;
/// Ed25519 signature over a domain-separated payload.
pub type Signature = commonware_cryptography::ed25519::Signature;
/// Ed25519 signing key.
pub type PrivateKey = commonware_cryptography::ed25519::PrivateKey;
/// Native token amount, in the smallest unit.
pub type Balance = u128;
/// Block height. Genesis is height 0.
pub type Height = u64;

/// Identifies one chain: a numeric id chosen by the operator plus the genesis hash.
///
/// Every signature a user makes covers both, so a transaction for one network can never be
/// replayed on another, even one started from the same spec with a different id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChainIdentity {
    /// Operator-chosen chain id.
    pub chain_id: u64,
    /// Hash of the genesis header.
    pub genesis_hash: Digest,
}

impl ChainIdentity {
    /// The bytes a signature bound to this chain covers: chain id (u64 BE), genesis hash, then
    /// the encoded `value`.
    pub fn bind(&self, value: &impl Encode) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 + value.encode_size());
        out.extend_from_slice(&self.chain_id.to_be_bytes());
        out.extend_from_slice(self.genesis_hash.as_ref());
        out.extend_from_slice(&value.encode());
        out
    }
}

/// Key of an item in the chain's authenticated state: `SHA-256(namespace ‖ len ‖ module ‖ item)`.
///
/// Fixed-size, evenly spread, and computable by a light client that wants a proof.
pub fn state_key(module: &[u8], item: &[u8]) -> Digest {
    hash_parts(&[namespace::STATE_KEY, &[module.len() as u8], module, item])
}

/// State key of the chain record: the chain id and the consensus group public key, set at
/// genesis. The genesis state root commits it, so a light client given a genesis header checks
/// both with one inclusion proof.
pub fn chain_record_key() -> Digest {
    state_key(b"system/chain", &[])
}

/// The chain record's value: `chain id (u64 BE) ‖ encoded group key`.
pub fn chain_record(chain_id: u64, group_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + group_key.len());
    out.extend_from_slice(&chain_id.to_be_bytes());
    out.extend_from_slice(group_key);
    out
}

/// Encodes bytes as lowercase hex with a `0x` prefix, the form used in RPC and files.
///
/// Written out rather than `hex::encode`, which goes through a `char` iterator: every query
/// answer, block and proof served over RPC passes here, and profiles of pRuntime and the
/// validators under load showed that iterator among their hottest functions.
pub fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = bytes.as_ref();
    let mut out = Vec::with_capacity(2 + 2 * bytes.len());
    out.extend_from_slice(b"0x");
    for &byte in bytes {
        out.extend_from_slice(&[
            DIGITS[usize::from(byte >> 4)],
            DIGITS[usize::from(byte & 0xf)],
        ]);
    }
    // Only ASCII digits were written: this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

/// Value of each byte as a hex digit; 0xff for bytes that are not one.
const HEX_VALUES: [u8; 256] = {
    let mut values = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        values[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        values[b'a' as usize + i] = 10 + i as u8;
        values[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    values
};

/// Decodes hex with or without a `0x` prefix; errors say which character (and where) is not
/// hex, as `hex::decode`'s do.
pub fn from_hex(s: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let digits = s.strip_prefix("0x").unwrap_or(s).as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(hex::FromHexError::OddLength);
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let (high, low) = (
            HEX_VALUES[usize::from(pair[0])],
            HEX_VALUES[usize::from(pair[1])],
        );
        if (high | low) > 0xf {
            let index = if high > 0xf { 2 * i } else { 2 * i + 1 };
            return Err(hex::FromHexError::InvalidHexCharacter {
                c: char::from(digits[index]),
                index,
            });
        }
        out.push(high << 4 | low);
    }
    Ok(out)
}

/// Decodes exactly `N` bytes of hex (with or without a `0x` prefix): ids, keys, epochs.
pub fn from_hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    from_hex(s).ok()?.try_into().ok()
}

/// Decodes a fixed-size codec value (key, digest, signature) from hex.
pub fn decode_hex<T: Decode<Cfg = ()>>(s: &str) -> Result<T, String> {
    let bytes = from_hex(s).map_err(|e| format!("invalid hex: {e}"))?;
    T::decode(bytes::Bytes::from(bytes)).map_err(|e| format!("invalid encoding: {e}"))
}
