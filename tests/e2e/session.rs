//! The SSO session: renewed id at login, idle and absolute timeouts, logout.

use idp::audit::{AuditEvent, SessionEndReason};
use idp_tests::{TestIdp, LEA_PASSWORD, TEACHER_PASSWORD};

fn ends(idp: &TestIdp) -> Vec<SessionEndReason> {
    idp.events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SessionEnd { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_planted_session_cookie_is_not_kept() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let planted = "AttackerChosenValueAttackerChosenValue12345";
    b.set_cookie("idp_session", planted);
    let _ = b.login_ok("lea.dupont", LEA_PASSWORD);
    let id = b.cookie("idp_session").unwrap();
    assert_ne!(id, planted);
    // The planted value is not a session.
    let attacker = idp.browser();
    attacker.set_cookie("idp_session", planted);
    assert!(!attacker.logged_in());
}

#[test]
fn logging_in_again_renews_the_id_and_ends_the_old_session() {
    let idp = TestIdp::start();
    let b = idp.browser();
    b.login_ok("lea.dupont", LEA_PASSWORD);
    let first = b.cookie("idp_session").unwrap();
    // While logged in, GET /login goes home; a POST still logs in afresh.
    let res = b.get("/login");
    assert_eq!(res.status, 303);
    let csrf = b.get("/").csrf();
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &csrf),
            ("login", "nathalie.petit"),
            ("password", TEACHER_PASSWORD),
        ],
    );
    assert_eq!(res.status, 303);
    let second = b.cookie("idp_session").unwrap();
    assert_ne!(first, second);
    let old = idp.browser();
    old.set_cookie("idp_session", &first);
    assert!(!old.logged_in());
    assert!(b.get("/").body.contains("Nathalie PETIT"));
    assert_eq!(ends(&idp), vec![SessionEndReason::Superseded]);
}

#[test]
fn idle_timeout_logs_out() {
    let idp = TestIdp::start(); // idle 30 min, absolute 8 h
    let b = idp.browser();
    b.login_ok("lea.dupont", LEA_PASSWORD);
    idp.advance_secs(29 * 60);
    assert!(
        b.logged_in(),
        "activity within the idle limit keeps the session"
    );
    idp.advance_secs(29 * 60);
    assert!(b.logged_in());
    idp.advance_secs(31 * 60);
    let home = b.get("/");
    assert!(!home.body.contains("action=\"/logout\""));
    assert!(
        home.body.contains("Votre session a expiré"),
        "{}",
        home.body
    );
    // The stale cookie is cleared.
    let clear = home.set_cookie("idp_session").unwrap();
    assert!(
        clear.contains("Max-Age=0") || clear.contains("expires"),
        "{clear}"
    );
    assert!(!b.logged_in());
    assert_eq!(ends(&idp), vec![SessionEndReason::IdleTimeout]);
}

#[test]
fn absolute_timeout_logs_out_even_when_active() {
    let idp = TestIdp::start_with(|s| {
        s.sessions.idle_timeout_secs = 1800;
        s.sessions.absolute_timeout_secs = 3600;
    });
    let b = idp.browser();
    b.login_ok("lea.dupont", LEA_PASSWORD);
    for _ in 0..3 {
        idp.advance_secs(1000);
        assert!(b.logged_in());
    }
    idp.advance_secs(1000);
    assert!(!b.logged_in());
    assert_eq!(ends(&idp), vec![SessionEndReason::AbsoluteTimeout]);
}

#[test]
fn logout_ends_the_session_for_good() {
    let idp = TestIdp::start();
    let b = idp.browser();
    let home = b.login_ok("lea.dupont", LEA_PASSWORD);
    let id = b.cookie("idp_session").unwrap();
    let res = b.post_form("/logout", &[("csrf", &home.csrf())]);
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Vous êtes déconnecté(e)"), "{}", res.body);
    let clear = res.set_cookie("idp_session").unwrap();
    assert!(clear.contains("Max-Age=0"), "{clear}");
    assert!(!b.logged_in());
    // Replaying the old cookie does not bring the session back.
    let replay = idp.browser();
    replay.set_cookie("idp_session", &id);
    assert!(!replay.logged_in());
    assert_eq!(ends(&idp), vec![SessionEndReason::Logout]);
}

#[test]
fn a_session_does_not_outlive_a_locked_account() {
    let idp = TestIdp::start();
    let b = idp.browser();
    b.login_ok("lea.dupont", LEA_PASSWORD);
    idp.lock("5001");
    assert!(!b.logged_in());
    assert_eq!(ends(&idp), vec![SessionEndReason::AccountDisabled]);
}
