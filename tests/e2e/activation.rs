//! First login with an activation code: choose a password, then the code is dead.

use idp_tests::{TestIdp, ACTIVATION_CODE};

#[test]
fn activation_code_leads_to_choosing_a_password() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.login("hugo.martin", ACTIVATION_CODE);
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/activate"));
    // No session yet, and the code is not in the redirect.
    assert!(res.set_cookie("idp_session").is_none());
    assert!(!res.location().unwrap().contains(ACTIVATION_CODE));
    assert!(!b.logged_in());

    let form = b.get("/activate");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Choisissez votre mot de passe"));
    assert!(form.body.contains("hugo.martin"));
    assert!(form.body.contains("autocomplete=\"new-password\""));
    assert!(!form.body.contains(ACTIVATION_CODE));
    assert_eq!(form.header("cache-control"), Some("no-store"));
    let csrf = form.csrf();

    // Weak passwords are refused with a reason, and no session starts.
    for (weak, reason) in [
        ("court", "au moins 10 caractères"),
        ("motdepasse2024", "trop courant"),
        ("aaaaaaaaaaaa", "deux sortes de caractères"),
        (ACTIVATION_CODE, "code d'activation"),
        ("Hugo.Martin", "identifiant"),
    ] {
        let res = b.post_form(
            "/activate",
            &[("csrf", &csrf), ("new_password", weak), ("confirm", weak)],
        );
        assert_eq!(res.status, 200);
        assert!(res.body.contains(reason), "{weak}: {}", res.body);
        assert!(res.body.contains("role=\"alert\""));
        assert!(res.set_cookie("idp_session").is_none());
    }
    let res = b.post_form(
        "/activate",
        &[
            ("csrf", &csrf),
            ("new_password", "Velo-Rouge-Lune-9"),
            ("confirm", "Velo-Rouge-Lune-8"),
        ],
    );
    assert!(res.body.contains("pas identiques"), "{}", res.body);

    // A good one: logged in.
    let res = b.post_form(
        "/activate",
        &[
            ("csrf", &csrf),
            ("new_password", "Velo-Rouge-Lune-9"),
            ("confirm", "Velo-Rouge-Lune-9"),
        ],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/"));
    assert!(res.set_cookie("idp_session").is_some());
    let home = b.get("/");
    assert!(home.body.contains("Hugo MARTIN"), "{}", home.body);

    // The code no longer works; the new password does.
    let other = idp.browser();
    let res = other.login("hugo.martin", ACTIVATION_CODE);
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Identifiant ou mot de passe incorrect."));
    other.login_ok("hugo.martin", "Velo-Rouge-Lune-9");

    // The pending activation is used up.
    let again = b.get("/activate");
    assert!(again
        .body
        .contains("délai pour choisir votre mot de passe est dépassé"));
}

#[test]
fn activation_code_is_forgiving_about_case_and_blanks() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.login(
        "hugo.martin",
        &format!(" {} ", ACTIVATION_CODE.to_lowercase()),
    );
    assert_eq!(res.location(), Some("/activate"));
}

#[test]
fn pending_activation_expires() {
    let idp = TestIdp::start();
    let b = idp.browser();
    b.login("hugo.martin", ACTIVATION_CODE);
    let csrf = b.get("/activate").csrf();
    idp.advance_secs(11 * 60);
    let res = b.post_form(
        "/activate",
        &[
            ("csrf", &csrf),
            ("new_password", "Velo-Rouge-Lune-9"),
            ("confirm", "Velo-Rouge-Lune-9"),
        ],
    );
    assert_eq!(res.status, 200);
    assert!(res
        .body
        .contains("délai pour choisir votre mot de passe est dépassé"));
    assert!(res.set_cookie("idp_session").is_none());
    // Nothing changed: the code still works.
    let res = idp.browser().login("hugo.martin", ACTIVATION_CODE);
    assert_eq!(res.location(), Some("/activate"));
}

#[test]
fn activate_without_pending_activation_goes_back_to_login() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let res = b.get("/activate");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("action=\"/login\""));
}
