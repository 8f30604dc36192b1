//! Audit events as JSON lines appended to a file. Each line is written with one
//! `write_all` on an append-only handle, so a crash loses at most the event being written
//! and concurrent writers never interleave inside a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{AuditEvent, AuditSink};

pub struct JsonLinesAudit {
    file: Mutex<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    ts: String,
    #[serde(flatten)]
    event: &'a AuditEvent,
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
        let line = Line {
            ts: at.format(&Rfc3339).unwrap_or_default(),
            event: &event,
        };
        let mut bytes = match serde_json::to_vec(&line) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "audit event could not be encoded");
                return;
            }
        };
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
}
