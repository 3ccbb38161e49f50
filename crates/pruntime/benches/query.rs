//! Contract queries per second on one pRuntime core, in process, warm (within a session) and
//! cold (a new session per query), each against a bound measured in the same run: the raw
//! cryptography the query needs plus executing the same query in the VM with no session or
//! envelope around it.
//!
//! - warm bound: open one request and seal one answer (ChaCha20-Poly1305), plus the VM call;
//! - cold bound: verify the grant's signature, one X25519 and HKDF, open and seal, plus the VM
//!   call.
//!
//! The requests are sealed beforehand: the client's cost is not pRuntime's.
//!
//! `cargo bench -p veil-pruntime --bench query [-- --queries N]`

use std::{sync::Arc, time::Instant};

use clap::Parser;
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use veil_client::query::Session;
use veil_crypto::envelope::SessionKeys;
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{
    ChainIdentity, Destination, Message, Origin, PrivateKey,
    contract::{
        CONTRACT_GRANT_TOPIC, CONTRACT_KEY_TOPIC, CONTRACTS_TOPIC, CommandMessage, ContractEvent,
        ContractInfo, contract_id,
    },
    hash, namespace,
    query::{MAX_SESSION_MS, QueryCall, answer_aad, request_aad},
};
use veil_pruntime::{
    roles::{
        contracts::{contract_limits, query::Request},
        gatekeeper::contracts::{grant, public_key, publication},
    },
    runtime::Runtime,
    sync::Batch,
    tee::DevTee,
};
use veil_vm::{Call, Entry, Vm};
use x25519_dalek::StaticSecret;

#[derive(Parser)]
struct QueryBenchArgs {
    /// Queries per measurement.
    #[arg(long, default_value_t = 20_000)]
    queries: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// A contract whose query answers the value its `init` stored.
fn echo() -> Vec<u8> {
    wat::parse_str(
        r#"(module
            (import "veil" "input_len" (func $len (result i32)))
            (import "veil" "input_read" (func $read (param i32)))
            (import "veil" "output_write" (func $out (param i32 i32)))
            (import "veil" "storage_set" (func $set (param i32 i32 i32 i32)))
            (import "veil" "storage_get" (func $get (param i32 i32) (result i64)))
            (import "veil" "value_read" (func $value (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\00k")
            (func (export "init")
                (call $read (i32.const 16))
                (call $set (i32.const 1) (i32.const 1) (i32.const 16) (call $len))
                (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_command") (call $out (i32.const 0) (i32.const 1)))
            (func (export "handle_query") (local $n i64)
                (local.set $n (call $get (i32.const 1) (i32.const 1)))
                (call $value (i32.const 16))
                (i32.store8 (i32.const 15) (i32.const 0))
                (call $out (i32.const 15) (i32.add (i32.wrap_i64 (local.get $n)) (i32.const 1))))
            (func (export "handle_message") (call $out (i32.const 0) (i32.const 1))))"#,
    )
    .expect("valid WAT")
}

fn message(origin: Origin, destination: Destination, payload: Vec<u8>) -> Message {
    Message {
        origin,
        destination,
        sequence: 0,
        payload,
    }
}

fn main() -> anyhow::Result<()> {
    let args = QueryBenchArgs::parse();
    anyhow::ensure!(args.queries > 0, "--queries must be positive");
    let n = args.queries;

    // A pRuntime running one contract, initialized through a real sync: the chain's instance
    // event, the gatekeepers' key and grant (under a stand-in root key: pRuntime takes them
    // from the verified stream), and the developer's encrypted init.
    let mut blocks = SyntheticChain::new(7);
    let chain = ChainIdentity {
        chain_id: blocks.chain_id,
        genesis_hash: blocks.headers[0].hash(),
    };
    let dir = std::env::temp_dir().join(format!("veil-bench-query-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (runtime, _) = Runtime::open(
        Box::new(DevTee::new(&dir.join("dev-key"))?),
        &dir.join("data"),
    )?;
    runtime.init(
        blocks.chain_id,
        &blocks.headers[0],
        &blocks.group_key,
        &blocks.chain_proof,
    )?;
    let miner = runtime.identity().public_key();
    let miner_ecdh = runtime.identity().ecdh_public();
    let developer = PrivateKey::from_seed(1);
    let id = contract_id(&developer.public_key(), 0);
    let wasm = echo();
    let root_key = [7u8; 32];
    let topic = |t: &[u8]| Destination::Topic(t.to_vec());
    let instantiated = ContractEvent::Instantiated {
        contract: id,
        code: hash(&wasm),
        developer: developer.public_key(),
        miner: miner.clone(),
        miner_ecdh,
    };
    let key = publication(&root_key, &chain, &id);
    let granted = grant(&root_key, &chain, &id, &miner, &miner_ecdh, 0)
        .ok_or_else(|| anyhow::anyhow!("grant"))?;
    blocks.extend(vec![
        message(
            Origin::Chain,
            topic(CONTRACTS_TOPIC),
            instantiated.encode().to_vec(),
        ),
        message(
            Origin::Gatekeepers,
            topic(CONTRACT_KEY_TOPIC),
            key.encode().to_vec(),
        ),
        message(
            Origin::Gatekeepers,
            topic(CONTRACT_GRANT_TOPIC),
            granted.encode().to_vec(),
        ),
    ]);
    let info = ContractInfo {
        developer: developer.public_key(),
        code: hash(&wasm),
        miner: miner.clone(),
        created: 1,
        public_key: Some(public_key(
            &veil_pruntime::roles::gatekeeper::contracts::contract_key(&root_key, &chain, &id),
        )),
        initialized: false,
        assignment: 0,
        granted: true,
        assigned_at: 1,
        log: Default::default(),
        checkpoint: None,
    };
    let value = vec![0x5a; 100];
    let sealed = veil_client::command::seal(
        &chain,
        &id,
        &info,
        &developer.public_key(),
        0,
        1_000,
        &value,
        1_000_000,
    )?;
    let veil_primitives::contract::ContractCall::Command { envelope, .. } = sealed.call else {
        anyhow::bail!("seal made no command");
    };
    let command = CommandMessage {
        nonce: 0,
        expiry: 1_000,
        fuel: 1_000_000,
        envelope,
    };
    blocks.extend(vec![message(
        Origin::Account(developer.public_key()),
        Destination::Contract(id),
        command.encode().to_vec(),
    )]);
    runtime.sync(&Batch {
        headers: blocks.headers[1..=2].to_vec(),
        certificate: blocks.certificate(2),
        messages: blocks.messages[1..=2].to_vec(),
        code: vec![wasm.clone()],
    })?;
    // Its host's recovery of a new contract: nothing to recover; the waiting init runs.
    runtime.recover(&id, None, 0, &[])?;
    let snapshot = runtime.snapshot();
    let running = snapshot
        .miner
        .running
        .get(&id)
        .ok_or_else(|| anyhow::anyhow!("the contract is not running"))?;
    anyhow::ensure!(
        running.state.get(b"k".as_slice()) == Some(&value),
        "init did not run"
    );
    let call = QueryCall {
        contract: id,
        input: Vec::new(),
        min_height: 0,
    };
    let user = PrivateKey::from_seed(2);
    let lifetime = MAX_SESSION_MS - 1;

    // pRuntime, warm: one session, requests sealed beforehand.
    let epoch = runtime.query_epoch();
    let mut session = Session::new(&user, &chain, vec![id], 0, lifetime);
    session.set_epoch(&miner_ecdh, epoch);
    let (first, _) = session.seal(&chain, &miner, &miner_ecdh, &call, true)?;
    let answer_bucket = runtime
        .query(&Request::from_view(&first).map_err(anyhow::Error::msg)?)?
        .len();
    let requests = (0..n)
        .map(|_| {
            let (view, _) = session.seal(&chain, &miner, &miner_ecdh, &call, false)?;
            Request::from_view(&view).map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    for r in &requests {
        std::hint::black_box(runtime.query(r)?);
    }
    let warm = n as f64 / start.elapsed().as_secs_f64();

    // pRuntime, cold: a new session (and grant) per query.
    let requests = (0..n)
        .map(|_| {
            let mut s = Session::new(&user, &chain, vec![id], 0, lifetime);
            s.set_epoch(&miner_ecdh, epoch);
            let (view, _) = s.seal(&chain, &miner, &miner_ecdh, &call, true)?;
            Request::from_view(&view).map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    for r in &requests {
        std::hint::black_box(runtime.query(r)?);
    }
    let cold = n as f64 / start.elapsed().as_secs_f64();

    // The bounds: the same cryptography and the same VM call, nothing else.
    let vm = Vm::new(contract_limits());
    let code = vm.deploy(&wasm)?;
    let state = running.state.clone();
    let run_query = || {
        vm.execute(
            &code,
            Call {
                entry: Entry::Query,
                input: Vec::new(),
                caller: [2; 32],
                contract: id.into(),
                height: 2,
                block_hash: [0; 32],
                randomness: None,
                fuel: 50_000_000,
                sent: Default::default(),
            },
            state.clone() as Arc<dyn veil_vm::Storage>,
        )
    };
    let secret = StaticSecret::from([9u8; 32]);
    let session_pub = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let worker_secret = StaticSecret::from([8u8; 32]);
    let worker_pub = x25519_dalek::PublicKey::from(&worker_secret).to_bytes();
    let client = SessionKeys::derive(
        namespace::QUERY_KEYS,
        &secret,
        &worker_pub,
        &session_pub,
        &worker_pub,
    )?;
    let plain = call.encode().to_vec();
    // An answer plaintext that seals to the same bucket as pRuntime's real answers.
    let answer = vec![1u8; answer_bucket - 12 - 16 - 4];
    let sealed: Vec<Vec<u8>> = (1..=n as u64)
        .map(|c| {
            let aad = request_aad(&chain, &miner, &[0; 16], &session_pub, c);
            client.seal_request(c, &aad, &plain, 16 * 1024)
        })
        .collect::<Result<_, _>>()?;
    let derive = || {
        SessionKeys::derive(
            namespace::QUERY_KEYS,
            &worker_secret,
            &session_pub,
            &session_pub,
            &worker_pub,
        )
    };
    let mut rng = rand::rng();
    let mut serve = |keys: &SessionKeys, c: u64, ct: &[u8]| -> anyhow::Result<()> {
        let aad = request_aad(&chain, &miner, &[0; 16], &session_pub, c);
        std::hint::black_box(keys.open_request(c, &aad, ct)?);
        std::hint::black_box(run_query());
        let aad = answer_aad(&chain, &miner, &[0; 16], &session_pub, c);
        std::hint::black_box(keys.answer().seal(&mut rng, &aad, &answer, 20_000)?);
        Ok(())
    };
    // Cold: a grant check and a key agreement per query.
    let grant = Session::new(&user, &chain, vec![id], 0, lifetime).grant;
    let start = Instant::now();
    for (i, ct) in sealed.iter().enumerate() {
        anyhow::ensure!(grant.verify(&chain), "grant");
        let keys = derive()?;
        serve(&keys, i as u64 + 1, ct)?;
    }
    let cold_bound = n as f64 / start.elapsed().as_secs_f64();
    // Warm: the keys derived once, as a session does.
    let keys = derive()?;
    let start = Instant::now();
    for (i, ct) in sealed.iter().enumerate() {
        serve(&keys, i as u64 + 1, ct)?;
    }
    let warm_bound = n as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "warm (in a session): pRuntime {warm:>8.0} queries/s   bound {warm_bound:>8.0} queries/s   ratio {:.2}",
        warm / warm_bound
    );
    println!(
        "cold (new session):  pRuntime {cold:>8.0} queries/s   bound {cold_bound:>8.0} queries/s   ratio {:.2}",
        cold / cold_bound
    );
    Ok(())
}
