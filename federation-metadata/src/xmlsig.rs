//! Enveloped XML signatures over a whole document: exclusive c14n, RSA-SHA256, made and
//! checked by libxmlsec1 through samael.
//!
//! Signing fills a `ds:Signature` template (see [`signature_template`]) placed as the first
//! child of the root, whose single `Reference` points at the root's `ID`.
//!
//! Verifying refuses XML signature wrapping (`../shared/reference/rust-saml-notes.md`, trap 2)
//! before any cryptography: no DTD, every `ID` unique, exactly one `ds:Signature` in the whole
//! document and it is a direct child of the root, one `Reference` whose URI is `#` + the
//! root's `ID`, only exclusive c14n and the enveloped-signature transform, only SHA-2
//! algorithms (RSA-SHA1 and the SHA-1 digest only through [`verify_enveloped_with`] and
//! [`Accepted::with_sha1`], for a partner whose registry entry allows it). The key is the
//! configured certificate, never the document's `KeyInfo`. After
//! these checks the one signature covers the whole root element, which is all a reader of
//! the returned document looks at. libxmlsec1 is synchronous CPU work: async callers run this
//! off their executor.

use std::collections::HashSet;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// Signature methods accepted on input (our own output always uses RSA-SHA256).
const ALLOWED_SIGNATURE_METHODS: [&str; 3] = [
    RSA_SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
];
const ALLOWED_DIGESTS: [&str; 3] = [
    SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// The algorithms a verification accepts: SHA-2 only by default; SHA-1 (signature method
/// and digest) only for a partner whose entry allows it, since some SPs still sign with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    pub sha1: bool,
}

impl Accepted {
    /// SHA-2 only.
    pub const STRICT: Self = Self { sha1: false };

    /// SHA-2, and SHA-1 when `allowed`.
    pub fn with_sha1(allowed: bool) -> Self {
        Self { sha1: allowed }
    }

    fn signature_method(self, uri: &str) -> bool {
        ALLOWED_SIGNATURE_METHODS.contains(&uri) || (self.sha1 && uri == RSA_SHA1)
    }

    fn digest(self, uri: &str) -> bool {
        ALLOWED_DIGESTS.contains(&uri) || (self.sha1 && uri == SHA1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum XmlSigError {
    #[error("cannot use the signing key: {0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("signature refused: {0}")]
    Structure(String),
    #[error("the signature does not verify with the configured certificate")]
    BadSignature,
}

/// The `ds:Signature` template to place as the first child of the root element whose `ID`
/// is `root_id`; `cert_der`, when given, is published in `KeyInfo` for readers' convenience
/// (verifiers here never trust it).
pub fn signature_template(root_id: &str, cert_der: Option<&[u8]>) -> String {
    use base64::Engine as _;
    let key_info = cert_der
        .map(|der| {
            format!(
                "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
                base64::engine::general_purpose::STANDARD.encode(der)
            )
        })
        .unwrap_or_default();
    format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/>\
<ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/>\
<ds:Reference URI=\"#{}\"><ds:Transforms>\
<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC_C14N}\"/>\
</ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue>\
</ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>{key_info}</ds:Signature>",
        quick_xml::escape::escape(root_id)
    )
}

/// Fills the signature template(s) of `xml` with `key`. The template must already sit in the
/// document (see [`signature_template`]).
pub fn sign_enveloped(xml: &str, key: &PKey<Private>) -> Result<String, XmlSigError> {
    let der = key
        .private_key_to_der()
        .map_err(|e| XmlSigError::Key(e.to_string()))?;
    Crypto::sign_xml(xml, &der).map_err(|e| XmlSigError::Sign(e.to_string()))
}

/// A document whose root signature verified.
#[derive(Debug)]
pub struct VerifiedXml {
    /// The verified document: its root element, the only thing readers look at, is exactly
    /// what the signature covers (see [`verify_enveloped`]).
    pub xml: String,
    /// The root element's local name and `ID`.
    pub root_name: String,
    pub root_id: String,
}

/// Verifies that the root of `xml` is signed by `cert` (see the module comment for every
/// check) and returns what the signature covers.
pub fn verify_enveloped(xml: &str, cert: &X509) -> Result<VerifiedXml, XmlSigError> {
    verify_enveloped_with(xml, cert, Accepted::STRICT)
}

/// [`verify_enveloped`] accepting the algorithms of `accepted`.
pub fn verify_enveloped_with(
    xml: &str,
    cert: &X509,
    accepted: Accepted,
) -> Result<VerifiedXml, XmlSigError> {
    let shape = check_structure(xml, accepted)?;
    let der = cert.to_der().map_err(|e| XmlSigError::Key(e.to_string()))?;
    // The structure check left exactly one signature, a child of the root, with one
    // reference to the root's (unique) ID, exclusive c14n and the enveloped transform: so
    // the one signature libxmlsec1 finds and checks covers the whole root element except the
    // signature itself (and comments, which readers skip). samael's `reduce_xml_to_signed`
    // would give the same guarantee but needs tens of GB on a 30 MB aggregate.
    Crypto::verify_signed_xml(xml, &CertificateDer::from(der), Some("ID"))
        .map_err(|_| XmlSigError::BadSignature)?;
    Ok(VerifiedXml {
        xml: xml.to_owned(),
        root_name: shape.root_name,
        root_id: shape.root_id,
    })
}

struct Shape {
    root_name: String,
    root_id: String,
}

fn xml_err(e: impl std::fmt::Display) -> XmlSigError {
    XmlSigError::Xml(e.to_string())
}

fn refuse<T>(why: impl Into<String>) -> Result<T, XmlSigError> {
    Err(XmlSigError::Structure(why.into()))
}

fn attr(e: &BytesStart, name: &str) -> Result<Option<String>, XmlSigError> {
    for a in e.attributes() {
        let a = a.map_err(xml_err)?;
        if a.key.as_ref() == name.as_bytes() {
            let value = a
                .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, e.decoder())
                .map_err(xml_err)?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn in_dsig(ns: &ResolveResult) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == DSIG_NS.as_bytes())
}

/// Everything about the signature that can be refused without cryptography.
fn check_structure(xml: &str, accepted: Accepted) -> Result<Shape, XmlSigError> {
    let mut reader = NsReader::from_str(xml);
    let mut ids = HashSet::new();
    let mut root: Option<Shape> = None;
    // Local names from the signature down to the current element while inside it (empty
    // outside it, where `End` then pops nothing).
    let mut sig_path: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut signatures = 0usize;
    let mut references = 0usize;
    let mut reference_uri = None;
    let mut c14n_ok = false;
    let mut method_ok = false;
    let mut digest_ok = false;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(xml_err)?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                sig_path.pop();
                continue;
            }
            Event::DocType(_) => return refuse("a DTD is not accepted"),
            // libxml2 would honour another declared encoding while this check read UTF-8:
            // both parsers must see the same document.
            Event::Decl(d) => {
                let other = d
                    .encoding()
                    .transpose()
                    .map_err(xml_err)?
                    .is_some_and(|enc| {
                        !enc.eq_ignore_ascii_case(b"utf-8") && !enc.eq_ignore_ascii_case(b"utf8")
                    });
                if other {
                    return refuse("only UTF-8 documents are accepted");
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        if let Some(id) = attr(&e, "ID")? {
            if !ids.insert(id.clone()) {
                return refuse(format!("ID {id} appears twice"));
            }
        }
        if depth == 0 {
            if root.is_some() {
                return refuse("more than one root element");
            }
            let Some(id) = attr(&e, "ID")? else {
                return refuse("the root element has no ID");
            };
            root = Some(Shape {
                root_name: local.clone(),
                root_id: id,
            });
        }
        let dsig = in_dsig(&ns);
        if dsig && local == "Signature" {
            signatures += 1;
            if depth != 1 || !sig_path.is_empty() {
                return refuse("a ds:Signature is not a direct child of the root");
            }
        }
        let inside = !sig_path.is_empty() || (dsig && local == "Signature");
        if inside {
            let path = sig_path.join("/");
            let algorithm = attr(&e, "Algorithm")?;
            match (path.as_str(), local.as_str()) {
                ("Signature/SignedInfo", "CanonicalizationMethod") => {
                    c14n_ok = algorithm.as_deref() == Some(EXC_C14N);
                }
                ("Signature/SignedInfo", "SignatureMethod") => {
                    method_ok = algorithm
                        .as_deref()
                        .is_some_and(|a| accepted.signature_method(a));
                }
                ("Signature/SignedInfo", "Reference") => {
                    references += 1;
                    reference_uri = attr(&e, "URI")?;
                }
                ("Signature/SignedInfo/Reference/Transforms", "Transform")
                    if !matches!(algorithm.as_deref(), Some(ENVELOPED) | Some(EXC_C14N)) =>
                {
                    return refuse(format!(
                        "transform {} is not accepted",
                        algorithm.unwrap_or_default()
                    ));
                }
                ("Signature/SignedInfo/Reference", "DigestMethod") => {
                    digest_ok = algorithm.as_deref().is_some_and(|a| accepted.digest(a));
                }
                _ => {}
            }
            if !empty {
                sig_path.push(local);
            }
        }
        if !empty {
            depth += 1;
        }
    }
    let Some(shape) = root else {
        return Err(XmlSigError::Xml("no root element".into()));
    };
    if signatures == 0 {
        return refuse("the document is not signed");
    }
    if signatures > 1 {
        return refuse("more than one ds:Signature in the document");
    }
    if references != 1 {
        return refuse("the signature must have exactly one Reference");
    }
    if reference_uri.as_deref() != Some(format!("#{}", shape.root_id).as_str()) {
        return refuse("the signature's Reference does not point at the root's ID");
    }
    if !c14n_ok {
        return refuse("canonicalization must be exclusive c14n");
    }
    if !method_ok {
        return refuse(if accepted.sha1 {
            "signature method not accepted (RSA with SHA-1, SHA-256 or stronger)"
        } else {
            "signature method not accepted (RSA with SHA-256 or stronger)"
        });
    }
    if !digest_ok {
        return refuse(if accepted.sha1 {
            "digest method not accepted (SHA-1, SHA-256 or stronger)"
        } else {
            "digest method not accepted (SHA-256 or stronger)"
        });
    }
    Ok(shape)
}

#[cfg(test)]
mod tests;
