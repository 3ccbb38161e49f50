//! The chain's key space. A leaf: it imports no other module of the crate.
//!
//! Every state key is [veil_primitives::state_key]: `SHA-256(namespace ‖ module ‖ item)`, so keys are fixed-size, spread
//! evenly, and a light client can compute the key of anything it wants a proof for.

use veil_primitives::{AccountId, Digest, Origin};

/// Key of an item owned by `module`.
pub fn key(module: &[u8], item: &[u8]) -> Digest {
    veil_primitives::state_key(module, item)
}

/// An account record: nonce and free balance.
pub fn account(id: &AccountId) -> Digest {
    key(b"balances/account", id.as_ref())
}

/// Total issuance of the native token.
pub fn total_issuance() -> Digest {
    key(b"balances/issuance", &[])
}

/// The current block (height, timestamp).
pub fn block_info() -> Digest {
    key(b"system/block", &[])
}

/// The chain parameters.
pub fn params() -> Digest {
    key(b"governance/params", &[])
}

/// The chain record (chain id and consensus group public key), fixed at genesis.
///
/// Genesis state commits it, and the genesis hash commits the genesis state root, so a light
/// client handed a genesis hash can check the chain id and group key it is given by proof.
pub fn chain() -> Digest {
    veil_primitives::chain_record_key()
}

/// The governance key.
pub fn governance_key() -> Digest {
    key(b"governance/key", &[])
}

/// Next sequence of a message origin.
pub fn mq_sequence(origin: &Origin) -> Digest {
    use veil_primitives::Encode;
    key(b"mq/sequence", &origin.encode())
}

/// Hash of the block at `height`, kept for [veil_primitives::RECENT_BLOCK_HASHES] blocks.
pub fn block_hash(height: u64) -> Digest {
    key(b"system/block_hash", &height.to_be_bytes())
}

/// The registration policy.
pub fn registry_params() -> Digest {
    key(b"registry/params", &[])
}

/// The dev RA service's key; present only if genesis allows insecure attestation.
pub fn dev_attestation_key() -> Digest {
    key(b"registry/dev_attestation_key", &[])
}

/// Present (empty) if genesis lets workers with dev attestation stand as gatekeepers.
pub fn insecure_gatekeepers() -> Digest {
    key(b"registry/insecure_gatekeepers", &[])
}

/// How many registered workers hold dev (insecure) attestation, kept so status need not
/// scan the registry.
pub fn insecure_workers() -> Digest {
    key(b"registry/insecure_workers", &[])
}

/// A custom DCAP root certificate (DER), set at genesis; absent means Intel's root.
pub fn dcap_root() -> Digest {
    key(b"registry/dcap_root", &[])
}

/// The worker currently registered at an operator's endpoint.
pub fn registry_slot(slot: &Digest) -> Digest {
    key(b"registry/slot", slot.as_ref())
}

/// How many registrations expire at `height`.
pub fn expiring_count(height: u64) -> Digest {
    key(b"registry/expiring", &height.to_be_bytes())
}

/// The `index`-th registration expiring at `height`.
pub fn expiring_at(height: u64, index: u64) -> Digest {
    let mut item = [0u8; 16];
    item[..8].copy_from_slice(&height.to_be_bytes());
    item[8..].copy_from_slice(&index.to_be_bytes());
    key(b"registry/expiring_at", &item)
}

/// The genesis node's identity, endpoint and root-key check, fixed at genesis.
pub fn genesis_worker() -> Digest {
    key(b"gatekeeper/genesis_worker", &[])
}

/// Whether the network has launched.
pub fn phase() -> Digest {
    key(b"gatekeeper/phase", &[])
}

/// The pRuntimes that hold the root key (after launch: the last fully confirmed round).
pub fn key_holders() -> Digest {
    key(b"gatekeeper/holders", &[])
}

/// Gatekeepers of the current round that confirmed readiness.
pub fn confirmed() -> Digest {
    key(b"gatekeeper/confirmed", &[])
}

/// Each gatekeeper of the current round with the account that backed it when it was elected
/// (a silent gatekeeper's backer is slashed even if it chilled since).
pub fn round_backers() -> Digest {
    key(b"gatekeeper/round_backers", &[])
}

/// The last election round that is closed (fully confirmed or expired).
pub fn closed_round() -> Digest {
    key(b"gatekeeper/closed_round", &[])
}

/// Content hash of the gatekeepers' message `sequence`, kept for a window after routing.
pub fn gatekeeper_routed(sequence: u64) -> Digest {
    key(b"gatekeeper/routed", &sequence.to_be_bytes())
}

/// The latest encrypted gatekeeper state checkpoint.
pub fn gatekeeper_state() -> Digest {
    key(b"gatekeeper/state", &[])
}

/// How many divergences were recorded.
pub fn divergences() -> Digest {
    key(b"gatekeeper/divergences", &[])
}

/// The staking parameters.
pub fn staking_params() -> Digest {
    key(b"staking/params", &[])
}

/// An account's bond.
pub fn staking_ledger(who: &AccountId) -> Digest {
    key(b"staking/ledger", who.as_ref())
}

/// The worker an account backs as a gatekeeper candidate.
pub fn staking_backs(who: &AccountId) -> Digest {
    key(b"staking/backs", who.as_ref())
}

/// The account backing a candidate worker.
pub fn staking_backer(worker: &AccountId) -> Digest {
    key(b"staking/backer", worker.as_ref())
}

/// The stake behind a gatekeeper of the latest election: its backer's bond and how many pages
/// of exposed nominators follow.
pub fn staking_exposure(worker: &AccountId) -> Digest {
    key(b"staking/exposure", worker.as_ref())
}

/// Page `page` of the nominators exposed to a gatekeeper of the latest election.
pub fn staking_exposure_page(worker: &AccountId, page: u32) -> Digest {
    key(
        b"staking/exposure_page",
        &[worker.as_ref(), &page.to_be_bytes()].concat(),
    )
}

/// The candidates an account nominates.
pub fn staking_nominations(who: &AccountId) -> Digest {
    key(b"staking/nominations", who.as_ref())
}

/// The latest gatekeeper election (its announcement).
pub fn election() -> Digest {
    key(b"staking/election", &[])
}

/// The contract parameters.
pub fn contract_params() -> Digest {
    key(b"contracts/params", &[])
}

/// Valid code's record: its size and whose upload holds its chunks.
pub fn code(hash: &Digest) -> Digest {
    veil_primitives::contract::code_state_key(hash)
}

/// An upload in progress. Each uploader has its own, so nobody can spoil another's upload of
/// the same code with a wrong size or a bad chunk.
pub fn code_upload(uploader: &AccountId, hash: &Digest) -> Digest {
    let mut item = uploader.as_ref().to_vec();
    item.extend_from_slice(hash.as_ref());
    key(b"contracts/code_upload", &item)
}

/// One chunk of an upload (and, once valid, of the code).
pub fn code_chunk(uploader: &AccountId, hash: &Digest, index: u32) -> Digest {
    let mut item = uploader.as_ref().to_vec();
    item.extend_from_slice(hash.as_ref());
    item.extend_from_slice(&index.to_be_bytes());
    key(b"contracts/code_chunk", &item)
}

/// A contract's checkpoint whose chunks are arriving.
pub fn checkpoint_upload(contract: &Digest) -> Digest {
    veil_primitives::contract::checkpoint_upload_state_key(contract)
}

/// A chunk of a contract's checkpoint at `height`.
pub fn checkpoint_chunk(contract: &Digest, height: u64, index: u32) -> Digest {
    veil_primitives::contract::checkpoint_chunk_state_key(contract, height, index)
}

/// Which developers' contracts `miner` takes (absent: any).
pub fn miner_policy(miner: &AccountId) -> Digest {
    veil_primitives::contract::miner_policy_state_key(miner)
}

/// How many contracts `miner` runs (its contracts are listed densely, swap-removed).
pub fn miner_contracts_count(miner: &AccountId) -> Digest {
    key(b"contracts/by_miner", &[miner.as_ref(), b"#"].concat())
}

/// The `i`-th contract `miner` runs.
pub fn miner_contract_at(miner: &AccountId, i: u64) -> Digest {
    key(
        b"contracts/by_miner",
        &[miner.as_ref(), b"@", &i.to_be_bytes()].concat(),
    )
}

/// Where contract `id` is in `miner`'s list.
pub fn miner_contract_position(miner: &AccountId, id: &Digest) -> Digest {
    key(
        b"contracts/by_miner",
        &[miner.as_ref(), b"$", id.as_ref()].concat(),
    )
}

/// Where the next era's check for missed checkpoints starts among all contracts.
pub fn contracts_era_cursor() -> Digest {
    key(b"contracts/all", b"cursor")
}

/// How many contracts exist.
pub fn contracts_count() -> Digest {
    key(b"contracts/all", b"count")
}

/// The `i`-th contract created.
pub fn contract_at(i: u64) -> Digest {
    key(b"contracts/all", &i.to_be_bytes())
}

/// A contract instance (the key light clients prove it under).
pub fn contract(id: &Digest) -> Digest {
    veil_primitives::contract::contract_state_key(id)
}

/// A (source, destination) channel of contract messages.
pub fn channel(source: &Digest, destination: &Digest) -> Digest {
    veil_primitives::contract::channel_state_key(source, destination)
}

/// A contract's key sealed under the root key, as the gatekeepers published it.
pub fn contract_sealed_key(id: &Digest) -> Digest {
    key(b"contracts/sealed_key", id.as_ref())
}

/// A worker's activity (routed side effects) in an era.
pub fn liveness_activity(era: u64, worker: &AccountId) -> Digest {
    key(
        b"liveness/activity",
        &[&era.to_be_bytes()[..], worker.as_ref()].concat(),
    )
}

/// The last heartbeat slot in which a worker was counted active.
pub fn liveness_slot(worker: &AccountId) -> Digest {
    key(b"liveness/slot", worker.as_ref())
}

/// Marks a worker registered when an era began: the workers an era's end judges.
pub fn liveness_member(era: u64, worker: &AccountId) -> Digest {
    key(
        b"liveness/member",
        &[&era.to_be_bytes()[..], worker.as_ref()].concat(),
    )
}

/// A judged era's summary.
pub fn liveness_era(era: u64) -> Digest {
    key(b"liveness/era", &era.to_be_bytes())
}

/// The reward pool: fees, slashes and issuance waiting for an era's end.
pub fn liveness_pool() -> Digest {
    key(b"liveness/pool", &[])
}

/// Rewards an account has received, in all.
pub fn liveness_rewards(account: &AccountId) -> Digest {
    key(b"liveness/rewards", account.as_ref())
}
