//! The `idp` binary as an operator uses it: import the sample AAF delivery, then look at,
//! lock, unlock and export an account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sample() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/aaf-sample");
    assert!(p.is_dir(), "the AAF sample is expected at {}", p.display());
    p
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn idp(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(args)
            .env("IDP_DIRECTORY__PATH", self.dir.path().join("dir.redb"))
            .env("IDP_AUDIT__PATH", self.dir.path().join("audit.log"))
            .env("IDP_AAF__REPORT_DIR", self.dir.path().join("reports"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.idp(args);
        assert!(
            out.status.success(),
            "idp {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn lock_unlock_and_export_an_account() {
    let env = Env::new();
    let sample = sample();
    env.ok(&["aaf", "import", "--today", "2026-09-08", sample.to_str().unwrap()]);

    let shown: serde_json::Value = serde_json::from_str(&env.ok(&["account", "show", "lea.dupont"])).unwrap();
    assert_eq!(shown["state"], "Active");
    assert_eq!(shown["category"], "Eleve");
    assert_eq!(shown["attributes"]["ENTEleveINE"][0], "120890177AA");

    assert!(env.ok(&["account", "lock", "lea.dupont", "--reason", "test"]).contains("locked"));
    let shown: serde_json::Value = serde_json::from_str(&env.ok(&["account", "show", "lea.dupont"])).unwrap();
    assert_eq!(shown["state"]["Locked"]["reason"], "test");
    // Locking twice is fine, unlocking an unlocked account is an error with a message.
    env.ok(&["account", "unlock", "lea.dupont"]);
    let again = env.idp(&["account", "unlock", "lea.dupont"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not locked"));

    let out = env.dir.path().join("export.json");
    env.ok(&["account", "export", "lea.dupont", "--out", out.to_str().unwrap()]);
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(export["person"]["login"], "lea.dupont");
    assert_eq!(export["person"]["activation_pending"], true);
    assert_eq!(export["person"]["profiles"][0], "National_ELV");
    assert_eq!(export["establishments"][0]["attributes"]["ENTStructureUAI"][0], "0139999Y");
    // The export names facts about credentials, never the code or a hash.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("activation_code\""));
    assert!(!text.contains("argon2"));
}

#[test]
fn unknown_login_is_a_clear_error() {
    let env = Env::new();
    let out = env.idp(&["account", "show", "nobody.here"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account with login nobody.here"));
}
