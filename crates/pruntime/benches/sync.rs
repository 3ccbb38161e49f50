//! How fast pRuntime follows the chain, against the bound of the hashing it must do plus one
//! certificate check per batch, both measured in this run.
//!
//! `cargo bench -p veil-pruntime --bench sync [-- --blocks N --batch N --messages 0,100]`

use std::time::{Duration, Instant};

use clap::Parser;
use commonware_codec::Encode as _;
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{Destination, Message, Origin};
use veil_pruntime::{runtime::Runtime, sync::Batch, tee::DevTee};

#[derive(Parser)]
struct SyncBenchArgs {
    /// Blocks to sync per configuration.
    #[arg(long, default_value_t = 20_000)]
    blocks: u64,
    /// Blocks per batch (one certificate check per batch).
    #[arg(long, default_value_t = 1_000)]
    batch: u64,
    /// Messages per block, one configuration per value.
    #[arg(long, value_delimiter = ',', default_value = "0,100")]
    messages: Vec<usize>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = SyncBenchArgs::parse();
    anyhow::ensure!(
        args.blocks > 0 && args.batch > 0,
        "--blocks and --batch must be positive"
    );
    for &per_block in &args.messages {
        run(&args, per_block)?;
    }
    Ok(())
}

fn run(args: &SyncBenchArgs, per_block: usize) -> anyhow::Result<()> {
    eprintln!(
        "building a synthetic chain of {} blocks with {per_block} messages each",
        args.blocks
    );
    let mut chain = SyntheticChain::new(7);
    let mut sequence = 0;
    for _ in 0..args.blocks {
        let messages = (0..per_block)
            .map(|_| {
                sequence += 1;
                Message {
                    origin: Origin::Chain,
                    destination: Destination::Topic(b"gatekeeper".to_vec()),
                    sequence,
                    payload: vec![0xab; 64],
                }
            })
            .collect();
        chain.extend(messages);
    }
    let mut batches = Vec::new();
    let mut from = 1;
    while from <= args.blocks {
        let to = (from + args.batch - 1).min(args.blocks);
        batches.push(Batch {
            headers: chain.headers[from as usize..=to as usize].to_vec(),
            certificate: chain.certificate(to),
            messages: chain.messages[from as usize..=to as usize].to_vec(),
            code: Vec::new(),
        });
        from = to + 1;
    }

    // The bound: hash every header and every block's messages, and check one certificate per
    // batch, with nothing else.
    let group_key = veil_light::decode_group_key(&chain.group_key)?;
    let start = Instant::now();
    for b in &batches {
        for (h, msgs) in b.headers.iter().zip(&b.messages) {
            std::hint::black_box(h.hash());
            let leaves: Vec<_> = msgs.iter().map(|m| m.encode()).collect();
            std::hint::black_box(veil_crypto::merkle::root(&leaves));
        }
        let last = b.headers.last().expect("non-empty batch");
        veil_light::verify_finality(&group_key, last, &b.certificate)?;
    }
    let bound = start.elapsed();

    // pRuntime itself, in process, sealing its progress to disk after every batch.
    let dir = std::env::temp_dir().join(format!(
        "veil-bench-sync-{}-{per_block}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let tee = DevTee::new(&dir.join("dev-key"))?;
    let (runtime, _) = Runtime::open(Box::new(tee), &dir.join("data"))?;
    runtime.init(
        chain.chain_id,
        &chain.headers[0],
        &chain.group_key,
        &chain.chain_proof,
    )?;
    let start = Instant::now();
    for b in &batches {
        runtime.sync(b)?;
    }
    let elapsed = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);

    let rate = |d: Duration| args.blocks as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "messages/block {per_block:>4}: pRuntime {:>9.0} blocks/s   bound {:>9.0} blocks/s   ratio {:.2}   ({} batches of {})",
        rate(elapsed),
        rate(bound),
        rate(elapsed) / rate(bound),
        batches.len(),
        args.batch
    );
    Ok(())
}
