//! `veil bench memory`: whether a validator's resident memory stays bounded as the chain grows.
//!
//! Starts a fresh devnet, keeps a steady load of transfers on it, and samples every validator's
//! RSS as the height passes each mark. Memory that grows with height (an index or cache without
//! a bound) shows as a final sample well above the warm one; the report gives their ratio.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::Args;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use jsonrpsee::{
    core::{client::ClientT as _, params::BatchRequestBuilder},
    http_client::HttpClient,
    rpc_params,
};
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::{Call, ChainIdentity, PrivateKey, Transaction, to_hex};
use veil_rpc_api::VeilApiClient as _;

use crate::{
    demo::fund,
    devnet::{process::mib, status::wait_ready},
    rpc::{connect, identity, runtime},
};

#[derive(Args)]
pub(crate) struct MemoryBenchArgs {
    /// Validators in the devnet.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Height to run to.
    #[arg(long, default_value_t = 50_000)]
    blocks: u64,
    /// Height of the first (warm) sample: caches have filled by then.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Blocks between samples.
    #[arg(long, default_value_t = 2_500)]
    every: u64,
    /// Least time between blocks, in milliseconds.
    #[arg(long, default_value_t = 10)]
    block_interval_ms: u64,
    /// Offered load in transfers per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Devnet directory (a fresh temporary one by default).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Sending accounts; at the default rate each has a few transfers pending at most.
const SENDERS: usize = 40;

pub(crate) fn memory(args: MemoryBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.every > 0 && args.warmup < args.blocks,
        "--every must be positive and --warmup below --blocks"
    );
    super::on_validators(
        args.dir.as_ref(),
        "memory",
        args.validators,
        args.block_interval_ms,
        |dir, launched| {
            runtime()?.block_on(async {
                let nodes = &launched.nodes;
                let clients = nodes
                    .iter()
                    .map(|e| connect(&e.rpc))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let status = wait_ready(dir, &clients, nodes, &mut launched.children).await?;
                let pids: Vec<u32> = launched.children.iter().map(|c| c.id()).collect();
                run(dir, &args, &clients, &identity(&status)?, &pids).await
            })
        },
    )
}

/// One sample: the height and every validator's RSS in bytes.
struct Sample {
    height: u64,
    rss: Vec<u64>,
}

async fn run(
    dir: &std::path::Path,
    args: &MemoryBenchArgs,
    clients: &[HttpClient],
    chain: &ChainIdentity,
    pids: &[u32],
) -> anyhow::Result<()> {
    let faucet =
        read_json::<AccountKeyFile>(&dir.join("keys").join("faucet.json"))?.private_key()?;
    let mut rng = commonware_utils::sys_rng();
    let senders: Vec<PrivateKey> = (0..SENDERS).map(|_| PrivateKey::random(&mut rng)).collect();
    let sink = PrivateKey::random(&mut rng).public_key();
    eprintln!("funding {SENDERS} senders");
    let accounts: Vec<_> = senders.iter().map(|s| s.public_key()).collect();
    fund(&clients[0], &faucet, &accounts, 1_000_000_000_000).await?;

    let mut nonces = vec![0u64; SENDERS];
    let batch = (args.rate / 10).max(1) as usize;
    let pause = Duration::from_secs_f64(batch as f64 / args.rate.max(1) as f64);
    let mut next_mark = args.warmup;
    let mut samples: Vec<Sample> = Vec::new();
    let mut sent = 0u64;
    let mut refused = 0u64;
    let started = Instant::now();
    let mut tick = Instant::now();
    let mut round = 0usize;
    eprintln!(
        "running to height {} at {} transfers/s; RSS sampled at {} and every {} blocks",
        args.blocks, args.rate, args.warmup, args.every
    );
    loop {
        let height = clients[0].status().await?.height;
        if height >= next_mark {
            let rss = pids
                .iter()
                .map(|p| {
                    veil_metrics::rss_bytes(*p)
                        .ok_or_else(|| anyhow::anyhow!("validator process {p} is gone"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let max = rss.iter().copied().max().unwrap_or(0);
            let rate = height as f64 / started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "height {height:>7}: validator RSS max {:.1} MiB ({} transfers sent, {:.0} blocks/s)",
                mib(max),
                sent,
                rate
            );
            samples.push(Sample { height, rss });
            if height >= args.blocks {
                break;
            }
            next_mark = (next_mark + args.every).min(args.blocks).max(height + 1);
        }

        // One batch of transfers, round-robin over the senders and validators.
        let mut request = BatchRequestBuilder::new();
        let mut batch_senders = Vec::with_capacity(batch);
        for k in 0..batch {
            let i = (round * batch + k) % SENDERS;
            let tx = Transaction {
                sender: senders[i].public_key(),
                nonce: nonces[i],
                expiry: height + 1_000,
                call: Call::Transfer {
                    to: sink.clone(),
                    amount: 1,
                },
            }
            .sign(&senders[i], chain);
            nonces[i] += 1;
            batch_senders.push(i);
            request.insert("veil_submitTransaction", rpc_params![to_hex(tx.encode())])?;
        }
        let client = &clients[round % clients.len()];
        round += 1;
        let response = client.batch_request::<String>(request).await?;
        sent += batch as u64;
        // A refused transfer leaves a gap in its sender's nonces: start again from the chain's.
        for (entry, i) in response.into_iter().zip(batch_senders) {
            if entry.is_err() {
                refused += 1;
                nonces[i] = client
                    .get_account(to_hex(senders[i].public_key()))
                    .await?
                    .nonce;
            }
        }
        tick += pause;
        tokio::time::sleep_until(tick.into()).await;
    }

    let warm = samples.first().expect("one sample at least");
    let last = samples.last().expect("one sample at least");
    let peak = samples
        .iter()
        .flat_map(|s| s.rss.iter().copied())
        .max()
        .unwrap_or(0);
    let warm_max = warm.rss.iter().copied().max().unwrap_or(0);
    let last_max = last.rss.iter().copied().max().unwrap_or(0);
    let ratio = last_max as f64 / warm_max.max(1) as f64;
    // Caches fill during the first part of a run; what grows after, grows with the chain.
    let middle = samples
        .iter()
        .find(|s| s.height >= args.blocks / 2)
        .unwrap_or(warm);
    let middle_max = middle.rss.iter().copied().max().unwrap_or(0);
    let second_half = last_max as f64 / middle_max.max(1) as f64;
    let report = serde_json::json!({
        "validators": args.validators,
        "block_interval_ms": args.block_interval_ms,
        "offered_rate": args.rate,
        "transfers_sent": sent,
        "transfers_refused": refused,
        "seconds": started.elapsed().as_secs_f64(),
        "samples": samples.iter().map(|s| serde_json::json!({
            "height": s.height,
            "rss_bytes": s.rss,
        })).collect::<Vec<_>>(),
        "warm_rss_max_bytes": warm_max,
        "final_rss_max_bytes": last_max,
        "peak_rss_bytes": peak,
        "final_over_warm": ratio,
        "middle_rss_max_bytes": middle_max,
        "final_over_middle": second_half,
    });
    println!(
        "validator RSS (max of {}) at height {}: {:.1} MiB (warm)",
        args.validators,
        warm.height,
        mib(warm_max)
    );
    println!(
        "validator RSS (max of {}) at height {}: {:.1} MiB (final)",
        args.validators,
        last.height,
        mib(last_max)
    );
    println!("peak over the run:   {:.1} MiB", mib(peak));
    println!("final / warm:        {ratio:.3}");
    println!(
        "final / height {}:  {second_half:.3} (growth over the second half, caches full)",
        middle.height
    );
    println!("transfers sent:      {sent} ({refused} refused)");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
