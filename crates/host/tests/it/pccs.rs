//! The host fetches DCAP collateral from a PCCS over HTTP: a PCCS on loopback serves the test
//! PKI's collateral through the API v4 endpoints, and what the host assembles verifies the
//! quote under the test root, exactly as the file form does.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpListener,
};
use veil_attestation::{
    dcap::{QuoteCollateralV3, parse_collateral, verify_with_root},
    testing::{CollateralSpec, DEFAULT_ISSUE_SECS, SgxQuoteSpec, TestCa},
};
use veil_host::pccs::{client, fetch_collateral};

type Requests = Arc<Mutex<Vec<String>>>;

/// Answers one request per connection from `collateral`, recording each path.
async fn serve_pccs(collateral: Option<QuoteCollateralV3>) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Requests::default();
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            let route = path.split('?').next().unwrap_or("");
            let enc = |s: &str| urlencoding::encode(s).into_owned();
            let (status, header, body): (&str, Option<(&str, String)>, Vec<u8>) =
                match (&collateral, route) {
                    (Some(c), "/sgx/certification/v4/pckcrl") => (
                        "200 OK",
                        Some(("SGX-PCK-CRL-Issuer-Chain", enc(&c.pck_crl_issuer_chain))),
                        c.pck_crl.clone(),
                    ),
                    (Some(c), "/sgx/certification/v4/tcb") => (
                        "200 OK",
                        Some(("TCB-Info-Issuer-Chain", enc(&c.tcb_info_issuer_chain))),
                        format!(
                            r#"{{"tcbInfo":{},"signature":"{}"}}"#,
                            c.tcb_info,
                            hex::encode(&c.tcb_info_signature)
                        )
                        .into_bytes(),
                    ),
                    (Some(c), "/sgx/certification/v4/qe/identity") => (
                        "200 OK",
                        Some((
                            "SGX-Enclave-Identity-Issuer-Chain",
                            enc(&c.qe_identity_issuer_chain),
                        )),
                        format!(
                            r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
                            c.qe_identity,
                            hex::encode(&c.qe_identity_signature)
                        )
                        .into_bytes(),
                    ),
                    (Some(c), "/sgx/certification/v4/rootcacrl") => {
                        ("200 OK", None, hex::encode(&c.root_ca_crl).into_bytes())
                    }
                    _ => ("404 Not Found", None, b"not found".to_vec()),
                };
            let mut response = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            if let Some((name, value)) = header {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
    });
    (url, requests)
}

fn quote(ca: &TestCa) -> Vec<u8> {
    ca.sgx_quote(&SgxQuoteSpec {
        mr_enclave: [3; 32],
        report_data: [4; 64],
        ..Default::default()
    })
}

#[tokio::test]
async fn collateral_from_a_pccs_verifies_the_quote() {
    let ca = TestCa::new(5);
    let expected = parse_collateral(&ca.collateral(&CollateralSpec::default())).unwrap();
    let (url, requests) = serve_pccs(Some(expected.clone())).await;
    let quote = quote(&ca);

    let json = fetch_collateral(&client().unwrap(), &url, &quote)
        .await
        .unwrap();
    let fetched = parse_collateral(&json).unwrap();
    assert_eq!(fetched, expected);
    let now = DEFAULT_ISSUE_SECS + 3_600;
    let report = verify_with_root(ca.root_der(), &quote, &fetched, now).unwrap();
    assert_eq!(report.measurement, vec![3; 32]);

    // The platform's FMSPC and PCK CA come from the quote's certificate.
    let requests = requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|p| p == "/sgx/certification/v4/pckcrl?ca=platform&encoding=der"),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|p| p == "/sgx/certification/v4/tcb?fmspc=00906ED50000"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn pccs_failures_are_reported_clearly() {
    let ca = TestCa::new(5);
    let (url, _) = serve_pccs(None).await;
    let e = fetch_collateral(&client().unwrap(), &url, &quote(&ca))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("HTTP 404"), "{e:#}");

    let e = fetch_collateral(&client().unwrap(), &url, b"not a quote")
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("malformed quote"), "{e:#}");

    let e = fetch_collateral(&client().unwrap(), "http://127.0.0.1:1", &quote(&ca))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("PCCS request"), "{e:#}");
}
