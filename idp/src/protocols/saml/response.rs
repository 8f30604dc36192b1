//! Building and signing the Response (not samael's `sign_authn_response`: rust-saml-notes
//! trap 1). The XML is written with quick-xml's escaping from our own values; signatures
//! (RSA-SHA256, exclusive c14n, enveloped) are placed right after each signed element's
//! `Issuer`, as the schema wants. The Assertion is signed on its own first, then spliced
//! into the Response, which is signed last when the SP wants it. For SPs whose entry asks
//! for it, the signed assertion is then encrypted (sign-then-encrypt) into an
//! `EncryptedAssertion` ([`encrypt_assertion`]): AES-256-GCM (XML Encryption 1.1) under a
//! fresh key, the key wrapped with RSA-OAEP (`rsa-oaep-mgf1p`, SHA-1 digest and MGF1, the
//! form xmlsec1, pysaml2 and Shibboleth all accept) for the SP's registered encryption
//! certificate only.

use base64::Engine as _;
use openssl::pkey::{PKey, Private, Public};
use quick_xml::escape::escape;
use time::OffsetDateTime;

use super::error::Status;
use super::shallow::{ASSERTION_NS, PROTOCOL_NS};
use crate::release::Released;

const PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

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
    pub now: OffsetDateTime,
    pub lifetime: time::Duration,
    pub attributes: Vec<(Released, &'static str)>,
}

/// How the Response is signed, and the assertion encrypted (per the SP's registry entry).
pub struct Signing {
    pub key: PKey<Private>,
    pub cert_der: Vec<u8>,
    /// The SignatureMethod URI (RSA-SHA256 by default; the digest is always SHA-256).
    pub algorithm: &'static str,
    pub sign_assertion: bool,
    pub sign_response: bool,
    /// Encrypt the (signed) assertion for this RSA key, from the SP's registered
    /// encryption certificate.
    pub encrypt_for: Option<PKey<Public>>,
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

pub fn instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A new XML ID (starts with a letter or `_`, as NCName wants).
pub fn new_id() -> String {
    let mut raw = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    format!("_{hex}")
}

fn sig_template(id: &str, signing: &Signing) -> String {
    federation_metadata::xmlsig::signature_template(id, Some(&signing.cert_der))
        .replace(federation_metadata::xmlsig::RSA_SHA256, signing.algorithm)
}

fn strip_declaration(xml: &str) -> &str {
    let t = xml.trim_start();
    match t.strip_prefix("<?xml").and_then(|r| r.split_once("?>")) {
        Some((_, rest)) => rest.trim_start(),
        None => t,
    }
}

/// The `saml:Assertion` element (unsigned, with a signature template when `template`).
fn assertion_xml(a: &AssertionData, id: &str, template: Option<&str>) -> String {
    let not_after = instant(a.now + a.lifetime);
    let irt = a
        .in_response_to
        .as_deref()
        .map(|r| format!(" InResponseTo=\"{}\"", escape(r)))
        .unwrap_or_default();
    let mut attrs = String::new();
    for (r, name_format) in &a.attributes {
        attrs.push_str(&format!(
            "<saml:Attribute Name=\"{}\" NameFormat=\"{}\">",
            escape(&r.name),
            escape(*name_format)
        ));
        for v in &r.values {
            attrs.push_str(&format!(
                "<saml:AttributeValue xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"xs:string\">{}</saml:AttributeValue>",
                escape(v)
            ));
        }
        attrs.push_str("</saml:Attribute>");
    }
    let attribute_statement = if attrs.is_empty() {
        String::new()
    } else {
        format!("<saml:AttributeStatement>{attrs}</saml:AttributeStatement>")
    };
    format!(
        "<saml:Assertion xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\">\
<saml:Issuer>{issuer}</saml:Issuer>{template}\
<saml:Subject><saml:NameID Format=\"{fmt}\" NameQualifier=\"{issuer}\" SPNameQualifier=\"{aud}\">{nid}</saml:NameID>\
<saml:SubjectConfirmation Method=\"{BEARER}\"><saml:SubjectConfirmationData NotOnOrAfter=\"{not_after}\" Recipient=\"{rcpt}\"{irt}/></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"{not_before}\" NotOnOrAfter=\"{not_after}\"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AuthnStatement AuthnInstant=\"{authn}\" SessionIndex=\"{si}\"><saml:AuthnContext><saml:AuthnContextClassRef>{PASSWORD_PROTECTED_TRANSPORT}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
{attribute_statement}</saml:Assertion>",
        now = instant(a.now),
        not_before = instant(a.now - time::Duration::seconds(30)),
        issuer = escape(&a.issuer),
        template = template.unwrap_or_default(),
        fmt = escape(a.name_id_format),
        aud = escape(&a.audience),
        nid = escape(&a.name_id),
        rcpt = escape(&a.recipient),
        authn = instant(a.authn_instant),
        si = escape(&a.session_index),
    )
}

fn status_xml(status: Option<Status>) -> String {
    match status {
        None => format!("<samlp:Status><samlp:StatusCode Value=\"{SUCCESS}\"/></samlp:Status>"),
        Some(s) => {
            let (top, sub) = s.codes();
            let inner = sub
                .map(|c| format!("<samlp:StatusCode Value=\"{c}\"/>"))
                .unwrap_or_default();
            format!(
                "<samlp:Status><samlp:StatusCode Value=\"{top}\">{inner}</samlp:StatusCode></samlp:Status>"
            )
        }
    }
}

/// The whole `samlp:Response`: with the assertion (success) or a status only (refusal).
/// Synchronous CPU work when signing: async callers run it off their executor.
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
            if signing.sign_assertion {
                let unsigned = assertion_xml(a, &id, Some(&sig_template(&id, signing)));
                let signed = federation_metadata::xmlsig::sign_enveloped(&unsigned, &signing.key)
                    .map_err(|e| SignError(e.to_string()))?;
                strip_declaration(&signed).to_owned()
            } else {
                assertion_xml(a, &id, None)
            }
        }
    };
    // Sign-then-encrypt: the signed assertion is what the SP gets back after decrypting.
    let assertion_xml = match (&signing.encrypt_for, assertion_xml.is_empty()) {
        (Some(key), false) => encrypt_assertion(&assertion_xml, key)?,
        _ => assertion_xml,
    };
    let id = new_id();
    let template = if signing.sign_response {
        sig_template(&id, signing)
    } else {
        String::new()
    };
    let irt = in_response_to
        .map(|r| format!(" InResponseTo=\"{}\"", escape(r)))
        .unwrap_or_default();
    let xml = format!(
        "<samlp:Response xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"{irt}>\
<saml:Issuer>{}</saml:Issuer>{template}{}{assertion_xml}</samlp:Response>",
        instant(now),
        escape(destination),
        escape(issuer),
        status_xml(status),
    );
    if signing.sign_response {
        let signed = federation_metadata::xmlsig::sign_enveloped(&xml, &signing.key)
            .map_err(|e| SignError(e.to_string()))?;
        Ok(strip_declaration(&signed).to_owned())
    } else {
        Ok(xml)
    }
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
<xenc:EncryptionMethod Algorithm=\"{AES256_GCM}\"/>\
<ds:KeyInfo xmlns:ds=\"{DS_NS}\"><xenc:EncryptedKey>\
<xenc:EncryptionMethod Algorithm=\"{RSA_OAEP_MGF1P}\"><ds:DigestMethod Algorithm=\"{SHA1_DIGEST}\"/></xenc:EncryptionMethod>\
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
    let e = crate::protocols::cas::url::html_escape;
    let encoded = base64::engine::general_purpose::STANDARD.encode(response_xml.as_bytes());
    let relay = relay_state
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">\n",
                e(r)
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>SAML</title></head><body>\n<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"SAMLResponse\" value=\"{encoded}\">\n{relay}<p>Connexion au service en cours… / Signing you in…</p>\n<button type=\"submit\">Continuer / Continue</button>\n</form>\n<script>{SUBMIT_SCRIPT}</script>\n</body></html>\n",
        e(acs)
    )
}

pub const SUBMIT_SCRIPT: &str = "document.forms[0].submit();";

/// The policy of that page: its one script, and a form to the ACS's origin only.
pub fn post_csp(acs: &str) -> String {
    let hash = base64::engine::general_purpose::STANDARD
        .encode(openssl::sha::sha256(SUBMIT_SCRIPT.as_bytes()));
    let origin = acs
        .split_once("://")
        .map(|(scheme, rest)| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        })
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; form-action {origin}; \
frame-ancestors 'none'; base-uri 'none'"
    )
}
