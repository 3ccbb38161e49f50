//! Registration verification time: a full DCAP check of an SGX quote with its collateral, as the
//! chain runs it for every registration, against the bound of one ECDSA P-256 verification
//! measured in the same run (a DCAP check performs several: quote, QE report, PCK chain, CRLs,
//! TCB info, QE identity).
//!
//! `cargo bench -p veil-attestation --bench registration`

use std::time::{Duration, Instant};

use p256::ecdsa::{
    Signature, SigningKey, VerifyingKey, signature::Signer as _, signature::Verifier as _,
};
use veil_attestation::{
    TrustAnchors, dcap,
    testing::{CollateralSpec, DEFAULT_ISSUE_SECS, SgxQuoteSpec, TestCa},
};

/// Runs `f` repeatedly for about `budget`; returns the mean time per call.
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    // Warm up.
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed() / n
}

fn main() {
    let budget = Duration::from_secs(3);
    let ca = TestCa::new(1);
    let quote = ca.sgx_quote(&SgxQuoteSpec {
        mr_enclave: [1; 32],
        report_data: [2; 64],
        ..Default::default()
    });
    let collateral_json = ca.collateral(&CollateralSpec::default());
    let now = DEFAULT_ISSUE_SECS + 86_400;
    let root = ca.root_der();

    // What the chain does: parse collateral, verify, extract the report.
    let evidence = commonware_codec::Encode::encode(&veil_attestation::Evidence {
        kind: veil_attestation::TeeKind::SgxDcap,
        quote: quote.clone(),
    })
    .to_vec();
    let anchors = TrustAnchors {
        dev_key: None,
        dcap_root: Some(&root),
    };
    let full = time(budget, || {
        veil_attestation::verify(&evidence, &collateral_json, anchors, now).expect("verifies");
    });
    // The signature and certificate work alone (collateral already parsed).
    let collateral = dcap::parse_collateral(&collateral_json).expect("collateral");
    let verify_only = time(budget, || {
        dcap::verify_with_root(root.clone(), &quote, &collateral, now).expect("verifies");
    });
    // Bound: one ECDSA P-256 verification.
    let key = SigningKey::from_slice(&[7u8; 32]).expect("key");
    let vk = VerifyingKey::from(&key);
    let sig: Signature = key.sign(b"bound");
    let ecdsa = time(budget, || {
        vk.verify(b"bound", &sig).expect("verifies");
    });

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "quote {} bytes, collateral {} bytes",
        quote.len(),
        collateral_json.len()
    );
    println!(
        "registration evidence check (parse + DCAP verify): {:.3} ms",
        ms(full)
    );
    println!(
        "DCAP verify alone (collateral parsed):             {:.3} ms",
        ms(verify_only)
    );
    println!(
        "bound: one ECDSA P-256 verification:               {:.3} ms",
        ms(ecdsa)
    );
    println!(
        "ratio: registration check = {:.1} P-256 verifications",
        full.as_secs_f64() / ecdsa.as_secs_f64()
    );
}
