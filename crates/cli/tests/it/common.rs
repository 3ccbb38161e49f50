//! Helpers shared by the CLI's integration tests.

use std::{
    sync::{Condvar, Mutex},
    time::Duration,
};

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

/// How many tests may run a network of processes at once. A devnet is some twenty processes;
/// more than a few at once on two cores starve each other past the tests' deadlines.
const NETWORKS_AT_ONCE: usize = 3;

static NETWORKS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// A slot to run one network in, held for the test's lifetime.
pub(crate) struct NetworkSlot(());

impl NetworkSlot {
    /// Waits until fewer than [NETWORKS_AT_ONCE] networks run.
    pub(crate) fn acquire() -> Self {
        let (running, freed) = &NETWORKS;
        let mut n = running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= NETWORKS_AT_ONCE {
            n = freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        NetworkSlot(())
    }
}

impl Drop for NetworkSlot {
    fn drop(&mut self) {
        let (running, freed) = &NETWORKS;
        *running.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        freed.notify_one();
    }
}
