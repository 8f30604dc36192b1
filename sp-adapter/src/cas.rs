//! A CAS 3 client: sends people to the server's `/login` and validates the service ticket
//! they come back with at `/p3/serviceValidate`, reading the user and the released
//! attributes from the XML answer (quick-xml, no DTD, bounded size).

use std::collections::BTreeMap;
use std::time::Duration;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Largest validation answer accepted.
const MAX_RESPONSE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error("the CAS server could not be reached: {0}")]
    Unreachable(String),
    #[error("the CAS server refused the ticket: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("the CAS server's answer is not understood: {0}")]
    BadResponse(String),
}

/// Who the CAS server says logged in, and the attributes released to this service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasPrincipal {
    pub user: String,
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// A CAS client for one server (`base`, e.g. `https://ent.example/cas`).
#[derive(Clone)]
pub struct CasClient {
    base: String,
    agent: ureq::Agent,
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl CasClient {
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// Where to send a person who is not logged in yet.
    pub fn login_url(&self, service: &str) -> String {
        format!("{}/login?service={}", self.base, encode(service))
    }

    /// Where to send a person to log out, coming back to `service`.
    pub fn logout_url(&self, service: &str) -> String {
        format!("{}/logout?service={}", self.base, encode(service))
    }

    /// Validates `ticket` for `service` (blocking: call it off the async executor).
    pub fn validate(&self, service: &str, ticket: &str) -> Result<CasPrincipal, CasError> {
        let url = format!(
            "{}/p3/serviceValidate?service={}&ticket={}",
            self.base,
            encode(service),
            encode(ticket)
        );
        let mut res = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| CasError::Unreachable(e.to_string()))?;
        if !res.status().is_success() {
            return Err(CasError::BadResponse(format!("HTTP {}", res.status())));
        }
        let body = res
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|e| CasError::BadResponse(e.to_string()))?;
        parse_service_response(&body)
    }
}

/// Reads a CAS 2/3 `cas:serviceResponse`.
pub fn parse_service_response(xml: &str) -> Result<CasPrincipal, CasError> {
    let bad = |m: &str| CasError::BadResponse(m.to_owned());
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut user = None;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failure: Option<(String, String)> = None;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::DocType(_)) => return Err(bad("a DTD is not accepted")),
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "authenticationFailure" {
                    let code = e
                        .try_get_attribute("code")
                        .ok()
                        .flatten()
                        .and_then(|a| {
                            a.decoded_and_normalized_value(
                                quick_xml::XmlVersion::Implicit1_0,
                                reader.decoder(),
                            )
                            .ok()
                            .map(|v| v.into_owned())
                        })
                        .unwrap_or_default();
                    failure = Some((code, String::new()));
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Text(t)) => {
                text.push_str(&t.xml10_content().map_err(|e| bad(&e.to_string()))?);
            }
            Ok(Event::GeneralRef(r)) => {
                // Only the predefined entities and character references: no DTD here.
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| bad(&e.to_string()))?
                        .map(String::from)
                } else {
                    let name = r.decode().map_err(|e| bad(&e.to_string()))?;
                    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                };
                text.push_str(&resolved.ok_or_else(|| bad("unknown entity reference"))?);
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                // Trimmed here, not by the reader: it would also trim around `&amp;`.
                let value = text.trim().to_owned();
                let parent = path.last().map(String::as_str);
                match (parent, name.as_str()) {
                    (Some("authenticationSuccess"), "user") => user = Some(value),
                    (Some("attributes"), attr) => {
                        attributes.entry(attr.to_owned()).or_default().push(value)
                    }
                    (_, "authenticationFailure") => {
                        if let Some(f) = failure.as_mut() {
                            f.1 = value;
                        }
                    }
                    _ => {}
                }
                text.clear();
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(bad(&e.to_string())),
        }
    }
    if let Some((code, message)) = failure {
        return Err(CasError::Refused { code, message });
    }
    match user {
        Some(user) if !user.is_empty() => Ok(CasPrincipal { user, attributes }),
        _ => Err(bad("no cas:user in the answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_attributes() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationSuccess>
    <cas:user>lea.fontaine</cas:user>
    <cas:attributes>
      <cas:nom>FONTAINE</cas:nom>
      <cas:categories>National_1</cas:categories>
      <cas:classes>2NDE 1</cas:classes><cas:classes>LV2 &amp; ESP</cas:classes>
    </cas:attributes>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;
        let p = parse_service_response(xml).unwrap();
        assert_eq!(p.user, "lea.fontaine");
        assert_eq!(p.attributes["nom"], vec!["FONTAINE"]);
        assert_eq!(p.attributes["classes"], vec!["2NDE 1", "LV2 & ESP"]);
    }

    #[test]
    fn failures_and_hostile_answers_are_errors() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
<cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized</cas:authenticationFailure>
</cas:serviceResponse>"#;
        match parse_service_response(xml) {
            Err(CasError::Refused { code, message }) => {
                assert_eq!(code, "INVALID_TICKET");
                assert!(message.contains("not recognized"));
            }
            other => panic!("{other:?}"),
        }
        let dtd = r#"<!DOCTYPE x [<!ENTITY a "b">]><cas:serviceResponse/>"#;
        assert!(matches!(
            parse_service_response(dtd),
            Err(CasError::BadResponse(_))
        ));
        assert!(parse_service_response("<cas:serviceResponse/>").is_err());
    }

    #[test]
    fn urls_are_encoded() {
        let c = CasClient::new("http://127.0.0.1:8080/");
        assert_eq!(
            c.login_url("http://127.0.0.1:8081/?a=b"),
            "http://127.0.0.1:8080/login?service=http%3A%2F%2F127.0.0.1%3A8081%2F%3Fa%3Db"
        );
    }
}
