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

/// `idp account export`: the same right-of-access document for an administrator answering
/// a request (the person's events only, no secret), and the export itself audited.
#[test]
fn an_administrator_exports_a_persons_data() {
    use idp::backends::directory::embedded::EmbeddedDirectory;
    use idp::cli::account::{run, AccountCommand};
    use idp::model::{AccountState, Category, Credentials, Person, PersonKey};
    use idp::ports::DirectoryWriter;

    let tmp = tempfile::tempdir().unwrap();
    let mut settings = idp_tests::test_settings();
    settings.directory.path = tmp.path().join("directory.redb");
    settings.audit.path = tmp.path().join("audit.log");
    let today = time::OffsetDateTime::now_utc().date();
    let lea = Person {
        key: PersonKey::new("02", "5001"),
        category: Category::Eleve,
        login: "lea.dupont".into(),
        gar_id: "gar-5001".into(),
        state: AccountState::Active,
        attributes: [("sn".to_owned(), vec!["DUPONT".to_owned()])]
            .into_iter()
            .collect(),
        credentials: Credentials {
            password_hash: Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into()),
            activation_code: None,
            password_changed_at: None,
        },
        created_on: today,
        updated_on: today,
    };
    {
        let dir = EmbeddedDirectory::open(&settings.directory.path).unwrap();
        let mut txn = dir.begin().unwrap();
        txn.put_person(&lea).unwrap();
        txn.commit().unwrap();
    }
    std::fs::write(
        &settings.audit.path,
        concat!(
            "{\"ts\":\"2026-11-27T08:00:00Z\",\"event\":\"authn_success\",\"login\":\"lea.dupont\",\"person\":\"02$5001\",\"method\":\"password\",\"client_ip\":\"::1\"}\n",
            "{\"ts\":\"2026-11-27T08:00:01Z\",\"event\":\"authn_success\",\"login\":\"hugo.martin\",\"person\":\"02$5002\",\"method\":\"password\",\"client_ip\":\"::1\"}\n",
            "not json\n",
        ),
    )
    .unwrap();
    let out = tmp.path().join("lea.json");
    run(
        settings.clone(),
        AccountCommand::Export {
            login: "Lea.Dupont".into(),
            out: Some(out.clone()),
        },
    )
    .unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["person"]["login"], "lea.dupont");
    assert_eq!(v["person"]["password_set"], true);
    assert_eq!(v["person"]["attributes"]["sn"][0], "DUPONT");
    let events = v["audit_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["login"], "lea.dupont");
    assert!(!text.contains("argon2"), "{text}");
    let trail = std::fs::read_to_string(&settings.audit.path).unwrap();
    let last: serde_json::Value = serde_json::from_str(trail.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "personal_data_exported");
    assert_eq!(last["login"], "lea.dupont");
    assert_eq!(last["requested_by"], "admin");

    let unknown = run(
        settings,
        AccountCommand::Export {
            login: "nobody".into(),
            out: None,
        },
    );
    assert!(unknown
        .unwrap_err()
        .to_string()
        .contains("no account with login nobody"));
}
