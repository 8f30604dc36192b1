//! The audit trail: every attempt and every session start and end, without secrets.

use idp::audit::{AuditEvent, FailureReason};
use idp_tests::{TestIdp, ACTIVATION_CODE, LEA_PASSWORD};

#[test]
fn attempts_and_sessions_are_audited_without_secrets() {
    let idp = TestIdp::start();
    let b = idp.browser();
    b.login("lea.dupont", "Wrong-Secret-123");
    b.login("nobody.here", "Wrong-Secret-456");
    // A password typed into the login box: refused, and not written down.
    b.login("Mon-Secret-789!", "Wrong-Secret-000");
    let home = b.login_ok("lea.dupont", LEA_PASSWORD);
    let session_id = b.cookie("idp_session").unwrap();
    b.post_form("/logout", &[("csrf", &home.csrf())]);
    let c = idp.browser();
    c.login("hugo.martin", ACTIVATION_CODE);
    let csrf = c.get("/activate").csrf();
    c.post_form(
        "/activate",
        &[
            ("csrf", &csrf),
            ("new_password", "Nouveau-Secret-77"),
            ("confirm", "Nouveau-Secret-77"),
        ],
    );

    let events = idp.events();
    let failures: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            AuditEvent::AuthnFailure {
                login,
                reason,
                client_ip,
            } => Some((login.as_str(), *reason, client_ip.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        vec![
            ("lea.dupont", FailureReason::WrongPassword, "127.0.0.1"),
            ("nobody.here", FailureReason::UnknownLogin, "127.0.0.1"),
            (
                "(not a login: not recorded)",
                FailureReason::UnknownLogin,
                "127.0.0.1"
            ),
        ]
    );

    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AuthnSuccess { login, method, person, .. }
            if login == "lea.dupont" && *method == "password" && person == "02$5001")));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AuthnSuccess { login, method, .. }
            if login == "hugo.martin" && *method == "activation_code")));
    assert!(events.iter().any(|e| matches!(e,
        AuditEvent::AccountActivated { login, .. } if login == "hugo.martin")));
    let starts = events
        .iter()
        .filter(|e| matches!(e, AuditEvent::SessionStart { .. }))
        .count();
    assert_eq!(starts, 2);
    let (start_ref, end_ref) = (
        events.iter().find_map(|e| match e {
            AuditEvent::SessionStart { session_ref, .. } => Some(session_ref.clone()),
            _ => None,
        }),
        events.iter().find_map(|e| match e {
            AuditEvent::SessionEnd { session_ref, .. } => Some(session_ref.clone()),
            _ => None,
        }),
    );
    assert_eq!(start_ref, end_ref, "start and end name the same session");
    assert_ne!(start_ref.as_deref(), Some(session_id.as_str()));

    // The real JSON-lines file: one object per line, no secret anywhere.
    let text = std::fs::read_to_string(&idp.audit_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), events.len());
    assert!(lines
        .iter()
        .all(|l| l["ts"].is_string() && l["event"].is_string()));
    assert!(lines
        .iter()
        .any(|l| l["event"] == "session_end" && l["reason"] == "logout"));
    for secret in [
        LEA_PASSWORD,
        "Wrong-Secret-123",
        "Wrong-Secret-456",
        ACTIVATION_CODE,
        "Nouveau-Secret-77",
        session_id.as_str(),
    ] {
        assert!(!text.contains(secret), "audit log leaks {secret}");
    }
}

#[test]
fn csrf_failures_are_audited() {
    let idp = TestIdp::start();
    let b = idp.browser();
    b.post_form(
        "/login",
        &[("csrf", "x"), ("login", "lea.dupont"), ("password", "p")],
    );
    assert!(idp.events().iter().any(|e| matches!(
        e,
        AuditEvent::AuthnFailure {
            reason: FailureReason::CsrfMismatch,
            ..
        }
    )));
}
