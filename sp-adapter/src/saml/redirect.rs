//! The HTTP-Redirect binding (SAML bindings 3.4): raw DEFLATE, base64, percent-encoding,
//! and the query-string signature (`SAMLRequest|SAMLResponse=…[&RelayState=…]&SigAlg=…`).
//!
//! We sign with RSA-SHA256. On input the signature is required, checked over the query
//! bytes exactly as received (never a re-encoding), with the IdP's configured certificate
//! only; RSA-SHA256/384/512 are accepted, RSA-SHA1 is not. Sizes are bounded before and
//! after inflating.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;

use super::xml::MAX_XML;
use super::SamlError;
use crate::cas::encode;

pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SIG_RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const SIG_RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";

/// Largest query accepted.
const MAX_QUERY: usize = 96 * 1024;
/// Longest RelayState accepted (the binding says 80 bytes; a local path fits).
pub const MAX_RELAY_STATE: usize = 512;

fn b64(s: &str) -> Result<Vec<u8>, SamlError> {
    let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|_| SamlError::Malformed("not valid base64".into()))
}

/// Percent-decoding of one query value (`+` is a space).
fn percent_decode(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The URL that carries `xml` as `param` to `location`, signed with `key`.
pub fn signed_url(
    location: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, SamlError> {
    let io = |e: std::io::Error| SamlError::Crypto(e.to_string());
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).map_err(io)?;
    let deflated = enc.finish().map_err(io)?;
    let mut query = format!(
        "{param}={}",
        encode(&base64::engine::general_purpose::STANDARD.encode(deflated))
    );
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", encode(r)));
    }
    query.push_str(&format!("&SigAlg={}", encode(SIG_RSA_SHA256)));
    let ssl = |e: openssl::error::ErrorStack| SamlError::Crypto(e.to_string());
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(ssl)?;
    signer.update(query.as_bytes()).map_err(ssl)?;
    let sig = base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().map_err(ssl)?);
    let sep = if location.contains('?') { '&' } else { '?' };
    Ok(format!("{location}{sep}{query}&Signature={}", encode(&sig)))
}

/// A verified HTTP-Redirect message.
#[derive(Debug)]
pub struct Received {
    pub xml: String,
    pub relay_state: Option<String>,
}

/// Reads `param` from the raw query `query` and checks its signature with `cert`.
pub fn decode_verified(query: &str, param: &str, cert: &X509) -> Result<Received, SamlError> {
    if query.len() > MAX_QUERY {
        return Err(SamlError::Malformed("query too large".into()));
    }
    let (mut message, mut relay, mut sig_alg, mut signature) = (None, None, None, None);
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, _) = part.split_once('=').unwrap_or((part, ""));
        let slot = match name {
            n if n == param => &mut message,
            "RelayState" => &mut relay,
            "SigAlg" => &mut sig_alg,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_some() {
            return Err(SamlError::Malformed(format!("{name} is repeated")));
        }
        *slot = Some(part);
    }
    let message = message.ok_or_else(|| SamlError::Malformed(format!("no {param}")))?;
    let value = |part: &str| {
        percent_decode(part.split_once('=').map(|(_, v)| v).unwrap_or_default())
            .ok_or_else(|| SamlError::Malformed("badly encoded query".into()))
    };
    let (Some(alg), Some(sig)) = (sig_alg, signature) else {
        return Err(SamlError::BadSignature("the message is not signed".into()));
    };
    let digest = match value(alg)?.as_str() {
        SIG_RSA_SHA256 => MessageDigest::sha256(),
        SIG_RSA_SHA384 => MessageDigest::sha384(),
        SIG_RSA_SHA512 => MessageDigest::sha512(),
        _ => {
            return Err(SamlError::BadSignature(
                "signature algorithm not accepted".into(),
            ))
        }
    };
    // The signed bytes: the parameters as received, in the binding's order.
    let mut signed = message.to_owned();
    if let Some(r) = relay {
        signed.push('&');
        signed.push_str(r);
    }
    signed.push('&');
    signed.push_str(alg);
    let signature = b64(&value(sig)?)?;
    let key = cert
        .public_key()
        .map_err(|e| SamlError::Crypto(e.to_string()))?;
    let ok = Verifier::new(digest, &key)
        .and_then(|mut v| {
            v.update(signed.as_bytes())?;
            v.verify(&signature)
        })
        .unwrap_or(false);
    if !ok {
        return Err(SamlError::BadSignature(
            "the query signature does not verify with the IdP's certificate".into(),
        ));
    }
    let deflated = b64(&value(message)?)?;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_XML as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| SamlError::Malformed("not valid DEFLATE".into()))?;
    if out.len() > MAX_XML {
        return Err(SamlError::Malformed("message too large".into()));
    }
    let xml = String::from_utf8(out).map_err(|_| SamlError::Malformed("not UTF-8".into()))?;
    let relay_state = relay.map(value).transpose()?;
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return Err(SamlError::Malformed("RelayState too long".into()));
    }
    Ok(Received { xml, relay_state })
}
