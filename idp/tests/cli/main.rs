//! The `idp` binary as an operator runs it, one module per command group:
//! - `aaf`: import with a JSON report, a refused delivery (non-zero exit, one line naming
//!   file and line), the activation-code CSV, a synthetic delivery that imports cleanly;
//! - `account`: show, lock, unlock and export (RGPD) an account;
//! - `serve`: the server importing from its AAF drop folder, and the single-user database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aaf;
mod account;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn sample() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/aaf-sample");
    assert!(p.is_dir(), "the AAF sample is expected at {}", p.display());
    p
}

/// `idp` with its state (directory, audit log, reports) in `dir`.
pub fn idp_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_idp"));
    cmd.args(args)
        .env("IDP_DIRECTORY__PATH", dir.join("dir.redb"))
        .env("IDP_AUDIT__PATH", dir.join("audit.log"))
        .env("IDP_AAF__REPORT_DIR", dir.join("reports"));
    cmd
}

pub fn idp(dir: &Path, args: &[&str]) -> Output {
    idp_command(dir, args).output().unwrap()
}

/// Runs `idp`, expects success, returns standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = idp(dir, args);
    assert!(
        out.status.success(),
        "idp {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
