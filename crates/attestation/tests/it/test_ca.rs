//! The test CA's quotes and collateral verify under its root with `dcap-qvl`, carry what was
//! asked for, and are refused when anything is off.

use veil_attestation::{
    dcap::{DcapError, DcapReport, parse_collateral, verify, verify_with_root},
    testing::{CollateralSpec, DEFAULT_TCB_EVALUATION, SgxQuoteSpec, TestCa},
};

/// 2030-01-01T00:00:00Z: inside the certificates' and the default collateral's validity.
const NOW: u64 = 1_893_456_000;

fn spec() -> SgxQuoteSpec {
    let mut report_data = [0u8; 64];
    for (i, b) in report_data.iter_mut().enumerate() {
        *b = i as u8 ^ 0x5A;
    }
    SgxQuoteSpec {
        mr_enclave: [0x11; 32],
        mr_signer: [0x22; 32],
        isv_prod_id: 3,
        isv_svn: 7,
        debug: false,
        report_data,
    }
}

fn check(
    ca: &TestCa,
    quote: &[u8],
    collateral: &CollateralSpec,
    now: u64,
) -> Result<DcapReport, DcapError> {
    let collateral = parse_collateral(&ca.collateral(collateral)).expect("collateral parses");
    verify_with_root(ca.root_der(), quote, &collateral, now)
}

/// Asserts a verification failure and returns its message.
fn assert_refused(result: Result<DcapReport, DcapError>, what: &str) -> String {
    match result {
        Err(DcapError::Verification(e)) => {
            eprintln!("{what}: refused: {e}");
            e
        }
        other => panic!("{what}: expected a verification failure, got {other:?}"),
    }
}

#[test]
fn quote_verifies_and_reports_its_fields() {
    let ca = TestCa::new(1);
    let spec = spec();
    let report = check(&ca, &ca.sgx_quote(&spec), &CollateralSpec::default(), NOW)
        .expect("quote verifies under the test root");
    assert_eq!(
        report,
        DcapReport {
            tcb_status: "UpToDate".into(),
            advisory_ids: Vec::new(),
            tcb_evaluation: DEFAULT_TCB_EVALUATION,
            debug: false,
            measurement: spec.mr_enclave.to_vec(),
            signer: spec.mr_signer.to_vec(),
            prod_id: spec.isv_prod_id,
            svn: spec.isv_svn,
            report_data: spec.report_data,
            tdx: false,
        }
    );
}

#[test]
fn output_is_deterministic_per_seed() {
    let (a, b, c) = (TestCa::new(9), TestCa::new(9), TestCa::new(10));
    assert_eq!(a.root_der(), b.root_der());
    assert_ne!(a.root_der(), c.root_der());
    assert_eq!(a.sgx_quote(&spec()), b.sgx_quote(&spec()));
    let collateral = CollateralSpec::default();
    assert_eq!(a.collateral(&collateral), b.collateral(&collateral));
}

#[test]
fn debug_enclave_is_flagged() {
    let ca = TestCa::new(2);
    let quote = ca.sgx_quote(&SgxQuoteSpec {
        debug: true,
        ..spec()
    });
    // Debug quotes verify with the flag set; the registry refuses them with its own reason.
    let report = check(&ca, &quote, &CollateralSpec::default(), NOW).expect("debug quote verifies");
    assert!(report.debug, "a debug quote must report debug");
    assert_eq!(report.report_data, spec().report_data);
    let clean = check(&ca, &ca.sgx_quote(&spec()), &CollateralSpec::default(), NOW).unwrap();
    assert!(!clean.debug);
}

#[test]
fn tcb_status_advisories_and_evaluation_come_from_collateral() {
    let ca = TestCa::new(3);
    let quote = ca.sgx_quote(&spec());
    // The evaluation is the older of the TCB info's and the QE identity's.
    for (status, tcb_info, qe_identity, evaluation) in [
        ("OutOfDate", 9, 9, 9),
        ("SWHardeningNeeded", 18, 17, 17),
        ("ConfigurationNeeded", 16, 18, 16),
    ] {
        let collateral = CollateralSpec {
            tcb_status: status.into(),
            advisory_ids: vec!["INTEL-SA-00615".into(), "INTEL-SA-00828".into()],
            tcb_evaluation: tcb_info,
            qe_tcb_evaluation: qe_identity,
            ..CollateralSpec::default()
        };
        let report = check(&ca, &quote, &collateral, NOW).expect("quote verifies");
        assert_eq!(report.tcb_status, status);
        assert_eq!(report.advisory_ids, ["INTEL-SA-00615", "INTEL-SA-00828"]);
        assert_eq!(report.tcb_evaluation, evaluation);
    }
}

#[test]
fn revoked_tcb_is_refused() {
    let ca = TestCa::new(3);
    let collateral = CollateralSpec {
        tcb_status: "Revoked".into(),
        ..CollateralSpec::default()
    };
    assert_refused(
        check(&ca, &ca.sgx_quote(&spec()), &collateral, NOW),
        "revoked",
    );
}

#[test]
fn refused_under_intel_root() {
    let ca = TestCa::new(4);
    let collateral = parse_collateral(&ca.collateral(&CollateralSpec::default())).unwrap();
    assert_refused(
        verify(&ca.sgx_quote(&spec()), &collateral, NOW),
        "Intel root",
    );
}

#[test]
fn refused_under_another_test_root() {
    let ca = TestCa::new(5);
    let other = TestCa::new(6);
    let quote = ca.sgx_quote(&spec());
    let collateral = parse_collateral(&ca.collateral(&CollateralSpec::default())).unwrap();
    assert_refused(
        verify_with_root(other.root_der(), &quote, &collateral, NOW),
        "other root",
    );
    // Nor does one CA's quote verify with another CA's collateral.
    let other_collateral = parse_collateral(&other.collateral(&CollateralSpec::default())).unwrap();
    assert_refused(
        verify_with_root(other.root_der(), &quote, &other_collateral, NOW),
        "other collateral",
    );
}

#[test]
fn refused_when_any_signed_bit_flips() {
    let ca = TestCa::new(7);
    let quote = ca.sgx_quote(&spec());
    check(&ca, &quote, &CollateralSpec::default(), NOW).expect("untampered quote verifies");
    // Header user data, MRENCLAVE, report data, ISV signature.
    let header_user_data = 40;
    let mr_enclave = 48 + 64;
    let report_data = 48 + 320;
    let signature = 48 + 384 + 4;
    for (offset, what) in [
        (header_user_data, "header"),
        (mr_enclave, "mr_enclave"),
        (report_data, "report data"),
        (report_data + 63, "report data end"),
        (signature, "signature"),
        (signature + 40, "signature s"),
    ] {
        let mut tampered = quote.clone();
        tampered[offset] ^= 0x01;
        let error = assert_refused(check(&ca, &tampered, &CollateralSpec::default(), NOW), what);
        assert!(error.contains("signature is invalid"), "{what}: {error}");
    }
}

#[test]
fn refused_outside_collateral_validity() {
    let ca = TestCa::new(8);
    let quote = ca.sgx_quote(&spec());
    let collateral = CollateralSpec::default();
    check(&ca, &quote, &collateral, collateral.issue_secs).expect("valid at issue time");
    check(&ca, &quote, &collateral, collateral.next_update_secs - 1)
        .expect("valid just before next update");
    assert_refused(
        check(&ca, &quote, &collateral, collateral.next_update_secs + 1),
        "after next update",
    );
    assert_refused(
        check(&ca, &quote, &collateral, collateral.issue_secs - 1),
        "before issue",
    );
}
