//! Signature and hashing domains.
//!
//! Every signature in Veil is made under exactly one of these namespaces, so a signature made
//! for one purpose can never be accepted for another. Changing a value is a breaking change.

/// User transactions.
pub const TRANSACTION: &[u8] = b"_VEIL_CHAIN_TX";
/// Consensus votes and certificates (simplex).
pub const CONSENSUS: &[u8] = b"_VEIL_NODE_CONSENSUS";
/// Validator peer-to-peer handshakes.
pub const P2P: &[u8] = b"_VEIL_NODE_P2P";
/// Leaves of a binary Merkle tree (transactions, messages).
pub const MERKLE_LEAF: &[u8] = b"_VEIL_CRYPTO_MERKLE_LEAF";
/// Inner nodes of a binary Merkle tree.
pub const MERKLE_NODE: &[u8] = b"_VEIL_CRYPTO_MERKLE_NODE";
/// Keys of the chain's authenticated state.
pub const STATE_KEY: &[u8] = b"_VEIL_CHAIN_STATE_KEY";
/// A worker's registration request (binds operator and endpoint to the attested keys).
pub const REGISTRATION: &[u8] = b"_VEIL_REGISTRY_REGISTER";
/// A worker's egress message through `mq`.
pub const WORKER_MESSAGE: &[u8] = b"_VEIL_MQ_WORKER_MESSAGE";
/// The gatekeepers' shared egress stream through `mq`.
pub const GATEKEEPER_MESSAGE: &[u8] = b"_VEIL_MQ_GATEKEEPER_MESSAGE";
/// Key checks of root keys (a hash that names a root key without revealing it).
pub const ROOT_KEY_CHECK: &[u8] = b"_VEIL_GATEKEEPER_ROOT_KEY_CHECK";
/// The prologue of Noise channels between pRuntimes (binds chain and purpose).
pub const NOISE_PROLOGUE: &[u8] = b"_VEIL_PRUNTIME_NOISE";
/// AEAD associated data of gatekeeper state checkpoints.
pub const GATEKEEPER_STATE: &[u8] = b"_VEIL_GATEKEEPER_STATE";
/// Seeds of the gatekeepers' deterministic random bit generator.
pub const GATEKEEPER_DRBG: &[u8] = b"_VEIL_GATEKEEPER_DRBG";
/// A contract's deterministic random stream (keyed by its contract key).
pub const CONTRACT_DRBG: &[u8] = b"_VEIL_CONTRACT_DRBG";
/// Hashing a developer and nonce into a contract id.
pub const CONTRACT_ID: &[u8] = b"_VEIL_CONTRACT_ID";
/// Deriving a contract key from the root key and the contract id.
pub const CONTRACT_KEY: &[u8] = b"_VEIL_CONTRACT_KEY";
/// Associated data of a contract key sealed under the root key.
pub const CONTRACT_KEY_SEAL: &[u8] = b"_VEIL_SEALED_CONTRACT_KEY";
/// Associated data of a command sealed to a contract's key.
pub const CONTRACT_COMMAND: &[u8] = b"_VEIL_CONTRACT_COMMAND";
/// Associated data of a command's sealed result.
pub const CONTRACT_RESULT: &[u8] = b"_VEIL_CONTRACT_RESULT";
/// A contract key sealed by the gatekeepers to its miner.
pub const CONTRACT_GRANT: &[u8] = b"_VEIL_CONTRACT_GRANT";
/// A user's query session grant, signed by her account key.
pub const QUERY_SESSION: &[u8] = b"_VEIL_QUERY_SESSION";
/// HKDF salt of a query session's keys.
pub const QUERY_KEYS: &[u8] = b"_VEIL_QUERY_KEYS";
/// Associated data of a sealed query request.
pub const QUERY_REQUEST: &[u8] = b"_VEIL_QUERY_REQUEST";
/// Associated data of a sealed query answer.
pub const QUERY_ANSWER: &[u8] = b"_VEIL_QUERY_ANSWER";
/// A worker's signature over the state a query answer read.
pub const QUERY_COMMITMENT: &[u8] = b"_VEIL_QUERY_COMMITMENT";
/// pRuntime's signed public API answers.
pub const PUBLIC_ANSWER: &[u8] = b"_VEIL_PRUNTIME_PUBLIC_ANSWER";
/// Associated data of pRuntime's sealed files.
pub const SEALED_FILE: &[u8] = b"_VEIL_PRUNTIME_SEALED_FILE";
/// Associated data of pRuntime's sealed key-value store (log frames and manifest).
pub const SEALED_KV: &[u8] = b"_VEIL_PRUNTIME_SEALED_KV";
/// HKDF salt of every key `veil_crypto::seal` derives.
pub const CRYPTO_SEAL: &[u8] = b"_VEIL_CRYPTO_SEAL";
/// The dev RA service's signature over dev quotes (INSECURE, dev mode only).
pub const DEV_RA: &[u8] = b"_VEIL_ATTESTATION_DEV_RA";
/// Attestation report data binding a worker's keys to a chain and a block.
pub const REPORT_DATA: &[u8] = b"_VEIL_ATTESTATION_REPORT_DATA";
/// The digest that names a TDX measurement (MRTD, config and RTMRs).
pub const TDX_MEASUREMENT: &[u8] = b"_VEIL_ATTESTATION_TDX_MEASUREMENT";
/// Attestation report data binding the genesis node's keys and root-key check to its chain.
pub const GENESIS_REPORT_DATA: &[u8] = b"_VEIL_ATTESTATION_GENESIS_REPORT_DATA";

/// A contract's message to another contract, sealed to the destination's key.
pub const CONTRACT_MESSAGE: &[u8] = b"_VEIL_CONTRACT_MESSAGE";
/// A contract's reply to a message, sealed to the source's key.
pub const CONTRACT_REPLY: &[u8] = b"_VEIL_CONTRACT_REPLY";
/// A miner's signature on a contract's message or reply, which the chain routes.
pub const CONTRACT_EGRESS: &[u8] = b"_VEIL_MQ_CONTRACT_EGRESS";
/// The hash chain over every message the chain routed to or from a contract (its log).
pub const CONTRACT_LOG: &[u8] = b"_VEIL_CONTRACT_LOG";
/// A contract's state checkpoint, sealed under a key derived from its contract key.
pub const CONTRACT_CHECKPOINT: &[u8] = b"_VEIL_CONTRACT_STATE_CHECKPOINT";
/// A miner's signature on a chunk of a contract's checkpoint, which the chain keeps.
pub const CONTRACT_CHECKPOINT_CHUNK: &[u8] = b"_VEIL_MQ_CONTRACT_CHECKPOINT_CHUNK";

#[cfg(test)]
mod tests {
    use super::*;

    /// Every domain, with the bytes it must keep: a signature or key made under one stays valid
    /// only while its domain's bytes do, and no two purposes may share one.
    const ALL: &[(&[u8], &[u8])] = &[
        (TRANSACTION, b"_VEIL_CHAIN_TX"),
        (CONSENSUS, b"_VEIL_NODE_CONSENSUS"),
        (P2P, b"_VEIL_NODE_P2P"),
        (MERKLE_LEAF, b"_VEIL_CRYPTO_MERKLE_LEAF"),
        (MERKLE_NODE, b"_VEIL_CRYPTO_MERKLE_NODE"),
        (STATE_KEY, b"_VEIL_CHAIN_STATE_KEY"),
        (REGISTRATION, b"_VEIL_REGISTRY_REGISTER"),
        (WORKER_MESSAGE, b"_VEIL_MQ_WORKER_MESSAGE"),
        (GATEKEEPER_MESSAGE, b"_VEIL_MQ_GATEKEEPER_MESSAGE"),
        (ROOT_KEY_CHECK, b"_VEIL_GATEKEEPER_ROOT_KEY_CHECK"),
        (NOISE_PROLOGUE, b"_VEIL_PRUNTIME_NOISE"),
        (GATEKEEPER_STATE, b"_VEIL_GATEKEEPER_STATE"),
        (GATEKEEPER_DRBG, b"_VEIL_GATEKEEPER_DRBG"),
        (CONTRACT_DRBG, b"_VEIL_CONTRACT_DRBG"),
        (CONTRACT_ID, b"_VEIL_CONTRACT_ID"),
        (CONTRACT_KEY, b"_VEIL_CONTRACT_KEY"),
        (CONTRACT_KEY_SEAL, b"_VEIL_SEALED_CONTRACT_KEY"),
        (CONTRACT_COMMAND, b"_VEIL_CONTRACT_COMMAND"),
        (CONTRACT_RESULT, b"_VEIL_CONTRACT_RESULT"),
        (CONTRACT_GRANT, b"_VEIL_CONTRACT_GRANT"),
        (CONTRACT_MESSAGE, b"_VEIL_CONTRACT_MESSAGE"),
        (CONTRACT_REPLY, b"_VEIL_CONTRACT_REPLY"),
        (CONTRACT_EGRESS, b"_VEIL_MQ_CONTRACT_EGRESS"),
        (CONTRACT_LOG, b"_VEIL_CONTRACT_LOG"),
        (CONTRACT_CHECKPOINT, b"_VEIL_CONTRACT_STATE_CHECKPOINT"),
        (
            CONTRACT_CHECKPOINT_CHUNK,
            b"_VEIL_MQ_CONTRACT_CHECKPOINT_CHUNK",
        ),
        (QUERY_SESSION, b"_VEIL_QUERY_SESSION"),
        (QUERY_KEYS, b"_VEIL_QUERY_KEYS"),
        (QUERY_REQUEST, b"_VEIL_QUERY_REQUEST"),
        (QUERY_ANSWER, b"_VEIL_QUERY_ANSWER"),
        (QUERY_COMMITMENT, b"_VEIL_QUERY_COMMITMENT"),
        (PUBLIC_ANSWER, b"_VEIL_PRUNTIME_PUBLIC_ANSWER"),
        (SEALED_FILE, b"_VEIL_PRUNTIME_SEALED_FILE"),
        (SEALED_KV, b"_VEIL_PRUNTIME_SEALED_KV"),
        (CRYPTO_SEAL, b"_VEIL_CRYPTO_SEAL"),
        (DEV_RA, b"_VEIL_ATTESTATION_DEV_RA"),
        (REPORT_DATA, b"_VEIL_ATTESTATION_REPORT_DATA"),
        (TDX_MEASUREMENT, b"_VEIL_ATTESTATION_TDX_MEASUREMENT"),
        (
            GENESIS_REPORT_DATA,
            b"_VEIL_ATTESTATION_GENESIS_REPORT_DATA",
        ),
    ];

    #[test]
    fn domains_keep_their_bytes_and_never_collide() {
        for (i, (value, expected)) in ALL.iter().enumerate() {
            assert_eq!(value, expected);
            for (other, _) in &ALL[i + 1..] {
                assert!(!value.starts_with(other) && !other.starts_with(value));
            }
        }
    }
}
