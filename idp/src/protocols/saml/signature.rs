//! Enveloped signatures for the XML the IdP writes itself, without re-parsing it.
//!
//! `response.rs` writes each signed element directly in its exclusive canonical form (W3C
//! xml-exc-c14n on top of C14N 1.0): attributes in canonical order, no self-closing tags, no
//! whitespace between elements, no XML declaration, the escaping of [`text`] and
//! [`attr_value`], and each namespace declared only on the outermost element that visibly
//! uses it (`xsi` on each `AttributeValue`, `xs` kept there by the transform's
//! `InclusiveNamespaces PrefixList="xs"`, since `xs` appears only inside `xsi:type`'s value).
//! The enveloped transform then leaves the element's bytes without its `ds:Signature`, so
//! the reference digest is a plain hash of those bytes. `SignedInfo` is written twice: in
//! the document, and as its canonical form as an apex (with `xmlns:ds` on it), which is
//! what is signed. openssl does the hashing and the RSA; this module only produces bytes.
//! The cost is one RSA signature with the IdP key parsed once at start, instead of
//! libxmlsec1's parse, c14n and per-call key import (`federation_metadata::xmlsig`, still
//! used for everything else: metadata, registries).

use std::borrow::Cow;
use std::sync::Mutex;

use base64::Engine as _;
use openssl::error::ErrorStack;
use openssl::md::Md;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;

use super::response::SignError;
use federation_metadata::xmlsig::{DSIG_NS, ENVELOPED, EXC_C14N, RSA_SHA256, SHA256};

const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Whether every character of `s` may appear in an XML 1.0 document (`Char`): no control
/// character other than TAB, LF and CR, no U+FFFE/U+FFFF (a `str` holds no surrogates).
pub fn xml_chars_ok(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    })
}

fn escape_with(s: &str, needs: fn(u8) -> bool, entity: fn(u8) -> &'static str) -> Cow<'_, str> {
    if !s.bytes().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut start = 0;
    // Only ASCII bytes are replaced, so every slice boundary is a char boundary.
    for (i, b) in s.bytes().enumerate() {
        if needs(b) {
            out.push_str(&s[start..i]);
            out.push_str(entity(b));
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
    Cow::Owned(out)
}

/// Character data as C14N writes it: `&` `<` `>` and CR as references, nothing else (a
/// literal CR would be read back as LF).
pub fn text(s: &str) -> Cow<'_, str> {
    escape_with(
        s,
        |b| matches!(b, b'&' | b'<' | b'>' | b'\r'),
        |b| match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&#xD;",
        },
    )
}

/// An attribute value (between double quotes) as C14N writes it: `&` `<` `"` and TAB, LF,
/// CR as references (the whitespace ones would be normalised to spaces when read back).
pub fn attr_value(s: &str) -> Cow<'_, str> {
    escape_with(
        s,
        |b| matches!(b, b'&' | b'<' | b'"' | b'\t' | b'\n' | b'\r'),
        |b| match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'"' => "&quot;",
            b'\t' => "&#x9;",
            b'\n' => "&#xA;",
            _ => "&#xD;",
        },
    )
}

/// The digest and signature algorithms of one signature.
#[derive(Clone, Copy)]
struct Algorithms {
    signature_uri: &'static str,
    digest_uri: &'static str,
    /// The reference digest (of the signed element).
    digest: Nid,
    /// The signature's own digest (of `SignedInfo`).
    signature: Nid,
}

impl Algorithms {
    fn for_method(uri: &str) -> Result<Self, SignError> {
        match uri {
            RSA_SHA256 => Ok(Self {
                signature_uri: RSA_SHA256,
                digest_uri: SHA256,
                digest: Nid::SHA256,
                signature: Nid::SHA256,
            }),
            // The reference digest stays SHA-256, as libxmlsec1's template had it.
            RSA_SHA512 => Ok(Self {
                signature_uri: RSA_SHA512,
                digest_uri: SHA256,
                digest: Nid::SHA256,
                signature: Nid::SHA512,
            }),
            // Only reached for partners whose entry allows SHA-1; such a verifier may not
            // know SHA-256 either.
            RSA_SHA1 => Ok(Self {
                signature_uri: RSA_SHA1,
                digest_uri: SHA1,
                digest: Nid::SHA1,
                signature: Nid::SHA1,
            }),
            other => Err(SignError(format!("signature method {other} not supported"))),
        }
    }
}

/// The `nid` hash (SHA-1, SHA-512, else SHA-256) of `parts` in order, through OpenSSL's
/// incremental API (its one-shot functions fetch the algorithm by name on every call).
fn hash(nid: Nid, parts: &[&str]) -> Vec<u8> {
    match nid {
        Nid::SHA1 => {
            let mut h = openssl::sha::Sha1::new();
            parts.iter().for_each(|p| h.update(p.as_bytes()));
            h.finish().to_vec()
        }
        Nid::SHA512 => {
            let mut h = openssl::sha::Sha512::new();
            parts.iter().for_each(|p| h.update(p.as_bytes()));
            h.finish().to_vec()
        }
        _ => {
            let mut h = openssl::sha::Sha256::new();
            parts.iter().for_each(|p| h.update(p.as_bytes()));
            h.finish().to_vec()
        }
    }
}

/// Appends `SignedInfo`'s content after its start tag (the same bytes in the document and
/// in its canonical form).
fn push_signed_info_body(out: &mut String, alg: &Algorithms, id: &str, digest_b64: &str) {
    for part in [
        "<ds:CanonicalizationMethod Algorithm=\"",
        EXC_C14N,
        "\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"",
        alg.signature_uri,
        "\"></ds:SignatureMethod><ds:Reference URI=\"#",
        &attr_value(id),
        "\"><ds:Transforms><ds:Transform Algorithm=\"",
        ENVELOPED,
        "\"></ds:Transform><ds:Transform Algorithm=\"",
        EXC_C14N,
        "\"><ec:InclusiveNamespaces xmlns:ec=\"",
        EXC_C14N,
        "\" PrefixList=\"xs\"></ec:InclusiveNamespaces></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"",
        alg.digest_uri,
        "\"></ds:DigestMethod><ds:DigestValue>",
        digest_b64,
        "</ds:DigestValue></ds:Reference></ds:SignedInfo>",
    ] {
        out.push_str(part);
    }
}

/// Signing contexts kept per key and digest, at most this many each (one per worker is
/// enough; more only when signatures run on other threads at the same time).
const READY_CONTEXTS: usize = 8;

/// The IdP's signing key, with its certificate as `KeyInfo` carries it (base64, made once)
/// and initialised RSA signing contexts ready for use. `EVP_PKEY_sign` may be called again
/// on an initialised context: openssl's `Signer` made a new one per signature (algorithm
/// fetches) and copied it again at the end, several µs per response.
pub struct SigningKey {
    key: PKey<Private>,
    cert_b64: String,
    ready: Mutex<Vec<(Nid, PkeyCtx<Private>)>>,
}

impl SigningKey {
    pub fn new(key: PKey<Private>, cert_der: &[u8]) -> Self {
        Self {
            key,
            cert_b64: base64::engine::general_purpose::STANDARD.encode(cert_der),
            ready: Mutex::new(Vec::new()),
        }
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, Vec<(Nid, PkeyCtx<Private>)>> {
        self.ready
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// PKCS#1 v1.5 signature of `digest`, a hash by `nid` (its DigestInfo is what is
    /// signed): the same bytes as `Signer` with that hash over the unhashed data.
    fn sign_digest(&self, nid: Nid, digest: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        let kept = {
            let mut ready = self.ready();
            let at = ready.iter().position(|(n, _)| *n == nid);
            at.map(|i| ready.swap_remove(i).1)
        };
        let mut ctx = match kept {
            Some(ctx) => ctx,
            None => {
                let mut ctx = PkeyCtx::new(&self.key)?;
                ctx.sign_init()?;
                ctx.set_rsa_padding(Padding::PKCS1)?;
                ctx.set_signature_md(match nid {
                    Nid::SHA1 => Md::sha1(),
                    Nid::SHA512 => Md::sha512(),
                    _ => Md::sha256(),
                })?;
                ctx
            }
        };
        let mut sig = vec![0u8; ctx.sign(digest, None)?];
        let len = ctx.sign(digest, Some(&mut sig))?;
        sig.truncate(len);
        // A context that failed is dropped, not kept.
        let mut ready = self.ready();
        if ready.iter().filter(|(n, _)| *n == nid).count() < READY_CONTEXTS {
            ready.push((nid, ctx));
        }
        Ok(sig)
    }
}

/// The key that signs, and the signature method (a URI of `SignatureAlgorithm`).
pub struct Key<'a> {
    pub key: &'a SigningKey,
    pub algorithm: &'a str,
}

/// The `ds:Signature` element (canonical, `xmlns:ds` on it) for the element `head + tail`,
/// whose `ID` is `id`: `head` is the element up to where the signature goes (after its
/// `Issuer`), `tail` the rest. Both must already be canonical.
pub fn enveloped_signature(
    id: &str,
    head: &str,
    tail: &str,
    key: &Key<'_>,
) -> Result<String, SignError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let alg = Algorithms::for_method(key.algorithm)?;
    let mut body = String::with_capacity(1024);
    push_signed_info_body(
        &mut body,
        &alg,
        id,
        &b64.encode(hash(alg.digest, &[head, tail])),
    );
    // SignedInfo's canonical form as an apex: the `xmlns:ds` its ancestor declares.
    let apex = ["<ds:SignedInfo xmlns:ds=\"", DSIG_NS, "\">", &body];
    let value = key
        .key
        .sign_digest(alg.signature, &hash(alg.signature, &apex))
        .map_err(|e| SignError(format!("RSA signature: {e}")))?;
    let mut out = String::with_capacity(body.len() + key.key.cert_b64.len() + 700);
    for part in [
        "<ds:Signature xmlns:ds=\"",
        DSIG_NS,
        "\"><ds:SignedInfo>",
        &body,
    ] {
        out.push_str(part);
    }
    out.push_str("<ds:SignatureValue>");
    b64.encode_string(&value, &mut out);
    out.push_str("</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>");
    out.push_str(&key.key.cert_b64);
    out.push_str("</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>");
    Ok(out)
}

#[cfg(test)]
mod tests;
