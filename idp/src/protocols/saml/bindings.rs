//! The two request bindings: HTTP-Redirect (raw DEFLATE + base64 in the query, with the
//! query-string signature) and HTTP-POST (base64 in a form, enveloped signature).
//!
//! The Redirect signature is checked over the query bytes exactly as received
//! (`SAMLRequest=…[&RelayState=…]&SigAlg=…`, still percent-encoded), never over a
//! re-encoding (rust-saml-notes trap 3), with the SP's registered certificates only, and
//! RSA-SHA1 only when the SP's entry allows it. Sizes are bounded before and after
//! inflating. The POST signature goes through `federation_metadata::xmlsig`, which refuses
//! wrapping before any cryptography, with the same SHA-1 rule.

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;

use super::error::Refusal;

/// Largest SAML message accepted, decoded (an AuthnRequest is a few kB).
pub const MAX_XML: usize = 64 * 1024;
/// Largest encoded parameter accepted.
pub const MAX_ENCODED: usize = 96 * 1024;
/// Longest RelayState passed through (the binding says 80 bytes; SPs often send more).
pub const MAX_RELAY_STATE: usize = 1024;

pub const SIG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SIG_RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
pub const SIG_RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub const SIG_RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

/// An HTTP-Redirect message, split from the raw query.
#[derive(Debug)]
pub struct RedirectMessage {
    pub xml: String,
    pub relay_state: Option<String>,
    /// The signature, when there is one: (algorithm URI, signature bytes, signed bytes).
    pub signature: Option<(String, Vec<u8>, Vec<u8>)>,
}

/// Percent-decoding of one query value (`+` is a space).
pub fn percent_decode(raw: &str) -> Option<String> {
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

fn b64(s: &str) -> Result<Vec<u8>, Refusal> {
    let engine = &base64::engine::general_purpose::STANDARD;
    // Line breaks and spaces are dropped first; the copy is made only when there are some.
    let decoded = if s.bytes().any(|b| b.is_ascii_whitespace()) {
        let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        engine.decode(cleaned)
    } else {
        engine.decode(s)
    };
    decoded.map_err(|_| Refusal::page("message is not valid base64"))
}

/// Raw DEFLATE (RFC 1951) with an output limit.
///
/// The decompressor (about 43 kB of state) is kept per thread and reset per message instead
/// of being allocated per message. As with the reader it replaces, a stream cut short is
/// refused, and bytes after the end of the stream are ignored.
pub fn inflate(data: &[u8]) -> Result<String, Refusal> {
    use flate2::{Decompress, FlushDecompress, Status};
    thread_local! {
        static INFLATE: std::cell::RefCell<Decompress> =
            std::cell::RefCell::new(Decompress::new(false));
    }
    let corrupt = || Refusal::page("message is not valid DEFLATE");
    let out = INFLATE.with_borrow_mut(|d| -> Result<Vec<u8>, Refusal> {
        d.reset(false);
        // Output is written only into spare capacity, grown up to MAX_XML + 1 bytes.
        let mut out = Vec::with_capacity(data.len().saturating_mul(4).clamp(1024, MAX_XML + 1));
        // The reader's loop (`flate2::zio::read` under `read_to_end`): `Finish` once the
        // input is used up; a call giving no output ends the message at the end of the
        // stream, and is an incomplete stream when the input is used up before it.
        loop {
            if out.len() > MAX_XML {
                return Err(Refusal::page("message too large"));
            }
            if out.len() == out.capacity() {
                out.reserve_exact(out.capacity().min(MAX_XML + 1 - out.len()));
            }
            let before = (d.total_in(), d.total_out());
            let consumed = usize::try_from(before.0).map_err(|_| corrupt())?;
            let input = data.get(consumed..).unwrap_or_default();
            let eof = input.is_empty();
            let flush = if eof {
                FlushDecompress::Finish
            } else {
                FlushDecompress::None
            };
            let status = d
                .decompress_vec(input, &mut out, flush)
                .map_err(|_| corrupt())?;
            let after = (d.total_in(), d.total_out());
            if after.1 != before.1 {
                continue;
            }
            match status {
                Status::StreamEnd => return Ok(out),
                // Input left and some of it taken: more calls needed.
                Status::Ok | Status::BufError if !eof && after != before => {}
                Status::Ok | Status::BufError => return Err(corrupt()),
            }
        }
    })?;
    String::from_utf8(out).map_err(|_| Refusal::page("message is not UTF-8"))
}

/// Splits a raw query string into an HTTP-Redirect message (`param` is `SAMLRequest` or
/// `SAMLResponse`).
pub fn decode_redirect(query: &str, param: &str) -> Result<RedirectMessage, Refusal> {
    if query.len() > MAX_ENCODED {
        return Err(Refusal::page("query too large"));
    }
    let mut message = None;
    let mut relay = None;
    let mut sig_alg = None;
    let mut signature = None;
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
            return Err(Refusal::page("a binding parameter is repeated"));
        }
        *slot = Some(part);
    }
    let message = message.ok_or_else(|| Refusal::page("no SAML message"))?;
    let value = |part: &str| -> Result<String, Refusal> {
        percent_decode(part.split_once('=').map(|(_, v)| v).unwrap_or_default())
            .ok_or_else(|| Refusal::page("badly encoded query"))
    };
    let xml = inflate(&b64(&value(message)?)?)?;
    let relay_state = relay.map(value).transpose()?;
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > MAX_RELAY_STATE)
    {
        return Err(Refusal::page("RelayState too long"));
    }
    let signature = match (sig_alg, signature) {
        (Some(alg), Some(sig)) => {
            // The signed bytes: the parameters as received, in the binding's order.
            let mut signed = message.to_owned();
            if let Some(r) = relay {
                signed.push('&');
                signed.push_str(r);
            }
            signed.push('&');
            signed.push_str(alg);
            Some((value(alg)?, b64(&value(sig)?)?, signed.into_bytes()))
        }
        (None, None) => None,
        _ => return Err(Refusal::page("SigAlg and Signature go together")),
    };
    Ok(RedirectMessage {
        xml,
        relay_state,
        signature,
    })
}

/// Checks a Redirect signature with one of `certs` (PEM).
pub fn verify_redirect_signature(
    alg: &str,
    signature: &[u8],
    signed: &[u8],
    certs: &[String],
    allow_sha1: bool,
) -> Result<(), Refusal> {
    let digest = match alg {
        // The same methods as `xmlsig` accepts for the POST binding.
        SIG_RSA_SHA256 => MessageDigest::sha256(),
        SIG_RSA_SHA384 => MessageDigest::sha384(),
        SIG_RSA_SHA512 => MessageDigest::sha512(),
        SIG_RSA_SHA1 if allow_sha1 => MessageDigest::sha1(),
        _ => return Err(Refusal::page("signature algorithm not accepted")),
    };
    for pem in certs {
        let Ok(cert) = X509::from_pem(pem.as_bytes()) else {
            continue;
        };
        let Ok(key) = cert.public_key() else {
            continue;
        };
        let ok = Verifier::new(digest, &key)
            .and_then(|mut v| {
                v.update(signed)?;
                v.verify(signature)
            })
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
    }
    Err(Refusal::page("the request signature does not verify"))
}

/// An HTTP-POST message: base64, bounded.
pub fn decode_post(value: &str, relay_state: Option<&str>) -> Result<String, Refusal> {
    if value.trim().is_empty() {
        return Err(Refusal::page("no SAML message"));
    }
    if value.len() > MAX_ENCODED {
        return Err(Refusal::page("message too large"));
    }
    if relay_state.is_some_and(|r| r.len() > MAX_RELAY_STATE) {
        return Err(Refusal::page("RelayState too long"));
    }
    let raw = b64(value)?;
    if raw.len() > MAX_XML {
        return Err(Refusal::page("message too large"));
    }
    String::from_utf8(raw).map_err(|_| Refusal::page("message is not UTF-8"))
}

/// Checks the enveloped signature of a POSTed message with one of `certs` (PEM); the
/// wrapping-safe checks of `xmlsig` come first. RSA-SHA1 and the SHA-1 digest only when
/// `allow_sha1` (the SP's entry), as for the Redirect binding.
pub fn verify_post_signature(xml: &str, certs: &[String], allow_sha1: bool) -> Result<(), Refusal> {
    use federation_metadata::xmlsig::{verify_enveloped_with, Accepted};
    let mut last = "no usable certificate registered".to_owned();
    for pem in certs {
        let Ok(cert) = X509::from_pem(pem.as_bytes()) else {
            continue;
        };
        match verify_enveloped_with(xml, &cert, Accepted::with_sha1(allow_sha1)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(Refusal::page_owned(format!(
        "the request signature is refused: {last}"
    )))
}
