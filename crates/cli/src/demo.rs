//! `veil demo`: confidential contracts on a running devnet, end to end, checked.
//!
//! Deploys the example token and sealed-bid auction on a miner, moves tokens between new
//! accounts with encrypted commands, checks every balance by an authenticated query, shows a
//! stranger's query for someone else's balance refused, runs an auction whose bids stay
//! secret until it closes, and fails (exit status 1) if any check does not hold. `veil devnet`
//! runs it once the network has launched.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use clap::Args;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use jsonrpsee::http_client::HttpClient;
use serde_json::{Value, json};
use veil_client::{
    abi::Kind,
    command::Options,
    keys::{AccountKeyFile, read_json},
    query::{self, Session},
};
use veil_light::Trust;
use veil_primitives::{
    AccountId, Call, ChainIdentity, PrivateKey, contract::ContractId, decode_hex,
    query::QueryOutcome, to_hex,
};
use veil_rpc_api::VeilApiClient as _;

use crate::{
    call::{contract_abi, send},
    contract::{assign, compile, deploy_code, transact},
    devnet::layout::DevnetFile,
    rpc::{connect, runtime},
};

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// The devnet's directory (holds `devnet.json`).
    #[arg(long, default_value = "devnet-data")]
    devnet: PathBuf,
    /// The contracts workspace to build the examples from.
    #[arg(long, default_value = "contracts")]
    contracts: PathBuf,
}

/// `veil demo`.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    let file: DevnetFile = read_json(&args.devnet.join("devnet.json")).map_err(|e| {
        anyhow::anyhow!("{e:#}: is a devnet running there? start one with `veil devnet --detach`")
    })?;
    runtime()?.block_on(contracts(&file, &args.contracts))
}

/// A line of the demo's story.
fn say(line: impl std::fmt::Display) {
    eprintln!("demo: {line}");
}

fn check(what: &str, ok: bool, detail: impl std::fmt::Display) -> anyhow::Result<()> {
    if ok {
        say(format!("  ok: {what}"));
        Ok(())
    } else {
        anyhow::bail!("check failed: {what} ({detail})")
    }
}

struct Demo {
    client: HttpClient,
    trust: Trust,
    chain: ChainIdentity,
}

impl Demo {
    async fn call(
        &self,
        key: &PrivateKey,
        contract: &ContractId,
        method: &str,
        args: Value,
    ) -> anyhow::Result<Value> {
        send(
            &self.client,
            &self.trust,
            key,
            contract,
            method,
            &args,
            Options::default(),
        )
        .await
    }

    /// Asks `method(args)` as `key` in a fresh session; the decoded result, or the contract's
    /// error message.
    async fn query(
        &self,
        key: &PrivateKey,
        contract: &ContractId,
        method: &str,
        args: Value,
        min_height: u64,
    ) -> anyhow::Result<Result<Value, String>> {
        let (_, abi) = contract_abi(&self.client, &self.trust, contract).await?;
        let input = abi.encode_call(Kind::Query, method, &args)?;
        let mut session = Session::for_a_day(key, &self.chain, vec![*contract]);
        let answered = query::query(
            &self.client,
            &self.trust,
            &mut session,
            contract,
            input,
            min_height,
        )
        .await?;
        Ok(match answered.answer.outcome {
            QueryOutcome::Ok(out) => Ok(abi.decode_result(Kind::Query, method, &out)?),
            QueryOutcome::Error { message, .. } => Err(message),
            QueryOutcome::Failed(reason) => Err(reason),
            QueryOutcome::NotYet => Err("the miner has not reached that height yet".into()),
        })
    }
}

fn account(key: &PrivateKey) -> String {
    to_hex(key.public_key())
}

/// Funds accounts from the faucet, and waits until every transfer is finalized.
pub(crate) async fn fund(
    client: &HttpClient,
    faucet: &PrivateKey,
    who: &[AccountId],
    amount: u128,
) -> anyhow::Result<()> {
    // Below the mempool's window of pending transactions per sender.
    for chunk in who.chunks(50) {
        let calls = chunk
            .iter()
            .map(|to| Call::Transfer {
                to: to.clone(),
                amount,
            })
            .collect();
        transact(client, faucet, calls, "funding", |_| ()).await?;
    }
    Ok(())
}

/// Polls `who`'s token balance until it is `expected` (a payment's reply settled it).
async fn settle(
    demo: &Demo,
    who: &PrivateKey,
    token: &ContractId,
    expected: u128,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = demo
            .query(who, token, "balance", json!({ "who": account(who) }), 0)
            .await?;
        if got == Ok(json!(expected)) {
            return check(what, true, "");
        }
        if Instant::now() > deadline {
            return check(what, false, format!("{got:?}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The registered workers whose operators take contracts of `developer`, those that are not
/// gatekeepers (the devnet's miners) first.
pub(crate) async fn miners(
    client: &HttpClient,
    developer: &AccountId,
) -> anyhow::Result<Vec<AccountId>> {
    let election = client.election().await?;
    let gatekeepers: Vec<String> = election
        .map(|e| e.gatekeepers.into_iter().map(|g| g.worker).collect())
        .unwrap_or_default();
    let developer = to_hex(developer);
    let mut workers = client.workers().await?;
    workers.retain(|w| w.developers.as_ref().is_none_or(|d| d.contains(&developer)));
    anyhow::ensure!(
        !workers.is_empty(),
        "no registered worker takes contracts of {developer}"
    );
    workers.sort_by_key(|w| gatekeepers.contains(&w.worker));
    workers
        .iter()
        .map(|w| decode_hex(&w.worker).map_err(|e| anyhow::anyhow!("bad worker id: {e}")))
        .collect()
}

/// The contract demo on the devnet `file` describes, with contracts built from `workspace`.
pub(crate) async fn contracts(file: &DevnetFile, workspace: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    say(format!(
        "building the example contracts in {} (Debian's rustc 1.63, wasm32)",
        workspace.display()
    ));
    let modules = compile(workspace)?;
    let module = |name: &str| -> anyhow::Result<Vec<u8>> {
        let path = modules
            .iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .ok_or_else(|| anyhow::anyhow!("{name} was not built"))?;
        Ok(std::fs::read(path)?)
    };
    let client = connect(&file.nodes[0].rpc)?;
    let genesis = decode_hex(&file.genesis_hash)
        .map_err(|e| anyhow::anyhow!("devnet.json has a bad genesis hash: {e}"))?;
    let trust = veil_client::light::trust(&client, &genesis).await?;
    let chain = ChainIdentity {
        chain_id: trust.chain_id,
        genesis_hash: trust.genesis_hash,
    };
    let demo = Demo {
        client,
        trust,
        chain,
    };
    let faucet = read_json::<AccountKeyFile>(&file.faucet_key)?.private_key()?;
    let alice = PrivateKey::random(commonware_utils::sys_rng());
    let bob = PrivateKey::random(commonware_utils::sys_rng());
    fund(
        &demo.client,
        &faucet,
        &[alice.public_key(), bob.public_key()],
        10_000_000,
    )
    .await?;
    say(format!(
        "new accounts alice {} and bob {}, funded for fees",
        account(&alice),
        account(&bob)
    ));
    let miners = miners(&demo.client, &faucet.public_key()).await?;
    let miner = miners[0].clone();

    // The confidential token.
    say(format!("deploying the token on miner {}", to_hex(&miner)));
    let (token, info, _) = deploy_code(
        &demo.client,
        &demo.trust,
        &faucet,
        &module("veil_example_token.wasm")?,
        &miner,
        Some(json!({ "supply": 1_000_000 })),
        Duration::from_secs(60),
    )
    .await?;
    say(format!(
        "token {} is live; clients encrypt to its key {}",
        to_hex(token),
        info.public_key.map(to_hex).unwrap_or_default()
    ));
    let mut height = 0;
    for (from, to, amount, what) in [
        (&faucet, &alice, 1_000u128, "faucet to alice"),
        (&faucet, &bob, 500, "faucet to bob"),
        (&alice, &bob, 200, "alice to bob"),
    ] {
        let out = demo
            .call(
                from,
                &token,
                "transfer",
                json!({ "to": account(to), "amount": amount }),
            )
            .await?;
        check(
            &format!("encrypted transfer of {amount}, {what}, executed"),
            out.get("error").is_none() && out.get("failed").is_none(),
            &out,
        )?;
        height = out["height"].as_u64().unwrap_or(height);
    }
    say("the chain saw three commands of one bucket size each: not who, to whom or how much");
    for (name, who, expected) in [
        ("the faucet", &faucet, 998_500u128),
        ("alice", &alice, 800),
        ("bob", &bob, 700),
    ] {
        let got = demo
            .query(
                who,
                &token,
                "balance",
                json!({ "who": account(who) }),
                height,
            )
            .await?;
        check(
            &format!("{name} reads its own balance by query: {expected}"),
            got == Ok(json!(expected)),
            format!("{got:?}"),
        )?;
    }
    let snooped = demo
        .query(
            &bob,
            &token,
            "balance",
            json!({ "who": account(&alice) }),
            0,
        )
        .await?;
    check(
        "bob asking for alice's balance is refused by the contract",
        snooped
            .as_ref()
            .is_err_and(|e| e.contains("only to its owner")),
        format!("{snooped:?}"),
    )?;
    let overdraft = demo
        .call(
            &alice,
            &token,
            "transfer",
            json!({ "to": account(&bob), "amount": 5_000 }),
        )
        .await?;
    check(
        "alice cannot overdraw (the error reaches her alone, encrypted)",
        overdraft["error"]["message"] == "insufficient balance",
        &overdraft,
    )?;

    // Messages between contracts: a vault on another miner takes token payments and pays
    // 10% back; the token holds each payment until the vault answers.
    let vault_miner = miners.get(1).unwrap_or(&miner).clone();
    say(format!(
        "deploying a vault on miner {}: it takes token payments up to 400 and pays 10% back",
        to_hex(&vault_miner)
    ));
    let (vault, _, _) = deploy_code(
        &demo.client,
        &demo.trust,
        &faucet,
        &module("veil_example_vault.wasm")?,
        &vault_miner,
        Some(json!({ "token": to_hex(token), "refund_percent": 10, "limit": 400 })),
        Duration::from_secs(60),
    )
    .await?;
    let paid = demo
        .call(
            &alice,
            &token,
            "pay",
            json!({ "to": to_hex(vault), "amount": 300 }),
        )
        .await?;
    check(
        "alice pays the vault 300: the token holds it and messages the vault, sealed to its key",
        paid.get("error").is_none() && paid.get("failed").is_none(),
        &paid,
    )?;
    settle(
        &demo,
        &alice,
        &token,
        530,
        "the vault kept 270 and paid 30 back: alice has 530",
    )
    .await?;
    let deposit = demo
        .query(
            &alice,
            &vault,
            "deposit",
            json!({ "who": account(&alice) }),
            0,
        )
        .await?;
    check(
        "the vault, on the other miner, answers alice her deposit: 270",
        deposit == Ok(json!(270)),
        format!("{deposit:?}"),
    )?;
    let over = demo
        .call(
            &alice,
            &token,
            "pay",
            json!({ "to": to_hex(vault), "amount": 450 }),
        )
        .await?;
    check(
        "alice pays 450, over the vault's limit: the token sends it",
        over.get("error").is_none(),
        &over,
    )?;
    settle(
        &demo,
        &alice,
        &token,
        530,
        "the vault refused it and the token gave all 450 back",
    )
    .await?;

    // Recovery: the developer moves the token to the vault's miner, which rebuilds it from the
    // chain: its latest checkpoint (if its miner has posted one) and the log after it.
    if vault_miner != miner {
        say(format!(
            "moving the token to miner {}: it recovers the token from its checkpoint on chain and the log after it",
            to_hex(&vault_miner)
        ));
        let moved = assign(
            &demo.client,
            &demo.trust,
            &faucet,
            &token,
            &vault_miner,
            Duration::from_secs(120),
        )
        .await?;
        check(
            "the chain names the new miner, which holds the contract key",
            moved.miner == vault_miner && moved.granted,
            format!("{moved:?}"),
        )?;
        for (name, who, expected) in [("alice", &alice, 530u128), ("bob", &bob, 700)] {
            let got = recovered_query(&demo, who, &token, json!({ "who": account(who) })).await?;
            check(
                &format!("{name}'s balance, from the new miner: {expected}"),
                got == Ok(json!(expected)),
                format!("{got:?}"),
            )?;
        }
        let out = demo
            .call(
                &bob,
                &token,
                "transfer",
                json!({ "to": account(&alice), "amount": 100 }),
            )
            .await?;
        check(
            "bob's transfer of 100 to alice runs on the new miner",
            out.get("error").is_none() && out.get("failed").is_none(),
            &out,
        )?;
    }

    // The sealed-bid auction.
    let tip = demo.client.status().await?.height;
    let close = tip + 40;
    say(format!(
        "deploying a sealed-bid auction closing at height {close}"
    ));
    let (auction, _, _) = deploy_code(
        &demo.client,
        &demo.trust,
        &faucet,
        &module("veil_example_auction.wasm")?,
        &miner,
        Some(json!({ "close_height": close })),
        Duration::from_secs(60),
    )
    .await?;
    for (who, amount) in [(&alice, 300u128), (&bob, 450)] {
        let out = demo
            .call(who, &auction, "bid", json!({ "amount": amount }))
            .await?;
        check(
            &format!("a sealed bid of {amount} accepted"),
            out.get("error").is_none() && out.get("failed").is_none(),
            &out,
        )?;
    }
    let early = demo.query(&alice, &auction, "result", json!({}), 0).await?;
    check(
        "the result stays sealed before the close",
        early.as_ref().is_err_and(|e| e.contains("sealed until")),
        format!("{early:?}"),
    )?;
    let mine = demo.query(&alice, &auction, "my_bid", json!({}), 0).await?;
    check(
        "alice sees her own bid, and only hers",
        mine == Ok(json!(300)),
        format!("{mine:?}"),
    )?;
    say(format!("waiting for height {close}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while demo.client.status().await?.height < close {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the chain did not reach height {close}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let result = demo
        .query(&alice, &auction, "result", json!({}), close)
        .await?;
    check(
        "after the close, only the winner and the price come out: bob at 450",
        result == Ok(json!([account(&bob), 450])),
        format!("{result:?}"),
    )?;
    say(format!(
        "every check passed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// A balance query to a contract that may still be recovering on its new miner: asked again
/// until it answers (at most a minute).
async fn recovered_query(
    demo: &Demo,
    who: &PrivateKey,
    contract: &ContractId,
    args: Value,
) -> anyhow::Result<Result<Value, String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match demo.query(who, contract, "balance", args.clone(), 0).await {
            Err(e) if e.to_string().contains("recovering") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}
