//! Audit events as JSON lines appended to a file. Each line is written with one
//! `write_all` on an append-only handle, so a crash loses at most the event being written
//! and concurrent writers never interleave inside a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{AuditEvent, AuditSink};

pub struct JsonLinesAudit {
    file: Mutex<File>,
}

impl JsonLinesAudit {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        Ok(Self {
            file: Mutex::new(opts.open(path)?),
        })
    }
}

impl AuditSink for JsonLinesAudit {
    fn record(&self, at: OffsetDateTime, event: AuditEvent) {
        let event_json = match serde_json::to_vec(&event) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "audit event could not be encoded");
                return;
            }
        };
        // `{"ts":…,` then the event's own fields: what `#[serde(flatten)]` wrote, without
        // its intermediate map (the costliest part of the line on the SSO hop).
        let ts = at.format(&Rfc3339).unwrap_or_default();
        let mut bytes = Vec::with_capacity(event_json.len() + ts.len() + 10);
        bytes.extend_from_slice(b"{\"ts\":\"");
        bytes.extend_from_slice(ts.as_bytes());
        bytes.push(b'"');
        match event_json.get(1..) {
            Some(b"}") | None => bytes.push(b'}'),
            Some(rest) => {
                bytes.push(b',');
                bytes.extend_from_slice(rest);
            }
        }
        bytes.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(&bytes) {
            // The agreement requires the trail: make the loss loud in the application log.
            tracing::error!(error = %e, "audit event could not be written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::FailureReason;

    #[test]
    fn writes_one_json_object_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = JsonLinesAudit::open(&path).unwrap();
        sink.record(
            OffsetDateTime::UNIX_EPOCH,
            AuditEvent::AuthnFailure {
                login: "lea.dupont".into(),
                reason: FailureReason::WrongPassword,
                client_ip: "127.0.0.1".into(),
            },
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["event"], "authn_failure");
        assert_eq!(v["reason"], "wrong_password");
        assert_eq!(v["ts"], "1970-01-01T00:00:00Z");
    }

    /// The line is byte for byte what the former `#[serde(flatten)]` wrapper wrote.
    #[test]
    fn lines_are_those_of_the_flattened_wrapper() {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            ts: String,
            #[serde(flatten)]
            event: &'a AuditEvent,
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let sink = JsonLinesAudit::open(&path).unwrap();
        let at = time::macros::datetime!(2026-11-27 08:30:00.123456 UTC);
        let events = [
            AuditEvent::SamlAssertionIssued {
                sp: "https://sp.example/\"quoted\"".into(),
                service: "gar".into(),
                login: "léa.dupont".into(),
                name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
                name_id: "_abc".into(),
                attributes: vec!["idEnt".into(), "GARPersonIdentifiant".into()],
                session_ref: "s1".into(),
                initiated_by: "sp",
            },
            AuditEvent::AuthnFailure {
                login: String::new(),
                reason: FailureReason::WrongPassword,
                client_ip: "::1".into(),
            },
        ];
        let mut expected = String::new();
        for e in &events {
            sink.record(at, e.clone());
            let line = Line {
                ts: at.format(&Rfc3339).unwrap(),
                event: e,
            };
            expected.push_str(&serde_json::to_string(&line).unwrap());
            expected.push('\n');
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }
}
