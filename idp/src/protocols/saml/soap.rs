//! The SOAP 1.1 binding's envelope (SAML bindings 3.2), for the single logout back
//! channel: wrapping our message, and reading the one SAML element of an SP's answer as a
//! document of its own, strictly (bounded size, no DTD, exactly one Body element).

use super::bindings::MAX_XML;
use super::error::Refusal;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::protocols::saml::logout::{build_logout_response, parse_logout_response, Outcome};
    use crate::protocols::saml::shallow::{ASSERTION_NS, PROTOCOL_NS};

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
