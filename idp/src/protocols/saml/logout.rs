//! Single logout: reading a `samlp:LogoutRequest` or `LogoutResponse` (through `shallow`:
//! no DTD, only the root and its direct children) and building
//! the `samlp:LogoutResponse`, signed enveloped for HTTP-POST or with the query-string
//! signature (RSA-SHA256 over the raw encoded bytes) for HTTP-Redirect.

use std::io::Write as _;

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::bindings::SIG_RSA_SHA256;
use super::error::{Refusal, Status};
use super::response::{instant, new_id, SignError};
use super::shallow::{self, ASSERTION_NS, PROTOCOL_NS};
use crate::protocols::cas::url::{encode, html_escape};

const STATUS: &str = "urn:oasis:names:tc:SAML:2.0:status:";

/// What is read from a LogoutRequest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutRequest {
    pub id: String,
    pub version: String,
    pub issue_instant: Option<OffsetDateTime>,
    pub destination: Option<String>,
    pub issuer: Option<String>,
    pub name_id: Option<String>,
    pub session_indexes: Vec<String>,
    /// A `ds:Signature` is a direct child of the root.
    pub signed_enveloped: bool,
}

/// Parses `xml` as a LogoutRequest.
pub fn parse_logout_request(xml: &str) -> Result<LogoutRequest, Refusal> {
    let doc = shallow::read(xml, "LogoutRequest", "a LogoutRequest")?;
    let root = &doc.root;
    let mut req = LogoutRequest {
        id: root.attr("ID").unwrap_or_default().to_owned(),
        version: root.attr("Version").unwrap_or_default().to_owned(),
        issue_instant: root.attr("IssueInstant").and_then(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
        }),
        destination: root.attr("Destination").map(str::to_owned),
        signed_enveloped: doc.signed_enveloped(),
        ..LogoutRequest::default()
    };
    for c in &doc.children {
        let slot = if c.is(ASSERTION_NS, "Issuer") {
            &mut req.issuer
        } else if c.is(ASSERTION_NS, "NameID") {
            &mut req.name_id
        } else if c.is(PROTOCOL_NS, "SessionIndex") {
            if c.has_elements {
                return Err(Refusal::page("unexpected element in a LogoutRequest field"));
            }
            req.session_indexes.push(c.text.clone());
            continue;
        } else {
            continue;
        };
        if slot.is_some() {
            return Err(Refusal::page("a LogoutRequest element is repeated"));
        }
        if c.has_elements {
            return Err(Refusal::page("unexpected element in a LogoutRequest field"));
        }
        *slot = Some(c.text.clone());
    }
    if req.id.is_empty() {
        return Err(Refusal::page("the request has no ID"));
    }
    Ok(req)
}

/// How a logout ended, for the response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Success / PartialLogout: some other SAML SP of the session could not be told.
    Partial,
    /// Requester / UnknownPrincipal: the request names no entry of the browser's session
    /// (SAML core 3.2.2.2: the requester named a principal the IdP does not know here).
    UnknownPrincipal,
    Refused(Status),
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::Partial => "PartialLogout",
            Self::UnknownPrincipal => "UnknownPrincipal",
            Self::Refused(s) => s.label(),
        }
    }

    fn status_xml(self) -> String {
        let (top, sub) = match self {
            Self::Success => (format!("{STATUS}Success"), None),
            Self::Partial => (
                format!("{STATUS}Success"),
                Some(format!("{STATUS}PartialLogout")),
            ),
            Self::UnknownPrincipal => (
                format!("{STATUS}Requester"),
                Some(format!("{STATUS}UnknownPrincipal")),
            ),
            Self::Refused(s) => s.codes(),
        };
        match sub {
            None => format!("<samlp:Status><samlp:StatusCode Value=\"{top}\"/></samlp:Status>"),
            Some(sub) => format!(
                "<samlp:Status><samlp:StatusCode Value=\"{top}\"><samlp:StatusCode Value=\"{sub}\"/></samlp:StatusCode></samlp:Status>"
            ),
        }
    }
}

/// The LogoutResponse; signed enveloped when `key` is given (HTTP-POST).
pub fn build_logout_response(
    issuer: &str,
    destination: &str,
    in_response_to: &str,
    now: OffsetDateTime,
    outcome: Outcome,
    enveloped: Option<(&PKey<Private>, &[u8])>,
) -> Result<String, SignError> {
    let id = new_id();
    let template = match enveloped {
        Some((_, cert)) => federation_metadata::xmlsig::signature_template(&id, Some(cert)),
        None => String::new(),
    };
    let xml = format!(
        "<samlp:LogoutResponse xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\" InResponseTo=\"{}\">\
<saml:Issuer>{}</saml:Issuer>{template}{}</samlp:LogoutResponse>",
        instant(now),
        html_escape(destination),
        html_escape(in_response_to),
        html_escape(issuer),
        outcome.status_xml(),
    );
    match enveloped {
        Some((key, _)) => sign(&xml, key),
        None => Ok(xml),
    }
}

/// `xml` with its enveloped signature filled in, without an XML declaration (it may be
/// embedded in a SOAP envelope).
fn sign(xml: &str, key: &PKey<Private>) -> Result<String, SignError> {
    let signed = federation_metadata::xmlsig::sign_enveloped(xml, key)
        .map_err(|e| SignError(e.to_string()))?;
    let t = signed.trim_start();
    Ok(
        match t.strip_prefix("<?xml").and_then(|r| r.split_once("?>")) {
            Some((_, rest)) => rest.trim_start().to_owned(),
            None => t.to_owned(),
        },
    )
}

/// The HTTP-Redirect URL carrying `xml` as `SAMLResponse`, signed with `key` (RSA-SHA256
/// over `SAMLResponse=…[&RelayState=…]&SigAlg=…` exactly as sent).
pub fn redirect_url(
    location: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, SignError> {
    signed_redirect(location, "SAMLResponse", xml, relay_state, key)
}

/// Who is logged out where, for a LogoutRequest from the IdP to an SP.
pub struct LogoutSubject<'a> {
    /// The IdP's entityID (Issuer and NameQualifier).
    pub issuer: &'a str,
    /// The SP's entityID (SPNameQualifier).
    pub sp: &'a str,
    pub name_id: &'a str,
    pub format: &'a str,
    pub session_index: &'a str,
}

/// A LogoutRequest from the IdP to an SP (IdP-initiated propagation): `(ID, XML)`. The
/// NameID carries the same qualifiers as in the assertion: lasso (mod_auth_mellon)
/// compares them strictly.
pub fn build_logout_request(
    who: &LogoutSubject<'_>,
    destination: &str,
    now: OffsetDateTime,
) -> (String, String) {
    build_with_id(new_id(), who, destination, now, "")
}

/// The same, signed enveloped (the SOAP back channel has no query to sign).
pub fn build_signed_logout_request(
    who: &LogoutSubject<'_>,
    destination: &str,
    now: OffsetDateTime,
    key: &PKey<Private>,
    cert_der: &[u8],
) -> Result<(String, String), SignError> {
    let id = new_id();
    let template = federation_metadata::xmlsig::signature_template(&id, Some(cert_der));
    let (id, xml) = build_with_id(id, who, destination, now, &template);
    Ok((id, sign(&xml, key)?))
}

fn build_with_id(
    id: String,
    who: &LogoutSubject<'_>,
    destination: &str,
    now: OffsetDateTime,
    template: &str,
) -> (String, String) {
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\">\
<saml:Issuer>{}</saml:Issuer>{template}<saml:NameID Format=\"{}\" NameQualifier=\"{}\" SPNameQualifier=\"{}\">{}</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        instant(now),
        html_escape(destination),
        html_escape(who.issuer),
        html_escape(who.format),
        html_escape(who.issuer),
        html_escape(who.sp),
        html_escape(who.name_id),
        html_escape(who.session_index),
    );
    (id, xml)
}

/// The HTTP-Redirect URL carrying `xml` as `SAMLRequest`, signed as [`redirect_url`].
pub fn redirect_request_url(
    location: &str,
    xml: &str,
    key: &PKey<Private>,
) -> Result<String, SignError> {
    signed_redirect(location, "SAMLRequest", xml, None, key)
}

/// What is read from an SP's LogoutResponse: `InResponseTo`, the Issuer, whether a
/// `ds:Signature` is a direct child of the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutResponseRead {
    pub in_response_to: String,
    pub issuer: Option<String>,
    pub signed_enveloped: bool,
    /// The top-level `StatusCode` Value (`None` when there is no Status).
    pub status: Option<String>,
}

impl LogoutResponseRead {
    /// Only a top-level `Success` means the SP ended its session (a `PartialLogout`
    /// second-level code still says so for the SP itself).
    pub fn success(&self) -> bool {
        self.status.as_deref() == Some(SUCCESS)
    }

    /// The status without its URN prefix, for the audit trail.
    pub fn status_label(&self) -> String {
        match self.status.as_deref() {
            Some(s) => s
                .strip_prefix(STATUS)
                .unwrap_or(s)
                .chars()
                .take(64)
                .collect(),
            None => "no status".to_owned(),
        }
    }
}

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Reads a LogoutResponse (no DTD; only the root's attributes and its direct children).
pub fn parse_logout_response(xml: &str) -> Result<LogoutResponseRead, Refusal> {
    let doc = shallow::read(xml, "LogoutResponse", "a LogoutResponse")?;
    let mut out = LogoutResponseRead {
        in_response_to: doc.root.attr("InResponseTo").unwrap_or_default().to_owned(),
        issuer: None,
        signed_enveloped: doc.signed_enveloped(),
        status: None,
    };
    for st in doc.children_named(PROTOCOL_NS, "Status") {
        if out.status.is_some() {
            return Err(Refusal::page("the Status is repeated"));
        }
        out.status = Some(
            st.first_child
                .as_ref()
                .filter(|c| c.is(PROTOCOL_NS, "StatusCode"))
                .and_then(|c| c.attr("Value"))
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for issuer in doc.children_named(ASSERTION_NS, "Issuer") {
        if out.issuer.is_some() {
            return Err(Refusal::page("the Issuer is repeated"));
        }
        if issuer.has_elements {
            return Err(Refusal::page("unexpected element in the Issuer"));
        }
        out.issuer = Some(issuer.text.clone());
    }
    if out.in_response_to.is_empty() {
        return Err(Refusal::page("the response has no InResponseTo"));
    }
    Ok(out)
}

fn signed_redirect(
    location: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &PKey<Private>,
) -> Result<String, SignError> {
    let fail = |e: std::io::Error| SignError(e.to_string());
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).map_err(fail)?;
    let deflated = enc.finish().map_err(fail)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut query = format!("{param}={}", encode(&b64));
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", encode(r)));
    }
    query.push_str(&format!("&SigAlg={}", encode(SIG_RSA_SHA256)));
    let ssl = |e: openssl::error::ErrorStack| SignError(e.to_string());
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(ssl)?;
    signer.update(query.as_bytes()).map_err(ssl)?;
    let sig = signer.sign_to_vec().map_err(ssl)?;
    let sig = base64::engine::general_purpose::STANDARD.encode(sig);
    let sep = if location.contains('?') { '&' } else { '?' };
    Ok(format!("{location}{sep}{query}&Signature={}", encode(&sig)))
}
