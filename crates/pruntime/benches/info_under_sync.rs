//! Public `Info` latency while pRuntime syncs a long chain, against the same latency on an
//! idle pRuntime measured in the same run.
//!
//! pRuntime serves its real private and public JSON-RPC servers on loopback (2 async threads,
//! as the `pruntime` binary). A host-like task feeds it the chain over the private API in
//! batches; meanwhile a client asks `public_Info` back to back and records each answer's
//! latency. The bound is the same client against the same pRuntime with nothing else running.
//! A runtime that held one lock across a batch would add up to a batch's duration to an
//! `Info`; the report shows that duration too.
//!
//! `cargo bench -p veil-pruntime --bench info_under_sync [-- --blocks 100000 --batch 1000]`

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Parser;
use commonware_codec::Encode as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use veil_node::synthetic::SyntheticChain;
use veil_primitives::to_hex;
use veil_pruntime::{api::Api, runtime::Runtime, tee::DevTee};
use veil_pruntime_api::{InitRequest, PrivateApiClient as _, PublicApiClient as _, SyncRequest};

#[derive(Parser)]
struct Args {
    /// Blocks to sync.
    #[arg(long, default_value_t = 100_000)]
    blocks: u64,
    /// Blocks per `SyncBlockchain` call.
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
    /// `Info` calls for the idle bound.
    #[arg(long, default_value_t = 5_000)]
    idle_calls: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn client(url: &str) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(60))
        .max_request_size(256 * 1024 * 1024)
        .build(url)
        .expect("client")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let (p50, p99, max) = (percentile(&v, 0.5), percentile(&v, 0.99), v[v.len() - 1]);
    println!(
        "{name:<28} {:>7} calls   p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
        v.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    (p50, p99)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.blocks > 0 && args.batch > 0,
        "--blocks and --batch must be positive"
    );
    eprintln!("building a synthetic chain of {} blocks", args.blocks);
    let mut chain = SyntheticChain::new(7);
    for _ in 0..args.blocks {
        chain.extend(Vec::new());
    }
    let mut batches = Vec::new();
    let mut from = 1;
    while from <= args.blocks {
        let to = (from + args.batch - 1).min(args.blocks);
        batches.push(SyncRequest {
            headers: chain.headers[from as usize..=to as usize]
                .iter()
                .map(|h| to_hex(h.encode()))
                .collect(),
            certificate: to_hex(chain.certificate(to)),
            messages: vec![Vec::new(); (to - from + 1) as usize],
            code: Vec::new(),
        });
        from = to + 1;
    }

    let dir = std::env::temp_dir().join(format!("veil-bench-info-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let tee = DevTee::new(&dir.join("dev-key"))?;
        let (runtime, _) = Runtime::open(Box::new(tee), &dir.join("data"))?;
        let any: SocketAddr = "127.0.0.1:0".parse()?;
        let ((private, private_handle), (public, public_handle)) =
            Api::new(runtime)?.serve(any, any).await?;
        let host = client(&format!("http://{private}"));
        let user = client(&format!("http://{public}"));
        host.init_runtime(InitRequest {
            chain_id: chain.chain_id,
            genesis_header: to_hex(chain.headers[0].encode()),
            group_key: to_hex(&chain.group_key),
            chain_proof: to_hex(&chain.chain_proof),
        })
        .await?;

        // The bound: Info on an idle pRuntime.
        let mut idle = Vec::with_capacity(args.idle_calls);
        for _ in 0..args.idle_calls {
            let t = Instant::now();
            user.info(None).await?;
            idle.push(t.elapsed());
        }

        // Info while the host syncs every batch.
        let done = Arc::new(AtomicBool::new(false));
        let asking = {
            let done = done.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if user.info(None).await.is_err() {
                        break;
                    }
                    lat.push(t.elapsed());
                }
                lat
            })
        };
        let started = Instant::now();
        let mut per_batch = Vec::with_capacity(batches.len());
        for b in batches {
            let t = Instant::now();
            host.sync_blockchain(b).await?;
            per_batch.push(t.elapsed());
        }
        let sync_time = started.elapsed();
        done.store(true, Ordering::Relaxed);
        let under_sync = asking.await?;
        let _ = private_handle.stop();
        let _ = public_handle.stop();

        println!(
            "synced {} blocks in {:.2} s ({:.0} blocks/s over JSON-RPC)",
            args.blocks,
            sync_time.as_secs_f64(),
            args.blocks as f64 / sync_time.as_secs_f64()
        );
        let (_, idle_p99) = summary("Info, idle (bound)", idle);
        let (_, sync_p99) = summary("Info, during the sync", under_sync);
        let (batch_p50, _) = summary("SyncBlockchain per batch", per_batch);
        println!(
            "Info p99 during the sync / idle p99: {:.2}   (a lock held per batch would add up to {:.1} ms)",
            sync_p99.as_secs_f64() / idle_p99.as_secs_f64().max(1e-9),
            batch_p50.as_secs_f64() * 1e3
        );
        anyhow::Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
