//! Encrypted commands from a client: sealing a command to a contract's key for one
//! transaction, finding the miner's result in finalized blocks, and opening it.
//!
//! The envelope's associated data binds chain, contract, code, sender, nonce and expiry
//! ([command_aad]), so the ciphertext is good for this one transaction: the node, the host and
//! the chain see its bucket size and nothing else. The reply key stays with the client; only it
//! and the contract's pRuntime can read the result.

use std::time::{Duration, Instant};

use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use jsonrpsee::http_client::HttpClient;
use veil_crypto::envelope;
pub use veil_crypto::envelope::ReplyKey;
use veil_light::Trust;
use veil_primitives::{
    AccountId, Call, ChainIdentity, Destination, Height, Message, Origin, PrivateKey, Transaction,
    contract::{
        CONTRACT_RESULTS_TOPIC, CommandMessage, CommandResult, ContractCall, ContractId,
        ContractInfo, ContractResults, MAX_ENVELOPE_BYTES, Reply, command_aad, result_aad,
    },
    namespace, to_hex,
};
use veil_rpc_api::{TxStatus, VeilApiClient as _};

use crate::error::rpc;

/// Largest command input a client seals (the envelope's largest bucket, less its framing).
pub const MAX_INPUT_BYTES: usize = MAX_ENVELOPE_BYTES - 4 - 16;

/// A command sealed for one transaction (sender, nonce, expiry), with the key for its reply.
pub struct Sealed {
    /// The contracts call to send.
    pub call: ContractCall,
    /// Opens the result.
    pub reply_key: ReplyKey,
}

/// Seals `input` for `contract` (whose record the caller read by proof), to be sent by
/// `sender` with `nonce` and `expiry`, reserving `fuel`.
#[allow(clippy::too_many_arguments)]
pub fn seal(
    chain: &ChainIdentity,
    contract: &ContractId,
    info: &ContractInfo,
    sender: &AccountId,
    nonce: u64,
    expiry: Height,
    input: &[u8],
    fuel: u64,
) -> anyhow::Result<Sealed> {
    let public_key = info.public_key.ok_or_else(|| {
        anyhow::anyhow!(
            "contract {} has no key yet: the gatekeepers publish it a few blocks after \
             instantiation",
            to_hex(contract)
        )
    })?;
    let aad = command_aad(chain, contract, &info.code, sender, nonce, expiry);
    let (envelope, reply_key) = envelope::seal(
        &mut rand::rng(),
        &public_key,
        namespace::CONTRACT_COMMAND,
        &aad,
        input,
        MAX_INPUT_BYTES,
    )?;
    Ok(Sealed {
        call: ContractCall::Command {
            contract: *contract,
            fuel,
            envelope,
        },
        reply_key,
    })
}

/// Every result `miner` posted for `contract` among `messages` (results from anyone else are
/// ignored; a forged one would not open anyway).
pub fn results(
    messages: &[Message],
    miner: &AccountId,
    contract: &ContractId,
) -> Vec<CommandResult> {
    messages
        .iter()
        .filter(|m| {
            m.origin == Origin::Worker(miner.clone())
                && m.destination == Destination::Topic(CONTRACT_RESULTS_TOPIC.to_vec())
        })
        .filter_map(|m| ContractResults::decode(m.payload.clone()).ok())
        .filter(|r| &r.contract == contract)
        .flat_map(|r| r.results)
        .collect()
}

/// The result of (`sender`, `nonce`)'s command to `contract` among `messages`, if `miner` sent
/// it.
pub fn find_result(
    messages: &[Message],
    miner: &AccountId,
    contract: &ContractId,
    sender: &AccountId,
    nonce: u64,
) -> Option<CommandResult> {
    results(messages, miner, contract)
        .into_iter()
        .find(|r| &r.sender == sender && r.nonce == nonce)
}

/// Opens a result with the command's reply key.
pub fn open(
    reply_key: &ReplyKey,
    chain: &ChainIdentity,
    contract: &ContractId,
    result: &CommandResult,
) -> anyhow::Result<Reply> {
    anyhow::ensure!(
        !result.reply.is_empty(),
        "the miner could not open the command: it was sealed for another contract, chain, code, \
         sender, nonce or expiry, or tampered with; it changed nothing"
    );
    let aad = result_aad(chain, contract, &result.sender, result.nonce);
    let plain = reply_key
        .open(&aad, &result.reply)
        .map_err(|e| anyhow::anyhow!("the result does not open: {e}"))?;
    Reply::decode(plain.to_vec()).map_err(|e| anyhow::anyhow!("the result does not decode: {e}"))
}

/// A command's outcome as its sender sees it.
#[derive(Debug)]
pub struct Executed {
    /// The transaction's hash.
    pub hash: String,
    /// Height of the block that carried (and executed) the command.
    pub height: Height,
    /// The decrypted reply.
    pub reply: Reply,
    /// What the node said about the transaction that the light client disproved (a failure,
    /// or a block that does not carry it), if anything: that node is not to be relied on.
    pub misreported: Option<String>,
}

/// How a command is sent.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Fuel reserved (and paid for).
    pub fuel: u64,
    /// Blocks the transaction stays valid.
    pub ttl: u64,
    /// How long to wait for the result.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fuel: 10_000_000,
            ttl: 50,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Seals `input` for `contract`, sends it from `key`, waits for the transaction to be
/// finalized and for the miner's result, and opens the result. Everything the node says is
/// checked by the light client under `trust`.
pub async fn call(
    client: &HttpClient,
    trust: &Trust,
    key: &PrivateKey,
    contract: &ContractId,
    input: &[u8],
    options: Options,
) -> anyhow::Result<Executed> {
    let Options { fuel, ttl, timeout } = options;
    let deadline = Instant::now() + timeout;
    let status = client.status().await.map_err(rpc)?;
    // Finalized before the command exists: no block up to here can hold it.
    let (before, info) = crate::contract::contract_proved(client, trust, contract, 0).await?;
    let info = info.ok_or_else(|| anyhow::anyhow!("no contract {} on chain", to_hex(contract)))?;
    let chain = ChainIdentity {
        chain_id: trust.chain_id,
        genesis_hash: trust.genesis_hash,
    };
    let sender = key.public_key();
    let nonce = client
        .get_account(to_hex(&sender))
        .await
        .map_err(rpc)?
        .nonce;
    let expiry = status.height + ttl;
    let sealed = seal(&chain, contract, &info, &sender, nonce, expiry, input, fuel)?;
    let tx = Transaction {
        sender: sender.clone(),
        nonce,
        expiry,
        call: Call::Contract(sealed.call),
    }
    .sign(key, &chain);
    let hash = client
        .submit_transaction(to_hex(tx.encode()))
        .await
        .map_err(|e| anyhow::anyhow!("command refused: {}", crate::describe(&e)))?;
    let view = crate::node::wait_finalized(
        client,
        &hash,
        deadline.saturating_duration_since(Instant::now()),
    )
    .await?;
    // The node's word on the outcome is checked: the block it names must route the command,
    // or the client looks for it in every block from before its submission to its expiry. A
    // node claiming that a command which ran had failed would have its user send it again.
    let command = (&sender, contract, nonce);
    let mut misreported = None;
    let named = match view.height {
        // Only a block that can hold it: one named outside (a lie) would be waited for.
        Some(height) if height > before && height <= expiry => {
            match scan_routed(client, trust, height, height, command, deadline).await? {
                Scan::Routed(height) => Some(height),
                Scan::NotRouted => {
                    misreported = Some(format!("it named block {height}, which does not carry it"));
                    None
                }
                // Not proved in time: no accusation; the wider scan decides.
                Scan::Unknown(_) => None,
            }
        }
        Some(height) => {
            misreported = Some(format!(
                "it named block {height}, which cannot carry it (sent after block {before}, \
                 expiring at {expiry})"
            ));
            None
        }
        None => None,
    };
    let reported = || {
        view.error
            .clone()
            .unwrap_or_else(|| "no reason given".into())
    };
    let height = match named {
        Some(height) => height,
        None => match scan_routed(client, trust, before + 1, expiry, command, deadline).await? {
            Scan::Routed(height) => {
                if view.height != Some(height) {
                    misreported.get_or_insert_with(|| "it named no block carrying it".into());
                }
                height
            }
            Scan::NotRouted if view.success == Some(true) => anyhow::bail!(
                "command transaction {hash} did not run, although the node reports it did: no \
                 finalized block up to its expiry (height {expiry}) routes it, checked by the \
                 light client"
            ),
            Scan::NotRouted => anyhow::bail!(
                "command transaction {hash} failed: {} (no finalized block up to its expiry, \
                 height {expiry}, routes it, checked by the light client)",
                reported()
            ),
            Scan::Unknown(last) => anyhow::bail!(
                "the node reports command transaction {hash} {}, which it does not prove: no \
                 block up to height {last} routes it, but it may still run until height \
                 {expiry}; check (`veil account` shows the nonce) before sending it again",
                match view.success {
                    Some(true) => "included".to_string(),
                    _ => format!("failed: {}", reported()),
                }
            ),
        },
    };
    let result = wait_result(
        client,
        trust,
        &info.miner,
        contract,
        &sender,
        nonce,
        height,
        deadline,
    )
    .await?;
    let reply = open(&sealed.reply_key, &chain, contract, &result)?;
    // A command that ran was a transaction that succeeded.
    if view.success == Some(false) {
        let said = "it reported the transaction failed".to_string();
        misreported = Some(match misreported {
            Some(also) => format!("{said}; {also}"),
            None => said,
        });
    }
    Ok(Executed {
        hash,
        height,
        reply,
        misreported,
    })
}

/// Whether `messages` route (`sender`, `nonce`)'s command to `contract`: the chain's record
/// that the command transaction was included and the contract will run it.
pub fn find_command(
    messages: &[Message],
    sender: &AccountId,
    contract: &ContractId,
    nonce: u64,
) -> bool {
    messages.iter().any(|m| {
        m.origin == Origin::Account(sender.clone())
            && m.destination == Destination::Contract(*contract)
            && CommandMessage::decode(m.payload.clone()).is_ok_and(|c| c.nonce == nonce)
    })
}

/// Where a command stands after scanning finalized blocks for it.
enum Scan {
    /// The block at this height routes it.
    Routed(Height),
    /// No block up to its expiry does: it never runs.
    NotRouted,
    /// None up to this height does, and the deadline passed before its expiry.
    Unknown(Height),
}

/// Looks for (`sender`, `nonce`)'s command to `contract` in the finalized blocks `from..=expiry`
/// (checked by the light client), until `deadline`. The node proves a batch up to a block with
/// its own certificate, which may come a few blocks later: it is asked again meanwhile.
async fn scan_routed(
    client: &HttpClient,
    trust: &Trust,
    from: Height,
    expiry: Height,
    (sender, contract, nonce): (&AccountId, &ContractId, u64),
    deadline: Instant,
) -> anyhow::Result<Scan> {
    let mut next = from;
    loop {
        for (height, messages) in crate::light::messages(client, trust, next, 100).await? {
            if height > expiry {
                return Ok(Scan::NotRouted);
            }
            if find_command(&messages, sender, contract, nonce) {
                return Ok(Scan::Routed(height));
            }
            next = height + 1;
        }
        if next > expiry {
            return Ok(Scan::NotRouted);
        }
        if Instant::now() >= deadline {
            return Ok(Scan::Unknown(next.saturating_sub(1)));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Scans finalized blocks from `from` (checked by the light client) for the result of
/// (`sender`, `nonce`)'s command, until `deadline`: from `miner`, or from any miner the
/// contract moved to meanwhile (its next miner replays the command and answers it; only a
/// holder of the contract key can seal an answer the reply key opens).
#[allow(clippy::too_many_arguments)]
pub async fn wait_result(
    client: &HttpClient,
    trust: &Trust,
    miner: &AccountId,
    contract: &ContractId,
    sender: &AccountId,
    nonce: u64,
    from: Height,
    deadline: Instant,
) -> anyhow::Result<CommandResult> {
    let mut miners = vec![miner.clone()];
    let mut next = from;
    loop {
        for (height, messages) in crate::light::messages(client, trust, next, 100).await? {
            for m in &miners {
                if let Some(r) = find_result(&messages, m, contract, sender, nonce) {
                    return Ok(r);
                }
            }
            next = height + 1;
        }
        if Instant::now() >= deadline {
            let tip = client.status().await.map_err(rpc)?.height;
            anyhow::bail!(
                "no result from miner {} for the command (nonce {nonce}) by height {tip}: is \
                 the miner's host running? `veil workers` shows its status",
                miners.iter().map(to_hex).collect::<Vec<_>>().join(" or ")
            );
        }
        if let Some(info) = crate::contract::contract(client, trust, contract, 0).await?
            && !miners.contains(&info.miner)
        {
            miners.push(info.miner);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a transaction `hash` is finalized (for callers polling without [call]).
pub async fn finalized(client: &HttpClient, hash: &str) -> anyhow::Result<bool> {
    Ok(client
        .get_transaction(hash.to_string())
        .await
        .map_err(rpc)?
        .status
        == TxStatus::Finalized)
}
