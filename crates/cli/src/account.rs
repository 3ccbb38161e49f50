//! Commands that read and move funds through a node: status, workers, account, transfer.

use std::time::Duration;

use clap::Args;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use veil_client::{
    describe,
    keys::{AccountKeyFile, read_json},
    parse_account,
};
use veil_primitives::{AccountId, Call, Transaction, to_hex};
use veil_rpc_api::VeilApiClient as _;

use crate::rpc::{connect, identity, node_url, runtime, wait_finalized};

/// `veil workers`: the registered workers, so a developer can pick a miner.
pub(crate) fn workers(rpc: Option<String>, json: bool) -> anyhow::Result<()> {
    let rpc = node_url(rpc);
    let rt = runtime()?;
    let client = connect(&rpc)?;
    let workers = rt
        .block_on(client.workers())
        .map_err(|e| anyhow::anyhow!("cannot list workers at {rpc}: {}", describe(&e)))?;
    // The latest election's gatekeepers hold the root key; every other worker can be a miner.
    let gatekeepers: Vec<String> = rt
        .block_on(client.election())
        .map_err(|e| anyhow::anyhow!("cannot read the election at {rpc}: {}", describe(&e)))?
        .map(|e| e.gatekeepers.into_iter().map(|g| g.worker).collect())
        .unwrap_or_default();
    let role = |worker: &str| {
        if gatekeepers.iter().any(|g| g == worker) {
            "gatekeeper"
        } else {
            "miner"
        }
    };
    if json {
        let mut list = serde_json::to_value(&workers)?;
        for entry in list.as_array_mut().into_iter().flatten() {
            let worker = entry["worker"].as_str().unwrap_or_default().to_string();
            entry["role"] = role(&worker).into();
        }
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if workers.is_empty() {
        println!("no registered workers");
    }
    for w in &workers {
        let takes = match &w.developers {
            _ if role(&w.worker) == "gatekeeper" => "runs no developer's contracts".to_string(),
            None => "takes any developer's contracts".to_string(),
            Some(d) if d.is_empty() => "takes no new contracts".to_string(),
            Some(d) => format!("takes contracts of {} developer(s)", d.len()),
        };
        println!(
            "{}  {:<10}  {}  {}  {}{}",
            w.worker,
            role(&w.worker),
            takes,
            w.endpoint,
            serde_json::to_value(w.tee)?.as_str().unwrap_or("?"),
            if w.insecure {
                "  INSECURE (dev attestation)".to_string()
            } else {
                // What governance weighs after an Intel TCB recovery (`min_tcb_evaluation`).
                format!("  TCB {} (evaluation {})", w.tcb_status, w.tcb_evaluation)
            }
        );
    }
    Ok(())
}

/// `veil status`.
pub(crate) fn status(rpc: Option<String>, json: bool) -> anyhow::Result<()> {
    let rpc = node_url(rpc);
    let rt = runtime()?;
    let client = connect(&rpc)?;
    let status = rt.block_on(veil_client::node::status(&client, &rpc))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        println!("chain id     {}", status.chain_id);
        println!("genesis      {}", status.genesis_hash);
        println!("height       {} ({})", status.height, status.hash);
        println!("finalized    {}", status.finalized);
        println!("validators   {}", status.validators);
        println!("peers        {}", status.peers);
        println!("mempool      {}", status.mempool);
        println!(
            "workers      {} registered ({} insecure: dev attestation)",
            status.workers, status.insecure_workers
        );
        println!(
            "gatekeepers  {} elected in round {} ({} confirmed the root key)",
            status.gatekeepers, status.election_round, status.confirmed_gatekeepers
        );
        if status.insecure_gatekeepers {
            println!(
                "             INSECURE: dev-attested workers may be gatekeepers (their hosts can read the root key)"
            );
        }
        match status.era {
            Some(era) => println!("phase        launched (root key era {era})"),
            None => println!("phase        prelaunch (contracts disabled until launch)"),
        }
        println!("genesis node {}", status.genesis);
        let l = &status.liveness;
        match &l.last {
            Some(e) => println!(
                "era          {} (ends at height {}); era {}: {} responsive, {} unresponsive",
                l.era,
                l.ends_at,
                e.era,
                e.judged - e.unresponsive,
                e.unresponsive
            ),
            None => println!("era          {} (ends at height {})", l.era, l.ends_at),
        }
        if status.divergences > 0 {
            println!(
                "divergences  {} (gatekeepers disagreed)",
                status.divergences
            );
        }
    }
    Ok(())
}

/// `veil account`.
pub(crate) fn account(rpc: Option<String>, account: &str) -> anyhow::Result<()> {
    let rpc = node_url(rpc);
    let rt = runtime()?;
    let client = connect(&rpc)?;
    let id = parse_account(account)?;
    let a = rt
        .block_on(client.get_account(to_hex(&id)))
        .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
    println!("{}", serde_json::to_string_pretty(&a)?);
    Ok(())
}

#[derive(Args)]
pub(crate) struct TransferArgs {
    /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
    /// http://127.0.0.1:9944).
    #[arg(long)]
    rpc: Option<String>,
    /// Sender key file.
    #[arg(long)]
    from: std::path::PathBuf,
    /// Recipient account (hex public key).
    #[arg(long)]
    to: String,
    /// Amount in the smallest unit.
    #[arg(long)]
    amount: u128,
    /// Blocks until the transaction expires.
    #[arg(long, default_value_t = 100)]
    ttl: u64,
    /// Return after submission instead of waiting for finality.
    #[arg(long)]
    no_wait: bool,
}

/// `veil transfer`.
pub(crate) fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let rpc = node_url(args.rpc.clone());
    let key = read_json::<AccountKeyFile>(&args.from)?.private_key()?;
    let to: AccountId = parse_account(&args.to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let rt = runtime()?;
    let client = connect(&rpc)?;
    rt.block_on(async {
        let status = veil_client::node::status(&client, &rpc).await?;
        let chain = identity(&status)?;
        let sender = client
            .get_account(to_hex(key.public_key()))
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
        let tx = Transaction {
            sender: key.public_key(),
            nonce: sender.nonce,
            expiry: status.height + args.ttl,
            call: Call::Transfer {
                to,
                amount: args.amount,
            },
        }
        .sign(&key, &chain);
        let hash = client
            .submit_transaction(to_hex(tx.encode()))
            .await
            .map_err(|e| anyhow::anyhow!("transaction refused: {}", describe(&e)))?;
        eprintln!("submitted {hash}");
        if args.no_wait {
            println!("{hash}");
            return Ok(());
        }
        let view = wait_finalized(&client, &hash, Duration::from_secs(60)).await?;
        println!("{}", serde_json::to_string_pretty(&view)?);
        anyhow::ensure!(
            view.success == Some(true),
            "transfer failed: {}",
            view.error.unwrap_or_default()
        );
        Ok(())
    })
}
