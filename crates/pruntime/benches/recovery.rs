//! Contract recovery time against history length, and checkpoint throughput, in process.
//!
//! A miner's pRuntime (A) runs the example token through a history of `--commands` encrypted
//! transfers (`--per-block` a block, each to a new account, so the state grows with the
//! history) and makes a checkpoint `--interval` blocks before the end: the most a miner that
//! checkpoints every `--interval` blocks leaves behind. Two more pRuntimes are then assigned the
//! token and recover it, one with no checkpoint on chain (the whole log) and one from that
//! checkpoint (the log after it), each timed around `RecoverContract`'s work: opening the
//! checkpoint, checking the log, replaying it, committing.
//!
//! Bounds measured in the same run: the same transfers run in the VM alone (no envelopes, no
//! store) for the replay rate, and one ChaCha20-Poly1305 seal of the checkpoint's plaintext size
//! for checkpoint making and opening.
//!
//! `cargo bench -p veil-pruntime --bench recovery [-- --commands N --per-block P --interval I]`

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use clap::Parser;
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use veil_crypto::seal::SealingKey;
use veil_node::synthetic::SyntheticChain;
use veil_primitives::{
    ChainIdentity, Destination, Message, Origin, PrivateKey,
    contract::{
        CONTRACT_GRANT_TOPIC, CONTRACT_KEY_TOPIC, CONTRACTS_TOPIC, CommandMessage, ContractCall,
        ContractEvent, ContractInfo, ContractLog, LogEntry, Reassignment, SignedCheckpointChunk,
        contract_id,
    },
    hash,
};
use veil_pruntime::{
    roles::{
        contracts::{contract_limits, recovery},
        gatekeeper::contracts::{contract_key, grant, public_key, publication},
    },
    runtime::Runtime,
    sync::Batch,
    tee::DevTee,
};
use veil_vm::{Call, Entry, Randomness, Vm};

#[allow(dead_code)]
#[path = "../../vm/tests/it/support.rs"]
mod support;

#[derive(Parser)]
struct RecoveryBenchArgs {
    /// Transfers in the history.
    #[arg(long, default_value_t = 100_000)]
    commands: usize,
    /// Transfers per block.
    #[arg(long, default_value_t = 500)]
    per_block: usize,
    /// Blocks between checkpoints: the checkpoint is made this many blocks before the end.
    #[arg(long, default_value_t = 50)]
    interval: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const FUEL: u64 = 1_000_000;

fn message(origin: Origin, destination: Destination, payload: Vec<u8>) -> Message {
    Message {
        origin,
        destination,
        sequence: 0,
        payload,
    }
}

fn topic(t: &[u8]) -> Destination {
    Destination::Topic(t.to_vec())
}

/// A pRuntime in a fresh directory, following `blocks`.
fn runtime(name: &str, blocks: &SyntheticChain) -> anyhow::Result<(Runtime, std::path::PathBuf)> {
    let dir = std::env::temp_dir().join(format!("veil-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (rt, _) = Runtime::open(
        Box::new(DevTee::new(&dir.join("dev-key"))?),
        &dir.join("data"),
    )?;
    rt.init(
        blocks.chain_id,
        &blocks.headers[0],
        &blocks.group_key,
        &blocks.chain_proof,
    )?;
    Ok((rt, dir))
}

/// Syncs `rt` from its next height through `to`, in batches.
fn sync(rt: &Runtime, blocks: &SyntheticChain, to: u64, code: &[u8]) -> anyhow::Result<()> {
    let mut from = rt.state().map_or(1, |s| s.synced_height() + 1);
    while from <= to {
        let end = to.min(from + 999);
        rt.sync(&Batch {
            headers: blocks.headers[from as usize..=end as usize].to_vec(),
            certificate: blocks.certificate(end),
            messages: blocks.messages[from as usize..=end as usize].to_vec(),
            code: vec![code.to_vec()],
        })?;
        from = end + 1;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = RecoveryBenchArgs::parse();
    anyhow::ensure!(
        args.commands > 0 && args.per_block > 0 && args.interval > 0,
        "--commands, --per-block and --interval must be positive"
    );
    let wasm = support::example("token");
    let mut blocks = SyntheticChain::new(7);
    let chain = ChainIdentity {
        chain_id: blocks.chain_id,
        genesis_hash: blocks.headers[0].hash(),
    };
    let (a, dir_a) = runtime("recovery-a", &blocks)?;
    let miner = a.identity().public_key();
    let developer = PrivateKey::from_seed(1);
    let id = contract_id(&developer.public_key(), 0);
    // The gatekeepers' keys under a stand-in root key: pRuntime takes them from the verified
    // stream, as from real gatekeepers.
    let root_key = [7u8; 32];
    let instantiated = ContractEvent::Instantiated {
        contract: id,
        code: hash(&wasm),
        developer: developer.public_key(),
        miner: miner.clone(),
        miner_ecdh: a.identity().ecdh_public(),
    };
    let granted = grant(
        &root_key,
        &chain,
        &id,
        &miner,
        &a.identity().ecdh_public(),
        0,
    )
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
            publication(&root_key, &chain, &id).encode().to_vec(),
        ),
        message(
            Origin::Gatekeepers,
            topic(CONTRACT_GRANT_TOPIC),
            granted.encode().to_vec(),
        ),
    ]);
    sync(&a, &blocks, 1, &wasm)?;
    a.recover(&id, None, 0, &[])?;
    let info = ContractInfo {
        developer: developer.public_key(),
        code: hash(&wasm),
        miner: miner.clone(),
        created: 1,
        public_key: Some(public_key(&contract_key(&root_key, &chain, &id))),
        initialized: false,
        assignment: 0,
        granted: true,
        assigned_at: 1,
        log: Default::default(),
        checkpoint: None,
    };

    // The history: init, then transfers to new accounts, sealed as clients do.
    eprintln!(
        "sealing {} transfers ({} a block)",
        args.commands, args.per_block
    );
    let supply = u128::MAX / 2;
    let recipients: Vec<[u8; 32]> = (0..args.commands)
        .map(|i| {
            hash(&(i as u64).to_be_bytes())
                .as_ref()
                .try_into()
                .expect("32 bytes")
        })
        .collect();
    let mut inputs = vec![supply.to_le_bytes().to_vec()];
    inputs.extend(recipients.iter().map(|to| {
        let mut input = vec![0u8];
        input.extend_from_slice(to);
        input.extend_from_slice(&1u128.to_le_bytes());
        input
    }));
    let mut log = ContractLog::default();
    let mut entries: Vec<LogEntry> = Vec::with_capacity(inputs.len());
    for (chunk_index, chunk) in inputs.chunks(args.per_block).enumerate() {
        let mut messages = Vec::with_capacity(chunk.len());
        for (i, input) in chunk.iter().enumerate() {
            let nonce = (chunk_index * args.per_block + i) as u64;
            let sealed = veil_client::command::seal(
                &chain,
                &id,
                &info,
                &developer.public_key(),
                nonce,
                u64::MAX,
                input,
                FUEL,
            )?;
            let ContractCall::Command { envelope, .. } = sealed.call else {
                anyhow::bail!("seal made no command");
            };
            let command = CommandMessage {
                nonce,
                expiry: u64::MAX,
                fuel: FUEL,
                envelope,
            };
            messages.push(message(
                Origin::Account(developer.public_key()),
                Destination::Contract(id),
                command.encode().to_vec(),
            ));
        }
        let height = blocks.headers.len() as u64;
        let parent = blocks.headers[height as usize - 1].hash();
        for m in &messages {
            log.fold(height, &parent, m);
            entries.push(LogEntry {
                height,
                parent,
                message: m.clone(),
            });
        }
        blocks.extend(messages);
    }
    let end = blocks.headers.len() as u64 - 1;
    let checkpoint_height = end.saturating_sub(args.interval as u64).max(2);

    // The miner runs the history and checkpoints `interval` blocks before the end.
    eprintln!("the miner runs the history ({} blocks)", end - 1);
    let start = Instant::now();
    sync(&a, &blocks, checkpoint_height, &wasm)?;
    let made_at = Instant::now();
    let made = a.checkpoint(&id)?;
    let make_time = made_at.elapsed().as_secs_f64();
    sync(&a, &blocks, end, &wasm)?;
    let live = start.elapsed().as_secs_f64();
    let state_entries = a.snapshot().miner.running[&id].state.len();
    let sealed: Vec<u8> = made
        .chunks
        .iter()
        .flat_map(|c| c.chunk.bytes.clone())
        .collect();
    let size = made.info.size as f64;
    let before_checkpoint = made.info.log.count as usize;
    // The checkpoint as the chain keeps it: the signed chunks decode back.
    for c in &made.chunks {
        SignedCheckpointChunk::decode(c.encode())?;
    }

    // Two miners take the token over: one finds no checkpoint, one finds it.
    let assigned = |to: &Runtime, checkpoint: Option<_>, n: u64| {
        let event = ContractEvent::Assigned {
            contract: id,
            code: hash(&wasm),
            developer: developer.public_key(),
            miner: to.identity().public_key(),
            miner_ecdh: to.identity().ecdh_public(),
            assignment: n,
            reason: Reassignment::Governance,
            log,
            checkpoint,
        };
        let granted = grant(
            &root_key,
            &chain,
            &id,
            &to.identity().public_key(),
            &to.identity().ecdh_public(),
            n,
        )
        .expect("grant");
        vec![
            message(
                Origin::Chain,
                topic(CONTRACTS_TOPIC),
                event.encode().to_vec(),
            ),
            message(
                Origin::Gatekeepers,
                topic(CONTRACT_GRANT_TOPIC),
                granted.encode().to_vec(),
            ),
        ]
    };
    let (full, dir_full) = runtime("recovery-full", &blocks)?;
    let (fast, dir_fast) = runtime("recovery-fast", &blocks)?;
    // One move a block: each recovering miner syncs up to its own.
    blocks.extend(assigned(&full, None, 1));
    sync(&full, &blocks, blocks.headers.len() as u64 - 1, &wasm)?;
    blocks.extend(assigned(&fast, Some(made.info.clone()), 2));
    sync(&fast, &blocks, blocks.headers.len() as u64 - 1, &wasm)?;

    let start = Instant::now();
    full.recover(&id, None, 0, &entries)?;
    let full_time = start.elapsed().as_secs_f64();
    let start = Instant::now();
    fast.recover(
        &id,
        Some((&made.info, sealed.as_slice())),
        0,
        &entries[before_checkpoint..],
    )?;
    let fast_time = start.elapsed().as_secs_f64();
    let root = |rt: &Runtime| rt.snapshot().miner.running[&id].root;
    anyhow::ensure!(
        root(&full) == root(&a) && root(&fast) == root(&a),
        "a recovered state differs from the miner's"
    );

    // Bound: the same transfers in the VM alone.
    let vm = Vm::new(contract_limits());
    let code = vm.deploy(&wasm)?;
    // Shared with each call and changed copy-on-write, as the executor does.
    let mut state: Arc<BTreeMap<Vec<u8>, Vec<u8>>> = Arc::default();
    let caller: [u8; 32] = developer.public_key().as_ref().try_into()?;
    let start = Instant::now();
    for (i, input) in inputs.iter().enumerate() {
        let outcome = vm.execute(
            &code,
            Call {
                entry: if i == 0 { Entry::Init } else { Entry::Command },
                input: input.clone(),
                caller,
                contract: id.into(),
                height: 2,
                block_hash: [0; 32],
                randomness: Some(Randomness {
                    key: zeroize::Zeroizing::new([1; 32]),
                    index: i as u64,
                }),
                fuel: FUEL,
                sent: Default::default(),
            },
            state.clone() as Arc<dyn veil_vm::Storage>,
        );
        anyhow::ensure!(outcome.result.is_ok(), "the bound's transfer {i} failed");
        let map = Arc::make_mut(&mut state);
        for (k, v) in outcome.changes {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
    }
    let vm_rate = inputs.len() as f64 / start.elapsed().as_secs_f64();

    // Checkpoint opening, alone; the bounds seal and open the same plaintext size once.
    let contract = contract_key(&root_key, &chain, &id);
    let start = Instant::now();
    std::hint::black_box(recovery::open(&chain, &id, &contract, &made.info, &sealed)?);
    let open_time = start.elapsed().as_secs_f64();
    let plain = vec![0x5au8; made.info.size as usize - veil_crypto::seal::OVERHEAD];
    let key = SealingKey::derive(&[3u8; 32], b"bound");
    let start = Instant::now();
    let bound_sealed = std::hint::black_box(key.seal(&mut rand::rng(), b"aad", &plain));
    let aead_seal = size / start.elapsed().as_secs_f64();
    let start = Instant::now();
    std::hint::black_box(key.open(b"aad", &bound_sealed)?);
    let aead_open = size / start.elapsed().as_secs_f64();
    for dir in [dir_a, dir_full, dir_fast] {
        let _ = std::fs::remove_dir_all(dir);
    }

    let mb = |bytes_per_s: f64| bytes_per_s / 1e6;
    println!(
        "history: {} commands in {} blocks; state {} entries; checkpoint {:.1} MB at {} blocks before the end",
        inputs.len(),
        end - 1,
        state_entries,
        size / 1e6,
        args.interval
    );
    println!(
        "miner running the history live: {:.1} s ({:.0} commands/s)",
        live,
        inputs.len() as f64 / live
    );
    println!(
        "recovery, no checkpoint:   {:>7} entries replayed in {:>7.3} s ({:>6.0} entries/s)",
        entries.len(),
        full_time,
        entries.len() as f64 / full_time
    );
    println!(
        "recovery, from checkpoint: {:>7} entries replayed in {:>7.3} s ({:>6.0} entries/s); {:.3} of the time without",
        entries.len() - before_checkpoint,
        fast_time,
        (entries.len() - before_checkpoint) as f64 / fast_time,
        fast_time / full_time
    );
    println!(
        "bound: the same transfers in the VM alone {:.0}/s; replay without checkpoint at {:.2} of it",
        vm_rate,
        entries.len() as f64 / full_time / vm_rate
    );
    println!(
        "checkpoint making: {:>7.1} MB/s; AEAD seal bound {:>7.1} MB/s; ratio {:.2}",
        mb(size / make_time),
        mb(aead_seal),
        size / make_time / aead_seal
    );
    println!(
        "checkpoint opening: {:>6.1} MB/s; AEAD open bound {:>7.1} MB/s; ratio {:.2}",
        mb(size / open_time),
        mb(aead_open),
        size / open_time / aead_open
    );
    Ok(())
}
