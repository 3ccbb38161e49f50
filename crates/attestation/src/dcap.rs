//! DCAP quote verification (SGX and TDX) with `dcap-qvl`, at a caller-given time.
//!
//! The chain verifies quotes at the block time, never the wall clock, so every validator gets
//! the same answer. The result is what a registration policy needs: TCB status and advisories,
//! the debug flag, the measurement, and the report data. Debug quotes verify here (with the flag
//! set) so the registry can refuse them with a reason of its own.

pub use dcap_qvl::QuoteCollateralV3;
use dcap_qvl::{
    quote::{Quote, Report},
    verify::{QuoteVerifier, VerifiedReport},
};

/// What a verified DCAP quote says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcapReport {
    /// TCB status (e.g. `UpToDate`, `SWHardeningNeeded`, `OutOfDate`).
    pub tcb_status: String,
    /// Intel security advisories that apply.
    pub advisory_ids: Vec<String>,
    /// The lower `tcbEvaluationDataNumber` of the TCB info and the QE identity: which of
    /// Intel's TCB evaluations judged the platform. The operator picks the collateral, and an
    /// older one still inside its validity window may call a platform up to date that a TCB
    /// recovery since has not; the registry policy sets the lowest it accepts.
    pub tcb_evaluation: u32,
    /// Whether the enclave or TD runs in debug mode (its memory is readable by the host).
    pub debug: bool,
    /// SGX: MRENCLAVE; TDX: [veil_primitives::tdx_measurement] of MRTD, MRCONFIGID, MROWNER,
    /// MROWNERCONFIG and RTMR0..3.
    pub measurement: Vec<u8>,
    /// SGX: MRSIGNER; TDX: empty.
    pub signer: Vec<u8>,
    /// SGX: ISVPRODID; TDX: 0.
    pub prod_id: u16,
    /// SGX: ISVSVN; TDX: 0.
    pub svn: u16,
    /// The report data the enclave chose.
    pub report_data: [u8; 64],
    /// Whether the quote is from a TDX trust domain (else an SGX enclave).
    pub tdx: bool,
}

/// Why a quote was not accepted.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DcapError {
    /// The collateral is not valid JSON of the expected shape.
    #[error("malformed collateral: {0}")]
    Collateral(String),
    /// The quote failed verification (signature, certificate chain, CRLs, collateral time).
    #[error("quote verification failed: {0}")]
    Verification(String),
    /// The quote does not parse or carries no PCK certificate.
    #[error("malformed quote: {0}")]
    Malformed(String),
}

/// What a PCCS needs to serve a quote's collateral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollateralQuery {
    /// The platform's FMSPC (hex, upper case), from the PCK certificate.
    pub fmspc: String,
    /// The PCK CA: `processor` or `platform`.
    pub ca: &'static str,
    /// TDX (else SGX) collateral.
    pub tdx: bool,
}

/// Reads from a quote's PCK certificate what to ask a PCCS for.
pub fn collateral_query(quote: &[u8]) -> Result<CollateralQuery, DcapError> {
    let malformed = |e: anyhow::Error| DcapError::Malformed(format!("{e:#}"));
    let q = Quote::parse(quote).map_err(malformed)?;
    let fmspc = dcap_qvl::intel::quote_fmspc(&q).map_err(malformed)?;
    let ca = dcap_qvl::intel::quote_ca(&q).map_err(malformed)?;
    Ok(CollateralQuery {
        fmspc: fmspc.iter().map(|b| format!("{b:02X}")).collect(),
        ca: ca.as_id_str(),
        tdx: !q.header.is_sgx(),
    })
}

/// Parses collateral in the JSON form PCCS clients (and `dcap-qvl`) produce.
pub fn parse_collateral(json: &[u8]) -> Result<QuoteCollateralV3, DcapError> {
    serde_json::from_slice(json).map_err(|e| DcapError::Collateral(e.to_string()))
}

/// Verifies `quote` against `collateral` at `now_secs` under Intel's production root.
pub fn verify(
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    now_secs: u64,
) -> Result<DcapReport, DcapError> {
    let report = QuoteVerifier::new_prod()
        .allow_debug(true)
        .verify(quote, collateral, now_secs)
        .map_err(|e| DcapError::Verification(format!("{e:#}")))?;
    Ok(summarize(report, tcb_evaluation(collateral)?))
}

/// Verifies under a custom root certificate (DER), e.g. a test CA.
pub fn verify_with_root(
    root_der: Vec<u8>,
    quote: &[u8],
    collateral: &QuoteCollateralV3,
    now_secs: u64,
) -> Result<DcapReport, DcapError> {
    let report = QuoteVerifier::new(root_der)
        .allow_debug(true)
        .verify(quote, collateral, now_secs)
        .map_err(|e| DcapError::Verification(format!("{e:#}")))?;
    Ok(summarize(report, tcb_evaluation(collateral)?))
}

/// The lower `tcbEvaluationDataNumber` of the collateral's TCB info and QE identity. Read
/// after verification, which checked both documents' signatures.
fn tcb_evaluation(collateral: &QuoteCollateralV3) -> Result<u32, DcapError> {
    let number = |name: &str, json: &str| {
        serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("tcbEvaluationDataNumber")?.as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                DcapError::Collateral(format!("{name} carries no tcbEvaluationDataNumber"))
            })
    };
    Ok(number("the TCB info", &collateral.tcb_info)?
        .min(number("the QE identity", &collateral.qe_identity)?))
}

/// Whether TD attributes mark the TD as under debug. The whole first byte is the "TD under
/// debug" group (DEBUG is bit 0, the rest reserved for other debug features): any bit set
/// means the host may read the TD's memory, so it is treated as debug.
fn td_under_debug(attributes: &[u8; 8]) -> bool {
    attributes[0] != 0
}

fn summarize(v: VerifiedReport, tcb_evaluation: u32) -> DcapReport {
    const SGX_DEBUG: u8 = 0x02;
    let tdx = !matches!(v.report, Report::SgxEnclave(_));
    let td = |r: &dcap_qvl::quote::TDReport10| {
        (
            td_under_debug(&r.td_attributes),
            veil_primitives::tdx_measurement(&[
                &r.mr_td,
                &r.mr_config_id,
                &r.mr_owner,
                &r.mr_owner_config,
                &r.rt_mr0,
                &r.rt_mr1,
                &r.rt_mr2,
                &r.rt_mr3,
            ])
            .to_vec(),
            Vec::new(),
            0,
            0,
            r.report_data,
        )
    };
    let (debug, measurement, signer, prod_id, svn, report_data) = match &v.report {
        Report::SgxEnclave(r) => (
            r.attributes[0] & SGX_DEBUG != 0,
            r.mr_enclave.to_vec(),
            r.mr_signer.to_vec(),
            r.isv_prod_id,
            r.isv_svn,
            r.report_data,
        ),
        Report::TD10(r) => td(r),
        Report::TD15(r) => td(&r.base),
        Report::TD15Ex(r) => td(&r.base.base),
    };
    DcapReport {
        tcb_status: v.status,
        advisory_ids: v.advisory_ids,
        tcb_evaluation,
        debug,
        measurement,
        signer,
        prod_id,
        svn,
        report_data,
        tdx,
    }
}

#[cfg(test)]
mod tests {
    use super::td_under_debug;

    #[test]
    fn any_td_under_debug_bit_means_debug() {
        assert!(!td_under_debug(&[0; 8]));
        for bit in 0..8 {
            let mut attributes = [0u8; 8];
            attributes[0] = 1 << bit;
            assert!(td_under_debug(&attributes), "TUD bit {bit}");
        }
        // Other attribute groups (e.g. SEPT_VE_DISABLE, bit 28) are no debug.
        let mut attributes = [0u8; 8];
        attributes[3] = 0x10;
        assert!(!td_under_debug(&attributes));
    }
}
