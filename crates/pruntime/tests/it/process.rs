//! The `pruntime` process: `kill -9` and restart keep the sealed identity and sync progress.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use veil_node::synthetic::SyntheticChain;
use veil_primitives::to_hex;
use veil_pruntime_api::{
    IdentityView, Info, InitRequest, PrivateApiClient, PublicApiClient as _, SyncRequest,
};

const PRUNTIME: &str = env!("CARGO_BIN_EXE_pruntime");

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

fn spawn(dir: &Path, private: u16, public: u16) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("pruntime.log"))
        .unwrap();
    Proc(
        Command::new(PRUNTIME)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--dev-sealing-key")
            .arg(dir.join("dev-key"))
            .args(["--private-rpc", &format!("127.0.0.1:{private}")])
            .args(["--public-rpc", &format!("127.0.0.1:{public}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Polls the private API until the process answers; returns its identity.
fn wait_identity(rt: &tokio::runtime::Runtime, host: &HttpClient) -> IdentityView {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(id) = rt.block_on(PrivateApiClient::get_identity(host)) {
            return id;
        }
        assert!(Instant::now() < deadline, "pruntime did not (re)start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Binds the pRuntime to the synthetic chain.
fn init(rt: &tokio::runtime::Runtime, host: &HttpClient, chain: &SyntheticChain) {
    use commonware_codec::Encode as _;
    rt.block_on(host.init_runtime(InitRequest {
        chain_id: chain.chain_id,
        genesis_header: to_hex(chain.headers[0].encode()),
        group_key: to_hex(&chain.group_key),
        chain_proof: to_hex(&chain.chain_proof),
    }))
    .unwrap();
}

fn client(port: u16) -> HttpClient {
    HttpClientBuilder::default()
        .build(format!("http://127.0.0.1:{port}"))
        .unwrap()
}

fn request(chain: &SyntheticChain, from: usize, to: usize) -> SyncRequest {
    use commonware_codec::Encode as _;
    SyncRequest {
        headers: chain.headers[from..=to]
            .iter()
            .map(|h| to_hex(h.encode()))
            .collect(),
        certificate: to_hex(chain.certificate(to as u64)),
        messages: chain.messages[from..=to]
            .iter()
            .map(|ms| ms.iter().map(|m| to_hex(m.encode())).collect())
            .collect(),
        code: Vec::new(),
    }
}

#[test]
fn kill_9_and_restart_keeps_identity_and_progress() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("veil-pruntime-proc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (private, public) = two_ports();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut chain = SyntheticChain::new(4);
    for _ in 0..8 {
        chain.extend(vec![]);
    }

    let first = spawn(&dir, private, public);
    let host = client(private);
    let identity = wait_identity(&rt, &host);
    assert!(identity.insecure);
    init(&rt, &host, &chain);
    let synced = rt
        .block_on(host.sync_blockchain(request(&chain, 1, 5)))
        .unwrap();
    assert_eq!(synced.synced_height, 5);

    // kill -9, then restart on the same data.
    use rustix::process::{Pid, Signal, kill_process};
    kill_process(Pid::from_raw(first.0.id() as i32).unwrap(), Signal::KILL).unwrap();
    drop(first);
    let _second = spawn(&dir, private, public);
    let again = wait_identity(&rt, &host);
    assert_eq!(again, identity, "identity changed across kill -9");

    // Public, signed answers show the progress survived, signed for the client's nonce.
    let nonce = [0x5a; 16];
    let answer = rt
        .block_on(client(public).info(Some(to_hex(nonce))))
        .unwrap();
    let info: Info = answer.open_fresh(&nonce).unwrap().1;
    assert_eq!(info.synced_height, 5);
    assert_eq!(info.public_key, identity.public_key);
    // An answer recorded for one request does not pass for another's (a replayed answer),
    // and the nonce cannot be swapped without breaking the signature.
    assert_eq!(
        answer.verify_fresh(&[0x77; 16]).unwrap_err(),
        veil_pruntime_api::AnswerError::Stale
    );
    let unsolicited = rt.block_on(client(public).info(None)).unwrap();
    assert_eq!(
        unsolicited.verify_fresh(&nonce).unwrap_err(),
        veil_pruntime_api::AnswerError::Stale
    );
    let swapped = veil_pruntime_api::SignedAnswer {
        nonce: Some(to_hex([0x77; 16])),
        ..answer.clone()
    };
    assert_eq!(
        swapped.verify_fresh(&[0x77; 16]).unwrap_err(),
        veil_pruntime_api::AnswerError::BadSignature
    );
    let too_long = rt.block_on(client(public).info(Some(to_hex([1u8; 65]))));
    assert!(too_long.unwrap_err().to_string().contains("nonce"));

    // Replays get a clear error; the next batch continues.
    let err = rt
        .block_on(host.sync_blockchain(request(&chain, 1, 5)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("replayed"), "{err}");
    let err = rt
        .block_on(host.sync_blockchain(SyncRequest {
            headers: vec!["0xzz".into()],
            certificate: "0x".into(),
            messages: vec![],
            code: Vec::new(),
        }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid params"), "{err}");
    let synced = rt
        .block_on(host.sync_blockchain(request(&chain, 6, 8)))
        .unwrap();
    assert_eq!(synced.synced_height, 8);

    // The operator's metrics, on the private API only: what this process applied and refused
    // since it restarted, by reason.
    let (status, body) = get(private, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    let samples = veil_metrics::parse(&body).unwrap();
    let value = |name: &str, reason: Option<&str>| {
        samples
            .iter()
            .find(|s| s.name == name && reason.is_none_or(|r| s.label("reason") == Some(r)))
            .map(|s| s.value)
    };
    assert_eq!(value("pruntime_synced_height", None), Some(8.0), "{body}");
    assert_eq!(
        value("pruntime_sync_batches_applied_total", None),
        Some(1.0)
    );
    let refused = "pruntime_sync_batches_refused_total";
    assert_eq!(value(refused, Some("replayed")), Some(1.0), "{body}");
    assert_eq!(value(refused, Some("undecodable")), Some(1.0), "{body}");
    assert_eq!(value("pruntime_insecure", None), Some(1.0));
    let (status, body) = get(public, "/metrics");
    assert!(
        !status.contains(" 200 "),
        "the public API serves no metrics: {status} {body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plain HTTP/1.0 GET on loopback: the status line and the body.
fn get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn a_flood_of_public_requests_does_not_stall_the_hosts_sync() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    };

    let dir: PathBuf =
        std::env::temp_dir().join(format!("veil-pruntime-flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (private, public) = two_ports();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut chain = SyntheticChain::new(4);
    for _ in 0..200 {
        chain.extend(vec![]);
    }
    let _pruntime = spawn(&dir, private, public);
    let host = client(private);
    wait_identity(&rt, &host);
    init(&rt, &host, &chain);

    // Users on one address hammer the public API as fast as they can.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let (stop, answered, refused) = (stop.clone(), answered.clone(), refused.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let user = client(public);
                while !stop.load(Ordering::Relaxed) {
                    match rt.block_on(user.info(None)) {
                        Ok(_) => answered.fetch_add(1, Ordering::Relaxed),
                        Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // Meanwhile the host syncs the whole chain, batch after batch.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut height = 0;
    while height < 200 {
        let to = (height + 10).min(200);
        height = rt
            .block_on(host.sync_blockchain(request(&chain, height + 1, to)))
            .unwrap()
            .synced_height as usize;
        assert!(
            Instant::now() < deadline,
            "sync stalled at {height} under the flood"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let (answered, refused) = (
        answered.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    assert!(answered > 0, "the public API answered nobody");
    assert!(
        refused > answered,
        "the flood was not throttled: {answered} answered, {refused} refused"
    );

    // Once the flood stops, the address's budget refills and it is answered again.
    let user = client(public);
    let deadline = Instant::now() + Duration::from_secs(10);
    let info: Info = loop {
        if let Ok(answer) = rt.block_on(user.info(None)) {
            break answer.open().unwrap().1;
        }
        assert!(Instant::now() < deadline, "the public API stayed closed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(info.synced_height, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
