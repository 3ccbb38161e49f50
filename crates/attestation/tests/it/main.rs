//! Attestation's integration tests, one binary: the sample quotes shipped with `dcap-qvl`
//! ([dcap_samples]), the test PKI ([test_ca]), and malformed quotes and collateral ([fuzz]).

mod dcap_samples;
mod fuzz;
mod test_ca;
