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

use super::bindings::{MAX_XML, SIG_RSA_SHA256};
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
const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A SOAP 1.1 envelope around `xml` (SAML bindings 3.2.3.1: no header).
pub fn soap_envelope(xml: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap11:Envelope xmlns:soap11=\"{SOAP11_NS}\"><soap11:Body>{xml}</soap11:Body></soap11:Envelope>"
    )
}

/// Namespace declarations of a start tag: (prefix, or `None` for the default; URI).
type Decls = Vec<(Option<String>, String)>;

fn declarations(
    e: &quick_xml::events::BytesStart<'_>,
    decoder: quick_xml::encoding::Decoder,
) -> Result<Decls, Refusal> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| Refusal::page("malformed XML attribute"))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let prefix = match key.strip_prefix("xmlns") {
            Some("") => None,
            Some(rest) => match rest.strip_prefix(':') {
                Some(p) => Some(p.to_owned()),
                None => continue,
            },
            None => continue,
        };
        let uri = a
            .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, decoder)
            .map_err(|_| Refusal::page("malformed XML attribute"))?
            .into_owned();
        out.push((prefix, uri));
    }
    Ok(out)
}

/// The one element of the Body of the SOAP 1.1 envelope `xml`, as a document of its own
/// (then read and verified like any other message): bounded size, no DTD, a
/// `soap11:Envelope` root whose `Body` (after an optional `Header`) holds exactly one
/// element. Namespaces declared on the Envelope or the Body (lasso declares `samlp` and
/// `saml` there) are declared again on the element when it does not declare them itself;
/// exclusive canonicalization, which SAML signatures use, renders the same bytes either
/// way.
pub fn soap_body(xml: &str) -> Result<std::borrow::Cow<'_, str>, Refusal> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    if xml.len() > MAX_XML {
        return Err(Refusal::page("message too large"));
    }
    let is_soap = |ns: &ResolveResult<'_>| matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SOAP11_NS.as_bytes());
    enum Ev {
        Open {
            soap_local: Option<Vec<u8>>,
            decls: Decls,
            empty: bool,
        },
        Close,
        Other,
        Eof,
    }
    let mut reader = quick_xml::NsReader::from_str(xml);
    let decoder = reader.decoder();
    let (mut depth, mut in_body, mut seen_body) = (0usize, false, false);
    // Declarations in scope for the Body's element, and its own.
    let (mut scope, mut own): (Decls, Decls) = (Vec::new(), Vec::new());
    let mut found: Option<(usize, Option<usize>)> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = {
            let (ns, event) = reader
                .read_resolved_event()
                .map_err(|_| Refusal::page("malformed SOAP message"))?;
            match event {
                Event::DocType(_) => return Err(Refusal::page("XML with a DTD is refused")),
                Event::Start(ref e) | Event::Empty(ref e) => Ev::Open {
                    soap_local: is_soap(&ns).then(|| e.local_name().as_ref().to_vec()),
                    decls: declarations(e, decoder)?,
                    empty: matches!(event, Event::Empty(_)),
                },
                Event::End(_) => Ev::Close,
                Event::Eof => Ev::Eof,
                _ => Ev::Other,
            }
        };
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match ev {
            Ev::Open {
                soap_local,
                decls,
                empty,
            } => {
                let soap = soap_local.as_deref();
                match depth {
                    0 if soap != Some(b"Envelope".as_slice()) => {
                        return Err(Refusal::page("not a SOAP 1.1 envelope"))
                    }
                    0 => scope.extend(decls),
                    1 if soap == Some(b"Body".as_slice()) && !seen_body => {
                        seen_body = true;
                        in_body = !empty;
                        scope.extend(decls);
                    }
                    1 if soap == Some(b"Header".as_slice()) && !seen_body => {}
                    1 => return Err(Refusal::page("unexpected element in the SOAP envelope")),
                    2 if in_body => {
                        if found.is_some() {
                            return Err(Refusal::page("more than one element in the SOAP body"));
                        }
                        found = Some((before, empty.then_some(after)));
                        own = decls;
                    }
                    _ => {}
                }
                if !empty {
                    depth += 1;
                }
            }
            Ev::Close => {
                depth = depth.saturating_sub(1);
                match (depth, &mut found) {
                    (2, Some((_, end @ None))) if in_body => *end = Some(after),
                    (1, _) => in_body = false,
                    _ => {}
                }
            }
            Ev::Eof => break,
            Ev::Other => {}
        }
    }
    let element = match found {
        Some((start, Some(end))) if depth == 0 => xml
            .get(start..end)
            .map(str::trim)
            .ok_or_else(|| Refusal::page("malformed SOAP message"))?,
        _ => return Err(Refusal::page("no message in the SOAP body")),
    };
    // The innermost declaration of each prefix wins; the element's own stay as they are;
    // the SOAP namespace is of no use to a SAML message.
    let mut missing: Decls = Vec::new();
    for (prefix, uri) in scope.into_iter().rev() {
        if uri != SOAP11_NS && !own.iter().chain(missing.iter()).any(|(p, _)| *p == prefix) {
            missing.push((prefix, uri));
        }
    }
    if missing.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(element));
    }
    let name_end = element
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .ok_or_else(|| Refusal::page("malformed SOAP message"))?;
    let (head, tail) = element.split_at(name_end);
    let mut out = String::with_capacity(element.len() + 128);
    out.push_str(head);
    for (prefix, uri) in missing.iter().rev() {
        let uri = quick_xml::escape::escape(uri.as_str());
        match prefix {
            Some(p) => out.push_str(&format!(" xmlns:{p}=\"{uri}\"")),
            None => out.push_str(&format!(" xmlns=\"{uri}\"")),
        }
    }
    out.push_str(tail);
    Ok(std::borrow::Cow::Owned(out))
}

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

#[cfg(test)]
mod soap_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const RESPONSE: &str = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" InResponseTo="_q"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://sp.test/sp</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/></samlp:StatusCode></samlp:Status></samlp:LogoutResponse>"#;

    fn envelope(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<S:Envelope xmlns:S=\"{SOAP11_NS}\"><S:Header><x/></S:Header>\n <S:Body>\n{body}\n</S:Body></S:Envelope>"
        )
    }

    #[test]
    fn the_one_element_of_the_soap_body_is_read_and_its_status_too() {
        let doc = envelope(RESPONSE);
        let inner = soap_body(&doc).unwrap();
        assert_eq!(inner, RESPONSE);
        let read = parse_logout_response(&inner).unwrap();
        assert_eq!(read.in_response_to, "_q");
        assert_eq!(read.issuer.as_deref(), Some("https://sp.test/sp"));
        assert!(read.success(), "top-level Success, PartialLogout below");
        let denied = RESPONSE.replacen("status:Success", "status:Requester", 1);
        let read = parse_logout_response(&denied).unwrap();
        assert!(!read.success());
        assert_eq!(read.status_label(), "Requester");
        // No Status at all: not a success.
        let start = RESPONSE.find("<samlp:Status>").unwrap();
        let end = RESPONSE.find("</samlp:Status>").unwrap() + "</samlp:Status>".len();
        let bare = format!("{}{}", &RESPONSE[..start], &RESPONSE[end..]);
        assert!(!parse_logout_response(&bare).unwrap().success());
        // A StatusCode not first in the Status is not taken for the top-level one.
        let odd = RESPONSE.replacen(
            "<samlp:Status>",
            "<samlp:Status><samlp:StatusMessage>x</samlp:StatusMessage>",
            1,
        );
        assert!(!parse_logout_response(&odd).unwrap().success());
        // Our own envelope reads back.
        assert_eq!(soap_body(&soap_envelope(RESPONSE)).unwrap(), RESPONSE);
    }

    /// lasso (mod_auth_mellon) declares `samlp` and `saml` on the Envelope: the element is
    /// given them back, and its signature still verifies.
    #[test]
    fn namespaces_declared_on_the_envelope_are_carried_over() {
        let (key, cert) = federation_metadata::keys::generate_self_signed("sp.test", 1).unwrap();
        let der = cert.to_der().unwrap();
        let now = time::OffsetDateTime::now_utc();
        let signed = build_logout_response(
            "https://sp.test/sp",
            "https://idp.test/saml/slo",
            "_q",
            now,
            Outcome::Success,
            Some((&key, &der)),
        )
        .unwrap();
        let decls = format!(" xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\"");
        assert!(signed.contains(&decls), "{signed}");
        let bare = signed.replacen(&decls, "", 1);
        let doc = format!(
            "<s:Envelope xmlns:s=\"{SOAP11_NS}\"{decls}><s:Body>{bare}</s:Body></s:Envelope>"
        );
        let inner = soap_body(&doc).unwrap();
        let read = parse_logout_response(&inner).unwrap();
        assert!(read.success() && read.signed_enveloped);
        federation_metadata::xmlsig::verify_enveloped(&inner, &cert).unwrap();
        // Declared on the element itself: left as it is.
        let doc = format!(
            "<s:Envelope xmlns:s=\"{SOAP11_NS}\" xmlns:samlp=\"urn:other\"><s:Body>{signed}</s:Body></s:Envelope>"
        );
        assert_eq!(soap_body(&doc).unwrap(), signed.trim());
        // Tampered after signing: refused.
        let tampered = inner.replace("status:Success", "status:Requester");
        assert!(federation_metadata::xmlsig::verify_enveloped(&tampered, &cert).is_err());
    }

    #[test]
    fn soap_envelopes_are_read_strictly() {
        let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{}", envelope(RESPONSE));
        assert!(soap_body(&dtd).is_err());
        assert!(soap_body(&envelope(&format!("{RESPONSE}{RESPONSE}"))).is_err());
        assert!(soap_body(&envelope("")).is_err());
        assert!(soap_body(RESPONSE).is_err(), "not in an envelope");
        let soap12 =
            envelope(RESPONSE).replace(SOAP11_NS, "http://www.w3.org/2003/05/soap-envelope");
        assert!(soap_body(&soap12).is_err());
        let two_bodies = envelope(RESPONSE).replace("</S:Envelope>", "<S:Body/></S:Envelope>");
        assert!(soap_body(&two_bodies).is_err());
        assert!(soap_body(&envelope(RESPONSE).replace("</S:Envelope>", "")).is_err());
        let big = envelope(&format!("<!--{}-->{RESPONSE}", "a".repeat(MAX_XML)));
        assert!(soap_body(&big).is_err());
        // A SOAP Fault is extracted, then refused as not a LogoutResponse.
        let fault = envelope("<S:Fault><faultcode>S:Server</faultcode></S:Fault>");
        assert!(parse_logout_response(&soap_body(&fault).unwrap()).is_err());
    }
}
