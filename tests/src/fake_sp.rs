//! A scripted SAML SP for the single logout tests that real SPs cannot make fail on
//! demand: a thread serving plain HTTP on a loopback port with its own key pair and
//! metadata. It accepts anything posted to its ACS (`/acs`), and answers the SOAP
//! LogoutRequests posted to `/soap` as its [`SoapBehaviour`] says, recording each request
//! it received (headers and body). Front-channel endpoints (`/slo`, `/slo-post`) are only
//! published in its metadata: tests read the IdP's URLs and answer them themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use federation_metadata::keys::generate_self_signed;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// What the SP answers to a SOAP LogoutRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapBehaviour {
    /// A signed LogoutResponse with a `Success` status.
    Success,
    /// A signed LogoutResponse with a top-level `Requester` status.
    Requester,
    /// A `Success` LogoutResponse, not signed.
    Unsigned,
    /// A `Success` LogoutResponse signed by a key that is not the registered one.
    WrongKey,
    /// No answer for 10 seconds (then the connection closes).
    Silent,
}

/// Which SingleLogoutServices the metadata publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub soap: bool,
    pub redirect: bool,
    pub post: bool,
}

/// One HTTP request the SP received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running scripted SP.
pub struct FakeSp {
    pub port: u16,
    pub key: PKey<Private>,
    pub cert: X509,
    pub received: Arc<Mutex<Vec<Received>>>,
    endpoints: Endpoints,
    name: String,
}

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

impl FakeSp {
    /// Starts the SP `name` (its entityID is `<origin>/<name>`).
    pub fn start(name: &str, behaviour: SoapBehaviour, endpoints: Endpoints) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (key, cert) = generate_self_signed(&format!("fake sp {name}"), 2).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sp = Self {
            port,
            key,
            cert,
            received: received.clone(),
            endpoints,
            name: name.to_owned(),
        };
        let entity = sp.entity_id();
        let (key, cert_der) = (sp.key.clone(), sp.cert.to_der().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (received, entity, key, cert_der) = (
                    received.clone(),
                    entity.clone(),
                    key.clone(),
                    cert_der.clone(),
                );
                std::thread::spawn(move || {
                    serve(stream, behaviour, &received, &entity, &key, &cert_der)
                });
            }
        });
        sp
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn entity_id(&self) -> String {
        format!("{}/{}", self.origin(), self.name)
    }

    /// The SOAP requests received so far.
    pub fn soap_requests(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/soap")
            .cloned()
            .collect()
    }

    /// Its metadata: the signing certificate, the HTTP-POST ACS `/acs`, and the
    /// SingleLogoutServices of [`Endpoints`].
    pub fn metadata(&self) -> String {
        let o = self.origin();
        let cert = openssl::base64::encode_block(&self.cert.to_der().unwrap());
        let mut slo = String::new();
        let b = "urn:oasis:names:tc:SAML:2.0:bindings:";
        if self.endpoints.soap {
            slo.push_str(&format!(
                "<md:SingleLogoutService Binding=\"{b}SOAP\" Location=\"{o}/soap\"/>"
            ));
        }
        if self.endpoints.redirect {
            slo.push_str(&format!(
                "<md:SingleLogoutService Binding=\"{b}HTTP-Redirect\" Location=\"{o}/slo\"/>"
            ));
        }
        if self.endpoints.post {
            slo.push_str(&format!(
                "<md:SingleLogoutService Binding=\"{b}HTTP-POST\" Location=\"{o}/slo-post\"/>"
            ));
        }
        format!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{entity}\">\
<md:SPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL}\" AuthnRequestsSigned=\"false\" WantAssertionsSigned=\"true\">\
<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
{slo}<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>\
<md:AssertionConsumerService Binding=\"{b}HTTP-POST\" Location=\"{o}/acs\" index=\"0\" isDefault=\"true\"/>\
</md:SPSSODescriptor></md:EntityDescriptor>",
            entity = self.entity_id(),
        )
    }
}

/// The `ID` of the root element of `xml` (the first `ID="` after its name).
pub fn root_id(xml: &str, root: &str) -> String {
    let at = xml
        .find(root)
        .unwrap_or_else(|| panic!("no {root} in {xml}"));
    let rest = &xml[at..];
    let start = rest.find(" ID=\"").unwrap() + 5;
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end].to_owned()
}

/// A LogoutResponse from `issuer` to request `in_response_to` with top-level `status`
/// (`Success`, `Requester`...), signed enveloped with `key` when given.
pub fn logout_response(
    issuer: &str,
    in_response_to: &str,
    status: &str,
    signed: Option<(&PKey<Private>, &[u8])>,
) -> String {
    let id = format!("_fake{}", std::process::id() ^ rand_u32());
    let template = signed
        .map(|(_, der)| federation_metadata::xmlsig::signature_template(&id, Some(der)))
        .unwrap_or_default();
    let xml = format!(
        "<samlp:LogoutResponse xmlns:samlp=\"{PROTOCOL}\" xmlns:saml=\"{ASSERTION}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" InResponseTo=\"{in_response_to}\"><saml:Issuer>{issuer}</saml:Issuer>{template}<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:{status}\"/></samlp:Status></samlp:LogoutResponse>",
        now()
    );
    match signed {
        Some((key, _)) => {
            let s = federation_metadata::xmlsig::sign_enveloped(&xml, key).unwrap();
            match s.trim_start().strip_prefix("<?xml") {
                Some(r) => r.split_once("?>").unwrap().1.trim_start().to_owned(),
                None => s,
            }
        }
        None => xml,
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_le_bytes(b)
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn serve(
    stream: TcpStream,
    behaviour: SoapBehaviour,
    received: &Mutex<Vec<Received>>,
    entity: &str,
    key: &PKey<Private>,
    cert_der: &[u8],
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    let soap = path == "/soap";
    received.lock().unwrap().push(Received {
        path,
        headers,
        body: body.clone(),
    });
    let mut out = stream;
    if !soap {
        let _ = out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        );
        return;
    }
    let request_id = root_id(&body, "LogoutRequest");
    let other = generate_self_signed("not the registered key", 1).unwrap();
    let other_der = other.1.to_der().unwrap();
    let response = match behaviour {
        SoapBehaviour::Silent => {
            std::thread::sleep(Duration::from_secs(10));
            return;
        }
        SoapBehaviour::Success => {
            logout_response(entity, &request_id, "Success", Some((key, cert_der)))
        }
        SoapBehaviour::Requester => {
            logout_response(entity, &request_id, "Requester", Some((key, cert_der)))
        }
        SoapBehaviour::Unsigned => logout_response(entity, &request_id, "Success", None),
        SoapBehaviour::WrongKey => {
            logout_response(entity, &request_id, "Success", Some((&other.0, &other_der)))
        }
    };
    let envelope = format!(
        "<soap11:Envelope xmlns:soap11=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap11:Body>{response}</soap11:Body></soap11:Envelope>"
    );
    let _ = out.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{envelope}",
            envelope.len()
        )
        .as_bytes(),
    );
}
