//! The CAS server over real HTTP: login → ticket → validation (CAS 1, 2, 3, XML and JSON,
//! SAML 1.1) with Pronote's attributes and only those; the negative cases, each with its
//! specification error code (unknown service, reused, foreign, expired and raced tickets,
//! bad proxy callbacks, malformed and oversized input, renew, gateway); a proxy-ticket flow
//! with an HTTPS callback; back-channel logout received by a test service.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idp::audit::AuditEvent;
use idp::model::Category;
use idp::protocols::cas::url::encode;
use idp_tests::raw_get as get;
use idp_tests::registry::{CasService, TestRegistry};
use idp_tests::tls::TestCa;
use idp_tests::{Browser, Page, TestIdp, LEA_PASSWORD};

const PRONOTE: &str = "https://0350001a.index-education.net/pronote/eleve.html";
const PASSWORD: &str = LEA_PASSWORD;
const LOGIN: &str = "camille.durand";

/// Requests received by a test service: request line and body.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, String)>>>);

impl Received {
    fn all(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }

    fn wait(&self, n: usize) -> Vec<(String, String)> {
        let start = Instant::now();
        while self.all().len() < n && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.all()
    }
}

/// Reads one HTTP/1.1 request, records it and answers `status`.
fn serve_one(stream: &mut dyn ReadWrite, received: &Received, status: u16) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    received.0.lock().unwrap().push((
        line.trim().to_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    let _ = stream.flush();
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A plain HTTP test service on the loopback; returns its port.
fn http_service(received: Received) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            serve_one(&mut s, &received, 200);
        }
    });
    port
}

/// An HTTPS proxy callback on the loopback, with a certificate of `ca`; answers `status`.
fn https_callback(ca: &TestCa, received: Received, status: u16) -> u16 {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    b.set_private_key_file(&ca.server_key, SslFiletype::PEM)
        .unwrap();
    b.set_certificate_chain_file(&ca.server_cert).unwrap();
    let acceptor = Arc::new(b.build());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let acceptor = acceptor.clone();
            let received = received.clone();
            std::thread::spawn(move || {
                if let Ok(mut tls) = acceptor.accept(s) {
                    serve_one(&mut tls, &received, status);
                }
            });
        }
    });
    port
}

struct Cas {
    idp: TestIdp,
    /// `http://127.0.0.1:PORT/app/` (a CAS service that accepts logout requests).
    app: String,
    app_received: Received,
    /// Registered proxy callback (answers 200) and one that answers 404.
    pgt_url: String,
    pgt_url_404: String,
    callback_received: Received,
    _ca_dir: tempfile::TempDir,
    _registry: TestRegistry,
}

fn start() -> Cas {
    start_with(|_| {})
}

fn start_with(f: impl FnOnce(&mut idp::settings::Settings)) -> Cas {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(ca_dir.path());
    let app_received = Received::default();
    let app_port = http_service(app_received.clone());
    let callback_received = Received::default();
    let cb = https_callback(&ca, callback_received.clone(), 200);
    let cb404 = https_callback(&ca, Received::default(), 404);
    let app = format!("http://127.0.0.1:{app_port}/app/");
    let pgt_url = format!("https://127.0.0.1:{cb}/pgt");
    let pgt_url_404 = format!("https://127.0.0.1:{cb404}/pgt");
    let mut testapp = CasService::pronote_like("testapp", &app);
    testapp.proxy_callbacks = vec![pgt_url.clone(), pgt_url_404.clone()];
    let pronote =
        CasService::pronote_like("pronote", "https://0350001a.index-education.net/pronote/");
    let registry = TestRegistry::new();
    let domain = registry.publish(&[testapp, pronote]);
    let ca_cert = ca.ca_cert.clone();
    let idp = TestIdp::start_with(|s| {
        s.federation.domains = vec![domain];
        s.cas.proxy_callback_ca_file = ca_cert;
        f(s);
    });
    idp.put_person(&idp.person(
        Category::Eleve,
        "5101",
        LOGIN,
        ("Camille", "DURAND"),
        Some(PASSWORD),
        &[
            ("ENTPersonStructRattach", &["9001"]),
            ("ENTEleveClasses", &["9001$2NDE A"]),
            ("ENTPersonDateNaissance", &["03/04/2010"]),
            ("ENTPersonCodePostal", &["35000"]),
            ("mail", &["camille@example.org"]),
        ],
    ));
    Cas {
        idp,
        app,
        app_received,
        pgt_url,
        pgt_url_404,
        callback_received,
        _ca_dir: ca_dir,
        _registry: registry,
    }
}

fn ticket_of(location: &str, service: &str) -> String {
    let rest = location
        .strip_prefix(service)
        .unwrap_or_else(|| panic!("{location} is not at {service}"));
    let t = rest
        .trim_start_matches(['?', '&'])
        .strip_prefix("ticket=")
        .unwrap_or_else(|| panic!("no ticket in {location}"));
    assert!(t.starts_with("ST-"), "{t}");
    t.to_owned()
}

impl Cas {
    fn login_url(&self, service: &str, extra: &str) -> String {
        format!("/login?service={}{extra}", encode(service))
    }

    /// Login form with the service, then the password: the ticket.
    fn login_for(&self, b: &Browser, service: &str) -> String {
        let form = b.get(&self.login_url(service, ""));
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form
            .body
            .contains(&format!("name=\"service\" value=\"{service}\"")));
        let res = b.post_form(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("login", LOGIN),
                ("password", PASSWORD),
                ("service", service),
            ],
        );
        assert_eq!(res.status, 302, "{}", res.body);
        ticket_of(res.location().unwrap(), service)
    }

    /// A ticket from the SSO session, no password.
    fn sso_for(&self, b: &Browser, service: &str) -> String {
        let res = b.get(&self.login_url(service, ""));
        assert_eq!(res.status, 302, "{}", res.body);
        ticket_of(res.location().unwrap(), service)
    }

    fn validate(&self, endpoint: &str, service: &str, ticket: &str, extra: &str) -> String {
        let (status, body) = get(&self.idp.at(&format!(
            "/{endpoint}?service={}&ticket={}{extra}",
            encode(service),
            encode(ticket)
        )));
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn code(body: &str) -> String {
    let marker = "code=\"";
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no failure code in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

fn attribute_elements(body: &str) -> Vec<String> {
    let Some(start) = body.find("<cas:attributes>") else {
        return Vec::new();
    };
    let end = body.find("</cas:attributes>").unwrap();
    body[start + 16..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn login_ticket_and_p3_validation_release_pronote_attributes_and_only_those() {
    let cas = start();
    let b = cas.idp.browser();
    let st = cas.login_for(&b, PRONOTE);
    let body = cas.validate("p3/serviceValidate", PRONOTE, &st, "");
    assert!(body.contains("<cas:authenticationSuccess>"), "{body}");
    assert!(body.contains(&format!("<cas:user>{LOGIN}</cas:user>")));
    assert_eq!(
        attribute_elements(&body),
        vec![
            "<cas:nom>DURAND</cas:nom>",
            "<cas:prenom>Camille</cas:prenom>",
            "<cas:dateNaissance>03/04/2010</cas:dateNaissance>",
            "<cas:codePostal>35000</cas:codePostal>",
            "<cas:categories>National_1</cas:categories>",
        ],
        "{body}"
    );
    assert!(!body.contains("camille@example.org"));
    assert!(!body.contains("proxyGrantingTicket"));

    // Single sign-on: no password the second time; JSON.
    let st = cas.sso_for(&b, PRONOTE);
    let body = cas.validate("p3/serviceValidate", PRONOTE, &st, "&format=JSON");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let ok = &v["serviceResponse"]["authenticationSuccess"];
    assert_eq!(ok["user"], LOGIN);
    assert_eq!(
        ok["attributes"],
        serde_json::json!({
            "nom": ["DURAND"], "prenom": ["Camille"], "dateNaissance": ["03/04/2010"],
            "codePostal": ["35000"], "categories": ["National_1"]
        })
    );

    // CAS 2: the user, no attributes.
    let st = cas.sso_for(&b, PRONOTE);
    let body = cas.validate("serviceValidate", PRONOTE, &st, "");
    assert!(body.contains(&format!("<cas:user>{LOGIN}</cas:user>")));
    assert!(!body.contains("cas:attributes"));
    // proxyValidate accepts service tickets too.
    let st = cas.sso_for(&b, PRONOTE);
    let body = cas.validate("proxyValidate", PRONOTE, &st, "");
    assert!(body.contains("<cas:authenticationSuccess>"));

    // CAS 1.
    let st = cas.sso_for(&b, PRONOTE);
    assert_eq!(
        cas.validate("validate", PRONOTE, &st, ""),
        format!("yes\n{LOGIN}\n")
    );
    assert_eq!(cas.validate("validate", PRONOTE, &st, ""), "no\n\n");

    // Audited: tickets (never the ticket itself) and validations with attribute names.
    let events = cas.idp.events();
    let issued = events
        .iter()
        .filter(|e| {
            matches!(e, AuditEvent::CasTicketIssued { service, ticket_kind: "ST", login, .. }
                if service == "pronote" && login == LOGIN)
        })
        .count();
    assert_eq!(issued, 5);
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::CasValidation { service, outcome, attributes, endpoint: "p3/serviceValidate", .. }
            if service == "pronote" && outcome == "success"
                && attributes == &["nom", "prenom", "dateNaissance", "codePostal", "categories"])));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::CasValidation { outcome, reason, .. }
            if outcome == "INVALID_TICKET" && reason == "ticket not recognized")));
    let file = std::fs::read_to_string(&cas.idp.audit_path).unwrap();
    assert!(file.contains("\"event\":\"cas_ticket_issued\""));
    assert!(!file.contains(&st), "tickets never reach the audit trail");
}

#[test]
fn an_unknown_service_gets_an_error_page_no_ticket_and_no_redirect() {
    let cas = start();
    let b = cas.idp.browser();
    for service in [
        "https://evil.example/pronote/",
        "https://0350001a.index-education.net/pronote-evil/",
        "https://0350001a.index-education.net.evil.example/pronote/",
        "javascript:alert(1)",
    ] {
        let res = b.get(&cas.login_url(service, ""));
        assert_eq!(res.status, 403, "{service}");
        assert_eq!(res.location(), None);
        assert!(res.body.contains("Service non autorisé"), "{}", res.body);
    }
    b.login_ok(LOGIN, PASSWORD);
    let res = b.get(&cas.login_url("https://evil.example/", ""));
    assert_eq!(res.status, 403);
    assert_eq!(res.location(), None);
    let res = b.get(&cas.login_url("https://evil.example/", "&gateway=true"));
    assert_eq!(res.status, 403);
    // A forged hidden field is checked again on submit.
    b.clear_cookies();
    let form = b.get("/login");
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", LOGIN),
            ("password", PASSWORD),
            ("service", "https://evil.example/"),
        ],
    );
    assert_eq!(res.status, 403);
    assert_eq!(res.location(), None);
    assert!(!cas
        .idp
        .events()
        .iter()
        .any(|e| matches!(e, AuditEvent::CasTicketIssued { .. })));
    // Host case and the default port are normalised; the path is not.
    let res = b.get(&cas.login_url("https://0350001A.Index-Education.net:443/pronote/x", ""));
    assert_eq!(res.status, 200);
    let res = b.get(&cas.login_url("https://0350001a.index-education.net/PRONOTE/", ""));
    assert_eq!(res.status, 403);
}

#[test]
fn tickets_are_single_use_bound_to_their_service_and_short_lived() {
    let cas = start();
    let b = cas.idp.browser();
    let st = cas.login_for(&b, PRONOTE);
    assert!(cas
        .validate("p3/serviceValidate", PRONOTE, &st, "")
        .contains("authenticationSuccess"));
    let again = cas.validate("p3/serviceValidate", PRONOTE, &st, "");
    assert_eq!(code(&again), "INVALID_TICKET");

    // Issued for Pronote, presented by another service: refused, and gone.
    let st = cas.sso_for(&b, PRONOTE);
    let other = cas.validate("serviceValidate", &cas.app, &st, "");
    assert_eq!(code(&other), "INVALID_SERVICE");
    assert!(cas.idp.events().iter().any(|e| matches!(e,
        AuditEvent::CasValidation { service, outcome, login, reason, .. }
            if service == "pronote" && outcome == "INVALID_SERVICE" && login == LOGIN
                && reason == "ticket was issued for another service")));
    assert_eq!(
        code(&cas.validate("serviceValidate", PRONOTE, &st, "")),
        "INVALID_TICKET"
    );
    // Same host, another path.
    let st = cas.sso_for(&b, PRONOTE);
    let other = cas.validate(
        "serviceValidate",
        "https://0350001a.index-education.net/pronote/parent.html",
        &st,
        "",
    );
    assert_eq!(code(&other), "INVALID_SERVICE");
    // The same URL written with another host case and the default port is the same service.
    let st = cas.sso_for(&b, PRONOTE);
    let body = cas.validate(
        "serviceValidate",
        "https://0350001A.index-education.net:443/pronote/eleve.html",
        &st,
        "",
    );
    assert!(body.contains("authenticationSuccess"), "{body}");

    // Ten seconds by default.
    let st = cas.sso_for(&b, PRONOTE);
    cas.idp.advance_secs(11);
    assert_eq!(
        code(&cas.validate("serviceValidate", PRONOTE, &st, "")),
        "INVALID_TICKET"
    );
    let st = cas.sso_for(&b, PRONOTE);
    cas.idp.advance_secs(9);
    assert!(cas
        .validate("serviceValidate", PRONOTE, &st, "")
        .contains("authenticationSuccess"));
}

#[test]
fn two_concurrent_validations_of_one_ticket_exactly_one_wins() {
    let cas = start();
    let b = cas.idp.browser();
    b.login_ok(LOGIN, PASSWORD);
    for _ in 0..5 {
        let st = cas.sso_for(&b, PRONOTE);
        let url = cas.idp.at(&format!(
            "/p3/serviceValidate?service={}&ticket={st}",
            encode(PRONOTE)
        ));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    get(&url).1
                })
            })
            .collect();
        let bodies: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let wins = bodies
            .iter()
            .filter(|b| b.contains("authenticationSuccess"))
            .count();
        assert_eq!(wins, 1, "{bodies:?}");
        assert!(bodies
            .iter()
            .filter(|b| !b.contains("authenticationSuccess"))
            .all(|b| code(b) == "INVALID_TICKET"));
    }
}

#[test]
fn malformed_and_oversized_requests_get_invalid_request() {
    let cas = start();
    let b = cas.idp.browser();
    b.login_ok(LOGIN, PASSWORD);
    let at = |q: &str| get(&cas.idp.at(q)).1;
    let svc = encode(PRONOTE);
    assert_eq!(code(&at("/serviceValidate")), "INVALID_REQUEST");
    assert_eq!(
        code(&at(&format!("/serviceValidate?service={svc}"))),
        "INVALID_REQUEST"
    );
    assert_eq!(
        code(&at("/p3/serviceValidate?ticket=ST-abc")),
        "INVALID_REQUEST"
    );
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={svc}&ticket=ST-a&ticket=ST-b"
        ))),
        "INVALID_REQUEST"
    );
    assert_eq!(
        code(&at(&format!("/serviceValidate?service={svc}&ticket=%ZZ"))),
        "INVALID_REQUEST"
    );
    let long = format!(
        "https://0350001a.index-education.net/pronote/{}",
        "a".repeat(3000)
    );
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={}&ticket=ST-a",
            encode(&long)
        ))),
        "INVALID_REQUEST"
    );
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={svc}&ticket=ST-{}",
            "a".repeat(300)
        ))),
        "INVALID_REQUEST"
    );
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={svc}&ticket=ST-a&format=YAML"
        ))),
        "INVALID_REQUEST"
    );
    let huge = format!(
        "/serviceValidate?service={svc}&ticket=ST-a&x={}",
        "b".repeat(9000)
    );
    let (status, body) = get(&cas.idp.at(&huge));
    assert!(
        status != 200 || code(&body) == "INVALID_REQUEST",
        "{status} {body}"
    );
    // JSON failures too.
    let v: serde_json::Value =
        serde_json::from_str(&at(&format!("/serviceValidate?service={svc}&format=JSON"))).unwrap();
    assert_eq!(
        v["serviceResponse"]["authenticationFailure"]["code"],
        "INVALID_REQUEST"
    );
    // Unknown tickets, and ticket kinds at the wrong endpoint.
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={svc}&ticket=ST-nope"
        ))),
        "INVALID_TICKET"
    );
    assert_eq!(
        code(&at(&format!("/serviceValidate?service={svc}&ticket=XYZ-1"))),
        "INVALID_TICKET"
    );
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={svc}&ticket=PGT-abc"
        ))),
        "INVALID_TICKET_SPEC"
    );
    assert_eq!(
        code(&at(&format!(
            "/serviceValidate?service={svc}&ticket=PT-abc"
        ))),
        "INVALID_TICKET_SPEC"
    );
    // A PT presented at serviceValidate is not consumed by the refusal (checked before).
    assert_eq!(
        code(&at(&format!("/proxy?pgt=ST-abc&targetService={svc}"))),
        "INVALID_TICKET_SPEC"
    );
    assert_eq!(code(&at("/proxy?pgt=PGT-abc")), "INVALID_REQUEST");
    assert_eq!(
        code(&at(&format!("/proxy?pgt=PGT-abc&targetService={svc}"))),
        "INVALID_TICKET"
    );
    // A malformed login request is a page, not a ticket.
    assert_eq!(b.get("/login?service=a&service=b").status, 400);
}

#[test]
fn renew_and_gateway() {
    let cas = start();
    let b = cas.idp.browser();
    // gateway without a session: back to the service, no ticket.
    let res = b.get(&cas.login_url(PRONOTE, "&gateway=true"));
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some(PRONOTE));
    // With a session, gateway gives a ticket.
    let fresh = cas.login_for(&b, PRONOTE);
    let res = b.get(&cas.login_url(PRONOTE, "&gateway=true"));
    assert_eq!(res.status, 302);
    let sso = ticket_of(res.location().unwrap(), PRONOTE);
    // A ticket from the session does not satisfy renew; one from the form does.
    assert_eq!(
        code(&cas.validate("serviceValidate", PRONOTE, &sso, "&renew=true")),
        "INVALID_TICKET"
    );
    assert!(cas
        .validate("serviceValidate", PRONOTE, &fresh, "&renew=true")
        .contains("authenticationSuccess"));
    // renew at login: the password is asked again even with a session.
    let res = b.get(&cas.login_url(PRONOTE, "&renew=true"));
    assert_eq!(res.status, 200);
    assert!(res.body.contains("name=\"password\""));
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &res.csrf()),
            ("login", LOGIN),
            ("password", PASSWORD),
            ("service", PRONOTE),
        ],
    );
    let st = ticket_of(res.location().unwrap(), PRONOTE);
    assert!(cas
        .validate("p3/serviceValidate", PRONOTE, &st, "&renew=true")
        .contains("authenticationSuccess"));
    // A wrong password keeps the service in the form.
    b.clear_cookies();
    let form = b.get(&cas.login_url(PRONOTE, ""));
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", LOGIN),
            ("password", "wrong-password"),
            ("service", PRONOTE),
        ],
    );
    assert_eq!(res.status, 200);
    assert!(res
        .body
        .contains(&format!("name=\"service\" value=\"{PRONOTE}\"")));
}

#[test]
fn the_language_switch_on_the_login_page_keeps_the_service_and_renew() {
    let cas = start();
    let b = cas.idp.browser();
    cas.login_for(&b, PRONOTE);
    // renew with a session: the form, whose switch link must keep service and renew,
    // else following it would hand out a ticket without the password.
    let form = b.get(&cas.login_url(PRONOTE, "&renew=true&method=POST"));
    assert_eq!(form.status, 200);
    let switch = form
        .body
        .split("class=\"lang-switch\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert_eq!(
        switch,
        format!(
            "/login?service={}&renew=true&method=POST&lang=en",
            encode(PRONOTE)
        )
    );
    let page = b.get(&switch);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("name=\"password\""));
    assert!(page
        .body
        .contains(&format!("name=\"service\" value=\"{PRONOTE}\"")));
    assert!(page.body.contains("name=\"renew\" value=\"true\""));
    assert!(page.body.contains("name=\"method\" value=\"POST\""));
}

#[test]
fn method_post_hands_the_ticket_over_in_a_form() {
    let cas = start();
    let b = cas.idp.browser();
    b.login_ok(LOGIN, PASSWORD);
    let res: Page = b.get(&cas.login_url(PRONOTE, "&method=POST"));
    assert_eq!(res.status, 200);
    assert!(res
        .body
        .contains(&format!("<form method=\"post\" action=\"{PRONOTE}\">")));
    let marker = "name=\"ticket\" value=\"";
    let start = res.body.find(marker).unwrap() + marker.len();
    let st = &res.body[start..start + res.body[start..].find('"').unwrap()];
    let csp = res.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("form-action"), "{csp}");
    assert!(cas
        .validate("serviceValidate", PRONOTE, st, "")
        .contains("authenticationSuccess"));
}

#[test]
fn proxy_callbacks_must_be_https_and_registered_and_answer_200() {
    let cas = start();
    let b = cas.idp.browser();
    b.login_ok(LOGIN, PASSWORD);
    let app = cas.app.clone();
    for (pgt_url, why) in [
        ("http://127.0.0.1:1/pgt", "not HTTPS"),
        ("https://evil.example/pgt", "not registered"),
        (&cas.pgt_url_404 as &str, "answers 404"),
    ] {
        let st = cas.sso_for(&b, &app);
        let body = cas.validate(
            "serviceValidate",
            &app,
            &st,
            &format!("&pgtUrl={}", encode(pgt_url)),
        );
        assert_eq!(code(&body), "INVALID_PROXY_CALLBACK", "{why}: {body}");
    }
    // Pronote has no proxy callback at all: it may not proxy.
    let st = cas.sso_for(&b, PRONOTE);
    let body = cas.validate(
        "serviceValidate",
        PRONOTE,
        &st,
        &format!("&pgtUrl={}", encode(&cas.pgt_url)),
    );
    assert_eq!(code(&body), "UNAUTHORIZED_SERVICE_PROXY");
    assert!(cas.callback_received.all().is_empty());
}

#[test]
fn a_proxy_ticket_flow_lists_the_proxy_chain() {
    let cas = start();
    let b = cas.idp.browser();
    b.login_ok(LOGIN, PASSWORD);
    let app = cas.app.clone();
    let st = cas.sso_for(&b, &app);
    let body = cas.validate(
        "p3/serviceValidate",
        &app,
        &st,
        &format!("&pgtUrl={}", encode(&cas.pgt_url)),
    );
    assert!(body.contains("authenticationSuccess"), "{body}");
    let marker = "<cas:proxyGrantingTicket>";
    let start = body.find(marker).unwrap() + marker.len();
    let iou = &body[start..start + body[start..].find('<').unwrap()];
    assert!(iou.starts_with("PGTIOU-"));
    // The callback got the PGT and the same IOU before the answer.
    let calls = cas.callback_received.all();
    assert_eq!(calls.len(), 1);
    let line = &calls[0].0;
    assert!(line.starts_with("GET /pgt?pgtId=PGT-"), "{line}");
    assert!(line.contains(&format!("&pgtIou={iou} ")), "{line}");
    let pgt = line
        .split("pgtId=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();

    // The proxy asks a PT for Pronote, which validates it at proxyValidate.
    let (_, body) = get(&cas.idp.at(&format!(
        "/proxy?pgt={pgt}&targetService={}",
        encode(PRONOTE)
    )));
    assert!(body.contains("<cas:proxySuccess>"), "{body}");
    let marker = "<cas:proxyTicket>";
    let start = body.find(marker).unwrap() + marker.len();
    let pt = body[start..start + body[start..].find('<').unwrap()].to_owned();
    assert!(pt.starts_with("PT-"));
    assert_eq!(
        code(&cas.validate("p3/serviceValidate", PRONOTE, &pt, "")),
        "INVALID_TICKET_SPEC"
    );
    let body = cas.validate("p3/proxyValidate", PRONOTE, &pt, "");
    assert!(
        body.contains(&format!("<cas:user>{LOGIN}</cas:user>")),
        "{body}"
    );
    assert!(body.contains(&format!(
        "<cas:proxies>\n      <cas:proxy>{}</cas:proxy>",
        cas.pgt_url
    )));
    assert!(body.contains("<cas:nom>DURAND</cas:nom>"));
    // JSON form of /proxy; an unknown target is refused.
    let (_, body) = get(&cas.idp.at(&format!(
        "/proxy?pgt={pgt}&targetService={}&format=JSON",
        encode(PRONOTE)
    )));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["serviceResponse"]["proxySuccess"]["proxyTicket"]
        .as_str()
        .unwrap()
        .starts_with("PT-"));
    let (_, body) = get(&cas.idp.at(&format!(
        "/proxy?pgt={pgt}&targetService={}",
        encode("https://evil.example/")
    )));
    assert_eq!(code(&body), "UNAUTHORIZED_SERVICE");
    assert!(cas.idp.events().iter().any(|e| matches!(
        e,
        AuditEvent::CasTicketIssued {
            ticket_kind: "PGT",
            ..
        }
    )));
    // The PGT ends with the SSO session.
    assert_eq!(b.get("/logout").status, 200);
    let (_, body) = get(&cas.idp.at(&format!(
        "/proxy?pgt={pgt}&targetService={}",
        encode(PRONOTE)
    )));
    assert_eq!(code(&body), "INVALID_TICKET", "{body}");
}

#[test]
fn logout_ends_the_session_notifies_services_and_redirects_only_to_registered_ones() {
    let cas = start();
    let b = cas.idp.browser();
    let app = cas.app.clone();
    let st_app = cas.login_for(&b, &app);
    assert!(cas
        .validate("serviceValidate", &app, &st_app, "")
        .contains("authenticationSuccess"));
    let _st_pronote = cas.sso_for(&b, PRONOTE);
    let res = b.get(&format!("/logout?service={}", encode(&app)));
    assert_eq!(res.status, 302);
    assert_eq!(res.location(), Some(app.as_str()));
    // The session is over: the next login asks for the password.
    assert_eq!(b.get(&cas.login_url(PRONOTE, "")).status, 200);
    let got = cas.app_received.wait(1);
    let (line, body) = got
        .iter()
        .find(|(l, _)| l.starts_with("POST /app/"))
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(line.starts_with("POST /app/ HTTP/1.1"), "{line}");
    assert!(body.starts_with("logoutRequest="), "{body}");
    let decoded = idp::protocols::cas::url::parse_params(body).unwrap();
    let request = &decoded[0].1;
    assert!(request.contains("<samlp:LogoutRequest"), "{request}");
    assert!(request.contains("<saml:NameID>@NOT_USED@</saml:NameID>"));
    assert!(request.contains(&format!(
        "<samlp:SessionIndex>{st_app}</samlp:SessionIndex>"
    )));
    // Pronote's host does not exist: that failure is logged and audited, not blocking.
    let events = cas.idp.events();
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::CasLogoutNotice { service, delivered: true, .. } if service == "testapp")));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::CasLogoutNotice { service, delivered: false, .. } if service == "pronote")));

    // An unregistered logout target: the logged-out page, no redirect.
    cas.login_for(&b, &app);
    let res = b.get("/logout?service=https%3A%2F%2Fevil.example%2F");
    assert_eq!(res.status, 200);
    assert_eq!(res.location(), None);
    assert!(!b.logged_in());
    // And the web form's logout notifies the services too.
    let before = cas.app_received.all().len();
    cas.login_for(&b, &app);
    let home = b.get("/");
    let res = b.post_form("/logout", &[("csrf", &home.csrf())]);
    assert_eq!(res.status, 200);
    assert_eq!(cas.app_received.wait(before + 1).len(), before + 1);
}

#[test]
fn saml11_validation_answers_with_the_attributes() {
    let cas = start();
    let b = cas.idp.browser();
    let st = cas.login_for(&b, PRONOTE);
    let soap = |artifact: &str| {
        format!(
            r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header/><SOAP-ENV:Body><samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" MinorVersion="1" RequestID="_1" IssueInstant="2026-11-27T03:00:00Z"><samlp:AssertionArtifact>{artifact}</samlp:AssertionArtifact></samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"#
        )
    };
    let path = format!("/samlValidate?TARGET={}", encode(PRONOTE));
    let res = b.post_raw(&path, "text/xml", &soap(&st));
    assert_eq!(res.status, 200);
    assert!(
        res.body
            .contains("<samlp:StatusCode Value=\"samlp:Success\"/>"),
        "{}",
        res.body
    );
    assert!(res.body.contains(&format!(
        "<saml:NameIdentifier>{LOGIN}</saml:NameIdentifier>"
    )));
    assert!(res.body.contains("AttributeName=\"dateNaissance\""));
    assert!(res
        .body
        .contains("<saml:AttributeValue>03/04/2010</saml:AttributeValue>"));
    assert!(res
        .body
        .contains(&format!("<saml:Audience>{PRONOTE}</saml:Audience>")));
    // Single use, and a DTD is refused.
    let res = b.post_raw(&path, "text/xml", &soap(&st));
    assert!(res.body.contains("samlp:Requester") && res.body.contains("INVALID_TICKET"));
    let res = b.post_raw(
        &path,
        "text/xml",
        r#"<!DOCTYPE a [<!ENTITY e "x">]><a><AssertionArtifact>&e;</AssertionArtifact></a>"#,
    );
    assert!(res.body.contains("INVALID_REQUEST"), "{}", res.body);
}

#[test]
fn the_endpoints_can_live_under_a_prefix() {
    let cas = start_with(|s| s.cas.prefix = "/cas".into());
    let b = cas.idp.browser();
    let form = b.get(&format!("/cas/login?service={}", encode(PRONOTE)));
    assert_eq!(form.status, 200);
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", LOGIN),
            ("password", PASSWORD),
            ("service", PRONOTE),
        ],
    );
    let st = ticket_of(res.location().unwrap(), PRONOTE);
    let body = cas.validate("cas/p3/serviceValidate", PRONOTE, &st, "");
    assert!(body.contains("<cas:nom>DURAND</cas:nom>"), "{body}");
    let res = b.get(&format!("/cas/login?service={}", encode(PRONOTE)));
    assert_eq!(res.status, 302);
    let res = b.get("/cas/logout");
    assert_eq!(res.status, 200);
    assert!(!b.logged_in());
    assert_eq!(
        get(&cas.idp.at("/cas/validate?service=x&ticket=ST-1")).1,
        "no\n\n"
    );
}

#[test]
fn a_first_login_with_an_activation_code_continues_to_the_service() {
    let cas = start();
    let b = cas.idp.browser();
    let form = b.get(&cas.login_url(PRONOTE, ""));
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", "hugo.martin"),
            ("password", idp_tests::ACTIVATION_CODE),
            ("service", PRONOTE),
        ],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/activate"));
    let form = b.get("/activate");
    let res = b.post_form(
        "/activate",
        &[
            ("csrf", &form.csrf()),
            ("new_password", "Velo-Rouge-Lune-9"),
            ("confirm", "Velo-Rouge-Lune-9"),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let st = ticket_of(res.location().unwrap(), PRONOTE);
    let body = cas.validate("p3/serviceValidate", PRONOTE, &st, "&renew=true");
    assert!(body.contains("<cas:user>hugo.martin</cas:user>"), "{body}");
    assert!(b.cookie("idp_cas_service").is_none_or(|v| v.is_empty()));
}
