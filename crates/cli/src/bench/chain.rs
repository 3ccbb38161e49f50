//! `veil bench chain`: finalized transfers per second on a local devnet, with latency from
//! submission to finality, against a bound measured in the same run (single-core ed25519
//! signature verification).
//!
//! The load generator runs on the same machine as the validators and shares its cores; the
//! report says so.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Args;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use jsonrpsee::{
    core::{client::ClientT as _, params::BatchRequestBuilder},
    rpc_params,
    ws_client::WsClientBuilder,
};
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::{
    Call, ChainIdentity, Digest, PrivateKey, SignedTransaction, Transaction, hash, to_hex,
};
use veil_rpc_api::{BlockId, VeilApiClient as _};

use crate::{
    devnet::{layout::NodeEntry, process::mib, status::wait_ready},
    rpc::{connect, identity, runtime, wait_finalized},
};

#[derive(Args)]
pub(crate) struct ChainBenchArgs {
    /// Validators in the devnet.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Transfers to send.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// Sending accounts (each sends at most 60, below the mempool's nonce window).
    #[arg(long, default_value_t = 400)]
    senders: usize,
    /// Least time between blocks, in milliseconds.
    #[arg(long, default_value_t = 100)]
    block_interval_ms: u64,
    /// Transactions per RPC batch.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// Offered load in transfers per second across all validators (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Devnet directory (a fresh temporary one by default).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The `p` quantile of `sorted` (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Single-core ed25519 verifications per second over real transactions.
pub(crate) fn verify_bound(chain: &ChainIdentity) -> f64 {
    let key = PrivateKey::random(commonware_utils::sys_rng());
    let to = PrivateKey::random(commonware_utils::sys_rng()).public_key();
    let txs: Vec<SignedTransaction> = (0..4_000)
        .map(|n| {
            Transaction {
                sender: key.public_key(),
                nonce: n,
                expiry: 1,
                call: Call::Transfer {
                    to: to.clone(),
                    amount: 1,
                },
            }
            .sign(&key, chain)
        })
        .collect();
    let start = Instant::now();
    let ok = txs.iter().filter(|t| t.verify(chain)).count();
    let elapsed = start.elapsed();
    assert_eq!(ok, txs.len());
    txs.len() as f64 / elapsed.as_secs_f64()
}

pub(crate) fn chain(args: ChainBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.senders > 0 && args.txs > 0,
        "--txs and --senders must be positive"
    );
    let per_sender = args.txs.div_ceil(args.senders);
    anyhow::ensure!(
        per_sender <= 60,
        "{} transfers over {} senders is {per_sender} each; use at least {} senders",
        args.txs,
        args.senders,
        args.txs.div_ceil(60)
    );
    super::on_validators(
        args.dir.as_ref(),
        "chain",
        args.validators,
        args.block_interval_ms,
        |dir, launched| {
            runtime()?.block_on(run(
                dir,
                &args,
                per_sender,
                &launched.nodes,
                &mut launched.children,
            ))
        },
    )
}

async fn run(
    dir: &std::path::Path,
    args: &ChainBenchArgs,
    per_sender: usize,
    entries: &[NodeEntry],
    children: &mut [std::process::Child],
) -> anyhow::Result<()> {
    let clients = entries
        .iter()
        .map(|e| connect(&e.rpc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let status = wait_ready(dir, &clients, entries, children).await?;
    let chain = identity(&status)?;

    eprintln!("measuring the bound: single-core ed25519 verification");
    let bound = verify_bound(&chain);
    eprintln!("  {bound:.0} verifications/s");

    // Fund the senders from the faucet, 60 at a time (the faucet's own nonce window).
    let faucet =
        read_json::<AccountKeyFile>(&dir.join("keys").join("faucet.json"))?.private_key()?;
    let mut rng = commonware_utils::sys_rng();
    let senders: Vec<PrivateKey> = (0..args.senders)
        .map(|_| PrivateKey::random(&mut rng))
        .collect();
    let sink = PrivateKey::random(&mut rng).public_key();
    let mut nonce = clients[0]
        .get_account(to_hex(faucet.public_key()))
        .await?
        .nonce;
    eprintln!("funding {} senders", senders.len());
    for chunk in senders.chunks(60) {
        let height = clients[0].status().await?.height;
        let mut last = String::new();
        for s in chunk {
            let tx = Transaction {
                sender: faucet.public_key(),
                nonce,
                expiry: height + 200,
                call: Call::Transfer {
                    to: s.public_key(),
                    amount: 1_000_000_000,
                },
            }
            .sign(&faucet, &chain);
            nonce += 1;
            last = clients[0].submit_transaction(to_hex(tx.encode())).await?;
        }
        wait_finalized(&clients[0], &last, Duration::from_secs(60)).await?;
    }

    // Sign everything up front so signing does not count against the chain.
    let height = clients[0].status().await?.height;
    let mut per_node: Vec<Vec<(Digest, String)>> = vec![Vec::new(); clients.len()];
    let mut total = 0;
    'outer: for n in 0..per_sender {
        for (i, s) in senders.iter().enumerate() {
            if total == args.txs {
                break 'outer;
            }
            let tx = Transaction {
                sender: s.public_key(),
                nonce: n as u64,
                expiry: height + 10_000,
                call: Call::Transfer {
                    to: sink.clone(),
                    amount: 1,
                },
            }
            .sign(s, &chain);
            let bytes = tx.encode();
            per_node[i % clients.len()].push((hash(&bytes), to_hex(&bytes)));
            total += 1;
        }
    }
    eprintln!(
        "submitting {total} signed transfers to {} validators",
        clients.len()
    );

    let submitted: Arc<Mutex<HashMap<Digest, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let finalized: Arc<Mutex<Vec<(Digest, Instant)>>> = Arc::new(Mutex::new(Vec::new()));

    // Watch finalized heads over WebSocket and attribute each block's transactions.
    let ws = WsClientBuilder::default().build(&entries[0].ws).await?;
    let mut heads = ws.subscribe_finalized_heads().await?;
    let watcher = {
        let finalized = finalized.clone();
        let client = clients[0].clone();
        tokio::spawn(async move {
            let mut seen = 0usize;
            while let Some(Ok(head)) = heads.next().await {
                let now = Instant::now();
                if let Ok(Some(block)) = client.get_block(BlockId::Height(head.height)).await {
                    let mut f = finalized.lock().expect("lock");
                    for t in &block.transactions {
                        if let Ok(bytes) = veil_primitives::from_hex(t) {
                            f.push((hash(&bytes), now));
                        }
                    }
                    seen = f.len();
                }
                if seen >= total {
                    break;
                }
            }
        })
    };

    // Validators' memory: idle before the load, and the peak while it runs.
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let max_rss = move || {
        pids.iter()
            .filter_map(|p| veil_metrics::rss_bytes(*p))
            .max()
            .unwrap_or(0)
    };
    let idle_rss = max_rss();
    let peak_rss = Arc::new(AtomicU64::new(idle_rss));
    let sampler = {
        let peak_rss = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                peak_rss.fetch_max(max_rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let start = Instant::now();
    let mut tasks = Vec::new();
    // Each validator's share of the offered load, as a pause between batches.
    let pause = (args.rate > 0).then(|| {
        Duration::from_secs_f64(args.batch as f64 * clients.len() as f64 / args.rate as f64)
    });
    for (client, txs) in clients.iter().cloned().zip(per_node) {
        let submitted = submitted.clone();
        let batch_size = args.batch;
        tasks.push(tokio::spawn(async move {
            let mut rejected = 0usize;
            let mut next = Instant::now();
            for chunk in txs.chunks(batch_size) {
                if let Some(pause) = pause {
                    tokio::time::sleep_until(next.into()).await;
                    next += pause;
                }
                let mut batch = BatchRequestBuilder::new();
                for (_, hex) in chunk {
                    batch.insert("veil_submitTransaction", rpc_params![hex])?;
                }
                let now = Instant::now();
                submitted
                    .lock()
                    .expect("lock")
                    .extend(chunk.iter().map(|(h, _)| (*h, now)));
                let response = client.batch_request::<String>(batch).await?;
                rejected += response.num_failed_calls();
            }
            Ok::<usize, anyhow::Error>(rejected)
        }));
    }
    let mut rejected = 0;
    for t in tasks {
        rejected += t.await??;
    }
    let submit_elapsed = start.elapsed();
    eprintln!(
        "submitted in {:.2} s ({rejected} rejected); waiting for finality",
        submit_elapsed.as_secs_f64()
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let done = finalized.lock().expect("lock").len();
        if done >= total - rejected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.abort();
    sampler.abort();
    let peak_rss = peak_rss.load(Ordering::Relaxed);

    let submitted = submitted.lock().expect("lock").clone();
    let finalized = finalized.lock().expect("lock").clone();
    let mut latencies: Vec<Duration> = finalized
        .iter()
        .filter_map(|(h, t)| submitted.get(h).map(|s| t.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let count = latencies.len();
    let last = finalized
        .iter()
        .filter(|(h, _)| submitted.contains_key(h))
        .map(|(_, t)| *t)
        .max()
        .unwrap_or(start);
    let elapsed = last
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    let tps = count as f64 / elapsed;
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    let final_status = clients[0].status().await?;
    let report = serde_json::json!({
        "validators": args.validators,
        "transfers_sent": total,
        "transfers_rejected": rejected,
        "transfers_finalized": count,
        "seconds": elapsed,
        "finalized_tps": tps,
        "latency_p50_ms": p50.as_secs_f64() * 1e3,
        "latency_p99_ms": p99.as_secs_f64() * 1e3,
        "bound_ed25519_verify_per_s_one_core": bound,
        "tps_over_bound": tps / bound,
        "block_interval_ms": args.block_interval_ms,
        "offered_rate": args.rate,
        "final_height": final_status.height,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "validator_rss_idle_bytes": idle_rss,
        "validator_rss_peak_bytes": peak_rss,
    });
    println!("finalized transfers:  {count} of {total} in {elapsed:.2} s");
    println!("throughput:           {tps:.0} transfers/s");
    println!(
        "latency p50 / p99:    {:.0} ms / {:.0} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!("bound (1 core):       {bound:.0} ed25519 verifications/s");
    println!("throughput / bound:   {:.3}", tps / bound);
    println!(
        "validator RSS:        {:.1} MiB idle, {:.1} MiB peak under load (max over validators)",
        mib(idle_rss),
        mib(peak_rss)
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    anyhow::ensure!(count > 0, "no transfer was finalized");
    Ok(())
}
