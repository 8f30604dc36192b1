//! SAML 1.1 ticket validation (`POST /samlValidate?TARGET=<service>`): the SOAP-wrapped
//! `samlp:Request` is read with quick-xml (size-limited, no DTD, no entities) for its
//! `AssertionArtifact` (the service ticket), validated like `/p3/serviceValidate`, and
//! answered with a SAML 1.1 `Response` holding the released attributes (never to a
//! non-HTTPS `TARGET`, as the specification says).

use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::error::CasError;
use super::response::escape;
use super::ticket;
use super::url;
use super::validate::{Endpoint, Request, Validated};
use super::Cas;

/// Largest request body accepted (a request is a few hundred bytes).
pub const MAX_BODY: usize = 16 * 1024;

/// The `AssertionArtifact` of a SAML 1.1 request.
pub fn artifact(body: &[u8]) -> Result<String, CasError> {
    if body.len() > MAX_BODY {
        return Err(CasError::InvalidRequest("request too large"));
    }
    let bad = || CasError::InvalidRequest("malformed SAML request");
    let mut reader = Reader::from_reader(body);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut inside = false;
    let mut found: Option<String> = None;
    loop {
        match reader.read_event_into(&mut buf).map_err(|_| bad())? {
            Event::DocType(_) | Event::GeneralRef(_) => {
                return Err(CasError::InvalidRequest("DTDs and entities are refused"))
            }
            Event::Start(e) => {
                depth += 1;
                if depth > 16 {
                    return Err(bad());
                }
                inside = e.local_name().as_ref() == b"AssertionArtifact";
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                inside = false;
            }
            Event::Text(t) if inside => {
                let s = t.xml10_content().map_err(|_| bad())?;
                if found.is_some() {
                    return Err(bad());
                }
                found = Some(s.trim().to_owned());
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    found
        .filter(|a| !a.is_empty() && a.len() <= ticket::MAX_TICKET)
        .ok_or(CasError::InvalidRequest("no AssertionArtifact"))
}

fn instant(t: time::OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn envelope(inner: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .content_type("text/xml; charset=utf-8")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Header/><SOAP-ENV:Body>{inner}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        ))
}

fn subject(user: &str) -> String {
    format!(
        "<saml:Subject><saml:NameIdentifier>{}</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:artifact</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>",
        escape(user)
    )
}

const RESPONSE_NS: &str = "xmlns:samlp=\"urn:oasis:names:tc:SAML:1.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:1.0:assertion\"";

fn success(cas: &Cas, v: &Validated, target: &str) -> HttpResponse {
    let now = cas.clock.now();
    let user = &v.success.user;
    let mut attrs = String::new();
    // The specification: no attributes to a non-HTTPS target.
    let released = v
        .success
        .attributes
        .iter()
        .flatten()
        .filter(|_| target.starts_with("https://"));
    for a in released {
        attrs.push_str(&format!(
            "<saml:Attribute AttributeName=\"{}\" AttributeNamespace=\"http://www.ja-sig.org/products/cas/\">",
            escape(&a.name)
        ));
        for value in &a.values {
            attrs.push_str(&format!(
                "<saml:AttributeValue>{}</saml:AttributeValue>",
                escape(value)
            ));
        }
        attrs.push_str("</saml:Attribute>");
    }
    let inner = format!(
        "<samlp:Response {RESPONSE_NS} IssueInstant=\"{now}\" MajorVersion=\"1\" MinorVersion=\"1\" Recipient=\"{target}\" ResponseID=\"{rid}\"><samlp:Status><samlp:StatusCode Value=\"samlp:Success\"/></samlp:Status><saml:Assertion AssertionID=\"{aid}\" IssueInstant=\"{now}\" Issuer=\"{issuer}\" MajorVersion=\"1\" MinorVersion=\"1\"><saml:Conditions NotBefore=\"{now}\" NotOnOrAfter=\"{until}\"><saml:AudienceRestrictionCondition><saml:Audience>{target}</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions><saml:AttributeStatement>{subj}{attrs}</saml:AttributeStatement><saml:AuthenticationStatement AuthenticationInstant=\"{authn}\" AuthenticationMethod=\"urn:oasis:names:tc:SAML:1.0:am:password\">{subj}</saml:AuthenticationStatement></saml:Assertion></samlp:Response>",
        now = instant(now),
        until = instant(now + time::Duration::seconds(30)),
        target = escape(target),
        rid = ticket::new_id("_"),
        aid = ticket::new_id("_"),
        issuer = escape(&cas.issuer),
        subj = subject(user),
        authn = instant(v.ticket.authn_instant),
    );
    envelope(&inner)
}

fn failure(cas: &Cas, e: &CasError, target: &str) -> HttpResponse {
    let code = match e {
        CasError::Internal(_) => "samlp:Responder",
        _ => "samlp:Requester",
    };
    let inner = format!(
        "<samlp:Response {RESPONSE_NS} IssueInstant=\"{}\" MajorVersion=\"1\" MinorVersion=\"1\" Recipient=\"{}\" ResponseID=\"{}\"><samlp:Status><samlp:StatusCode Value=\"{code}\"/><samlp:StatusMessage>{}: {}</samlp:StatusMessage></samlp:Status></samlp:Response>",
        instant(cas.clock.now()),
        escape(target),
        ticket::new_id("_"),
        e.code(),
        escape(&e.description()),
    );
    envelope(&inner)
}

/// `POST /samlValidate?TARGET=<service>`.
pub async fn saml_validate(req: HttpRequest, cas: Data<Cas>, body: Bytes) -> HttpResponse {
    let params = url::parse_params(req.query_string());
    let target = params
        .as_deref()
        .and_then(|p| url::param(p, "TARGET"))
        .unwrap_or_default()
        .to_owned();
    let artifact = match (params.is_some(), artifact(&body)) {
        (true, Ok(a)) => a,
        (false, _) => {
            let e = CasError::InvalidRequest("malformed or repeated parameters");
            cas.audit_refused(Endpoint::Saml, &e);
            return failure(&cas, &e, "");
        }
        (_, Err(e)) => {
            cas.audit_refused(Endpoint::Saml, &e);
            return failure(&cas, &e, &target);
        }
    };
    let request = Request {
        service: Some(&target),
        ticket: Some(&artifact),
        pgt_url: None,
        renew: false,
    };
    match cas.validate(Endpoint::Saml, request).await {
        Ok(v) => success(&cas, &v, &target),
        Err(e) => failure(&cas, &e, &target),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_the_artifact_and_refuses_dtds() {
        let body = br#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header/><SOAP-ENV:Body><samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" MinorVersion="1" RequestID="_1" IssueInstant="2026-11-27T03:00:00Z"><samlp:AssertionArtifact>ST-abc</samlp:AssertionArtifact></samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        assert_eq!(artifact(body).unwrap(), "ST-abc");
        let dtd = br#"<!DOCTYPE x [<!ENTITY e "ST-x">]><a><AssertionArtifact>&e;</AssertionArtifact></a>"#;
        assert_eq!(artifact(dtd).unwrap_err().code(), "INVALID_REQUEST");
        assert!(artifact(b"<a></a>").is_err());
        assert!(artifact(&vec![b' '; MAX_BODY + 1]).is_err());
    }
}
