//! Helpers shared by the CLI's integration tests.

use std::time::Duration;

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};

/// The `veil` binary under test.
pub(crate) const VEIL: &str = env!("CARGO_BIN_EXE_veil");

/// A JSON-RPC client for `url` with a short timeout.
pub(crate) fn http(url: &str) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(5))
        .build(url)
        .unwrap()
}
