//! The dev remote attestation service's signature over dev evidence.
//!
//! In dev mode there is no hardware to vouch for a quote, so the whitepaper's remote
//! attestation service is played by `veil ra-service`: it signs the dev quote with a dev
//! attestation key that genesis names, and the chain accepts the result only when genesis
//! allows insecure attestation. The signature proves only that the service saw the quote.

use bytes::BufMut;
use commonware_codec::{Buf, DecodeExt as _, Encode as _, EncodeSize, Error, Read, ReadExt, Write};
use commonware_cryptography::{Signer as _, Verifier as _};
use veil_primitives::{AccountId, PrivateKey, Signature};

use crate::DevQuote;

/// Signature domain of the dev RA service.
pub const DEV_RA_NAMESPACE: &[u8] = veil_primitives::namespace::DEV_RA;

/// A dev quote signed by the dev RA service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDevQuote {
    /// The quote.
    pub quote: DevQuote,
    /// The service's key.
    pub signer: AccountId,
    /// Its signature over the encoded quote.
    pub signature: Signature,
}

/// Why a signed dev quote was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DevError {
    /// Bytes that do not decode.
    #[error("malformed signed dev quote: {0}")]
    Malformed(String),
    /// Signed by a key other than the trusted dev attestation key.
    #[error("signed by an untrusted key")]
    UntrustedSigner,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// Signs a dev quote (what `veil ra-service` does).
pub fn sign(key: &PrivateKey, quote: DevQuote) -> SignedDevQuote {
    let signature = key.sign(DEV_RA_NAMESPACE, &quote.encode());
    SignedDevQuote {
        quote,
        signer: key.public_key(),
        signature,
    }
}

/// Checks an encoded signed dev quote against the trusted dev attestation key.
pub fn verify(bytes: &[u8], trusted: &AccountId) -> Result<DevQuote, DevError> {
    let signed =
        SignedDevQuote::decode(bytes.to_vec()).map_err(|e| DevError::Malformed(e.to_string()))?;
    if &signed.signer != trusted {
        return Err(DevError::UntrustedSigner);
    }
    if !signed
        .signer
        .verify(DEV_RA_NAMESPACE, &signed.quote.encode(), &signed.signature)
    {
        return Err(DevError::BadSignature);
    }
    Ok(signed.quote)
}

impl Write for SignedDevQuote {
    fn write(&self, buf: &mut impl BufMut) {
        self.quote.write(buf);
        self.signer.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedDevQuote {
    fn encode_size(&self) -> usize {
        self.quote.encode_size() + self.signer.encode_size() + self.signature.encode_size()
    }
}

impl Read for SignedDevQuote {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            quote: DevQuote::read(buf)?,
            signer: AccountId::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_trusted_service_is_accepted() {
        let service = PrivateKey::from_seed(1);
        let quote = DevQuote {
            measurement: [3; 32],
            report_data: [4; 64],
        };
        let signed = sign(&service, quote.clone()).encode().to_vec();
        assert_eq!(verify(&signed, &service.public_key()), Ok(quote));
        let other = PrivateKey::from_seed(2);
        assert_eq!(
            verify(&signed, &other.public_key()),
            Err(DevError::UntrustedSigner)
        );
        let mut tampered = signed.clone();
        tampered[5] ^= 1;
        assert_eq!(
            verify(&tampered, &service.public_key()),
            Err(DevError::BadSignature)
        );
        assert!(matches!(
            verify(&signed[..50], &service.public_key()),
            Err(DevError::Malformed(_))
        ));
    }
}
