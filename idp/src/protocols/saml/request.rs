//! Reading an AuthnRequest with quick-xml, safely: bounded size, no DTD (so no entity
//! expansion), the root must be `samlp:AuthnRequest`, and only the root's attributes and
//! its direct children (`saml:Issuer`, `samlp:NameIDPolicy`, `ds:Signature`) are read, so
//! nothing nested elsewhere (a wrapped, genuinely signed request) is ever looked at.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use time::OffsetDateTime;

use super::bindings::MAX_XML;
use super::error::Refusal;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// What is read from an AuthnRequest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub version: String,
    pub issue_instant: Option<OffsetDateTime>,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub issuer: Option<String>,
    pub name_id_format: Option<String>,
    pub allow_create: Option<bool>,
    pub sp_name_qualifier: Option<String>,
    /// A `ds:Signature` is a direct child of the root.
    pub signed_enveloped: bool,
}

fn ns_is(r: &ResolveResult<'_>, ns: &str) -> bool {
    matches!(r, ResolveResult::Bound(n) if n.as_ref() == ns.as_bytes())
}

fn attrs(
    e: &BytesStart<'_>,
    decoder: quick_xml::encoding::Decoder,
) -> Result<Vec<(String, String)>, Refusal> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|_| Refusal::page("malformed XML attribute"))?;
            let value = a
                .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, decoder)
                .map_err(|_| Refusal::page("malformed XML attribute"))?;
            Ok((
                String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                value.into_owned(),
            ))
        })
        .collect()
}

fn get<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn boolean(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1"))
}

/// Parses `xml` as an AuthnRequest.
pub fn parse_authn_request(xml: &str) -> Result<AuthnRequest, Refusal> {
    if xml.len() > MAX_XML {
        return Err(Refusal::page("message too large"));
    }
    let mut reader = NsReader::from_str(xml);
    let mut req = AuthnRequest::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut in_issuer = false;
    let mut issuer = String::new();
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
                    if !(ns_is(&ns, PROTOCOL_NS) && local.as_ref() == b"AuthnRequest") {
                        return Err(Refusal::page("not an AuthnRequest"));
                    }
                    let a = attrs(e, reader.decoder())?;
                    req.id = get(&a, "ID").unwrap_or_default().to_owned();
                    req.version = get(&a, "Version").unwrap_or_default().to_owned();
                    req.issue_instant = get(&a, "IssueInstant").and_then(|v| {
                        OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                            .ok()
                    });
                    req.destination = get(&a, "Destination").map(str::to_owned);
                    req.acs_url = get(&a, "AssertionConsumerServiceURL").map(str::to_owned);
                    req.acs_index = match get(&a, "AssertionConsumerServiceIndex") {
                        Some(v) => Some(
                            v.parse()
                                .map_err(|_| Refusal::page("bad AssertionConsumerServiceIndex"))?,
                        ),
                        None => None,
                    };
                    req.protocol_binding = get(&a, "ProtocolBinding").map(str::to_owned);
                    req.force_authn = boolean(get(&a, "ForceAuthn"));
                    req.is_passive = boolean(get(&a, "IsPassive"));
                } else if depth == 1 {
                    if ns_is(&ns, ASSERTION_NS) && local.as_ref() == b"Issuer" {
                        if req.issuer.is_some() {
                            return Err(Refusal::page("more than one Issuer"));
                        }
                        req.issuer = Some(String::new());
                        in_issuer = !empty;
                    } else if ns_is(&ns, PROTOCOL_NS) && local.as_ref() == b"NameIDPolicy" {
                        let a = attrs(e, reader.decoder())?;
                        req.name_id_format = get(&a, "Format").map(str::to_owned);
                        req.allow_create = get(&a, "AllowCreate").map(|v| boolean(Some(v)));
                        req.sp_name_qualifier = get(&a, "SPNameQualifier").map(str::to_owned);
                    } else if ns_is(&ns, DSIG_NS) && local.as_ref() == b"Signature" {
                        req.signed_enveloped = true;
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::Text(ref t) if in_issuer => {
                let text = t
                    .xml10_content()
                    .map_err(|_| Refusal::page("malformed Issuer"))?;
                issuer.push_str(&text);
            }
            Event::GeneralRef(ref r) if in_issuer => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode().ok().and_then(|name| {
                        quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                    })
                };
                match resolved {
                    Some(c) => issuer.push_str(&c),
                    None => return Err(Refusal::page("unknown XML entity")),
                }
            }
            Event::GeneralRef(_) => {}
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if in_issuer && depth == 1 {
                    in_issuer = false;
                    req.issuer = Some(issuer.trim().to_owned());
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
