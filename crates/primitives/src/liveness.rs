//! Responsiveness monitoring (whitepaper §4.10): what the chain counts of each worker per era
//! and what it concludes.
//!
//! An era is `StakingParams::election_period_blocks` long: the periodic gatekeeper election
//! runs at its boundaries. Every side effect the chain routes for a worker counts as its
//! activity: its signed egress (heartbeats, contract results, readiness), the gatekeepers'
//! stream copies it signed that were routed first, and the contract messages and replies it
//! signed; `c_n` is the number of the era's heartbeat slots in which worker `n` had any. At an
//! era's end, among the workers registered for the whole era, worker `n` is unresponsive when
//! `4 · c_n < max c`, provided the most active showed at least [MIN_ERA_ACTIVITY] (an idle
//! network judges nobody).
//!
//! Consequences and rewards go through one reward pool: transaction fees, slashes of
//! unresponsive workers' backers (and of the nominators exposed to a gatekeeper) and each
//! era's issuance go in; at an era's end the pool is paid out for the responsive workers
//! judged, a gatekeeper weighing `gatekeeper_reward_weight` against a miner's 1: a miner's
//! share to its operator, a gatekeeper's to its backer (a commission) and its exposed
//! nominators by stake.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};

use crate::{AccountId, Balance};

/// Topic of the chain's liveness events ([LivenessEvent]).
pub const LIVENESS_TOPIC: &[u8] = b"veil/liveness";
/// Least activity (active heartbeat slots) the most active worker of an era must show before
/// anyone is judged.
pub const MIN_ERA_ACTIVITY: u64 = 2;

/// What the chain concluded about a worker at an era's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LivenessEvent {
    /// The worker's activity was below a quarter of the busiest worker's.
    Unresponsive {
        /// The worker.
        worker: AccountId,
        /// The era judged.
        era: u64,
        /// Its activity in the era.
        activity: u64,
        /// The most active worker's activity.
        max: u64,
        /// Taken from its backer's bond (and, for a gatekeeper, from the stake nominators
        /// exposed to it) into the reward pool.
        slashed: Balance,
    },
}

/// The chain's summary of a judged era.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EraRecord {
    /// Workers registered for the whole era (the ones judged).
    pub judged: u32,
    /// Those found unresponsive.
    pub unresponsive: u32,
    /// The most active worker's activity.
    pub max: u64,
    /// Slashed from the unresponsive workers' backers (and gatekeepers' nominators) into the
    /// pool.
    pub slashed: Balance,
    /// Paid from the pool for the responsive workers (operators, backers, nominators).
    pub paid: Balance,
}

impl Write for LivenessEvent {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Unresponsive {
                worker,
                era,
                activity,
                max,
                slashed,
            } => {
                0u8.write(buf);
                worker.write(buf);
                era.write(buf);
                activity.write(buf);
                max.write(buf);
                slashed.write(buf);
            }
        }
    }
}

impl EncodeSize for LivenessEvent {
    fn encode_size(&self) -> usize {
        match self {
            Self::Unresponsive { worker, .. } => 1 + worker.encode_size() + 24 + 16,
        }
    }
}

impl Read for LivenessEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Unresponsive {
                worker: crate::wire::read_account(buf)?,
                era: u64::read(buf)?,
                activity: u64::read(buf)?,
                max: u64::read(buf)?,
                slashed: u128::read(buf)?,
            }),
            t => Err(Error::InvalidEnum(t)),
        }
    }
}

impl Write for EraRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.judged.write(buf);
        self.unresponsive.write(buf);
        self.max.write(buf);
        self.slashed.write(buf);
        self.paid.write(buf);
    }
}

impl EncodeSize for EraRecord {
    fn encode_size(&self) -> usize {
        16 + 32
    }
}

impl Read for EraRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            judged: u32::read(buf)?,
            unresponsive: u32::read(buf)?,
            max: u64::read(buf)?,
            slashed: u128::read(buf)?,
            paid: u128::read(buf)?,
        })
    }
}
