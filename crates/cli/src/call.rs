//! `veil call` and `veil query`: an encrypted command to a contract through the chain, or an
//! authenticated query straight to its miner, by method name with JSON arguments.
//!
//! The contract's record (its public key, code hash and miner) and the result are read by
//! light-client proof against the pinned genesis; the method's encoding comes from the ABI in
//! the contract's code, which is checked against the code hash on chain.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use jsonrpsee::http_client::HttpClient;
use serde_json::{Value, json};
use veil_client::{
    abi::{Abi, Kind},
    command::{self, Executed, Options},
    keys::{AccountKeyFile, read_json},
    query::{self, Session},
};
use veil_light::Trust;
use veil_primitives::{
    PrivateKey,
    contract::{ContractId, ContractInfo, Reply},
    decode_hex,
    query::QueryOutcome,
    to_hex,
};
use veil_vm::{Limits, Vm};

use crate::{
    contract::pinned_genesis,
    rpc::{connect, node_url, runtime},
};

/// What `veil call` and `veil query` both take.
#[derive(Args)]
pub(crate) struct Target {
    /// Node RPC URL (default: $VEIL_RPC, the devnet in ./devnet-data, or
    /// http://127.0.0.1:9944).
    #[arg(long)]
    rpc: Option<String>,
    /// The genesis hash to trust (default: $VEIL_GENESIS_HASH, or the devnet's).
    #[arg(long)]
    genesis_hash: Option<String>,
    /// The contract id.
    #[arg(long)]
    contract: String,
    /// The account key file: a command's sender (it pays and alone reads the result), or the
    /// account a query acts as (it signs a one-day session; the contract sees it as caller).
    #[arg(long)]
    from: PathBuf,
    /// The method's name (`init` for the developer's first command).
    method: String,
    /// Its arguments as a JSON object.
    #[arg(default_value = "{}")]
    args: String,
}

/// A [Target] read and checked: the key, the pinned genesis, the contract, the arguments, and
/// a connection to the node.
struct Resolved {
    key: veil_primitives::PrivateKey,
    genesis: veil_primitives::Digest,
    contract: ContractId,
    method: String,
    json: Value,
    client: HttpClient,
}

impl Target {
    fn resolve(self) -> anyhow::Result<Resolved> {
        Ok(Resolved {
            key: read_json::<AccountKeyFile>(&self.from)?.private_key()?,
            genesis: pinned_genesis(self.genesis_hash)?,
            contract: decode_hex(&self.contract).map_err(|e| anyhow::anyhow!("--contract: {e}"))?,
            json: serde_json::from_str(&self.args)
                .map_err(|e| anyhow::anyhow!("arguments are not JSON: {e}"))?,
            method: self.method,
            client: connect(&node_url(self.rpc))?,
        })
    }
}

/// Exit status 1, with the reason, when the printed outcome is the contract's error or a
/// failure.
fn outcome(out: &Value, what: &str) -> anyhow::Result<()> {
    if let Some(e) = out.get("error") {
        anyhow::bail!(
            "the contract returned error {}: {}",
            e["code"],
            e["message"]
        );
    }
    if let Some(reason) = out.get("failed").or(out.get("not_yet")) {
        anyhow::bail!("the {what} failed: {}", reason.as_str().unwrap_or(""));
    }
    Ok(())
}

#[derive(Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    target: Target,
    /// Fuel to reserve (paid whether used or not, so the fee says nothing of the outcome).
    #[arg(long, default_value_t = 10_000_000)]
    fuel: u64,
    /// Seconds to wait for the result.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// `veil call`.
pub(crate) fn call(args: CallArgs) -> anyhow::Result<()> {
    let Resolved {
        key,
        genesis,
        contract,
        method,
        json,
        client,
    } = args.target.resolve()?;
    let options = Options {
        fuel: args.fuel,
        timeout: Duration::from_secs(args.timeout),
        ..Options::default()
    };
    let out = runtime()?.block_on(async {
        let trust = veil_client::light::trust(&client, &genesis).await?;
        send(&client, &trust, &key, &contract, &method, &json, options).await
    })?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    outcome(&out, "command")
}

/// The contract's record and ABI, read by proof and checked against the code hash.
pub(crate) async fn contract_abi(
    client: &HttpClient,
    trust: &Trust,
    contract: &ContractId,
) -> anyhow::Result<(ContractInfo, Abi)> {
    let info = veil_client::contract::contract(client, trust, contract, 0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no contract {} on chain", to_hex(contract)))?;
    let code = veil_client::contract::code_bytes(client, &info.code).await?;
    let checked = Vm::new(Limits::default())
        .deploy(&code)
        .map_err(|e| anyhow::anyhow!("the contract's code does not deploy here: {e}"))?;
    let text = checked
        .abi()
        .ok_or_else(|| anyhow::anyhow!("the contract's code has no veil_abi section"))?;
    Ok((info, Abi::parse(text)?))
}

/// Encodes `method(json)` by the contract's ABI, sends it, and returns the result as JSON.
pub(crate) async fn send(
    client: &HttpClient,
    trust: &Trust,
    key: &PrivateKey,
    contract: &ContractId,
    method: &str,
    json: &Value,
    options: Options,
) -> anyhow::Result<Value> {
    let (_, abi) = contract_abi(client, trust, contract).await?;
    let input = if method == "init" {
        abi.encode_init(json)?
    } else {
        abi.encode_call(Kind::Command, method, json)?
    };
    let Executed {
        hash,
        height,
        reply,
        misreported,
    } = command::call(client, trust, key, contract, &input, options).await?;
    if let Some(what) = misreported {
        eprintln!(
            "warning: the node misreported transaction {hash}: {what}; the light client found \
             it in block {height}. Do not rely on this node."
        );
    }
    let mut out = json!({
        "contract": to_hex(contract),
        "method": method,
        "transaction": hash,
        "height": height,
    });
    match reply {
        Reply::Ok {
            output,
            events,
            fuel_used,
        } => {
            out["result"] = if method == "init" {
                Value::Null
            } else {
                abi.decode_result(Kind::Command, method, &output)?
            };
            out["events"] = events.iter().map(to_hex).collect();
            out["fuel_used"] = fuel_used.into();
        }
        Reply::Error {
            code,
            message,
            fuel_used,
        } => {
            out["error"] = json!({ "code": code, "message": message });
            out["fuel_used"] = fuel_used.into();
        }
        Reply::Failed { reason, fuel_used } => {
            out["failed"] = reason.into();
            out["fuel_used"] = fuel_used.into();
        }
    }
    Ok(out)
}

#[derive(Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    target: Target,
    /// Answer only from a state at this height or later (e.g. the height `veil call` printed).
    #[arg(long, default_value_t = 0)]
    min_height: u64,
}

/// `veil query`.
pub(crate) fn query(args: QueryArgs) -> anyhow::Result<()> {
    let min_height = args.min_height;
    let Resolved {
        key,
        genesis,
        contract,
        method,
        json,
        client,
    } = args.target.resolve()?;
    let out = runtime()?.block_on(async {
        let trust = veil_client::light::trust(&client, &genesis).await?;
        let chain = veil_primitives::ChainIdentity {
            chain_id: trust.chain_id,
            genesis_hash: trust.genesis_hash,
        };
        let mut session = Session::for_a_day(&key, &chain, vec![contract]);
        let (_, abi) = contract_abi(&client, &trust, &contract).await?;
        let input = abi.encode_call(Kind::Query, &method, &json)?;
        let answered =
            query::query(&client, &trust, &mut session, &contract, input, min_height).await?;
        let c = &answered.answer.commitment;
        let mut out = json!({
            "contract": to_hex(contract),
            "method": method,
            "commitment": {
                "height": c.height,
                "block_hash": to_hex(c.block_hash),
                "state_root": to_hex(c.state_root),
                "code_hash": to_hex(c.code_hash),
                "worker": to_hex(&c.worker),
                "insecure": c.insecure,
                "signature": "verified",
            },
            "worker_endpoint": answered.entry.endpoint,
        });
        match &answered.answer.outcome {
            QueryOutcome::Ok(output) => {
                out["result"] = abi.decode_result(Kind::Query, &method, output)?
            }
            QueryOutcome::Error { code, message } => {
                out["error"] = json!({ "code": code, "message": message })
            }
            QueryOutcome::Failed(reason) => out["failed"] = reason.clone().into(),
            QueryOutcome::NotYet => {
                out["not_yet"] = format!(
                    "the worker has executed up to height {}, below --min-height {}",
                    c.height, min_height
                )
                .into()
            }
        }
        anyhow::Ok(out)
    })?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    if out["commitment"]["insecure"] == true {
        eprintln!(
            "WARNING: the worker runs in insecure dev mode: nothing proves its state is private"
        );
    }
    outcome(&out, "query")
}
