//! The validator's Prometheus metrics: its own (height, finality lag, mempool, admissions and
//! refusals, peers, RPC calls) beside those commonware's consensus, p2p and storage register in
//! the same registry. Served as `GET /metrics` on the RPC port and by `veil_metrics`.

use std::sync::{Arc, atomic::AtomicU64};

use commonware_runtime::{Clock, Metrics, Spawner, telemetry::metrics::Registered};
use veil_metrics::{Gauge, Render, RpcMetrics};

use crate::chain::{LocalChain, unix_ms};

/// Counts connected peers from the p2p tracker's metrics (one series per connected peer).
pub(crate) fn connected_peers(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("tracker") && l.contains("_connected{"))
        .count()
}

/// Gauges read at each scrape, and the handles that keep every Veil metric registered.
struct Gauges {
    height: Registered<Gauge>,
    finality_lag: Registered<Gauge<f64, AtomicU64>>,
    mempool: Registered<Gauge>,
    peers: Registered<Gauge>,
    _counters: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

/// Registers the validator's metrics under `veil_` in `context`'s registry and returns what
/// renders them all. `rpc` is the RPC server's per-method counters.
pub fn install<E>(context: &E, chain: Arc<LocalChain<E>>, rpc: &RpcMetrics) -> Render
where
    E: commonware_storage::Context + Spawner + Clock + Metrics + 'static,
{
    let veil = context.child("veil");
    let (calls, seconds) = rpc.metrics();
    let gauges = Gauges {
        height: veil.register("height", "Finalized height", Gauge::default()),
        finality_lag: veil.register(
            "finality_lag_seconds",
            "Time since the finalized tip's timestamp",
            Gauge::<f64, AtomicU64>::default(),
        ),
        mempool: veil.register(
            "mempool_transactions",
            "Pending transactions",
            Gauge::default(),
        ),
        peers: veil.register("peers", "Connected validators", Gauge::default()),
        _counters: vec![
            Box::new(veil.register(
                "transactions_admitted",
                "Transactions admitted to the mempool, by source",
                chain.pool_metrics.admitted.clone(),
            )),
            Box::new(veil.register(
                "transactions_refused",
                "Transactions refused at mempool entry, by reason",
                chain.pool_metrics.refused.clone(),
            )),
            Box::new(veil.register("rpc_calls", "JSON-RPC calls by method", calls)),
            Box::new(veil.register(
                "rpc_call_duration_seconds",
                "JSON-RPC call latency by method (a batch's as a whole, under `batch`)",
                seconds,
            )),
        ],
    };
    // The registry is shared: a child context encodes every metric, its own and all others.
    let context = context.child("scrape");
    Arc::new(move || {
        // Use `gauges` whole: a closure capturing only the fields it reads would drop the
        // counters' registrations, and with them the counters.
        let gauges = &gauges;
        let tip = chain.tip();
        gauges.height.set(tip.height as i64);
        let now = unix_ms(context.current());
        gauges
            .finality_lag
            .set(now.saturating_sub(tip.timestamp) as f64 / 1e3);
        gauges.mempool.set(chain.mempool.lock().len() as i64);
        gauges.peers.set(connected_peers(&context.encode()) as i64);
        context.encode()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_connected_peers() {
        let text = "# HELP network_tracker_directory_connected x\n\
                    network_tracker_directory_connected{peer=\"a\"} 1\n\
                    network_tracker_directory_connected{peer=\"b\"} 2\n\
                    network_tracker_tracked 4\n";
        assert_eq!(super::connected_peers(text), 2);
    }
}
