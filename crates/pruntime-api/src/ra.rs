//! The dev RA service: signs dev quotes so a chain that allows insecure attestation accepts
//! them. INSECURE, dev mode only: it vouches for any quote it is given.

#[cfg(any(feature = "client", feature = "server"))]
#[cfg_attr(not(feature = "server"), allow(unused_imports))]
use jsonrpsee::{core::RpcResult, proc_macros::rpc};

/// The dev RA service's API.
#[cfg(any(feature = "client", feature = "server"))]
#[cfg_attr(
    all(feature = "client", feature = "server"),
    rpc(client, server, namespace = "ra")
)]
#[cfg_attr(
    all(feature = "client", not(feature = "server")),
    rpc(client, namespace = "ra")
)]
#[cfg_attr(
    all(feature = "server", not(feature = "client")),
    rpc(server, namespace = "ra")
)]
pub trait RaServiceApi {
    /// Signs dev evidence (hex-encoded `Evidence` of kind dev); returns the signed quote (hex)
    /// to put back into the evidence.
    #[method(name = "signDevQuote")]
    async fn sign_dev_quote(&self, evidence: String) -> RpcResult<String>;
}
