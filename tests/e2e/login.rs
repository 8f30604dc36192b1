//! Login: success, refusals (same message for unknown login and wrong password, clear
//! messages for locked and left accounts), throttling and CSRF.

use idp_tests::{TestIdp, LEA_PASSWORD, LEFT_PASSWORD, LOCKED_PASSWORD, TEACHER_PASSWORD};

const BAD_CREDENTIALS: &str = "Identifiant ou mot de passe incorrect.";

#[test]
fn login_sets_a_safe_cookie_and_shows_who_you_are() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.login("lea.dupont", LEA_PASSWORD);
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/"));
    let cookie = res.set_cookie("idp_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    // Plain HTTP in tests: no Secure flag (it would make the browser drop the cookie).
    assert!(!cookie.contains("Secure"), "{cookie}");
    let id = b.cookie("idp_session").unwrap();
    assert_eq!(id.len(), 43, "256-bit base64url id");

    let home = b.get("/");
    assert_eq!(home.status, 200);
    let body = &home.body;
    assert!(body.contains("Léa DUPONT"), "{body}");
    assert!(body.contains("lea.dupont"));
    assert!(
        body.contains("Élève") && body.contains("National_ELV"),
        "{body}"
    );
    assert!(body.contains("LYCEE MARIE CURIE (MARSEILLE)"), "{body}");
    assert!(body.contains("0139999Y"), "{body}");
    assert!(body.contains("2NDE A"), "{body}");
    assert!(body.contains("action=\"/logout\""));
}

#[test]
fn login_is_case_insensitive_and_teacher_sees_both_schools() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let home = b.login_ok("  Nathalie.PETIT ", TEACHER_PASSWORD);
    assert!(home.body.contains("Enseignant"), "{}", home.body);
    assert!(home.body.contains("0139999Y") && home.body.contains("0130998P"));
    assert!(home.body.contains("COLLEGE JEAN JAURES (AUBAGNE)"));
    assert!(home.body.contains("2NDE B") && home.body.contains("3E1"));
}

#[test]
fn unknown_login_and_wrong_password_read_the_same() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let wrong = b.login("lea.dupont", "not-the-password");
    let unknown = b.login("nobody.here", "not-the-password");
    assert_eq!(wrong.status, 200);
    assert_eq!(unknown.status, 200);
    assert!(wrong.body.contains(BAD_CREDENTIALS), "{}", wrong.body);
    assert!(unknown.body.contains(BAD_CREDENTIALS), "{}", unknown.body);
    assert!(wrong.set_cookie("idp_session").is_none());
    assert!(!b.logged_in());
    // Same page apart from the login typed back into the field and the token.
    let strip = |s: &str, login: &str| s.replace(login, "LOGIN");
    assert_eq!(
        strip(&wrong.body, "lea.dupont"),
        strip(&unknown.body, "nobody.here")
    );
    // The password is never echoed back.
    assert!(!wrong.body.contains("not-the-password"));
    // The error summary links to the field and is announced.
    assert!(wrong.body.contains("role=\"alert\""));
    assert!(wrong.body.contains("href=\"#login\""));
}

#[test]
fn empty_fields_are_explained() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.login("", "");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Saisissez votre identifiant."));
    assert!(res.body.contains("Saisissez votre mot de passe"));
    assert!(res.body.contains("href=\"#password\""));
    assert!(res.body.contains("aria-invalid=\"true\""));
}

#[test]
fn locked_account_is_refused_with_its_message() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.login("paul.locked", LOCKED_PASSWORD);
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Ce compte est bloqué"), "{}", res.body);
    assert!(!b.logged_in());
    // With a wrong password, nothing about the state leaks.
    let res = b.login("paul.locked", "wrong-password");
    assert!(res.body.contains(BAD_CREDENTIALS));
    assert!(!res.body.contains("bloqué"));
}

#[test]
fn left_account_is_refused_with_its_message() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.login("jean.parti", LEFT_PASSWORD);
    assert_eq!(res.status, 200);
    assert!(
        res.body.contains("Ce compte n'est plus actif"),
        "{}",
        res.body
    );
    assert!(!b.logged_in());
}

#[test]
fn account_is_throttled_after_repeated_failures() {
    let idp = TestIdp::start(); // 3 failures per account
    let b = idp.browser();
    for _ in 0..3 {
        let res = b.login("lea.dupont", "wrong-password");
        assert!(res.body.contains(BAD_CREDENTIALS));
    }
    let res = b.login("lea.dupont", LEA_PASSWORD);
    assert_eq!(res.status, 200, "throttled account must be refused");
    assert!(
        res.body
            .contains("Trop de tentatives échouées pour ce compte"),
        "{}",
        res.body
    );
    assert!(!b.logged_in());
    // Unknown logins are throttled the same way (no account enumeration).
    for _ in 0..3 {
        b.login("ghost.user", "wrong-password");
    }
    let res = b.login("ghost.user", "wrong-password");
    assert!(res
        .body
        .contains("Trop de tentatives échouées pour ce compte"));
    // Other accounts are not affected by the account limit.
    b.login_ok("nathalie.petit", TEACHER_PASSWORD);
}

#[test]
fn address_is_throttled_across_accounts() {
    let idp = TestIdp::start_with(|s| {
        s.throttle.max_failures_per_account = 100;
        s.throttle.max_failures_per_address = 4;
    });
    let b = idp.browser();
    for i in 0..4 {
        b.login(&format!("spray{i}"), "Printemps2026");
    }
    let res = b.login("lea.dupont", LEA_PASSWORD);
    assert!(
        res.body
            .contains("Trop de tentatives échouées depuis votre réseau"),
        "{}",
        res.body
    );
    assert!(!b.logged_in());
}

fn login_from(b: &idp_tests::Browser, login: &str, password: &str, ip: &str) -> idp_tests::Page {
    let form = b.get("/login");
    b.post_form_with(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", login),
            ("password", password),
        ],
        ("x-forwarded-for", ip),
    )
}

#[test]
fn forwarded_for_is_ignored_unless_trusted() {
    let idp = TestIdp::start_with(|s| s.throttle.max_failures_per_address = 2);
    let b = idp.browser();
    for i in 0..2 {
        login_from(&b, &format!("spray{i}"), "x", &format!("203.0.113.{i}"));
    }
    // A client cannot dodge the address limit by claiming another address.
    let res = login_from(&b, "lea.dupont", LEA_PASSWORD, "198.51.100.7");
    assert!(res.body.contains("depuis votre réseau"), "{}", res.body);
}

#[test]
fn forwarded_for_is_used_behind_a_trusted_proxy() {
    let idp = TestIdp::start_with(|s| {
        s.throttle.max_failures_per_address = 2;
        s.server.trust_forwarded_for = true;
    });
    let b = idp.browser();
    for i in 0..2 {
        login_from(&b, &format!("spray{i}"), "x", "203.0.113.9");
    }
    let res = login_from(&b, "lea.dupont", LEA_PASSWORD, "203.0.113.9");
    assert!(res.body.contains("depuis votre réseau"));
    // The last hop (the one the proxy appended) is the client.
    let res = login_from(&b, "lea.dupont", LEA_PASSWORD, "203.0.113.9, 198.51.100.7");
    assert_eq!(res.status, 303, "{}", res.body);
    let start = idp
        .events()
        .into_iter()
        .find_map(|e| match e {
            idp::audit::AuditEvent::SessionStart { client_ip, .. } => Some(client_ip),
            _ => None,
        })
        .unwrap();
    assert_eq!(start, "198.51.100.7");
}

#[test]
fn post_without_or_with_wrong_csrf_token_is_refused() {
    let idp = TestIdp::start();
    let b = idp.browser();
    // No token at all (no cookie, no field).
    let res = b.post_form(
        "/login",
        &[
            ("csrf", ""),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
        ],
    );
    assert_eq!(res.status, 403);
    assert!(res.body.contains("Formulaire expiré"), "{}", res.body);
    assert!(res.set_cookie("idp_session").is_none());
    // The cookie is there but the field is forged.
    let _ = b.get("/login");
    let res = b.post_form(
        "/login",
        &[
            ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
        ],
    );
    assert_eq!(res.status, 403);
    assert!(res.set_cookie("idp_session").is_none());
    assert!(!b.logged_in());
    // The field is missing altogether: a bad form, refused too.
    let res = b.post_form(
        "/login",
        &[("login", "lea.dupont"), ("password", LEA_PASSWORD)],
    );
    assert_eq!(res.status, 400);
    assert!(!b.logged_in());
    // Logout with a forged token does not end the session.
    b.login_ok("lea.dupont", LEA_PASSWORD);
    let res = b.post_form("/logout", &[("csrf", "forged")]);
    assert_eq!(res.status, 403);
    assert!(b.logged_in());
}
