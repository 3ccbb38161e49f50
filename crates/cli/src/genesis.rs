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
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use veil_client::describe;
use veil_client::keys::{AccountKeyFile, ValidatorKeyFile, write_secret_json};
use veil_node::genesis::{BalanceSpec, Generated, Genesis, GenesisWorkerSpec, generate};
use veil_primitives::{Measurement, Params, PrivateKey, RegistryParams, StakingParams, to_hex};
use veil_pruntime_api::{BootstrapRequest, PrivateApiClient as _};

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
    /// Also let workers with dev attestation stand as gatekeepers, which hold the root key:
    /// their hosts can read it. Devnets only.
    #[arg(long, requires = "allow_insecure")]
    allow_insecure_gatekeepers: bool,
    /// The genesis node: a pRuntime's private API. Its `Bootstrap` creates the genesis identity
    /// and the first root key (sealed), and the public identity goes into the spec.
    #[arg(long, requires = "genesis_endpoint")]
    genesis_pruntime: Option<String>,
    /// The genesis pRuntime's public API URL, written to the spec: elected gatekeepers' hosts
    /// send their key requests there.
    #[arg(long)]
    genesis_endpoint: Option<String>,
    /// A PCCS (base URL) to fetch the DCAP collateral of the genesis node's quote from; needed
    /// when the genesis pRuntime runs in a real TEE.
    #[arg(long)]
    genesis_pccs: Option<String>,
    /// Code allowed to register as a worker, repeatable: `sgx:MRENCLAVE`,
    /// `sgx-signer:MRSIGNER:ISVPRODID:MIN_ISVSVN`, `tdx:DIGEST` or `dev:HASH` (a dev pRuntime
    /// build, shown by `pruntime --print-measurement`), hashes in hex.
    #[arg(long = "allow-measurement", value_parser = parse_measurement)]
    allow_measurements: Vec<Measurement>,
    /// Lowest Intel TCB evaluation (`tcbEvaluationDataNumber`) accepted in DCAP collateral:
    /// set it to the evaluation of Intel's latest TCB recovery, so that older collateral,
    /// still valid but calling a since-vulnerable platform up to date, is refused.
    #[arg(long, default_value_t = 0)]
    min_tcb_evaluation: u32,
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
    /// Where to fetch DCAP collateral for the genesis node's quote.
    pub(crate) genesis_pccs: Option<String>,
    /// Allow dev (INSECURE) attestation: creates the dev RA service key.
    pub(crate) allow_insecure: bool,
    /// Let dev-attested workers be gatekeepers too (needs `allow_insecure`).
    pub(crate) allow_insecure_gatekeepers: bool,
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

/// Free loopback TCP ports, distinct from each other, below the kernel's ephemeral range.
///
/// `bind(0)` hands out ports from the ephemeral range, which outgoing connections draw their
/// source ports from too: on a busy loopback (a devnet is hundreds of connections) a port
/// picked there and released can be taken before the validator binds it, which CI saw as
/// "Address already in use". Below that range only listeners take ports. The run starts at an
/// offset drawn from the process id and the clock, so devnets started together rarely meet.
pub(crate) fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let start = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    // Ports handed out earlier in this process are free again (nothing listens yet) but
    // promised to someone: never hand one out twice (a devnet asks several times, for p2p,
    // RPC and worker ports, before anything binds).
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::with_capacity(n);
    for i in 0..SPAN {
        if held.len() == n {
            break;
        }
        let port = (LOW + start.wrapping_add(i) % SPAN) as u16;
        if given.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
        }
    }
    anyhow::ensure!(
        held.len() == n,
        "fewer than {n} free loopback ports between {LOW} and {}",
        LOW + SPAN
    );
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    given.extend(&ports);
    Ok(ports)
}

/// Deals a new network: validator keys and their threshold shares of the group key,
/// governance and faucet keys. Nothing is written yet: the genesis node is bootstrapped for
/// this chain (its id and group key) before the spec is.
pub(crate) fn deal(
    validators: usize,
    chain_id: u64,
    p2p: Vec<SocketAddr>,
    faucet_balance: u128,
) -> anyhow::Result<Generated> {
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
    generate(
        &mut commonware_utils::sys_rng(),
        chain_id,
        now_ms(),
        &p2p,
        faucet_balance,
        Params::default(),
    )
}

/// The chain a dealt network's genesis node must be bound to: its id and group key.
pub(crate) fn chain_binding(generated: &Generated) -> anyhow::Result<BootstrapRequest> {
    let genesis = Genesis::from_spec(&generated.spec)?;
    Ok(BootstrapRequest {
        chain_id: generated.spec.chain_id,
        group_key: to_hex(genesis.group_key().encode()),
    })
}

/// Takes the genesis role in the pRuntime at `client` for the dealt chain; returns what the
/// spec names: its public identity, `endpoint` and the root key's check.
pub(crate) async fn bootstrap_genesis_node(
    client: &jsonrpsee::http_client::HttpClient,
    generated: &Generated,
    endpoint: String,
) -> anyhow::Result<(GenesisWorkerSpec, bool)> {
    let view = client
        .bootstrap(chain_binding(generated)?)
        .await
        .map_err(|e| anyhow::anyhow!("the pRuntime would not bootstrap: {}", describe(&e)))?;
    Ok((
        GenesisWorkerSpec {
            signing_key: view.genesis_key,
            ecdh_key: view.genesis_ecdh_key,
            endpoint,
            key_check: view.key_check,
            evidence: view.evidence,
            collateral: None,
        },
        view.created,
    ))
}

/// Completes the genesis node's evidence: dev evidence is signed with the dev RA key (the
/// chain trusts no other signer for it), DCAP evidence gets its collateral from `pccs`.
fn complete_genesis_evidence(
    worker: &mut GenesisWorkerSpec,
    ra: Option<&PrivateKey>,
    pccs: Option<&str>,
) -> anyhow::Result<()> {
    use commonware_codec::{DecodeExt as _, Encode as _};
    use veil_attestation::{DevQuote, Evidence, TeeKind, dev};
    let evidence = Evidence::decode(veil_primitives::from_hex(&worker.evidence)?)
        .map_err(|e| anyhow::anyhow!("the genesis pRuntime's evidence: {e}"))?;
    if evidence.kind == TeeKind::Dev {
        let ra = ra.ok_or_else(|| {
            anyhow::anyhow!(
                "the genesis pRuntime runs in insecure dev mode: a chain accepts it only with                  --allow-insecure and --allow-insecure-gatekeepers (it holds the root key)"
            )
        })?;
        let quote = DevQuote::decode(evidence.quote)
            .map_err(|e| anyhow::anyhow!("the genesis pRuntime's dev quote: {e}"))?;
        let signed = Evidence {
            kind: TeeKind::Dev,
            quote: dev::sign(ra, quote).encode().to_vec(),
        };
        worker.evidence = to_hex(signed.encode());
        return Ok(());
    }
    let pccs = pccs.ok_or_else(|| {
        anyhow::anyhow!("the genesis node's DCAP quote needs collateral: give --genesis-pccs URL")
    })?;
    let client = veil_host::pccs::client()?;
    let collateral = runtime()?.block_on(veil_host::pccs::fetch_collateral(
        &client,
        pccs,
        &evidence.quote,
    ))?;
    worker.collateral = Some(to_hex(collateral));
    Ok(())
}

/// Writes a dealt network into `out`: `genesis.json` and the key files under `keys/`. The spec
/// is checked first, so a spec a validator would refuse leaves nothing behind.
pub(crate) fn write_genesis(
    out: &Path,
    mut generated: Generated,
    registry: GenesisOptions,
) -> anyhow::Result<()> {
    let keys = out.join("keys");
    // Key files to write once the spec is known to be good.
    let mut secrets: Vec<(PathBuf, serde_json::Value)> = Vec::new();
    if let Some(p) = registry.staking {
        generated.spec.staking = p;
    }
    let spec = &mut generated.spec.registry;
    if let Some(p) = registry.params {
        spec.params = p;
    }
    spec.params.allowlist.extend(registry.allowlist);
    let mut ra = None;
    if registry.allow_insecure {
        let key = PrivateKey::random(commonware_utils::sys_rng());
        secrets.push((
            keys.join("ra-service.json"),
            serde_json::to_value(AccountKeyFile::new(&key))?,
        ));
        spec.allow_insecure = true;
        spec.allow_insecure_gatekeepers = registry.allow_insecure_gatekeepers;
        spec.dev_attestation_key = Some(to_hex(key.public_key()));
        ra = Some(key);
    }
    if let Some(mut worker) = registry.genesis_worker {
        let insecure_ok = registry.allow_insecure_gatekeepers;
        complete_genesis_evidence(
            &mut worker,
            ra.as_ref().filter(|_| insecure_ok),
            registry.genesis_pccs.as_deref(),
        )?;
        generated.spec.genesis_worker = Some(worker);
    }
    // Governance pays fees like any account.
    generated.spec.balances.push(BalanceSpec {
        account: generated.spec.governance.clone(),
        amount: OPERATOR_BALANCE,
    });
    for i in 0..registry.operators {
        let op = PrivateKey::random(commonware_utils::sys_rng());
        secrets.push((
            keys.join(format!("operator-{i}.json")),
            serde_json::to_value(AccountKeyFile::new(&op))?,
        ));
        generated.spec.balances.push(BalanceSpec {
            account: to_hex(op.public_key()),
            amount: OPERATOR_BALANCE,
        });
    }
    for (i, (key, share)) in generated.validators.iter().enumerate() {
        secrets.push((
            keys.join(format!("validator-{i}.json")),
            serde_json::to_value(ValidatorKeyFile::new(key, share))?,
        ));
    }
    secrets.push((
        keys.join("governance.json"),
        serde_json::to_value(AccountKeyFile::new(&generated.governance))?,
    ));
    secrets.push((
        keys.join("faucet.json"),
        serde_json::to_value(AccountKeyFile::new(&generated.faucet))?,
    ));
    // Write nothing a validator would refuse to start from (e.g. a genesis node whose code is
    // not on the allowlist).
    veil_node::genesis::Genesis::from_spec(&generated.spec)
        .map_err(|e| anyhow::anyhow!("the genesis spec would be refused: {e:#}"))?;
    std::fs::create_dir_all(out)?;
    for (path, secret) in &secrets {
        write_secret_json(path, secret)?;
    }
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
    let generated = deal(
        args.validators,
        args.chain_id,
        args.p2p,
        args.faucet_balance,
    )?;
    let genesis_worker = match &args.genesis_pruntime {
        Some(url) => {
            let endpoint = args.genesis_endpoint.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "--genesis-pruntime needs --genesis-endpoint: the genesis pRuntime's public \
                     API URL, where elected gatekeepers ask for the root key"
                )
            })?;
            let client = connect(url)?;
            let (spec, created) = runtime()?
                .block_on(bootstrap_genesis_node(&client, &generated, endpoint))
                .map_err(|e| anyhow::anyhow!("{url}: {e:#}"))?;
            println!(
                "genesis node {} ({})",
                spec.signing_key,
                if created {
                    "bootstrapped now"
                } else {
                    "already bootstrapped"
                }
            );
            Some(spec)
        }
        None => None,
    };
    write_genesis(
        &args.out,
        generated,
        GenesisOptions {
            allow_insecure: args.allow_insecure,
            allow_insecure_gatekeepers: args.allow_insecure_gatekeepers,
            allowlist: args.allow_measurements,
            params: Some(RegistryParams {
                min_tcb_evaluation: args.min_tcb_evaluation,
                ..Default::default()
            }),
            genesis_worker,
            genesis_pccs: args.genesis_pccs,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice() {
        // A devnet asks for p2p ports, then RPC and worker ports, before anything binds: a
        // port given twice made one validator fail to start now and then.
        // Forty rounds of fifty: from random starts in a span of 12,000, some would overlap.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..40 {
            for port in free_ports(50).unwrap() {
                assert!(seen.insert(port), "port {port} handed out twice");
            }
        }
    }

    #[test]
    fn a_spec_validators_would_refuse_writes_no_key() {
        let out = std::env::temp_dir().join(format!("veil-genesis-refused-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let generated = deal(1, 1, Vec::new(), 1_000).unwrap();
        let refused = write_genesis(
            &out,
            generated,
            GenesisOptions {
                allow_insecure: true,
                operators: 2,
                params: Some(RegistryParams {
                    heartbeat_blocks: 0,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            refused.to_string().contains("would be refused"),
            "{refused:#}"
        );
        assert!(!out.exists(), "nothing written, no key left behind");
        // A good spec writes the keys and genesis.json.
        let generated = deal(1, 1, Vec::new(), 1_000).unwrap();
        write_genesis(&out, generated, GenesisOptions::default()).unwrap();
        assert!(out.join("genesis.json").exists() && out.join("keys/faucet.json").exists());
        std::fs::remove_dir_all(&out).unwrap();
    }
}
