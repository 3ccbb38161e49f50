//! The gatekeepers: election rounds and the launch ([rounds]), and their shared egress stream
//! ([stream]).

pub mod rounds;
pub mod stream;

use veil_primitives::{AccountId, GenesisWorker, KeyHolder, Origin, Phase};

pub use rounds::{
    closed_round, confirmed, election, election_due, genesis_worker, holders, key_check,
    open_round, phase,
};
pub use stream::{
    CopyStatus, ROUTED_WINDOW, check_gatekeeper_message, divergences, max_payload, state_checkpoint,
};

use crate::{
    error::StateError,
    mq,
    overlay::{Overlay, StateRead},
};

/// Launch progress and the gatekeepers' stream, as the chain records them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchStatus {
    /// Before or after launch.
    pub phase: Phase,
    /// The genesis node named at genesis.
    pub genesis_worker: Option<GenesisWorker>,
    /// The pRuntimes that hold the root key.
    pub holders: Vec<KeyHolder>,
    /// Gatekeepers of the current round that confirmed.
    pub confirmed: Vec<AccountId>,
    /// The last closed round.
    pub closed_round: u64,
    /// Divergences recorded.
    pub divergences: u64,
    /// The latest encrypted gatekeeper state.
    pub state_checkpoint: Option<Vec<u8>>,
    /// Next sequence of the gatekeepers' stream.
    pub next_gatekeeper_sequence: u64,
}

/// Reads the launch progress and the gatekeepers' stream.
pub async fn launch_status<S: StateRead>(o: &Overlay<'_, S>) -> Result<LaunchStatus, StateError> {
    Ok(LaunchStatus {
        phase: phase(o).await?,
        genesis_worker: genesis_worker(o).await?,
        holders: holders(o).await?,
        confirmed: confirmed(o).await?,
        closed_round: closed_round(o).await?,
        divergences: divergences(o).await?,
        state_checkpoint: state_checkpoint(o).await?,
        next_gatekeeper_sequence: mq::next_sequence(o, &Origin::Gatekeepers).await?,
    })
}
