//! What a devnet is made of, on disk: the ports chosen at creation (`layout.json`), how to
//! reach and restart every process (`devnet.json`), and the devnet's chain parameters.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use veil_primitives::{RegistryParams, StakingParams};

/// What each devnet gatekeeper candidate bonds (the devnet's gatekeeper minimum).
pub(crate) const DEVNET_GATEKEEPER_BOND: u128 = 1_000_000_000_000;

/// Devnet elections: every 40 blocks (10 s at the default interval).
pub(crate) fn devnet_staking_params(gatekeepers: usize) -> StakingParams {
    StakingParams {
        n_gatekeepers: gatekeepers.max(1) as u32,
        gatekeeper_min_bond: DEVNET_GATEKEEPER_BOND,
        nominator_min_bond: 1_000_000_000,
        election_period_blocks: 40,
        unbond_delay_blocks: 400,
        distribution_deadline_blocks: 120,
        slash_ppm: 100_000,
        ..Default::default()
    }
}

/// Devnet registration period: 10 minutes at the default block interval, so renewals show.
pub(crate) const DEVNET_REGISTRATION_BLOCKS: u64 = 2_400;

/// Devnet registration policy: short periods so renewal and heartbeats show within minutes, and
/// four heartbeat slots per era (40 blocks) for the liveness rule.
pub(crate) fn devnet_registry_params(registration_blocks: u64) -> RegistryParams {
    RegistryParams {
        freshness_blocks: 64.min(registration_blocks / 2).max(1),
        registration_blocks,
        heartbeat_blocks: 10,
        ..Default::default()
    }
}

/// Ports chosen when the devnet was created, so a resumed devnet keeps its addresses.
#[derive(Serialize, Deserialize)]
pub(crate) struct Layout {
    pub(crate) rpc: Vec<u16>,
    /// Per worker: pRuntime private and public API ports.
    #[serde(default)]
    pub(crate) workers: Vec<(u16, u16)>,
    /// Dev RA service port.
    #[serde(default)]
    pub(crate) ra_service: Option<u16>,
    /// Measurement (hex) of the `pruntime` build the workers' sealed data belongs to.
    #[serde(default)]
    pub(crate) pruntime_measurement: Option<String>,
    /// The genesis node's pRuntime private and public API ports.
    #[serde(default)]
    pub(crate) genesis_node: Option<(u16, u16)>,
    /// The first this many workers stand as gatekeeper candidates.
    #[serde(default)]
    pub(crate) gatekeepers: usize,
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
    /// The dev RA service's process, if workers run.
    #[serde(default)]
    pub ra_service_process: Option<ProcessEntry>,
    /// The `veil devnet` process supervising the others (`null` when detached).
    #[serde(default)]
    pub supervisor: Option<ProcessEntry>,
}

/// A process by id and the command line that started it (`veil devnet stop` and `status`
/// check both, so a pid reused by another program is left alone).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ProcessEntry {
    /// Process id.
    pub pid: u32,
    /// Its command line.
    pub command: Vec<String>,
}

/// One worker (or the genesis node) in `devnet.json`.
#[derive(Clone, Serialize, Deserialize)]
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
    /// Where the host serves its Prometheus metrics (`host:port`).
    #[serde(default)]
    pub host_metrics: Option<String>,
}

/// One validator in `devnet.json`.
#[derive(Clone, Serialize, Deserialize)]
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

/// `DIR/prometheus-targets.json`: every process's metrics endpoint in Prometheus's file-based
/// discovery format, labelled by `role` (`deploy/prometheus.yml` reads it).
pub(crate) fn write_scrape_targets(dir: &std::path::Path, file: &DevnetFile) -> anyhow::Result<()> {
    let host_port = |url: &str| url.trim_start_matches("http://").to_string();
    let workers: Vec<&WorkerEntry> = file.workers.iter().chain(&file.genesis_node).collect();
    let groups = serde_json::json!([
        {
            "targets": file.nodes.iter().map(|n| host_port(&n.rpc)).collect::<Vec<_>>(),
            "labels": { "role": "validator" },
        },
        {
            "targets": workers.iter().map(|w| host_port(&w.pruntime_private)).collect::<Vec<_>>(),
            "labels": { "role": "pruntime" },
        },
        {
            "targets": workers.iter().filter_map(|w| w.host_metrics.clone()).collect::<Vec<_>>(),
            "labels": { "role": "host" },
        },
    ]);
    std::fs::write(
        dir.join("prometheus-targets.json"),
        serde_json::to_string_pretty(&groups)?,
    )?;
    Ok(())
}
