//! Helpers shared by the CLI's integration tests.

use std::{
    process::Child,
    sync::{Condvar, Mutex},
    time::{Duration, Instant},
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

/// Polls `f` until it yields, failing after `timeout` with `context()` added to the message.
pub(crate) fn poll_or<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asks `child` to stop (SIGTERM), gives it 15 s to exit, then kills it.
pub(crate) fn stop(child: &mut Child) {
    use rustix::process::{Pid, Signal, kill_process};
    if let Some(pid) = Pid::from_raw(child.id() as i32) {
        let _ = kill_process(pid, Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
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

/// A node that lies: a JSON-RPC proxy to `upstream` (`http://host:port`) passing everything
/// through except `veil_getTransaction`, whose answer it turns into a failure in a block far
/// beyond the chain (waiting for it would outlast any call). Returns its URL.
pub(crate) fn lying_node(upstream: &str) -> String {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let _ = relay(client, &upstream);
            });
        }
    });
    url
}

/// One HTTP/1.1 message: its head (start line and headers, without Content-Length) and body.
fn read_message(reader: &mut impl std::io::BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let (mut head, mut len) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        match line.to_ascii_lowercase().strip_prefix("content-length:") {
            Some(value) => len = value.trim().parse().unwrap_or(0),
            None => head.push_str(&line),
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

fn write_message(out: &mut impl std::io::Write, head: &str, body: &[u8]) -> std::io::Result<()> {
    write!(out, "{head}content-length: {}\r\n\r\n", body.len())?;
    out.write_all(body)?;
    out.flush()
}

fn relay(client: std::net::TcpStream, upstream: &str) -> std::io::Result<()> {
    let mut from_client = std::io::BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let server = std::net::TcpStream::connect(upstream)?;
    let mut from_server = std::io::BufReader::new(server.try_clone()?);
    let mut to_server = server;
    while let Some((head, body)) = read_message(&mut from_client)? {
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        write_message(&mut to_server, &head, &body)?;
        let Some((head, mut body)) = read_message(&mut from_server)? else {
            return Ok(());
        };
        if request["method"] == "veil_getTransaction" {
            let mut answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if answer["result"]["status"] == "finalized" {
                answer["result"]["success"] = false.into();
                answer["result"]["error"] = "out of fuel (says the lying node)".into();
                answer["result"]["height"] = (1u64 << 40).into();
                body = serde_json::to_vec(&answer).unwrap();
            }
        }
        write_message(&mut to_client, &head, &body)?;
    }
    Ok(())
}

/// `out` of a `veil` command that must have succeeded; its stderr says why if not.
pub(crate) fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
