//! Multi-process end-to-end test: `veil devnet` runs 4 validator processes on loopback; we
//! transfer, `kill -9` a validator, watch finality go on, restart it, and check it catches up
//! with identical balances. Also checks that bad RPC input gets clear errors.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use jsonrpsee::http_client::HttpClient;
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::{Call, ChainIdentity, PrivateKey, Transaction, decode_hex, to_hex};
use veil_rpc_api::VeilApiClient as _;

/// Kills every process it knows about when dropped, so a failing test leaves nothing behind.
struct Cleanup {
    devnet: Option<Child>,
    extra: Vec<Child>,
    pids: Vec<u32>,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process};
        if let Some(mut d) = self.devnet.take() {
            crate::common::stop(&mut d);
        }
        for c in &mut self.extra {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in &self.pids {
            if let Some(pid) = Pid::from_raw(*pid as i32) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `f` until it yields, failing after `timeout` with the devnet's logs for diagnosis.
fn poll<T>(dir: &Path, what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    crate::common::poll_or(what, timeout, f, || format!("\n{}", diagnostics(dir)))
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<_> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn diagnostics(dir: &Path) -> String {
    let mut out = format!("--- devnet.out\n{}\n", tail(&dir.join("devnet.out"), 30));
    // The devnet lives in `dir` or in `dir/net`, depending on the test.
    for i in 0..4 {
        let log = [
            dir.join(format!("node-{i}/node.log")),
            dir.join(format!("net/node-{i}/node.log")),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_default();
        out.push_str(&format!("--- node-{i}\n{}\n", tail(&log, 15)));
    }
    out
}

use crate::common::{NetworkSlot, VEIL, http as client};

fn veil(args: &[&str]) -> std::process::Output {
    Command::new(VEIL).args(args).output().unwrap()
}

fn height(rt: &tokio::runtime::Runtime, c: &HttpClient) -> Option<u64> {
    rt.block_on(c.status()).ok().map(|s| s.height)
}

#[test]
fn devnet_transfer_kill_restart_catch_up() {
    let _slot = NetworkSlot::acquire();
    let dir = std::env::temp_dir().join(format!("veil-devnet-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = std::fs::File::create(dir.join("devnet.out")).unwrap();
    let devnet = Command::new(VEIL)
        .args(["devnet", "--dir"])
        .arg(&dir)
        .args(["--no-demo", "--workers", "0", "--block-interval-ms", "100"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut cleanup = Cleanup {
        devnet: Some(devnet),
        extra: Vec::new(),
        pids: Vec::new(),
        dir: dir.clone(),
    };

    let devnet_json = dir.join("devnet.json");
    let file: serde_json::Value = poll(&dir, "devnet.json", Duration::from_secs(180), || {
        let text = std::fs::read_to_string(&devnet_json).ok()?;
        serde_json::from_str(&text).ok()
    });
    let nodes = file["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 4);
    cleanup.pids = nodes
        .iter()
        .map(|n| n["pid"].as_u64().unwrap() as u32)
        .collect();
    let rpcs: Vec<String> = nodes
        .iter()
        .map(|n| n["rpc"].as_str().unwrap().to_string())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clients: Vec<HttpClient> = rpcs.iter().map(|u| client(u)).collect();

    // `veil status --json` reports the fields operators script against.
    let status: serde_json::Value =
        poll(&dir, "all peers connected", Duration::from_secs(60), || {
            let out = veil(&["status", "--rpc", &rpcs[0], "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (v["peers"].as_u64()? == 3).then_some(v)
        });
    assert_eq!(status["validators"], 4);
    assert!(status["height"].as_u64().unwrap() >= 1);
    assert!(status["finalized"].as_u64().unwrap() >= status["height"].as_u64().unwrap());
    rpc_limits_hold(&rt, &rpcs[0]);

    // A transfer with the CLI, waiting for finality.
    let bob_key = dir.join("bob.json");
    let out = veil(&["key", "generate", "--out", bob_key.to_str().unwrap()]);
    let out = crate::common::succeeded(out);
    let bob = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let faucet = dir.join("keys/faucet.json");
    let out = veil(&[
        "transfer",
        "--rpc",
        &rpcs[0],
        "--from",
        faucet.to_str().unwrap(),
        "--to",
        &bob,
        "--amount",
        "777",
    ]);
    assert!(
        out.status.success(),
        "transfer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Errors read as sentences: the chain's reason, not a debug dump of the error object.
    let poor = dir.join("poor.json");
    assert!(
        veil(&["key", "generate", "--out", poor.to_str().unwrap()])
            .status
            .success()
    );
    let out = veil(&[
        "transfer",
        "--rpc",
        &rpcs[0],
        "--from",
        poor.to_str().unwrap(),
        "--to",
        &bob,
        "--amount",
        "5",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("insufficient balance") && !err.contains("ErrorObject"),
        "{err}"
    );
    // An account id that is not one says what form is expected.
    let out = veil(&["account", "--rpc", &rpcs[0], "alice"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("64 hex digits") && !err.contains("End-of-Buffer"),
        "{err}"
    );
    // Without --rpc, a command run next to the devnet (./devnet-data) reaches it.
    let next_to = dir.join("next-to");
    std::fs::create_dir_all(next_to.join("devnet-data")).unwrap();
    std::fs::copy(&devnet_json, next_to.join("devnet-data/devnet.json")).unwrap();
    let out = Command::new(VEIL)
        .args(["status", "--json"])
        .current_dir(&next_to)
        .env_remove("VEIL_RPC")
        .output()
        .unwrap();
    let out = crate::common::succeeded(out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["genesis_hash"], status["genesis_hash"]);

    // kill -9 validator 3; the other three keep finalizing.
    use rustix::process::{Pid, Signal, kill_process};
    let victim = cleanup.pids[3];
    kill_process(Pid::from_raw(victim as i32).unwrap(), Signal::KILL).unwrap();
    let before = (0..3)
        .filter_map(|i| height(&rt, &clients[i]))
        .max()
        .unwrap();
    poll(
        &dir,
        "finality without validator 3",
        Duration::from_secs(60),
        || {
            (0..3)
                .all(|i| height(&rt, &clients[i]).is_some_and(|h| h >= before + 10))
                .then_some(())
        },
    );
    assert!(
        height(&rt, &clients[3]).is_none(),
        "killed validator still answers"
    );

    // Restart it with the command devnet.json records; it catches up from its peers.
    let command: Vec<String> = nodes[3]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let node_log = PathBuf::from(nodes[3]["log"].as_str().unwrap());
    let out = std::fs::OpenOptions::new()
        .append(true)
        .open(&node_log)
        .unwrap();
    let restarted = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    cleanup.extra.push(restarted);
    let target = (0..3)
        .filter_map(|i| height(&rt, &clients[i]))
        .max()
        .unwrap()
        + 5;
    poll(
        &dir,
        "restarted validator to catch up",
        Duration::from_secs(120),
        || {
            height(&rt, &clients[3])
                .is_some_and(|h| h >= target)
                .then_some(())
        },
    );

    // Identical balances and blocks everywhere.
    for c in &clients {
        let a = rt.block_on(c.get_account(bob.clone())).unwrap();
        assert_eq!(a.balance, "777");
        let b = rt
            .block_on(c.get_block(veil_rpc_api::BlockId::Height(target)))
            .unwrap()
            .unwrap();
        let b0 = rt
            .block_on(clients[0].get_block(veil_rpc_api::BlockId::Height(target)))
            .unwrap()
            .unwrap();
        assert_eq!(b.hash, b0.hash);
        assert!(b.finalization.is_some());
    }

    // Bad input gets clear errors, and the node keeps serving.
    let c = &clients[0];
    let err = rt
        .block_on(c.submit_transaction("zz".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not hex"), "{err}");
    let err = rt
        .block_on(c.submit_transaction("0x0001".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("malformed"), "{err}");
    let err = rt
        .block_on(c.get_account("0x1234".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid params"), "{err}");
    let status = rt.block_on(c.status()).unwrap();
    let chain = ChainIdentity {
        chain_id: status.chain_id,
        genesis_hash: decode_hex(&status.genesis_hash).unwrap(),
    };
    let faucet_key = read_json::<AccountKeyFile>(&faucet)
        .unwrap()
        .private_key()
        .unwrap();
    let mut tx = Transaction {
        sender: faucet_key.public_key(),
        nonce: 1,
        expiry: status.height + 50,
        call: Call::Transfer {
            to: PrivateKey::from_seed(5).public_key(),
            amount: 1,
        },
    }
    .sign(&faucet_key, &chain);
    tx.transaction.nonce = 2;
    let err = rt
        .block_on(c.submit_transaction(to_hex(tx.encode())))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad signature"), "{err}");
    let used = Transaction {
        sender: faucet_key.public_key(),
        nonce: 0,
        expiry: status.height + 50,
        call: Call::Transfer {
            to: PrivateKey::from_seed(5).public_key(),
            amount: 1,
        },
    }
    .sign(&faucet_key, &chain);
    let err = rt
        .block_on(c.submit_transaction(to_hex(used.encode())))
        .unwrap_err()
        .to_string();
    assert!(err.contains("already used"), "{err}");
    assert!(rt.block_on(c.status()).is_ok());
}

/// The node's RPC refuses oversized batches and caps subscriptions per connection, so one
/// client cannot make a validator do unbounded work per request or hold unbounded streams.
fn rpc_limits_hold(rt: &tokio::runtime::Runtime, rpc: &str) {
    use jsonrpsee::{
        core::{client::ClientT as _, params::BatchRequestBuilder},
        rpc_params,
        ws_client::WsClientBuilder,
    };
    use veil_rpc_api::limits::{MAX_BATCH_CALLS, MAX_SUBSCRIPTIONS_PER_CONNECTION};

    let http = client(rpc);
    let batch = |n: u32| {
        let mut b = BatchRequestBuilder::new();
        for _ in 0..n {
            b.insert("veil_status", rpc_params![]).unwrap();
        }
        b
    };
    let ok = rt
        .block_on(http.batch_request::<serde_json::Value>(batch(MAX_BATCH_CALLS)))
        .unwrap();
    assert_eq!(ok.num_successful_calls(), MAX_BATCH_CALLS as usize);
    assert!(
        rt.block_on(http.batch_request::<serde_json::Value>(batch(MAX_BATCH_CALLS + 1)))
            .is_err(),
        "a batch over the limit was served"
    );

    let ws_url = rpc.replacen("http://", "ws://", 1);
    rt.block_on(async {
        let ws = WsClientBuilder::default().build(&ws_url).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..MAX_SUBSCRIPTIONS_PER_CONNECTION {
            held.push(ws.subscribe_finalized_heads().await.unwrap());
        }
        assert!(
            ws.subscribe_finalized_heads().await.is_err(),
            "a subscription over the limit was accepted"
        );
    });
}

/// Every pid `devnet.json` records for `file`.
fn recorded_pids(file: &serde_json::Value) -> Vec<u32> {
    let mut pids: Vec<u32> = file["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap() as u32)
        .collect();
    let workers = file["workers"].as_array().unwrap().iter().chain(
        file["genesis_node"]
            .as_object()
            .map(|_| &file["genesis_node"]),
    );
    for w in workers {
        pids.push(w["pruntime_pid"].as_u64().unwrap() as u32);
        pids.push(w["host_pid"].as_u64().unwrap() as u32);
    }
    pids.push(file["ra_service_process"]["pid"].as_u64().unwrap() as u32);
    pids
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by its parent) is not running.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn a_detached_devnet_is_listed_and_stopped_by_devnet_stop() {
    let _slot = NetworkSlot::acquire();
    let dir = std::env::temp_dir().join(format!("veil-devnet-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cleanup = Cleanup {
        devnet: None,
        extra: Vec::new(),
        pids: Vec::new(),
        dir: dir.clone(),
    };
    let log = std::fs::File::create(dir.join("devnet.out")).unwrap();
    let started = Command::new(VEIL)
        .args(["devnet", "--dir"])
        .arg(dir.join("net"))
        .args([
            "--detach",
            "--no-demo",
            "--workers",
            "1",
            "--gatekeepers",
            "1",
        ])
        .args(["--block-interval-ms", "100"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    let text = std::fs::read_to_string(dir.join("net/devnet.json")).unwrap_or_default();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if let Some(nodes) = file["nodes"].as_array() {
        cleanup.pids = nodes
            .iter()
            .map(|n| n["pid"].as_u64().unwrap() as u32)
            .collect();
    }
    assert!(started.success(), "{}", diagnostics(&dir));
    let pids = recorded_pids(&file);
    cleanup.pids = pids.clone();
    // 4 validators, the genesis node and a worker (a pRuntime and a host each), the RA service.
    assert_eq!(pids.len(), 9);
    assert!(file["supervisor"].is_null(), "a detached devnet has none");
    assert!(pids.iter().all(|&p| alive(p)));

    let net = dir.join("net");
    let status = Command::new(VEIL)
        .args(["devnet", "status", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&status.stdout);
    assert!(listing.contains("9 of 9 processes running"), "{listing}");
    assert!(
        listing.contains("validator 0") && listing.contains("height"),
        "{listing}"
    );
    assert!(listing.contains("dev RA service"), "{listing}");
    assert!(listing.contains("rss"), "{listing}");

    every_process_serves_prometheus_metrics(&dir, &net);
    validators_stay_small(&file);

    let stopped = Command::new(VEIL)
        .args(["devnet", "stop", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    poll(
        &dir,
        "every devnet process to exit",
        Duration::from_secs(20),
        || pids.iter().all(|&p| !alive(p)).then_some(()),
    );
    let status = Command::new(VEIL)
        .args(["devnet", "status", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&status.stdout);
    assert!(listing.contains("0 of 9 processes running"), "{listing}");
    // Stopping again finds nothing to stop; a directory without a devnet is a clear error.
    let again = Command::new(VEIL)
        .args(["devnet", "stop", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing of the devnet"));
    let none = veil(&["devnet", "stop", "--dir", "/nonexistent-devnet"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no devnet was started"));
}

/// `GET http://{addr}/metrics` over a plain socket; the body, parsed.
fn scrape(addr: &str) -> Vec<veil_metrics::Sample> {
    use std::io::{Read as _, Write as _};
    let addr = addr.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{addr}: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    // A chunked body: drop the chunk-size lines, keep the text.
    let text: String = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    veil_metrics::parse(&text).unwrap_or_else(|e| panic!("{addr}: {e}\n{text}"))
}

fn value(samples: &[veil_metrics::Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum::<f64>()
}

/// Prometheus scrapes every validator, pRuntime and host of the devnet: the targets file names
/// them, each answers `GET /metrics`, and the figures say what runs.
fn every_process_serves_prometheus_metrics(dir: &Path, net: &Path) {
    let targets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(net.join("prometheus-targets.json")).unwrap(),
    )
    .unwrap();
    let role = |r: &str| -> Vec<String> {
        targets
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["labels"]["role"] == r)
            .unwrap()["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    };
    let (validators, pruntimes, hosts) = (role("validator"), role("pruntime"), role("host"));
    assert_eq!(
        (validators.len(), pruntimes.len(), hosts.len()),
        (4, 2, 2),
        "{targets}"
    );
    // Each endpoint, once `metric` shows the process at work.
    let scrape_when = |addr: &str, metric: &str| {
        poll(
            dir,
            &format!("{metric} at {addr}"),
            Duration::from_secs(30),
            || {
                let s = scrape(addr);
                (value(&s, metric) >= 1.0).then_some(s)
            },
        )
    };
    for v in &validators {
        let samples = scrape_when(v, "veil_height");
        assert!(value(&samples, "veil_peers") >= 3.0, "{v}: peers");
        assert!(
            samples
                .iter()
                .any(|s| s.name == "veil_finality_lag_seconds"),
            "{v}: finality lag"
        );
        assert!(
            samples
                .iter()
                .any(|s| s.name == "veil_mempool_transactions")
        );
        // The devnet's own status calls reached this validator's RPC and were counted by method.
        assert!(
            samples.iter().any(|s| s.name == "veil_rpc_calls_total"
                && s.label("method") == Some("veil_status")
                && s.value >= 1.0),
            "{v}: rpc calls: {:?}",
            samples
                .iter()
                .filter(|s| s.name.contains("rpc") || s.name.contains("transactions"))
                .collect::<Vec<_>>()
        );
        // Consensus, p2p and storage metrics come with them.
        assert!(samples.len() > 100, "{v}: {} samples", samples.len());
    }
    for p in &pruntimes {
        let samples = scrape_when(p, "pruntime_synced_height");
        assert!(
            value(&samples, "pruntime_sync_batches_applied_total") >= 1.0,
            "{p}"
        );
        assert_eq!(value(&samples, "pruntime_insecure"), 1.0, "{p}: dev TEE");
        assert!(
            samples.iter().any(|s| s.name == "pruntime_egress_pending"),
            "{p}"
        );
        assert!(value(&samples, "pruntime_process_rss_bytes") > 0.0, "{p}");
    }
    for h in &hosts {
        let samples = scrape_when(h, "host_relay_rounds_total");
        assert!(value(&samples, "host_node_height") >= 1.0, "{h}");
        assert!(samples.iter().any(|s| s.name == "host_lag_blocks"), "{h}");
        assert!(value(&samples, "host_process_rss_bytes") > 0.0, "{h}");
    }
}

/// An idle validator of the default devnet stays well under 200 MB (the p2p layer once
/// preallocated about 550 MB per validator for a 4-validator network).
fn validators_stay_small(file: &serde_json::Value) {
    for n in file["nodes"].as_array().unwrap() {
        let pid = n["pid"].as_u64().unwrap() as u32;
        let rss = veil_metrics::rss_bytes(pid).unwrap();
        assert!(rss < 200 << 20, "validator pid {pid} holds {rss} bytes");
    }
}
