//! Staking types: bonding, gatekeeper candidacy, nominations and the election result.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

use crate::{
    AccountId, Balance, Digest, Height,
    gatekeeper::{KeyHolder, holders_cfg},
};

/// Topic of election results (payload: an encoded [Election]).
pub const ELECTION_TOPIC: &[u8] = b"veil/gatekeeper-election";

/// Most candidates one nominator may back.
pub const MAX_NOMINATIONS: usize = 16;
pub use crate::gatekeeper::MAX_GATEKEEPERS;
/// Hard cap on [StakingParams::max_candidates].
pub const MAX_CANDIDATES_CAP: u32 = 10_000;
/// Hard cap on [StakingParams::max_nominators].
pub const MAX_NOMINATORS_CAP: u32 = 100_000;

/// What an account asks of the staking module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StakingCall {
    /// Move free balance into the sender's bond.
    Bond {
        /// Amount.
        amount: Balance,
    },
    /// Start unbonding part of the bond; it becomes free after `unbond_delay_blocks`.
    Unbond {
        /// Amount.
        amount: Balance,
    },
    /// Free every unbonding chunk whose delay has passed.
    WithdrawUnbonded,
    /// Offer one of the sender's registered workers as a gatekeeper candidate, backed by the
    /// sender's bond (at least `gatekeeper_min_bond`).
    Candidate {
        /// The worker (its identity key).
        worker: AccountId,
    },
    /// Back these candidates with the sender's bond (at least `nominator_min_bond`).
    Nominate {
        /// Candidate workers, 1 to [MAX_NOMINATIONS].
        targets: Vec<AccountId>,
    },
    /// Stop being a candidate's backer or a nominator.
    Chill,
}

/// Staking parameters, set at genesis and changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StakingParams {
    /// Gatekeepers each election elects.
    pub n_gatekeepers: u32,
    /// Least bond behind a gatekeeper candidate. Gatekeepers hold the root key, so they stake
    /// more than anyone else.
    pub gatekeeper_min_bond: Balance,
    /// Least bond of a nominator.
    pub nominator_min_bond: Balance,
    /// An election runs at every multiple of this height.
    pub election_period_blocks: u64,
    /// Blocks between unbonding and the funds becoming free.
    pub unbond_delay_blocks: u64,
    /// Blocks an election's gatekeepers have to fetch the root key and confirm. After that the
    /// round expires, the silent ones are slashed and the chain elects again.
    pub distribution_deadline_blocks: u64,
    /// Share of a silent gatekeeper's backing bond (and of the stake nominators exposed to it)
    /// moved to the reward pool, in millionths.
    pub slash_ppm: u32,
    /// Most gatekeeper candidates at once. With [Self::max_nominators] it bounds the work of
    /// an election, which every validator does inside one block.
    pub max_candidates: u32,
    /// Most nominators at once.
    pub max_nominators: u32,
    /// Share of an unresponsive gatekeeper's backing bond moved to the era's reward pool, in
    /// millionths (`docs/protocol/liveness.md`).
    pub unresponsive_gatekeeper_slash_ppm: u32,
    /// Share of an unresponsive miner's operator's bond moved to the reward pool, in
    /// millionths: less than a gatekeeper's, whose silence costs more (whitepaper §4.10).
    pub unresponsive_miner_slash_ppm: u32,
    /// New tokens minted into the reward pool at each era's end.
    pub era_issuance: Balance,
    /// A responsive gatekeeper's share of the reward pool against a miner's (1).
    pub gatekeeper_reward_weight: u32,
    /// Part of a gatekeeper's reward its backer takes before the rest is split by stake
    /// between the backer and the nominators exposed to it, in millionths: the operator runs
    /// the enclave.
    pub gatekeeper_commission_ppm: u32,
}

impl Default for StakingParams {
    fn default() -> Self {
        Self {
            n_gatekeepers: 3,
            gatekeeper_min_bond: 1_000_000_000,
            nominator_min_bond: 1_000_000,
            election_period_blocks: 600,
            unbond_delay_blocks: 14_400,
            distribution_deadline_blocks: 100,
            slash_ppm: 100_000,
            max_candidates: 1_000,
            max_nominators: 10_000,
            unresponsive_gatekeeper_slash_ppm: 50_000,
            unresponsive_miner_slash_ppm: 10_000,
            era_issuance: 0,
            gatekeeper_reward_weight: 2,
            gatekeeper_commission_ppm: 100_000,
        }
    }
}

impl StakingParams {
    /// Checks invariants that would make elections unusable.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.n_gatekeepers == 0 || self.n_gatekeepers > MAX_GATEKEEPERS {
            return Err("n_gatekeepers must be between 1 and 100");
        }
        if self.election_period_blocks == 0 {
            return Err("election_period_blocks must be positive");
        }
        if self.gatekeeper_min_bond == 0 {
            return Err("gatekeeper_min_bond must be positive");
        }
        if self.distribution_deadline_blocks == 0 {
            return Err("distribution_deadline_blocks must be positive");
        }
        if self.slash_ppm > 1_000_000 {
            return Err("slash_ppm is at most 1000000 (all of the bond)");
        }
        // A backer or nominator must not be able to chill, unbond and withdraw before the stake
        // it had behind a gatekeeper at its election can be slashed: at the round's deadline,
        // or when the era is judged.
        if self.unbond_delay_blocks
            <= self
                .election_period_blocks
                .saturating_add(self.distribution_deadline_blocks)
        {
            return Err(
                "unbond_delay_blocks must exceed election_period_blocks + distribution_deadline_blocks",
            );
        }
        if self.nominator_min_bond == 0 {
            return Err("nominator_min_bond must be positive");
        }
        if self.max_candidates == 0 || self.max_candidates > MAX_CANDIDATES_CAP {
            return Err("max_candidates must be between 1 and 10000");
        }
        if self.max_nominators > MAX_NOMINATORS_CAP {
            return Err("max_nominators is at most 100000");
        }
        if self.unresponsive_gatekeeper_slash_ppm > 1_000_000
            || self.unresponsive_miner_slash_ppm > 1_000_000
        {
            return Err("unresponsive slashes are at most 1000000 (all of the bond)");
        }
        if self.gatekeeper_reward_weight == 0 || self.gatekeeper_reward_weight > 1_000 {
            return Err("gatekeeper_reward_weight must be between 1 and 1000");
        }
        if self.gatekeeper_commission_ppm > 1_000_000 {
            return Err("gatekeeper_commission_ppm is at most 1000000 (all of the reward)");
        }
        Ok(())
    }
}

/// The result of a gatekeeper election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Election {
    /// Election round, from 1.
    pub round: u64,
    /// Height of the block that ran it.
    pub height: Height,
    /// Elected workers, in election order, with their registered X25519 keys.
    pub gatekeepers: Vec<Elected>,
    /// The round expires at this height unless every gatekeeper confirmed by then.
    pub deadline: Height,
    /// The pRuntimes that hold the root key and answer key requests: the genesis node before
    /// launch, then the gatekeepers of the last fully confirmed round.
    pub holders: Vec<KeyHolder>,
    /// [crate::root_key_check] of the root key the gatekeepers must end up holding.
    pub key_check: Digest,
}

impl Write for StakingCall {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Bond { amount } => {
                0u8.write(buf);
                amount.write(buf);
            }
            Self::Unbond { amount } => {
                1u8.write(buf);
                amount.write(buf);
            }
            Self::WithdrawUnbonded => 2u8.write(buf),
            Self::Candidate { worker } => {
                3u8.write(buf);
                worker.write(buf);
            }
            Self::Nominate { targets } => {
                4u8.write(buf);
                targets.write(buf);
            }
            Self::Chill => 5u8.write(buf),
        }
    }
}

impl EncodeSize for StakingCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Bond { amount } | Self::Unbond { amount } => amount.encode_size(),
            Self::WithdrawUnbonded | Self::Chill => 0,
            Self::Candidate { worker } => worker.encode_size(),
            Self::Nominate { targets } => targets.encode_size(),
        }
    }
}

impl Read for StakingCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Bond {
                amount: u128::read(buf)?,
            }),
            1 => Ok(Self::Unbond {
                amount: u128::read(buf)?,
            }),
            2 => Ok(Self::WithdrawUnbonded),
            3 => Ok(Self::Candidate {
                worker: crate::wire::read_account(buf)?,
            }),
            4 => Ok(Self::Nominate {
                targets: Vec::<AccountId>::read_cfg(
                    buf,
                    &(RangeCfg::new(0..=MAX_NOMINATIONS), ()),
                )?,
            }),
            5 => Ok(Self::Chill),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for StakingParams {
    fn write(&self, buf: &mut impl BufMut) {
        self.n_gatekeepers.write(buf);
        self.gatekeeper_min_bond.write(buf);
        self.nominator_min_bond.write(buf);
        self.election_period_blocks.write(buf);
        self.unbond_delay_blocks.write(buf);
        self.distribution_deadline_blocks.write(buf);
        self.slash_ppm.write(buf);
        self.max_candidates.write(buf);
        self.max_nominators.write(buf);
        self.unresponsive_gatekeeper_slash_ppm.write(buf);
        self.unresponsive_miner_slash_ppm.write(buf);
        self.era_issuance.write(buf);
        self.gatekeeper_reward_weight.write(buf);
        self.gatekeeper_commission_ppm.write(buf);
    }
}

impl EncodeSize for StakingParams {
    fn encode_size(&self) -> usize {
        4 + 16 + 16 + 8 + 8 + 8 + 4 + 4 + 4 + 4 + 4 + 16 + 4 + 4
    }
}

impl Read for StakingParams {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            n_gatekeepers: u32::read(buf)?,
            gatekeeper_min_bond: u128::read(buf)?,
            nominator_min_bond: u128::read(buf)?,
            election_period_blocks: u64::read(buf)?,
            unbond_delay_blocks: u64::read(buf)?,
            distribution_deadline_blocks: u64::read(buf)?,
            slash_ppm: u32::read(buf)?,
            max_candidates: u32::read(buf)?,
            max_nominators: u32::read(buf)?,
            unresponsive_gatekeeper_slash_ppm: u32::read(buf)?,
            unresponsive_miner_slash_ppm: u32::read(buf)?,
            era_issuance: u128::read(buf)?,
            gatekeeper_reward_weight: u32::read(buf)?,
            gatekeeper_commission_ppm: u32::read(buf)?,
        })
    }
}

/// One elected gatekeeper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elected {
    /// The worker (its identity key).
    pub worker: AccountId,
    /// Its registered X25519 key: the static key of the secure channels gatekeepers open, so
    /// a pRuntime that verified the announcement knows whom it may talk to without reading the
    /// registry.
    pub ecdh_key: [u8; 32],
}

impl Election {
    /// Whether `worker` was elected.
    pub fn is_elected(&self, worker: &AccountId) -> bool {
        self.gatekeepers.iter().any(|g| &g.worker == worker)
    }

    /// Whether a gatekeeper of this round has the X25519 key `key`.
    pub fn has_ecdh_key(&self, key: &[u8; 32]) -> bool {
        self.gatekeepers.iter().any(|g| &g.ecdh_key == key)
    }

    /// `worker`'s position in the election order.
    pub fn position(&self, worker: &AccountId) -> Option<usize> {
        self.gatekeepers.iter().position(|g| &g.worker == worker)
    }

    /// The elected workers, in order.
    pub fn workers(&self) -> impl Iterator<Item = &AccountId> {
        self.gatekeepers.iter().map(|g| &g.worker)
    }
}

impl Write for Elected {
    fn write(&self, buf: &mut impl BufMut) {
        self.worker.write(buf);
        self.ecdh_key.write(buf);
    }
}

impl EncodeSize for Elected {
    fn encode_size(&self) -> usize {
        self.worker.encode_size() + 32
    }
}

impl Read for Elected {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            worker: crate::wire::read_account(buf)?,
            ecdh_key: <[u8; 32]>::read(buf)?,
        })
    }
}

impl Write for Election {
    fn write(&self, buf: &mut impl BufMut) {
        self.round.write(buf);
        self.height.write(buf);
        self.gatekeepers.write(buf);
        self.deadline.write(buf);
        self.holders.write(buf);
        self.key_check.write(buf);
    }
}

impl EncodeSize for Election {
    fn encode_size(&self) -> usize {
        16 + self.gatekeepers.encode_size() + 8 + self.holders.encode_size() + 32
    }
}

impl Read for Election {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let bound = &(RangeCfg::new(0..=MAX_GATEKEEPERS as usize), ());
        Ok(Self {
            round: u64::read(buf)?,
            height: u64::read(buf)?,
            gatekeepers: Vec::<Elected>::read_cfg(buf, bound)?,
            deadline: u64::read(buf)?,
            holders: Vec::<KeyHolder>::read_cfg(buf, &holders_cfg())?,
            key_check: Digest::read(buf)?,
        })
    }
}
