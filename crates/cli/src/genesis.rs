//! `veil genesis`: a new network's spec and keys.
//!
//! It deals the validators' threshold key (trusted dealer), creates governance, faucet and
//! (for devnets) operator keys, takes the genesis node's public identity from its pRuntime's
//! `Bootstrap`, and writes `genesis.json` plus owner-only key files under `keys/`.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use clap::Args;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use veil_client::keys::{AccountKeyFile, ValidatorKeyFile, write_secret_json};
use veil_node::genesis::{BalanceSpec, GenesisWorkerSpec, generate};
use veil_primitives::{Measurement, Params, PrivateKey, RegistryParams, StakingParams, to_hex};
use veil_pruntime_api::PrivateApiClient as _;

use crate::rpc::{connect, runtime};

#[derive(Args)]
/// `veil genesis` arguments.
pub(crate) struct GenesisArgs {
    /// Output directory (genesis.json and keys/).
    #[arg(long)]
    out: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Chain id.
    #[arg(long, default_value_t = 1)]
    chain_id: u64,
    /// Validator p2p addresses (`host:port`, one per validator); defaults to free loopback ports.
    #[arg(long, value_delimiter = ',')]
    p2p: Vec<SocketAddr>,
    /// Faucet balance.
    #[arg(long, default_value_t = 1_000_000_000_000_000_000)]
    faucet_balance: u128,
    /// Accept dev (simulated, INSECURE) attestation: creates the dev RA service key
    /// (`keys/ra-service.json`) and names it in genesis. For development networks only.
    #[arg(long)]
    allow_insecure: bool,
    /// The genesis node: a pRuntime's private API. Its `Bootstrap` creates the genesis identity
    /// and the first root key (sealed), and the public identity goes into the spec.
    #[arg(long, requires = "genesis_endpoint")]
    genesis_pruntime: Option<String>,
    /// The genesis pRuntime's public API URL, written to the spec: elected gatekeepers' hosts
    /// send their key requests there.
    #[arg(long)]
    genesis_endpoint: Option<String>,
    /// Code allowed to register as a worker, repeatable: `sgx:MRENCLAVE`,
    /// `sgx-signer:MRSIGNER:ISVPRODID:MIN_ISVSVN`, `tdx:DIGEST` or `dev:HASH` (a dev pRuntime
    /// build, shown by `pruntime --print-measurement`), hashes in hex.
    #[arg(long = "allow-measurement", value_parser = parse_measurement)]
    allow_measurements: Vec<Measurement>,
}

/// Parses an allowlist entry (see `--allow-measurement`).
fn parse_measurement(s: &str) -> Result<Measurement, String> {
    use Measurement;
    let hash = |h: &str| -> Result<Vec<u8>, String> {
        let bytes = veil_primitives::from_hex(h).map_err(|e| format!("{h}: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!("{h}: expected 32 bytes, got {}", bytes.len()));
        }
        Ok(bytes)
    };
    let number = |n: &str| n.parse::<u16>().map_err(|e| format!("{n}: {e}"));
    match s.split(':').collect::<Vec<_>>().as_slice() {
        ["sgx", h] => Ok(Measurement::Sgx(hash(h)?)),
        ["tdx", h] => Ok(Measurement::Tdx(hash(h)?)),
        ["dev", h] => Ok(Measurement::Dev(hash(h)?)),
        ["sgx-signer", h, prod, svn] => Ok(Measurement::SgxSigner {
            mr_signer: hash(h)?,
            prod_id: number(prod)?,
            min_svn: number(svn)?,
        }),
        _ => Err(format!(
            "{s}: expected sgx:HASH, sgx-signer:MRSIGNER:PRODID:MINSVN, tdx:HASH or dev:HASH"
        )),
    }
}

/// Registration and staking settings for a new genesis.
#[derive(Default)]
pub(crate) struct GenesisOptions {
    /// Staking and election parameters (defaults if `None`).
    pub(crate) staking: Option<StakingParams>,
    /// The genesis node, from its pRuntime's `Bootstrap`.
    pub(crate) genesis_worker: Option<GenesisWorkerSpec>,
    /// Allow dev (INSECURE) attestation: creates the dev RA service key.
    pub(crate) allow_insecure: bool,
    /// Code allowed to register.
    pub(crate) allowlist: Vec<Measurement>,
    /// Funded operator accounts to create (`keys/operator-N.json`).
    pub(crate) operators: usize,
    /// The registration policy (defaults if `None`).
    pub(crate) params: Option<RegistryParams>,
}

/// What governance and each devnet operator account start with: enough for years of
/// heartbeats.
pub(crate) const OPERATOR_BALANCE: u128 = 1_000_000_000_000_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Free loopback TCP ports, distinct from each other.
pub(crate) fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Writes a new network into `out`: `genesis.json` and the key files under `keys/`.
pub(crate) fn write_genesis(
    out: &Path,
    validators: usize,
    chain_id: u64,
    p2p: Vec<SocketAddr>,
    faucet_balance: u128,
    registry: GenesisOptions,
) -> anyhow::Result<()> {
    anyhow::ensure!(validators >= 1, "at least one validator is needed");
    let p2p = if p2p.is_empty() {
        free_ports(validators)?
            .into_iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect()
    } else {
        anyhow::ensure!(
            p2p.len() == validators,
            "--p2p lists {} addresses for {validators} validators",
            p2p.len()
        );
        p2p
    };
    let mut generated = generate(
        &mut commonware_utils::sys_rng(),
        chain_id,
        now_ms(),
        &p2p,
        faucet_balance,
        Params::default(),
    )?;
    std::fs::create_dir_all(out)?;
    let keys = out.join("keys");
    if let Some(p) = registry.staking {
        generated.spec.staking = p;
    }
    generated.spec.genesis_worker = registry.genesis_worker;
    let spec = &mut generated.spec.registry;
    if let Some(p) = registry.params {
        spec.params = p;
    }
    spec.params.allowlist.extend(registry.allowlist);
    if registry.allow_insecure {
        let ra = PrivateKey::random(commonware_utils::sys_rng());
        write_secret_json(&keys.join("ra-service.json"), &AccountKeyFile::new(&ra))?;
        spec.allow_insecure = true;
        spec.dev_attestation_key = Some(to_hex(ra.public_key()));
    }
    // Governance pays fees like any account.
    generated.spec.balances.push(BalanceSpec {
        account: generated.spec.governance.clone(),
        amount: OPERATOR_BALANCE,
    });
    for i in 0..registry.operators {
        let op = PrivateKey::random(commonware_utils::sys_rng());
        write_secret_json(
            &keys.join(format!("operator-{i}.json")),
            &AccountKeyFile::new(&op),
        )?;
        generated.spec.balances.push(BalanceSpec {
            account: to_hex(op.public_key()),
            amount: OPERATOR_BALANCE,
        });
    }
    for (i, (key, share)) in generated.validators.iter().enumerate() {
        write_secret_json(
            &keys.join(format!("validator-{i}.json")),
            &ValidatorKeyFile::new(key, share),
        )?;
    }
    write_secret_json(
        &keys.join("governance.json"),
        &AccountKeyFile::new(&generated.governance),
    )?;
    write_secret_json(
        &keys.join("faucet.json"),
        &AccountKeyFile::new(&generated.faucet),
    )?;
    let spec = serde_json::to_string_pretty(&generated.spec)?;
    std::fs::write(out.join("genesis.json"), spec)?;
    Ok(())
}

/// `veil genesis`.
pub(crate) fn genesis(args: GenesisArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.out.join("genesis.json").exists(),
        "{} already holds a genesis.json",
        args.out.display()
    );
    let allowlist = args.allow_measurements;
    let genesis_worker = match &args.genesis_pruntime {
        Some(url) => {
            let pruntime = connect(url)?;
            let view = runtime()?
                .block_on(pruntime.bootstrap())
                .map_err(|e| anyhow::anyhow!("pRuntime at {url} would not bootstrap: {e}"))?;
            println!(
                "genesis node {} ({})",
                view.genesis_key,
                if view.created {
                    "bootstrapped now"
                } else {
                    "already bootstrapped"
                }
            );
            let endpoint = args.genesis_endpoint.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "--genesis-pruntime needs --genesis-endpoint: the genesis pRuntime's public \
                     API URL, where elected gatekeepers ask for the root key"
                )
            })?;
            Some(GenesisWorkerSpec {
                signing_key: view.genesis_key,
                ecdh_key: view.genesis_ecdh_key,
                endpoint,
                key_check: view.key_check,
            })
        }
        None => None,
    };
    write_genesis(
        &args.out,
        args.validators,
        args.chain_id,
        args.p2p,
        args.faucet_balance,
        GenesisOptions {
            allow_insecure: args.allow_insecure,
            allowlist,
            genesis_worker,
            ..Default::default()
        },
    )?;
    println!("wrote {}", args.out.join("genesis.json").display());
    println!(
        "validator keys, governance and faucet keys in {}",
        args.out.join("keys").display()
    );
    Ok(())
}
