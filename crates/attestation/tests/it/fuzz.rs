//! Quotes and collateral come from hosts, and every validator verifies them while executing a
//! registration: no byte string may panic the verifier (that would stop the chain). Random
//! bytes, and valid quotes and collateral with bits flipped, cut short or spliced, are refused
//! with an error, or, where a change touches nothing the verifier reads, verify to exactly the
//! original report.

use std::sync::OnceLock;

use commonware_codec::Encode as _;
use proptest::prelude::*;
use veil_attestation::{
    Evidence, TeeKind, TrustAnchors,
    dcap::{DcapReport, collateral_query, parse_collateral, verify_with_root},
    testing::{CollateralSpec, SgxQuoteSpec, TestCa},
    verify,
};

/// 2030-01-01T00:00:00Z: inside the certificates' and the default collateral's validity.
const NOW: u64 = 1_893_456_000;

struct Valid {
    ca: TestCa,
    quote: Vec<u8>,
    collateral: Vec<u8>,
    report: DcapReport,
}

fn valid() -> &'static Valid {
    static VALID: OnceLock<Valid> = OnceLock::new();
    VALID.get_or_init(|| {
        let ca = TestCa::new(21);
        let quote = ca.sgx_quote(&SgxQuoteSpec {
            mr_enclave: [0x11; 32],
            mr_signer: [0x22; 32],
            isv_prod_id: 1,
            isv_svn: 2,
            debug: false,
            report_data: [0x5a; 64],
        });
        let collateral = ca.collateral(&CollateralSpec::default());
        let parsed = parse_collateral(&collateral).expect("the test CA's collateral parses");
        let report = verify_with_root(ca.root_der(), &quote, &parsed, NOW).expect("verifies");
        Valid {
            ca,
            quote,
            collateral,
            report,
        }
    })
}

/// Verifies `quote` with `collateral` (JSON) under the test root, as the chain does.
fn check(quote: &[u8], collateral: &[u8]) -> Result<DcapReport, String> {
    let collateral = parse_collateral(collateral).map_err(|e| e.to_string())?;
    verify_with_root(valid().ca.root_der(), quote, &collateral, NOW).map_err(|e| e.to_string())
}

/// A changed input is refused, or reads as the original (the change hit no verified byte).
fn refused_or_same(result: Result<DcapReport, String>) -> Result<(), TestCaseError> {
    if let Ok(report) = result {
        prop_assert_eq!(&report, &valid().report);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_evidence_and_collateral_never_panic(
        quote in proptest::collection::vec(any::<u8>(), 0..1536),
        collateral in proptest::collection::vec(any::<u8>(), 0..512),
        tdx in any::<bool>(),
    ) {
        let root = valid().ca.root_der();
        let anchors = TrustAnchors { dev_key: None, dcap_root: Some(&root) };
        let kind = if tdx { TeeKind::Tdx } else { TeeKind::SgxDcap };
        let evidence = Evidence { kind, quote: quote.clone() }.encode();
        prop_assert!(verify(&evidence, &collateral, anchors, NOW).is_err());
        prop_assert!(verify(&evidence, &valid().collateral, anchors, NOW).is_err());
        prop_assert!(verify(&quote, &collateral, anchors, NOW).is_err());
        let _ = collateral_query(&quote);
    }

    /// Past the header (48 bytes) or the header and the report body (432), so the parser's
    /// later stages see the random bytes too.
    #[test]
    fn a_valid_start_with_random_bytes_after_it_is_refused(
        body in any::<bool>(),
        rest in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let start = if body { 432 } else { 48 };
        let quote = [&valid().quote[..start], &rest].concat();
        let _ = collateral_query(&quote);
        prop_assert!(check(&quote, &valid().collateral).is_err());
    }

    #[test]
    fn a_quote_with_a_bit_flipped_is_refused_or_unchanged(pos in any::<proptest::sample::Index>(), bit in 0u8..8) {
        let mut quote = valid().quote.clone();
        let at = pos.index(quote.len());
        quote[at] ^= 1 << bit;
        let _ = collateral_query(&quote);
        refused_or_same(check(&quote, &valid().collateral))?;
    }

    #[test]
    fn a_quote_cut_short_or_extended_is_refused_or_unchanged(
        cut in any::<proptest::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let quote = &valid().quote;
        let short = &quote[..cut.index(quote.len())];
        let _ = collateral_query(short);
        prop_assert!(check(short, &valid().collateral).is_err());
        let long = [&quote[..], &tail].concat();
        refused_or_same(check(&long, &valid().collateral))?;
    }

    #[test]
    fn a_quote_with_bytes_spliced_in_is_refused_or_unchanged(
        pos in any::<proptest::sample::Index>(),
        bytes in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let quote = &valid().quote;
        let at = pos.index(quote.len());
        let spliced = [&quote[..at], &bytes, &quote[at..]].concat();
        let _ = collateral_query(&spliced);
        refused_or_same(check(&spliced, &valid().collateral))?;
    }

    /// Collateral is JSON of certificate chains (PEM), CRLs, TCB info and QE identity (JSON
    /// strings) and signatures (hex): a changed character anywhere lands in one of them.
    #[test]
    fn collateral_with_a_character_changed_or_cut_is_refused_or_unchanged(
        pos in any::<proptest::sample::Index>(),
        replacement in proptest::sample::select(b"0aA{}[]\",:-+/=\\ \n\x00\xff".to_vec()),
        cut in any::<bool>(),
    ) {
        let mut collateral = valid().collateral.clone();
        let at = pos.index(collateral.len());
        if cut {
            collateral.truncate(at);
        } else {
            collateral[at] = replacement;
        }
        refused_or_same(check(&valid().quote, &collateral))?;
    }

    /// Still valid JSON, one field's text replaced: the verifier, not the JSON parser, meets it.
    /// (`dcap-qvl` 0.7.1 does not read `pck_crl_issuer_chain`: it checks the PCK CRL against
    /// the quote's own certificate chain, so that field may change without effect.)
    #[test]
    fn collateral_with_a_field_replaced_is_refused_or_unchanged(
        field in any::<proptest::sample::Index>(),
        text in "[ -~]{0,300}",
    ) {
        let mut json: serde_json::Value =
            serde_json::from_slice(&valid().collateral).expect("the collateral is JSON");
        let fields = json.as_object_mut().expect("an object");
        let keys: Vec<String> = fields.keys().cloned().collect();
        let key = &keys[field.index(keys.len())];
        fields.insert(key.clone(), serde_json::Value::String(text));
        let collateral = serde_json::to_vec(&json).expect("serializes");
        refused_or_same(check(&valid().quote, &collateral))?;
    }
}

/// Every byte of the header, the report body and the lengths after it (the fields that steer
/// the parser), inverted in turn.
#[test]
fn every_byte_of_the_quotes_start_inverted_is_refused_or_unchanged() {
    for at in 0..valid().quote.len().min(640) {
        let mut quote = valid().quote.clone();
        quote[at] ^= 0xff;
        let _ = collateral_query(&quote);
        if let Ok(report) = check(&quote, &valid().collateral) {
            assert_eq!(report, valid().report, "byte {at}");
        }
    }
}
