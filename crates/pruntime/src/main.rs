//! The `pruntime` binary: the program that runs inside the enclave.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, ValueEnum};
use tracing::info;
use veil_pruntime::{
    api::Api,
    runtime::Runtime,
    tee::{DevTee, GramineSgx, TeeBackend},
};

#[derive(Clone, Copy, ValueEnum)]
enum Tee {
    /// Simulated TEE: INSECURE, for development only.
    Dev,
    /// SGX under Gramine with DCAP attestation.
    GramineSgx,
}

#[derive(Parser)]
#[command(
    name = "pruntime",
    version,
    about = "Veil pRuntime: the enclave runtime"
)]
struct Args {
    /// Where sealed state lives.
    #[arg(long, default_value = "pruntime-data")]
    data_dir: PathBuf,
    /// TEE backend.
    #[arg(long, value_enum, default_value = "dev")]
    tee: Tee,
    /// Dev mode sealing key file (created if missing).
    #[arg(long)]
    dev_sealing_key: Option<PathBuf>,
    /// Gramine attestation directory.
    #[arg(long, default_value = "/dev/attestation")]
    attestation_dir: PathBuf,
    /// Private API (for the host); keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8000")]
    private_rpc: SocketAddr,
    /// Public API (for users).
    #[arg(long, default_value = "127.0.0.1:8001")]
    public_rpc: SocketAddr,
    /// Print this build's dev-TEE measurement (hex SHA-256 of the binary, what genesis
    /// allowlists with `veil genesis --allow-measurement`) and exit.
    #[arg(long)]
    print_measurement: bool,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,jsonrpsee=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.print_measurement {
        use sha2::Digest as _;
        let exe = std::env::current_exe()?;
        let bytes = std::fs::read(&exe)?;
        println!("{}", veil_primitives::to_hex(sha2::Sha256::digest(&bytes)));
        return Ok(());
    }
    let tee: Box<dyn TeeBackend> = match args.tee {
        Tee::Dev => {
            let key = args
                .dev_sealing_key
                .unwrap_or_else(|| args.data_dir.join("dev-sealing-key"));
            tracing::warn!("dev TEE: INSECURE, sealing key from {}", key.display());
            Box::new(DevTee::new(&key)?)
        }
        Tee::GramineSgx => Box::new(GramineSgx::new(&args.attestation_dir)?),
    };
    let (runtime, created) = Runtime::open(tee, &args.data_dir)?;
    let info = runtime.info();
    info!(
        worker = %info.public_key,
        created,
        synced_height = info.synced_height,
        insecure = info.insecure,
        "pRuntime identity ready"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ((host, host_handle), (public, public_handle)) = Api::new(runtime)?
            .serve(args.private_rpc, args.public_rpc)
            .await?;
        info!(%host, %public, "pRuntime APIs listening (private, public)");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = host_handle.stop();
        let _ = public_handle.stop();
        info!("pRuntime stopped");
        Ok(())
    })
}
