//! What a devnet shows while it comes up and runs: validators finalizing, workers registered,
//! the launch, and a line per worker.

use std::{
    path::Path,
    process::Child,
    time::{Duration, Instant},
};

use jsonrpsee::http_client::HttpClient;
use veil_pruntime_api::PrivateApiClient as _;
use veil_rpc_api::{StatusView, VeilApiClient as _};

use super::layout::{NodeEntry, WorkerEntry};
use crate::rpc::connect;

/// Waits until every node answers and blocks finalize, showing progress.
pub(crate) async fn wait_ready(
    dir: &Path,
    clients: &[HttpClient],
    entries: &[NodeEntry],
    children: &mut [Child],
) -> anyhow::Result<StatusView> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    loop {
        for (i, c) in children.iter_mut().enumerate() {
            if let Ok(Some(code)) = c.try_wait() {
                anyhow::bail!(
                    "validator {i} exited ({code}) during startup; see {}",
                    entries[i].log.display()
                );
            }
        }
        let mut up = 0;
        let mut min_height = u64::MAX;
        let mut first = None;
        for c in clients {
            if let Ok(s) = c.status().await {
                up += 1;
                min_height = min_height.min(s.height);
                first.get_or_insert(s);
            }
        }
        let line = format!(
            "waiting for validators: {up}/{} answering, finalized height {}",
            clients.len(),
            if up == 0 { 0 } else { min_height }
        );
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if up == clients.len() && min_height >= 1 {
            return Ok(first.expect("at least one status"));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "devnet did not start finalizing within 120 s; see the logs in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A worker's sync height and, from the chain, its registration and egress count.
pub(crate) async fn worker_line(node: &HttpClient, worker: &WorkerEntry) -> String {
    let Ok(pruntime) = connect(&worker.pruntime_private) else {
        return "-".into();
    };
    let (Ok(Some(state)), Ok(identity)) = (
        pruntime.get_sync_state().await,
        pruntime.get_identity().await,
    ) else {
        return "unreachable".into();
    };
    match node.get_worker(identity.public_key).await {
        Ok(Some(w)) => format!(
            "{} (registered until {}, {} egress messages)",
            state.synced_height,
            w.expiry,
            w.next_sequence.unwrap_or(0)
        ),
        Ok(None) => format!("{} (not registered)", state.synced_height),
        Err(_) => state.synced_height.to_string(),
    }
}

/// Launch progress in one line.
pub(crate) fn launch_line(s: &StatusView) -> String {
    match s.era {
        Some(era) => {
            let liveness = match &s.liveness.last {
                Some(e) => format!(
                    "; era {}: {} responsive, {} unresponsive",
                    e.era,
                    e.judged - e.unresponsive,
                    e.unresponsive
                ),
                None => String::new(),
            };
            format!(
                "launched (root key era {era}), {} gatekeepers in round {}, genesis node {}{liveness}",
                s.gatekeepers, s.election_round, s.genesis
            )
        }
        None if s.election_round == 0 => {
            "prelaunch: waiting for the first gatekeeper election".into()
        }
        None => format!(
            "prelaunch: round {}, {}/{} gatekeepers hold the root key",
            s.election_round, s.confirmed_gatekeepers, s.gatekeepers
        ),
    }
}

/// Waits until the network launched: gatekeepers elected, root key handed over by the genesis
/// node, every gatekeeper confirmed; shows progress.
pub(crate) async fn wait_launched(client: &HttpClient) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = String::new();
    loop {
        let status = client.status().await?;
        let line = launch_line(&status);
        if line != last {
            eprintln!("launch: {line}");
            last = line;
        }
        if status.era.is_some() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the network did not launch within 180 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `n` workers are registered on chain, showing progress.
pub(crate) async fn wait_registered(client: &HttpClient, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    loop {
        let status = client.status().await?;
        if last != Some(status.workers) {
            eprintln!(
                "workers registered: {}/{n} ({} insecure: dev attestation)",
                status.workers, status.insecure_workers
            );
            last = Some(status.workers);
        }
        if status.workers as usize >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {n} workers registered within 120 s",
            status.workers
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
