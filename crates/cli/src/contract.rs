//! `veil contract build` and `veil deploy`: from a contract's source to an instance on a miner
//! whose public key the gatekeepers published.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use clap::{Args, Subcommand};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::{
    Call, Digest, PrivateKey, Transaction,
    contract::{ContractCall, MAX_POLICY_DEVELOPERS, MinerPolicy, contract_id},
    decode_hex, hash, to_hex,
};
use veil_rpc_api::VeilApiClient as _;
use veil_vm::{Limits, Vm};

use crate::rpc::{connect, devnet_genesis_hash, identity, node_url, runtime, wait_finalized};

/// Debian's toolchain, which contracts build with (rustc 1.63, `wasm32-unknown-unknown`).
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_WASM_STD: &str = "/usr/lib/rustlib/wasm32-unknown-unknown";
const TARGET: &str = "wasm32-unknown-unknown";

/// `veil contract` commands.
#[derive(Subcommand)]
pub(crate) enum ContractCommand {
    /// Build a contracts workspace for wasm with Debian's rustc 1.63, and check every module
    /// against the deploy policy.
    Build {
        /// The workspace (e.g. `contracts`).
        dir: PathBuf,
    },
    /// List a compiled contract's methods from its ABI section.
    Abi {
        /// The compiled contract (.wasm).
        code: PathBuf,
    },
    /// Show a contract's record (code, developer, miner, public key), checked by light-client
    /// proof.
    Info {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// The genesis hash to trust (default: $VEIL_GENESIS_HASH, or the devnet's).
        #[arg(long)]
        genesis_hash: Option<String>,
        /// The contract id.
        contract: String,
    },
    /// Move a contract to another registered miner (its developer's or governance's call).
    /// The new miner recovers it from its latest checkpoint on chain and the log after it;
    /// waits until the gatekeepers have handed it the contract key, then prints the record.
    Assign {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// The genesis hash to trust (default: $VEIL_GENESIS_HASH, or the devnet's).
        #[arg(long)]
        genesis_hash: Option<String>,
        /// The developer's (or governance's) key file.
        #[arg(long)]
        from: PathBuf,
        /// The new miner: a registered worker's id (`veil workers`).
        #[arg(long)]
        miner: String,
        /// The contract id.
        contract: String,
    },
    /// Set which developers' contracts a worker you operate takes as a miner (you pay to post
    /// their results). Contracts it runs already stay; governance may still place one.
    Policy {
        /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
        /// http://127.0.0.1:9944).
        #[arg(long)]
        rpc: Option<String>,
        /// The worker's registered operator key file.
        #[arg(long)]
        from: PathBuf,
        /// The worker's id (`veil workers`).
        #[arg(long)]
        miner: String,
        /// Take any developer's contracts (the default policy).
        #[arg(long, conflicts_with_all = ["developer", "none"], required_unless_present_any = ["developer", "none"])]
        open: bool,
        /// Take only this developer's contracts (repeat for several, at most 64).
        #[arg(long, conflicts_with = "none")]
        developer: Vec<String>,
        /// Take no new contracts.
        #[arg(long)]
        none: bool,
    },
}

/// `veil contract`.
pub(crate) fn run(command: ContractCommand) -> anyhow::Result<()> {
    match command {
        ContractCommand::Build { dir } => build(&dir),
        ContractCommand::Abi { code } => abi(&code),
        ContractCommand::Info {
            rpc,
            genesis_hash,
            contract,
        } => info(rpc, genesis_hash, &contract),
        ContractCommand::Assign {
            rpc,
            genesis_hash,
            from,
            miner,
            contract,
        } => {
            let id: Digest =
                decode_hex(&contract).map_err(|e| anyhow::anyhow!("contract id: {e}"))?;
            let miner = decode_hex(&miner).map_err(|e| anyhow::anyhow!("--miner: {e}"))?;
            let key = read_json::<AccountKeyFile>(&from)?.private_key()?;
            let genesis = pinned_genesis(genesis_hash)?;
            let client = connect(&node_url(rpc))?;
            runtime()?.block_on(async {
                let trust = veil_client::light::trust(&client, &genesis).await?;
                let info =
                    assign(&client, &trust, &key, &id, &miner, Duration::from_secs(120)).await?;
                println!("{}", serde_json::to_string_pretty(&record(&id, &info))?);
                Ok(())
            })
        }
        ContractCommand::Policy {
            rpc,
            from,
            miner,
            open,
            developer,
            none: _,
        } => {
            let miner: veil_primitives::AccountId =
                decode_hex(&miner).map_err(|e| anyhow::anyhow!("--miner: {e}"))?;
            let policy = if open {
                MinerPolicy::Open
            } else {
                let list = developer
                    .iter()
                    .map(|d| decode_hex(d).map_err(|e| anyhow::anyhow!("--developer {d}: {e}")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                anyhow::ensure!(
                    list.len() <= MAX_POLICY_DEVELOPERS,
                    "at most {MAX_POLICY_DEVELOPERS} developers, not {}",
                    list.len()
                );
                MinerPolicy::Developers(list)
            };
            let key = read_json::<AccountKeyFile>(&from)?.private_key()?;
            let client = connect(&node_url(rpc))?;
            let call = Call::Contract(ContractCall::SetMinerPolicy {
                miner: miner.clone(),
                policy: policy.clone(),
            });
            runtime()?.block_on(transact(&client, &key, vec![call], "policy", |_| ()))?;
            let takes = match &policy {
                MinerPolicy::Open => "any developer's contracts".to_string(),
                MinerPolicy::Developers(l) if l.is_empty() => "no new contracts".to_string(),
                MinerPolicy::Developers(l) => format!("contracts of {} developer(s)", l.len()),
            };
            println!("miner {} takes {takes}", to_hex(&miner));
            Ok(())
        }
    }
}

/// Moves contract `id` to `miner` as `key` (its developer or governance) and waits until the
/// gatekeepers have granted the new miner the contract key (it then recovers the contract);
/// returns the proved record.
pub(crate) async fn assign(
    client: &jsonrpsee::http_client::HttpClient,
    trust: &veil_light::Trust,
    key: &PrivateKey,
    id: &Digest,
    miner: &veil_primitives::AccountId,
    timeout: Duration,
) -> anyhow::Result<veil_primitives::contract::ContractInfo> {
    let call = Call::Contract(ContractCall::Assign {
        contract: *id,
        miner: miner.clone(),
    });
    let (_, height) = transact(client, key, vec![call], "assignment", |_| ()).await?[0];
    eprintln!(
        "contract {} assigned to miner {} at height {height}; waiting for the gatekeepers to hand it the key ...",
        to_hex(id),
        to_hex(miner)
    );
    let deadline = Instant::now() + timeout;
    loop {
        let info = veil_client::contract::contract(client, trust, id, height)
            .await?
            .ok_or_else(|| anyhow::anyhow!("contract {} is not on chain", to_hex(id)))?;
        anyhow::ensure!(
            &info.miner == miner,
            "contract {} moved on to miner {} meanwhile",
            to_hex(id),
            to_hex(&info.miner)
        );
        if info.granted {
            eprintln!("the new miner holds the key and recovers the contract from the chain");
            return Ok(info);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gatekeepers did not hand the key to miner {} within {}s",
            to_hex(miner),
            timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn abi(path: &Path) -> anyhow::Result<()> {
    let code = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let checked = Vm::new(Limits::default())
        .deploy(&code)
        .map_err(|e| anyhow::anyhow!("{} is refused by the deploy policy: {e}", path.display()))?;
    let text = checked.abi().ok_or_else(|| {
        anyhow::anyhow!(
            "{} has no veil_abi section (was it exported with veil_sdk::export!?)",
            path.display()
        )
    })?;
    let abi = veil_client::abi::Abi::parse(text)?;
    let args = |args: &[veil_client::abi::Arg]| {
        args.iter()
            .map(|a| format!("{}: {}", a.name, a.ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("init({})", args(&abi.init));
    for (kind, methods) in [("command", &abi.commands), ("query", &abi.queries)] {
        for m in methods {
            println!(
                "{kind} {}({}) -> {}  [tag {}]",
                m.name,
                args(&m.args),
                m.returns,
                m.tag
            );
        }
    }
    Ok(())
}

fn info(rpc: Option<String>, genesis_hash: Option<String>, contract: &str) -> anyhow::Result<()> {
    let id: Digest = decode_hex(contract).map_err(|e| anyhow::anyhow!("contract id: {e}"))?;
    let genesis = pinned_genesis(genesis_hash)?;
    let rpc = node_url(rpc);
    let client = connect(&rpc)?;
    runtime()?.block_on(async {
        let trust = veil_client::light::trust(&client, &genesis).await?;
        let info = veil_client::contract::contract(&client, &trust, &id, 0)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no contract {} on this chain", to_hex(id)))?;
        println!("{}", serde_json::to_string_pretty(&record(&id, &info))?);
        Ok(())
    })
}

/// A contract's record as the commands print it.
fn record(id: &Digest, info: &veil_primitives::contract::ContractInfo) -> serde_json::Value {
    serde_json::json!({
        "contract": to_hex(id),
        "code_hash": to_hex(info.code),
        "developer": to_hex(&info.developer),
        "miner": to_hex(&info.miner),
        "created": info.created,
        "public_key": info.public_key.map(to_hex),
        "initialized": info.initialized,
        "assignment": info.assignment,
        "assigned_at": info.assigned_at,
        "miner_has_key": info.granted,
        "log": info.log.count,
        "checkpoint": info.checkpoint.as_ref().map(|c| serde_json::json!({
            "height": c.height,
            "log": c.log.count,
            "bytes": c.size,
            "miner": to_hex(&c.miner),
        })),
        "verified": "light-client proof against the pinned genesis",
    })
}

/// Builds the contracts workspace `dir` with Debian's toolchain; returns its modules' paths.
pub(crate) fn compile(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let missing: Vec<&str> = [DEBIAN_CARGO, DEBIAN_RUSTC, DEBIAN_WASM_STD]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "contracts build with Debian's Rust toolchain for wasm32, and {} is missing; install it \
         with `sudo apt-get install rustc cargo libstd-rust-dev-wasm32`",
        missing.join(", ")
    );
    anyhow::ensure!(
        dir.join("Cargo.toml").is_file(),
        "{} has no Cargo.toml: pass the contracts workspace",
        dir.display()
    );
    // Absolute: cargo runs inside `dir` and would read a relative target below it again, and
    // the modules would then be listed from a stale `dir/target`.
    let target_dir = dir
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .join("target");
    eprintln!(
        "building {} with Debian's rustc 1.63 for {TARGET} ...",
        dir.display()
    );
    let status = Command::new(DEBIAN_CARGO)
        .args(["build", "--offline", "--release", "--target", TARGET])
        .current_dir(dir)
        .env("RUSTC", DEBIAN_RUSTC)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {DEBIAN_CARGO}: {e}"))?;
    anyhow::ensure!(status.success(), "the build failed ({status})");
    let out = target_dir.join(TARGET).join("release");
    let mut modules: Vec<PathBuf> = std::fs::read_dir(&out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    modules.sort();
    anyhow::ensure!(
        !modules.is_empty(),
        "no .wasm in {}: a contract crate needs `crate-type = [\"cdylib\"]`",
        out.display()
    );
    Ok(modules)
}

fn build(dir: &Path) -> anyhow::Result<()> {
    let modules = compile(dir)?;
    let vm = Vm::new(Limits::default());
    let mut refused = 0;
    for path in &modules {
        let code = std::fs::read(path)?;
        match vm.deploy(&code) {
            Ok(checked) => {
                println!(
                    "{}  {} bytes  code hash {}  passes the deploy policy{}",
                    path.display(),
                    code.len(),
                    to_hex(checked.hash()),
                    if checked.abi().is_some() {
                        ""
                    } else {
                        " (no ABI section)"
                    }
                );
                println!("  {}", memory_note(&checked));
            }
            Err(e) => {
                refused += 1;
                println!("{}  refused by the deploy policy: {e}", path.display());
            }
        }
    }
    anyhow::ensure!(
        refused == 0,
        "{refused} module(s) would be refused at deploy"
    );
    Ok(())
}

/// What a module's memory costs each call: a kept instance rewrites its initial pages after
/// every call, and a module the VM cannot keep instantiates on every call.
fn memory_note(code: &veil_vm::Code) -> String {
    let pages = code.initial_pages();
    let memory = format!(
        "memory: {pages} page{} ({} KiB)",
        if pages == 1 { "" } else { "s" },
        pages * 64
    );
    if !code.reuses_instances() {
        format!(
            "{memory}; every call instantiates the module afresh (it can change its tables or \
             passive segments, or starts with more than 16 pages), about 16 µs more a call"
        )
    } else if pages > 1 {
        format!(
            "{memory}, rewritten after every call (about 0.8 µs a page): one page is enough \
             unless calls need more than about 30 KiB of heap (docs/contracts.md)"
        )
    } else {
        format!("{memory}, instances kept between calls")
    }
}

#[derive(Args)]
pub(crate) struct DeployArgs {
    /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
    /// http://127.0.0.1:9944).
    #[arg(long)]
    rpc: Option<String>,
    /// The genesis hash to trust (default: $VEIL_GENESIS_HASH, or the devnet's). Every state
    /// read is checked against it by light-client proof.
    #[arg(long)]
    genesis_hash: Option<String>,
    /// The compiled contract.
    #[arg(long)]
    code: PathBuf,
    /// The registered worker that will run it (hex public key).
    #[arg(long)]
    miner: String,
    /// The developer's account key file (pays, and may reassign the contract).
    #[arg(long)]
    from: PathBuf,
    /// Seconds to wait for the gatekeepers to publish the contract's key.
    #[arg(long, default_value_t = 60)]
    key_timeout: u64,
    /// `init`'s arguments as a JSON object: sent, encrypted, as the contract's first command
    /// once its miner has the key. Without it, send it later with `veil call ... init JSON`.
    #[arg(long)]
    init: Option<String>,
}

/// The genesis hash the user trusts: the flag, `$VEIL_GENESIS_HASH`, or the local devnet's.
pub(crate) fn pinned_genesis(flag: Option<String>) -> anyhow::Result<Digest> {
    let text = flag
        .or_else(|| {
            std::env::var("VEIL_GENESIS_HASH")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .or_else(devnet_genesis_hash)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no genesis hash to check the node against: pass --genesis-hash (from the \
                 network's genesis spec) or set VEIL_GENESIS_HASH"
            )
        })?;
    decode_hex(&text).map_err(|e| anyhow::anyhow!("--genesis-hash: {e}"))
}

/// Signs `calls` with the account's next nonces, submits them all (the mempool holds a
/// sender's consecutive nonces), then waits until each is finalized and succeeded, calling
/// `done` as each is; returns the nonce and block height of each.
pub(crate) async fn transact(
    client: &jsonrpsee::http_client::HttpClient,
    key: &PrivateKey,
    calls: Vec<Call>,
    what: &str,
    mut done: impl FnMut(usize),
) -> anyhow::Result<Vec<(u64, u64)>> {
    let status = client.status().await.map_err(veil_client::error::rpc)?;
    let chain = identity(&status)?;
    let mut nonce = client
        .get_account(to_hex(key.public_key()))
        .await
        .map_err(veil_client::error::rpc)?
        .nonce;
    let mut submitted = Vec::with_capacity(calls.len());
    for call in calls {
        // The account's finalized nonce may already be taken by a pending transaction of
        // another program sharing the key (a worker's host posting with its operator's):
        // the next free one is taken instead, within what a sender may have pending.
        let mut taken = 0;
        let hash = loop {
            let tx = Transaction {
                sender: key.public_key(),
                nonce,
                expiry: status.height + 100,
                call: call.clone(),
            }
            .sign(key, &chain);
            match client.submit_transaction(to_hex(tx.encode())).await {
                Ok(hash) => break hash,
                Err(e) => {
                    let why = veil_client::describe(&e);
                    if submitted.is_empty()
                        && why.contains("is pending for this sender")
                        && taken < 64
                    {
                        taken += 1;
                        nonce += 1;
                        continue;
                    }
                    anyhow::bail!("{what} refused: {why}");
                }
            }
        };
        submitted.push((nonce, hash));
        nonce += 1;
    }
    let mut results = Vec::with_capacity(submitted.len());
    for (i, (nonce, hash)) in submitted.into_iter().enumerate() {
        let view = wait_finalized(client, &hash, Duration::from_secs(60)).await?;
        anyhow::ensure!(
            view.success == Some(true),
            "{what} failed: {}",
            view.error.unwrap_or_default()
        );
        done(i);
        results.push((nonce, view.height.unwrap_or_default()));
    }
    Ok(results)
}

/// `veil deploy`.
pub(crate) fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let code =
        std::fs::read(&args.code).map_err(|e| anyhow::anyhow!("{}: {e}", args.code.display()))?;
    // Checked here first, so a module the chain would refuse costs nothing.
    Vm::new(Limits::default()).deploy(&code).map_err(|e| {
        anyhow::anyhow!(
            "{} is refused by the deploy policy: {e}",
            args.code.display()
        )
    })?;
    let miner =
        veil_client::parse_account(&args.miner).map_err(|e| anyhow::anyhow!("--miner: {e}"))?;
    let init: Option<serde_json::Value> = args
        .init
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--init is not JSON: {e}"))?;
    let key = read_json::<AccountKeyFile>(&args.from)?.private_key()?;
    let genesis = pinned_genesis(args.genesis_hash)?;
    let rpc = node_url(args.rpc);
    let client = connect(&rpc)?;
    runtime()?.block_on(async {
        let trust = veil_client::light::trust(&client, &genesis).await?;
        let (id, info, init) = deploy_code(
            &client,
            &trust,
            &key,
            &code,
            &miner,
            init,
            Duration::from_secs(args.key_timeout),
        )
        .await?;
        let mut out = record(&id, &info);
        if let Some(init) = init {
            out["init"] = init;
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(())
    })
}

/// Uploads `code` (unless it is on chain), instantiates it on `miner`, waits for the
/// gatekeepers to publish its key (and, with `init`, to grant it to the miner, then sends
/// `init` encrypted); returns the id, the proved record and `init`'s result.
pub(crate) async fn deploy_code(
    client: &jsonrpsee::http_client::HttpClient,
    trust: &veil_light::Trust,
    key: &PrivateKey,
    code: &[u8],
    miner: &veil_primitives::AccountId,
    init: Option<serde_json::Value>,
    key_timeout: Duration,
) -> anyhow::Result<(
    Digest,
    veil_primitives::contract::ContractInfo,
    Option<serde_json::Value>,
)> {
    // Before paying for an upload: a miner that would refuse the instance (the node's word;
    // the chain checks again).
    let developer = to_hex(key.public_key());
    let worker = client
        .get_worker(to_hex(miner))
        .await
        .map_err(veil_client::error::rpc)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "miner {} is not a registered worker (`veil workers`)",
                to_hex(miner)
            )
        })?;
    if let Some(admitted) = &worker.developers {
        anyhow::ensure!(
            admitted.contains(&developer),
            "miner {} takes no contracts of developer {developer} (its operator's policy); pick \
             another (`veil workers`)",
            to_hex(miner)
        );
    }
    let code_hash = hash(code);
    let now = client
        .status()
        .await
        .map_err(veil_client::error::rpc)?
        .finalized;
    if veil_client::contract::code(client, trust, &code_hash, now)
        .await?
        .is_some()
    {
        eprintln!("code {} is already on chain", to_hex(code_hash));
    } else {
        let chunks = veil_client::contract::upload_calls(code);
        let n = chunks.len();
        transact(client, key, chunks, "code upload", |i| {
            eprintln!(
                "uploaded chunk {}/{n} of {} ({} bytes)",
                i + 1,
                to_hex(code_hash),
                code.len()
            )
        })
        .await?;
    }
    let instantiate = Call::Contract(ContractCall::Instantiate {
        code: code_hash,
        miner: miner.clone(),
    });
    let (nonce, height) =
        transact(client, key, vec![instantiate], "instantiation", |_| ()).await?[0];
    let id = contract_id(&key.public_key(), nonce);
    eprintln!(
        "contract {} instantiated at height {height} on miner {}; waiting for the gatekeepers to publish its key ...",
        to_hex(id),
        to_hex(miner)
    );
    let deadline = Instant::now() + key_timeout;
    // With `init`, also wait for the miner's grant: commands are refused before it.
    let info = loop {
        let info = veil_client::contract::contract(client, trust, &id, height)
            .await?
            .ok_or_else(|| anyhow::anyhow!("contract {} is not on chain", to_hex(id)))?;
        if info.public_key.is_some() && (init.is_none() || info.granted) {
            break info;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gatekeepers did not {} {} within {}s (has the network launched?)",
            if info.public_key.is_none() {
                "publish the key of"
            } else {
                "hand the key to the miner of"
            },
            to_hex(id),
            key_timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let Some(init) = init else {
        return Ok((id, info, None));
    };
    eprintln!("key published and granted to the miner; sending init (encrypted) ...");
    let result = crate::call::send(
        client,
        trust,
        key,
        &id,
        "init",
        &init,
        veil_client::command::Options::default(),
    )
    .await?;
    if let Some(e) = result.get("error").or(result.get("failed")) {
        anyhow::bail!("the contract's init failed: {e}");
    }
    Ok((id, info, Some(result)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_workspace_builds_into_its_own_target() {
        // The test runs in crates/cli.
        let dir = Path::new("../../contracts");
        let modules = compile(dir).unwrap();
        let target = dir.canonicalize().unwrap().join("target");
        assert!(!modules.is_empty());
        for module in &modules {
            assert!(module.starts_with(&target), "{}", module.display());
            assert!(module.is_file(), "{}", module.display());
        }
        // Not a target below the workspace, resolved again from inside it.
        assert!(!dir.join(dir).join("target").exists());
    }
}
