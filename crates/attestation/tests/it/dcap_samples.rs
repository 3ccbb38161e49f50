//! DCAP verification against the real sample quotes and collateral that ship inside the
//! `dcap-qvl` crate package (found through `cargo metadata`, not copied into this repository).

use std::path::PathBuf;

use veil_attestation::dcap::{DcapError, parse_collateral, verify};

/// The `sample/` folder of the locked `dcap-qvl` package.
fn samples() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", "x86_64-unknown-linux-gnu"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dcap-qvl")
        .expect("dcap-qvl in the dependency graph")["manifest_path"]
        .as_str()
        .unwrap()
        .to_string();
    PathBuf::from(manifest).with_file_name("sample")
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SSZ`).
fn unix(ts: &str) -> u64 {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3_600 + mm * 60 + ss) as u64
}

/// A time inside the collateral's validity: a day after the later of its two issue dates.
fn inside_validity(collateral_json: &[u8]) -> u64 {
    let c: serde_json::Value = serde_json::from_slice(collateral_json).unwrap();
    let issue = |field: &str| {
        let inner: serde_json::Value = serde_json::from_str(c[field].as_str().unwrap()).unwrap();
        unix(inner["issueDate"].as_str().unwrap())
    };
    issue("tcb_info").max(issue("qe_identity")) + 86_400
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `body` is the report body length (SGX 384, TDX 1.0 584): the header, body and the quote
/// signature right after it are what the attestation key signs.
fn check(
    quote_file: &str,
    collateral_file: &str,
    body: usize,
) -> veil_attestation::dcap::DcapReport {
    let dir = samples();
    let quote = std::fs::read(dir.join(quote_file)).unwrap();
    let json = std::fs::read(dir.join(collateral_file)).unwrap();
    let collateral = parse_collateral(&json).unwrap();
    let at = inside_validity(&json);

    let report = verify(&quote, &collateral, at).expect("valid inside the collateral's validity");
    assert!(!report.measurement.is_empty());

    // Today the sample collateral has expired.
    assert!(matches!(
        verify(&quote, &collateral, now()),
        Err(DcapError::Verification(_))
    ));

    // A flipped bit in the header, the report body (measurement, report data) or the quote
    // signature is caught.
    for pos in [20, 48 + 10, 48 + 300, 48 + body - 1, 48 + body + 4 + 10] {
        let mut bad = quote.clone();
        bad[pos] ^= 0x01;
        assert!(
            verify(&bad, &collateral, at).is_err(),
            "bit flip at {pos} accepted"
        );
    }
    // Truncated quotes and junk collateral are errors, not panics.
    assert!(verify(&quote[..quote.len() / 2], &collateral, at).is_err());
    assert!(parse_collateral(b"{not json").is_err());
    report
}

#[test]
fn sgx_sample_quote() {
    let report = check("sgx_quote", "sgx_quote_collateral.json", 384);
    assert_eq!(report.tcb_status, "ConfigurationAndSWHardeningNeeded");
    assert!(report.advisory_ids.iter().any(|a| a == "INTEL-SA-00289"));
    // Intel's TCB evaluation 17 judged the sample's platform (TCB info and QE identity).
    assert_eq!(report.tcb_evaluation, 17);
    assert_eq!(report.measurement.len(), 32);
    assert_eq!(report.signer.len(), 32);
}

#[test]
fn tdx_sample_quote() {
    let report = check("tdx_quote", "tdx_quote_collateral.json", 584);
    assert!(report.tdx);
    // TCB info and TD QE identity both come from Intel's evaluation 17.
    assert_eq!(report.tcb_evaluation, 17);
    // The measurement pins MRTD and the configuration and runtime registers, not MRTD alone.
    let quote = std::fs::read(samples().join("tdx_quote")).unwrap();
    let parsed = dcap_qvl::quote::Quote::parse(&quote).unwrap();
    let td = parsed.report.as_td10().expect("a TD report");
    let expected = veil_primitives::tdx_measurement(&[
        &td.mr_td,
        &td.mr_config_id,
        &td.mr_owner,
        &td.mr_owner_config,
        &td.rt_mr0,
        &td.rt_mr1,
        &td.rt_mr2,
        &td.rt_mr3,
    ]);
    assert_eq!(report.measurement, expected.to_vec());
}
