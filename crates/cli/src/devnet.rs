//! `veil genesis` and `veil devnet`.
//!
//! A devnet is N validator processes on loopback, each a `veil node` with its own data
//! directory. `veil devnet` creates the network on first run, resumes it on later runs over the
//! same directory, runs a demo transfer once blocks finalize, reports progress, and stops every
//! node cleanly on Ctrl-C or SIGTERM.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use clap::Args;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use serde::{Deserialize, Serialize};
use veil_node::{
    genesis::generate,
    keys::{AccountKeyFile, read_json, write_secret_json},
    rpc::VeilApiClient as _,
};
use veil_primitives::{Params, PrivateKey, to_hex};
use veil_pruntime::api::PrivateApiClient as _;

use crate::client::{connect, runtime, wait_finalized};

#[derive(Args)]
pub(crate) struct GenesisArgs {
    /// Output directory (genesis.json and keys/).
    #[arg(long)]
    out: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Chain id.
    #[arg(long, default_value_t = 1)]
    chain_id: u64,
    /// Validator p2p addresses (`host:port`, one per validator); defaults to free loopback ports.
    #[arg(long, value_delimiter = ',')]
    p2p: Vec<SocketAddr>,
    /// Faucet balance.
    #[arg(long, default_value_t = 1_000_000_000_000_000_000)]
    faucet_balance: u128,
    /// Accept dev (simulated, INSECURE) attestation: creates the dev RA service key
    /// (`keys/ra-service.json`) and names it in genesis. For development networks only.
    #[arg(long)]
    allow_insecure: bool,
    /// The genesis node: a pRuntime's private API. Its `Bootstrap` creates the genesis identity
    /// and the first root key (sealed), and the public identity goes into the spec.
    #[arg(long, requires = "genesis_endpoint")]
    genesis_pruntime: Option<String>,
    /// The genesis pRuntime's public API URL, written to the spec: elected gatekeepers' hosts
    /// send their key requests there.
    #[arg(long)]
    genesis_endpoint: Option<String>,
    /// Code allowed to register as a worker, repeatable: `sgx:MRENCLAVE`,
    /// `sgx-signer:MRSIGNER:ISVPRODID:MIN_ISVSVN`, `tdx:DIGEST` or `dev:HASH` (a dev pRuntime
    /// build, shown by `pruntime --print-measurement`), hashes in hex.
    #[arg(long = "allow-measurement", value_parser = parse_measurement)]
    allow_measurements: Vec<veil_primitives::Measurement>,
}

/// Parses an allowlist entry (see `--allow-measurement`).
fn parse_measurement(s: &str) -> Result<veil_primitives::Measurement, String> {
    use veil_primitives::Measurement;
    let hash = |h: &str| -> Result<Vec<u8>, String> {
        let bytes = veil_primitives::from_hex(h).map_err(|e| format!("{h}: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!("{h}: expected 32 bytes, got {}", bytes.len()));
        }
        Ok(bytes)
    };
    let number = |n: &str| n.parse::<u16>().map_err(|e| format!("{n}: {e}"));
    match s.split(':').collect::<Vec<_>>().as_slice() {
        ["sgx", h] => Ok(Measurement::Sgx(hash(h)?)),
        ["tdx", h] => Ok(Measurement::Tdx(hash(h)?)),
        ["dev", h] => Ok(Measurement::Dev(hash(h)?)),
        ["sgx-signer", h, prod, svn] => Ok(Measurement::SgxSigner {
            mr_signer: hash(h)?,
            prod_id: number(prod)?,
            min_svn: number(svn)?,
        }),
        _ => Err(format!(
            "{s}: expected sgx:HASH, sgx-signer:MRSIGNER:PRODID:MINSVN, tdx:HASH or dev:HASH"
        )),
    }
}

/// Registration and staking settings for a new genesis.
#[derive(Default)]
struct GenesisOptions {
    staking: Option<veil_primitives::StakingParams>,
    genesis_worker: Option<veil_node::genesis::GenesisWorkerSpec>,
    allow_insecure: bool,
    allowlist: Vec<veil_primitives::Measurement>,
    /// Funded operator accounts to create (`keys/operator-N.json`).
    operators: usize,
    params: Option<veil_primitives::RegistryParams>,
}

/// What governance and each devnet operator account start with: enough for years of
/// heartbeats.
const OPERATOR_BALANCE: u128 = 1_000_000_000_000_000;

/// What each devnet gatekeeper candidate bonds (the devnet's gatekeeper minimum).
const DEVNET_GATEKEEPER_BOND: u128 = 1_000_000_000_000;

/// Devnet elections: every 40 blocks (10 s at the default interval).
fn devnet_staking_params(gatekeepers: usize) -> veil_primitives::StakingParams {
    veil_primitives::StakingParams {
        n_gatekeepers: gatekeepers.max(1) as u32,
        gatekeeper_min_bond: DEVNET_GATEKEEPER_BOND,
        nominator_min_bond: 1_000_000_000,
        election_period_blocks: 40,
        unbond_delay_blocks: 400,
        distribution_deadline_blocks: 120,
        slash_ppm: 100_000,
    }
}

/// Devnet registration period: 10 minutes at the default block interval, so renewals show.
const DEVNET_REGISTRATION_BLOCKS: u64 = 2_400;

/// Devnet registration policy: short periods so renewal and heartbeats show within minutes.
fn devnet_registry_params(registration_blocks: u64) -> veil_primitives::RegistryParams {
    veil_primitives::RegistryParams {
        freshness_blocks: 64.min(registration_blocks / 2).max(1),
        registration_blocks,
        heartbeat_blocks: 40,
        ..Default::default()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Free loopback TCP ports, distinct from each other.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

fn write_genesis(
    out: &Path,
    validators: usize,
    chain_id: u64,
    p2p: Vec<SocketAddr>,
    faucet_balance: u128,
    registry: GenesisOptions,
) -> anyhow::Result<()> {
    anyhow::ensure!(validators >= 1, "at least one validator is needed");
    let p2p = if p2p.is_empty() {
        free_ports(validators)?
            .into_iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect()
    } else {
        anyhow::ensure!(
            p2p.len() == validators,
            "--p2p lists {} addresses for {validators} validators",
            p2p.len()
        );
        p2p
    };
    let mut generated = generate(
        &mut commonware_utils::sys_rng(),
        chain_id,
        now_ms(),
        &p2p,
        faucet_balance,
        Params::default(),
    )?;
    std::fs::create_dir_all(out)?;
    let keys = out.join("keys");
    if let Some(p) = registry.staking {
        generated.spec.staking = p;
    }
    generated.spec.genesis_worker = registry.genesis_worker;
    let spec = &mut generated.spec.registry;
    if let Some(p) = registry.params {
        spec.params = p;
    }
    spec.params.allowlist.extend(registry.allowlist);
    if registry.allow_insecure {
        let ra = PrivateKey::random(commonware_utils::sys_rng());
        write_secret_json(&keys.join("ra-service.json"), &AccountKeyFile::new(&ra))?;
        spec.allow_insecure = true;
        spec.dev_attestation_key = Some(to_hex(ra.public_key()));
    }
    // Governance pays fees like any account.
    generated
        .spec
        .balances
        .push(veil_node::genesis::BalanceSpec {
            account: generated.spec.governance.clone(),
            amount: OPERATOR_BALANCE,
        });
    for i in 0..registry.operators {
        let op = PrivateKey::random(commonware_utils::sys_rng());
        write_secret_json(
            &keys.join(format!("operator-{i}.json")),
            &AccountKeyFile::new(&op),
        )?;
        generated
            .spec
            .balances
            .push(veil_node::genesis::BalanceSpec {
                account: to_hex(op.public_key()),
                amount: OPERATOR_BALANCE,
            });
    }
    for (i, v) in generated.validators.iter().enumerate() {
        write_secret_json(&keys.join(format!("validator-{i}.json")), v)?;
    }
    write_secret_json(&keys.join("governance.json"), &generated.governance)?;
    write_secret_json(&keys.join("faucet.json"), &generated.faucet)?;
    let spec = serde_json::to_string_pretty(&generated.spec)?;
    std::fs::write(out.join("genesis.json"), spec)?;
    Ok(())
}

pub(crate) fn genesis(args: GenesisArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.out.join("genesis.json").exists(),
        "{} already holds a genesis.json",
        args.out.display()
    );
    let allowlist = args.allow_measurements;
    let genesis_worker = match &args.genesis_pruntime {
        Some(url) => {
            let pruntime = connect(url)?;
            let view = runtime()?
                .block_on(pruntime.bootstrap())
                .map_err(|e| anyhow::anyhow!("pRuntime at {url} would not bootstrap: {e}"))?;
            println!(
                "genesis node {} ({})",
                view.genesis_key,
                if view.created {
                    "bootstrapped now"
                } else {
                    "already bootstrapped"
                }
            );
            let endpoint = args.genesis_endpoint.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "--genesis-pruntime needs --genesis-endpoint: the genesis pRuntime's public \
                     API URL, where elected gatekeepers ask for the root key"
                )
            })?;
            Some(veil_node::genesis::GenesisWorkerSpec {
                signing_key: view.genesis_key,
                ecdh_key: view.genesis_ecdh_key,
                endpoint,
                key_check: view.key_check,
            })
        }
        None => None,
    };
    write_genesis(
        &args.out,
        args.validators,
        args.chain_id,
        args.p2p,
        args.faucet_balance,
        GenesisOptions {
            allow_insecure: args.allow_insecure,
            allowlist,
            genesis_worker,
            ..Default::default()
        },
    )?;
    println!("wrote {}", args.out.join("genesis.json").display());
    println!(
        "validator keys, governance and faucet keys in {}",
        args.out.join("keys").display()
    );
    Ok(())
}

#[derive(Args)]
pub(crate) struct DevnetArgs {
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
    /// Skip the demo transfer.
    #[arg(long)]
    no_demo: bool,
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

/// Ports chosen when the devnet was created, so a resumed devnet keeps its addresses.
#[derive(Serialize, Deserialize)]
struct Layout {
    rpc: Vec<u16>,
    /// Per worker: pRuntime private and public API ports.
    #[serde(default)]
    workers: Vec<(u16, u16)>,
    /// Dev RA service port.
    #[serde(default)]
    ra_service: Option<u16>,
    /// Measurement (hex) of the `pruntime` build the workers' sealed data belongs to.
    #[serde(default)]
    pruntime_measurement: Option<String>,
    /// The genesis node's pRuntime private and public API ports.
    #[serde(default)]
    genesis_node: Option<(u16, u16)>,
    /// The first this many workers stand as gatekeeper candidates.
    #[serde(default)]
    gatekeepers: usize,
}

/// `DIR/devnet.json`: how to reach (and restart) each node.
#[derive(Serialize, Deserialize)]
pub(crate) struct DevnetFile {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: String,
    /// The validators.
    pub nodes: Vec<NodeEntry>,
    /// Faucet key file.
    pub faucet_key: PathBuf,
    /// The workers.
    pub workers: Vec<WorkerEntry>,
    /// The dev RA service (INSECURE), if workers run.
    pub ra_service: Option<String>,
    /// The genesis node: a pRuntime holding the first root key until the launch, and its host
    /// (which has no operator key).
    #[serde(default)]
    pub genesis_node: Option<WorkerEntry>,
}

/// One worker (or the genesis node) in `devnet.json`.
#[derive(Serialize, Deserialize)]
pub(crate) struct WorkerEntry {
    /// pRuntime's public API (users).
    pub pruntime: String,
    /// pRuntime's private API (its host).
    pub pruntime_private: String,
    /// pRuntime process id.
    pub pruntime_pid: u32,
    /// Host process id.
    pub host_pid: u32,
    /// pRuntime log.
    pub pruntime_log: PathBuf,
    /// Host log.
    pub host_log: PathBuf,
    /// The operator account key file the host registers and posts with (`null` for the
    /// genesis node, whose host only relays blocks).
    pub operator_key: Option<PathBuf>,
    /// Command line that (re)starts this pRuntime.
    pub pruntime_command: Vec<String>,
    /// Command line that (re)starts this host.
    pub host_command: Vec<String>,
}

/// One validator in `devnet.json`.
#[derive(Serialize, Deserialize)]
pub(crate) struct NodeEntry {
    /// HTTP JSON-RPC URL.
    pub rpc: String,
    /// WebSocket JSON-RPC URL.
    pub ws: String,
    /// Process id.
    pub pid: u32,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Log file.
    pub log: PathBuf,
    /// Command line that (re)starts this node.
    pub command: Vec<String>,
}

fn node_command(dir: &Path, i: usize, rpc_port: u16, interval: u64) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "veil".into());
    vec![
        exe,
        "node".into(),
        "--data-dir".into(),
        dir.join(format!("node-{i}")).display().to_string(),
        "--genesis".into(),
        dir.join("genesis.json").display().to_string(),
        "--key".into(),
        dir.join("keys")
            .join(format!("validator-{i}.json"))
            .display()
            .to_string(),
        "--rpc".into(),
        format!("127.0.0.1:{rpc_port}"),
        "--block-interval-ms".into(),
        interval.to_string(),
    ]
}

fn spawn(command: &[String], log: &Path) -> anyhow::Result<Child> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", command[0]))
}

pub(crate) fn terminate(children: &mut [Child]) {
    use rustix::process::{Pid, Signal, kill_process};
    for c in children.iter() {
        if let Some(pid) = Pid::from_raw(c.id() as i32) {
            let _ = kill_process(pid, Signal::TERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in children.iter_mut() {
        while Instant::now() < deadline {
            if matches!(c.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Creates (or resumes) the devnet in `dir` and starts its validator processes.
/// The processes of a launched devnet.
pub(crate) struct Launched {
    /// Every child process (validators first, in order).
    pub children: Vec<Child>,
    /// The validators.
    pub nodes: Vec<NodeEntry>,
    /// The workers.
    pub workers: Vec<WorkerEntry>,
    /// The dev RA service URL, if workers run.
    pub ra_service: Option<String>,
    /// The genesis node, if workers run.
    pub genesis_node: Option<WorkerEntry>,
}

fn genesis_pruntime_command(
    dir: &Path,
    (private, public): (u16, u16),
) -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe()?.with_file_name("pruntime");
    Ok(vec![
        exe.display().to_string(),
        "--data-dir".into(),
        dir.join("genesis-node")
            .join("pruntime")
            .display()
            .to_string(),
        "--private-rpc".into(),
        format!("127.0.0.1:{private}"),
        "--public-rpc".into(),
        format!("127.0.0.1:{public}"),
    ])
}

/// Starts the genesis node's pRuntime and takes the genesis role in it: its `Bootstrap` seals
/// the first root key and reveals the genesis identity and the key's check for the spec.
fn bootstrap_genesis_node(
    dir: &Path,
    ports: (u16, u16),
) -> anyhow::Result<(Child, veil_node::genesis::GenesisWorkerSpec)> {
    let command = genesis_pruntime_command(dir, ports)?;
    let mut child = spawn(&command, &dir.join("genesis-node").join("pruntime.log"))?;
    let url = format!("http://127.0.0.1:{}", ports.0);
    let pruntime = connect(&url)?;
    let rt = runtime()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let view = loop {
        match rt.block_on(pruntime.bootstrap()) {
            Ok(v) => break v,
            Err(e) => {
                if let Ok(Some(code)) = child.try_wait() {
                    anyhow::bail!(
                        "the genesis pRuntime exited ({code}); see {}",
                        dir.join("genesis-node").join("pruntime.log").display()
                    );
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    anyhow::bail!("the genesis pRuntime at {url} did not bootstrap: {e}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    eprintln!(
        "  genesis node: pRuntime pid {}, genesis identity {} (root key sealed inside)",
        child.id(),
        view.genesis_key
    );
    Ok((
        child,
        veil_node::genesis::GenesisWorkerSpec {
            signing_key: view.genesis_key,
            ecdh_key: view.genesis_ecdh_key,
            endpoint: format!("http://127.0.0.1:{}", ports.1),
            key_check: view.key_check,
        },
    ))
}

pub(crate) fn launch(
    dir: &Path,
    validators: usize,
    workers: usize,
    block_interval_ms: u64,
    registration_blocks: u64,
    gatekeepers: usize,
) -> anyhow::Result<Launched> {
    let layout_path = dir.join("layout.json");
    let mut genesis_child = None;
    let mut layout: Layout = if dir.join("genesis.json").exists() {
        let layout: Layout = read_json(&layout_path)?;
        eprintln!(
            "resuming devnet in {} ({} validators)",
            dir.display(),
            layout.rpc.len()
        );
        layout
    } else {
        eprintln!(
            "creating devnet in {} with {validators} validators",
            dir.display()
        );
        // The allowlist names the pRuntime build the workers run, so build it first.
        let workers = if workers > 0 && !ensure_pruntime() {
            eprintln!(
                "workers not started: the pruntime binary is missing next to {}; \
                 build it with `cargo build --release -p veil-pruntime`",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            0
        } else {
            workers
        };
        let gatekeepers = gatekeepers.min(workers);
        // All ports in one call: listeners held together cannot be handed out twice.
        let ports = free_ports(2 * validators + 2 * workers + 3)?;
        let (p2p, rest) = ports.split_at(validators);
        let (rpc, rest) = rest.split_at(validators);
        let (ra, rest) = rest.split_at(1);
        let (genesis_ports, worker_ports) = rest.split_at(2);
        let genesis_ports = (genesis_ports[0], genesis_ports[1]);
        let p2p = p2p
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        let measurement = if workers > 0 {
            Some(pruntime_measurement()?)
        } else {
            None
        };
        let allowlist = measurement
            .iter()
            .map(|m| veil_primitives::Measurement::Dev(m.clone()))
            .collect();
        let measurement = measurement.map(to_hex);
        let genesis_worker = if workers > 0 {
            let (child, spec) = bootstrap_genesis_node(dir, genesis_ports)?;
            genesis_child = Some(child);
            Some(spec)
        } else {
            None
        };
        write_genesis(
            dir,
            validators,
            1,
            p2p,
            1_000_000_000_000_000_000,
            GenesisOptions {
                allow_insecure: workers > 0,
                allowlist,
                operators: workers,
                params: Some(devnet_registry_params(registration_blocks)),
                staking: Some(devnet_staking_params(gatekeepers)),
                genesis_worker,
            },
        )?;
        let layout = Layout {
            rpc: rpc.to_vec(),
            workers: worker_ports.chunks(2).map(|p| (p[0], p[1])).collect(),
            ra_service: (workers > 0).then_some(ra[0]),
            pruntime_measurement: measurement,
            genesis_node: (workers > 0).then_some(genesis_ports),
            gatekeepers,
        };
        std::fs::write(&layout_path, serde_json::to_string_pretty(&layout)?)?;
        layout
    };
    let with_workers = !layout.workers.is_empty() && ensure_pruntime();
    if with_workers {
        renew_worker_identities_after_rebuild(dir, &layout_path, &mut layout)?;
    }
    if !layout.workers.is_empty() && !with_workers {
        eprintln!(
            "workers not started: the pruntime binary is missing next to {}; \
             build it with `cargo build --release -p veil-pruntime`",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    let mut children = Vec::new();
    let mut entries = Vec::new();
    for (i, port) in layout.rpc.iter().enumerate() {
        let command = node_command(dir, i, *port, block_interval_ms);
        let log = dir.join(format!("node-{i}")).join("node.log");
        let child = match spawn(&command, &log) {
            Ok(c) => c,
            Err(e) => {
                terminate(&mut children);
                return Err(e);
            }
        };
        eprintln!(
            "  validator {i}: pid {}, rpc http://127.0.0.1:{port}, log {}",
            child.id(),
            log.display()
        );
        entries.push(NodeEntry {
            rpc: format!("http://127.0.0.1:{port}"),
            ws: format!("ws://127.0.0.1:{port}"),
            pid: child.id(),
            data_dir: dir.join(format!("node-{i}")),
            log,
            command,
        });
        children.push(child);
    }
    let mut workers = Vec::new();
    let ra_port = match layout.ra_service {
        Some(p) if with_workers => p,
        _ => {
            if let Some(mut c) = genesis_child {
                let _ = c.kill();
            }
            return Ok(Launched {
                children,
                nodes: entries,
                workers,
                ra_service: None,
                genesis_node: None,
            });
        }
    };
    let genesis_node = match layout.genesis_node {
        Some(ports) => {
            let pruntime_command = genesis_pruntime_command(dir, ports)?;
            let pruntime_log = dir.join("genesis-node").join("pruntime.log");
            let child = match genesis_child.take() {
                Some(c) => c,
                None => spawn(&pruntime_command, &pruntime_log)?,
            };
            let pruntime_pid = child.id();
            children.push(child);
            let host_command = vec![
                std::env::current_exe()?.display().to_string(),
                "host".into(),
                "--node".into(),
                entries[0].rpc.clone(),
                "--pruntime".into(),
                format!("http://127.0.0.1:{}", ports.0),
            ];
            let host_log = dir.join("genesis-node").join("host.log");
            let host = spawn(&host_command, &host_log)?;
            eprintln!(
                "  genesis node: pRuntime public http://127.0.0.1:{}, host pid {}",
                ports.1,
                host.id()
            );
            let host_pid = host.id();
            children.push(host);
            Some(WorkerEntry {
                pruntime: format!("http://127.0.0.1:{}", ports.1),
                pruntime_private: format!("http://127.0.0.1:{}", ports.0),
                pruntime_pid,
                host_pid,
                pruntime_log,
                host_log,
                operator_key: None,
                pruntime_command,
                host_command,
            })
        }
        None => None,
    };
    let ra_log = dir.join("ra-service.log");
    match spawn(
        &[
            std::env::current_exe()?.display().to_string(),
            "ra-service".into(),
            "--key".into(),
            dir.join("keys")
                .join("ra-service.json")
                .display()
                .to_string(),
            "--listen".into(),
            format!("127.0.0.1:{ra_port}"),
        ],
        &ra_log,
    ) {
        Ok(c) => {
            eprintln!(
                "  dev RA service (INSECURE): pid {}, http://127.0.0.1:{ra_port}",
                c.id()
            );
            children.push(c);
        }
        Err(e) => {
            terminate(&mut children);
            return Err(e);
        }
    }
    let ra_url = format!("http://127.0.0.1:{ra_port}");
    for (w, (private, public)) in layout.workers.iter().enumerate() {
        match spawn_worker(
            dir,
            w,
            (*private, *public),
            &entries[w % entries.len()].rpc,
            (&ra_url, w < layout.gatekeepers),
        ) {
            Ok((pruntime, host, entry)) => {
                eprintln!(
                    "  worker {w}: pRuntime pid {} (public {}), host pid {}",
                    pruntime.id(),
                    entry.pruntime,
                    host.id()
                );
                children.push(pruntime);
                children.push(host);
                workers.push(entry);
            }
            Err(e) => {
                terminate(&mut children);
                return Err(e);
            }
        }
    }
    Ok(Launched {
        children,
        nodes: entries,
        workers,
        ra_service: Some(ra_url),
        genesis_node,
    })
}

/// Sealed data is bound to the code that sealed it, as in an enclave: a rebuilt `pruntime`
/// cannot open its predecessor's identity. In a devnet, start such workers afresh; their new
/// identities register at the same endpoints and replace the old ones on chain.
fn renew_worker_identities_after_rebuild(
    dir: &Path,
    layout_path: &Path,
    layout: &mut Layout,
) -> anyhow::Result<()> {
    let current = to_hex(pruntime_measurement()?);
    if layout.pruntime_measurement.as_deref() == Some(current.as_str()) {
        return Ok(());
    }
    if layout.pruntime_measurement.is_some() {
        eprintln!(
            "pruntime was rebuilt (measurement {current}); its sealed data is bound to the old \
             build, so the workers start with new identities that replace the old registrations"
        );
        for w in 0..layout.workers.len() {
            let data = dir.join(format!("worker-{w}")).join("pruntime");
            if data.exists() {
                std::fs::remove_dir_all(&data)
                    .map_err(|e| anyhow::anyhow!("cannot reset {}: {e}", data.display()))?;
            }
        }
        let genesis = dir.join("genesis-node").join("pruntime");
        if genesis.exists() {
            std::fs::remove_dir_all(&genesis)
                .map_err(|e| anyhow::anyhow!("cannot reset {}: {e}", genesis.display()))?;
        }
        eprintln!(
            "warning: the root key was sealed by the old build (in the genesis node before \
             launch, in the gatekeepers after) and is lost with it; this devnet cannot launch \
             or run contracts any more. Delete {} to start a new one.",
            dir.display()
        );
    }
    layout.pruntime_measurement = Some(current);
    std::fs::write(layout_path, serde_json::to_string_pretty(&layout)?)?;
    Ok(())
}

/// SHA-256 of the `pruntime` binary next to this one: the dev TEE's measurement.
fn pruntime_measurement() -> anyhow::Result<Vec<u8>> {
    use sha2::Digest as _;
    let path = std::env::current_exe()?.with_file_name("pruntime");
    let bytes = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("cannot measure {}: {e}", path.display()))?;
    Ok(sha2::Sha256::digest(&bytes).to_vec())
}

/// Makes sure the `pruntime` binary sits next to this one. Under `cargo run` it is built on the
/// spot (it is a separate binary, so `cargo run` does not build it).
fn ensure_pruntime() -> bool {
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    if exe.with_file_name("pruntime").exists() {
        return true;
    }
    let Ok(cargo) = std::env::var("CARGO") else {
        return false;
    };
    let release = exe
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    eprintln!("building the pruntime binary (first run only)");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "veil-pruntime", "--bin", "pruntime"]);
    if release {
        cmd.arg("--release");
    }
    let built = cmd.status().is_ok_and(|s| s.success());
    built && exe.with_file_name("pruntime").exists()
}

/// Starts worker `w`: a dev-mode pRuntime and the host that feeds it from `node`.
fn spawn_worker(
    dir: &Path,
    w: usize,
    (private, public): (u16, u16),
    node: &str,
    (ra_service, gatekeeper): (&str, bool),
) -> anyhow::Result<(Child, Child, WorkerEntry)> {
    let exe = std::env::current_exe()?;
    let pruntime_exe = exe.with_file_name("pruntime");
    anyhow::ensure!(
        pruntime_exe.exists(),
        "{} not found; build it with `cargo build --release -p veil-pruntime`",
        pruntime_exe.display()
    );
    let wdir = dir.join(format!("worker-{w}"));
    let pruntime_log = wdir.join("pruntime.log");
    let host_log = wdir.join("host.log");
    let operator_key = dir.join("keys").join(format!("operator-{w}.json"));
    let pruntime_command = vec![
        pruntime_exe.display().to_string(),
        "--data-dir".into(),
        wdir.join("pruntime").display().to_string(),
        "--private-rpc".into(),
        format!("127.0.0.1:{private}"),
        "--public-rpc".into(),
        format!("127.0.0.1:{public}"),
    ];
    let pruntime = spawn(&pruntime_command, &pruntime_log)?;
    let host_command = vec![
        exe.display().to_string(),
        "host".into(),
        "--node".into(),
        node.to_string(),
        "--pruntime".into(),
        format!("http://127.0.0.1:{private}"),
        "--operator-key".into(),
        operator_key.display().to_string(),
        "--endpoint".into(),
        format!("http://127.0.0.1:{public}"),
        "--ra-service".into(),
        ra_service.to_string(),
    ];
    let mut host_command = host_command;
    if gatekeeper {
        host_command.extend([
            "--gatekeeper-bond".into(),
            DEVNET_GATEKEEPER_BOND.to_string(),
        ]);
    }
    let host = spawn(&host_command, &host_log)?;
    let entry = WorkerEntry {
        pruntime: format!("http://127.0.0.1:{public}"),
        pruntime_private: format!("http://127.0.0.1:{private}"),
        pruntime_pid: pruntime.id(),
        host_pid: host.id(),
        pruntime_log,
        host_log,
        operator_key: Some(operator_key),
        pruntime_command,
        host_command,
    };
    Ok((pruntime, host, entry))
}

pub(crate) fn devnet(args: DevnetArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let dir = args.dir.canonicalize()?;
    let Launched {
        mut children,
        nodes: entries,
        workers,
        ra_service,
        genesis_node,
    } = launch(
        &dir,
        args.validators,
        args.workers,
        args.block_interval_ms,
        args.registration_blocks,
        args.gatekeepers,
    )?;
    let rt = runtime()?;
    let result = rt.block_on(supervise(
        &dir,
        &args,
        entries,
        (workers, ra_service, genesis_node),
        &mut children,
    ));
    terminate_unless_detached(&args, &mut children);
    result
}

fn terminate_unless_detached(args: &DevnetArgs, children: &mut [Child]) {
    if args.detach {
        return;
    }
    eprintln!("stopping validators");
    terminate(children);
    eprintln!("devnet stopped");
}

async fn supervise(
    dir: &Path,
    args: &DevnetArgs,
    entries: Vec<NodeEntry>,
    (workers, ra_service, genesis_node): (Vec<WorkerEntry>, Option<String>, Option<WorkerEntry>),
    children: &mut [Child],
) -> anyhow::Result<()> {
    let clients = entries
        .iter()
        .map(|e| connect(&e.rpc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let status = wait_ready(dir, &clients, &entries, &mut children[..entries.len()]).await?;

    let file = DevnetFile {
        chain_id: status.chain_id,
        genesis_hash: status.genesis_hash.clone(),
        nodes: entries,
        faucet_key: dir.join("keys").join("faucet.json"),
        workers,
        ra_service,
        genesis_node,
    };
    let path = dir.join("devnet.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)?;
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
    if file.genesis_node.is_some()
        && let Err(e) = wait_launched(&clients[0]).await
    {
        eprintln!("{e:#}; see the host logs under {}", dir.display());
    }
    if args.detach {
        return Ok(());
    }

    eprintln!("press Ctrl-C to stop");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = tick.tick() => {
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
    }
}

/// Waits until every node answers and blocks finalize, showing progress.
pub(crate) async fn wait_ready(
    dir: &Path,
    clients: &[jsonrpsee::http_client::HttpClient],
    entries: &[NodeEntry],
    children: &mut [Child],
) -> anyhow::Result<veil_node::rpc::StatusView> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    loop {
        for (i, c) in children.iter_mut().enumerate() {
            if let Ok(Some(code)) = c.try_wait() {
                anyhow::bail!(
                    "validator {i} exited ({code}) during startup; see {}",
                    entries[i].log.display()
                );
            }
        }
        let mut up = 0;
        let mut min_height = u64::MAX;
        let mut first = None;
        for c in clients {
            if let Ok(s) = c.status().await {
                up += 1;
                min_height = min_height.min(s.height);
                first.get_or_insert(s);
            }
        }
        let line = format!(
            "waiting for validators: {up}/{} answering, finalized height {}",
            clients.len(),
            if up == 0 { 0 } else { min_height }
        );
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if up == clients.len() && min_height >= 1 {
            return Ok(first.expect("at least one status"));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "devnet did not start finalizing within 120 s; see the logs in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A resumed devnet may run a rebuilt `pruntime`, whose measurement genesis did not allowlist:
/// add it through governance (the devnet holds the governance key), as an operator would for
/// an upgrade, so its workers can register.
async fn allowlist_current_pruntime(
    dir: &Path,
    client: &jsonrpsee::http_client::HttpClient,
) -> anyhow::Result<()> {
    use commonware_codec::DecodeExt as _;
    let measurement = pruntime_measurement()?;
    let key = veil_chain::keys::registry_params();
    let stored = client.get_storage(to_hex(key)).await?;
    let mut params = match stored.value {
        Some(v) => veil_primitives::RegistryParams::decode(veil_primitives::from_hex(&v)?)
            .map_err(|e| anyhow::anyhow!("registry params in state: {e}"))?,
        None => veil_primitives::RegistryParams::default(),
    };
    let allowed = veil_primitives::Measurement::Dev(measurement.clone());
    if params.allowlist.contains(&allowed) {
        return Ok(());
    }
    params.allowlist.push(allowed);
    let governance =
        read_json::<AccountKeyFile>(&dir.join("keys").join("governance.json"))?.private_key()?;
    let status = client.status().await?;
    let chain = crate::client::identity(&status)?;
    let nonce = client
        .get_account(to_hex(governance.public_key()))
        .await?
        .nonce;
    let tx = veil_primitives::Transaction {
        sender: governance.public_key(),
        nonce,
        expiry: status.height + 100,
        call: veil_primitives::Call::Governance(
            veil_primitives::GovernanceCall::SetRegistryParams(params),
        ),
    }
    .sign(&governance, &chain);
    let hash = client
        .submit_transaction(to_hex(commonware_codec::Encode::encode(&tx)))
        .await?;
    let view = wait_finalized(client, &hash, Duration::from_secs(60)).await?;
    if let Some(e) = view.error {
        anyhow::bail!("governance refused the new allowlist: {e}");
    }
    eprintln!(
        "pruntime was rebuilt since genesis: allowlisted its measurement {} through governance",
        to_hex(&measurement)
    );
    Ok(())
}

/// A worker's sync height and, from the chain, its registration and egress count.
async fn worker_line(node: &jsonrpsee::http_client::HttpClient, worker: &WorkerEntry) -> String {
    let Ok(pruntime) = connect(&worker.pruntime_private) else {
        return "-".into();
    };
    let (Ok(Some(state)), Ok(identity)) = (
        pruntime.get_sync_state().await,
        pruntime.get_identity().await,
    ) else {
        return "unreachable".into();
    };
    match node.get_worker(identity.public_key).await {
        Ok(Some(w)) => format!(
            "{} (registered until {}, {} egress messages)",
            state.synced_height,
            w.expiry,
            w.next_sequence.unwrap_or(0)
        ),
        Ok(None) => format!("{} (not registered)", state.synced_height),
        Err(_) => state.synced_height.to_string(),
    }
}

/// Launch progress in one line.
fn launch_line(s: &veil_node::rpc::StatusView) -> String {
    match s.era {
        Some(era) => format!(
            "launched (root key era {era}), {} gatekeepers in round {}, genesis node {}",
            s.gatekeepers, s.election_round, s.genesis
        ),
        None if s.election_round == 0 => {
            "prelaunch: waiting for the first gatekeeper election".into()
        }
        None => format!(
            "prelaunch: round {}, {}/{} gatekeepers hold the root key",
            s.election_round, s.confirmed_gatekeepers, s.gatekeepers
        ),
    }
}

/// Waits until the network launched: gatekeepers elected, root key handed over by the genesis
/// node, every gatekeeper confirmed; shows progress.
async fn wait_launched(client: &jsonrpsee::http_client::HttpClient) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = String::new();
    loop {
        let status = client.status().await?;
        let line = launch_line(&status);
        if line != last {
            eprintln!("launch: {line}");
            last = line;
        }
        if status.era.is_some() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the network did not launch within 180 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `n` workers are registered on chain, showing progress.
async fn wait_registered(
    client: &jsonrpsee::http_client::HttpClient,
    n: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    loop {
        let status = client.status().await?;
        if last != Some(status.workers) {
            eprintln!(
                "workers registered: {}/{n} ({} insecure: dev attestation)",
                status.workers, status.insecure_workers
            );
            last = Some(status.workers);
        }
        if status.workers as usize >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {n} workers registered within 120 s",
            status.workers
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Moves funds from the faucet to a new account and shows every node agrees.
async fn demo(dir: &Path, file: &DevnetFile) -> anyhow::Result<()> {
    let faucet = read_json::<AccountKeyFile>(&file.faucet_key)?.private_key()?;
    let demo_path = dir.join("keys").join("demo.json");
    let demo = if demo_path.exists() {
        read_json::<AccountKeyFile>(&demo_path)?.private_key()?
    } else {
        let k = PrivateKey::random(commonware_utils::sys_rng());
        write_secret_json(&demo_path, &AccountKeyFile::new(&k))?;
        k
    };
    let client = connect(&file.nodes[0].rpc)?;
    let status = client.status().await?;
    let chain = crate::client::identity(&status)?;
    let nonce = client.get_account(to_hex(faucet.public_key())).await?.nonce;
    let amount = 1_000_000u128;
    let tx = veil_primitives::Transaction {
        sender: faucet.public_key(),
        nonce,
        expiry: status.height + 100,
        call: veil_primitives::Call::Transfer {
            to: demo.public_key(),
            amount,
        },
    }
    .sign(&faucet, &chain);
    let started = Instant::now();
    let hash = client
        .submit_transaction(to_hex(commonware_codec::Encode::encode(&tx)))
        .await?;
    eprintln!(
        "demo: transfer of {amount} from the faucet to {} submitted ({hash})",
        to_hex(demo.public_key())
    );
    let view = wait_finalized(&client, &hash, Duration::from_secs(60)).await?;
    eprintln!(
        "demo: finalized at height {} in {} ms",
        view.height.unwrap_or_default(),
        started.elapsed().as_millis()
    );
    for (i, n) in file.nodes.iter().enumerate() {
        let c = connect(&n.rpc)?;
        // Each node applies the block on its own; wait briefly for laggards.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let a = c.get_account(to_hex(demo.public_key())).await?;
            if a.height >= view.height.unwrap_or_default() || Instant::now() > deadline {
                eprintln!(
                    "demo: validator {i} reports balance {} at height {}",
                    a.balance, a.height
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
