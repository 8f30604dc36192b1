//! SP-initiated single logout, first part: reading a `samlp:LogoutRequest` (same safe
//! reading as `request.rs`: no DTD, only the root and its direct children) and building
//! the `samlp:LogoutResponse`, signed enveloped for HTTP-POST or with the query-string
//! signature (RSA-SHA256 over the raw encoded bytes) for HTTP-Redirect.

use std::io::Write as _;

use base64::Engine as _;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use quick_xml::events::Event;
use quick_xml::NsReader;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::bindings::{MAX_XML, SIG_RSA_SHA256};
use super::error::{Refusal, Status};
use super::request::{ASSERTION_NS, PROTOCOL_NS};
use super::response::{instant, new_id, SignError};
use crate::protocols::cas::url::{encode, html_escape};

const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
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

fn ns_is(r: &quick_xml::name::ResolveResult<'_>, ns: &str) -> bool {
    matches!(r, quick_xml::name::ResolveResult::Bound(n) if n.as_ref() == ns.as_bytes())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Issuer,
    NameId,
    SessionIndex,
}

/// Parses `xml` as a LogoutRequest.
pub fn parse_logout_request(xml: &str) -> Result<LogoutRequest, Refusal> {
    if xml.len() > MAX_XML {
        return Err(Refusal::page("message too large"));
    }
    let mut reader = NsReader::from_str(xml);
    let mut req = LogoutRequest::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut field: Option<Field> = None;
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| Refusal::page("malformed XML"))?;
        match event {
            Event::DocType(_) => return Err(Refusal::page("XML with a DTD is refused")),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                if depth == 0 {
                    if seen_root {
                        return Err(Refusal::page("more than one root element"));
                    }
                    seen_root = true;
                    if !(ns_is(&ns, PROTOCOL_NS) && local.as_ref() == b"LogoutRequest") {
                        return Err(Refusal::page("not a LogoutRequest"));
                    }
                    for a in e.attributes() {
                        let a = a.map_err(|_| Refusal::page("malformed XML attribute"))?;
                        let v = a
                            .decoded_and_normalized_value(
                                quick_xml::XmlVersion::Implicit1_0,
                                reader.decoder(),
                            )
                            .map_err(|_| Refusal::page("malformed XML attribute"))?
                            .into_owned();
                        match a.key.local_name().as_ref() {
                            b"ID" => req.id = v,
                            b"Version" => req.version = v,
                            b"IssueInstant" => {
                                req.issue_instant = OffsetDateTime::parse(
                                    &v,
                                    &time::format_description::well_known::Rfc3339,
                                )
                                .ok()
                            }
                            b"Destination" => req.destination = Some(v),
                            _ => {}
                        }
                    }
                } else if depth == 1 {
                    let f = if ns_is(&ns, ASSERTION_NS) && local.as_ref() == b"Issuer" {
                        Some(Field::Issuer)
                    } else if ns_is(&ns, ASSERTION_NS) && local.as_ref() == b"NameID" {
                        Some(Field::NameId)
                    } else if ns_is(&ns, PROTOCOL_NS) && local.as_ref() == b"SessionIndex" {
                        Some(Field::SessionIndex)
                    } else {
                        if ns_is(&ns, DSIG_NS) && local.as_ref() == b"Signature" {
                            req.signed_enveloped = true;
                        }
                        None
                    };
                    if let Some(f) = f {
                        let dup = match f {
                            Field::Issuer => req.issuer.is_some(),
                            Field::NameId => req.name_id.is_some(),
                            Field::SessionIndex => false,
                        };
                        if dup {
                            return Err(Refusal::page("a LogoutRequest element is repeated"));
                        }
                        text.clear();
                        if empty {
                            store(&mut req, f, String::new());
                        } else {
                            field = Some(f);
                        }
                    }
                } else if field.is_some() {
                    return Err(Refusal::page("unexpected element in a LogoutRequest field"));
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::Text(ref t) if field.is_some() => {
                let s = t
                    .xml10_content()
                    .map_err(|_| Refusal::page("malformed text"))?;
                text.push_str(&s);
            }
            Event::GeneralRef(ref r) if field.is_some() => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode().ok().and_then(|name| {
                        quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                    })
                };
                match resolved {
                    Some(c) => text.push_str(&c),
                    None => return Err(Refusal::page("unknown XML entity")),
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    if let Some(f) = field.take() {
                        store(&mut req, f, text.trim().to_owned());
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err(Refusal::page("malformed XML"));
    }
    if req.id.is_empty() {
        return Err(Refusal::page("the request has no ID"));
    }
    Ok(req)
}

fn store(req: &mut LogoutRequest, f: Field, v: String) {
    match f {
        Field::Issuer => req.issuer = Some(v),
        Field::NameId => req.name_id = Some(v),
        Field::SessionIndex => req.session_indexes.push(v),
    }
}

/// How a logout ended, for the response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Success / PartialLogout: some other SAML SP of the session could not be told.
    Partial,
    Refused(Status),
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::Partial => "PartialLogout",
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
        Some((key, _)) => {
            let signed = federation_metadata::xmlsig::sign_enveloped(&xml, key)
                .map_err(|e| SignError(e.to_string()))?;
            let t = signed.trim_start();
            Ok(
                match t.strip_prefix("<?xml").and_then(|r| r.split_once("?>")) {
                    Some((_, rest)) => rest.trim_start().to_owned(),
                    None => t.to_owned(),
                },
            )
        }
        None => Ok(xml),
    }
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

/// A LogoutRequest from the IdP to an SP (IdP-initiated propagation): `(ID, XML)`.
pub fn build_logout_request(
    issuer: &str,
    destination: &str,
    name_id: &str,
    format: &str,
    session_index: &str,
    now: OffsetDateTime,
) -> (String, String) {
    let id = new_id();
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\">\
<saml:Issuer>{}</saml:Issuer><saml:NameID Format=\"{}\">{}</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        instant(now),
        html_escape(destination),
        html_escape(issuer),
        html_escape(format),
        html_escape(name_id),
        html_escape(session_index),
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
}

/// Reads a LogoutResponse (no DTD; only the root's attributes and its direct children).
pub fn parse_logout_response(xml: &str) -> Result<LogoutResponseRead, Refusal> {
    if xml.len() > MAX_XML {
        return Err(Refusal::page("message too large"));
    }
    let mut reader = NsReader::from_str(xml);
    let mut out = LogoutResponseRead::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut in_issuer = false;
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| Refusal::page("malformed XML"))?;
        match event {
            Event::DocType(_) => return Err(Refusal::page("XML with a DTD is refused")),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                if depth == 0 {
                    if seen_root {
                        return Err(Refusal::page("more than one root element"));
                    }
                    seen_root = true;
                    if !(ns_is(&ns, PROTOCOL_NS) && local.as_ref() == b"LogoutResponse") {
                        return Err(Refusal::page("not a LogoutResponse"));
                    }
                    for a in e.attributes() {
                        let a = a.map_err(|_| Refusal::page("malformed XML attribute"))?;
                        if a.key.local_name().as_ref() == b"InResponseTo" {
                            out.in_response_to = a
                                .decoded_and_normalized_value(
                                    quick_xml::XmlVersion::Implicit1_0,
                                    reader.decoder(),
                                )
                                .map_err(|_| Refusal::page("malformed XML attribute"))?
                                .into_owned();
                        }
                    }
                } else if depth == 1 {
                    if ns_is(&ns, ASSERTION_NS) && local.as_ref() == b"Issuer" {
                        if out.issuer.is_some() {
                            return Err(Refusal::page("the Issuer is repeated"));
                        }
                        text.clear();
                        if empty {
                            out.issuer = Some(String::new());
                        } else {
                            in_issuer = true;
                        }
                    } else if ns_is(&ns, DSIG_NS) && local.as_ref() == b"Signature" {
                        out.signed_enveloped = true;
                    }
                } else if in_issuer {
                    return Err(Refusal::page("unexpected element in the Issuer"));
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::Text(ref t) if in_issuer => {
                let s = t
                    .xml10_content()
                    .map_err(|_| Refusal::page("malformed text"))?;
                text.push_str(&s);
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 && in_issuer {
                    in_issuer = false;
                    out.issuer = Some(text.trim().to_owned());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err(Refusal::page("malformed XML"));
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
