//! The host's metrics count its failures by kind while it retries.

use std::time::{Duration, Instant};

use veil_host::{HostConfig, HostMetrics};

#[tokio::test]
async fn an_unreachable_node_is_counted_as_init_errors_while_the_host_retries() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = HostMetrics::default();
    let render = metrics.render();
    let host = tokio::spawn(veil_host::run(
        HostConfig {
            node_rpc: format!("http://127.0.0.1:{port}"),
            node_ws: format!("ws://127.0.0.1:{port}"),
            pruntime: format!("http://127.0.0.1:{port}"),
            batch: 10,
            operator: None,
        },
        metrics,
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let errors = loop {
        let samples = veil_metrics::parse(&render()).unwrap();
        let init = samples
            .iter()
            .find(|s| s.name == "host_errors_total" && s.label("kind") == Some("init"))
            .map(|s| s.value)
            .unwrap_or(0.0);
        // Two failures show the host retried after the first.
        if init >= 2.0 {
            break samples;
        }
        assert!(Instant::now() < deadline, "no init errors counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    host.abort();
    let value = |name: &str| errors.iter().find(|s| s.name == name).map(|s| s.value);
    assert_eq!(value("host_relay_rounds_total"), Some(0.0));
    assert_eq!(value("host_lag_blocks"), Some(0.0));
    assert!(value("host_process_rss_bytes").unwrap() > 0.0);
}
