//! Devnet processes: the command lines that start each one, spawning with logs, stopping, and
//! the `pruntime` binary they need.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub(crate) fn node_command(dir: &Path, i: usize, rpc_port: u16, interval: u64) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "veil".into());
    vec![
        exe,
        "node".into(),
        "--data-dir".into(),
        dir.join(format!("node-{i}")).display().to_string(),
        "--genesis".into(),
        dir.join("genesis.json").display().to_string(),
        "--key".into(),
        dir.join("keys")
            .join(format!("validator-{i}.json"))
            .display()
            .to_string(),
        "--rpc".into(),
        format!("127.0.0.1:{rpc_port}"),
        "--block-interval-ms".into(),
        interval.to_string(),
    ]
}

pub(crate) fn genesis_pruntime_command(
    dir: &Path,
    (private, public): (u16, u16),
) -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe()?.with_file_name("pruntime");
    Ok(vec![
        exe.display().to_string(),
        "--data-dir".into(),
        dir.join("genesis-node")
            .join("pruntime")
            .display()
            .to_string(),
        "--private-rpc".into(),
        format!("127.0.0.1:{private}"),
        "--public-rpc".into(),
        format!("127.0.0.1:{public}"),
    ])
}

pub(crate) fn spawn(command: &[String], log: &Path) -> anyhow::Result<Child> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", command[0]))
}

pub(crate) fn terminate(children: &mut [Child]) {
    use rustix::process::{Pid, Signal, kill_process};
    for c in children.iter() {
        if let Some(pid) = Pid::from_raw(c.id() as i32) {
            let _ = kill_process(pid, Signal::TERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in children.iter_mut() {
        while Instant::now() < deadline {
            if matches!(c.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SHA-256 of the `pruntime` binary next to this one: the dev TEE's measurement.
pub(crate) fn pruntime_measurement() -> anyhow::Result<Vec<u8>> {
    use sha2::Digest as _;
    let path = std::env::current_exe()?.with_file_name("pruntime");
    let bytes = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("cannot measure {}: {e}", path.display()))?;
    Ok(sha2::Sha256::digest(&bytes).to_vec())
}

/// Makes sure the `pruntime` binary sits next to this one. Under `cargo run` it is built on the
/// spot (it is a separate binary, so `cargo run` does not build it).
pub(crate) fn ensure_pruntime() -> bool {
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    if exe.with_file_name("pruntime").exists() {
        return true;
    }
    let Ok(cargo) = std::env::var("CARGO") else {
        return false;
    };
    let release = exe
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    eprintln!("building the pruntime binary (first run only)");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "veil-pruntime", "--bin", "pruntime"]);
    if release {
        cmd.arg("--release");
    }
    let built = cmd.status().is_ok_and(|s| s.success());
    built && exe.with_file_name("pruntime").exists()
}

/// `bytes` in MiB, for reports.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
