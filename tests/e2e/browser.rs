//! The SAML browser flows in a real browser: headless Chromium driven over WebDriver
//! (`idp_tests::chromium`), against the real Shibboleth SP 3 and mod_auth_mellon of
//! `saml_sps`. What the scripted [`idp_tests::Browser`] cannot show: the IdP's
//! auto-submitting SAMLResponse form really submits itself under its CSP (script hash), its
//! button works without JavaScript, and the logged-out page's hidden frames really carry
//! the LogoutRequests to the SPs and their answers back under the page's `frame-src`.
//!
//! Same-site (everything at `127.0.0.1`) and cross-site as in production (the IdP named
//! `localhost`): then SameSite rules apply, and the SPs' session cookies (Lax by default)
//! do not come with the cross-site logout frames; both SPs find the session by NameID.

use federation_metadata::model::Binding;
use idp::audit::AuditEvent;
use idp_tests::chromium::{Chromium, ChromiumOptions};
use idp_tests::mellon::MellonSp;
use idp_tests::saml_sp::{self, IdpFront, SamlRegistry};
use idp_tests::shibsp::ShibbolethSp;
use idp_tests::two_sps;
use idp_tests::{Browser, TestIdp, LEA_PASSWORD};

/// The IdP behind its front, both SPs registered with their front-channel
/// SingleLogoutServices, and a headless Chromium.
struct World {
    idp: TestIdp,
    /// The IdP's public origin (`server.public_url`), as the browser and the SPs see it.
    idp_origin: String,
    _front: IdpFront,
    _registry: SamlRegistry,
    shib: ShibbolethSp,
    mellon: MellonSp,
    chrome: Chromium,
}

impl World {
    /// Everything on 127.0.0.1, the IdP named `idp_host` in its public URL (`127.0.0.1`:
    /// all same-site for the browser; `localhost`: the IdP on another site than the SPs).
    fn new(idp_host: &str, javascript: bool) -> Self {
        Self::with_slo(
            idp_host,
            javascript,
            &[Binding::HttpRedirect, Binding::HttpPost],
        )
    }

    /// The same with the SPs' SingleLogoutServices of `slo` bindings only in the registry.
    fn with_slo(idp_host: &str, javascript: bool, slo: &[Binding]) -> Self {
        let registry = SamlRegistry::new();
        registry.publish(&[]);
        let mut front = IdpFront::new();
        let idp_origin = format!("http://{idp_host}:{}", front.port);
        let (public_url, domain) = (idp_origin.clone(), registry.settings());
        let idp = TestIdp::start_with(|s| {
            s.server.public_url = public_url;
            s.federation.domains = vec![domain];
        });
        front.start(&idp.url);
        let http = Browser::new("");
        // Fetched at 127.0.0.1 whatever the name; it describes the public URL.
        let idp_metadata = saml_sp::fetch_idp_metadata(&http, &front.url());
        let shib = ShibbolethSp::start(&idp_metadata);
        // As in production (HTTPS): mellon's cookies are `SameSite=None`, which Chromium
        // keeps only when `Secure` (allowed on the loopback over plain HTTP).
        let mellon = MellonSp::start_with(&idp_metadata, "MellonSecureCookie On");
        registry.publish(&two_sps::services(
            &shib.fetch_metadata(&http),
            &mellon.fetch_metadata(&http),
            slo,
        ));
        // Shibboleth publishes every binding; mellon may lack some.
        two_sps::wait_registered(&http, &idp, &[shib.entity_id()], |body| {
            body.contains("SingleLogoutService")
        });
        two_sps::wait_registered(&http, &idp, &[mellon.entity_id()], |_| true);
        let chrome = Chromium::start(&ChromiumOptions {
            javascript,
            host_resolver_rules: (idp_host != "127.0.0.1")
                .then(|| format!("MAP {idp_host} 127.0.0.1")),
        });
        Self {
            idp,
            idp_origin,
            _front: front,
            _registry: registry,
            shib,
            mellon,
            chrome,
        }
    }

    /// Everything the programs logged, for assertion messages.
    fn logs(&self) -> String {
        format!(
            "--- browser at {}\n{}\n--- console\n{:#?}\n{}",
            self.chrome.url(),
            self.chrome.source(),
            self.chrome.console(),
            self.sp_logs()
        )
    }

    fn sp_logs(&self) -> String {
        format!(
            "--- shibboleth\n{}\n--- mellon\n{}",
            self.shib.logs(),
            self.mellon.logs()
        )
    }

    /// Waits for `cond` (see [`Chromium::wait`]); the failure shows the SPs' logs.
    fn wait(&self, what: &str, cond: impl FnMut() -> bool) {
        self.chrome.wait_or(what, cond, || self.sp_logs());
    }

    /// Waits until the browser's address starts with `prefix`.
    fn wait_url(&self, prefix: &str) {
        self.wait(&format!("an address starting with {prefix}"), || {
            self.chrome.url().starts_with(prefix)
        });
    }

    /// The `saml_logout` audit outcomes recorded for `sp`, in order.
    fn logout_outcomes(&self, sp: &str) -> Vec<String> {
        self.idp
            .events()
            .into_iter()
            .filter_map(|e| match e {
                AuditEvent::SamlLogout { sp: s, outcome, .. } if s == sp => Some(outcome),
                _ => None,
            })
            .collect()
    }

    /// How many password logins the IdP accepted.
    fn logins(&self) -> usize {
        self.idp
            .events()
            .iter()
            .filter(|e| matches!(e, AuditEvent::AuthnSuccess { .. }))
            .count()
    }
}

/// `NAME=value` lines of the SP's protected page, as the browser shows it.
fn app_vars(w: &World) -> Vec<(String, String)> {
    saml_sp::env_lines(&w.chrome.text())
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The session reference of the one assertion the IdP issued to `service`, and the names
/// of the attributes it carried.
fn assertion_issued(w: &World, service: &str) -> (String, String, Vec<String>) {
    let found: Vec<_> = w
        .idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SamlAssertionIssued {
                service: s,
                name_id,
                mut attributes,
                session_ref,
                ..
            } if s == service => {
                attributes.sort();
                Some((session_ref, name_id, attributes))
            }
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "assertions issued to {service}: {found:?}");
    found.into_iter().next().unwrap()
}

/// On the IdP's login page (reached from an SP), Léa types her login and password and
/// clicks the button.
fn fill_login(w: &World) {
    let chrome = &w.chrome;
    w.wait_url(&format!("{}/", w.idp_origin));
    let login = chrome.wait_element("form[action='/login'] input[name='login']");
    chrome.send_keys(&login, "lea.dupont");
    let password = chrome.wait_element("form[action='/login'] input[name='password']");
    chrome.send_keys(&password, LEA_PASSWORD);
    let submit = chrome.wait_element("form[action='/login'] button[type='submit']");
    chrome.click(&submit);
}

/// Without JavaScript the IdP's SAMLResponse page stays on the IdP, showing its form to
/// `acs` with a visible continue button; clicking it posts the response.
fn click_continue(w: &World, acs: &str) {
    let chrome = &w.chrome;
    let button = chrome.wait_element(&format!("form[action='{acs}'] button[type='submit']"));
    assert!(
        chrome.url().starts_with(&w.idp_origin),
        "the response form was not shown on the IdP:\n{}",
        w.logs()
    );
    assert!(
        chrome.find("input[name='SAMLResponse']").is_some(),
        "{}",
        w.logs()
    );
    assert_eq!(
        chrome.element_text(&button),
        "Continuer / Continue",
        "{}",
        w.logs()
    );
    chrome.click(&button);
}

/// Léa opens the Shibboleth SP's protected page; the IdP asks for her password when
/// `password`, else her IdP session is enough; with JavaScript the browser posts the
/// response by itself, without it she clicks the continue button. She lands on the
/// protected page with exactly the attributes released to that SP. Returns the IdP
/// session reference of the assertion.
fn shibboleth_login(w: &World, password: bool, javascript: bool) -> String {
    let chrome = &w.chrome;
    let logins = w.logins();
    chrome.goto(&w.shib.app_url());
    if password {
        fill_login(w);
    }
    if !javascript {
        click_continue(w, &format!("{}/Shibboleth.sso/SAML2/POST", w.shib.origin()));
    }
    w.wait_url(&w.shib.app_url());
    chrome.wait_element("pre");
    let vars = app_vars(w);
    let mut names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    names.retain(|n| !n.starts_with("Shib_"));
    names.sort();
    assert_eq!(
        names,
        ["GARPersonIdentifiant", "REMOTE_USER", "uid"],
        "{}",
        w.logs()
    );
    assert_eq!(var(&vars, "REMOTE_USER"), Some("lea.dupont"));
    assert_eq!(var(&vars, "uid"), Some("lea.dupont"));
    assert_eq!(var(&vars, "GARPersonIdentifiant"), Some("gar-5001"));
    assert_eq!(
        var(&vars, "Shib_Identity_Provider"),
        Some(format!("{}/saml/metadata", w.idp_origin).as_str())
    );
    assert!(
        !w.shib
            .shibd_log()
            .contains(idp_tests::shibsp::UNMAPPED_MARK),
        "{}",
        w.shib.shibd_log()
    );
    let (session, _, attributes) = assertion_issued(w, "shibsp");
    assert_eq!(
        attributes,
        ["GARPersonIdentifiant", saml_sp::UID_OID].map(String::from)
    );
    assert_eq!(w.logins(), logins + usize::from(password));
    session
}

/// The same at the mod_auth_mellon SP: exactly `uid` and `sn`, and the transient NameID
/// the IdP recorded.
fn mellon_login(w: &World, password: bool, javascript: bool) -> String {
    let chrome = &w.chrome;
    let logins = w.logins();
    chrome.goto(&w.mellon.app_url());
    if password {
        fill_login(w);
    }
    if !javascript {
        click_continue(w, &format!("{}/mellon/postResponse", w.mellon.origin()));
    }
    w.wait_url(&w.mellon.app_url());
    chrome.wait_element("pre");
    let vars = app_vars(w);
    assert_eq!(
        var(&vars, "REMOTE_USER"),
        Some("lea.dupont"),
        "{}",
        w.logs()
    );
    assert_eq!(var(&vars, "MELLON_uid"), Some("lea.dupont"));
    assert_eq!(var(&vars, "MELLON_sn"), Some("DUPONT"));
    assert_eq!(
        idp_tests::mellon::attribute_names(&vars),
        ["sn", "uid"].into_iter().map(String::from).collect()
    );
    let (session, name_id, attributes) = assertion_issued(w, "mellon");
    assert_eq!(var(&vars, "MELLON_NAME_ID"), Some(name_id.as_str()));
    assert_eq!(attributes, ["sn", "uid"].map(String::from));
    assert_eq!(w.logins(), logins + usize::from(password));
    session
}

/// Léa logged in at the Shibboleth SP (password), then at mellon (SSO, no password), on
/// one IdP session; returns its reference.
fn logged_in_both(w: &World, javascript: bool) -> String {
    let first = shibboleth_login(w, true, javascript);
    let second = mellon_login(w, false, javascript);
    assert_eq!(first, second);
    first
}

/// Console messages saying the browser refused something because of a policy (CSP,
/// `X-Frame-Options`, `frame-ancestors`).
fn refusals(w: &World) -> Vec<String> {
    w.chrome
        .console()
        .into_iter()
        .map(|e| e.message)
        .filter(|m| {
            m.contains("Content Security Policy")
                || m.contains("Refused to")
                || m.contains("X-Frame-Options")
        })
        .collect()
}

/// The SP's protected page now sends the browser to the IdP's login page.
fn assert_sent_to_login(w: &World, app: &str) {
    w.chrome.goto(app);
    w.wait_url(&format!("{}/", w.idp_origin));
    w.chrome
        .wait_element("form[action='/login'] input[name='password']");
}

/// Both SP sessions and the IdP's are gone.
fn assert_all_logged_out(w: &World) {
    assert_sent_to_login(w, &w.shib.app_url());
    assert_sent_to_login(w, &w.mellon.app_url());
    w.chrome.goto(&format!("{}/", w.idp_origin));
    assert!(
        w.chrome.find("form[action='/logout']").is_none(),
        "still logged in at the IdP:\n{}",
        w.logs()
    );
}

/// SP-initiated Web Browser SSO in Chromium with JavaScript: from the Shibboleth SP's
/// protected page to the IdP's login page, then the IdP's response form posts itself (its
/// script allowed by the page's CSP hash; nothing is clicked) and Léa lands on the page
/// with exactly the released attributes. The mellon SP's page then opens without the
/// login page (SSO), with its own attributes. No policy refusal in the console.
#[test]
fn chromium_sso_with_javascript() {
    let w = World::new("127.0.0.1", true);
    logged_in_both(&w, true);
    assert_eq!(refusals(&w), Vec::<String>::new(), "{}", w.logs());
}

/// The same with JavaScript off: the response page stays on the IdP with its visible
/// "Continuer / Continue" button, and clicking it completes the login, at both SPs.
#[test]
fn chromium_sso_without_javascript() {
    let w = World::new("127.0.0.1", false);
    logged_in_both(&w, false);
}

/// IdP-initiated logout in Chromium: Léa, logged in at both SPs, clicks the IdP's logout
/// button; the logged-out page's hidden frames really load (under its `frame-src`), each
/// SP gets its signed LogoutRequest and answers with a LogoutResponse the IdP accepts; the
/// page moves on by itself to its status page, which lists both as logged out. Then both
/// SPs' pages send her to the IdP's login page and the IdP has no session.
#[test]
fn chromium_idp_initiated_logout_by_frames() {
    let w = World::new("127.0.0.1", true);
    idp_initiated_logout(&w);
    // On one site the frame carried Shibboleth's own session cookie.
    assert!(
        !w.shib.shibd_log().contains(NO_SESSION_IN_FRAME),
        "{}",
        w.shib.shibd_log()
    );
}

/// What shibd logs when a front-channel LogoutRequest comes without its session cookie.
const NO_SESSION_IN_FRAME: &str = "processing front channel logout request with no active session";

fn idp_initiated_logout(w: &World) {
    let session = logged_in_both(w, true);
    let chrome = &w.chrome;
    chrome.goto(&format!("{}/?lang=en", w.idp_origin));
    let button = chrome.wait_element("form[action='/logout'] button[type='submit']");
    chrome.click(&button);
    // The logged-out page's frames report back to the IdP...
    let (shib, mellon) = (w.shib.entity_id(), w.mellon.entity_id());
    w.wait("both SPs' LogoutResponses at the IdP", || {
        [&shib, &mellon]
            .iter()
            .all(|sp| w.logout_outcomes(sp).len() >= 2)
    });
    for sp in [&shib, &mellon] {
        assert_eq!(
            w.logout_outcomes(sp),
            ["LogoutRequestSent", "LoggedOut"],
            "{sp}\n{}",
            w.logs()
        );
    }
    assert!(w.idp.events().iter().all(|e| !matches!(e,
        AuditEvent::SamlLogout { session_ref, .. } if *session_ref != session)));
    // ...and the page moves on to the status page by itself.
    w.wait_url(&format!("{}/saml/slo/status?ref=", w.idp_origin));
    let text = chrome.text();
    for sp in [&shib, &mellon] {
        assert!(
            text.contains(&format!("{sp} — logged out")),
            "{sp}: {}",
            w.logs()
        );
    }
    assert!(chrome.find("iframe").is_none(), "{}", w.logs());
    assert_eq!(refusals(w), Vec::<String>::new(), "{}", w.logs());
    assert_all_logged_out(w);
}

/// IdP-initiated logout in Chromium when the registry lists only the SPs' HTTP-POST
/// SingleLogoutServices: Shibboleth's frame loads the IdP's `/saml/slo/frame` page, whose
/// form posts itself (its hashed script, framed by the IdP only; Shibboleth's answer, a
/// redirect back to the IdP, is not blocked by any `form-action`) to `/Shibboleth.sso/SLO/POST`; Shibboleth ends its session and answers, the
/// IdP records `LoggedOut`. No policy refusal in the console.
#[test]
fn chromium_idp_initiated_logout_to_an_http_post_only_sp() {
    let w = World::with_slo("127.0.0.1", true, &[Binding::HttpPost]);
    logged_in_both(&w, true);
    let chrome = &w.chrome;
    chrome.goto(&format!("{}/?lang=en", w.idp_origin));
    let button = chrome.wait_element("form[action='/logout'] button[type='submit']");
    chrome.click(&button);
    let shib = w.shib.entity_id();
    w.wait("Shibboleth's LogoutResponse at the IdP", || {
        w.logout_outcomes(&shib).len() >= 2
    });
    assert_eq!(
        w.logout_outcomes(&shib),
        ["LogoutRequestSent", "LoggedOut"],
        "{}",
        w.logs()
    );
    assert_eq!(refusals(&w), Vec::<String>::new(), "{}", w.logs());
    assert_sent_to_login(&w, &w.shib.app_url());
}

/// Logout started at the Shibboleth SP (`/Shibboleth.sso/Logout`) in Chromium: its
/// LogoutRequest reaches the IdP, which ends the session and tells mellon in a frame of
/// its logged-out page, shows mellon's answer on its status page, then leads the browser
/// back to Shibboleth with a Success LogoutResponse; Léa ends on Shibboleth's page saying
/// she is logged out. Both SPs and the IdP have no session left.
#[test]
fn chromium_shibboleth_initiated_logout() {
    let w = World::new("127.0.0.1", true);
    shibboleth_initiated_logout(&w);
}

fn shibboleth_initiated_logout(w: &World) {
    logged_in_both(w, true);
    let chrome = &w.chrome;
    chrome.goto(&format!("{}/Shibboleth.sso/Logout", w.shib.origin()));
    let (shib, mellon) = (w.shib.entity_id(), w.mellon.entity_id());
    w.wait("mellon's LogoutResponse and Shibboleth's answer", || {
        w.logout_outcomes(&mellon).len() >= 2 && !w.logout_outcomes(&shib).is_empty()
    });
    assert_eq!(
        w.logout_outcomes(&mellon),
        ["LogoutRequestSent", "LoggedOut"],
        "{}",
        w.logs()
    );
    assert_eq!(w.logout_outcomes(&shib), ["Success"], "{}", w.logs());
    // Back at the Shibboleth SP, which finished its logout.
    w.wait_url(&format!("{}/Shibboleth.sso/", w.shib.origin()));
    w.wait("Shibboleth's logged-out page", || {
        chrome
            .text()
            .contains("Status of Global Logout: Logout completed successfully.")
    });
    assert_eq!(refusals(w), Vec::<String>::new(), "{}", w.logs());
    assert_all_logged_out(w);
}

/// As in production, the IdP on another site than the SPs: its public URL names it
/// `localhost` (mapped to 127.0.0.1 in Chromium) while the SPs stay at `127.0.0.1`, so the
/// response POSTs and the logout frames are cross-site and SameSite rules apply. SSO at
/// both SPs, then IdP-initiated logout by frames, exactly as on one site.
#[test]
fn chromium_cross_site_sso_and_idp_initiated_logout() {
    let w = World::new("localhost", true);
    idp_initiated_logout(&w);
    // Really cross-site: Shibboleth's session cookie (no SameSite, so Lax) was not sent
    // in the IdP's frame, and it found the session by the LogoutRequest's NameID.
    assert!(
        w.shib.shibd_log().contains(NO_SESSION_IN_FRAME),
        "{}",
        w.shib.shibd_log()
    );
}

/// Logout started at the Shibboleth SP with the IdP on another site: the IdP's session
/// cookie (`SameSite=Lax`) still comes with the top-level LogoutRequest redirect, and
/// mellon, told in a cross-site frame, logs out too.
#[test]
fn chromium_cross_site_shibboleth_initiated_logout() {
    let w = World::new("localhost", true);
    shibboleth_initiated_logout(&w);
}

/// A CAS service (answering anything with 200) registered in a fresh IdP with the test
/// people, and a headless Chromium.
struct CasWorld {
    idp: TestIdp,
    app: String,
    chrome: Chromium,
    _registry: idp_tests::registry::TestRegistry,
}

impl CasWorld {
    fn new() -> Self {
        use idp_tests::registry::{CasService, TestRegistry};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                use std::io::{Read as _, Write as _};
                let mut buf = [0u8; 8192];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 20\r\nconnection: close\r\n\r\n<p>service page</p>\n",
                );
            }
        });
        let app = format!("http://127.0.0.1:{port}/app/");
        let registry = TestRegistry::new();
        let domain = registry.publish(&[CasService::pronote_like("app", &app)]);
        let idp = TestIdp::start_with(|s| s.federation.domains = vec![domain]);
        idp.add_fixtures();
        let chrome = Chromium::start(&ChromiumOptions {
            javascript: true,
            host_resolver_rules: None,
        });
        Self {
            idp,
            app,
            chrome,
            _registry: registry,
        }
    }

    fn login_url(&self, extra: &str) -> String {
        self.idp.at(&format!(
            "/login?service={}{extra}",
            idp::protocols::cas::url::encode(&self.app)
        ))
    }

    fn type_into(&self, css: &str, text: &str) {
        let field = self.chrome.wait_element(css);
        self.chrome.send_keys(&field, text);
    }

    fn submit(&self, form: &str) {
        let button = self
            .chrome
            .wait_element(&format!("form[action='{form}'] button[type='submit']"));
        self.chrome.click(&button);
    }

    /// Waits until the browser is at the service, with no policy refusal on the way.
    fn wait_at_service(&self, what: &str) {
        self.chrome.wait_or(
            &format!("the service {} ({what})", self.app),
            || self.chrome.url().starts_with(&self.app),
            String::new,
        );
        let refused: Vec<_> = self
            .chrome
            .console()
            .into_iter()
            .map(|e| e.message)
            .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
            .collect();
        assert_eq!(refused, Vec::<String>::new(), "{what}");
    }
}

/// A CAS login in Chromium: the login form posts to the IdP, which answers with a redirect
/// to the service (another origin) carrying the ticket. Browsers apply the page's CSP
/// `form-action` to the redirects that follow a form submission, so the login page's policy
/// must let the browser go on to the service. Also the `method=POST` hand-off, then CAS
/// `GET /logout?service=` back to the service.
#[test]
fn chromium_cas_login_goes_on_to_the_service() {
    let w = CasWorld::new();
    w.chrome.goto(&w.login_url(""));
    w.type_into("form[action='/login'] input[name='login']", "lea.dupont");
    w.type_into("form[action='/login'] input[name='password']", LEA_PASSWORD);
    w.submit("/login");
    w.wait_at_service("password login");
    w.chrome.goto(&w.login_url("&method=POST"));
    w.wait_at_service("SSO with method=POST");
    w.chrome.goto(&w.idp.at(&format!(
        "/logout?service={}",
        idp::protocols::cas::url::encode(&w.app)
    )));
    w.wait_at_service("CAS logout back to the service");
    w.chrome.goto(&w.login_url(""));
    w.chrome
        .wait_element("form[action='/login'] input[name='password']");
}

/// A first login in Chromium: the activation code typed as the password leads to the
/// activation page; the new password chosen there leads on to the CAS service.
#[test]
fn chromium_first_login_activates_then_goes_on_to_the_service() {
    let w = CasWorld::new();
    w.chrome.goto(&w.login_url(""));
    w.type_into("form[action='/login'] input[name='login']", "hugo.martin");
    w.type_into(
        "form[action='/login'] input[name='password']",
        idp_tests::ACTIVATION_CODE,
    );
    w.submit("/login");
    let new_password = "Nouveau-Secret-2026";
    w.type_into(
        "form[action='/activate'] input[name='new_password']",
        new_password,
    );
    w.type_into(
        "form[action='/activate'] input[name='confirm']",
        new_password,
    );
    w.submit("/activate");
    w.wait_at_service("activation");
}

/// The demo federation (`idp demo`) in Chromium: the SAML demo service sends Léa to the
/// IdP, whose response posts itself back; the service shows her; the CAS demo service then
/// opens without the login page; "Se déconnecter" at the SAML service is a single logout
/// through the IdP that ends back on the service's logged-out page, and the IdP session is
/// gone. No policy refusal in the console.
#[test]
fn chromium_demo_federation_sso_across_saml_and_cas_then_single_logout() {
    use idp::cli::demo::{self, DemoBinds, Secret};
    use idp::ports::{Clock as _, SystemClock};
    use idp_tests::procs::free_port;
    let tmp = tempfile::tempdir().unwrap();
    let idp_bind = format!("127.0.0.1:{}", free_port());
    let mut settings = demo::settings_for(
        idp_tests::test_settings(),
        &tmp.path().join("demo-data"),
        &idp_bind,
    );
    let (directory, accounts) = demo::prepare(&settings, SystemClock.today()).unwrap();
    let binds = DemoBinds {
        cas: format!("127.0.0.1:{}", free_port()),
        saml: format!("127.0.0.1:{}", free_port()),
    };
    demo::prepare_federation_for(&mut settings, &binds).unwrap();
    let backends = idp::app::Backends::with_directory(&settings, directory.reader).unwrap();
    let server = idp::app::spawn(&settings, backends, &idp_bind).unwrap();
    let idp = server.url();
    let cas = demo::start_cas_service(&settings, &binds.cas).unwrap();
    let saml = demo::start_saml_service(&settings, &binds.saml).unwrap();
    let lea = accounts.iter().find(|a| a.login == "lea.fontaine").unwrap();
    let Secret::Password(password) = &lea.secret else {
        panic!("lea.fontaine has a password")
    };
    let chrome = Chromium::start(&ChromiumOptions {
        javascript: true,
        host_resolver_rules: None,
    });
    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        chrome.wait_or(what, cond, String::new);
    };
    let refused = || -> Vec<String> {
        chrome
            .console()
            .into_iter()
            .map(|e| e.message)
            .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
            .collect()
    };

    chrome.goto(&saml.url);
    let field = chrome.wait_element("form[action='/login'] input[name='login']");
    chrome.send_keys(&field, &lea.login);
    let field = chrome.wait_element("form[action='/login'] input[name='password']");
    chrome.send_keys(&field, password);
    let submit = chrome.wait_element("form[action='/login'] button[type='submit']");
    chrome.click(&submit);
    wait_for("the SAML demo service showing Léa", &|| {
        chrome.url().starts_with(&saml.url) && chrome.source().contains("Léa FONTAINE")
    });
    chrome.goto(&cas.url);
    wait_for(
        "the CAS demo service showing Léa, without a password",
        &|| chrome.url().starts_with(&cas.url) && chrome.source().contains("lea.fontaine"),
    );
    chrome.goto(&format!("{}logout", saml.url));
    wait_for("the SAML demo service's logged-out page", &|| {
        chrome.url().starts_with(&saml.url) && chrome.source().contains("déconnecté(e)")
    });
    chrome.goto(&format!("{idp}/"));
    chrome.wait_element("body");
    assert!(
        chrome.find("form[action='/logout']").is_none(),
        "the IdP session survived: {}",
        chrome.source()
    );
    assert_eq!(refused(), Vec::<String>::new());
}
