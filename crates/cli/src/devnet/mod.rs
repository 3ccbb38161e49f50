//! `veil devnet`: a local network of real processes on loopback, with a demo.
//!
//! A devnet is N validator processes (`veil node`), the dev RA service, a genesis node and W
//! workers (a dev-mode `pruntime` and its `veil host` each), all on loopback. `veil devnet`
//! creates the network on first run ([mod@launch]), resumes it on later runs over the same
//! directory (upgrading workers whose `pruntime` was rebuilt, [upgrade]), runs a demo transfer
//! once blocks finalize ([mod@demo]), waits for the workers to register and the network to
//! launch, runs the contract demo (`crate::demo`), reports progress ([status]), and stops
//! every process cleanly on Ctrl-C or SIGTERM ([process]). `veil devnet stop` and `veil devnet
//! status` find a devnet's processes, detached or not, by what `devnet.json` records
//! ([control]). [layout] is what it writes to disk.

pub(crate) mod control;
pub(crate) mod demo;
pub(crate) mod launch;
pub(crate) mod layout;
pub(crate) mod process;
pub(crate) mod status;
pub(crate) mod upgrade;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, Subcommand};
use veil_rpc_api::VeilApiClient as _;

use self::{
    demo::demo,
    launch::{LaunchConfig, Launched, launch},
    layout::{DEVNET_REGISTRATION_BLOCKS, DevnetFile},
    process::terminate,
    status::{launch_line, wait_launched, wait_ready, wait_registered, worker_line},
    upgrade::allowlist_current_pruntime,
};
use crate::rpc::{connect, runtime};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
/// `veil devnet` arguments.
pub(crate) struct DevnetArgs {
    #[command(subcommand)]
    command: Option<DevnetCommand>,
    /// Devnet directory; reused (resumed) if it already holds a devnet.
    #[arg(long, default_value = "devnet-data")]
    dir: PathBuf,
    /// Number of validators (only when creating).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Number of workers, each a pRuntime (dev TEE) and its host (only when creating). The
    /// first `--gatekeepers` stand as gatekeeper candidates, the rest are miners. A genesis
    /// node (one more pRuntime and host) comes with them.
    #[arg(long, default_value_t = 5)]
    workers: usize,
    /// Skip the demos (a transfer, then the contracts once the network has launched).
    #[arg(long)]
    no_demo: bool,
    /// The contracts workspace the contract demo builds its examples from.
    #[arg(long, default_value = "contracts")]
    contracts: PathBuf,
    /// Least time between blocks, in milliseconds.
    #[arg(long, default_value_t = 250)]
    block_interval_ms: u64,
    /// Blocks a worker registration lasts before the host must renew it (only when creating).
    #[arg(long, default_value_t = DEVNET_REGISTRATION_BLOCKS)]
    registration_blocks: u64,
    /// How many workers stand as gatekeeper candidates, and how many are elected (only when
    /// creating; at most the number of workers).
    #[arg(long, default_value_t = 3)]
    gatekeepers: usize,
    /// Exit after the devnet is up (and the demo ran), leaving nodes running. For scripts.
    #[arg(long)]
    detach: bool,
}

/// `veil devnet stop` and `veil devnet status`.
#[derive(Subcommand)]
enum DevnetCommand {
    /// Stop every process a devnet started (validators, workers, hosts, the genesis node, the
    /// RA service and its supervisor), detached or not.
    Stop {
        /// Devnet directory.
        #[arg(long, default_value = "devnet-data")]
        dir: PathBuf,
    },
    /// Show which of a devnet's processes run, and the validators' heights.
    Status {
        /// Devnet directory.
        #[arg(long, default_value = "devnet-data")]
        dir: PathBuf,
    },
}

/// `veil devnet`.
pub(crate) fn devnet(args: DevnetArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(DevnetCommand::Stop { dir }) => return control::stop(dir),
        Some(DevnetCommand::Status { dir }) => return control::status(dir),
        None => {}
    }
    std::fs::create_dir_all(&args.dir)?;
    let dir = args.dir.canonicalize()?;
    let mut launched = launch(
        &dir,
        &LaunchConfig {
            validators: args.validators,
            workers: args.workers,
            block_interval_ms: args.block_interval_ms,
            registration_blocks: args.registration_blocks,
            gatekeepers: args.gatekeepers,
        },
    )?;
    let rt = runtime()?;
    let result = rt.block_on(supervise(&dir, &args, &mut launched));
    // A detached devnet keeps running, unless it failed to start: then nothing is left behind.
    if !args.detach || result.is_err() {
        eprintln!("stopping validators");
        terminate(&mut launched.children);
        eprintln!("devnet stopped");
    }
    result
}

/// Runs the devnet ([run]) until it returns or Ctrl-C or SIGTERM arrives, whichever is first:
/// the signals are caught from the start, so an interrupted setup (waiting for registration
/// or the launch) still stops every process it started.
async fn supervise(dir: &Path, args: &DevnetArgs, launched: &mut Launched) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = run(dir, args, launched) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    }
}

/// Waits for finality, writes `devnet.json`, runs the demo, waits for registration and the
/// launch, then reports progress (or returns at once if detached).
async fn run(dir: &Path, args: &DevnetArgs, launched: &mut Launched) -> anyhow::Result<()> {
    let clients = launched
        .nodes
        .iter()
        .map(|e| connect(&e.rpc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let n = launched.nodes.len();
    let status = wait_ready(dir, &clients, &launched.nodes, &mut launched.children[..n]).await?;
    let children = &mut launched.children;

    let file = DevnetFile {
        chain_id: status.chain_id,
        genesis_hash: status.genesis_hash.clone(),
        nodes: launched.nodes.clone(),
        faucet_key: dir.join("keys").join("faucet.json"),
        workers: launched.workers.clone(),
        ra_service: launched.ra_service.clone(),
        genesis_node: launched.genesis_node.clone(),
        ra_service_process: launched.ra_process.clone(),
        // A detached devnet has no supervisor once this process exits.
        supervisor: (!args.detach).then(|| layout::ProcessEntry {
            pid: std::process::id(),
            command: std::env::args().collect(),
        }),
    };
    let path = dir.join("devnet.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)?;
    layout::write_scrape_targets(dir, &file)?;
    eprintln!(
        "devnet is finalizing blocks (chain id {}, genesis {}); wrote {}",
        status.chain_id,
        status.genesis_hash,
        path.display()
    );

    if !args.no_demo
        && let Err(e) = demo(dir, &file).await
    {
        eprintln!("demo failed: {e:#}");
    }
    if !file.workers.is_empty()
        && let Err(e) = allowlist_current_pruntime(dir, &clients[0]).await
    {
        eprintln!("could not allowlist the current pruntime build: {e:#}");
    }
    if !file.workers.is_empty()
        && let Err(e) = wait_registered(&clients[0], file.workers.len()).await
    {
        eprintln!("{e:#}; see the host logs under {}", dir.display());
    }
    let launched = match file.genesis_node {
        Some(_) => match wait_launched(&clients[0]).await {
            Ok(()) => true,
            Err(e) => {
                eprintln!("{e:#}; see the host logs under {}", dir.display());
                false
            }
        },
        None => false,
    };
    if launched && !args.no_demo {
        if args.contracts.join("Cargo.toml").is_file() {
            if let Err(e) = crate::demo::contracts(&file, &args.contracts).await {
                eprintln!("contract demo failed: {e:#}");
            }
        } else {
            eprintln!(
                "contract demo skipped: no contracts workspace at {} (pass --contracts DIR, or \
                 run from the repository's root)",
                args.contracts.display()
            );
        }
    }
    if args.detach {
        return Ok(());
    }

    eprintln!("press Ctrl-C to stop");
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let mut heights = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            match children[i].try_wait() {
                Ok(Some(code)) => heights.push(format!("v{i}: exited ({code})")),
                _ => match c.status().await {
                    Ok(s) => heights.push(format!("v{i}: {} ({} peers)", s.height, s.peers)),
                    Err(_) => heights.push(format!("v{i}: unreachable")),
                },
            }
        }
        let mut synced = Vec::new();
        for (w, worker) in file.workers.iter().enumerate() {
            synced.push(format!("w{w}: {}", worker_line(&clients[0], worker).await));
        }
        eprintln!("finalized heights: {}", heights.join(", "));
        if let Ok(s) = clients[0].status().await
            && !file.workers.is_empty()
        {
            eprintln!("network:          {}", launch_line(&s));
        }
        if !synced.is_empty() {
            eprintln!("pRuntime synced:   {}", synced.join(", "));
        }
    }
}
