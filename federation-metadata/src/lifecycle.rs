//! Membership lifecycle: join, approve, leave, renew, status.
//!
//! Each operation edits one `services/<id>.toml` file in place with `toml_edit`, so the
//! administrator's comments and layout survive, writes it atomically (temporary file then
//! rename), and re-loads the domain so that a change which would leave it unloadable is
//! refused before anything is written. The rules themselves (what a date means) live in
//! [`crate::model::Service::status_at`]; this module only records the facts: when a service
//! asked to join, was approved, asked to leave, was renewed.

use std::path::{Path, PathBuf};

use time::Date;
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::diagnostic::Diagnostic;
use crate::model::{
    dates, Agreement, CasSettings, MemberStatus, MembershipState, Organisation, Protocol, Service,
    ServiceCommitments, ServiceUrlPattern, UiInfo,
};
use crate::source::{self, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("no service {0:?} in this domain (services/{0}.toml)")]
    UnknownService(String),
    #[error("service {0:?} already exists (services/{0}.toml)")]
    AlreadyExists(String),
    #[error("service id {0:?} must be lowercase letters, digits and '-'")]
    BadId(String),
    #[error("service {id:?} is {state}: {what}")]
    WrongState {
        id: String,
        state: String,
        what: &'static str,
    },
    #[error("service {0:?} renews tacitly: there is nothing to renew explicitly")]
    TacitRenewal(String),
    #[error("{}: {message}", path.display())]
    Edit { path: PathBuf, message: String },
    #[error("the change would make the domain invalid:\n{}", crate::diagnostic::join(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The status of every service of the domain in `dir` on `at`, sorted by id.
pub fn status(dir: &Path, at: Date) -> Result<Vec<(Service, MemberStatus)>, LifecycleError> {
    let domain = source::load_domain(dir)?;
    Ok(domain
        .services
        .into_iter()
        .map(|s| {
            let st = s.status_at(at);
            (s, st)
        })
        .collect())
}

/// Approves a pending service on `on`: membership becomes approved; the agreement's
/// `signed_on` and `start` are set to `on` where not already given. Refused when the
/// service's file has validation errors (an incomplete file is not approved).
pub fn approve(dir: &Path, id: &str, on: Date) -> Result<(), LifecycleError> {
    let domain = source::load_domain(dir)?;
    let service = find(&domain, id)?;
    if service.membership == MembershipState::Approved {
        return Err(wrong_state(service, on, "already approved"));
    }
    let path = service_path(dir, id);
    if let Err(errors) = crate::validate::validate(&domain, on) {
        let mine: Vec<_> = errors.into_iter().filter(|e| e.file == path).collect();
        if !mine.is_empty() {
            return Err(LifecycleError::Invalid(mine));
        }
    }
    edit(dir, id, |doc| {
        doc["membership"] = value("approved");
        let agreement = table(doc, "agreement")?;
        if !agreement.contains_key("signed_on") {
            agreement["signed_on"] = date_value(on);
        }
        if !agreement.contains_key("start") {
            agreement["start"] = date_value(on);
        }
        Ok(())
    })?;
    tracing::info!(service = id, %on, "service approved");
    Ok(())
}

/// Records a leave request made on `requested_on` to leave on `on`; returns the last day of
/// access under the agreement (notice, end of school year: see
/// [`crate::model::Agreement::termination_end`]).
pub fn leave(
    dir: &Path,
    id: &str,
    requested_on: Date,
    on: Date,
    reason: &str,
) -> Result<Date, LifecycleError> {
    let domain = source::load_domain(dir)?;
    let service = find(&domain, id)?;
    if service.membership == MembershipState::Pending {
        return Err(wrong_state(
            service,
            requested_on,
            "a pending service cannot leave; delete its file to withdraw the request",
        ));
    }
    if service.agreement.termination.is_some() {
        return Err(wrong_state(
            service,
            requested_on,
            "a leave is already recorded",
        ));
    }
    if on < requested_on {
        return Err(LifecycleError::Edit {
            path: service_path(dir, id),
            message: format!("cannot leave on {on}, before today ({requested_on})"),
        });
    }
    edit(dir, id, |doc| {
        let agreement = table(doc, "agreement")?;
        let mut t = Table::new();
        t["requested_on"] = date_value(requested_on);
        t["on"] = date_value(on);
        t["reason"] = value(reason);
        agreement["termination"] = Item::Table(t);
        Ok(())
    })?;
    let mut after = service.agreement.clone();
    after.termination = Some(crate::model::Termination {
        requested_on,
        on,
        reason: reason.to_owned(),
    });
    let end = after.termination_end().unwrap_or(on);
    tracing::info!(service = id, %on, last_day = %end, "leave recorded");
    Ok(end)
}

/// Renews an agreement without tacit renewal on `on` by `months` (default: its initial
/// duration); returns the new last day.
pub fn renew(dir: &Path, id: &str, on: Date, months: Option<u32>) -> Result<Date, LifecycleError> {
    let domain = source::load_domain(dir)?;
    let service = find(&domain, id)?;
    if service.agreement.terms.tacit_renewal_months.is_some() {
        return Err(LifecycleError::TacitRenewal(id.to_owned()));
    }
    if service.membership == MembershipState::Pending {
        return Err(wrong_state(service, on, "approve it first"));
    }
    if let MemberStatus::Gone { .. } = service.status_at(on) {
        return Err(wrong_state(
            service,
            on,
            "an ended agreement is not renewed; join again",
        ));
    }
    let months = months.unwrap_or(service.agreement.terms.initial_duration_months);
    edit(dir, id, |doc| {
        let agreement = table(doc, "agreement")?;
        if !agreement.contains_key("renewals") {
            agreement["renewals"] = Item::ArrayOfTables(ArrayOfTables::new());
        }
        let Some(renewals) = agreement["renewals"].as_array_of_tables_mut() else {
            return Err(
                "agreement.renewals is not an array of tables ([[agreement.renewals]])".into(),
            );
        };
        let mut t = Table::new();
        t["on"] = date_value(on);
        t["months"] = value(i64::from(months));
        renewals.push(t);
        Ok(())
    })?;
    let mut after = service.agreement.clone();
    after.renewals.push(crate::model::Renewal { on, months });
    let end = after.term_last_day().unwrap_or(on);
    tracing::info!(service = id, %on, months, last_day = %end, "agreement renewed");
    Ok(end)
}

/// A new pending CAS service with the federation's default terms, for the administrator to
/// complete (organisation, contacts, commitments, releases) before `approve`.
pub fn new_cas_service(
    dir: &Path,
    id: &str,
    patterns: Vec<ServiceUrlPattern>,
    proxy_callbacks: Vec<String>,
    today: Date,
) -> Result<Service, LifecycleError> {
    let domain = source::load_domain(dir)?;
    let host_url = patterns
        .first()
        .map(|p| origin_of(p.as_str()))
        .unwrap_or_default();
    Ok(Service {
        id: id.to_owned(),
        name: id.to_owned(),
        description: String::new(),
        organisation: Organisation {
            name: id.to_owned(),
            display_name: None,
            url: host_url,
        },
        contacts: Vec::new(),
        commitments: ServiceCommitments::default(),
        membership: MembershipState::Pending,
        agreement: pending_agreement(&domain.federation, today),
        costs: String::new(),
        ui: UiInfo::default(),
        protocol: Protocol::Cas(CasSettings {
            service_patterns: patterns,
            proxy_callbacks,
            user_attribute: "login".to_owned(),
            single_logout: true,
        }),
        releases: Vec::new(),
    })
}

/// The agreement of a service that just asked to join: the federation's default terms.
pub fn pending_agreement(federation: &crate::model::Federation, today: Date) -> Agreement {
    Agreement {
        terms: federation.default_terms,
        requested_on: Some(today),
        signed_on: None,
        start: None,
        renewals: Vec::new(),
        termination: None,
    }
}

/// Writes a new `services/<id>.toml` for `service` (refusing to overwrite), with a header
/// telling the administrator what to complete. Returns its path.
pub fn write_new_service(dir: &Path, service: &Service) -> Result<PathBuf, LifecycleError> {
    write_new_service_with_notes(dir, service, &[], &[])
}

/// [`write_new_service`], with import notes and the attributes the SP requested written as
/// comments in the header (they need a decision and a purpose before becoming releases).
pub fn write_new_service_with_notes(
    dir: &Path,
    service: &Service,
    notes: &[String],
    requested: &[(String, Option<String>, bool)],
) -> Result<PathBuf, LifecycleError> {
    if !is_id(&service.id) {
        return Err(LifecycleError::BadId(service.id.clone()));
    }
    let path = service_path(dir, &service.id);
    if path.exists() {
        return Err(LifecycleError::AlreadyExists(service.id.clone()));
    }
    let body = toml::to_string(service).map_err(|e| LifecycleError::Edit {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let text = format!(
        "# Service {id:?}: asked to join on {today}; pending until `fedmeta approve {id}`.\n\
         # Before approving, complete: organisation, contacts (technical, security, data\n\
         # protection officer), commitments, costs, and the attributes released ([[releases]],\n\
         # each with its purpose). `fedmeta validate` lists what is missing.\n{extra}\n{body}",
        id = service.id,
        today = service
            .agreement
            .requested_on
            .map(dates::format)
            .unwrap_or_default(),
        extra = header_notes(notes, requested),
    );
    let services = dir.join("services");
    std::fs::create_dir_all(&services).map_err(|source| LifecycleError::Io {
        path: services.clone(),
        source,
    })?;
    write_atomically(&path, &text)?;
    // The new file must load with the rest of the domain; if not, take it back out.
    if let Err(e) = source::load_domain(dir) {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    tracing::info!(service = %service.id, file = %path.display(), "service joined (pending)");
    Ok(path)
}

fn header_notes(notes: &[String], requested: &[(String, Option<String>, bool)]) -> String {
    let mut out = String::new();
    for n in notes {
        out.push_str(&format!("# Import note: {}\n", one_line(n)));
    }
    if !requested.is_empty() {
        out.push_str(
            "# The SP's metadata requests these attributes (nothing is released until a\n",
        );
        out.push_str("# [[releases]] entry with its purpose is added):\n");
        for (name, friendly, required) in requested {
            out.push_str(&format!(
                "#   {}{}{}\n",
                one_line(name),
                friendly
                    .as_ref()
                    .map(|f| format!(" ({})", one_line(f)))
                    .unwrap_or_default(),
                if *required { ", required" } else { "" }
            ));
        }
    }
    out
}

/// Text from foreign metadata put into a TOML comment: one line, no control characters.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A readable table of every member's status on `at`.
pub fn status_report(dir: &Path, at: Date) -> Result<String, LifecycleError> {
    let rows = status(dir, at)?;
    let mut out = format!("status on {at}\n");
    let width = rows
        .iter()
        .map(|(s, _)| s.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    for (service, st) in &rows {
        let protocol = if service.saml().is_some() {
            "SAML"
        } else {
            "CAS "
        };
        let access = if service.grants_access_at(at) {
            "access"
        } else {
            "no access"
        };
        out.push_str(&format!(
            "{:<width$}  {protocol}  {access:<9}  {st}\n",
            service.id
        ));
    }
    Ok(out.trim_end().to_owned())
}

/// `services/<id>.toml` under `dir`.
pub fn service_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("services").join(format!("{id}.toml"))
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn find<'a>(domain: &'a source::LoadedDomain, id: &str) -> Result<&'a Service, LifecycleError> {
    domain
        .services
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| LifecycleError::UnknownService(id.to_owned()))
}

fn wrong_state(service: &Service, at: Date, what: &'static str) -> LifecycleError {
    LifecycleError::WrongState {
        id: service.id.clone(),
        state: service.status_at(at).to_string(),
        what,
    }
}

fn date_value(d: Date) -> Item {
    match dates::format(d).parse::<toml_edit::Datetime>() {
        Ok(dt) => value(dt),
        Err(_) => value(dates::format(d)),
    }
}

fn table<'a>(doc: &'a mut DocumentMut, key: &str) -> Result<&'a mut Table, String> {
    doc.get_mut(key)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| format!("[{key}] is missing or not a table"))
}

/// Applies `change` to the service's file, then checks the whole domain still loads before
/// replacing the file.
fn edit(
    dir: &Path,
    id: &str,
    change: impl FnOnce(&mut DocumentMut) -> Result<(), String>,
) -> Result<(), LifecycleError> {
    let path = service_path(dir, id);
    let text = std::fs::read_to_string(&path).map_err(|source| LifecycleError::Io {
        path: path.clone(),
        source,
    })?;
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| LifecycleError::Edit {
                path: path.clone(),
                message: e.to_string(),
            })?;
    change(&mut doc).map_err(|message| LifecycleError::Edit {
        path: path.clone(),
        message,
    })?;
    let new_text = doc.to_string();
    // Check the edited file parses into the model before it replaces the old one.
    if let Err(e) = toml::from_str::<Service>(&new_text) {
        return Err(LifecycleError::Edit {
            path,
            message: format!("the edited file would not load: {}", e.message()),
        });
    }
    write_atomically(&path, &new_text)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), LifecycleError> {
    let tmp = path.with_extension("toml.tmp");
    let io = |source| LifecycleError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// `https://host` of a URL or pattern (for a placeholder organisation URL).
fn origin_of(url: &str) -> String {
    let u = url.trim_start_matches('^').replace("\\.", ".");
    let Some((scheme, rest)) = u.split_once("://") else {
        return String::new();
    };
    let host = rest
        .split(['/', '?', '#', '(', '$'])
        .next()
        .unwrap_or_default();
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_patterns() {
        assert_eq!(origin_of("https://a.example/x/"), "https://a.example");
        assert_eq!(origin_of(r"^https://a\.example/x/.*$"), "https://a.example");
    }
}
