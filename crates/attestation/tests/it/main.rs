//! Attestation's integration tests, one binary: the sample quotes shipped with `dcap-qvl`
//! ([dcap_samples]) and the test PKI ([test_ca]).

mod dcap_samples;
mod test_ca;
