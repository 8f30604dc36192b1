//! Building and signing the Response (not samael's `sign_authn_response`: rust-saml-notes
//! trap 1). Every element is written here in its exclusive canonical form, with the
//! escaping of `signature::text`/`attr_value`, so that the signatures (enveloped, exclusive
//! c14n, RSA-SHA256 by default) are made by `signature.rs` from these very bytes, with no
//! XML library in between. Signatures sit right after each signed element's `Issuer`, as
//! the schema wants. The Assertion is signed on its own first, then put into the Response,
//! which is signed last when the SP wants it (its digest covers the assertion with its
//! signature, canonical too). For SPs whose entry asks for it, the signed assertion is then
//! encrypted (sign-then-encrypt) into an `EncryptedAssertion` ([`encrypt_assertion`]):
//! AES-256-GCM (XML Encryption 1.1) under a fresh key, the key wrapped with RSA-OAEP
//! (`rsa-oaep-mgf1p`, SHA-1 digest and MGF1, the form xmlsec1, pysaml2 and Shibboleth all
//! accept) for the SP's registered encryption certificate only.

use base64::Engine as _;
use std::sync::Arc;

use openssl::pkey::{PKey, Public};
use time::OffsetDateTime;

use super::error::Status;
use super::shallow::{ASSERTION_NS, PROTOCOL_NS};
use super::signature::{self, attr_value as av, text};
use crate::release::Released;

const PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Everything in an assertion.
pub struct AssertionData {
    pub issuer: String,
    pub audience: String,
    pub recipient: String,
    pub in_response_to: Option<String>,
    pub name_id: String,
    pub name_id_format: &'static str,
    pub session_index: String,
    pub authn_instant: OffsetDateTime,
    /// The SSO session's absolute end (`AuthnStatement/@SessionNotOnOrAfter`): SPs should
    /// not keep their own session beyond it.
    pub session_not_on_or_after: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
    pub lifetime: time::Duration,
    pub attributes: Vec<(Released, &'static str)>,
}

/// How the Response is signed, and the assertion encrypted (per the SP's registry entry).
pub struct Signing {
    pub key: Arc<signature::SigningKey>,
    /// The SignatureMethod URI (RSA-SHA256 by default; the digest is SHA-256, or SHA-1 with
    /// RSA-SHA1).
    pub algorithm: &'static str,
    pub sign_assertion: bool,
    pub sign_response: bool,
    /// Encrypt the (signed) assertion for this RSA key, from the SP's registered
    /// encryption certificate.
    pub encrypt_for: Option<PKey<Public>>,
}

impl Signing {
    fn key(&self) -> signature::Key<'_> {
        signature::Key {
            key: &self.key,
            algorithm: self.algorithm,
        }
    }
}

/// XML Encryption 1.1 AES-256-GCM (data).
pub const AES256_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes256-gcm";
/// RSA-OAEP key transport, SHA-1 digest and MGF1 (XML Encryption 1.0).
pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
const XENC_ELEMENT: &str = "http://www.w3.org/2001/04/xmlenc#Element";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SHA1_DIGEST: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("SAML response not signed: {0}")]
pub struct SignError(pub String);

/// `t` as SAML's `xs:dateTime` in UTC, to the second: `2026-11-27T08:00:00Z` (years 0 to
/// 9999; written digit by digit, seven of these go into every response).
pub fn instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut out = *b"0000-00-00T00:00:00Z";
    let year = u32::try_from(t.year().clamp(0, 9999)).unwrap_or(0);
    let fields = [
        (0, 4, year),
        (5, 2, u32::from(u8::from(t.month()))),
        (8, 2, u32::from(t.day())),
        (11, 2, u32::from(t.hour())),
        (14, 2, u32::from(t.minute())),
        (17, 2, u32::from(t.second())),
    ];
    for (at, width, mut value) in fields {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// A new XML ID (starts with a letter or `_`, as NCName wants).
pub fn new_id() -> String {
    let mut raw = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    let mut id = String::with_capacity(41);
    id.push('_');
    for b in raw {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Refuses a value that cannot be written in XML 1.0 (control characters): the response
/// is not made rather than made invalid.
fn xml_ok<'a>(what: &str, value: &'a str) -> Result<&'a str, SignError> {
    if signature::xml_chars_ok(value) {
        Ok(value)
    } else {
        Err(SignError(format!(
            "{what} holds characters not allowed in XML"
        )))
    }
}

/// Whether value `v` of attribute `name` can be written in XML 1.0; if not, says so in the
/// log (the value is then left out, never the response made invalid).
fn writable_value(name: &str, v: &str) -> bool {
    let ok = signature::xml_chars_ok(v);
    if !ok {
        tracing::warn!(
            attribute = %name,
            "a value holding characters not allowed in XML was not released"
        );
    }
    ok
}

/// The released attributes as they can be written: values holding characters XML 1.0
/// forbids are left out (with a warning), and an attribute left with none of its values is
/// left out entirely — before the audit event is written, so that it names exactly what
/// the SP receives.
pub fn writable(attributes: Vec<(Released, &'static str)>) -> Vec<(Released, &'static str)> {
    attributes
        .into_iter()
        .filter_map(|(mut r, name_format)| {
            let before = r.values.len();
            let Released { name, values } = &mut r;
            values.retain(|v| writable_value(name, v));
            (before == 0 || !r.values.is_empty()).then_some((r, name_format))
        })
        .collect()
}

/// The `saml:AttributeStatement` (empty when nothing is released), leaving out what
/// [`writable`] leaves out (for callers that did not pass through it).
fn attribute_statement(attributes: &[(Released, &'static str)]) -> Result<String, SignError> {
    let mut attrs = String::new();
    for (r, name_format) in attributes {
        let name = xml_ok("an attribute name", &r.name)?;
        let values: Vec<&String> = r
            .values
            .iter()
            .filter(|v| writable_value(&r.name, v))
            .collect();
        if values.is_empty() && !r.values.is_empty() {
            continue;
        }
        attrs.push_str(&format!(
            "<saml:Attribute Name=\"{}\" NameFormat=\"{}\">",
            av(name),
            av(name_format)
        ));
        for v in values {
            // Canonical: namespace declarations by prefix (xs < xsi), then xsi:type.
            attrs.push_str(&format!(
                "<saml:AttributeValue xmlns:xs=\"{XS_NS}\" xmlns:xsi=\"{XSI_NS}\" xsi:type=\"xs:string\">{}</saml:AttributeValue>",
                text(v)
            ));
        }
        attrs.push_str("</saml:Attribute>");
    }
    Ok(if attrs.is_empty() {
        attrs
    } else {
        format!("<saml:AttributeStatement>{attrs}</saml:AttributeStatement>")
    })
}

/// The `saml:Assertion` element, canonical, in two parts: up to its `Issuer` (where the
/// signature goes) and the rest.
fn assertion_parts(a: &AssertionData, id: &str) -> Result<(String, String), SignError> {
    let not_after = instant(a.now + a.lifetime);
    let irt = match a.in_response_to.as_deref() {
        Some(r) => format!(" InResponseTo=\"{}\"", av(xml_ok("InResponseTo", r)?)),
        None => String::new(),
    };
    let session_end = a
        .session_not_on_or_after
        .map(|t| format!(" SessionNotOnOrAfter=\"{}\"", instant(t)))
        .unwrap_or_default();
    let issuer = xml_ok("the issuer", &a.issuer)?;
    let audience = xml_ok("the audience", &a.audience)?;
    // Attributes in canonical order (by name) on every element.
    let head = format!(
        "<saml:Assertion xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" IssueInstant=\"{now}\" Version=\"2.0\">\
<saml:Issuer>{issuer}</saml:Issuer>",
        id = av(id),
        now = instant(a.now),
        issuer = text(issuer),
    );
    let tail = format!(
        "<saml:Subject><saml:NameID Format=\"{fmt}\" NameQualifier=\"{issuer_av}\" SPNameQualifier=\"{aud_av}\">{nid}</saml:NameID>\
<saml:SubjectConfirmation Method=\"{BEARER}\"><saml:SubjectConfirmationData{irt} NotOnOrAfter=\"{not_after}\" Recipient=\"{rcpt}\"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"{not_before}\" NotOnOrAfter=\"{not_after}\"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AuthnStatement AuthnInstant=\"{authn}\" SessionIndex=\"{si}\"{session_end}><saml:AuthnContext><saml:AuthnContextClassRef>{PASSWORD_PROTECTED_TRANSPORT}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
{statement}</saml:Assertion>",
        not_before = instant(a.now - time::Duration::seconds(30)),
        fmt = av(a.name_id_format),
        issuer_av = av(issuer),
        aud_av = av(audience),
        aud = text(audience),
        nid = text(xml_ok("the NameID", &a.name_id)?),
        rcpt = av(xml_ok("the recipient", &a.recipient)?),
        authn = instant(a.authn_instant),
        si = av(xml_ok("the SessionIndex", &a.session_index)?),
        statement = attribute_statement(&a.attributes)?,
    );
    Ok((head, tail))
}

fn status_xml(status: Option<Status>) -> String {
    match status {
        None => format!(
            "<samlp:Status><samlp:StatusCode Value=\"{SUCCESS}\"></samlp:StatusCode></samlp:Status>"
        ),
        Some(s) => {
            let (top, sub) = s.codes();
            let inner = sub
                .map(|c| format!("<samlp:StatusCode Value=\"{}\"></samlp:StatusCode>", av(&c)))
                .unwrap_or_default();
            format!(
                "<samlp:Status><samlp:StatusCode Value=\"{}\">{inner}</samlp:StatusCode></samlp:Status>",
                av(&top)
            )
        }
    }
}

/// The element `head + tail` with its signature in between when `sign`.
fn signed(
    id: &str,
    head: String,
    tail: &str,
    sign: bool,
    signing: &Signing,
) -> Result<String, SignError> {
    let mut xml = head;
    if sign {
        let sig = signature::enveloped_signature(id, &xml, tail, &signing.key())?;
        xml.push_str(&sig);
    }
    xml.push_str(tail);
    Ok(xml)
}

/// The whole `samlp:Response`: with the assertion (success) or a status only (refusal).
/// Synchronous CPU work when signing (one RSA signature per signed element).
#[allow(clippy::too_many_arguments)]
pub fn build_response(
    issuer: &str,
    destination: &str,
    in_response_to: Option<&str>,
    now: OffsetDateTime,
    status: Option<Status>,
    assertion: Option<&AssertionData>,
    signing: &Signing,
) -> Result<String, SignError> {
    let assertion_xml = match assertion {
        None => String::new(),
        Some(a) => {
            let id = new_id();
            let (head, tail) = assertion_parts(a, &id)?;
            signed(&id, head, &tail, signing.sign_assertion, signing)?
        }
    };
    // Sign-then-encrypt: the signed assertion is what the SP gets back after decrypting.
    let assertion_xml = match (&signing.encrypt_for, assertion_xml.is_empty()) {
        (Some(key), false) => encrypt_assertion(&assertion_xml, key)?,
        _ => assertion_xml,
    };
    let id = new_id();
    let irt = match in_response_to {
        Some(r) => format!(" InResponseTo=\"{}\"", av(xml_ok("InResponseTo", r)?)),
        None => String::new(),
    };
    // Canonical as an apex: `saml` is not used by the Response element itself, so it is
    // declared on the Issuer (and again on the Assertion), as exclusive c14n puts it.
    let head = format!(
        "<samlp:Response xmlns:samlp=\"{PROTOCOL_NS}\" Destination=\"{}\" ID=\"{}\"{irt} IssueInstant=\"{}\" Version=\"2.0\">\
<saml:Issuer xmlns:saml=\"{ASSERTION_NS}\">{}</saml:Issuer>",
        av(xml_ok("the Destination", destination)?),
        av(&id),
        instant(now),
        text(xml_ok("the issuer", issuer)?),
    );
    let tail = format!("{}{assertion_xml}</samlp:Response>", status_xml(status));
    signed(&id, head, &tail, signing.sign_response, signing)
}

/// `saml:EncryptedAssertion` holding `assertion` (the whole signed element): AES-256-GCM
/// under a fresh random 256-bit key and 96-bit IV, CipherValue = base64(IV || ciphertext ||
/// tag) as XML Encryption 1.1 says; the key wrapped with RSA-OAEP (SHA-1, MGF1-SHA1) for
/// `recipient`, the SP's registered encryption key. No KeyInfo names the recipient key:
/// SPs try their own decryption keys.
pub fn encrypt_assertion(assertion: &str, recipient: &PKey<Public>) -> Result<String, SignError> {
    let fail = |what: &str, e: openssl::error::ErrorStack| SignError(format!("{what}: {e}"));
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key).map_err(|e| fail("random key", e))?;
    let mut iv = [0u8; GCM_IV_LEN];
    openssl::rand::rand_bytes(&mut iv).map_err(|e| fail("random IV", e))?;
    let mut tag = [0u8; GCM_TAG_LEN];
    let ciphertext = openssl::symm::encrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        &key,
        Some(&iv),
        &[],
        assertion.as_bytes(),
        &mut tag,
    )
    .map_err(|e| fail("AES-256-GCM", e))?;
    let mut data = Vec::with_capacity(GCM_IV_LEN + ciphertext.len() + GCM_TAG_LEN);
    data.extend_from_slice(&iv);
    data.extend_from_slice(&ciphertext);
    data.extend_from_slice(&tag);
    let rsa = recipient
        .rsa()
        .map_err(|e| fail("the encryption key is not RSA", e))?;
    let mut wrapped = vec![0u8; usize::try_from(rsa.size()).unwrap_or(0)];
    let n = rsa
        .public_encrypt(&key, &mut wrapped, openssl::rsa::Padding::PKCS1_OAEP)
        .map_err(|e| fail("RSA-OAEP", e))?;
    wrapped.truncate(n);
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok(format!(
        "<saml:EncryptedAssertion xmlns:saml=\"{ASSERTION_NS}\">\
<xenc:EncryptedData xmlns:xenc=\"{XENC_NS}\" Id=\"{id}\" Type=\"{XENC_ELEMENT}\">\
<xenc:EncryptionMethod Algorithm=\"{AES256_GCM}\"></xenc:EncryptionMethod>\
<ds:KeyInfo xmlns:ds=\"{DS_NS}\"><xenc:EncryptedKey>\
<xenc:EncryptionMethod Algorithm=\"{RSA_OAEP_MGF1P}\"><ds:DigestMethod Algorithm=\"{SHA1_DIGEST}\"></ds:DigestMethod></xenc:EncryptionMethod>\
<xenc:CipherData><xenc:CipherValue>{key}</xenc:CipherValue></xenc:CipherData>\
</xenc:EncryptedKey></ds:KeyInfo>\
<xenc:CipherData><xenc:CipherValue>{value}</xenc:CipherValue></xenc:CipherData>\
</xenc:EncryptedData></saml:EncryptedAssertion>",
        id = new_id(),
        key = b64(&wrapped),
        value = b64(&data),
    ))
}

/// The RSA public key of the first usable certificate among the SP's registered encryption
/// certificates (PEM): parsed, RSA of at least 2048 bits. None when there is none.
pub fn encryption_key(certificates: &[String]) -> Option<PKey<Public>> {
    certificates.iter().find_map(|pem| {
        let cert = openssl::x509::X509::from_pem(pem.as_bytes()).ok()?;
        let key = cert.public_key().ok()?;
        let rsa = key.rsa().ok()?;
        (rsa.size() >= 256).then_some(key)
    })
}

/// The HTTP-POST binding's page: a form posting `SAMLResponse` (and `RelayState`) to the
/// ACS, submitted by a hashed inline script, or by its visible button without JavaScript.
pub fn post_form(acs: &str, response_xml: &str, relay_state: Option<&str>) -> String {
    post_form_of(
        "SAMLResponse",
        acs,
        response_xml,
        relay_state,
        "Connexion au service en cours… / Signing you in…",
    )
}

/// The auto-submitting HTTP-POST form carrying `xml` as `field` (`SAMLResponse` or
/// `SAMLRequest`) to `to`, saying `text` to whoever sees it without JavaScript.
pub fn post_form_of(
    field: &str,
    to: &str,
    xml: &str,
    relay_state: Option<&str>,
    text: &str,
) -> String {
    let e = crate::protocols::cas::url::html_escape;
    // One buffer, the base64 written straight into it (the page is about 7 kB).
    let mut page = String::with_capacity(xml.len() / 3 * 4 + to.len() + 1024);
    for part in [
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>SAML</title></head><body>\n<form method=\"post\" action=\"",
        &e(to),
        "\">\n<input type=\"hidden\" name=\"",
        field,
        "\" value=\"",
    ] {
        page.push_str(part);
    }
    base64::engine::general_purpose::STANDARD.encode_string(xml.as_bytes(), &mut page);
    page.push_str("\">\n");
    if let Some(r) = relay_state {
        page.push_str("<input type=\"hidden\" name=\"RelayState\" value=\"");
        page.push_str(&e(r));
        page.push_str("\">\n");
    }
    for part in [
        "<p>",
        text,
        "</p>\n<button type=\"submit\">Continuer / Continue</button>\n</form>\n<script>",
        SUBMIT_SCRIPT,
        "</script>\n</body></html>\n",
    ] {
        page.push_str(part);
    }
    page
}

pub use crate::protocols::autopost::{post_csp, post_csp_framed_by, SUBMIT_SCRIPT};
