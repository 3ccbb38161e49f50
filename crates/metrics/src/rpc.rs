//! Calls to a JSON-RPC server, counted and timed per method.

use std::{collections::HashSet, future::Future, sync::Arc, time::Instant};

use jsonrpsee::{
    core::middleware::{Batch, Notification, RpcServiceT},
    types::Request,
};
use prometheus_client::{
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use tower::Layer;

/// The label of every method the server does not have.
const UNKNOWN: &str = "unknown";
/// The label a whole batch's latency is recorded under (its calls count under their methods).
const BATCH: &str = "batch";

type MethodLabel = Vec<(&'static str, String)>;

/// Calls by method.
pub type CallCounters = Family<MethodLabel, Counter>;
/// Call latency by method.
pub type CallLatencies = Family<MethodLabel, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    // 100 µs to about 26 s, doubling.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        1e-4, 2.0, 19,
    ))
}

/// Per-method call counts and latencies of one JSON-RPC server. Until
/// [for_methods](Self::for_methods) names the server's methods, every call counts as `unknown`.
#[derive(Clone)]
pub struct RpcMetrics {
    calls: CallCounters,
    seconds: CallLatencies,
    known: Arc<HashSet<String>>,
}

impl Default for RpcMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            seconds: Family::new_with_constructor(histogram),
            known: Arc::default(),
        }
    }
}

impl RpcMetrics {
    /// The same counters, for a server with `methods` (its module's method names): any other
    /// name a caller sends counts as `unknown`.
    pub fn for_methods<M: Into<String>>(&self, methods: impl IntoIterator<Item = M>) -> Self {
        Self {
            calls: self.calls.clone(),
            seconds: self.seconds.clone(),
            known: Arc::new(methods.into_iter().map(Into::into).collect()),
        }
    }

    /// Registers the counters as `rpc_calls_total` and the latencies as
    /// `rpc_call_duration_seconds`, by `method`.
    pub fn register(&self, registry: &mut Registry) {
        let (calls, seconds) = self.metrics();
        registry.register("rpc_calls", "JSON-RPC calls by method", calls);
        registry.register(
            "rpc_call_duration_seconds",
            "JSON-RPC call latency by method (a batch's as a whole, under `batch`)",
            seconds,
        );
    }

    /// The two families, for a caller that registers them elsewhere.
    pub fn metrics(&self) -> (CallCounters, CallLatencies) {
        (self.calls.clone(), self.seconds.clone())
    }

    /// The middleware to give the server (`RpcServiceBuilder::new().layer(..)`).
    pub fn layer(&self) -> RpcMetricsLayer {
        RpcMetricsLayer(self.clone())
    }

    fn label(&self, method: &str) -> MethodLabel {
        let name = if self.known.contains(method) {
            method
        } else {
            UNKNOWN
        };
        vec![("method", name.to_owned())]
    }

    fn count(&self, method: &str) -> MethodLabel {
        let label = self.label(method);
        self.calls.get_or_create(&label).inc();
        label
    }

    fn observe(&self, label: &MethodLabel, since: Instant) {
        self.seconds
            .get_or_create(label)
            .observe(since.elapsed().as_secs_f64());
    }
}

/// The layer [RpcMetrics::layer] returns.
#[derive(Clone)]
pub struct RpcMetricsLayer(RpcMetrics);

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, service: S) -> Self::Service {
        RpcMetricsService {
            service,
            metrics: self.0.clone(),
        }
    }
}

/// The service [RpcMetricsLayer] builds.
#[derive(Clone)]
pub struct RpcMetricsService<S> {
    service: S,
    metrics: RpcMetrics,
}

impl<S> RpcServiceT for RpcMetricsService<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let label = self.metrics.count(request.method_name());
        let (service, metrics) = (self.service.clone(), self.metrics.clone());
        async move {
            let start = Instant::now();
            let response = service.call(request).await;
            metrics.observe(&label, start);
            response
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter().flatten() {
            self.metrics.count(entry.method_name());
        }
        let (service, metrics) = (self.service.clone(), self.metrics.clone());
        async move {
            let start = Instant::now();
            let response = service.batch(batch).await;
            metrics.observe(&vec![("method", BATCH.to_owned())], start);
            response
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.metrics.count(&n.method);
        self.service.notification(n)
    }
}
