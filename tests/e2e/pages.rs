//! The pages as a browser sees them: legal notice before login, languages, security
//! headers, probes, and clean error pages for every bad input.

use idp_tests::{TestIdp, LEA_PASSWORD};

#[test]
fn legal_notice_is_visible_before_login() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let notice = &idp.settings.ui.legal_notice_fr;
    for path in ["/", "/login"] {
        let page = b.get(path);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<footer"), "{path}");
        assert!(page.body.contains("Mentions légales"), "{path}");
        assert!(page.body.contains(notice.as_str()), "{path}: {}", page.body);
    }
    // And on the welcome page after login.
    let home = b.login_ok("lea.dupont", LEA_PASSWORD);
    assert!(home.body.contains("Mentions légales"));
}

#[test]
fn pages_are_accessible_without_javascript() {
    let idp = TestIdp::start();
    let page = idp.browser().get("/login");
    let body = &page.body;
    assert!(body.contains("<html lang=\"fr\">"));
    assert!(body.contains("<label for=\"login\">"));
    assert!(body.contains("<label for=\"password\">"));
    assert!(body.contains("id=\"login\""));
    assert!(body.contains("autocomplete=\"username\""));
    assert!(body.contains("autocomplete=\"current-password\""));
    assert!(!body.contains("<script"));
    // Login before password in the document (and so in focus order).
    assert!(body.find("id=\"login\"").unwrap() < body.find("id=\"password\"").unwrap());
    let css = idp.browser().get("/static/idp.css");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

#[test]
fn security_headers_on_html() {
    let idp = TestIdp::start();
    let page = idp.browser().get("/login");
    let csp = page.header("content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    // No form-action: browsers check it against the redirects after a submission, and the
    // login form's answer redirects to the CAS service (tests/e2e/browser.rs).
    assert!(!csp.contains("form-action"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.header("strict-transport-security").is_none(),
        "not over HTTP"
    );
    let csrf = page.set_cookie("idp_csrf").unwrap();
    assert!(csrf.contains("HttpOnly"));
}

#[test]
fn english_by_query_remembered_and_by_accept_language() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let page = b.get("/login?lang=en");
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("Log in"));
    assert!(page.body.contains("Legal notice"));
    assert!(page.body.contains(idp.settings.ui.legal_notice_en.as_str()));
    assert!(page
        .set_cookie("idp_lang")
        .unwrap()
        .starts_with("idp_lang=en"));
    // Remembered.
    let page = b.get("/");
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("You are not logged in."));
    // Errors in English too.
    let res = b.login("lea.dupont", "wrong-password");
    assert!(res.body.contains("Incorrect login or password."));
    let res = b.get("/nowhere");
    assert!(res.body.contains("Page not found"));
    // Switch back.
    assert!(b.get("/?lang=fr").body.contains("<html lang=\"fr\">"));

    let other = idp.browser();
    let page = other.get_with("/login", ("accept-language", "en-GB,en;q=0.9,fr;q=0.5"));
    assert!(page.body.contains("<html lang=\"en\">"));
    let page = other.get_with("/login", ("accept-language", "de-DE"));
    assert!(page.body.contains("<html lang=\"fr\">"));
}

#[test]
fn health_and_readiness() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let h = b.get("/healthz");
    assert_eq!(h.status, 200);
    assert_eq!(h.body.trim(), "ok");
    let r = b.get("/readyz");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.trim(), "ready");
}

#[test]
fn unknown_route_gives_a_404_page() {
    let idp = TestIdp::start();
    let res = idp.browser().get("/no/such/page");
    assert_eq!(res.status, 404);
    assert!(res.body.contains("Page introuvable"), "{}", res.body);
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    // (GET /logout is the CAS logout since issue 5; POST / is not a thing.)
    let res = idp.browser().post_form("/", &[]);
    assert_eq!(res.status, 405);
    assert!(res.body.contains("Action impossible"));
}

#[test]
fn bad_forms_get_clean_error_pages() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let csrf = b.get("/login").csrf();
    // Oversized.
    let big = "x".repeat(20_000);
    let res = b.post_form(
        "/login",
        &[("csrf", &csrf), ("login", &big), ("password", "y")],
    );
    assert_eq!(res.status, 413);
    assert!(
        res.body.contains("Formulaire trop volumineux"),
        "{}",
        res.body
    );
    // Missing fields.
    let res = b.post_form("/login", &[("csrf", &csrf)]);
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Requête invalide"));
    // Not a form at all.
    let res = b.post_raw("/login", "application/json", "{\"login\":\"x\"}");
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Requête invalide"));
    // Garbage encoding.
    let res = b.post_raw(
        "/login",
        "application/x-www-form-urlencoded",
        "csrf=%ZZ&login=%&password",
    );
    assert!([400, 403].contains(&res.status), "{}", res.status);
    assert!(!res.body.contains("panicked"));
    // The server is still fine.
    assert_eq!(b.get("/healthz").status, 200);
}

#[test]
fn backend_down_gives_a_503_page() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let csrf = b.get("/login").csrf();
    idp.set_directory_down(true);
    let r = b.get("/readyz");
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains("Service momentanément indisponible"),
        "{}",
        r.body
    );
    assert_eq!(b.get("/healthz").status, 200, "the process itself is up");
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &csrf),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
        ],
    );
    assert_eq!(res.status, 503);
    assert!(res.body.contains("Service momentanément indisponible"));
    assert!(
        !res.body.contains("test: directory down"),
        "no internal detail"
    );
    assert!(idp.events().iter().any(|e| matches!(
        e,
        idp::audit::AuditEvent::AuthnFailure {
            reason: idp::audit::FailureReason::BackendError,
            ..
        }
    )));
    idp.set_directory_down(false);
    b.login_ok("lea.dupont", LEA_PASSWORD);
}

#[test]
fn cookies_are_secure_over_https() {
    let idp = TestIdp::start_with(|s| s.server.public_url = "https://ent.example".into());
    let b = idp.browser();
    let page = b.get("/login");
    assert!(page.header("strict-transport-security").is_some());
    let csrf_cookie = page.set_cookie("__Host-idp_csrf").expect("__Host- prefix");
    assert!(csrf_cookie.contains("Secure") && csrf_cookie.contains("HttpOnly"));
    // The test client speaks plain HTTP, so send the Secure cookie by hand.
    let token = page.csrf();
    let res = b.post_form_with(
        "/login",
        &[
            ("csrf", &token),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
        ],
        ("cookie", &format!("__Host-idp_csrf={token}")),
    );
    assert_eq!(res.status, 303, "{}", res.body);
    let session = res.set_cookie("idp_session").unwrap();
    assert!(session.contains("Secure"), "{session}");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=None"), "{session}");
}

/// The "my data" download (RGPD right of access): the logged-in person's directory entry,
/// establishments and audit events as JSON, nobody else's events, no secret; the download
/// itself audited. Without a session it leads to the login page.
#[test]
fn a_person_downloads_all_data_held_on_them() {
    let idp = TestIdp::start();
    // Someone else's events are in the same trail.
    idp.browser()
        .login_ok("nathalie.petit", idp_tests::TEACHER_PASSWORD);
    let b = idp.browser();
    let anonymous = b.get("/account/data");
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.location(), Some("/login"));

    b.login_ok("lea.dupont", LEA_PASSWORD);
    let home = b.get("/");
    assert!(
        home.body.contains("href=\"/account/data\""),
        "{}",
        home.body
    );
    let res = b.get("/account/data");
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.header("content-disposition"),
        Some("attachment; filename=\"donnees-lea.dupont.json\"")
    );
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let v: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    let person = &v["person"];
    assert_eq!(person["login"], "lea.dupont");
    assert_eq!(person["key"], "02$5001");
    assert_eq!(person["gar_identifier"], "gar-5001");
    assert_eq!(person["attributes"]["sn"][0], "DUPONT");
    assert_eq!(person["attributes"]["ENTEleveClasses"][0], "9001$2NDE A");
    assert_eq!(person["password_set"], true);
    let school = &v["establishments"][0];
    assert_eq!(school["key"]["id"], "9001", "{school}");
    assert_eq!(school["attributes"]["ENTStructureUAI"][0], "0139999Y");
    let events = v["audit_events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["event"] == "authn_success" && e["login"] == "lea.dupont"));
    assert!(events.iter().any(|e| e["event"] == "session_start"));
    assert!(
        events
            .iter()
            .all(|e| e["login"] == "lea.dupont" || e["person"] == "02$5001"),
        "only her own events: {events:?}"
    );
    // Credentials only as facts.
    assert!(!res.body.contains("$argon2"), "{}", res.body);
    assert!(!res.body.contains(LEA_PASSWORD));

    let trail = std::fs::read_to_string(&idp.audit_path).unwrap();
    let exported: Vec<serde_json::Value> = trail
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["event"] == "personal_data_exported")
        .collect();
    assert_eq!(exported.len(), 1, "{trail}");
    assert_eq!(exported[0]["login"], "lea.dupont");
    assert_eq!(exported[0]["requested_by"], "self");
}

/// An account locked since login gets no export, and its session ends.
#[test]
fn a_locked_account_downloads_nothing() {
    let idp = TestIdp::start();
    let b = idp.browser();
    b.login_ok("lea.dupont", LEA_PASSWORD);
    idp.lock("5001");
    let res = b.get("/account/data");
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/"));
    assert!(!res.body.contains("DUPONT"));
    assert!(!b.logged_in());
}
