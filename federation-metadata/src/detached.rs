//! Detached signatures over exact bytes: RSA PKCS#1 v1.5 with SHA-256, base64 in a sibling
//! `.sig` file. Used for the compact registries (`registry.json`, `cas-services.json`),
//! which the IdP checks byte for byte before parsing anything.

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

#[derive(Debug, thiserror::Error)]
pub enum DetachedError {
    #[error("the signature file is not base64")]
    Encoding,
    #[error("the signature does not verify with the configured certificate")]
    BadSignature,
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
    #[error("reading: {0}")]
    Read(std::io::Error),
}

/// The base64 RSA-SHA256 signature of `bytes` (with a final newline, as a text file).
pub fn sign(bytes: &[u8], key: &PKey<Private>) -> Result<String, DetachedError> {
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    signer.update(bytes)?;
    let sig = signer.sign_to_vec()?;
    Ok(format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(sig)
    ))
}

/// Checks `signature` (base64, surrounding whitespace ignored) over `bytes` with `cert`'s
/// public key.
pub fn verify(bytes: &[u8], signature: &[u8], cert: &X509) -> Result<(), DetachedError> {
    let text = std::str::from_utf8(signature).map_err(|_| DetachedError::Encoding)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| DetachedError::Encoding)?;
    let public = cert.public_key()?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public)?;
    verifier.update(bytes)?;
    // openssl reports a malformed signature as an error and a wrong one as `false`: both
    // mean the same to the caller.
    match verifier.verify(&sig) {
        Ok(true) => Ok(()),
        _ => Err(DetachedError::BadSignature),
    }
}

/// Streams `reader` to its end through the verifier and a SHA-256, checks `signature` with
/// `cert`'s key, and returns the SHA-256 of what was read (so that a second pass over the
/// same file can prove it read the same bytes).
pub fn verify_stream(
    mut reader: impl std::io::Read,
    signature: &[u8],
    cert: &X509,
) -> Result<[u8; 32], DetachedError> {
    let text = std::str::from_utf8(signature).map_err(|_| DetachedError::Encoding)?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| DetachedError::Encoding)?;
    let public = cert.public_key()?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public)?;
    let mut digest = openssl::sha::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(DetachedError::Read)?;
        if n == 0 {
            break;
        }
        verifier.update(&buf[..n])?;
        digest.update(&buf[..n]);
    }
    match verifier.verify(&sig) {
        Ok(true) => Ok(digest.finish()),
        _ => Err(DetachedError::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let (key, cert) = crate::keys::generate_self_signed("t", 1).unwrap();
        let sig = sign(b"{\"a\":1}", &key).unwrap();
        verify(b"{\"a\":1}", sig.as_bytes(), &cert).unwrap();
        assert!(verify(b"{\"a\":2}", sig.as_bytes(), &cert).is_err());
        assert!(verify(b"{\"a\":1}", b"not base64!", &cert).is_err());
        let (_, other) = crate::keys::generate_self_signed("o", 1).unwrap();
        assert!(verify(b"{\"a\":1}", sig.as_bytes(), &other).is_err());
    }
}
