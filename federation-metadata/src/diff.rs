//! What changed between two versions of a trust domain.
//!
//! `fedmeta diff OLD NEW` takes two compiled registries (`registry.json`) or two domain
//! folders (or one of each) and lists, one line each, what a federation administrator or an
//! auditor needs to see before publishing: members added or removed, membership and dates,
//! attributes released (added, removed, changed), certificates (by SHA-256 fingerprint),
//! endpoints, signing options, CAS patterns, catalogue and federation settings. Free texts
//! (commitments, descriptions) are reported as "changed" without the text itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use openssl::hash::MessageDigest;
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::model::{dates, Agreement, Registry, Release, Service};
use crate::source::{self, SourceError};

/// One change: where (federation, idp, catalogue, service `id`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub scope: String,
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.scope, self.what)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a compiled registry: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Loads each side (a folder is a source domain, a file a compiled `registry.json`) and
/// diffs them.
pub fn diff_paths(old: &Path, new: &Path) -> Result<Vec<Change>, DiffError> {
    let (a, a_compiled) = load_side(old)?;
    let (b, b_compiled) = load_side(new)?;
    let mut changes = diff_registries(&a, &b);
    if a_compiled && b_compiled && a.valid_until != b.valid_until {
        changes.insert(
            0,
            Change {
                scope: "registry".into(),
                what: format!(
                    "valid until {} -> {}",
                    rfc3339(a.valid_until),
                    rfc3339(b.valid_until)
                ),
            },
        );
    }
    Ok(changes)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn load_side(path: &Path) -> Result<(Registry, bool), DiffError> {
    if path.is_dir() {
        // A source folder has no timestamps: stamp both sides alike so they never differ.
        let domain = source::load_domain(path)?;
        return Ok((domain.to_registry(OffsetDateTime::UNIX_EPOCH), false));
    }
    let bytes = std::fs::read(path).map_err(|source| DiffError::Read {
        path: path.to_owned(),
        source,
    })?;
    let registry = serde_json::from_slice(&bytes).map_err(|source| DiffError::Parse {
        path: path.to_owned(),
        source,
    })?;
    Ok((registry, true))
}

/// Every change from `old` to `new`, in a stable order: federation, IdP, catalogue, then
/// services by id.
pub fn diff_registries(old: &Registry, new: &Registry) -> Vec<Change> {
    let mut out = Out::default();
    federation(&mut out, old, new);
    identity_provider(&mut out, old, new);
    catalogue(&mut out, old, new);
    services(&mut out, old, new);
    out.changes
}

#[derive(Default)]
struct Out {
    changes: Vec<Change>,
}

impl Out {
    fn push(&mut self, scope: &str, what: impl Into<String>) {
        self.changes.push(Change {
            scope: scope.to_owned(),
            what: what.into(),
        });
    }

    /// A field that changed, shown as `label: old -> new`.
    fn field<T: PartialEq + fmt::Debug>(&mut self, scope: &str, label: &str, a: &T, b: &T) {
        if a != b {
            self.push(scope, format!("{label}: {a:?} -> {b:?}"));
        }
    }

    /// A free text that changed, without its content.
    fn text<T: PartialEq>(&mut self, scope: &str, label: &str, a: &T, b: &T) {
        if a != b {
            self.push(scope, format!("{label} changed"));
        }
    }

    /// Items added and removed between two lists, by a display key.
    fn set(&mut self, scope: &str, label: &str, a: &[String], b: &[String]) {
        for x in b.iter().filter(|x| !a.contains(x)) {
            self.push(scope, format!("{label} added: {x}"));
        }
        for x in a.iter().filter(|x| !b.contains(x)) {
            self.push(scope, format!("{label} removed: {x}"));
        }
    }
}

fn federation(out: &mut Out, old: &Registry, new: &Registry) {
    let (a, b) = (&old.federation, &new.federation);
    let s = "federation";
    out.field(s, "id", &a.id, &b.id);
    out.field(s, "name", &a.name, &b.name);
    out.field(s, "demo", &a.demo, &b.demo);
    out.text(s, "operator", &a.operator, &b.operator);
    out.text(s, "parties", &a.parties, &b.parties);
    out.set(
        s,
        "académie",
        &a.perimeter.academies,
        &b.perimeter.academies,
    );
    let uai = |f: &crate::model::Federation| -> Vec<String> {
        f.perimeter
            .establishments
            .iter()
            .map(|e| format!("{} {}", e.uai, e.name))
            .collect()
    };
    out.set(s, "establishment", &uai(a), &uai(b));
    out.text(s, "standards", &a.standards, &b.standards);
    out.text(s, "security rules", &a.security_rules, &b.security_rules);
    out.text(s, "governance", &a.governance, &b.governance);
    out.text(
        s,
        "mutual commitments",
        &a.mutual_commitments,
        &b.mutual_commitments,
    );
    out.text(s, "costs", &a.costs, &b.costs);
    out.field(s, "default terms", &a.default_terms, &b.default_terms);
    out.field(s, "publication", &a.publication, &b.publication);
    out.set(
        s,
        "signing certificate",
        &fingerprints(std::slice::from_ref(&a.signing_certificate_pem)),
        &fingerprints(std::slice::from_ref(&b.signing_certificate_pem)),
    );
}

fn identity_provider(out: &mut Out, old: &Registry, new: &Registry) {
    let (a, b) = (&old.identity_provider, &new.identity_provider);
    let s = "idp";
    out.field(s, "entityID", &a.entity_id, &b.entity_id);
    out.field(s, "base URL", &a.base_url, &b.base_url);
    out.field(s, "name", &a.name, &b.name);
    out.text(s, "organisation", &a.organisation, &b.organisation);
    out.text(s, "contacts", &a.contacts, &b.contacts);
    out.text(s, "commitments", &a.commitments, &b.commitments);
    out.set(
        s,
        "signing certificate",
        &fingerprints(std::slice::from_ref(&a.signing_certificate_pem)),
        &fingerprints(std::slice::from_ref(&b.signing_certificate_pem)),
    );
}

fn catalogue(out: &mut Out, old: &Registry, new: &Registry) {
    let s = "catalogue";
    let a: BTreeMap<_, _> = old.attributes.iter().map(|x| (x.id.as_str(), x)).collect();
    let b: BTreeMap<_, _> = new.attributes.iter().map(|x| (x.id.as_str(), x)).collect();
    for (id, def) in &b {
        match a.get(id) {
            None => out.push(s, format!("attribute added: {id} ({:?})", def.derives_from)),
            Some(old_def) if old_def != def => {
                if old_def.derives_from != def.derives_from {
                    out.push(
                        s,
                        format!(
                            "attribute {id}: derives from {:?} -> {:?}",
                            old_def.derives_from, def.derives_from
                        ),
                    );
                } else {
                    out.push(s, format!("attribute {id} changed"));
                }
            }
            Some(_) => {}
        }
    }
    for id in a.keys().filter(|id| !b.contains_key(*id)) {
        out.push(s, format!("attribute removed: {id}"));
    }
}

fn services(out: &mut Out, old: &Registry, new: &Registry) {
    let a: BTreeMap<_, _> = old.services.iter().map(|x| (x.id.as_str(), x)).collect();
    let b: BTreeMap<_, _> = new.services.iter().map(|x| (x.id.as_str(), x)).collect();
    let mut ids: Vec<&str> = a.keys().chain(b.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        let scope = format!("service {id}");
        match (a.get(id), b.get(id)) {
            (None, Some(s)) => out.push(
                &scope,
                format!(
                    "member added ({}, {:?}, releases: {})",
                    protocol_name(s),
                    s.membership,
                    release_names(&s.releases)
                ),
            ),
            (Some(_), None) => out.push(&scope, "member removed"),
            (Some(x), Some(y)) => service(out, &scope, x, y),
            (None, None) => {}
        }
    }
}

fn protocol_name(s: &Service) -> &'static str {
    if s.saml().is_some() {
        "SAML"
    } else {
        "CAS"
    }
}

fn release_names(r: &[Release]) -> String {
    if r.is_empty() {
        return "none".into();
    }
    r.iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn service(out: &mut Out, s: &str, a: &Service, b: &Service) {
    out.field(s, "name", &a.name, &b.name);
    out.field(s, "membership", &a.membership, &b.membership);
    agreement(out, s, &a.agreement, &b.agreement);
    out.text(s, "description", &a.description, &b.description);
    out.text(s, "organisation", &a.organisation, &b.organisation);
    out.text(s, "contacts", &a.contacts, &b.contacts);
    out.text(s, "commitments", &a.commitments, &b.commitments);
    out.text(s, "costs", &a.costs, &b.costs);
    out.text(s, "UI information", &a.ui, &b.ui);
    releases(out, s, &a.releases, &b.releases);
    match (&a.protocol, &b.protocol) {
        (crate::model::Protocol::Saml(x), crate::model::Protocol::Saml(y)) => {
            out.field(s, "entityID", &x.entity_id, &y.entity_id);
            let acs = |v: &crate::model::SamlSettings| -> Vec<String> {
                v.assertion_consumer_services
                    .iter()
                    .map(|e| format!("{} [{}] {:?}", e.location, e.index, e.binding))
                    .collect()
            };
            out.set(s, "AssertionConsumerService", &acs(x), &acs(y));
            let slo = |v: &crate::model::SamlSettings| -> Vec<String> {
                v.single_logout_services
                    .iter()
                    .map(|e| format!("{} {:?}", e.location, e.binding))
                    .collect()
            };
            out.set(s, "SingleLogoutService", &slo(x), &slo(y));
            out.set(
                s,
                "signing certificate",
                &fingerprints(&x.signing_certificates),
                &fingerprints(&y.signing_certificates),
            );
            out.set(
                s,
                "encryption certificate",
                &fingerprints(&x.encryption_certificates),
                &fingerprints(&y.encryption_certificates),
            );
            out.field(
                s,
                "AuthnRequestsSigned",
                &x.authn_requests_signed,
                &y.authn_requests_signed,
            );
            out.field(
                s,
                "WantAssertionsSigned",
                &x.want_assertions_signed,
                &y.want_assertions_signed,
            );
            out.field(s, "sign assertion", &x.sign_assertion, &y.sign_assertion);
            out.field(s, "sign response", &x.sign_response, &y.sign_response);
            out.field(
                s,
                "signature algorithm",
                &x.signature_algorithm,
                &y.signature_algorithm,
            );
            out.field(s, "allow SHA-1", &x.allow_sha1, &y.allow_sha1);
            out.field(
                s,
                "encrypt assertion",
                &x.encrypt_assertion,
                &y.encrypt_assertion,
            );
            out.field(s, "NameID format", &x.name_id_format, &y.name_id_format);
            out.field(
                s,
                "NameID attribute",
                &x.name_id_attribute,
                &y.name_id_attribute,
            );
            out.field(
                s,
                "IdP-initiated SSO",
                &x.allow_idp_initiated,
                &y.allow_idp_initiated,
            );
        }
        (crate::model::Protocol::Cas(x), crate::model::Protocol::Cas(y)) => {
            let pats = |v: &crate::model::CasSettings| -> Vec<String> {
                v.service_patterns
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect()
            };
            out.set(s, "CAS service pattern", &pats(x), &pats(y));
            out.set(s, "proxy callback", &x.proxy_callbacks, &y.proxy_callbacks);
            out.field(
                s,
                "cas:user attribute",
                &x.user_attribute,
                &y.user_attribute,
            );
            out.field(s, "single logout", &x.single_logout, &y.single_logout);
        }
        _ => out.push(
            s,
            format!("protocol: {} -> {}", protocol_name(a), protocol_name(b)),
        ),
    }
}

fn agreement(out: &mut Out, s: &str, a: &Agreement, b: &Agreement) {
    let d = |x: Option<time::Date>| x.map(dates::format).unwrap_or_else(|| "none".into());
    if a.requested_on != b.requested_on {
        out.push(
            s,
            format!(
                "requested on: {} -> {}",
                d(a.requested_on),
                d(b.requested_on)
            ),
        );
    }
    if a.signed_on != b.signed_on {
        out.push(
            s,
            format!("signed on: {} -> {}", d(a.signed_on), d(b.signed_on)),
        );
    }
    if a.start != b.start {
        out.push(s, format!("start: {} -> {}", d(a.start), d(b.start)));
    }
    out.field(s, "terms", &a.terms, &b.terms);
    for r in b.renewals.iter().filter(|r| !a.renewals.contains(r)) {
        out.push(
            s,
            format!(
                "renewal added: on {} for {} months",
                dates::format(r.on),
                r.months
            ),
        );
    }
    for r in a.renewals.iter().filter(|r| !b.renewals.contains(r)) {
        out.push(
            s,
            format!(
                "renewal removed: on {} for {} months",
                dates::format(r.on),
                r.months
            ),
        );
    }
    match (&a.termination, &b.termination) {
        (None, Some(t)) => out.push(
            s,
            format!(
                "leave recorded: requested {}, leaving on {}, access until {}",
                dates::format(t.requested_on),
                dates::format(t.on),
                d(b.termination_end())
            ),
        ),
        (Some(_), None) => out.push(s, "leave withdrawn"),
        (Some(x), Some(y)) if x != y => out.push(
            s,
            format!(
                "leave changed: access until {} -> {}",
                d(a.termination_end()),
                d(b.termination_end())
            ),
        ),
        _ => {}
    }
}

fn releases(out: &mut Out, s: &str, a: &[Release], b: &[Release]) {
    for r in b {
        match a.iter().find(|x| x.name == r.name) {
            None => out.push(
                s,
                format!(
                    "attribute released: {} (from {}, {})",
                    r.name,
                    r.source,
                    if r.required { "required" } else { "optional" }
                ),
            ),
            Some(old) if old != r => {
                let mut parts = Vec::new();
                if old.source != r.source {
                    parts.push(format!("source {} -> {}", old.source, r.source));
                }
                if old.format != r.format || old.join_with != r.join_with {
                    parts.push("format changed".to_owned());
                }
                if old.required != r.required {
                    parts.push(format!("required {} -> {}", old.required, r.required));
                }
                if old.name_format != r.name_format || old.friendly_name != r.friendly_name {
                    parts.push("SAML naming changed".to_owned());
                }
                if old.purpose != r.purpose {
                    parts.push("purpose changed".to_owned());
                }
                out.push(s, format!("attribute {}: {}", r.name, parts.join(", ")));
            }
            Some(_) => {}
        }
    }
    for r in a.iter().filter(|x| b.iter().all(|y| y.name != x.name)) {
        out.push(s, format!("attribute no longer released: {}", r.name));
    }
}

/// SHA-256 fingerprints (first 16 bytes, hex) of PEM certificates; an unparsable one is
/// shown as such, an empty one skipped.
fn fingerprints(pems: &[String]) -> Vec<String> {
    pems.iter()
        .filter(|p| !p.trim().is_empty())
        .map(|pem| {
            X509::from_pem(pem.trim().as_bytes())
                .and_then(|c| c.digest(MessageDigest::sha256()))
                .map(|d| {
                    let hex: Vec<String> = d.iter().take(16).map(|b| format!("{b:02X}")).collect();
                    format!("SHA-256 {}…", hex.join(":"))
                })
                .unwrap_or_else(|_| "unparsable certificate".to_owned())
        })
        .collect()
}
