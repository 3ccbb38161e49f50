//! Creating a devnet on first run and starting its processes: validators, the dev RA
//! service, the genesis node and the workers.

use std::{
    net::SocketAddr,
    path::Path,
    process::Child,
    time::{Duration, Instant},
};

use veil_client::keys::read_json;
use veil_node::genesis::{Generated, GenesisWorkerSpec};
use veil_primitives::{Measurement, to_hex};

use super::{
    layout::{
        DEVNET_GATEKEEPER_BOND, Layout, NodeEntry, ProcessEntry, WorkerEntry,
        devnet_registry_params, devnet_staking_params,
    },
    process::{
        ensure_pruntime, genesis_pruntime_command, node_command, pruntime_measurement, spawn,
        terminate,
    },
    upgrade::renew_worker_identities_after_rebuild,
};
use crate::{
    genesis::{GenesisOptions, bootstrap_genesis_node, deal, free_ports, write_genesis},
    rpc::{connect, runtime},
};

/// The faucet's balance in a new devnet.
const FAUCET_BALANCE: u128 = 1_000_000_000_000_000_000;

/// What a devnet is made of. Only `block_interval_ms` applies to a resumed devnet; the rest
/// is fixed when it is created.
#[derive(Clone, Debug)]
pub(crate) struct LaunchConfig {
    /// Validators.
    pub(crate) validators: usize,
    /// Workers (a dev-mode pRuntime and its host each); with any, a genesis node too.
    pub(crate) workers: usize,
    /// Least time between blocks.
    pub(crate) block_interval_ms: u64,
    /// Blocks a worker registration lasts.
    pub(crate) registration_blocks: u64,
    /// How many workers stand as gatekeeper candidates (and are elected).
    pub(crate) gatekeepers: usize,
}

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
    /// The dev RA service's process, if workers run.
    pub ra_process: Option<ProcessEntry>,
    /// The genesis node, if workers run.
    pub genesis_node: Option<WorkerEntry>,
}

/// Creates (on first run) or resumes the devnet in `dir` and starts its processes. On any
/// failure every process started so far is stopped.
pub(crate) fn launch(dir: &Path, config: &LaunchConfig) -> anyhow::Result<Launched> {
    let layout_path = dir.join("layout.json");
    let (mut layout, genesis_child) = if dir.join("genesis.json").exists() {
        let layout: Layout = read_json(&layout_path)?;
        eprintln!(
            "resuming devnet in {} ({} validators)",
            dir.display(),
            layout.rpc.len()
        );
        (layout, None)
    } else {
        create(dir, config)?
    };
    let with_workers = !layout.workers.is_empty() && ensure_pruntime();
    if with_workers {
        renew_worker_identities_after_rebuild(dir, &layout_path, &mut layout)?;
    }
    if !layout.workers.is_empty() && !with_workers {
        missing_pruntime();
    }
    let mut children = Vec::new();
    let started = start(
        dir,
        config,
        &layout,
        with_workers,
        genesis_child,
        &mut children,
    );
    match started {
        Ok((nodes, workers, ra, genesis_node)) => {
            let (ra_service, ra_process) = ra.unzip();
            Ok(Launched {
                children,
                nodes,
                workers,
                ra_service,
                ra_process,
                genesis_node,
            })
        }
        Err(e) => {
            terminate(&mut children);
            Err(e)
        }
    }
}

fn missing_pruntime() {
    eprintln!(
        "workers not started: the pruntime binary is missing next to {}; \
         build it with `cargo build --release -p veil-pruntime`",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
}

/// A new devnet: ports, the genesis node (bootstrapped first, since the spec names it), the
/// genesis spec and keys, and `layout.json`. Returns the layout and the genesis node's running
/// pRuntime, if any.
fn create(dir: &Path, config: &LaunchConfig) -> anyhow::Result<(Layout, Option<Child>)> {
    let validators = config.validators;
    eprintln!(
        "creating devnet in {} with {validators} validators",
        dir.display()
    );
    // The allowlist names the pRuntime build the workers run, so build it first.
    let workers = if config.workers > 0 && !ensure_pruntime() {
        missing_pruntime();
        0
    } else {
        config.workers
    };
    let gatekeepers = config.gatekeepers.min(workers);
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
        .map(|m| Measurement::Dev(m.clone()))
        .collect();
    // Deal the validators' keys first: the genesis node is bound to this chain's id and group
    // key before the spec names it.
    let generated = deal(validators, 1, p2p, FAUCET_BALANCE)?;
    let (genesis_child, genesis_worker) = if workers > 0 {
        let (child, spec) = start_genesis_pruntime(dir, genesis_ports, &generated)?;
        (Some(child), Some(spec))
    } else {
        (None, None)
    };
    write_genesis(
        dir,
        generated,
        GenesisOptions {
            allow_insecure: workers > 0,
            // The devnet's gatekeepers are dev workers: say so, since their hosts can read
            // the root key (`veil status` shows it).
            allow_insecure_gatekeepers: workers > 0,
            allowlist,
            operators: workers,
            params: Some(devnet_registry_params(config.registration_blocks)),
            staking: Some(devnet_staking_params(gatekeepers)),
            genesis_worker,
            genesis_pccs: None,
        },
    )?;
    let layout = Layout {
        rpc: rpc.to_vec(),
        workers: worker_ports.chunks(2).map(|p| (p[0], p[1])).collect(),
        ra_service: (workers > 0).then_some(ra[0]),
        pruntime_measurement: measurement.map(to_hex),
        genesis_node: (workers > 0).then_some(genesis_ports),
        gatekeepers,
    };
    std::fs::write(
        dir.join("layout.json"),
        serde_json::to_string_pretty(&layout)?,
    )?;
    Ok((layout, genesis_child))
}

/// The devnet's processes as started: validators, workers, the RA service URL and the genesis
/// node.
type Started = (
    Vec<NodeEntry>,
    Vec<WorkerEntry>,
    Option<(String, ProcessEntry)>,
    Option<WorkerEntry>,
);

/// Starts every process of `layout`, pushing each child as it starts.
fn start(
    dir: &Path,
    config: &LaunchConfig,
    layout: &Layout,
    with_workers: bool,
    genesis_child: Option<Child>,
    children: &mut Vec<Child>,
) -> anyhow::Result<Started> {
    let nodes = start_validators(dir, config, layout, children)?;
    let ra_port = match layout.ra_service {
        Some(p) if with_workers => p,
        _ => {
            if let Some(mut c) = genesis_child {
                let _ = c.kill();
            }
            return Ok((nodes, Vec::new(), None, None));
        }
    };
    let genesis_node = match layout.genesis_node {
        Some(ports) => Some(start_genesis_node(
            dir,
            ports,
            &nodes[0].rpc,
            genesis_child,
            children,
        )?),
        None => None,
    };
    let (ra_url, ra_process) = start_ra_service(dir, ra_port, children)?;
    let mut workers = Vec::new();
    for (w, (private, public)) in layout.workers.iter().enumerate() {
        let (pruntime, host, entry) = spawn_worker(
            dir,
            w,
            (*private, *public),
            &nodes[w % nodes.len()].rpc,
            (&ra_url, w < layout.gatekeepers),
        )?;
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
    Ok((nodes, workers, Some((ra_url, ra_process)), genesis_node))
}

fn start_validators(
    dir: &Path,
    config: &LaunchConfig,
    layout: &Layout,
    children: &mut Vec<Child>,
) -> anyhow::Result<Vec<NodeEntry>> {
    let mut nodes = Vec::new();
    for (i, port) in layout.rpc.iter().enumerate() {
        let command = node_command(dir, i, *port, config.block_interval_ms);
        let log = dir.join(format!("node-{i}")).join("node.log");
        let child = spawn(&command, &log)?;
        eprintln!(
            "  validator {i}: pid {}, rpc http://127.0.0.1:{port}, log {}",
            child.id(),
            log.display()
        );
        nodes.push(NodeEntry {
            rpc: format!("http://127.0.0.1:{port}"),
            ws: format!("ws://127.0.0.1:{port}"),
            pid: child.id(),
            data_dir: dir.join(format!("node-{i}")),
            log,
            command,
        });
        children.push(child);
    }
    Ok(nodes)
}

/// The genesis node's pRuntime (already running when the devnet was just created) and its
/// host, which only relays blocks.
fn start_genesis_node(
    dir: &Path,
    ports: (u16, u16),
    node: &str,
    running: Option<Child>,
    children: &mut Vec<Child>,
) -> anyhow::Result<WorkerEntry> {
    let pruntime_command = genesis_pruntime_command(dir, ports)?;
    let pruntime_log = dir.join("genesis-node").join("pruntime.log");
    let child = match running {
        Some(c) => c,
        None => spawn(&pruntime_command, &pruntime_log)?,
    };
    let pruntime_pid = child.id();
    children.push(child);
    let host_metrics = format!("127.0.0.1:{}", free_ports(1)?[0]);
    let host_command = vec![
        std::env::current_exe()?.display().to_string(),
        "host".into(),
        "--node".into(),
        node.to_string(),
        "--pruntime".into(),
        format!("http://127.0.0.1:{}", ports.0),
        "--metrics".into(),
        host_metrics.clone(),
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
    Ok(WorkerEntry {
        pruntime: format!("http://127.0.0.1:{}", ports.1),
        pruntime_private: format!("http://127.0.0.1:{}", ports.0),
        pruntime_pid,
        host_pid,
        pruntime_log,
        host_log,
        operator_key: None,
        pruntime_command,
        host_command,
        host_metrics: Some(host_metrics),
    })
}

/// The dev RA service (INSECURE); returns its URL and process.
fn start_ra_service(
    dir: &Path,
    port: u16,
    children: &mut Vec<Child>,
) -> anyhow::Result<(String, ProcessEntry)> {
    let command = vec![
        std::env::current_exe()?.display().to_string(),
        "ra-service".into(),
        "--key".into(),
        dir.join("keys")
            .join("ra-service.json")
            .display()
            .to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    let child = spawn(&command, &dir.join("ra-service.log"))?;
    eprintln!(
        "  dev RA service (INSECURE): pid {}, http://127.0.0.1:{port}",
        child.id()
    );
    let process = ProcessEntry {
        pid: child.id(),
        command,
    };
    children.push(child);
    Ok((format!("http://127.0.0.1:{port}"), process))
}

/// Starts the genesis node's pRuntime and takes the genesis role in it for the dealt chain: its
/// `Bootstrap` seals the first root key bound to that chain and reveals the genesis identity
/// and the key's check for the spec.
fn start_genesis_pruntime(
    dir: &Path,
    ports: (u16, u16),
    generated: &Generated,
) -> anyhow::Result<(Child, GenesisWorkerSpec)> {
    let command = genesis_pruntime_command(dir, ports)?;
    let mut child = spawn(&command, &dir.join("genesis-node").join("pruntime.log"))?;
    let url = format!("http://127.0.0.1:{}", ports.0);
    let pruntime = connect(&url)?;
    let rt = runtime()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let endpoint = format!("http://127.0.0.1:{}", ports.1);
    let spec = loop {
        match rt.block_on(bootstrap_genesis_node(
            &pruntime,
            generated,
            endpoint.clone(),
        )) {
            Ok((spec, _)) => break spec,
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
        "  genesis node: pRuntime pid {}, genesis identity {} (root key sealed inside, bound \
         to this chain)",
        child.id(),
        spec.signing_key
    );
    Ok((child, spec))
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
    let host_metrics = format!("127.0.0.1:{}", free_ports(1)?[0]);
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
        "--metrics".into(),
        host_metrics.clone(),
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
        host_metrics: Some(host_metrics),
    };
    Ok((pruntime, host, entry))
}
