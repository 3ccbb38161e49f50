//! A test PKI that issues Intel-DCAP-style SGX quotes and collateral (feature `testing`).
//!
//! [TestCa] plays every Intel role under a root CA generated in code: the root, the PCK
//! platform CA, the platform's PCK certificate (with the SGX extension: FMSPC, PCEID,
//! CPUSVN, PCESVN), the TCB-info / QE-identity signer, the Quoting Enclave and its
//! attestation key. Its quotes and collateral verify with
//! [`crate::dcap::verify_with_root`] given [`TestCa::root_der`], and nowhere else.
//!
//! Everything is derived from the seed, so the same seed always gives the same keys,
//! certificates, quotes and collateral (ECDSA signatures are deterministic, RFC 6979).
//!
//! Validity: certificates are valid from [CERT_NOT_BEFORE_SECS] to [CERT_NOT_AFTER_SECS];
//! collateral (TCB info, QE identity and both CRLs) from [CollateralSpec::issue_secs]
//! inclusive to [CollateralSpec::next_update_secs] exclusive.
//!
//! How the TCB status comes out: the PCK certificate records the platform's CPUSVN
//! components (all [PLATFORM_CPU_SVN]) and PCESVN ([PLATFORM_PCE_SVN]). The TCB info has a
//! level with exactly those values carrying [CollateralSpec::tcb_status] and
//! [CollateralSpec::advisory_ids], a lower `OutOfDate` level, and (unless the chosen status
//! is `UpToDate`) a higher `UpToDate` level the platform does not reach. The QE identity is
//! `UpToDate` with no advisories, so the verified status and advisories are the chosen ones.

use std::time::Duration;

use dcap_qvl::{INTEL_QE_VENDOR_ID, QuoteCollateralV3};
use p256::ecdsa::{Signature, SigningKey, signature::Signer as _};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use x509_cert::{
    der::{DateTime, Encode as _, asn1::ObjectIdentifier},
    name::Name,
    time::Time,
};

/// Start of every certificate's validity (2020-01-01T00:00:00Z).
pub const CERT_NOT_BEFORE_SECS: u64 = 1_577_836_800;
/// End of every certificate's validity (2040-01-01T00:00:00Z).
pub const CERT_NOT_AFTER_SECS: u64 = 2_208_988_800;
/// Default [CollateralSpec::issue_secs] (2026-01-01T00:00:00Z).
pub const DEFAULT_ISSUE_SECS: u64 = 1_767_225_600;
/// Default [CollateralSpec::next_update_secs] (2036-01-01T00:00:00Z).
pub const DEFAULT_NEXT_UPDATE_SECS: u64 = 2_082_758_400;
/// Every CPUSVN component of the test platform, as its PCK certificate records it.
pub const PLATFORM_CPU_SVN: u8 = 4;
/// PCESVN of the test platform, as its PCK certificate records it.
pub const PLATFORM_PCE_SVN: u16 = 13;
/// FMSPC of the test platform.
pub const FMSPC: [u8; 6] = [0x00, 0x90, 0x6E, 0xD5, 0x00, 0x00];

/// PCEID of the test platform.
const PCE_ID: [u8; 2] = [0, 0];
/// ISVPRODID of the Quoting Enclave.
const QE_ISV_PROD_ID: u16 = 1;
/// ISVSVN of the Quoting Enclave.
const QE_ISV_SVN: u16 = 8;
/// Attributes of the Quoting Enclave (INIT and PROVISIONKEY, as Intel's QE reports them).
const QE_ATTRIBUTES: [u8; 16] = [0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// Attribute bits the QE identity checks (all but DEBUG in the flags, none of XFRM).
const QE_ATTRIBUTES_MASK: [u8; 16] = [
    0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// SGX attributes flag: enclave initialized.
const ATTR_INIT: u8 = 0x01;
/// SGX attributes flag: debug enclave.
const ATTR_DEBUG: u8 = 0x02;
/// SGX attributes flag: 64-bit enclave.
const ATTR_MODE64BIT: u8 = 0x04;
/// Default [CollateralSpec::tcb_evaluation].
pub const DEFAULT_TCB_EVALUATION: u32 = 17;

const ROOT_NAME: &str = "CN=Veil Test SGX Root CA,O=Veil Test";
const PCK_CA_NAME: &str = "CN=Veil Test SGX PCK Platform CA,O=Veil Test";
const PCK_NAME: &str = "CN=Veil Test SGX PCK Certificate,O=Veil Test";
const TCB_SIGNER_NAME: &str = "CN=Veil Test SGX TCB Signing,O=Veil Test";

const OID_ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_PRIME256V1: &str = "1.2.840.10045.3.1.7";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_CRL_NUMBER: &str = "2.5.29.20";
const OID_SGX_EXTENSION: &str = "1.2.840.113741.1.13.1";

/// A deterministic (seeded) test PKI: root CA, PCK chain, TCB-info/QE-identity signer, QE,
/// attestation key.
#[derive(Clone)]
pub struct TestCa {
    root_key: SigningKey,
    pck_ca_key: SigningKey,
    pck_key: SigningKey,
    tcb_key: SigningKey,
    attestation_key: SigningKey,
    root_der: Vec<u8>,
    pck_ca_der: Vec<u8>,
    pck_der: Vec<u8>,
    tcb_der: Vec<u8>,
    qe_mr_enclave: [u8; 32],
    qe_mr_signer: [u8; 32],
    qe_id: [u8; 16],
}

/// What an SGX quote from [TestCa::sgx_quote] reports about its enclave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgxQuoteSpec {
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// Sets the DEBUG attribute. [crate::dcap] verifies such quotes and reports the flag; the
    /// chain's registry refuses them.
    pub debug: bool,
    /// Report data chosen by the enclave.
    pub report_data: [u8; 64],
}

impl Default for SgxQuoteSpec {
    /// All-zero measurements and report data, ISVSVN 0, not debug.
    fn default() -> Self {
        Self {
            mr_enclave: [0; 32],
            mr_signer: [0; 32],
            isv_prod_id: 0,
            isv_svn: 0,
            debug: false,
            report_data: [0; 64],
        }
    }
}

/// What collateral from [TestCa::collateral] says, and when it is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollateralSpec {
    /// TCB status of the platform's TCB level, e.g. `UpToDate`, `OutOfDate`,
    /// `SWHardeningNeeded`, `ConfigurationNeeded`. `Revoked`, or a name `dcap-qvl` does not
    /// know, makes verification fail.
    pub tcb_status: String,
    /// Intel security advisories of that level (e.g. `INTEL-SA-00615`).
    pub advisory_ids: Vec<String>,
    /// Issue date of the TCB info, QE identity, and CRLs (`thisUpdate`), Unix seconds.
    pub issue_secs: u64,
    /// Next update of the TCB info, QE identity, and CRLs, Unix seconds. The collateral is
    /// refused from this time on.
    pub next_update_secs: u64,
    /// `tcbEvaluationDataNumber` of the TCB info.
    pub tcb_evaluation: u32,
    /// `tcbEvaluationDataNumber` of the QE identity.
    pub qe_tcb_evaluation: u32,
}

impl Default for CollateralSpec {
    /// `UpToDate`, no advisories, valid from 2026-01-01 to 2036-01-01, evaluation 17.
    fn default() -> Self {
        Self {
            tcb_status: "UpToDate".into(),
            advisory_ids: Vec::new(),
            issue_secs: DEFAULT_ISSUE_SECS,
            next_update_secs: DEFAULT_NEXT_UPDATE_SECS,
            tcb_evaluation: DEFAULT_TCB_EVALUATION,
            qe_tcb_evaluation: DEFAULT_TCB_EVALUATION,
        }
    }
}

impl TestCa {
    /// Generates the PKI from `seed`: the same seed gives the same keys and certificates.
    pub fn new(seed: u64) -> Self {
        let root_key = derive_key(seed, b"root");
        let pck_ca_key = derive_key(seed, b"pck-ca");
        let pck_key = derive_key(seed, b"pck");
        let tcb_key = derive_key(seed, b"tcb-signer");
        let attestation_key = derive_key(seed, b"attestation");

        let root_name = name_der(ROOT_NAME);
        let pck_ca_name = name_der(PCK_CA_NAME);

        let root_der = certificate(CertParams {
            serial: 1,
            issuer: &root_name,
            subject: &root_name,
            subject_key: &root_key,
            issuer_key: &root_key,
            extensions: &[basic_constraints(true, None)],
        });
        let pck_ca_der = certificate(CertParams {
            serial: 2,
            issuer: &root_name,
            subject: &pck_ca_name,
            subject_key: &pck_ca_key,
            issuer_key: &root_key,
            extensions: &[basic_constraints(true, Some(0))],
        });
        let ppid = derive_bytes::<16>(seed, b"ppid");
        let pck_der = certificate(CertParams {
            serial: 3,
            issuer: &pck_ca_name,
            subject: &name_der(PCK_NAME),
            subject_key: &pck_key,
            issuer_key: &pck_ca_key,
            extensions: &[sgx_extension(&ppid)],
        });
        let tcb_der = certificate(CertParams {
            serial: 4,
            issuer: &root_name,
            subject: &name_der(TCB_SIGNER_NAME),
            subject_key: &tcb_key,
            issuer_key: &root_key,
            extensions: &[],
        });

        Self {
            root_key,
            pck_ca_key,
            pck_key,
            tcb_key,
            attestation_key,
            root_der,
            pck_ca_der,
            pck_der,
            tcb_der,
            qe_mr_enclave: derive_bytes(seed, b"qe-mrenclave"),
            qe_mr_signer: derive_bytes(seed, b"qe-mrsigner"),
            qe_id: derive_bytes(seed, b"qe-id"),
        }
    }

    /// DER of the test root certificate: the trust anchor to verify with.
    pub fn root_der(&self) -> Vec<u8> {
        self.root_der.clone()
    }

    /// A v3 SGX quote (ECDSA-P256 attestation key) carrying `spec`, with certification data
    /// type 5: the PEM PCK chain (PCK certificate, PCK CA, root).
    pub fn sgx_quote(&self, spec: &SgxQuoteSpec) -> Vec<u8> {
        let mut header = Vec::with_capacity(48);
        header.extend_from_slice(&3u16.to_le_bytes()); // version
        header.extend_from_slice(&2u16.to_le_bytes()); // attestation key type: ECDSA P-256
        header.extend_from_slice(&0u32.to_le_bytes()); // TEE type: SGX
        header.extend_from_slice(&QE_ISV_SVN.to_le_bytes());
        header.extend_from_slice(&PLATFORM_PCE_SVN.to_le_bytes());
        header.extend_from_slice(&INTEL_QE_VENDOR_ID);
        header.extend_from_slice(&self.qe_id);
        header.extend_from_slice(&[0; 4]);

        let mut attributes = [0u8; 16];
        attributes[0] = ATTR_INIT | ATTR_MODE64BIT | if spec.debug { ATTR_DEBUG } else { 0 };
        attributes[8] = 0x03; // XFRM: x87, SSE
        let report = enclave_report(&EnclaveReport {
            attributes,
            mr_enclave: spec.mr_enclave,
            mr_signer: spec.mr_signer,
            isv_prod_id: spec.isv_prod_id,
            isv_svn: spec.isv_svn,
            report_data: spec.report_data,
        });

        let mut signed = header;
        signed.extend_from_slice(&report);
        let isv_signature = sign_raw(&self.attestation_key, &signed);

        let attestation_pub = raw_public_key(&self.attestation_key);
        let qe_auth_data: Vec<u8> = (0u8..32).collect();
        let mut qe_report_data = [0u8; 64];
        let qe_hash = Sha256::new()
            .chain_update(attestation_pub)
            .chain_update(&qe_auth_data)
            .finalize();
        qe_report_data[..32].copy_from_slice(&qe_hash);
        let qe_report = enclave_report(&EnclaveReport {
            attributes: QE_ATTRIBUTES,
            mr_enclave: self.qe_mr_enclave,
            mr_signer: self.qe_mr_signer,
            isv_prod_id: QE_ISV_PROD_ID,
            isv_svn: QE_ISV_SVN,
            report_data: qe_report_data,
        });
        let qe_report_signature = sign_raw(&self.pck_key, &qe_report);

        let chain = pem_chain(&[&self.pck_der, &self.pck_ca_der, &self.root_der]);
        let mut auth = Vec::new();
        auth.extend_from_slice(&isv_signature);
        auth.extend_from_slice(&attestation_pub);
        auth.extend_from_slice(&qe_report);
        auth.extend_from_slice(&qe_report_signature);
        auth.extend_from_slice(&len_u16(qe_auth_data.len()).to_le_bytes());
        auth.extend_from_slice(&qe_auth_data);
        auth.extend_from_slice(&5u16.to_le_bytes()); // certification data: PEM PCK chain
        auth.extend_from_slice(&len_u32(chain.len()).to_le_bytes());
        auth.extend_from_slice(chain.as_bytes());

        let mut quote = signed;
        quote.extend_from_slice(&len_u32(auth.len()).to_le_bytes());
        quote.extend_from_slice(&auth);
        quote
    }

    /// Collateral JSON (the `dcap-qvl` / PCCS form that [`crate::dcap::parse_collateral`]
    /// reads) for this CA's quotes: CRLs, TCB info, QE identity and their issuer chains.
    pub fn collateral(&self, spec: &CollateralSpec) -> Vec<u8> {
        let issue = rfc3339(spec.issue_secs);
        let next_update = rfc3339(spec.next_update_secs);

        let level = |cpu_svn: u8, pce_svn: u16, status: &str, advisories: &[String]| {
            let components: Vec<_> = (0..16).map(|_| json!({ "svn": cpu_svn })).collect();
            json!({
                "tcb": { "sgxtcbcomponents": components, "pcesvn": pce_svn },
                "tcbDate": issue,
                "tcbStatus": status,
                "advisoryIDs": advisories,
            })
        };
        let mut levels = Vec::new();
        if spec.tcb_status != "UpToDate" {
            levels.push(level(
                PLATFORM_CPU_SVN + 1,
                PLATFORM_PCE_SVN,
                "UpToDate",
                &[],
            ));
        }
        levels.push(level(
            PLATFORM_CPU_SVN,
            PLATFORM_PCE_SVN,
            &spec.tcb_status,
            &spec.advisory_ids,
        ));
        levels.push(level(
            PLATFORM_CPU_SVN - 1,
            PLATFORM_PCE_SVN - 2,
            "OutOfDate",
            &["INTEL-SA-00000".to_string()],
        ));
        let tcb_info = json!({
            "id": "SGX",
            "version": 3,
            "issueDate": issue,
            "nextUpdate": next_update,
            "fmspc": hex::encode_upper(FMSPC),
            "pceId": hex::encode_upper(PCE_ID),
            "tcbType": 0,
            "tcbEvaluationDataNumber": spec.tcb_evaluation,
            "tcbLevels": levels,
        })
        .to_string();

        let qe_identity = json!({
            "id": "QE",
            "version": 2,
            "issueDate": issue,
            "nextUpdate": next_update,
            "tcbEvaluationDataNumber": spec.qe_tcb_evaluation,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": hex::encode_upper(QE_ATTRIBUTES),
            "attributesMask": hex::encode_upper(QE_ATTRIBUTES_MASK),
            "mrsigner": hex::encode_upper(self.qe_mr_signer),
            "isvprodid": QE_ISV_PROD_ID,
            "tcbLevels": [{
                "tcb": { "isvsvn": QE_ISV_SVN },
                "tcbDate": issue,
                "tcbStatus": "UpToDate",
                "advisoryIDs": [],
            }],
        })
        .to_string();

        let root_name = name_der(ROOT_NAME);
        let root_ca_crl = crl(
            &root_name,
            &self.root_key,
            1,
            spec.issue_secs,
            spec.next_update_secs,
        );
        let pck_crl = crl(
            &name_der(PCK_CA_NAME),
            &self.pck_ca_key,
            1,
            spec.issue_secs,
            spec.next_update_secs,
        );
        let signer_chain = pem_chain(&[&self.tcb_der, &self.root_der]);

        let collateral = QuoteCollateralV3 {
            pck_crl_issuer_chain: pem_chain(&[&self.pck_ca_der, &self.root_der]),
            root_ca_crl,
            pck_crl,
            tcb_info_issuer_chain: signer_chain.clone(),
            tcb_info_signature: sign_raw(&self.tcb_key, tcb_info.as_bytes()).to_vec(),
            tcb_info,
            qe_identity_issuer_chain: signer_chain,
            qe_identity_signature: sign_raw(&self.tcb_key, qe_identity.as_bytes()).to_vec(),
            qe_identity,
            pck_certificate_chain: None,
        };
        serde_json::to_vec(&collateral).expect("collateral serializes to JSON")
    }
}

/// A P-256 key derived from the seed and a label.
fn derive_key(seed: u64, label: &[u8]) -> SigningKey {
    (0u8..)
        .find_map(|counter| {
            let bytes = Sha256::new()
                .chain_update(b"veil-test-ca key")
                .chain_update(seed.to_le_bytes())
                .chain_update(label)
                .chain_update([counter])
                .finalize();
            SigningKey::from_slice(&bytes).ok()
        })
        .expect("some counter gives a valid P-256 scalar")
}

/// `N` (at most 32) bytes derived from the seed and a label.
fn derive_bytes<const N: usize>(seed: u64, label: &[u8]) -> [u8; N] {
    let digest = Sha256::new()
        .chain_update(b"veil-test-ca bytes")
        .chain_update(seed.to_le_bytes())
        .chain_update(label)
        .finalize();
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    out
}

/// ECDSA-SHA256 signature as raw `r ‖ s`, the form quotes and collateral carry.
fn sign_raw(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    let signature: Signature = key.sign(message);
    let mut out = [0u8; 64];
    out.copy_from_slice(&signature.to_bytes());
    out
}

/// ECDSA-SHA256 signature as DER `Ecdsa-Sig-Value`, the form X.509 carries.
fn sign_der(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    let signature: Signature = key.sign(message);
    let (r, s) = signature.split_bytes();
    seq(&[&der_uint(&r), &der_uint(&s)])
}

/// Uncompressed public key without the SEC1 `0x04` prefix (`x ‖ y`).
fn raw_public_key(key: &SigningKey) -> [u8; 64] {
    let point = key.verifying_key().to_sec1_point(false);
    let mut out = [0u8; 64];
    out.copy_from_slice(&point.as_bytes()[1..]);
    out
}

/// SubjectPublicKeyInfo of a P-256 key.
fn spki(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().to_sec1_point(false);
    seq(&[
        &seq(&[&oid(OID_EC_PUBLIC_KEY), &oid(OID_PRIME256V1)]),
        &bit_string(point.as_bytes()),
    ])
}

/// The fields of an enclave report the test CA sets; the rest are zero.
struct EnclaveReport {
    attributes: [u8; 16],
    mr_enclave: [u8; 32],
    mr_signer: [u8; 32],
    isv_prod_id: u16,
    isv_svn: u16,
    report_data: [u8; 64],
}

/// The 384-byte SGX report body.
fn enclave_report(r: &EnclaveReport) -> Vec<u8> {
    let mut out = Vec::with_capacity(384);
    out.extend_from_slice(&[PLATFORM_CPU_SVN; 16]); // CPUSVN
    out.extend_from_slice(&0u32.to_le_bytes()); // MISCSELECT
    out.extend_from_slice(&[0; 28]);
    out.extend_from_slice(&r.attributes);
    out.extend_from_slice(&r.mr_enclave);
    out.extend_from_slice(&[0; 32]);
    out.extend_from_slice(&r.mr_signer);
    out.extend_from_slice(&[0; 96]);
    out.extend_from_slice(&r.isv_prod_id.to_le_bytes());
    out.extend_from_slice(&r.isv_svn.to_le_bytes());
    out.extend_from_slice(&[0; 60]);
    out.extend_from_slice(&r.report_data);
    debug_assert_eq!(out.len(), 384);
    out
}

fn len_u16(len: usize) -> u16 {
    u16::try_from(len).expect("length fits in u16")
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("length fits in u32")
}

/// Concatenated PEM `CERTIFICATE` blocks.
fn pem_chain(ders: &[&[u8]]) -> String {
    ders.iter()
        .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec())))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(secs: u64) -> String {
    let t = DateTime::from_unix_duration(Duration::from_secs(secs)).expect("time before 9999");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    )
}

// ---- DER ----

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// SEQUENCE of already-encoded parts.
fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// Non-negative INTEGER from big-endian bytes.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let mut content = Vec::new();
    if bytes.get(start).is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&bytes[start..]);
    if content.is_empty() {
        content.push(0);
    }
    tlv(0x02, &content)
}

fn oid(dotted: &str) -> Vec<u8> {
    dotted
        .parse::<ObjectIdentifier>()
        .expect("valid OID")
        .to_der()
        .expect("OID encodes")
}

fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

fn boolean_true() -> Vec<u8> {
    tlv(0x01, &[0xFF])
}

fn name_der(name: &str) -> Vec<u8> {
    name.parse::<Name>()
        .expect("valid distinguished name")
        .to_der()
        .expect("name encodes")
}

/// UTCTime before 2050, GeneralizedTime from then on.
fn time_der(secs: u64) -> Vec<u8> {
    let t = DateTime::from_unix_duration(Duration::from_secs(secs)).expect("time before 9999");
    Time::from(t).to_der().expect("time encodes")
}

fn ecdsa_with_sha256() -> Vec<u8> {
    seq(&[&oid(OID_ECDSA_WITH_SHA256)])
}

/// An extension; `critical` is left out when false (DER omits DEFAULT values).
fn extension(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        seq(&[&oid(id), &boolean_true(), &octet_string(value)])
    } else {
        seq(&[&oid(id), &octet_string(value)])
    }
}

fn basic_constraints(ca: bool, path_len: Option<u8>) -> Vec<u8> {
    let mut parts = Vec::new();
    if ca {
        parts.push(boolean_true());
    }
    if let Some(len) = path_len {
        parts.push(der_uint(&[len]));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    extension(OID_BASIC_CONSTRAINTS, true, &seq(&refs))
}

/// Intel's SGX extension (OID 1.2.840.113741.1.13.1) of a PCK certificate.
fn sgx_extension(ppid: &[u8; 16]) -> Vec<u8> {
    let entry = |id: String, value: Vec<u8>| seq(&[&oid(&id), &value]);
    let sub = |arc: &str| format!("{OID_SGX_EXTENSION}.{arc}");

    let mut tcb: Vec<Vec<u8>> = (1..=16)
        .map(|i| entry(sub(&format!("2.{i}")), der_uint(&[PLATFORM_CPU_SVN])))
        .collect();
    tcb.push(entry(
        sub("2.17"),
        der_uint(&PLATFORM_PCE_SVN.to_be_bytes()),
    ));
    tcb.push(entry(sub("2.18"), octet_string(&[PLATFORM_CPU_SVN; 16])));
    let tcb_refs: Vec<&[u8]> = tcb.iter().map(Vec::as_slice).collect();

    let value = seq(&[
        &entry(sub("1"), octet_string(ppid)),
        &entry(sub("2"), seq(&tcb_refs)),
        &entry(sub("3"), octet_string(&PCE_ID)),
        &entry(sub("4"), octet_string(&FMSPC)),
        &entry(sub("5"), tlv(0x0A, &[0])), // SGX type: Standard (ENUMERATED 0)
    ]);
    extension(OID_SGX_EXTENSION, false, &value)
}

struct CertParams<'a> {
    serial: u8,
    issuer: &'a [u8],
    subject: &'a [u8],
    subject_key: &'a SigningKey,
    issuer_key: &'a SigningKey,
    extensions: &'a [Vec<u8>],
}

/// A v3 certificate valid from [CERT_NOT_BEFORE_SECS] to [CERT_NOT_AFTER_SECS].
fn certificate(p: CertParams<'_>) -> Vec<u8> {
    let algorithm = ecdsa_with_sha256();
    let validity = seq(&[
        &time_der(CERT_NOT_BEFORE_SECS),
        &time_der(CERT_NOT_AFTER_SECS),
    ]);
    let mut tbs_parts: Vec<Vec<u8>> = vec![
        tlv(0xA0, &der_uint(&[2])), // version v3
        der_uint(&[p.serial]),
        algorithm.clone(),
        p.issuer.to_vec(),
        validity,
        p.subject.to_vec(),
        spki(p.subject_key),
    ];
    if !p.extensions.is_empty() {
        let exts: Vec<&[u8]> = p.extensions.iter().map(Vec::as_slice).collect();
        tbs_parts.push(tlv(0xA3, &seq(&exts)));
    }
    let refs: Vec<&[u8]> = tbs_parts.iter().map(Vec::as_slice).collect();
    let tbs = seq(&refs);
    let signature = sign_der(p.issuer_key, &tbs);
    seq(&[&tbs, &algorithm, &bit_string(&signature)])
}

/// A v2 CRL with no revoked certificates, issued and signed by `issuer`.
fn crl(issuer: &[u8], key: &SigningKey, number: u8, this_update: u64, next_update: u64) -> Vec<u8> {
    let algorithm = ecdsa_with_sha256();
    let extensions = seq(&[&extension(OID_CRL_NUMBER, false, &der_uint(&[number]))]);
    let tbs = seq(&[
        &der_uint(&[1]), // version v2
        &algorithm,
        issuer,
        &time_der(this_update),
        &time_der(next_update),
        &tlv(0xA0, &extensions),
    ]);
    let signature = sign_der(key, &tbs);
    seq(&[&tbs, &algorithm, &bit_string(&signature)])
}
