//! SAML single logout where the SPs must misbehave on demand: scripted SPs
//! (`idp_tests::fake_sp`) registered in a signed test registry. The SOAP back channel
//! (only a signed `Success` counts, silent SPs do not hold the others up), the Status of
//! front-channel LogoutResponses, LogoutRequests refused with a status sent back to the SP,
//! propagation from CAS `GET /logout`, and an initiator that only registered an HTTP-POST
//! SingleLogoutService.

use std::io::Read as _;
use std::time::{Duration, Instant};

use federation_metadata::model::{Binding, NameIdFormat};
use idp::audit::AuditEvent;
use idp::protocols::cas::url::encode;
use idp::protocols::saml::logout::{redirect_request_url, redirect_url};
use idp_tests::fake_sp::{logout_response, root_id, Endpoints, FakeSp, SoapBehaviour};
use idp_tests::saml_sp::{self, SamlRegistry, SamlService};
use idp_tests::{Browser, Page, TestIdp, LEA_PASSWORD};
use time::OffsetDateTime;

const RELEASES: &str = r#"[[releases]]
name = "uid"
source = "login"
name_format = "basic"
purpose = "Identifiant de connexion."
"#;

const SOAP_ONLY: Endpoints = Endpoints {
    soap: true,
    redirect: false,
    post: false,
};
const REDIRECT_ONLY: Endpoints = Endpoints {
    soap: false,
    redirect: true,
    post: false,
};

/// The IdP's SLO endpoint as it names itself (its default `public_url`).
const IDP_SLO: &str = "http://localhost:8080/saml/slo";

struct World {
    idp: TestIdp,
    _registry: SamlRegistry,
    browser: Browser,
}

/// An IdP whose registry holds `sps` (every SingleLogoutService of their metadata).
fn world(sps: &[&FakeSp]) -> World {
    let registry = SamlRegistry::new();
    let services: Vec<SamlService> = sps
        .iter()
        .enumerate()
        .map(|(i, sp)| SamlService {
            id: format!("fake{i}"),
            metadata: sp.metadata(),
            releases: RELEASES.into(),
            name_id_format: NameIdFormat::Transient,
            slo_bindings: vec![Binding::Soap, Binding::HttpRedirect, Binding::HttpPost],
        })
        .collect();
    registry.publish(&services);
    let domain = registry.settings();
    let idp = TestIdp::start_with(|s| s.federation.domains = vec![domain]);
    World {
        idp,
        _registry: registry,
        browser: Browser::new(""),
    }
}

fn now() -> String {
    instant(OffsetDateTime::now_utc())
}

fn instant(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn deflate_b64(xml: &str) -> String {
    use std::io::Write as _;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    openssl::base64::encode_block(&enc.finish().unwrap())
}

/// The XML of HTTP-Redirect parameter `param` of `url`.
fn redirect_xml(url: &str, param: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    let raw = q
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{param}=")))
        .unwrap_or_else(|| panic!("no {param} in {url}"));
    let b64 = idp::protocols::saml::bindings::percent_decode(raw).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&openssl::base64::decode_block(&b64).unwrap()[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// What Léa's login at `sp` gave it: (NameID, SessionIndex, AuthnRequest ID).
struct Login {
    name_id: String,
    session_index: String,
    request_id: String,
}

/// Léa logs in at `sp` with an (unsigned) AuthnRequest; `password`: whether she is asked.
fn login_at(w: &World, sp: &FakeSp, password: bool) -> Login {
    let request_id = format!("_authn{}", sp.port);
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{request_id}\" Version=\"2.0\" IssueInstant=\"{}\" AssertionConsumerServiceURL=\"{}/acs\"><saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>",
        now(),
        sp.origin(),
        sp.entity_id()
    );
    let url = format!(
        "{}/saml/sso?SAMLRequest={}",
        w.idp.url,
        encode(&deflate_b64(&xml))
    );
    let walk = saml_sp::saml_login(&w.browser, &url, &w.idp.url, ("lea.dupont", LEA_PASSWORD));
    assert_eq!(walk.password_asked, password, "{}", walk.trace());
    let form = walk.response_form.as_ref().expect("a SAML response form");
    assert_eq!(
        form.action,
        format!("{}/acs", sp.origin()),
        "{}",
        walk.trace()
    );
    let response = String::from_utf8(
        openssl::base64::decode_block(form.field("SAMLResponse").unwrap()).unwrap(),
    )
    .unwrap();
    let between = |after: &str, until: char| {
        let start = response.find(after).unwrap() + after.len();
        let end = response[start..].find(until).unwrap() + start;
        response[start..end].to_owned()
    };
    let name_id = between("<saml:NameID", '<');
    Login {
        name_id: name_id.split_once('>').unwrap().1.to_owned(),
        session_index: between("SessionIndex=\"", '"'),
        request_id,
    }
}

/// Logs out on the IdP's own page (English), returning the page and how long it took.
fn idp_logout(w: &World) -> (Page, Duration) {
    let home = w.browser.get_url(&format!("{}/?lang=en", w.idp.url));
    let started = Instant::now();
    let out = w
        .browser
        .post_form(&format!("{}/logout", w.idp.url), &[("csrf", &home.csrf())]);
    (out, started.elapsed())
}

fn outcomes(w: &World, sp: &str) -> Vec<String> {
    w.idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SamlLogout { sp: s, outcome, .. } if s == sp => Some(outcome),
            _ => None,
        })
        .collect()
}

fn refusals(w: &World) -> Vec<(String, String)> {
    w.idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SamlRequestRefused {
                outcome, reason, ..
            } => Some((outcome, reason)),
            _ => None,
        })
        .collect()
}

fn frames_of(body: &str) -> Vec<String> {
    body.match_indices("<iframe class=\"slo\" src=\"")
        .map(|(i, m)| {
            let start = i + m.len();
            let end = body[start..].find('"').unwrap() + start;
            body[start..end].to_owned()
        })
        .collect()
}

fn logged_in(w: &World) -> bool {
    w.browser
        .get_url(&format!("{}/", w.idp.url))
        .body
        .contains("action=\"/logout\"")
}

/// The IdP's signing certificate, from its metadata.
fn idp_cert(w: &World) -> openssl::x509::X509 {
    let md = saml_sp::fetch_idp_metadata(&w.browser, &w.idp.url);
    let start = md.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = md[start..].find('<').unwrap() + start;
    let b64: String = md[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    openssl::x509::X509::from_der(&openssl::base64::decode_block(&b64).unwrap()).unwrap()
}

/// IdP-initiated logout with seven SPs that registered only a SOAP SingleLogoutService: the
/// IdP posts each a LogoutRequest (SOAP 1.1 envelope, `text/xml`, SOAPAction, signed
/// enveloped with the IdP's key, NameID with its qualifiers and SessionIndex of that SP's
/// login), all at once: three SPs that never answer cost one timeout, not three. Only the
/// signed `Success` counts as logged out; a `Requester` status, an unsigned answer and an
/// answer signed by another key are failures; the silent ones are "not reachable". Each is
/// on the page and in the audit trail, and the IdP session is over.
#[test]
fn soap_back_channel_counts_only_a_signed_success_and_waits_for_no_one() {
    let sps = [
        FakeSp::start("ok", SoapBehaviour::Success, SOAP_ONLY),
        FakeSp::start("requester", SoapBehaviour::Requester, SOAP_ONLY),
        FakeSp::start("unsigned", SoapBehaviour::Unsigned, SOAP_ONLY),
        FakeSp::start("wrongkey", SoapBehaviour::WrongKey, SOAP_ONLY),
        FakeSp::start("silent1", SoapBehaviour::Silent, SOAP_ONLY),
        FakeSp::start("silent2", SoapBehaviour::Silent, SOAP_ONLY),
        FakeSp::start("silent3", SoapBehaviour::Silent, SOAP_ONLY),
    ];
    let w = world(&sps.iter().collect::<Vec<_>>());
    let logins: Vec<Login> = sps
        .iter()
        .enumerate()
        .map(|(i, sp)| login_at(&w, sp, i == 0))
        .collect();
    let (out, took) = idp_logout(&w);
    assert_eq!(out.status, 200, "{}", out.body);
    let timeout = idp::protocols::saml::SOAP_TIMEOUT;
    // Three silent SPs one after the other would take three timeouts.
    assert!(
        took >= timeout - Duration::from_millis(500)
            && took < timeout * 2 + Duration::from_millis(1500),
        "the logout took {took:?}"
    );
    assert!(frames_of(&out.body).is_empty(), "{}", out.body);
    let expect = [
        ("logged out", "LoggedOut"),
        ("logout failed", "LogoutFailed: Requester"),
        (
            "logout failed",
            "LogoutFailed: a LogoutResponse must be signed",
        ),
        (
            "logout failed",
            "LogoutFailed: the request signature is refused",
        ),
        ("not reachable", "Unreachable"),
        ("not reachable", "Unreachable"),
        ("not reachable", "Unreachable"),
    ];
    for (sp, (shown, audited)) in sps.iter().zip(expect) {
        let entity = sp.entity_id();
        assert!(
            out.body.contains(&format!("{entity} — {shown}<")),
            "{entity}: {}",
            out.body
        );
        let got = outcomes(&w, &entity);
        assert_eq!(got.len(), 1, "{entity}: {got:?}");
        assert!(got[0].starts_with(audited), "{entity}: {got:?}");
    }
    assert!(!logged_in(&w));

    // What the first SP received.
    let got = sps[0].soap_requests();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/xml")),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.header("soapaction").map(|v| v.trim_matches('"')),
        Some("http://www.oasis-open.org/committees/security")
    );
    assert!(r.body.contains("<soap11:Envelope") && r.body.contains("<soap11:Body>"));
    let start = r.body.find("<samlp:LogoutRequest").unwrap();
    let end = r.body.find("</samlp:LogoutRequest>").unwrap() + "</samlp:LogoutRequest>".len();
    let request = &r.body[start..end];
    federation_metadata::xmlsig::verify_enveloped(request, &idp_cert(&w))
        .unwrap_or_else(|e| panic!("the LogoutRequest signature: {e}\n{request}"));
    let sp = sps[0].entity_id();
    assert!(
        request.contains(&format!(
            "NameQualifier=\"http://localhost:8080/saml/metadata\" SPNameQualifier=\"{sp}\">{}</saml:NameID>",
            logins[0].name_id
        )),
        "{request}"
    );
    assert!(
        request.contains(&format!(
            "<samlp:SessionIndex>{}</samlp:SessionIndex>",
            logins[0].session_index
        )),
        "{request}"
    );
    assert!(
        request.contains(&format!("Destination=\"{}/soap\"", sps[0].origin())),
        "{request}"
    );
}

/// Front channel: an SP's LogoutResponse is read for its Status. A `Requester` answer is
/// shown as a failure (in its frame and on the page's status page) and audited; a replayed or unknown LogoutResponse gets
/// the error page (400), never a 500.
#[test]
fn front_channel_logout_response_status_is_read() {
    let sp = FakeSp::start("front", SoapBehaviour::Success, REDIRECT_ONLY);
    let w = world(&[&sp]);
    login_at(&w, &sp, true);
    let (out, _) = idp_logout(&w);
    let frames = frames_of(&out.body);
    assert_eq!(frames.len(), 1, "{}", out.body);
    assert!(frames[0].starts_with(&format!("{}/slo?SAMLRequest=", sp.origin())));
    let id = root_id(&redirect_xml(&frames[0], "SAMLRequest"), "LogoutRequest");

    let xml = logout_response(&sp.entity_id(), &id, "Requester", None);
    let url = redirect_url(&format!("{}/saml/slo", w.idp.url), &xml, None, &sp.key).unwrap();
    let res = w.browser.get_url(&url);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.body.contains("Logout failed"), "{}", res.body);
    assert_eq!(
        outcomes(&w, &sp.entity_id()),
        ["LogoutRequestSent", "LogoutFailed: Requester"]
    );
    // The page's status page shows it.
    let next = saml_sp::meta_refresh(&out.body).expect("the status page");
    let status = w.browser.get_url(&format!("{}{next}", w.idp.url));
    assert!(
        status
            .body
            .contains(&format!("{} — logout failed<", sp.entity_id())),
        "{}",
        status.body
    );
    let again = w.browser.get_url(&url);
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        refusals(&w)
            .iter()
            .any(|(o, why)| o == "error_page" && why == "unknown InResponseTo"),
        "{:?}",
        refusals(&w)
    );
    let xml = logout_response(&sp.entity_id(), "_never-sent", "Success", None);
    let url = redirect_url(&format!("{}/saml/slo", w.idp.url), &xml, None, &sp.key).unwrap();
    assert_eq!(w.browser.get_url(&url).status, 400);
}

/// A LogoutRequest from `sp` (signed with its key, HTTP-Redirect) to the IdP.
fn logout_request_url(
    w: &World,
    sp: &FakeSp,
    what: (&str, &str, OffsetDateTime),
    who: (&str, &str),
) -> String {
    logout_request_signed(w, (&sp.entity_id(), &sp.key), what, who)
}

/// The same from `issuer`, signed with `key`.
fn logout_request_signed(
    w: &World,
    (issuer, key): (&str, &openssl::pkey::PKey<openssl::pkey::Private>),
    (id, destination, at): (&str, &str, OffsetDateTime),
    (name_id, session_index): (&str, &str),
) -> String {
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{destination}\"><saml:Issuer>{}</saml:Issuer><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\">{name_id}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>",
        instant(at),
        issuer
    );
    redirect_request_url(&format!("{}/saml/slo", w.idp.url), &xml, key).unwrap()
}

/// The IdP's answer to a LogoutRequest: a redirect to the SP's SLO endpoint with a
/// LogoutResponse; returns its XML.
fn answered(res: &Page, sp: &FakeSp) -> String {
    assert_eq!(res.status, 302, "{}", res.body);
    let loc = res.location().unwrap();
    assert!(
        loc.starts_with(&format!("{}/slo?SAMLResponse=", sp.origin())),
        "{loc}"
    );
    redirect_xml(loc, "SAMLResponse")
}

/// Once the SP and its signature are known, what is wrong with its LogoutRequest is told
/// to it with a LogoutResponse (not an error page) and audited: a foreign Destination and
/// a stale IssueInstant get `Requester` (`RequestDenied`), a NameID of no session entry
/// `Requester`/`UnknownPrincipal`, and the session lives on. LogoutRequest IDs are not
/// AuthnRequest IDs: reusing the login's AuthnRequest ID still logs out, and only a second
/// use of the same LogoutRequest ID is a replay.
#[test]
fn refused_logout_requests_are_answered_to_the_sp() {
    let sp = FakeSp::start("strict", SoapBehaviour::Success, REDIRECT_ONLY);
    let w = world(&[&sp]);
    let login = login_at(&w, &sp, true);
    let who = (login.name_id.as_str(), login.session_index.as_str());
    let now = OffsetDateTime::now_utc();
    let status = |xml: &str| {
        let start = xml.find("<samlp:Status>").unwrap();
        xml[start..].to_owned()
    };

    let url = logout_request_url(&w, &sp, ("_lr-dest", "http://elsewhere/saml/slo", now), who);
    let xml = answered(&w.browser.get_url(&url), &sp);
    assert!(
        status(&xml).starts_with("<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Requester\"/>"),
        "{xml}"
    );
    assert!(xml.contains("InResponseTo=\"_lr-dest\""), "{xml}");
    let old = now - time::Duration::hours(2);
    let url = logout_request_url(&w, &sp, ("_lr-old", IDP_SLO, old), who);
    let xml = answered(&w.browser.get_url(&url), &sp);
    assert!(status(&xml).contains("status:Requester\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:RequestDenied\""), "{xml}");
    let url = logout_request_url(&w, &sp, ("_lr-who", IDP_SLO, now), ("_someone-else", who.1));
    let xml = answered(&w.browser.get_url(&url), &sp);
    assert!(status(&xml).contains("status:Requester\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal\""), "{xml}");
    assert!(logged_in(&w));
    let r = refusals(&w);
    assert!(
        r.iter()
            .any(|(o, why)| o == "Requester" && why.contains("Destination")),
        "{r:?}"
    );
    assert!(
        r.iter()
            .any(|(o, why)| o == "RequestDenied" && why.contains("IssueInstant")),
        "{r:?}"
    );

    // Signed by another key: nothing trusted to answer to, the error page.
    let stranger = FakeSp::start("stranger", SoapBehaviour::Success, REDIRECT_ONLY);
    let forged = logout_request_signed(
        &w,
        (&sp.entity_id(), &stranger.key),
        ("_lr-forged", IDP_SLO, now),
        who,
    );
    let res = w.browser.get_url(&forged);
    assert!(
        res.status == 400 || res.status == 403,
        "{} {}",
        res.status,
        res.body
    );
    assert!(res.location().is_none());
    assert!(logged_in(&w));

    // The AuthnRequest's ID as a LogoutRequest ID: not a replay.
    let url = logout_request_url(&w, &sp, (&login.request_id, IDP_SLO, now), who);
    let xml = answered(&w.browser.get_url(&url), &sp);
    assert!(
        status(&xml).starts_with("<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>"),
        "{xml}"
    );
    assert!(!logged_in(&w));
    let xml = answered(&w.browser.get_url(&url), &sp);
    assert!(status(&xml).contains("RequestDenied"), "{xml}");
    assert!(refusals(&w).iter().any(|(_, why)| why.contains("replay")));
}

/// CAS `GET /logout` tells the session's SAML SPs too: by SOAP before the page, by a frame
/// of the page otherwise; the page lists both.
#[test]
fn cas_logout_propagates_to_the_saml_sps() {
    let soap = FakeSp::start("soap", SoapBehaviour::Success, SOAP_ONLY);
    let front = FakeSp::start("front", SoapBehaviour::Success, REDIRECT_ONLY);
    let w = world(&[&soap, &front]);
    login_at(&w, &soap, true);
    login_at(&w, &front, false);
    let out = w.browser.get_url(&format!("{}/logout?lang=en", w.idp.url));
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(
        out.body
            .contains(&format!("{} — logged out<", soap.entity_id())),
        "{}",
        out.body
    );
    assert!(
        out.body
            .contains(&format!("{} — logout requested<", front.entity_id())),
        "{}",
        out.body
    );
    let frames = frames_of(&out.body);
    assert_eq!(frames.len(), 1, "{}", out.body);
    assert!(frames[0].starts_with(&format!("{}/slo?SAMLRequest=", front.origin())));
    assert_eq!(soap.soap_requests().len(), 1);
    assert_eq!(outcomes(&w, &soap.entity_id()), ["LoggedOut"]);
    assert!(!logged_in(&w));
}

/// An initiator that registered only an HTTP-POST SingleLogoutService: the other SP is
/// still told (a frame of the logged-out page; it never answers here, which the status page
/// says), then the pages move on to the IdP's own `/saml/slo/answer`, which posts the
/// initiator its signed LogoutResponse (`Success`) once; a second visit gets the error
/// page.
#[test]
fn post_only_initiator_gets_its_answer_after_propagation() {
    let initiator = FakeSp::start(
        "postonly",
        SoapBehaviour::Success,
        Endpoints {
            soap: false,
            redirect: false,
            post: true,
        },
    );
    let other = FakeSp::start("other", SoapBehaviour::Success, REDIRECT_ONLY);
    let w = world(&[&initiator, &other]);
    let login = login_at(&w, &initiator, true);
    login_at(&w, &other, false);
    let url = logout_request_url(
        &w,
        &initiator,
        ("_lr-post", IDP_SLO, OffsetDateTime::now_utc()),
        (&login.name_id, &login.session_index),
    );
    let page = w.browser.get_url(&url);
    assert_eq!(page.status, 200, "{}", page.body);
    let frames = frames_of(&page.body);
    assert_eq!(frames.len(), 1, "{}", page.body);
    assert!(frames[0].starts_with(&format!("{}/slo?SAMLRequest=", other.origin())));
    let status_url = saml_sp::meta_refresh(&page.body).expect("a way on");
    assert!(
        status_url.starts_with("/saml/slo/status?ref="),
        "{status_url}"
    );
    // The other SP never answers: the status page looks again a few times, then moves on.
    let mut status = w.browser.get_url(&format!("{}{status_url}", w.idp.url));
    for _ in 0..3 {
        assert_eq!(
            saml_sp::meta_refresh(&status.body).as_deref(),
            Some(status_url.as_str())
        );
        status = w.browser.get_url(&format!("{}{status_url}", w.idp.url));
    }
    assert!(
        status
            .body
            .contains(&format!("{} — pas de réponse<", other.entity_id()))
            || status
                .body
                .contains(&format!("{} — no answer<", other.entity_id())),
        "{}",
        status.body
    );
    let next = saml_sp::meta_refresh(&status.body).expect("a way on");
    assert!(next.starts_with("/saml/slo/answer?ref="), "{next}");
    let answer = w.browser.get_url(&format!("{}{next}", w.idp.url));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let form = saml_sp::Form::all(&answer.body)
        .into_iter()
        .find(|f| f.field("SAMLResponse").is_some())
        .expect("the LogoutResponse form");
    assert_eq!(form.action, format!("{}/slo-post", initiator.origin()));
    let xml = String::from_utf8(
        openssl::base64::decode_block(form.field("SAMLResponse").unwrap()).unwrap(),
    )
    .unwrap();
    assert!(xml.contains("InResponseTo=\"_lr-post\""), "{xml}");
    // The other SP never answered its frame: the IdP cannot confirm it, so PartialLogout.
    assert!(
        xml.contains("status:Success\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:PartialLogout\"/>"),
        "{xml}"
    );
    federation_metadata::xmlsig::verify_enveloped(&xml, &idp_cert(&w)).unwrap();
    let again = w.browser.get_url(&format!("{}{next}", w.idp.url));
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(!logged_in(&w));
}

const POST_ONLY: Endpoints = Endpoints {
    soap: false,
    redirect: false,
    post: true,
};

/// An SP whose only SingleLogoutService is HTTP-POST is told too: the logged-out page's
/// frame loads our `/saml/slo/frame` page, which posts the signed (enveloped) LogoutRequest
/// to the SP (its form action and the frame's navigation allowed by exactly that origin),
/// once; the SP's answer is read like any other.
#[test]
fn post_only_sps_are_told_through_a_framed_form() {
    let sp = FakeSp::start("postonly", SoapBehaviour::Success, POST_ONLY);
    let w = world(&[&sp]);
    let login = login_at(&w, &sp, true);
    let (out, _) = idp_logout(&w);
    assert_eq!(out.status, 200, "{}", out.body);
    let frames = frames_of(&out.body);
    assert_eq!(frames.len(), 1, "{}", out.body);
    assert!(
        frames[0].starts_with("/saml/slo/frame?ref="),
        "{}",
        frames[0]
    );
    let csp = out.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("frame-src {} 'self'", sp.origin())),
        "{csp}"
    );
    assert_eq!(outcomes(&w, &sp.entity_id()), ["LogoutRequestSent"]);

    let frame = w.browser.get_url(&format!("{}{}", w.idp.url, frames[0]));
    assert_eq!(frame.status, 200, "{}", frame.body);
    let csp = frame.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(!csp.contains("form-action"), "{csp}");
    assert_eq!(frame.header("x-frame-options"), Some("SAMEORIGIN"));
    let form = saml_sp::Form::all(&frame.body)
        .into_iter()
        .find(|f| f.field("SAMLRequest").is_some())
        .expect("the LogoutRequest form");
    assert_eq!(form.action, format!("{}/slo-post", sp.origin()));
    let xml = String::from_utf8(
        openssl::base64::decode_block(form.field("SAMLRequest").unwrap()).unwrap(),
    )
    .unwrap();
    federation_metadata::xmlsig::verify_enveloped(&xml, &idp_cert(&w)).unwrap();
    assert!(
        xml.contains(&format!("Destination=\"{}/slo-post\"", sp.origin())),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(">{}</saml:NameID>", login.name_id)),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<samlp:SessionIndex>{}</samlp:SessionIndex>",
            login.session_index
        )),
        "{xml}"
    );
    // One frame, one request.
    let again = w.browser.get_url(&format!("{}{}", w.idp.url, frames[0]));
    assert_eq!(again.status, 400, "{}", again.body);

    // The SP answers (here over HTTP-Redirect): logged out.
    let id = root_id(&xml, "LogoutRequest");
    let answer = logout_response(&sp.entity_id(), &id, "Success", None);
    let url = redirect_url(&format!("{}/saml/slo", w.idp.url), &answer, None, &sp.key).unwrap();
    let res = w.browser.get_url(&url);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        outcomes(&w, &sp.entity_id()),
        ["LogoutRequestSent", "LoggedOut"]
    );
    let next = saml_sp::meta_refresh(&out.body).expect("the status page");
    let status = w.browser.get_url(&format!("{}{next}", w.idp.url));
    assert!(
        status
            .body
            .contains(&format!("{} — logged out<", sp.entity_id())),
        "{}",
        status.body
    );
}
