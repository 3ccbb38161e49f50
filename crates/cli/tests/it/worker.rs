//! Workers end to end, as real processes.
//!
//! - A devnet, a `pruntime` and a `veil host` relaying finalized blocks into it: a message sent
//!   on chain to the worker reaches pRuntime through its light client; `kill -9` of the host
//!   loses nothing and sync resumes after a restart.
//! - A devnet's own workers register with dev attestation through the dev RA service, send
//!   heartbeats as signed egress, and a pRuntime killed with `kill -9` comes back with the same
//!   identity, resumes sync and is not registered again.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::{Call, ChainIdentity, Destination, Transaction, decode_hex, to_hex};
use veil_pruntime_api::{Info, PrivateApiClient, PublicApiClient as _};
use veil_rpc_api::VeilApiClient as _;

use crate::common::{NetworkSlot, VEIL, http, poll_or};

fn pruntime_bin() -> PathBuf {
    // Built alongside `veil` by `cargo test --workspace`.
    let bin = Path::new(VEIL).with_file_name("pruntime");
    assert!(
        bin.exists(),
        "{} is missing: run the workspace tests, or `cargo build --release -p veil-pruntime` first",
        bin.display()
    );
    bin
}

/// A test's processes and directory, stopped and removed at the end; the slot is released
/// after them (fields drop after `drop`).
struct Procs(Vec<Child>, PathBuf, NetworkSlot);
impl Drop for Procs {
    fn drop(&mut self) {
        use rustix::process::{Pid, Signal, kill_process};
        for c in &mut self.0 {
            if let Some(pid) = Pid::from_raw(c.id() as i32) {
                let _ = kill_process(pid, Signal::TERM);
            }
        }
        // All asked at once above, so they stop in parallel; each then gets its grace time.
        for c in &mut self.0 {
            crate::common::stop(c);
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn log(dir: &Path, name: &str) -> (Stdio, Stdio) {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap();
    (Stdio::from(f.try_clone().unwrap()), Stdio::from(f))
}

fn poll<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll_or(what, timeout, f, String::new)
}

/// The devnet's last output lines, for a failure message: the test directory's removal would
/// otherwise take them with it.
fn devnet_said(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("devnet.out")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("; the devnet said:\n{tail}")
}

/// `kill -9`s the pRuntime of devnet worker `w` (as the devnet started it).
fn kill_pruntime(w: &serde_json::Value) {
    kill_9(w["pruntime_pid"].as_u64().unwrap() as u32);
}

fn kill_9(pid: u32) {
    use rustix::process::{Pid, Signal, kill_process};
    kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::KILL).unwrap();
}

/// Starts devnet worker `w`'s pRuntime again, from its sealed data, with its recorded command;
/// returns its pid.
fn restart_pruntime(dir: &Path, procs: &mut Procs, w: &serde_json::Value) -> u32 {
    let command: Vec<String> = w["pruntime_command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let (out, err) = log(dir, "pruntime-restarted.log");
    procs.0.push(
        Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    procs.0.last().expect("just started").id()
}

/// A fresh directory for one test, removed (with its processes stopped) when the test ends.
fn test_dir(name: &str) -> (PathBuf, Procs) {
    let dir = std::env::temp_dir().join(format!("veil-{name}-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (dir.clone(), Procs(Vec::new(), dir, NetworkSlot::acquire()))
}

/// Starts a dev-mode `pruntime` with its data in `dir`; returns its private and public ports.
fn spawn_pruntime(dir: &Path, procs: &mut Procs) -> (u16, u16) {
    let (private, public) = two_ports();
    let (out, err) = log(dir, "pruntime.log");
    procs.0.push(
        Command::new(pruntime_bin())
            .arg("--data-dir")
            .arg(dir.join("pruntime"))
            .args(["--private-rpc", &format!("127.0.0.1:{private}")])
            .args(["--public-rpc", &format!("127.0.0.1:{public}")])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    (private, public)
}

/// Two free ports, held together while chosen so they differ.
fn two_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

#[test]
fn host_relays_blocks_and_messages_into_pruntime_and_survives_kill_9() {
    let (dir, mut procs) = test_dir("worker");
    let file = start_devnet(&dir, &mut procs, &["--workers", "0"]);
    let rpc = file["nodes"][0]["rpc"].as_str().unwrap().to_string();

    let (private, public) = spawn_pruntime(&dir, &mut procs);
    let spawn_host = |procs: &mut Procs| {
        let (out, err) = log(&dir, "host.log");
        procs.0.push(
            Command::new(VEIL)
                .args([
                    "host",
                    "--node",
                    &rpc,
                    "--pruntime",
                    &format!("http://127.0.0.1:{private}"),
                ])
                .args(["--batch", "50"])
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap(),
        );
        procs.0.len() - 1
    };
    let host_index = spawn_host(&mut procs);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = http(&rpc);
    let pruntime = http(&format!("http://127.0.0.1:{private}"));
    let synced = |rt: &tokio::runtime::Runtime| {
        rt.block_on(PrivateApiClient::get_sync_state(&pruntime))
            .ok()
            .flatten()
            .map(|s| s.synced_height)
    };
    let tip = |rt: &tokio::runtime::Runtime| rt.block_on(node.status()).unwrap().height;

    // The host initializes pRuntime and brings it to the node's height.
    let target = tip(&rt);
    poll("pRuntime to sync", Duration::from_secs(60), || {
        synced(&rt).filter(|h| *h >= target)
    });

    // A message to the worker, sent on chain, arrives through the light client.
    let worker = rt
        .block_on(PrivateApiClient::get_identity(&pruntime))
        .unwrap()
        .public_key;
    let status = rt.block_on(node.status()).unwrap();
    let chain = ChainIdentity {
        chain_id: status.chain_id,
        genesis_hash: decode_hex(&status.genesis_hash).unwrap(),
    };
    let faucet = read_json::<AccountKeyFile>(&dir.join("net/keys/faucet.json"))
        .unwrap()
        .private_key()
        .unwrap();
    let tx = Transaction {
        sender: faucet.public_key(),
        nonce: 0,
        expiry: status.height + 100,
        call: Call::SendMessage {
            destination: Destination::Worker(decode_hex(&worker).unwrap()),
            payload: b"hello worker".to_vec(),
        },
    }
    .sign(&faucet, &chain);
    rt.block_on(node.submit_transaction(to_hex(tx.encode())))
        .unwrap();
    let public_api = http(&format!("http://127.0.0.1:{public}"));
    poll(
        "the message to reach pRuntime",
        Duration::from_secs(60),
        || {
            let answer = rt.block_on(public_api.info(None)).ok()?;
            let info: Info = answer.open().ok()?.1;
            (info.messages_received == 1).then_some(())
        },
    );

    // kill -9 the host: pRuntime stays where it was while blocks go on.
    use rustix::process::{Pid, Signal, kill_process};
    let host_pid = procs.0[host_index].id();
    kill_process(Pid::from_raw(host_pid as i32).unwrap(), Signal::KILL).unwrap();
    let _ = procs.0[host_index].wait();
    let stalled = synced(&rt).unwrap();
    poll("the chain to move on", Duration::from_secs(30), || {
        (tip(&rt) >= stalled + 20).then_some(())
    });
    assert!(
        synced(&rt).unwrap() <= stalled + 1,
        "pRuntime advanced without a host"
    );

    // A new host resumes from pRuntime's sealed progress.
    spawn_host(&mut procs);
    let target = tip(&rt);
    poll("sync to resume", Duration::from_secs(60), || {
        synced(&rt).filter(|h| *h >= target)
    });
}

fn start_devnet(dir: &Path, procs: &mut Procs, extra: &[&str]) -> serde_json::Value {
    start_devnet_every(dir, procs, 100, extra)
}

fn start_devnet_every(
    dir: &Path,
    procs: &mut Procs,
    block_interval_ms: u64,
    extra: &[&str],
) -> serde_json::Value {
    let (out, err) = log(dir, "devnet.out");
    procs.0.push(
        Command::new(VEIL)
            .args(["devnet", "--dir"])
            .arg(dir.join("net"))
            .args(["--no-demo", "--block-interval-ms"])
            .arg(block_interval_ms.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    let devnet_json = || {
        let text = std::fs::read_to_string(dir.join("net/devnet.json")).ok()?;
        serde_json::from_str(&text).ok()
    };
    poll_or("devnet.json", Duration::from_secs(180), devnet_json, || {
        devnet_said(dir)
    })
}

#[test]
fn devnet_workers_register_send_heartbeats_and_survive_pruntime_kill_9() {
    let (dir, mut procs) = test_dir("registry");
    let file = start_devnet(&dir, &mut procs, &["--workers", "2"]);
    let rpc = file["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let workers = file["workers"].as_array().unwrap().clone();
    assert_eq!(workers.len(), 2);
    assert!(file["ra_service"].as_str().is_some());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = http(&rpc);

    // Every worker registers, flagged insecure (dev attestation), at its public endpoint.
    poll("both workers to register", Duration::from_secs(120), || {
        let s = rt.block_on(node.status()).ok()?;
        (s.workers == 2).then_some(())
    });
    let status = rt.block_on(node.status()).unwrap();
    assert_eq!(status.insecure_workers, 2);
    // The devnet lets its dev workers be gatekeepers, and says so.
    assert!(status.insecure_gatekeepers);
    let listed = rt.block_on(node.workers()).unwrap();
    let mut endpoints: Vec<_> = listed.iter().map(|w| w.endpoint.clone()).collect();
    endpoints.sort();
    let mut expected: Vec<_> = workers
        .iter()
        .map(|w| w["pruntime"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(endpoints, expected);
    assert!(
        listed
            .iter()
            .all(|w| w.insecure && w.tee == veil_primitives::TeeKind::Dev)
    );

    // Their hosts bond and stand them as gatekeeper candidates; an election elects both.
    let election = poll(
        "an election of both workers",
        Duration::from_secs(90),
        || {
            let e = rt.block_on(node.election()).ok()??;
            (e.gatekeepers.len() == 2).then_some(e)
        },
    );
    let mut elected: Vec<String> = election
        .gatekeepers
        .iter()
        .map(|g| g.worker.clone())
        .collect();
    elected.sort();
    for g in &election.gatekeepers {
        let entry = listed.iter().find(|w| w.worker == g.worker).unwrap();
        assert_eq!(entry.ecdh_public_key, g.ecdh_key);
    }
    let mut registered: Vec<_> = listed.iter().map(|w| w.worker.clone()).collect();
    registered.sort();
    assert_eq!(elected, registered);

    // Each pRuntime learns from verified blocks that it was elected.
    for w in &workers {
        let public = http(w["pruntime"].as_str().unwrap());
        poll(
            "pRuntime to see its election",
            Duration::from_secs(60),
            || {
                let answer = rt.block_on(public.info(None)).ok()?;
                let info: Info = answer.open().ok()?.1;
                (info.gatekeeper && info.election_round >= election.round).then_some(())
            },
        );
    }

    // `veil status --json` reports the registered count.
    let out = Command::new(VEIL)
        .args(["status", "--json", "--rpc", &rpc])
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["workers"], 2);

    // Worker 0's pRuntime knows it is registered (from the chain) and its heartbeats, signed
    // egress posted by its host, are routed by the chain.
    let w0 = &workers[0];
    let private = http(w0["pruntime_private"].as_str().unwrap());
    let identity = rt
        .block_on(PrivateApiClient::get_identity(&private))
        .unwrap();
    let entry = |rt: &tokio::runtime::Runtime| {
        rt.block_on(node.get_worker(identity.public_key.clone()))
            .unwrap()
    };
    let registered_at = entry(&rt).expect("worker 0 registered").registered_at;
    poll("a heartbeat on chain", Duration::from_secs(60), || {
        (entry(&rt)?.next_sequence? >= 1).then_some(())
    });
    let effects = rt
        .block_on(PrivateApiClient::dump_side_effect(&private))
        .unwrap();
    assert!(effects.registered_until.is_some());

    // kill -9 pRuntime, restart it from the same sealed data.
    kill_pruntime(w0);
    poll("pRuntime to die", Duration::from_secs(10), || {
        rt.block_on(PrivateApiClient::get_identity(&private))
            .is_err()
            .then_some(())
    });
    let sequence_before = entry(&rt).unwrap().next_sequence.unwrap();
    let _ = restart_pruntime(&dir, &mut procs, w0);
    // Same identity; the host (still running) resumes sync; heartbeats go on.
    let again = poll("pRuntime to come back", Duration::from_secs(30), || {
        rt.block_on(PrivateApiClient::get_identity(&private)).ok()
    });
    assert_eq!(again, identity);
    let target = rt.block_on(node.status()).unwrap().height;
    poll("sync to resume", Duration::from_secs(60), || {
        let s = rt
            .block_on(PrivateApiClient::get_sync_state(&private))
            .ok()??;
        (s.synced_height >= target).then_some(())
    });
    poll("heartbeats to go on", Duration::from_secs(60), || {
        (entry(&rt)?.next_sequence? > sequence_before).then_some(())
    });
    // Not registered again: the entry is the one from before the crash.
    assert_eq!(entry(&rt).unwrap().registered_at, registered_at);
}

#[test]
fn hosts_renew_registrations_before_they_expire() {
    let (dir, mut procs) = test_dir("renew");
    // Registrations of 120 blocks (about 12 s): the host renews within the last 30 (3 s; with
    // 60 blocks the 1.5 s left to land a renewal was seen to run out once under CI's load).
    let file = start_devnet(
        &dir,
        &mut procs,
        &["--workers", "1", "--registration-blocks", "120"],
    );
    let rpc = file["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = http(&rpc);
    let first = poll("the worker to register", Duration::from_secs(120), || {
        rt.block_on(node.workers()).ok()?.into_iter().next()
    });
    // Renewed twice, never lapsing in between.
    let mut current = first.clone();
    for round in 0..2 {
        let renewed = poll("a renewal", Duration::from_secs(60), || {
            let w = rt.block_on(node.get_worker(first.worker.clone())).ok()?;
            let w = w.unwrap_or_else(|| panic!("registration lapsed (round {round})"));
            (w.registered_at > current.registered_at).then_some(w)
        });
        assert!(renewed.expiry > current.expiry);
        assert!(
            renewed.registered_at < current.expiry,
            "renewed at {} after the expiry {}",
            renewed.registered_at,
            current.expiry
        );
        current = renewed;
    }
    assert_eq!(rt.block_on(node.status()).unwrap().workers, 1);
}

#[test]
fn veil_genesis_takes_the_genesis_identity_from_a_bootstrapped_pruntime() {
    let (dir, mut procs) = test_dir("bootstrap");
    let (private, _) = spawn_pruntime(&dir, &mut procs);
    let url = format!("http://127.0.0.1:{private}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pruntime = http(&url);
    let identity = poll("pRuntime to listen", Duration::from_secs(30), || {
        rt.block_on(PrivateApiClient::get_identity(&pruntime)).ok()
    });

    // The pRuntime runs in dev mode, so the chain must allow insecure attestation and
    // insecure gatekeepers (the genesis node holds the root key like one), and its code must
    // be on the allowlist like any worker's.
    let allow = format!("dev:{}", identity.measurement.trim_start_matches("0x"));
    let out = Command::new(VEIL)
        .args(["genesis", "--validators", "1", "--out"])
        .arg(dir.join("net"))
        .args(["--genesis-pruntime", &url])
        .args(["--genesis-endpoint", "http://127.0.0.1:9"])
        .args(["--allow-insecure", "--allow-insecure-gatekeepers"])
        .args(["--allow-measurement", &allow])
        .args(["--min-tcb-evaluation", "17"])
        .output()
        .unwrap();
    crate::common::succeeded(out);
    // Bootstrapping again for the same chain returns the same identity: the spec names the
    // sealed one. The role is bound to the chain's id and group key, dealt first.
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("net/genesis.json")).unwrap())
            .unwrap();
    let loaded = veil_node::genesis::Genesis::load(&dir.join("net/genesis.json")).unwrap();
    let binding = veil_pruntime_api::BootstrapRequest {
        chain_id: loaded.chain_id,
        group_key: to_hex(commonware_codec::Encode::encode(&loaded.group_key())),
    };
    let again = rt
        .block_on(PrivateApiClient::bootstrap(&pruntime, binding.clone()))
        .unwrap();
    assert!(!again.created);
    // Another chain's binding is refused: the genesis node belongs to one chain only.
    let other = veil_pruntime_api::BootstrapRequest {
        chain_id: loaded.chain_id + 1,
        ..binding
    };
    let refused = rt
        .block_on(PrivateApiClient::bootstrap(&pruntime, other))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("already the genesis node"), "{refused}");
    assert_eq!(spec["registry"]["params"]["min_tcb_evaluation"], 17);
    assert_eq!(spec["genesis_worker"]["signing_key"], again.genesis_key);
    assert_eq!(spec["genesis_worker"]["ecdh_key"], again.genesis_ecdh_key);
    assert_eq!(spec["genesis_worker"]["key_check"], again.key_check);
    let genesis = veil_node::genesis::Genesis::load(&dir.join("net/genesis.json")).unwrap();
    let g = genesis.state.genesis_worker.unwrap();
    assert_eq!(to_hex(g.holder.worker), again.genesis_key);
    assert_eq!(to_hex(g.holder.ecdh_key), again.genesis_ecdh_key);
    assert_eq!(g.holder.endpoint, "http://127.0.0.1:9");
    assert_eq!(to_hex(g.key_check), again.key_check);
    // The spec carries the genesis node's evidence, signed by the dev RA service. A spec whose
    // genesis node shows evidence nobody vouched for (a plain program's) is refused by every
    // validator: no chain starts.
    assert_ne!(spec["genesis_worker"]["evidence"], again.evidence);
    let mut forged = spec.clone();
    forged["genesis_worker"]["evidence"] = serde_json::Value::String(again.evidence.clone());
    let forged_path = dir.join("net/forged-genesis.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let refused = veil_node::genesis::Genesis::load(&forged_path)
        .err()
        .expect("a genesis with an unattested genesis node loads")
        .to_string();
    assert!(refused.contains("attestation is refused"), "{refused}");
    let mut unlisted = spec.clone();
    unlisted["registry"]["params"]["allowlist"] = serde_json::json!([]);
    std::fs::write(&forged_path, unlisted.to_string()).unwrap();
    let refused = veil_node::genesis::Genesis::load(&forged_path)
        .err()
        .expect("a genesis node off the allowlist loads")
        .to_string();
    assert!(refused.contains("not on the allowlist"), "{refused}");
    // Without the endpoint, gatekeepers could not reach the genesis node: refused.
    let out = Command::new(VEIL)
        .args(["genesis", "--validators", "1", "--out"])
        .arg(dir.join("net2"))
        .args(["--genesis-pruntime", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--genesis-endpoint"));
}

/// Files under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn devnet_launches_with_a_genesis_node_gatekeepers_and_miners() {
    use base64::Engine as _;
    let (dir, mut procs) = test_dir("launch");
    // The defaults: a genesis node, 3 gatekeeper candidates and 2 miners.
    let file = start_devnet(&dir, &mut procs, &[]);
    let rpc = file["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let workers = file["workers"].as_array().unwrap().clone();
    assert_eq!(workers.len(), 5);
    let genesis_node = file["genesis_node"].clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = http(&rpc);

    // Registration, election, key distribution over Noise and confirmations, with no one
    // stepping in.
    let status = poll("the network to launch", Duration::from_secs(240), || {
        let s = rt.block_on(node.status()).ok()?;
        (s.phase == veil_rpc_api::PhaseView::Launched).then_some(s)
    });
    assert_eq!(status.era, Some(0));
    assert_eq!(status.gatekeepers, 3);
    assert_eq!(status.confirmed_gatekeepers, 3);
    assert_eq!(status.genesis, veil_primitives::GenesisNodeStatus::Retired);
    let out = Command::new(VEIL)
        .args(["status", "--json", "--rpc", &rpc])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["phase"], "launched");
    assert_eq!(json["era"], 0);
    assert_eq!(json["gatekeepers"], 3);
    assert_eq!(json["genesis"], "retired");

    // The gatekeepers hold the root key; the miners do not.
    let election = rt.block_on(node.election()).unwrap().unwrap();
    let mut holders = 0;
    for w in &workers {
        let public = http(w["pruntime"].as_str().unwrap());
        // Launch needs one gatekeeper with the root key; the others fetch it from it after.
        let info: Info = poll("pRuntime info", Duration::from_secs(30), || {
            let answer = rt.block_on(public.info(None)).ok()?;
            let (_, info): (_, Info) = answer.open().ok()?;
            let elected = election.position(&info.public_key).is_some();
            (info.launched && info.holds_root_key == elected).then_some(info)
        });
        holders += info.holds_root_key as usize;
    }
    assert_eq!(holders, 3);

    // The genesis node wiped its key and answers nothing but its status.
    let genesis_public = http(genesis_node["pruntime"].as_str().unwrap());
    let info: Info = poll(
        "the genesis node to retire",
        Duration::from_secs(30),
        || {
            let answer = rt.block_on(genesis_public.info(None)).ok()?;
            let info: Info = answer.open().ok()?.1;
            (info.genesis == Some(veil_primitives::GenesisNodeStatus::Retired)).then_some(info)
        },
    );
    assert!(!info.holds_root_key);
    let refused = rt
        .block_on(genesis_public.request_root_key("0x00".into()))
        .unwrap_err();
    assert!(refused.to_string().contains("retired"), "{refused}");

    // The gatekeepers' first copies are on chain, with no divergence.
    poll(
        "the gatekeepers' first checkpoint",
        Duration::from_secs(60),
        || {
            let s = rt.block_on(node.gatekeeper_stream()).ok()?;
            (s.next_sequence >= 1 && s.state_checkpoint.is_some()).then_some(())
        },
    );
    assert_eq!(rt.block_on(node.status()).unwrap().divergences, 0);

    // A developer builds the token with Debian's toolchain and deploys it on a miner; the
    // gatekeepers publish its key, which `veil deploy` reads by light-client proof.
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let built = Command::new(VEIL)
        .args(["contract", "build"])
        .arg(&contracts)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success(),
        "{listing}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(
        listing.contains("veil_example_token.wasm") && listing.contains("passes the deploy policy"),
        "{listing}"
    );
    assert!(
        listing.contains("memory: 1 page (64 KiB), instances kept between calls"),
        "{listing}"
    );
    let token = contracts.join("target/wasm32-unknown-unknown/release/veil_example_token.wasm");
    // The ABI `export!` wrote (with rustc 1.63) is what the client reads.
    let abi = Command::new(VEIL)
        .args(["contract", "abi"])
        .arg(&token)
        .output()
        .unwrap();
    let abi = String::from_utf8_lossy(&abi.stdout);
    assert!(abi.contains("init(supply: u128)"), "{abi}");
    assert!(
        abi.contains("command transfer(to: AccountId, amount: u128) -> ()  [tag 0]"),
        "{abi}"
    );
    assert!(
        abi.contains("query total_supply() -> u128  [tag 1]"),
        "{abi}"
    );
    let miner = workers
        .iter()
        .map(|w| {
            let answer = rt
                .block_on(http(w["pruntime"].as_str().unwrap()).info(None))
                .unwrap();
            answer.open().unwrap().1
        })
        .find(|info: &Info| !info.holds_root_key)
        .unwrap()
        .public_key;
    let listed = Command::new(VEIL)
        .args(["workers", "--json", "--rpc", &rpc])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|w| w["worker"] == miner && w["role"] == "miner"),
        "{listed:?} lacks {miner} as a miner"
    );
    let gatekeepers = listed.iter().filter(|w| w["role"] == "gatekeeper").count();
    assert_eq!(gatekeepers, 3);
    let faucet = file["faucet_key"].as_str().unwrap().to_string();
    let genesis_hash = file["genesis_hash"].as_str().unwrap().to_string();
    // The faucet bonds and nominates the first gatekeeper; once an election has run since,
    // its stake stands behind it (checked at the end).
    let stake = |args: &[&str]| {
        let out = Command::new(VEIL)
            .arg("stake")
            .args(args)
            .args(["--rpc", &rpc])
            .output()
            .unwrap();
        let out = crate::common::succeeded(out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let nominated = election.gatekeepers[0].worker.clone();
    let bonded = stake(&["bond", "--from", &faucet, "--amount", "1000000000000"]);
    assert_eq!(bonded["bonded"], "1000000000000");
    let shown = stake(&["nominate", "--from", &faucet, &nominated]);
    assert_eq!(shown["nominations"], serde_json::json!([nominated]));
    let deploy = |code: &Path| {
        Command::new(VEIL)
            .args([
                "deploy",
                "--rpc",
                &rpc,
                "--genesis-hash",
                &genesis_hash,
                "--from",
                &faucet,
            ])
            .args(["--miner", &miner, "--code"])
            .arg(code)
            .output()
            .unwrap()
    };
    // The token with a 40 KiB custom section: code of more than one upload chunk.
    let padded = dir.join("token-padded.wasm");
    let mut bytes = std::fs::read(&token).unwrap();
    let section = [&[3u8][..], b"pad", &[0u8; 40 * 1024]].concat();
    bytes.push(0);
    let mut size = section.len() as u32;
    while size >= 0x80 {
        bytes.push((size as u8 & 0x7f) | 0x80);
        size >>= 7;
    }
    bytes.push(size as u8);
    bytes.extend_from_slice(&section);
    std::fs::write(&padded, &bytes).unwrap();
    let token = padded;
    let deployed = deploy(&token);
    let stderr = String::from_utf8_lossy(&deployed.stderr);
    assert!(deployed.status.success(), "{stderr}");
    assert!(stderr.contains("uploaded chunk 2/2"), "{stderr}");
    let record: serde_json::Value = serde_json::from_slice(&deployed.stdout).unwrap();
    assert_eq!(record["miner"], miner);
    assert_eq!(record["public_key"].as_str().unwrap().len(), 66);
    let shown = Command::new(VEIL)
        .args([
            "contract",
            "info",
            "--rpc",
            &rpc,
            "--genesis-hash",
            &genesis_hash,
        ])
        .arg(record["contract"].as_str().unwrap())
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["public_key"], record["public_key"]);
    assert_eq!(shown["initialized"], false);
    // The miner's operator takes only another developer's contracts: the faucet's deploy is
    // refused before it pays for anything; open again, it goes through.
    let operator = listed.iter().find(|w| w["worker"] == miner).unwrap()["operator"].clone();
    let operator_key = workers
        .iter()
        .filter_map(|w| w["operator_key"].as_str())
        .find(|path| {
            let file: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            file["public_key"] == operator
        })
        .unwrap()
        .to_string();
    let policy = |args: &[&str]| {
        let out = Command::new(VEIL)
            .args(["contract", "policy", "--rpc", &rpc, "--from", &operator_key])
            .args(["--miner", &miner])
            .args(args)
            .output()
            .unwrap();
        let out = crate::common::succeeded(out);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let other = to_hex(veil_primitives::PrivateKey::from_seed(78).public_key());
    let said = policy(&["--developer", &other]);
    assert!(said.contains("contracts of 1 developer(s)"), "{said}");
    let turned_away = deploy(&token);
    let stderr = String::from_utf8_lossy(&turned_away.stderr);
    assert!(!turned_away.status.success());
    assert!(
        stderr.contains("takes no contracts of developer"),
        "{stderr}"
    );
    let listed = Command::new(VEIL)
        .args(["workers", "--rpc", &rpc])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&miner) && l.contains("takes contracts of 1 developer(s)")),
        "{listed}"
    );
    let gatekeeper_lines: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains(" gatekeeper "))
        .collect();
    assert_eq!(gatekeeper_lines.len(), 3, "{listed}");
    assert!(
        gatekeeper_lines
            .iter()
            .all(|l| l.contains("runs no developer's contracts")),
        "{listed}"
    );
    let said = policy(&["--open"]);
    assert!(said.contains("any developer's"), "{said}");
    // Deploying the same code again reuses it and makes another instance with its own key;
    // with `--init`, its first command (encrypted) initializes it on the miner.
    let again = Command::new(VEIL)
        .args([
            "deploy",
            "--rpc",
            &rpc,
            "--genesis-hash",
            &genesis_hash,
            "--from",
            &faucet,
        ])
        .args(["--miner", &miner, "--init", r#"{"supply": 1000}"#, "--code"])
        .arg(&token)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("already on chain"), "{stderr}");
    let second: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(second["contract"], record["contract"]);
    assert_ne!(second["public_key"], record["public_key"]);
    assert_eq!(second["miner_has_key"], true);
    assert!(second["init"]["result"].is_null(), "{second}");
    // Encrypted commands by method name; the sender reads the decrypted result, a contract
    // error included.
    let token_id = second["contract"].as_str().unwrap().to_string();
    let alice = to_hex(veil_primitives::PrivateKey::from_seed(77).public_key());
    let call_at = |rpc: &str, method: &str, args: &str| {
        Command::new(VEIL)
            .args([
                "call",
                "--rpc",
                rpc,
                "--genesis-hash",
                &genesis_hash,
                "--from",
                &faucet,
            ])
            .args(["--contract", &token_id, method, args])
            .output()
            .unwrap()
    };
    let call = |method: &str, args: &str| call_at(&rpc, method, args);
    let paid = call(
        "transfer",
        &format!(r#"{{"to": "{alice}", "amount": 400}}"#),
    );
    assert!(
        paid.status.success(),
        "{}",
        String::from_utf8_lossy(&paid.stderr)
    );
    let paid: serde_json::Value = serde_json::from_slice(&paid.stdout).unwrap();
    assert!(
        paid["result"].is_null() && paid["fuel_used"].as_u64() > Some(0),
        "{paid}"
    );
    // The attack: a node claiming that a command which ran failed (in a block far beyond the
    // chain, which the client would wait for), so that its user sends it again (a second
    // payment). `veil call` looks for the command in
    // the blocks since before it sent it, by light-client proof, finds it routed, and waits
    // for its result.
    let liar = crate::common::lying_node(&rpc);
    // A transfer of nothing (refused by the token, so no balance changes): its result, the
    // token's error, comes back only if the client did not take the node's word.
    let lied_to = call_at(
        &liar,
        "transfer",
        &format!(r#"{{"to": "{alice}", "amount": 0}}"#),
    );
    let stderr = String::from_utf8_lossy(&lied_to.stderr);
    assert!(
        stderr.contains("amount must be positive") && !stderr.contains("lying node"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: the node misreported")
            && stderr.contains("it reported the transaction failed")
            && stderr.contains(&format!(
                "it named block {}, which cannot carry it",
                1u64 << 40
            )),
        "{stderr}"
    );
    let overdrawn = call(
        "transfer",
        &format!(r#"{{"to": "{alice}", "amount": 601}}"#),
    );
    assert!(!overdrawn.status.success());
    let stderr = String::from_utf8_lossy(&overdrawn.stderr);
    assert!(stderr.contains("insufficient balance"), "{stderr}");
    let unknown = call("mint", "{}");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no command `mint`"));
    // Queries go straight to the miner in a session; the answer commits to the state it read
    // (at or after the transfer's height) and says the worker is insecure. A balance is
    // answered only to its owner.
    let query = |from: &str, method: &str, args: &str, min_height: u64| {
        Command::new(VEIL)
            .args([
                "query",
                "--rpc",
                &rpc,
                "--genesis-hash",
                &genesis_hash,
                "--from",
                from,
            ])
            .args([
                "--contract",
                &token_id,
                "--min-height",
                &min_height.to_string(),
            ])
            .args([method, args])
            .output()
            .unwrap()
    };
    let faucet_id = to_hex(
        veil_client::keys::read_json::<veil_client::keys::AccountKeyFile>(Path::new(&faucet))
            .unwrap()
            .private_key()
            .unwrap()
            .public_key(),
    );
    let height = paid["height"].as_u64().unwrap();
    let balance = query(
        &faucet,
        "balance",
        &format!(r#"{{"who": "{faucet_id}"}}"#),
        height,
    );
    let stderr = String::from_utf8_lossy(&balance.stderr);
    assert!(balance.status.success(), "{stderr}");
    assert!(stderr.contains("insecure dev mode"), "{stderr}");
    let balance: serde_json::Value = serde_json::from_slice(&balance.stdout).unwrap();
    assert_eq!(balance["result"], 600, "{balance}");
    assert!(balance["commitment"]["height"].as_u64() >= Some(height));
    assert_eq!(balance["commitment"]["worker"], miner);
    let stranger = dir.join("stranger.json");
    let made = Command::new(VEIL)
        .args(["key", "generate", "--out"])
        .arg(&stranger)
        .output()
        .unwrap();
    assert!(made.status.success());
    let snooped = query(
        stranger.to_str().unwrap(),
        "balance",
        &format!(r#"{{"who": "{faucet_id}"}}"#),
        0,
    );
    assert!(!snooped.status.success());
    let stderr = String::from_utf8_lossy(&snooped.stderr);
    assert!(stderr.contains("answered only to its owner"), "{stderr}");
    let supply = query(stranger.to_str().unwrap(), "total_supply", "{}", 0);
    assert!(
        supply.status.success(),
        "{}",
        String::from_utf8_lossy(&supply.stderr)
    );
    let supply: serde_json::Value = serde_json::from_slice(&supply.stdout).unwrap();
    assert_eq!(supply["result"], 1000);
    // A module the policy refuses costs nothing: it never leaves the machine.
    let bad = dir.join("not-a-contract.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0garbage").unwrap();
    let refused = deploy(&bad);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused by the deploy policy"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // A node serving another genesis is not believed.
    let other = Command::new(VEIL)
        .args([
            "deploy",
            "--rpc",
            &rpc,
            "--genesis-hash",
            &to_hex([7u8; 32]),
            "--from",
            &faucet,
        ])
        .args(["--miner", &miner, "--code"])
        .arg(&token)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&other.stderr).contains("not the pinned genesis"));

    // Messages between contracts on two miners, with the destination's pRuntime killed
    // (`kill -9`) mid-exchange and restarted: every payment is applied exactly once. The vault
    // runs on the other miner, keeps 90% of each payment and pays 10% back.
    let (vault_worker, vault_miner) = workers
        .iter()
        .find_map(|w| {
            let answer = rt
                .block_on(http(w["pruntime"].as_str().unwrap()).info(None))
                .ok()?;
            let info: Info = answer.open().ok()?.1;
            (!info.holds_root_key && info.public_key != miner).then(|| (w.clone(), info.public_key))
        })
        .unwrap();
    let vault = Command::new(VEIL)
        .args([
            "deploy",
            "--rpc",
            &rpc,
            "--genesis-hash",
            &genesis_hash,
            "--from",
            &faucet,
        ])
        .args(["--miner", &vault_miner, "--code"])
        .arg(contracts.join("target/wasm32-unknown-unknown/release/veil_example_vault.wasm"))
        .args([
            "--init",
            &format!(r#"{{"token": "{token_id}", "refund_percent": 10, "limit": 1000}}"#),
        ])
        .output()
        .unwrap();
    assert!(
        vault.status.success(),
        "{}",
        String::from_utf8_lossy(&vault.stderr)
    );
    let vault: serde_json::Value = serde_json::from_slice(&vault.stdout).unwrap();
    let vault_id = vault["contract"].as_str().unwrap().to_string();
    let pay = || {
        let paid = call("pay", &format!(r#"{{"to": "{vault_id}", "amount": 50}}"#));
        assert!(
            paid.status.success(),
            "{}",
            String::from_utf8_lossy(&paid.stderr)
        );
    };
    pay();
    pay();
    kill_pruntime(&vault_worker);
    // Four more while the vault's miner is down: their messages wait on chain, in order.
    for _ in 0..4 {
        pay();
    }
    let vault_pruntime = restart_pruntime(&dir, &mut procs, &vault_worker);
    let read =
        |from: &str, contract: &str, method: &str, args: &str| -> Option<serde_json::Value> {
            let out = Command::new(VEIL)
                .args([
                    "query",
                    "--rpc",
                    &rpc,
                    "--genesis-hash",
                    &genesis_hash,
                    "--from",
                    from,
                ])
                .args(["--contract", contract, method, args])
                .output()
                .unwrap();
            out.status.success().then(|| {
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["result"].clone()
            })
        };
    // 600 less six payments of 50, plus six refunds of 5.
    poll("every payment to settle", Duration::from_secs(120), || {
        let balance = read(
            &faucet,
            &token_id,
            "balance",
            &format!(r#"{{"who": "{faucet_id}"}}"#),
        )?;
        (balance == 330).then_some(())
    });
    let held = read(
        &faucet,
        &token_id,
        "contract_balance",
        &format!(r#"{{"contract": "{vault_id}"}}"#),
    );
    assert_eq!(
        held,
        Some(serde_json::json!(270)),
        "the vault holds 6 x 45 tokens"
    );
    let deposit = read(
        &faucet,
        &vault_id,
        "deposit",
        &format!(r#"{{"who": "{faucet_id}"}}"#),
    );
    assert_eq!(
        deposit,
        Some(serde_json::json!(270)),
        "the vault counted each payment once"
    );

    // Leak test: unseal a gatekeeper's state with its dev sealing key (the one thing a dev TEE
    // cannot hide) to learn the root key, then search every byte the devnet wrote (chain data,
    // logs, keys, sealed files) for it, raw, hex and base64.
    let gatekeeper = workers
        .iter()
        .find(|w| {
            let public = http(w["pruntime"].as_str().unwrap());
            let answer = rt.block_on(public.info(None)).unwrap();
            let info: Info = answer.open().unwrap().1;
            info.holds_root_key
        })
        .unwrap();
    let data = PathBuf::from(gatekeeper["pruntime_command"][2].as_str().unwrap());
    let measurement = {
        use sha2::Digest as _;
        sha2::Sha256::digest(std::fs::read(pruntime_bin()).unwrap()).to_vec()
    };
    // Open the gatekeeper's sealed store as its pRuntime does: identity first, then the store
    // bound to it.
    let sealing_root = std::fs::read(data.join("dev-sealing-key")).unwrap();
    let sealed = veil_pruntime::sealed::dir::SealedDir::new(
        &data,
        sealing_root.clone().into(),
        measurement.clone(),
    )
    .unwrap();
    let (identity, created) = veil_pruntime::identity::Identity::load_or_create(&sealed).unwrap();
    assert!(!created, "the gatekeeper's identity is on disk");
    let store = veil_pruntime::sealed::kv::SealedKv::open(
        &data.join(veil_pruntime::runtime::STORE_DIR),
        &sealing_root,
        &measurement,
        identity.public_key().as_ref(),
    )
    .unwrap();
    let state = veil_pruntime::state::State::load(&store).unwrap().unwrap();
    let root_key = *state.gatekeeper.unwrap().root_key;
    // The recipient of the encrypted transfers is a canary too: it was only ever inside
    // commands, contract state and query arguments.
    let recipient: [u8; 32] = veil_primitives::PrivateKey::from_seed(77)
        .public_key()
        .as_ref()
        .try_into()
        .unwrap();
    let mut forms: Vec<(&str, Vec<u8>)> = Vec::new();
    for (what, secret) in [
        ("the root key", root_key),
        ("a transfer's recipient", recipient),
    ] {
        forms.extend([
            (what, secret.to_vec()),
            (what, to_hex(secret).into_bytes()),
            (what, to_hex(secret)[2..].to_uppercase().into_bytes()),
            (
                what,
                base64::engine::general_purpose::STANDARD
                    .encode(secret)
                    .into_bytes(),
            ),
            (
                what,
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(secret)
                    .into_bytes(),
            ),
        ]);
    }
    let all = files(&dir);
    assert!(all.len() > 20, "the devnet wrote its files");
    for f in all {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for (what, form) in &forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                "{what} leaks in {}",
                f.display()
            );
        }
    }

    // The contract demo runs on the launched devnet and checks itself.
    let demo = Command::new(VEIL)
        .args(["demo", "--devnet"])
        .arg(dir.join("net"))
        .arg("--contracts")
        .arg(&contracts)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&demo.stderr);
    assert!(demo.status.success(), "{said}");
    for line in [
        "bob asking for alice's balance is refused",
        "the vault, on the other miner, answers alice her deposit: 270",
        "the vault refused it and the token gave all 450 back",
        "alice's balance, from the new miner: 530",
        "bob's transfer of 100 to alice runs on the new miner",
        "the result stays sealed before the close",
        "only the winner and the price come out",
        "every check passed",
    ] {
        assert!(said.contains(line), "{said}");
    }

    // A miner whose pRuntime is killed falls silent: within two eras the chain judges it
    // unresponsive (the others, heartbeating, are not), and `veil status` says so.
    kill_9(vault_pruntime);
    let worker_view = || {
        let w = rt.block_on(node.get_worker(vault_miner.clone())).ok()??;
        w.activity
    };
    let silent_from = rt.block_on(node.status()).unwrap().liveness.era + 1;
    let judged = poll(
        "the silent miner to be judged",
        Duration::from_secs(180),
        || {
            let status = rt.block_on(node.status()).ok()?;
            let last = status.liveness.last?;
            (last.era >= silent_from && last.unresponsive >= 1).then_some(last)
        },
    );
    assert!(
        judged.unresponsive < judged.judged,
        "{judged:?}: the others are responsive"
    );
    assert_eq!(worker_view().map(|a| a.last), Some(0));
    let shown = Command::new(VEIL)
        .args(["status", "--rpc", &rpc])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("unresponsive"), "{shown}");

    // Elections ran since the faucet nominated: its bond stands behind that gatekeeper.
    let exposure = poll(
        "the faucet's stake behind the gatekeeper it nominated",
        Duration::from_secs(120),
        || {
            let e = stake(&["show", &faucet_id])["exposure"].clone();
            (e != serde_json::json!([])).then_some(e)
        },
    );
    assert_eq!(exposure, serde_json::json!([[nominated, "1000000000000"]]));
}

/// A block carrying as many messages as a block may (16 KiB each, until the 8 MiB block is
/// full) is served whole and synced by every worker. A review reproduced the opposite with 480
/// such messages: every answer about that block was "too big", and every worker stopped at the
/// block before it for good while the chain went on.
#[test]
fn a_block_full_of_messages_is_synced_by_every_worker() {
    let (dir, mut procs) = test_dir("big-block");
    // Slow blocks, so that everything sent right after one block lands in the next.
    let file = start_devnet_every(&dir, &mut procs, 4_000, &["--workers", "2"]);
    let rpc = file["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = jsonrpsee::http_client::HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .max_response_size(64 * 1024 * 1024)
        .build(&rpc)
        .unwrap();
    let status = rt.block_on(node.status()).unwrap();
    let chain = ChainIdentity {
        chain_id: status.chain_id,
        genesis_hash: decode_hex(&status.genesis_hash).unwrap(),
    };
    let faucet = read_json::<AccountKeyFile>(&dir.join("net/keys/faucet.json"))
        .unwrap()
        .private_key()
        .unwrap();
    let submit = |tx: veil_primitives::SignedTransaction| {
        rt.block_on(node.submit_transaction(to_hex(tx.encode())))
    };

    // Eight senders (a sender may have 64 transactions pending), funded by the faucet.
    let senders: Vec<veil_primitives::PrivateKey> = (0..8)
        .map(|i| veil_primitives::PrivateKey::from_seed(70_000 + i))
        .collect();
    let first = rt
        .block_on(node.get_account(to_hex(faucet.public_key())))
        .unwrap()
        .nonce;
    let height = rt.block_on(node.status()).unwrap().height;
    let mut last = String::new();
    for (nonce, s) in (first..).zip(&senders) {
        let tx = Transaction {
            sender: faucet.public_key(),
            nonce,
            expiry: height + 100,
            call: Call::Transfer {
                to: s.public_key(),
                amount: 100_000_000,
            },
        }
        .sign(&faucet, &chain);
        last = submit(tx).unwrap();
    }
    let status = std::cell::RefCell::new(None);
    poll_or(
        "the senders funded",
        Duration::from_secs(120),
        || {
            let t = rt.block_on(node.get_transaction(last.clone())).ok()?;
            let done = t.status == veil_rpc_api::TxStatus::Finalized;
            *status.borrow_mut() = Some(t.status);
            done.then_some(())
        },
        || {
            format!(
                " (last funding transaction: {status:?}){}",
                devnet_said(&dir)
            )
        },
    );

    // Right after a block, 64 messages of 16 KiB from each sender: more than one block holds.
    let start = rt.block_on(node.status()).unwrap().height;
    poll("a fresh block", Duration::from_secs(30), || {
        let h = rt.block_on(node.status()).ok()?.height;
        (h > start).then_some(())
    });
    let height = rt.block_on(node.status()).unwrap().height;
    for s in &senders {
        for n in 0..64 {
            let tx = Transaction {
                sender: s.public_key(),
                nonce: n,
                expiry: height + 100,
                call: Call::SendMessage {
                    destination: Destination::Topic(b"load".to_vec()),
                    payload: vec![n as u8; 16 * 1024],
                },
            }
            .sign(s, &chain);
            submit(tx).unwrap();
        }
    }

    // Find the fullest block among the next few.
    let (big, count, bytes) = poll(
        "the messages to be finalized",
        Duration::from_secs(90),
        || {
            let tip = rt.block_on(node.status()).ok()?.height;
            let mut best = (0, 0, 0);
            for h in height + 1..=tip {
                let m = rt.block_on(node.get_messages(h)).ok()??;
                let bytes: usize = m.messages.iter().map(|m| m.encoded.len()).sum();
                if m.messages.len() > best.1 {
                    best = (h, m.messages.len(), bytes);
                }
            }
            let pending = rt.block_on(node.status()).ok()?.mempool;
            (pending == 0 && best.1 > 0).then_some(best)
        },
    );
    assert!(count >= 400, "the fullest block carries {count} messages");
    assert!(
        bytes > 10 * 1024 * 1024,
        "its messages are {bytes} bytes in hex, more than JSON-RPC's default answer limit"
    );

    // Every worker syncs past it.
    for w in file["workers"].as_array().unwrap() {
        let pruntime = http(w["pruntime_private"].as_str().unwrap());
        poll(
            "every worker past the full block",
            Duration::from_secs(120),
            || {
                let s = rt.block_on(pruntime.get_sync_state()).ok()??;
                (s.synced_height >= big).then_some(())
            },
        );
    }
}

/// Processes whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(&needle)
                .then_some(pid)
        })
        .collect()
}

#[test]
fn a_devnet_stopped_before_the_launch_leaves_no_process_behind() {
    // Slow blocks keep the devnet waiting for registrations and the launch; SIGTERM then must
    // still stop every validator, pRuntime, host and the RA service it started.
    let (dir, mut procs) = test_dir("early-stop");
    start_devnet_every(
        &dir,
        &mut procs,
        4_000,
        &["--workers", "1", "--gatekeepers", "1"],
    );
    assert!(!processes_under(&dir).is_empty());
    let devnet = procs.0.pop().unwrap();
    let pid = rustix::process::Pid::from_raw(devnet.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    procs.0.push(devnet);
    poll(
        "the devnet's processes to stop",
        Duration::from_secs(30),
        || processes_under(&dir).is_empty().then_some(()),
    );
}

#[test]
fn a_detached_devnet_that_fails_to_start_leaves_no_process_behind() {
    // A validator that cannot bind its RPC port exits at startup; the detached devnet then
    // stops everything it started instead of leaving the rest running.
    let (dir, mut procs) = test_dir("failed-start");
    let net = dir.join("net");
    let detached = |net: &Path| {
        Command::new(VEIL)
            .args(["devnet", "--detach", "--no-demo", "--workers", "1", "--dir"])
            .arg(net)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let first = detached(&net);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stopped = Command::new(VEIL)
        .args(["devnet", "stop", "--dir"])
        .arg(&net)
        .output()
        .unwrap();
    assert!(stopped.status.success());
    poll("the first run to stop", Duration::from_secs(30), || {
        processes_under(&dir).is_empty().then_some(())
    });
    // The resumed devnet keeps its ports: hold validator 3's RPC port.
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(net.join("layout.json")).unwrap()).unwrap();
    let port = layout["rpc"][3].as_u64().unwrap() as u16;
    let _taken = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let second = detached(&net);
    assert!(!second.status.success(), "the devnet cannot start");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("validator 3 exited"), "{said}");
    poll(
        "every process it started to stop",
        Duration::from_secs(30),
        || processes_under(&dir).is_empty().then_some(()),
    );
    procs.0.clear();
}

#[test]
fn a_killed_miners_token_moves_to_another_miner_and_every_transfer_lands_once() {
    let (dir, mut procs) = test_dir("recovery");
    let file = start_devnet(&dir, &mut procs, &[]);
    let rpc = file["nodes"][0]["rpc"].as_str().unwrap().to_string();
    let workers = file["workers"].as_array().unwrap().clone();
    let faucet = file["faucet_key"].as_str().unwrap().to_string();
    let genesis_hash = file["genesis_hash"].as_str().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = http(&rpc);
    poll("the network to launch", Duration::from_secs(240), || {
        let s = rt.block_on(node.status()).ok()?;
        (s.phase == veil_rpc_api::PhaseView::Launched).then_some(())
    });
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    let built = Command::new(VEIL)
        .args(["contract", "build"])
        .arg(&contracts)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // The two miners: the token runs on the first; the chain moves it to the other.
    let miners: Vec<(serde_json::Value, String)> = workers
        .iter()
        .filter_map(|w| {
            let answer = rt
                .block_on(http(w["pruntime"].as_str().unwrap()).info(None))
                .ok()?;
            let info: Info = answer.open().ok()?.1;
            (!info.holds_root_key).then(|| (w.clone(), info.public_key))
        })
        .collect();
    assert_eq!(miners.len(), 2);
    let (old_worker, old_miner) = &miners[0];
    let deployed = Command::new(VEIL)
        .args([
            "deploy",
            "--rpc",
            &rpc,
            "--genesis-hash",
            &genesis_hash,
            "--from",
            &faucet,
        ])
        .args([
            "--miner",
            old_miner,
            "--init",
            r#"{"supply": 10000}"#,
            "--code",
        ])
        .arg(contracts.join("target/wasm32-unknown-unknown/release/veil_example_token.wasm"))
        .output()
        .unwrap();
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let token: serde_json::Value = serde_json::from_slice(&deployed.stdout).unwrap();
    let token = token["contract"].as_str().unwrap().to_string();
    let info = |contract: &str| -> serde_json::Value {
        let out = Command::new(VEIL)
            .args([
                "contract",
                "info",
                "--rpc",
                &rpc,
                "--genesis-hash",
                &genesis_hash,
                contract,
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let bob = dir.join("bob.json");
    assert!(
        Command::new(VEIL)
            .args(["key", "generate", "--out"])
            .arg(&bob)
            .output()
            .unwrap()
            .status
            .success()
    );
    let bob_id = to_hex(
        read_json::<AccountKeyFile>(&bob)
            .unwrap()
            .private_key()
            .unwrap()
            .public_key(),
    );

    // A steady load: transfers of 1, 2, 3, ... to bob, each waiting for its result. The
    // miner's pRuntime is killed after the third; the rest wait out the move.
    let transfers = 8u64;
    let (done, results) = std::sync::mpsc::channel();
    let load = {
        let (rpc, genesis_hash, faucet, token, bob_id) = (
            rpc.clone(),
            genesis_hash.clone(),
            faucet.clone(),
            token.clone(),
            bob_id.clone(),
        );
        std::thread::spawn(move || {
            for amount in 1..=transfers {
                let out = Command::new(VEIL)
                    .args([
                        "call",
                        "--rpc",
                        &rpc,
                        "--genesis-hash",
                        &genesis_hash,
                        "--from",
                        &faucet,
                        "--timeout",
                        "300",
                        "--contract",
                        &token,
                        "transfer",
                    ])
                    .arg(format!(r#"{{"to": "{bob_id}", "amount": {amount}}}"#))
                    .output()
                    .unwrap();
                done.send((amount, out)).unwrap();
            }
        })
    };
    for _ in 0..3 {
        let (amount, out) = results.recv().unwrap();
        assert!(
            out.status.success(),
            "transfer {amount}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    poll("a checkpoint of the token", Duration::from_secs(60), || {
        info(&token)["checkpoint"]["height"].as_u64()
    });
    kill_pruntime(old_worker);

    // The chain finds the miner unresponsive at the end of an era and moves the token to the
    // other miner, which recovers it from the checkpoint and the log.
    let moved = poll("the token to move", Duration::from_secs(180), || {
        let record = info(&token);
        (record["miner"] != serde_json::json!(old_miner)
            && record["miner"].is_string()
            && record["assignment"] == 1)
            .then_some(record)
    });
    assert_eq!(moved["miner"], serde_json::json!(miners[1].1));
    for _ in 3..transfers {
        let (amount, out) = results.recv_timeout(Duration::from_secs(360)).unwrap();
        assert!(
            out.status.success(),
            "transfer {amount}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    load.join().unwrap();
    let query = |from: &str, args: &str| -> Option<serde_json::Value> {
        let out = Command::new(VEIL)
            .args([
                "query",
                "--rpc",
                &rpc,
                "--genesis-hash",
                &genesis_hash,
                "--from",
                from,
                "--contract",
                &token,
                "balance",
                args,
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap())
    };
    let sent: u64 = (1..=transfers).sum();
    let answer = poll(
        "bob's balance from the new miner",
        Duration::from_secs(60),
        || query(bob.to_str().unwrap(), &format!(r#"{{"who": "{bob_id}"}}"#)),
    );
    assert_eq!(answer["result"], sent, "{answer}");
    assert_eq!(
        answer["commitment"]["worker"],
        serde_json::json!(miners[1].1)
    );
    let faucet_id = to_hex(
        read_json::<AccountKeyFile>(Path::new(&faucet))
            .unwrap()
            .private_key()
            .unwrap()
            .public_key(),
    );
    let answer = query(&faucet, &format!(r#"{{"who": "{faucet_id}"}}"#)).unwrap();
    assert_eq!(answer["result"], 10_000 - sent, "{answer}");

    // The old miner comes back: it learns the token moved, stops it and says so.
    restart_pruntime(&dir, &mut procs, old_worker);
    poll(
        "the old miner to let the token go",
        Duration::from_secs(120),
        || {
            let log = std::fs::read_to_string(dir.join("pruntime-restarted.log")).ok()?;
            log.contains("assigned to another miner").then_some(())
        },
    );
}
