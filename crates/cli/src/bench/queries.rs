//! `veil bench queries`: authenticated queries per second over a miner's public RPC with many
//! concurrent clients, with the latency of each, against a bound measured in the same run.
//!
//! Every client is a user of its own: a fresh account, its own session (the first query shows
//! the grant: the cold path), its own HTTP connection, and on loopback its own source address
//! (127.0.0.2, 127.0.0.3, ...), so the public API's per-address rate limit applies to each as
//! it would to users on separate machines. Each client asks its own `balance` in a closed loop
//! and checks every answer as `veil query` does (opened under the session, commitment signed by
//! the registered worker, about the contract's code).
//!
//! The bound is what one core spends on a warm query's own work in pRuntime, measured in this
//! process: open the request and seal the answer (ChaCha20-Poly1305, same buckets), and run the
//! same `balance` query in the VM on the token's state. The clients, the miner and the rest of
//! the devnet share the machine's cores; the report says how many there are.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::Args;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use http_body_util::{BodyExt as _, Full};
use serde_json::json;
use veil_client::{
    abi::Kind,
    keys::{AccountKeyFile, read_json},
    query::{self, Session, Target},
};
use veil_crypto::envelope::SessionKeys;
use veil_light::Trust;
use veil_primitives::{
    ChainIdentity, PrivateKey, decode_hex, namespace,
    query::{MAX_QUERY_BYTES, QueryCall, QueryEpoch, QueryOutcome, answer_aad, request_aad},
    to_hex,
};
use veil_vm::{Call, Entry, Vm};
use x25519_dalek::StaticSecret;

use super::chain::percentile;
use crate::{
    call::contract_abi,
    contract::{compile, deploy_code},
    demo::miners,
    devnet::layout::DevnetFile,
    rpc::{connect, runtime},
};

#[derive(Args)]
pub(crate) struct QueriesBenchArgs {
    /// The running devnet's directory (holds `devnet.json`; the network must have launched).
    #[arg(long, default_value = "devnet-data")]
    devnet: PathBuf,
    /// The contracts workspace to build the token from.
    #[arg(long, default_value = "contracts")]
    contracts: PathBuf,
    /// Concurrent clients, each a user with its own session, connection and source address.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Queries each client asks per second at most (the public API allows an address 50 a
    /// second, after a burst of 100); a client waits for each answer before the next.
    #[arg(long, default_value_t = 40)]
    rate: u32,
    /// Seconds of load, after every client's first (cold) query.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// `veil bench queries`.
pub(crate) fn queries(args: QueriesBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=60_000).contains(&args.clients),
        "--clients must be between 1 and 60,000"
    );
    anyhow::ensure!(args.seconds > 0, "--seconds must be positive");
    anyhow::ensure!(args.rate > 0, "--rate must be positive");
    let file: DevnetFile = read_json(&args.devnet.join("devnet.json")).map_err(|e| {
        anyhow::anyhow!("{e:#}: start a devnet first (`veil devnet --detach`) and wait for it")
    })?;
    runtime()?.block_on(run(&args, &file))
}

/// What one client measured.
#[derive(Default)]
struct Measured {
    cold: Option<Duration>,
    warm: Vec<Duration>,
}

async fn run(args: &QueriesBenchArgs, file: &DevnetFile) -> anyhow::Result<()> {
    let node = file
        .nodes
        .first()
        .ok_or_else(|| anyhow::anyhow!("devnet.json lists no node"))?;
    let client = connect(&node.rpc)?;
    let genesis = decode_hex(&file.genesis_hash)
        .map_err(|e| anyhow::anyhow!("devnet.json has a bad genesis hash: {e}"))?;
    let trust: Trust = veil_client::light::trust(&client, &genesis).await?;

    let modules = compile(&args.contracts)?;
    let token = modules
        .iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|f| f == "veil_example_token.wasm")
        })
        .ok_or_else(|| anyhow::anyhow!("the token example was not built"))?;
    let wasm = std::fs::read(token)?;
    let faucet = read_json::<AccountKeyFile>(&file.faucet_key)?.private_key()?;
    let miner = miners(&client, &faucet.public_key()).await?[0].clone();
    eprintln!("deploying the token on miner {}", to_hex(&miner));
    let init = json!({ "supply": 1_000_000_000_000u64 });
    let (id, _, _) = deploy_code(
        &client,
        &trust,
        &faucet,
        &wasm,
        &miner,
        Some(init.clone()),
        Duration::from_secs(60),
    )
    .await?;
    let (_, abi) = contract_abi(&client, &trust, &id).await?;
    let target = Arc::new(Target::resolve(&client, &trust, &id).await?);
    let server = endpoint_addr(&target.entry.endpoint)?;

    // One query first: it checks the path end to end and gives the answer's sealed size.
    let probe = PrivateKey::random(commonware_utils::sys_rng());
    let probe_input = abi.encode_call(
        Kind::Query,
        "balance",
        &json!({ "who": to_hex(probe.public_key()) }),
    )?;
    let mut session = Session::for_a_day(&probe, target.chain(), vec![target.contract]);
    let mut connection = Connection::open(server, None).await?;
    let answer_len = ask(&target, &mut session, &mut connection, &probe_input, true).await?;
    // The probe learnt the miner's query epoch: clients start with it, so a client's first
    // (cold) query is one round trip, as for a client that asked this worker before.
    let epoch = session.epoch(&target.entry.ecdh_key);

    eprintln!("measuring the bound: a warm query's cryptography and VM call on one core");
    let bound = query_bound(
        &wasm,
        &abi.encode_init(&init)?,
        &probe_input,
        probe.public_key().as_ref().try_into()?,
        answer_len,
        target.chain(),
    )?;
    eprintln!("  {bound:.0} queries/s");

    let loopback = server.ip().is_loopback();
    if !loopback {
        eprintln!(
            "the miner is not on loopback: every client asks from this machine's address, so \
             the per-address rate limit applies to them together"
        );
    }
    eprintln!(
        "{} clients ask {} up to {} times a second for {} s, each from its own session{}",
        args.clients,
        target.entry.endpoint,
        args.rate,
        args.seconds,
        if loopback {
            " and loopback address"
        } else {
            ""
        }
    );
    let mut rng = commonware_utils::sys_rng();
    let start = Arc::new(tokio::sync::Barrier::new(args.clients + 1));
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let key = PrivateKey::random(&mut rng);
        let input = abi.encode_call(
            Kind::Query,
            "balance",
            &json!({ "who": to_hex(key.public_key()) }),
        )?;
        let source = loopback.then(|| source_addr(i));
        let mut session = Session::for_a_day(&key, target.chain(), vec![target.contract]);
        if let Some(epoch) = epoch {
            session.set_epoch(&target.entry.ecdh_key, epoch);
        }
        let (target, start) = (target.clone(), start.clone());
        let pace = Pace {
            every: Duration::from_secs(1) / args.rate,
            seconds: args.seconds,
        };
        tasks.push(tokio::spawn(async move {
            client_loop(&target, session, input, server, source, &start, pace).await
        }));
    }
    start.wait().await;
    let began = Instant::now();
    let mut measured = Vec::with_capacity(tasks.len());
    for task in tasks {
        measured.push(task.await??);
    }
    let elapsed = began.elapsed().as_secs_f64();

    let mut cold: Vec<Duration> = measured.iter().filter_map(|m| m.cold).collect();
    let mut warm: Vec<Duration> = measured.iter().flat_map(|m| m.warm.clone()).collect();
    cold.sort();
    warm.sort();
    let rate = warm.len() as f64 / elapsed;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "clients:              {} asking up to {}/s each ({}/s offered; each its own session \
         and connection{})",
        args.clients,
        args.rate,
        args.clients * args.rate as usize,
        if loopback {
            ", from its own loopback address"
        } else {
            ""
        }
    );
    println!("cores on the machine: {cores} (shared by the clients, the miner and the devnet)");
    println!(
        "queries answered:     {} in {elapsed:.1} s, every one checked",
        warm.len()
    );
    println!("queries/s:            {rate:.0}");
    println!(
        "latency p50 / p99:    {:.1} ms / {:.1} ms",
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 0.99))
    );
    println!(
        "first query (grant):  {:.1} ms / {:.1} ms p50 / p99 over {} sessions",
        ms(percentile(&cold, 0.5)),
        ms(percentile(&cold, 0.99)),
        cold.len()
    );
    println!("bound (one core):     {bound:.0} queries/s");
    println!("queries/s / bound:    {:.3}", rate / bound);
    Ok(())
}

/// How a client paces its queries.
#[derive(Clone, Copy)]
struct Pace {
    /// At most one query per this interval; never before the previous answer.
    every: Duration,
    /// For how long.
    seconds: u64,
}

/// One user: its new session, a connection from `source`, a first (cold) query, then paced
/// queries for `pace.seconds` once every client is ready.
async fn client_loop(
    target: &Target,
    mut session: Session,
    input: Vec<u8>,
    server: SocketAddr,
    source: Option<IpAddr>,
    start: &tokio::sync::Barrier,
    pace: Pace,
) -> anyhow::Result<Measured> {
    let first = async {
        let mut connection = Connection::open(server, source).await?;
        let asked = Instant::now();
        ask(target, &mut session, &mut connection, &input, true).await?;
        anyhow::Ok((connection, session, asked.elapsed()))
    }
    .await;
    // Every client reaches the start, failed or not, so none waits for ever.
    start.wait().await;
    let (mut connection, mut session, cold) = first?;
    let mut measured = Measured {
        cold: Some(cold),
        warm: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(pace.seconds);
    let mut tick = tokio::time::interval(pace.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < deadline {
        tick.tick().await;
        let asked = Instant::now();
        ask(target, &mut session, &mut connection, &input, false).await?;
        measured.warm.push(asked.elapsed());
    }
    Ok(measured)
}

async fn ask(
    target: &Target,
    session: &mut Session,
    connection: &mut Connection,
    input: &[u8],
    with_grant: bool,
) -> anyhow::Result<usize> {
    let call = QueryCall {
        contract: target.contract,
        input: input.to_vec(),
        min_height: 0,
    };
    let mut with_grant = with_grant;
    let mut attempts = 0;
    let (sealed, pending) = loop {
        attempts += 1;
        let (request, pending) = session.seal(
            target.chain(),
            &target.worker,
            &target.entry.ecdh_key,
            &call,
            with_grant,
        )?;
        match connection
            .call("public_ContractQuery", json!([request]))
            .await
        {
            Ok(sealed) => break (sealed, pending),
            // A client's first query learns the miner's query epoch from its refusal.
            Err(e) if attempts < 3 => match e.downcast_ref::<Refused>().and_then(Refused::epoch) {
                Some(epoch) => {
                    session.set_epoch(&target.entry.ecdh_key, epoch);
                    with_grant = true;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    };
    let sealed = sealed
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the answer is not a string: {sealed}"))?;
    let answer = pending.open(sealed)?;
    target.check(&answer, 0)?;
    anyhow::ensure!(
        matches!(answer.outcome, QueryOutcome::Ok(_)),
        "a balance query failed: {:?}",
        answer.outcome
    );
    Ok(sealed.len() / 2)
}

/// The `i`th client's source address: 127.0.0.2 onwards (all of 127/8 is local on Linux).
fn source_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 0, 2)) + i as u32,
    ))
}

/// The socket address of a worker's registered `http://IP:PORT` endpoint.
fn endpoint_addr(endpoint: &str) -> anyhow::Result<SocketAddr> {
    endpoint
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("the miner's endpoint {endpoint} is not of the form http://IP:PORT")
        })
}

/// One keep-alive HTTP/1.1 connection from a chosen source address (the JSON-RPC client
/// cannot choose one), carrying one JSON-RPC call at a time.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
    next_id: u64,
}

impl Connection {
    async fn open(server: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(source) = source {
            socket
                .bind(SocketAddr::new(source, 0))
                .map_err(|e| anyhow::anyhow!("cannot bind source address {source}: {e}"))?;
        }
        let stream = socket
            .connect(server)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to {server}: {e}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: server.to_string(),
            next_id: 0,
        })
    }

    async fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.next_id += 1;
        let body =
            json!({ "jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params });
        let request = hyper::Request::post("/")
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status.is_success(),
            "the miner answered HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let mut reply: serde_json::Value = serde_json::from_slice(&bytes)?;
        if let Some(error) = reply.get_mut("error") {
            return Err(Refused(error.take()).into());
        }
        reply
            .get_mut("result")
            .map(serde_json::Value::take)
            .ok_or_else(|| anyhow::anyhow!("a JSON-RPC reply without a result"))
    }
}

/// A JSON-RPC error answer.
#[derive(Debug)]
struct Refused(serde_json::Value);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the miner refused the query: {}", self.0)
    }
}

impl std::error::Error for Refused {}

impl Refused {
    /// The worker's query epoch, if this is a `STALE_EPOCH` refusal.
    fn epoch(&self) -> Option<QueryEpoch> {
        query::refused_epoch(self.0.get("code")?.as_i64()?, self.0.get("data")?.as_str()?)
    }
}

/// Warm queries per second one core can serve, counting only a query's own work in pRuntime:
/// open the request, run `input` (from `caller`) in the VM on the token's state, seal an answer
/// of the same sealed size (`answer_len`) as the real ones.
fn query_bound(
    wasm: &[u8],
    init: &[u8],
    input: &[u8],
    caller: [u8; 32],
    answer_len: usize,
    chain: &ChainIdentity,
) -> anyhow::Result<f64> {
    let vm = Vm::new(veil_vm::Limits::default());
    let code = vm.deploy(wasm)?;
    let call = |entry: Entry, input: Vec<u8>, caller: [u8; 32]| Call {
        entry,
        input,
        caller,
        contract: [7; 32],
        height: 1,
        block_hash: [0; 32],
        randomness: None,
        fuel: 50_000_000,
        sent: Default::default(),
    };
    let empty: Arc<dyn veil_vm::Storage> =
        Arc::new(std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new());
    let outcome = vm.execute(&code, call(Entry::Init, init.to_vec(), [1; 32]), empty);
    anyhow::ensure!(outcome.result.is_ok(), "init failed: {:?}", outcome.result);
    let state: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = outcome
        .changes
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    anyhow::ensure!(!state.is_empty(), "init wrote no state");
    let state: Arc<dyn veil_vm::Storage> = Arc::new(state);
    let query = || {
        vm.execute(
            &code,
            call(Entry::Query, input.to_vec(), caller),
            state.clone(),
        )
    };
    let outcome = query();
    anyhow::ensure!(
        outcome.result.is_ok(),
        "the query failed: {:?}",
        outcome.result
    );

    let client = StaticSecret::random_from_rng(&mut rand::rng());
    let worker = StaticSecret::random_from_rng(&mut rand::rng());
    let (session, worker_pub) = (
        x25519_dalek::PublicKey::from(&client).to_bytes(),
        x25519_dalek::PublicKey::from(&worker).to_bytes(),
    );
    let client_keys = SessionKeys::derive(
        namespace::QUERY_KEYS,
        &client,
        &worker_pub,
        &session,
        &worker_pub,
    )?;
    let keys = SessionKeys::derive(
        namespace::QUERY_KEYS,
        &worker,
        &session,
        &session,
        &worker_pub,
    )?;
    let worker_id = PrivateKey::random(commonware_utils::sys_rng()).public_key();
    let plain = QueryCall {
        contract: [7; 32].into(),
        input: input.to_vec(),
        min_height: 0,
    }
    .encode()
    .to_vec();
    let n = 20_000u64;
    let sealed = (1..=n)
        .map(|c| {
            let aad = request_aad(chain, &worker_id, &[0; 16], &session, c);
            client_keys.seal_request(c, &aad, &plain, MAX_QUERY_BYTES - 4 - 16)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Nonce, tag, padding frame: an answer of this length seals to `answer_len` bytes.
    let answer = vec![1u8; answer_len.saturating_sub(12 + 16 + 4)];
    let mut rng = rand::rng();
    let started = Instant::now();
    for (c, ciphertext) in (1..=n).zip(&sealed) {
        let aad = request_aad(chain, &worker_id, &[0; 16], &session, c);
        std::hint::black_box(keys.open_request(c, &aad, ciphertext)?);
        std::hint::black_box(query());
        let aad = answer_aad(chain, &worker_id, &[0; 16], &session, c);
        std::hint::black_box(keys.answer().seal(&mut rng, &aad, &answer, 20_000)?);
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_ask_from_distinct_loopback_addresses() {
        assert_eq!(source_addr(0), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source_addr(300), IpAddr::V4(Ipv4Addr::new(127, 0, 1, 46)));
        assert!(source_addr(59_999).is_loopback());
    }

    #[test]
    fn only_an_http_ip_port_endpoint_is_accepted() {
        assert_eq!(
            endpoint_addr("http://127.0.0.1:29721/").unwrap(),
            "127.0.0.1:29721".parse().unwrap()
        );
        assert!(endpoint_addr("https://127.0.0.1:1").is_err());
        assert!(endpoint_addr("http://miner.example:80").is_err());
    }
}
