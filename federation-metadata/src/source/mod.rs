//! Loading one trust domain from its folder of human-edited TOML files.
//!
//! A trust domain is a folder:
//!
//! ```text
//! <domain>/federation.toml    the federation (parties, perimeter, rules, publication)
//! <domain>/idp.toml           the identity provider and its commitments
//! <domain>/attributes.toml    the attribute catalogue, one [[attribute]] per entry
//! <domain>/services/*.toml    one file per service provider (the file stem is its id)
//! <domain>/*.pem              certificates named by the files above
//! ```
//!
//! Several domains live side by side (`deploy/federation/<domain>/`), each with its own files
//! and signing key. Loading only parses (every syntax or type error with file and line, all
//! files at once); meaning is checked by [`crate::validate`].

pub mod locate;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use crate::diagnostic::Diagnostic;
use crate::model::{AttributeDefinition, Federation, IdentityProvider, Registry, Service};

/// The largest source file read (a service file with several certificates is a few kB).
const MAX_SOURCE_BYTES: u64 = 1024 * 1024;

/// Why a domain could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// One or more files do not parse; each diagnostic has its file and line.
    #[error("{}", crate::diagnostic::join(.0))]
    Invalid(Vec<Diagnostic>),
}

/// A source file's path and text, kept to point errors at lines.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    /// The line of a dotted key path in this file (see [`locate::line_of_path`]).
    pub fn line_of(&self, key_path: &str) -> Option<usize> {
        locate::line_of_path(&self.text, key_path)
    }

    /// A diagnostic about `key_path` in this file.
    pub fn error(&self, key_path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.path.clone(),
            line: self.line_of(key_path),
            message: message.into(),
        }
    }
}

/// A loaded (parsed, not yet validated) trust domain: the model without the compile
/// timestamps, plus the files it came from.
#[derive(Debug, Clone)]
pub struct LoadedDomain {
    pub dir: PathBuf,
    pub federation: Federation,
    pub identity_provider: IdentityProvider,
    pub attributes: Vec<AttributeDefinition>,
    /// Sorted by id.
    pub services: Vec<Service>,
    pub files: DomainFiles,
}

/// The files of a domain, to point diagnostics at.
#[derive(Debug, Clone)]
pub struct DomainFiles {
    pub federation: SourceFile,
    pub identity_provider: SourceFile,
    pub attributes: SourceFile,
    /// Same order as [`LoadedDomain::services`].
    pub services: Vec<SourceFile>,
}

impl LoadedDomain {
    /// The registry as compiled at `issued_at`; `valid_until` is `issued_at` plus the
    /// federation's `publication.validity_days`.
    pub fn to_registry(&self, issued_at: OffsetDateTime) -> Registry {
        Registry {
            format_version: crate::model::FORMAT_VERSION,
            federation: self.federation.clone(),
            identity_provider: self.identity_provider.clone(),
            attributes: self.attributes.clone(),
            services: self.services.clone(),
            issued_at,
            valid_until: issued_at
                + Duration::days(i64::from(self.federation.publication.validity_days)),
        }
    }

    /// The source file of the service with this id.
    pub fn service_file(&self, id: &str) -> Option<&SourceFile> {
        self.services
            .iter()
            .position(|s| s.id == id)
            .and_then(|i| self.files.services.get(i))
    }
}

/// `attributes.toml`: `[[attribute]]` entries.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributesFile {
    #[serde(default)]
    attribute: Vec<AttributeDefinition>,
}

/// Loads the trust domain in `dir` (see the module doc for the layout). Every file that
/// does not parse is reported, each error with its file and line. Certificates named by
/// `signing_certificate_file` (relative to `dir`) are read into the model's PEM fields.
pub fn load_domain(dir: &Path) -> Result<LoadedDomain, SourceError> {
    let mut errors = Vec::new();

    let federation_file = read(&dir.join("federation.toml"))?;
    let idp_file = read(&dir.join("idp.toml"))?;
    let attributes_file = read(&dir.join("attributes.toml"))?;

    let mut federation: Option<Federation> = parse(&federation_file, &mut errors);
    let mut identity_provider: Option<IdentityProvider> = parse(&idp_file, &mut errors);
    let attributes: Option<AttributesFile> = parse(&attributes_file, &mut errors);

    if let Some(f) = federation.as_mut() {
        if let Some(name) = f.signing_certificate_file.clone() {
            match read_certificate(dir, &name, &federation_file, "signing_certificate_file") {
                Ok(pem) => f.signing_certificate_pem = pem,
                Err(e) => errors.push(e),
            }
        }
    }
    if let Some(idp) = identity_provider.as_mut() {
        if let Some(name) = idp.signing_certificate_file.clone() {
            match read_certificate(dir, &name, &idp_file, "signing_certificate_file") {
                Ok(pem) => idp.signing_certificate_pem = pem,
                Err(e) => errors.push(e),
            }
        }
    }

    let mut services = Vec::new();
    for file in service_files(dir)? {
        let source = read(&file)?;
        if let Some(service) = parse::<Service>(&source, &mut errors) {
            services.push((service, source));
        }
    }
    services.sort_by(|a, b| a.0.id.cmp(&b.0.id));

    match (federation, identity_provider, attributes) {
        (Some(federation), Some(identity_provider), Some(attributes)) if errors.is_empty() => {
            let (services, service_sources) = services.into_iter().unzip();
            Ok(LoadedDomain {
                dir: dir.to_path_buf(),
                federation,
                identity_provider,
                attributes: attributes.attribute,
                services,
                files: DomainFiles {
                    federation: federation_file,
                    identity_provider: idp_file,
                    attributes: attributes_file,
                    services: service_sources,
                },
            })
        }
        _ => Err(SourceError::Invalid(errors)),
    }
}

/// The `services/*.toml` files of a domain, sorted by name. A missing `services/` folder is
/// an empty federation, not an error.
pub fn service_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let services_dir = dir.join("services");
    if !services_dir.is_dir() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(&services_dir).map_err(|source| SourceError::Io {
        path: services_dir.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SourceError::Io {
            path: services_dir.clone(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a source file (bounded in size).
pub fn read(path: &Path) -> Result<SourceFile, SourceError> {
    let io = |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_SOURCE_BYTES {
        return Err(SourceError::Invalid(vec![Diagnostic {
            file: path.to_path_buf(),
            line: None,
            message: format!("file too large ({len} bytes, at most {MAX_SOURCE_BYTES})"),
        }]));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    Ok(SourceFile {
        path: path.to_path_buf(),
        text,
    })
}

/// Parses one file into `T`; on error records a diagnostic with the line toml points at.
fn parse<T: DeserializeOwned>(file: &SourceFile, errors: &mut Vec<Diagnostic>) -> Option<T> {
    match toml::from_str::<T>(&file.text) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(toml_diagnostic(file, &e));
            None
        }
    }
}

/// A toml error as a diagnostic: its span's line, its message without toml's own excerpt.
pub fn toml_diagnostic(file: &SourceFile, e: &toml::de::Error) -> Diagnostic {
    Diagnostic {
        file: file.path.clone(),
        line: e
            .span()
            .map(|span| locate::line_of_offset(&file.text, span.start)),
        message: e.message().trim().to_owned(),
    }
}

fn read_certificate(
    dir: &Path,
    name: &str,
    file: &SourceFile,
    key: &str,
) -> Result<String, Diagnostic> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).map_err(|e| {
        file.error(
            key,
            format!("cannot read certificate {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests;
