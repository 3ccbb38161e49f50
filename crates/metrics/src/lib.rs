//! Prometheus metrics for Veil's processes.
//!
//! Every process answers `GET /metrics` in the Prometheus text format: the node and pRuntime
//! beside their JSON-RPC servers ([MetricsLayer]), the host on an address of its own
//! ([serve]). RPC servers count and time calls per method ([RpcMetrics]). [parse] reads the
//! format back, for tests and tools.
//!
//! Labels never carry what a caller chose freely: a method name that is not the server's own
//! counts as `unknown`, and reasons are fixed names, so no caller can grow a process's memory
//! through its metrics.

mod http;
mod parse;
mod rpc;

use std::sync::Arc;

pub use http::{CONTENT_TYPE, MetricsLayer, MetricsService, serve};
pub use parse::{ParseError, Sample, parse};
pub use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
pub use rpc::{CallCounters, CallLatencies, RpcMetrics, RpcMetricsLayer, RpcMetricsService};

/// Renders a process's current metrics in the Prometheus text format.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// One label, such as `reason="expired"`: the key set of a [Family] of counters by reason.
pub type Labels = Vec<(&'static str, &'static str)>;

/// A family of counters by one fixed-name label.
pub type CounterFamily = Family<Labels, Counter>;

/// `registry` in the Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a `String` cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

/// A [Render] over a registry the caller has finished filling, with the process's resident
/// memory as `process_rss_bytes` under the registry's prefix (read at each scrape).
pub fn renderer(mut registry: Registry) -> Render {
    let rss = Gauge::<i64>::default();
    registry.register(
        "process_rss_bytes",
        "Resident memory of this process",
        rss.clone(),
    );
    let registry = Arc::new(registry);
    Arc::new(move || {
        rss.set(rss_bytes(std::process::id()).unwrap_or(0) as i64);
        encode(&registry)
    })
}

/// Resident memory of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`; Linux only),
/// if it runs.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// Adds one to `family`'s counter for `key="value"`.
pub fn inc(family: &CounterFamily, key: &'static str, value: &'static str) {
    family.get_or_create(&vec![(key, value)]).inc();
}
