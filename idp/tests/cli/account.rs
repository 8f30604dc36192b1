//! `idp account ...`.

use super::{idp, ok, sample};

#[test]
fn lock_unlock_and_export_an_account() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sample = sample();
    ok(
        dir,
        &[
            "aaf",
            "import",
            "--today",
            "2026-09-08",
            sample.to_str().unwrap(),
        ],
    );

    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["account", "show", "lea.dupont"])).unwrap();
    assert_eq!(shown["state"], "Active");
    assert_eq!(shown["category"], "Eleve");
    assert_eq!(shown["attributes"]["ENTEleveINE"][0], "120890177AA");

    assert!(ok(dir, &["account", "lock", "lea.dupont", "--reason", "test"]).contains("locked"));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["account", "show", "lea.dupont"])).unwrap();
    assert_eq!(shown["state"]["Locked"]["reason"], "test");
    // Unlocking an account that is not locked is an error with a message.
    ok(dir, &["account", "unlock", "lea.dupont"]);
    let again = idp(dir, &["account", "unlock", "lea.dupont"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not locked"));

    let out = dir.join("export.json");
    ok(
        dir,
        &[
            "account",
            "export",
            "lea.dupont",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(export["person"]["login"], "lea.dupont");
    assert_eq!(export["person"]["activation_pending"], true);
    assert_eq!(export["person"]["profiles"][0], "National_ELV");
    assert_eq!(
        export["establishments"][0]["attributes"]["ENTStructureUAI"][0],
        "0139999Y"
    );
    // The export names facts about credentials, never the code or a hash.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("activation_code\""));
    assert!(!text.contains("argon2"));
}

#[test]
fn unknown_login_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = idp(dir, &["account", "show", "nobody.here"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account with login nobody.here"));
}
