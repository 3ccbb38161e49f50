//! pRuntime's Prometheus metrics, served as `GET /metrics` on the private API (the operator's
//! side). They are counts and heights only: nothing about a contract, a caller or a key.

use std::sync::Arc;

use veil_metrics::{Counter, CounterFamily, Gauge, Registry, Render, RpcMetrics};

use crate::runtime::Runtime;

/// Counters the API updates; gauges are read from the runtime at each scrape.
#[derive(Clone, Default)]
pub struct ApiMetrics {
    /// Sync batches applied.
    pub applied: Counter,
    /// Sync batches refused, by `reason`.
    pub refused: CounterFamily,
    /// Private API calls by method.
    pub calls: RpcMetrics,
}

impl ApiMetrics {
    /// What renders these metrics and `runtime`'s synced height and egress backlog.
    pub fn render(&self, runtime: Arc<Runtime>) -> Render {
        let mut registry = Registry::with_prefix("pruntime");
        registry.register(
            "sync_batches_applied",
            "Sync batches applied",
            self.applied.clone(),
        );
        registry.register(
            "sync_batches_refused",
            "Sync batches refused, by reason",
            self.refused.clone(),
        );
        self.calls.register(&mut registry);
        let height = Gauge::<i64>::default();
        let egress = Gauge::<i64>::default();
        let insecure = Gauge::<i64>::default();
        let contract_messages = Gauge::<i64>::default();
        registry.register("synced_height", "Last block synced", height.clone());
        registry.register(
            "contract_messages_pending",
            "Messages and replies of this worker's contracts waiting to be routed",
            contract_messages.clone(),
        );
        registry.register(
            "egress_pending",
            "Signed side effects waiting for the host to post them",
            egress.clone(),
        );
        registry.register(
            "insecure",
            "1 when this pRuntime runs on the dev TEE (no hardware protection)",
            insecure.clone(),
        );
        let render = veil_metrics::renderer(registry);
        Arc::new(move || {
            let info = runtime.info();
            height.set(info.synced_height as i64);
            egress.set(info.egress_pending as i64);
            insecure.set(i64::from(info.insecure));
            contract_messages.set(runtime.contract_messages_pending() as i64);
            render()
        })
    }
}
