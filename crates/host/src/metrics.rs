//! The host's Prometheus metrics (`veil host --metrics ADDR`): how far its pRuntime trails the
//! node, and its failures by kind.

use veil_metrics::{Counter, CounterFamily, Gauge, Registry, Render, inc};

use crate::ports::{ChainClient, WorkerClient};

/// Updated by the relay loop; rendered on each scrape.
#[derive(Clone, Debug, Default)]
pub struct HostMetrics {
    node_height: Gauge,
    synced_height: Gauge,
    lag: Gauge,
    rounds: Counter,
    errors: CounterFamily,
}

impl HostMetrics {
    /// What renders these metrics.
    pub fn render(&self) -> Render {
        let mut registry = Registry::with_prefix("host");
        registry.register(
            "node_height",
            "The node's finalized height",
            self.node_height.clone(),
        );
        registry.register(
            "pruntime_synced_height",
            "pRuntime's synced height",
            self.synced_height.clone(),
        );
        registry.register(
            "lag_blocks",
            "Blocks the node finalized that pRuntime has not synced",
            self.lag.clone(),
        );
        registry.register(
            "relay_rounds",
            "Relay rounds completed (catch-up and duties)",
            self.rounds.clone(),
        );
        registry.register(
            "errors",
            "Failures by kind: init, subscription, sync, duties",
            self.errors.clone(),
        );
        veil_metrics::renderer(registry)
    }

    /// Counts a failure of `kind` (one of the fixed names in the `errors` help).
    pub(crate) fn error(&self, kind: &'static str) {
        inc(&self.errors, "kind", kind);
    }

    /// Reads both heights (best effort: a failed read leaves the last values) after a round.
    pub(crate) async fn observe(&self, node: &impl ChainClient, worker: &impl WorkerClient) {
        self.rounds.inc();
        let node_height = node.status().await.ok().map(|s| s.height);
        let synced = worker
            .sync_state()
            .await
            .ok()
            .flatten()
            .map(|s| s.synced_height);
        if let Some(h) = node_height {
            self.node_height.set(h as i64);
        }
        if let Some(h) = synced {
            self.synced_height.set(h as i64);
        }
        if let (Some(n), Some(s)) = (node_height, synced) {
            self.lag.set(n.saturating_sub(s) as i64);
        }
    }
}
