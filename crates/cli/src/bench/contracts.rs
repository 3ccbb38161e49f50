//! `veil bench contracts`: confidential token transfers per second end to end on a running,
//! launched devnet: sealed by the client, ordered by the chain, executed by the miner, and
//! their sealed results finalized on chain (so a query at that height sees them), with the
//! latency of each from submission to its result; against a bound measured in the same run
//! (single-core ed25519 verification, as `veil bench chain`).
//!
//! Beside the load, one client asks the miner an authenticated query every 50 ms (below the
//! public API's per-address rate limit), and the latency of those queries under load is set
//! against the same queries' latency on the idle network, measured just before.
//!
//! With `--messages`, every command is a payment from the token to a vault on a second miner:
//! the token holds it and sends the vault a message, the vault answers, and the token settles.
//! Besides the commands' figures, the report gives messages between the two contracts per
//! second and each round trip (message routed to reply routed) in blocks and milliseconds.
//!
//! The load generator shares the machine's cores with the validators, workers and hosts; the
//! report says how many there are.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Args;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use jsonrpsee::{
    core::{client::ClientT as _, params::BatchRequestBuilder},
    rpc_params,
};
use serde_json::json;
use veil_client::{
    abi::Kind,
    command::{self, Options},
    keys::{AccountKeyFile, read_json},
    query,
};
use veil_light::Trust;
use veil_primitives::{
    AccountId, Call, ChainIdentity, Destination, Message, Origin, PrivateKey, Transaction,
    contract::{ContractEgress, ContractId, Reply},
    decode_hex, to_hex,
};
use veil_rpc_api::VeilApiClient as _;

use super::chain::{percentile, verify_bound};
use crate::{
    call::{contract_abi, send},
    contract::{compile, deploy_code},
    demo::{fund, miners},
    devnet::layout::DevnetFile,
    rpc::{connect, runtime},
};

#[derive(Args)]
pub(crate) struct ContractsBenchArgs {
    /// The running devnet's directory (holds `devnet.json`; the network must have launched).
    #[arg(long, default_value = "devnet-data")]
    devnet: PathBuf,
    /// The contracts workspace to build the token from.
    #[arg(long, default_value = "contracts")]
    contracts: PathBuf,
    /// Transfers to send.
    #[arg(long, default_value_t = 4_000)]
    transfers: usize,
    /// Sending accounts (each sends at most 50, below the mempool's nonce window).
    #[arg(long, default_value_t = 100)]
    senders: usize,
    /// Transactions per RPC batch.
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Fuel each transfer reserves (a payment reserves at least 3,000,000: it prepays its
    /// message and the reply).
    #[arg(long, default_value_t = 1_000_000)]
    fuel: u64,
    /// Pay a vault on a second miner instead of transferring: measures messages between
    /// contracts on two miners.
    #[arg(long)]
    messages: bool,
}

/// `veil bench contracts`.
pub(crate) fn contracts(args: ContractsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.senders > 0 && args.transfers > 0,
        "--transfers and --senders must be positive"
    );
    let per_sender = args.transfers.div_ceil(args.senders);
    anyhow::ensure!(
        per_sender <= 50,
        "{} transfers over {} senders is {per_sender} each; use at least {} senders",
        args.transfers,
        args.senders,
        args.transfers.div_ceil(50)
    );
    let file: DevnetFile = read_json(&args.devnet.join("devnet.json")).map_err(|e| {
        anyhow::anyhow!("{e:#}: start a devnet first (`veil devnet --detach`) and wait for it")
    })?;
    runtime()?.block_on(run(&args, &file, per_sender))
}

struct Sent {
    submitted: Instant,
    reply_key: command::ReplyKey,
}

async fn run(
    args: &ContractsBenchArgs,
    file: &DevnetFile,
    per_sender: usize,
) -> anyhow::Result<()> {
    let clients = file
        .nodes
        .iter()
        .map(|n| connect(&n.rpc))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = &clients[0];
    let genesis = decode_hex(&file.genesis_hash)
        .map_err(|e| anyhow::anyhow!("devnet.json has a bad genesis hash: {e}"))?;
    let trust: Trust = veil_client::light::trust(client, &genesis).await?;
    let chain = ChainIdentity {
        chain_id: trust.chain_id,
        genesis_hash: trust.genesis_hash,
    };
    eprintln!("measuring the bound: single-core ed25519 verification");
    let bound = verify_bound(&chain);
    eprintln!("  {bound:.0} verifications/s");

    let modules = compile(&args.contracts)?;
    let example = |name: &str| {
        modules
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .ok_or_else(|| anyhow::anyhow!("{name} was not built"))
    };
    let token = example("veil_example_token.wasm")?;
    let faucet = read_json::<AccountKeyFile>(&file.faucet_key)?.private_key()?;
    let miners = miners(client, &faucet.public_key()).await?;
    let miner = miners[0].clone();
    eprintln!("deploying the token on miner {}", to_hex(&miner));
    let (id, _, _) = deploy_code(
        client,
        &trust,
        &faucet,
        &std::fs::read(token)?,
        &miner,
        Some(json!({ "supply": 1_000_000_000_000u64 })),
        Duration::from_secs(60),
    )
    .await?;

    let vault = match args.messages {
        false => None,
        true => {
            let vault_miner = miners.get(1).ok_or_else(|| {
                anyhow::anyhow!("--messages needs two registered workers to run the contracts")
            })?;
            eprintln!("deploying the vault on miner {}", to_hex(vault_miner));
            let (vault, _, _) = deploy_code(
                client,
                &trust,
                &faucet,
                &std::fs::read(example("veil_example_vault.wasm")?)?,
                vault_miner,
                Some(json!({ "token": to_hex(id), "refund_percent": 10, "limit": 1_000_000 })),
                Duration::from_secs(60),
            )
            .await?;
            Some(vault)
        }
    };

    // Senders: funded for fees, then given tokens by encrypted transfers from the faucet.
    let mut rng = commonware_utils::sys_rng();
    let senders: Vec<PrivateKey> = (0..args.senders)
        .map(|_| PrivateKey::random(&mut rng))
        .collect();
    eprintln!("funding {} senders", senders.len());
    let accounts: Vec<AccountId> = senders.iter().map(|s| s.public_key()).collect();
    fund(client, &faucet, &accounts, 1_000_000_000).await?;
    let (_, abi) = contract_abi(client, &trust, &id).await?;
    let info = veil_client::contract::contract(client, &trust, &id, 0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the token is not on chain"))?;
    for s in &senders {
        let out = send(
            client,
            &trust,
            &faucet,
            &id,
            "transfer",
            &json!({ "to": to_hex(s.public_key()), "amount": 1_000_000 }),
            Options::default(),
        )
        .await?;
        anyhow::ensure!(out.get("error").is_none(), "seeding a sender failed: {out}");
    }

    // Query latency on the idle network: the bound for the same queries under load.
    let target = Arc::new(query::Target::resolve(client, &trust, &id).await?);
    let asker = senders[0].clone();
    let balance = abi.encode_call(
        Kind::Query,
        "balance",
        &json!({ "who": to_hex(asker.public_key()) }),
    )?;
    let idle = ask_every(&target, &asker, &chain, &id, &balance, 60, None).await?;

    // Seal every transfer up front: the client's cost is not the network's.
    let sink = PrivateKey::random(&mut rng).public_key();
    let (input, fuel) = match &vault {
        None => (
            abi.encode_call(
                Kind::Command,
                "transfer",
                &json!({ "to": to_hex(&sink), "amount": 1 }),
            )?,
            args.fuel,
        ),
        Some(vault) => (
            abi.encode_call(
                Kind::Command,
                "pay",
                &json!({ "to": to_hex(vault), "amount": 10 }),
            )?,
            args.fuel.max(3_000_000),
        ),
    };
    let start_height = client.status().await?.height;
    let expiry = start_height + 10_000;
    let mut per_node: Vec<Vec<(AccountId, u64, String)>> = vec![Vec::new(); clients.len()];
    let mut keys: HashMap<(AccountId, u64), command::ReplyKey> = HashMap::new();
    let mut first = Vec::with_capacity(senders.len());
    for s in &senders {
        first.push(client.get_account(to_hex(s.public_key())).await?.nonce);
    }
    let mut total = 0;
    'outer: for n in 0..per_sender {
        for (i, s) in senders.iter().enumerate() {
            if total == args.transfers {
                break 'outer;
            }
            let sender = s.public_key();
            let nonce = first[i] + n as u64;
            let sealed = command::seal(&chain, &id, &info, &sender, nonce, expiry, &input, fuel)?;
            let tx = Transaction {
                sender: sender.clone(),
                nonce,
                expiry,
                call: Call::Contract(sealed.call),
            }
            .sign(s, &chain);
            keys.insert((sender.clone(), nonce), sealed.reply_key);
            per_node[i % clients.len()].push((sender, nonce, to_hex(tx.encode())));
            total += 1;
        }
    }
    eprintln!(
        "submitting {total} sealed transfers to {} validators",
        clients.len()
    );
    let sent: Arc<Mutex<HashMap<(AccountId, u64), Sent>>> = Arc::new(Mutex::new(HashMap::new()));
    let loaded = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let querier = {
        let (target, asker, balance, loaded) = (
            target.clone(),
            asker.clone(),
            balance.clone(),
            loaded.clone(),
        );
        tokio::spawn(async move {
            ask_every(
                &target,
                &asker,
                &chain,
                &id,
                &balance,
                usize::MAX,
                Some(loaded),
            )
            .await
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, txs) in clients.iter().cloned().zip(per_node) {
        let sent = sent.clone();
        let mut keys: HashMap<_, _> = txs
            .iter()
            .filter_map(|(s, n, _)| keys.remove(&(s.clone(), *n)).map(|k| ((s.clone(), *n), k)))
            .collect();
        let batch_size = args.batch;
        tasks.push(tokio::spawn(async move {
            let mut rejected = 0usize;
            for chunk in txs.chunks(batch_size) {
                let mut batch = BatchRequestBuilder::new();
                for (_, _, hex) in chunk {
                    batch.insert("veil_submitTransaction", rpc_params![hex])?;
                }
                let now = Instant::now();
                {
                    let mut sent = sent.lock().expect("lock");
                    for (s, n, _) in chunk {
                        if let Some(reply_key) = keys.remove(&(s.clone(), *n)) {
                            sent.insert(
                                (s.clone(), *n),
                                Sent {
                                    submitted: now,
                                    reply_key,
                                },
                            );
                        }
                    }
                }
                rejected += c.batch_request::<String>(batch).await?.num_failed_calls();
            }
            Ok::<usize, anyhow::Error>(rejected)
        }));
    }

    // Watch finalized blocks (checked by the light client) for the miner's results.
    let mut done: Vec<(Duration, bool)> = Vec::new();
    let mut next = start_height + 1;
    let mut rejected = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last_seen = start;
    let mut trips = RoundTrips::default();
    while (done.len() < total - rejected.unwrap_or(0)
        || vault.is_some() && trips.completed.len() < total - rejected.unwrap_or(0))
        && Instant::now() < deadline
    {
        if rejected.is_none() && tasks.iter().all(|t| t.is_finished()) {
            let mut r = 0;
            for t in tasks.drain(..) {
                r += t.await??;
            }
            eprintln!(
                "submitted in {:.2} s ({r} rejected); waiting for results",
                start.elapsed().as_secs_f64()
            );
            rejected = Some(r);
        }
        let blocks = veil_client::light::messages(client, &trust, next, 50).await?;
        if blocks.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let now = Instant::now();
        for (height, messages) in blocks {
            next = height + 1;
            if let Some(vault) = &vault {
                trips.observe(&id, vault, height, now, &messages);
            }
            for r in command::results(&messages, &miner, &id) {
                let entry = sent
                    .lock()
                    .expect("lock")
                    .remove(&(r.sender.clone(), r.nonce));
                if let Some(s) = entry {
                    let ok = matches!(
                        command::open(&s.reply_key, &chain, &id, &r),
                        Ok(Reply::Ok { .. })
                    );
                    done.push((now.saturating_duration_since(s.submitted), ok));
                    last_seen = now;
                }
            }
        }
    }
    loaded.store(false, std::sync::atomic::Ordering::Relaxed);
    let under_load = querier.await??;
    let elapsed = last_seen
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    let succeeded = done.iter().filter(|(_, ok)| *ok).count();
    let mut latencies: Vec<Duration> = done.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let tps = done.len() as f64 / elapsed;
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    println!(
        "results on chain:     {} of {total} ({succeeded} succeeded) in {elapsed:.2} s",
        done.len()
    );
    println!("throughput:           {tps:.0} transfers/s (sealed, executed, result finalized)");
    println!(
        "latency p50 / p99:    {:.0} ms / {:.0} ms (submission to finalized result)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!("bound (1 core):       {bound:.0} ed25519 verifications/s");
    let (q50, q99) = (percentile(&under_load, 0.5), percentile(&under_load, 0.99));
    let (i50, i99) = (percentile(&idle, 0.5), percentile(&idle, 0.99));
    println!(
        "query p50 / p99:      {:.1} ms / {:.1} ms under load ({} queries), {:.1} ms / {:.1} ms idle ({} queries)",
        q50.as_secs_f64() * 1e3,
        q99.as_secs_f64() * 1e3,
        under_load.len(),
        i50.as_secs_f64() * 1e3,
        i99.as_secs_f64() * 1e3,
        idle.len()
    );
    println!("throughput / bound:   {:.3}", tps / bound);
    if vault.is_some() {
        trips.report(bound);
    }
    println!(
        "cores:                {} (shared by the client, validators, workers and hosts)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    anyhow::ensure!(
        succeeded == done.len() && !done.is_empty(),
        "{} transfers did not succeed",
        done.len() - succeeded
    );
    Ok(())
}

/// Messages from the token to the vault and their replies, as finalized blocks show them.
#[derive(Default)]
struct RoundTrips {
    /// Routed messages by sequence: height and when the client saw them.
    routed: HashMap<u64, (u64, Instant)>,
    /// Completed round trips: blocks and time from the message routed to its reply routed.
    completed: Vec<(u64, Duration)>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl RoundTrips {
    fn observe(
        &mut self,
        token: &ContractId,
        vault: &ContractId,
        height: u64,
        now: Instant,
        messages: &[Message],
    ) {
        use commonware_codec::DecodeExt as _;
        for m in messages {
            let Ok(egress) = ContractEgress::decode(m.payload.clone()) else {
                continue;
            };
            match (&m.origin, &m.destination, egress) {
                (Origin::Contract(o), Destination::Contract(d), ContractEgress::Message(msg))
                    if o == token && d == vault =>
                {
                    self.first.get_or_insert(now);
                    self.routed.insert(msg.sequence, (height, now));
                }
                (Origin::Contract(o), Destination::Contract(d), ContractEgress::Reply(r))
                    if o == vault && d == token =>
                {
                    if let Some((h, t)) = self.routed.remove(&r.sequence) {
                        self.completed
                            .push((height - h, now.saturating_duration_since(t)));
                        self.last = Some(now);
                    }
                }
                _ => {}
            }
        }
    }

    fn report(&self, bound: f64) {
        let elapsed = match (self.first, self.last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first).as_secs_f64(),
            _ => 0.0,
        }
        .max(1e-9);
        let rate = self.completed.len() as f64 / elapsed;
        let mut times: Vec<Duration> = self.completed.iter().map(|(_, t)| *t).collect();
        times.sort();
        let mut blocks: Vec<u64> = self.completed.iter().map(|(b, _)| *b).collect();
        blocks.sort();
        let at = |q: f64| {
            blocks
                .get(((blocks.len() as f64 - 1.0) * q) as usize)
                .copied()
        };
        println!(
            "messages:             {} round trips (token -> vault -> token, two miners)",
            self.completed.len()
        );
        println!("message rate:         {rate:.0} messages/s (each with its reply)");
        println!(
            "round trip p50 / p99: {:.0} ms / {:.0} ms, {} / {} blocks (message routed to reply routed)",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            at(0.5).unwrap_or(0),
            at(0.99).unwrap_or(0)
        );
        println!("messages / bound:     {:.3}", rate / bound);
    }
}

/// Asks `target` for `asker`'s balance every 50 ms in one session, `count` times or while
/// `running` holds; returns the sorted latencies (each answer checked by the client).
async fn ask_every(
    target: &query::Target,
    asker: &PrivateKey,
    chain: &ChainIdentity,
    contract: &veil_primitives::contract::ContractId,
    input: &[u8],
    count: usize,
    running: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> anyhow::Result<Vec<Duration>> {
    let mut session = query::Session::for_a_day(asker, chain, vec![*contract]);
    let mut latencies = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while latencies.len() < count
        && running
            .as_ref()
            .is_none_or(|r| r.load(std::sync::atomic::Ordering::Relaxed))
    {
        tick.tick().await;
        let asked = Instant::now();
        let answer = target.ask(&mut session, input.to_vec(), 0).await?;
        latencies.push(asked.elapsed());
        anyhow::ensure!(
            matches!(answer.outcome, veil_primitives::query::QueryOutcome::Ok(_)),
            "a balance query failed: {:?}",
            answer.outcome
        );
    }
    latencies.sort();
    Ok(latencies)
}
