//! DCAP collateral from a PCCS (Intel's Provisioning Certification Caching Service, API v4).
//!
//! The chain verifies a worker's quote against collateral the host supplies: the PCK CRL, the
//! TCB info and QE identity with their signatures, the issuer chains and the root CA CRL. The
//! host fetches them for the quote's platform (FMSPC and PCK CA, read from the quote's PCK
//! certificate) and hands them over untouched; it is trusted for nothing, since every piece is
//! signed under the root the chain trusts.

use std::time::Duration;

use anyhow::Context as _;
use veil_attestation::dcap::{QuoteCollateralV3, collateral_query};

/// A client for PCCS requests.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the PCCS HTTP client")
}

/// One GET; returns the body and the named header (percent-decoded), if asked for.
async fn get(
    client: &reqwest::Client,
    url: &str,
    header: Option<&[&str]>,
) -> anyhow::Result<(Vec<u8>, String)> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("PCCS request {url}"))?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "PCCS request {url}: HTTP {status}");
    let chain = match header {
        None => String::new(),
        Some(names) => {
            let value = names
                .iter()
                .find_map(|n| response.headers().get(*n))
                .with_context(|| format!("PCCS response from {url} lacks header {}", names[0]))?;
            let value = value
                .to_str()
                .with_context(|| format!("header {} from {url} is not text", names[0]))?;
            urlencoding::decode(value)
                .with_context(|| format!("header {} from {url} is not URL-encoded", names[0]))?
                .into_owned()
        }
    };
    let body = response
        .bytes()
        .await
        .with_context(|| format!("PCCS response body from {url}"))?;
    Ok((body.to_vec(), chain))
}

/// A signed PCCS JSON document: the exact bytes of the signed object, and the signature.
fn signed_part(body: &[u8], field: &str, url: &str) -> anyhow::Result<(String, Vec<u8>)> {
    #[derive(serde::Deserialize)]
    struct Signed<'a> {
        #[serde(borrow, rename = "tcbInfo")]
        tcb_info: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, rename = "enclaveIdentity")]
        enclave_identity: Option<&'a serde_json::value::RawValue>,
        signature: String,
    }
    let doc: Signed<'_> =
        serde_json::from_slice(body).with_context(|| format!("PCCS response from {url}"))?;
    let raw = match field {
        "tcbInfo" => doc.tcb_info,
        _ => doc.enclave_identity,
    }
    .with_context(|| format!("PCCS response from {url} lacks {field}"))?;
    let signature = hex::decode(&doc.signature)
        .with_context(|| format!("{field} signature from {url} is not hex"))?;
    // The signature covers the object's bytes exactly as served.
    Ok((raw.get().to_string(), signature))
}

/// Fetches the collateral for `quote` from the PCCS at `base` and returns it as JSON (the form
/// registrations carry).
pub async fn fetch_collateral(
    client: &reqwest::Client,
    base: &str,
    quote: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let query = collateral_query(quote)?;
    let base = base
        .trim_end_matches('/')
        .trim_end_matches("/sgx/certification/v4")
        .trim_end_matches("/tdx/certification/v4");
    let tee = if query.tdx { "tdx" } else { "sgx" };

    let url = format!(
        "{base}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
        query.ca
    );
    let (pck_crl, pck_crl_issuer_chain) =
        get(client, &url, Some(&["SGX-PCK-CRL-Issuer-Chain"])).await?;

    let url = format!("{base}/{tee}/certification/v4/tcb?fmspc={}", query.fmspc);
    let (body, tcb_info_issuer_chain) = get(
        client,
        &url,
        Some(&["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"]),
    )
    .await?;
    let (tcb_info, tcb_info_signature) = signed_part(&body, "tcbInfo", &url)?;

    let url = format!("{base}/{tee}/certification/v4/qe/identity");
    let (body, qe_identity_issuer_chain) =
        get(client, &url, Some(&["SGX-Enclave-Identity-Issuer-Chain"])).await?;
    let (qe_identity, qe_identity_signature) = signed_part(&body, "enclaveIdentity", &url)?;

    let url = format!("{base}/sgx/certification/v4/rootcacrl");
    let (body, _) = get(client, &url, None).await?;
    // A PCCS serves the root CA CRL hex-encoded; Intel's PCS has no such endpoint.
    let text = std::str::from_utf8(&body).context("root CA CRL is not hex text")?;
    let root_ca_crl = hex::decode(text.trim()).context("root CA CRL is not hex")?;

    let collateral = QuoteCollateralV3 {
        pck_crl_issuer_chain,
        root_ca_crl,
        pck_crl,
        tcb_info_issuer_chain,
        tcb_info,
        tcb_info_signature,
        qe_identity_issuer_chain,
        qe_identity,
        qe_identity_signature,
        pck_certificate_chain: None,
    };
    Ok(serde_json::to_vec(&collateral)?)
}
