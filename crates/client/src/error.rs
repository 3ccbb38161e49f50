//! JSON-RPC failures as sentences for a person, and account ids with a clear error.

use jsonrpsee::core::ClientError;
use veil_primitives::{AccountId, decode_hex};

/// A client failure in words: the server's own message when it refused the call, what went
/// wrong on the way otherwise (never a debug dump of the error object).
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Call(object) => object.message().to_string(),
        ClientError::Transport(t) => format!("cannot reach the server: {t}"),
        ClientError::RequestTimeout => "the server did not answer in time".into(),
        ClientError::ParseError(p) => format!("the server's answer is not what was expected: {p}"),
        other => other.to_string(),
    }
}

/// [describe] as an error, for `?`.
pub fn rpc(e: ClientError) -> anyhow::Error {
    anyhow::anyhow!(describe(&e))
}

/// Parses an account id (an ed25519 public key), saying what form is expected when it is not
/// one.
pub fn parse_account(s: &str) -> anyhow::Result<AccountId> {
    decode_hex(s.trim()).map_err(|_| {
        anyhow::anyhow!(
            "`{s}` is not an account id: expected 0x followed by 64 hex digits (an ed25519 \
             public key, as `veil key generate` prints)"
        )
    })
}

#[cfg(test)]
mod tests {
    use commonware_cryptography::Signer as _;
    use jsonrpsee::types::ErrorObjectOwned;

    use super::*;

    #[test]
    fn a_refusal_reads_as_the_servers_message() {
        let e = ClientError::Call(ErrorObjectOwned::owned(
            -32010,
            "insufficient balance: 10 needed, 0 available",
            None::<()>,
        ));
        assert_eq!(describe(&e), "insufficient balance: 10 needed, 0 available");
    }

    #[test]
    fn a_bad_account_says_what_is_expected() {
        let e = parse_account("0x1234").unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        let e = parse_account("alice").unwrap_err().to_string();
        assert!(e.contains("`alice` is not an account id"), "{e}");
        let key = veil_primitives::PrivateKey::from_seed(1).public_key();
        assert_eq!(parse_account(&veil_primitives::to_hex(&key)).unwrap(), key);
    }
}
