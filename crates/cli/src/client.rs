//! Commands that talk to a node over JSON-RPC: status, account, transfer, bench.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use veil_node::{
    keys::{AccountKeyFile, read_json},
    rpc::{StatusView, VeilApiClient as _},
};
use veil_primitives::{AccountId, Call, ChainIdentity, Transaction, decode_hex, to_hex};

/// A blocking runtime for one-shot client commands.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// An HTTP client for `url`.
pub(crate) fn connect(url: &str) -> anyhow::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(10))
        .build(url)
        .map_err(|e| anyhow::anyhow!("bad RPC URL {url}: {e}"))
}

/// The chain identity a node reports, needed to sign transactions.
pub(crate) fn identity(status: &StatusView) -> anyhow::Result<ChainIdentity> {
    Ok(ChainIdentity {
        chain_id: status.chain_id,
        genesis_hash: decode_hex(&status.genesis_hash)
            .map_err(|e| anyhow::anyhow!("node reported a bad genesis hash: {e}"))?,
    })
}

pub(crate) fn status(rpc: &str, json: bool) -> anyhow::Result<()> {
    let rt = runtime()?;
    let client = connect(rpc)?;
    let status = rt
        .block_on(client.status())
        .map_err(|e| anyhow::anyhow!("cannot reach node at {rpc}: {e}"))?;
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
        match status.era {
            Some(era) => println!("phase        launched (root key era {era})"),
            None => println!("phase        prelaunch (contracts disabled until launch)"),
        }
        println!("genesis node {}", status.genesis);
        if status.divergences > 0 {
            println!(
                "divergences  {} (gatekeepers disagreed)",
                status.divergences
            );
        }
    }
    Ok(())
}

pub(crate) fn account(rpc: &str, account: &str) -> anyhow::Result<()> {
    let rt = runtime()?;
    let client = connect(rpc)?;
    let a = rt
        .block_on(client.get_account(account.to_string()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&a)?);
    Ok(())
}

#[derive(Args)]
pub(crate) struct TransferArgs {
    /// Node RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:9944")]
    rpc: String,
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

/// Waits until a transaction is finalized; returns its view.
pub(crate) async fn wait_finalized(
    client: &HttpClient,
    hash: &str,
    timeout: Duration,
) -> anyhow::Result<veil_node::rpc::TransactionView> {
    let deadline = Instant::now() + timeout;
    loop {
        let view = client
            .get_transaction(hash.to_string())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if view.status == "finalized" {
            return Ok(view);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "transaction {hash} not finalized within {timeout:?} (status: {})",
            view.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let key = read_json::<AccountKeyFile>(&args.from)?.private_key()?;
    let to: AccountId = decode_hex(&args.to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let rt = runtime()?;
    let client = connect(&args.rpc)?;
    rt.block_on(async {
        let status = client
            .status()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach node at {}: {e}", args.rpc))?;
        let chain = identity(&status)?;
        let sender = client
            .get_account(to_hex(key.public_key()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
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
            .map_err(|e| anyhow::anyhow!("transaction refused: {e}"))?;
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

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Finalized transfers per second on a local devnet, with latency, against the
    /// single-core ed25519 verification rate.
    Chain(crate::bench::ChainBenchArgs),
    /// pRuntime light-client sync rate (blocks/s), against hashing plus one certificate check
    /// per batch.
    Sync(crate::bench_sync::SyncBenchArgs),
}

pub(crate) fn bench(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Chain(args) => crate::bench::chain(args),
        BenchCommand::Sync(args) => crate::bench_sync::sync(args),
    }
}
