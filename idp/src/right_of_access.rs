//! The RGPD right of access (article 15): everything held on one person, as one structured,
//! machine-readable JSON document — the directory entry, the establishments it points to,
//! and every audit event about the person. Credentials appear as facts (a password is set,
//! an activation is pending), never as hashes or codes. Made for the person themselves
//! (the "my data" download of the welcome page) and for an administrator answering a
//! request (`idp account export`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditSink};
use crate::model::{
    AccountState, Attributes, EntryKey, Person, PersonKey, ReferenceEntry, ReferenceKind,
};
use crate::ports::{BackendError, Clock, Directory};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("directory: {0}")]
    Directory(#[from] BackendError),
    #[error("reading the audit trail {path}: {source}")]
    Audit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the audit trail could not be read: {0}")]
    Worker(String),
    #[error("encoding the export: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct AccessExport<'a> {
    generated_at: String,
    person: PersonView<'a>,
    establishments: Vec<ReferenceEntry>,
    audit_events: Vec<Value>,
}

/// What the directory holds on a person, secrets as facts only (also `idp account show`).
#[derive(Serialize)]
pub struct PersonView<'a> {
    key: String,
    category: &'static str,
    login: &'a str,
    gar_identifier: &'a str,
    state: &'a AccountState,
    profiles: Vec<&'static str>,
    attributes: &'a Attributes,
    created_on: String,
    updated_on: String,
    password_set: bool,
    password_changed_at: Option<String>,
    activation_pending: bool,
}

impl<'a> PersonView<'a> {
    pub fn of(p: &'a Person) -> Self {
        Self {
            key: p.key.to_string(),
            category: p.category.as_str(),
            login: &p.login,
            gar_identifier: &p.gar_id,
            state: &p.state,
            profiles: p.profiles().into_iter().map(|x| x.national()).collect(),
            attributes: &p.attributes,
            created_on: p.created_on.to_string(),
            updated_on: p.updated_on.to_string(),
            password_set: p.credentials.password_hash.is_some(),
            password_changed_at: p.credentials.password_changed_at.map(|t| t.to_string()),
            activation_pending: p.credentials.activation_code.is_some(),
        }
    }
}

/// The export of `person` as pretty-printed JSON, made at `now`. The audit trail at
/// `audit_path` is read line by line off the async executor (it can be large).
pub async fn export(
    directory: &dyn Directory,
    person: &Person,
    audit_path: &Path,
    now: OffsetDateTime,
) -> Result<Vec<u8>, ExportError> {
    let mut establishments = Vec::new();
    for s in person.structures() {
        let key = EntryKey::new(ReferenceKind::Structure, &person.key.academie, s);
        if let Some(e) = directory.reference(&key).await? {
            establishments.push(e);
        }
    }
    let (path, key, login) = (
        audit_path.to_owned(),
        person.key.to_string(),
        person.login.clone(),
    );
    let audit_events = tokio::task::spawn_blocking(move || audit_events_about(&path, &key, &login))
        .await
        .map_err(|e| ExportError::Worker(e.to_string()))??;
    let export = AccessExport {
        generated_at: now.format(&Rfc3339).unwrap_or_default(),
        person: PersonView::of(person),
        establishments,
        audit_events,
    };
    Ok(serde_json::to_vec_pretty(&export)?)
}

/// Audit lines whose `person` is `key` or whose `login` is `login`. A missing trail means
/// no events; a line that is not JSON is skipped.
fn audit_events_about(path: &Path, key: &str, login: &str) -> Result<Vec<Value>, ExportError> {
    let failed = |source| ExportError::Audit {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(failed(e)),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(v) = serde_json::from_str::<Value>(&line.map_err(failed)?) else {
            continue;
        };
        let is_about = v.get("person").and_then(Value::as_str) == Some(key)
            || v.get("login").and_then(Value::as_str) == Some(login);
        if is_about {
            out.push(v);
        }
    }
    Ok(out)
}

/// The export as the server offers it to a logged-in person: the directory read again
/// (the entry as it is now), the export made, and who asked recorded in the audit trail.
#[derive(Clone)]
pub struct RightOfAccess {
    directory: Arc<dyn Directory>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    audit_path: PathBuf,
}

impl RightOfAccess {
    pub fn new(
        directory: Arc<dyn Directory>,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
        audit_path: PathBuf,
    ) -> Self {
        Self {
            directory,
            audit,
            clock,
            audit_path,
        }
    }

    /// The export of person `key` at their own request from `client_ip`, with their
    /// login; none when the person is unknown or may not log in any more.
    pub async fn for_self(
        &self,
        key: &PersonKey,
        client_ip: &str,
    ) -> Result<Option<(String, Vec<u8>)>, ExportError> {
        let Some(person) = self.directory.person(key).await?.filter(Person::is_active) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let json = export(self.directory.as_ref(), &person, &self.audit_path, now).await?;
        self.audit.record(
            now,
            AuditEvent::PersonalDataExported {
                login: person.login.clone(),
                person: person.key.to_string(),
                requested_by: "self",
                client_ip: client_ip.to_owned(),
            },
        );
        Ok(Some((person.login, json)))
    }
}
