//! `veil host`: relay finalized blocks into a pRuntime and do its operator's duties.

use crate::rpc::runtime;

/// `veil host` arguments.
#[derive(clap::Args)]
pub(crate) struct HostArgs {
    /// Node RPC URL (HTTP).
    #[arg(long, default_value = "http://127.0.0.1:9944")]
    node: String,
    /// Node WebSocket URL (defaults to the RPC URL with ws://).
    #[arg(long)]
    node_ws: Option<String>,
    /// pRuntime private API URL.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pruntime: String,
    /// Blocks per sync batch.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// Serve Prometheus metrics (`GET /metrics`) on this address.
    #[arg(long)]
    metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    operator: OperatorArgs,
}

/// The operator a host acts for (registration and egress). Without `--operator-key` the host
/// only relays blocks.
#[derive(clap::Args)]
struct OperatorArgs {
    /// Operator account key file: pays for and signs the worker's registration and egress.
    #[arg(long, requires = "endpoint")]
    operator_key: Option<std::path::PathBuf>,
    /// pRuntime's public URL, registered on chain for users to reach.
    #[arg(long)]
    endpoint: Option<String>,
    /// Dev RA service URL (`veil ra-service`), needed when pRuntime runs the dev TEE.
    #[arg(long)]
    ra_service: Option<String>,
    /// PCCS base URL (API v4) to fetch DCAP collateral from, for SGX and TDX workers.
    #[arg(long, conflicts_with = "collateral")]
    pccs_url: Option<String>,
    /// DCAP collateral JSON file, instead of a PCCS (e.g. for air-gapped operators).
    #[arg(long)]
    collateral: Option<std::path::PathBuf>,
    /// Stand the worker as a gatekeeper candidate, bonding this much from the operator.
    #[arg(long)]
    gatekeeper_bond: Option<u128>,
}

/// `veil host`.
pub(crate) fn run(args: HostArgs) -> anyhow::Result<()> {
    let HostArgs {
        node,
        node_ws,
        pruntime,
        batch,
        metrics,
        operator,
    } = args;
    let node_ws = node_ws.unwrap_or_else(|| node.replacen("http", "ws", 1));
    let operator = match operator.operator_key {
        Some(path) => Some(veil_host::OperatorConfig {
            key: veil_client::keys::read_json::<veil_client::keys::AccountKeyFile>(&path)?
                .private_key()?,
            endpoint: operator.endpoint.unwrap_or_default(),
            ra_service: operator.ra_service,
            collateral: match (operator.pccs_url, operator.collateral) {
                (Some(url), _) => Some(veil_host::CollateralSource::Pccs(url)),
                (None, Some(path)) => Some(veil_host::CollateralSource::File(path)),
                (None, None) => None,
            },
            gatekeeper_bond: operator.gatekeeper_bond,
        }),
        None => None,
    };
    let config = veil_host::HostConfig {
        node_rpc: node,
        node_ws,
        pruntime,
        batch: batch.clamp(1, veil_rpc_api::limits::MAX_SYNC_BATCH),
        operator,
    };
    let rt = runtime()?;
    rt.block_on(async {
        let host_metrics = veil_host::HostMetrics::default();
        let _server = match metrics {
            Some(addr) => {
                let (local, handle) = veil_metrics::serve(addr, host_metrics.render())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
                tracing::info!(%local, "Prometheus metrics on GET /metrics");
                Some(handle)
            }
            None => None,
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = veil_host::run(config, host_metrics) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("host stopped");
        Ok(())
    })
}
