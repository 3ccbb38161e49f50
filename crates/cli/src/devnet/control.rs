//! `veil devnet stop` and `veil devnet status`: every process a devnet started, as
//! `devnet.json` records them, found by pid and checked against its recorded command line (a
//! pid the system gave to another program since is left alone).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use rustix::process::{Pid, Signal, kill_process};
use veil_client::keys::read_json;
use veil_rpc_api::VeilApiClient as _;

use super::{
    layout::{DevnetFile, ProcessEntry},
    process::mib,
};
use crate::rpc::{connect, runtime};

/// One recorded process: what it is, its pid and the command line that started it.
struct Recorded {
    name: String,
    pid: u32,
    command: Vec<String>,
}

fn recorded(file: &DevnetFile) -> Vec<Recorded> {
    let mut out = Vec::new();
    let mut add = |name: String, entry: &ProcessEntry| {
        out.push(Recorded {
            name,
            pid: entry.pid,
            command: entry.command.clone(),
        })
    };
    if let Some(s) = &file.supervisor {
        add("veil devnet (supervisor)".into(), s);
    }
    for (i, n) in file.nodes.iter().enumerate() {
        add(
            format!("validator {i}"),
            &ProcessEntry {
                pid: n.pid,
                command: n.command.clone(),
            },
        );
    }
    let workers = file
        .genesis_node
        .iter()
        .map(|w| ("genesis node".to_string(), w))
        .chain(
            file.workers
                .iter()
                .enumerate()
                .map(|(i, w)| (format!("worker {i}"), w)),
        );
    for (name, w) in workers {
        add(
            format!("{name} pRuntime"),
            &ProcessEntry {
                pid: w.pruntime_pid,
                command: w.pruntime_command.clone(),
            },
        );
        add(
            format!("{name} host"),
            &ProcessEntry {
                pid: w.host_pid,
                command: w.host_command.clone(),
            },
        );
    }
    if let Some(ra) = &file.ra_service_process {
        add("dev RA service".into(), ra);
    }
    out
}

/// Whether `pid` runs `command` (its `/proc` command line is exactly the recorded one).
fn running(pid: u32, command: &[String]) -> bool {
    let Ok(bytes) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = bytes
        .strip_suffix(&[0])
        .unwrap_or(&bytes)
        .split(|&b| b == 0)
        .collect();
    args.len() == command.len() && args.iter().zip(command).all(|(a, c)| *a == c.as_bytes())
}

fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process(pid, signal);
    }
}

fn devnet_file(dir: &Path) -> anyhow::Result<DevnetFile> {
    read_json(&dir.join("devnet.json")).map_err(|e| {
        anyhow::anyhow!(
            "{e:#}: no devnet was started in {} (or it never finalized a block)",
            dir.display()
        )
    })
}

/// `veil devnet stop`: SIGTERM to every recorded process still running, SIGKILL to any left
/// after 10 seconds.
pub(crate) fn stop(dir: &Path) -> anyhow::Result<()> {
    let file = devnet_file(dir)?;
    let procs: Vec<Recorded> = recorded(&file)
        .into_iter()
        .filter(|p| running(p.pid, &p.command))
        .collect();
    if procs.is_empty() {
        eprintln!("nothing of the devnet in {} is running", dir.display());
        return Ok(());
    }
    for p in &procs {
        eprintln!("stopping {} (pid {})", p.name, p.pid);
        signal(p.pid, Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && procs.iter().any(|p| running(p.pid, &p.command)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stubborn: Vec<&Recorded> = procs
        .iter()
        .filter(|p| running(p.pid, &p.command))
        .collect();
    for p in &stubborn {
        eprintln!("{} (pid {}) ignored SIGTERM; killing it", p.name, p.pid);
        signal(p.pid, Signal::KILL);
    }
    eprintln!(
        "devnet in {} stopped ({} processes)",
        dir.display(),
        procs.len()
    );
    Ok(())
}

/// `veil devnet status`: each recorded process, running or not, with its resident memory, and
/// the validators' heights.
pub(crate) fn status(dir: &Path) -> anyhow::Result<()> {
    let file = devnet_file(dir)?;
    let rt = runtime()?;
    let mut up = 0;
    let procs = recorded(&file);
    for p in &procs {
        let alive = running(p.pid, &p.command);
        up += usize::from(alive);
        let mut line = format!(
            "{:<28} pid {:<8} {}",
            p.name,
            p.pid,
            if alive { "running" } else { "stopped" }
        );
        if alive && let Some(rss) = veil_metrics::rss_bytes(p.pid) {
            line.push_str(&format!("  rss {:>6.1} MiB", mib(rss)));
        }
        if alive && let Some(i) = p.name.strip_prefix("validator ") {
            let node = i.parse::<usize>().ok().and_then(|i| file.nodes.get(i));
            if let Some(status) = node
                .and_then(|n| connect(&n.rpc).ok())
                .and_then(|c| rt.block_on(c.status()).ok())
            {
                line.push_str(&format!(
                    "  height {} ({} peers)",
                    status.height, status.peers
                ));
            }
        }
        println!("{line}");
    }
    println!("{up} of {} processes running", procs.len());
    Ok(())
}
