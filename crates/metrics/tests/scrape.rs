//! Scraping real servers over loopback: the standalone endpoint, and a JSON-RPC server with
//! `GET /metrics` beside it counting calls per method.

use std::sync::Arc;

use jsonrpsee::{
    RpcModule,
    server::{Server, middleware::rpc::RpcServiceBuilder},
};
use veil_metrics::{
    CONTENT_TYPE, CounterFamily, MetricsLayer, Registry, RpcMetrics, Sample, encode, inc, parse,
    serve,
};

async fn get(url: &str) -> (u16, Option<String>, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.text().await.unwrap())
}

fn find<'a>(samples: &'a [Sample], name: &str, label: Option<(&str, &str)>) -> Option<&'a Sample> {
    samples
        .iter()
        .find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
}

#[tokio::test]
async fn the_standalone_endpoint_serves_what_the_registry_holds() {
    let mut registry = Registry::with_prefix("host");
    let errors = CounterFamily::default();
    registry.register("errors", "errors by kind", errors.clone());
    let registry = Arc::new(registry);
    let render = {
        let registry = registry.clone();
        Arc::new(move || encode(&registry))
    };
    let (addr, handle) = serve("127.0.0.1:0".parse().unwrap(), render).await.unwrap();

    inc(&errors, "kind", "sync");
    inc(&errors, "kind", "sync");
    let (status, content_type, body) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
    let samples = parse(&body).unwrap();
    let sync = find(&samples, "host_errors_total", Some(("kind", "sync"))).unwrap();
    assert_eq!(sync.value, 2.0, "{body}");

    // Every scrape renders afresh.
    inc(&errors, "kind", "sync");
    let (_, _, body) = get(&format!("http://{addr}/metrics")).await;
    let samples = parse(&body).unwrap();
    assert_eq!(
        find(&samples, "host_errors_total", Some(("kind", "sync")))
            .unwrap()
            .value,
        3.0
    );

    // Other paths are not the metrics.
    let (status, _, body) = get(&format!("http://{addr}/other")).await;
    assert_ne!(status, 200, "{body}");
    handle.stop().unwrap();
}

#[tokio::test]
async fn rpc_calls_are_counted_by_method_and_strangers_as_unknown() {
    let mut module = RpcModule::new(());
    module
        .register_method("veil_ping", |_, _, _| "pong")
        .unwrap();
    let calls = RpcMetrics::default().for_methods(module.method_names());
    let mut registry = Registry::default();
    calls.register(&mut registry);
    let registry = Arc::new(registry);
    let render = {
        let registry = registry.clone();
        Arc::new(move || encode(&registry))
    };
    let server = Server::builder()
        .set_http_middleware(tower::ServiceBuilder::new().layer(MetricsLayer::new(render)))
        .set_rpc_middleware(RpcServiceBuilder::new().layer(calls.layer()))
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.start(module);

    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(format!("http://{addr}/"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    post(r#"{"jsonrpc":"2.0","id":1,"method":"veil_ping","params":[]}"#)
        .await
        .unwrap();
    // A made-up method name must not become a label of its own.
    post(r#"{"jsonrpc":"2.0","id":2,"method":"made_up_12345","params":[]}"#)
        .await
        .unwrap();
    post(
        r#"[{"jsonrpc":"2.0","id":3,"method":"veil_ping","params":[]},
            {"jsonrpc":"2.0","id":4,"method":"veil_ping","params":[]}]"#,
    )
    .await
    .unwrap();

    let (status, _, body) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    let samples = parse(&body).unwrap();
    let count = |method| {
        find(&samples, "rpc_calls_total", Some(("method", method)))
            .map(|s| s.value)
            .unwrap_or(0.0)
    };
    assert_eq!(count("veil_ping"), 3.0, "{body}");
    assert_eq!(count("unknown"), 1.0, "{body}");
    assert!(!body.contains("made_up_12345"), "{body}");
    let timed = |method| {
        find(
            &samples,
            "rpc_call_duration_seconds_count",
            Some(("method", method)),
        )
        .map(|s| s.value)
        .unwrap_or(0.0)
    };
    assert_eq!(timed("veil_ping"), 1.0, "{body}");
    assert_eq!(timed("batch"), 1.0, "{body}");
    // The JSON-RPC server still answers POSTs on every path.
    let (status, _, _) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    handle.stop().unwrap();
}
