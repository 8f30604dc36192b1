//! Helpers: a temporary copy of the demo domain, text edits, line lookup, the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use federation_metadata::diagnostic::Diagnostic;
use federation_metadata::source::{load_domain, SourceError};
use time::macros::date;
use time::Date;

/// The date the tests validate at (the demo certificates are valid then).
pub const TODAY: Date = date!(2026 - 11 - 27);

pub struct Domain {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Domain {
    /// A fresh copy of `deploy/federation/demo`.
    pub fn demo() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo");
        copy_dir(&demo_dir(), &dir);
        Self { _tmp: tmp, dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap()
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path(file), text).unwrap();
    }

    /// Replaces the single occurrence of `from` in `file` with `to`.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let text = self.read(file);
        assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
        self.write(file, &text.replacen(from, to, 1));
    }

    /// The 1-based line of the single line of `file` containing `needle`.
    pub fn line_of(&self, file: &str, needle: &str) -> usize {
        let text = self.read(file);
        let lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines.len(), 1, "{needle:?} in {file}: {lines:?}");
        lines[0]
    }

    /// Every diagnostic of loading then validating at [`TODAY`].
    pub fn problems(&self) -> Vec<Diagnostic> {
        self.problems_at(TODAY)
    }

    pub fn problems_at(&self, at: Date) -> Vec<Diagnostic> {
        match load_domain(&self.dir) {
            Ok(d) => federation_metadata::validate::validate(&d, at)
                .err()
                .unwrap_or_default(),
            Err(SourceError::Invalid(e)) => e,
            Err(e) => panic!("{e}"),
        }
    }

    /// Asserts that the problems are exactly one, in `file` at `line`, mentioning `text`.
    pub fn assert_single(&self, file: &str, line: usize, text: &str) {
        let problems = self.problems();
        let shown = federation_metadata::diagnostic::join(&problems);
        assert_eq!(problems.len(), 1, "expected one problem, got:\n{shown}");
        let p = &problems[0];
        assert_eq!(p.file, self.path(file), "{shown}");
        assert_eq!(p.line, Some(line), "{shown}");
        assert!(p.message.contains(text), "{shown}\nshould mention {text:?}");
    }

    /// Runs `fedmeta --domain DIR args...`.
    pub fn fedmeta(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fedmeta"))
            .arg("--domain")
            .arg(&self.dir)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/federation/demo")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A self-signed certificate valid between two Unix times, as PEM.
pub fn certificate_pem(cn: &str, not_before: i64, not_after: i64) -> String {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509NameBuilder, X509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(not_after).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}
