//! `veil stake`: bond, nominate gatekeeper candidates, unbond and withdraw, and show an
//! account's staking (its bond, what it nominates, and the stake it has behind the gatekeepers
//! of the latest election, which shares their slashes and rewards).

use std::path::PathBuf;

use clap::Subcommand;
use commonware_cryptography::Signer as _;
use veil_client::{
    describe,
    keys::{AccountKeyFile, read_json},
    parse_account,
};
use veil_primitives::{Balance, Call, MAX_NOMINATIONS, StakingCall, to_hex};
use veil_rpc_api::VeilApiClient as _;

use crate::{
    contract::transact,
    rpc::{connect, node_url, runtime},
};

/// `veil stake` commands.
#[derive(Subcommand)]
pub(crate) enum StakeCommand {
    /// Show an account's bond, unbonding chunks, role and exposure to the elected gatekeepers.
    Show {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// Account (hex public key).
        account: String,
    },
    /// Move free balance into the bond.
    Bond {
        #[command(flatten)]
        from: From,
        /// Amount in the smallest unit.
        #[arg(long)]
        amount: Balance,
    },
    /// Start unbonding part of the bond: it becomes withdrawable after the unbonding delay
    /// (and can be slashed until then).
    Unbond {
        #[command(flatten)]
        from: From,
        /// Amount in the smallest unit.
        #[arg(long)]
        amount: Balance,
    },
    /// Move every unbonding chunk whose delay has passed back to the free balance.
    Withdraw {
        #[command(flatten)]
        from: From,
    },
    /// Back gatekeeper candidates with the bond: at each election it counts for them, and
    /// once they are seated it shares their slashes and rewards.
    Nominate {
        #[command(flatten)]
        from: From,
        /// Candidate workers (hex ids, `veil workers`), 1 to 16.
        #[arg(required = true, num_args = 1..)]
        candidates: Vec<String>,
    },
    /// Stop nominating (or backing a candidate); the bond stays bonded.
    Chill {
        #[command(flatten)]
        from: From,
    },
}

/// Who signs, and through which node.
#[derive(clap::Args)]
pub(crate) struct From {
    /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
    /// http://127.0.0.1:9944).
    #[arg(long)]
    rpc: Option<String>,
    /// The account's key file.
    #[arg(long)]
    from: PathBuf,
}

/// `veil stake`.
pub(crate) fn run(command: StakeCommand) -> anyhow::Result<()> {
    let (from, call, what) = match command {
        StakeCommand::Show { rpc, account } => return show(rpc, &account),
        StakeCommand::Bond { from, amount } => (from, StakingCall::Bond { amount }, "bond"),
        StakeCommand::Unbond { from, amount } => {
            (from, StakingCall::Unbond { amount }, "unbonding")
        }
        StakeCommand::Withdraw { from } => (from, StakingCall::WithdrawUnbonded, "withdrawal"),
        StakeCommand::Nominate { from, candidates } => {
            anyhow::ensure!(
                candidates.len() <= MAX_NOMINATIONS,
                "at most {MAX_NOMINATIONS} candidates, not {}",
                candidates.len()
            );
            let targets = candidates
                .iter()
                .map(|c| parse_account(c).map_err(|e| anyhow::anyhow!("candidate {c}: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (from, StakingCall::Nominate { targets }, "nomination")
        }
        StakeCommand::Chill { from } => (from, StakingCall::Chill, "chill"),
    };
    let key = read_json::<AccountKeyFile>(&from.from)?.private_key()?;
    let rpc = node_url(from.rpc);
    let client = connect(&rpc)?;
    runtime()?.block_on(async {
        let done = transact(&client, &key, vec![Call::Staking(call)], what, |_| ()).await?;
        eprintln!("{what} finalized at height {}", done[0].1);
        let view = client
            .get_staking(to_hex(key.public_key()))
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
        println!("{}", serde_json::to_string_pretty(&view)?);
        Ok(())
    })
}

/// `veil stake show`.
fn show(rpc: Option<String>, account: &str) -> anyhow::Result<()> {
    let rpc = node_url(rpc);
    let id = parse_account(account)?;
    let client = connect(&rpc)?;
    let view = runtime()?
        .block_on(client.get_staking(to_hex(&id)))
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}
