//! `veil ra-service`: the dev remote attestation service.
//!
//! **Dev mode only.** It plays the whitepaper's attestation service for machines without a TEE:
//! a host sends it pRuntime's dev evidence and gets back the quote signed by the dev attestation
//! key, which genesis names and the chain checks. It vouches for nothing but having seen the
//! quote; the chain marks workers registered this way as insecure.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use jsonrpsee::{
    core::{RpcResult, async_trait},
    server::Server,
    types::ErrorObjectOwned,
};
use veil_attestation::{DevQuote, Evidence, TeeKind, dev};
use veil_client::keys::{AccountKeyFile, read_json};
use veil_primitives::{from_hex, to_hex};
use veil_pruntime_api::{codes::INVALID_PARAMS, ra::RaServiceApiServer};

#[derive(Args)]
pub(crate) struct RaServiceArgs {
    /// Dev attestation key file (an account key file).
    #[arg(long)]
    key: PathBuf,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8100")]
    listen: SocketAddr,
}

fn invalid(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, format!("invalid params: {msg}"), None::<()>)
}

/// Signs dev evidence (hex of an encoded `Evidence` of kind `dev`); returns the hex of the
/// encoded `SignedDevQuote`.
fn sign_evidence(
    key: &veil_primitives::PrivateKey,
    evidence: &str,
) -> Result<String, ErrorObjectOwned> {
    let bytes = from_hex(evidence).map_err(invalid)?;
    let evidence = Evidence::decode(bytes).map_err(invalid)?;
    if evidence.kind != TeeKind::Dev {
        return Err(invalid(
            "only dev evidence is signed here; DCAP quotes are verified on chain",
        ));
    }
    let quote = DevQuote::decode(evidence.quote).map_err(invalid)?;
    Ok(to_hex(dev::sign(key, quote).encode()))
}

/// The service: one key that vouches for every dev quote it is shown.
struct RaService {
    key: veil_primitives::PrivateKey,
}

#[async_trait]
impl RaServiceApiServer for RaService {
    async fn sign_dev_quote(&self, evidence: String) -> RpcResult<String> {
        sign_evidence(&self.key, &evidence)
    }
}

pub(crate) fn run(args: RaServiceArgs) -> anyhow::Result<()> {
    let key = read_json::<AccountKeyFile>(&args.key)?.private_key()?;
    tracing::warn!(
        key = %to_hex(key.public_key()),
        "dev RA service: INSECURE, for development only"
    );
    let rt = crate::rpc::runtime()?;
    rt.block_on(async move {
        let server = Server::builder()
            .build(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", args.listen))?;
        let addr = server.local_addr()?;
        let handle = server.start(RaService { key }.into_rpc());
        tracing::info!(%addr, "dev RA service listening");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = handle.stop();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::PrivateKey;

    #[test]
    fn signs_dev_evidence_only() {
        let key = PrivateKey::from_seed(9);
        let quote = DevQuote {
            measurement: [1; 32],
            report_data: [2; 64],
        };
        let evidence = Evidence {
            kind: TeeKind::Dev,
            quote: quote.encode().to_vec(),
        };
        let signed = sign_evidence(&key, &to_hex(evidence.encode())).unwrap();
        let bytes = from_hex(&signed).unwrap();
        assert_eq!(dev::verify(&bytes, &key.public_key()), Ok(quote));
        let sgx = Evidence {
            kind: TeeKind::SgxDcap,
            quote: vec![0; 10],
        };
        assert!(sign_evidence(&key, &to_hex(sgx.encode())).is_err());
        assert!(sign_evidence(&key, "0x00").is_err());
        assert!(sign_evidence(&key, "zz").is_err());
    }
}
