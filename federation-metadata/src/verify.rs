//! `fedmeta verify FILE`: checks a compiled artefact against the federation certificate.
//!
//! - XML (`metadata.xml`, or a single signed `EntityDescriptor`): the enveloped signature
//!   must cover the root (wrapping-safe checks of [`crate::xmlsig`]); then, reading only
//!   what the signature covered: a SAML metadata root, `validUntil` present and in the
//!   future, `creationInstant` not in the future, every entity with a unique entityID.
//! - JSON (`registry.json`, `cas-services.json`): the detached signature in `FILE.sig` over
//!   the exact bytes, then the structure and the validity window.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::keys::{self, KeyError};
use crate::metadata_writer::{MDRPI_NS, MD_NS};
use crate::model::Registry;
use crate::signed_registry::{self, CasRegistry, SignedRegistryError, CLOCK_SKEW};
use crate::xmlsig::{self, XmlSigError};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0}")]
    Signature(#[from] XmlSigError),
    #[error("{0}")]
    Registry(#[from] SignedRegistryError),
    #[error("not a valid metadata document: {0}")]
    Structure(String),
    #[error("expired: validUntil {0}")]
    Expired(String),
    #[error("issued in the future: creationInstant {0}")]
    NotYetValid(String),
}

/// Which artefact was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtefactKind {
    /// An `EntitiesDescriptor`.
    SamlAggregate,
    /// A single `EntityDescriptor`.
    SamlEntity,
    Registry,
    CasRegistry,
}

/// What a verified artefact holds.
#[derive(Debug, Clone)]
pub struct VerifySummary {
    pub kind: ArtefactKind,
    /// Aggregate `Name`, entityID, or trust-domain id.
    pub name: String,
    /// Entities (XML) or services (JSON).
    pub entries: usize,
    pub valid_until: String,
}

impl fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ArtefactKind::SamlAggregate => "SAML metadata aggregate",
            ArtefactKind::SamlEntity => "SAML entity metadata",
            ArtefactKind::Registry => "signed registry",
            ArtefactKind::CasRegistry => "signed CAS registry",
        };
        write!(
            f,
            "OK: {what} {}, {} entries, signature valid, valid until {}",
            self.name, self.entries, self.valid_until
        )
    }
}

/// Verifies the artefact at `path` with the federation certificate at `cert_pem`, at `now`.
pub fn verify_file(
    path: &Path,
    cert_pem: &Path,
    now: OffsetDateTime,
) -> Result<VerifySummary, VerifyError> {
    let cert = keys::load_certificate(cert_pem)?;
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| VerifyError::Read {
            path: p.to_owned(),
            source,
        })
    };
    let bytes = read(path)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first == Some(b'<') {
        let text = String::from_utf8(bytes)
            .map_err(|_| VerifyError::Structure("the file is not UTF-8".into()))?;
        return verify_xml(&text, &cert, now);
    }
    let signature = read(&signed_registry::signature_path(path))?;
    // The two registries differ by their fields (both deny unknown ones).
    match signed_registry::open::<Registry>(&bytes, &signature, &cert, now) {
        Ok(r) => Ok(VerifySummary {
            kind: ArtefactKind::Registry,
            name: r.federation.id,
            entries: r.services.len(),
            valid_until: r.valid_until.to_string(),
        }),
        Err(SignedRegistryError::Parse(first_error)) => {
            match signed_registry::open::<CasRegistry>(&bytes, &signature, &cert, now) {
                Ok(r) => Ok(VerifySummary {
                    kind: ArtefactKind::CasRegistry,
                    name: r.federation_id,
                    entries: r.services.len(),
                    valid_until: r.valid_until.to_string(),
                }),
                Err(SignedRegistryError::Parse(_)) => {
                    Err(SignedRegistryError::Parse(first_error).into())
                }
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Verifies signed SAML metadata (see the module doc) and summarises what was signed.
pub fn verify_xml(
    xml: &str,
    cert: &openssl::x509::X509,
    now: OffsetDateTime,
) -> Result<VerifySummary, VerifyError> {
    let verified = xmlsig::verify_enveloped(xml, cert)?;
    // From here on, only the signed content is read.
    inspect(&verified.xml, now)
}

fn structure(why: impl Into<String>) -> VerifyError {
    VerifyError::Structure(why.into())
}

fn attr(e: &BytesStart, name: &str) -> Result<Option<String>, VerifyError> {
    for a in e.attributes() {
        let a = a.map_err(|e| structure(e.to_string()))?;
        if a.key.as_ref() == name.as_bytes() {
            let value = a
                .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, e.decoder())
                .map_err(|e| structure(e.to_string()))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn parse_time(value: &str) -> Result<OffsetDateTime, VerifyError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map_err(|_| structure(format!("{value} is not a date and time")))
}

fn inspect(xml: &str, now: OffsetDateTime) -> Result<VerifySummary, VerifyError> {
    let mut reader = NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut kind = None;
    let mut name = String::new();
    let mut valid_until = None;
    let mut entity_ids = HashSet::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| structure(e.to_string()))?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let in_ns =
            |uri: &str| matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == uri.as_bytes());
        let local = e.local_name();
        let local = local.as_ref();
        if depth == 0 {
            if !in_ns(MD_NS) {
                return Err(structure("the root is not in the SAML metadata namespace"));
            }
            kind = Some(match local {
                b"EntitiesDescriptor" => ArtefactKind::SamlAggregate,
                b"EntityDescriptor" => ArtefactKind::SamlEntity,
                _ => {
                    return Err(structure(
                        "the root is not EntitiesDescriptor or EntityDescriptor",
                    ))
                }
            });
            let Some(until) = attr(&e, "validUntil")? else {
                return Err(structure("no validUntil on the root"));
            };
            if parse_time(&until)? <= now {
                return Err(VerifyError::Expired(until));
            }
            valid_until = Some(until);
            name = attr(&e, "Name")?
                .or(attr(&e, "entityID")?)
                .unwrap_or_default();
        }
        if in_ns(MD_NS) && local == b"EntityDescriptor" {
            let Some(id) = attr(&e, "entityID")? else {
                return Err(structure("an EntityDescriptor has no entityID"));
            };
            if !entity_ids.insert(id.clone()) {
                return Err(structure(format!("entityID {id} appears twice")));
            }
        }
        if in_ns(MDRPI_NS) && local == b"PublicationInfo" {
            if let Some(created) = attr(&e, "creationInstant")? {
                if parse_time(&created)? > now + CLOCK_SKEW {
                    return Err(VerifyError::NotYetValid(created));
                }
            }
        }
        if !empty {
            depth += 1;
        }
    }
    let Some(kind) = kind else {
        return Err(structure("no root element"));
    };
    Ok(VerifySummary {
        kind,
        name,
        entries: entity_ids.len(),
        valid_until: valid_until.unwrap_or_default(),
    })
}
