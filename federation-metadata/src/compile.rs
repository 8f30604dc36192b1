//! `fedmeta compile`: one trust domain's sources → the signed artefacts everyone trusts.
//!
//! Written to the output folder: `metadata.xml` (the SAML aggregate, enveloped signature by
//! the federation key), `registry.json` + `.sig` (what the IdP loads), `cas-services.json` +
//! `.sig` (the CAS members), `annex.md` and `annex.html` (the agreement annex). The key
//! must be the private half of the federation certificate named in the sources, so that
//! nothing is ever signed by a key readers will not trust.

use std::fmt;
use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::diagnostic::Diagnostic;
use crate::keys::{self, KeyError};
use crate::metadata_writer::{self, Envelope, IdpDescriptor, MetadataError};
use crate::model::Registry;
use crate::signed_registry::{self, CasRegistry, SignedRegistryError};
use crate::source::{self, SourceError};
use crate::xmlsig::{self, XmlSigError};

pub const METADATA_FILE: &str = "metadata.xml";
pub const ANNEX_MD_FILE: &str = "annex.md";
pub const ANNEX_HTML_FILE: &str = "annex.html";

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the domain is not valid:\n{}", crate::diagnostic::join(.0))]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the federation's signing certificate does not parse: {0}")]
    FederationCertificate(String),
    #[error("the signing key is not the federation certificate's key: refusing to sign")]
    KeyMismatch,
    #[error("writing the metadata: {0}")]
    Metadata(#[from] MetadataError),
    #[error("signing the metadata: {0}")]
    Sign(#[from] XmlSigError),
    #[error("writing a registry: {0}")]
    Registry(#[from] SignedRegistryError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a compilation produced.
#[derive(Debug, Clone)]
pub struct CompileSummary {
    pub domain: String,
    pub issued_at: OffsetDateTime,
    pub valid_until: OffsetDateTime,
    /// Files written, with their sizes in bytes.
    pub files: Vec<(PathBuf, u64)>,
    /// entityIDs in the aggregate (the IdP first).
    pub saml_entities: Vec<String>,
    /// SAML services left out of the aggregate (pending, not started or gone at compile
    /// time), with their status. They stay in `registry.json`, where the IdP filters by date.
    pub left_out: Vec<(String, String)>,
    /// CAS members in `cas-services.json` (the IdP filters them by date too).
    pub cas_services: usize,
}

impl fmt::Display for CompileSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rfc3339 = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        writeln!(
            f,
            "trust domain {}: issued {}, valid until {}",
            self.domain,
            rfc3339(self.issued_at),
            rfc3339(self.valid_until)
        )?;
        writeln!(
            f,
            "SAML aggregate: {} entities (the IdP and {} services)",
            self.saml_entities.len(),
            self.saml_entities.len().saturating_sub(1)
        )?;
        for (entity, status) in &self.left_out {
            writeln!(f, "  left out: {entity} ({status})")?;
        }
        writeln!(f, "CAS registry: {} services", self.cas_services)?;
        for (path, size) in &self.files {
            writeln!(f, "  wrote {} ({size} bytes)", path.display())?;
        }
        Ok(())
    }
}

/// Loads and validates the domain in `domain_dir`, stamps it at `now` (valid for the
/// federation's `publication.validity_days`), and writes every artefact to `out_dir` signed
/// with the PEM key at `key_pem`.
pub fn compile_domain(
    domain_dir: &Path,
    key_pem: &Path,
    out_dir: &Path,
    now: OffsetDateTime,
) -> Result<CompileSummary, CompileError> {
    let key = keys::load_private_key(key_pem)?;
    let domain = source::load_domain(domain_dir)?;
    crate::validate::validate(&domain, now.date()).map_err(CompileError::Invalid)?;
    let registry = domain.to_registry(now.replace_nanosecond(0).unwrap_or(now));
    compile_registry(&registry, &key, out_dir)
}

/// Writes every artefact of an already validated `registry` to `out_dir`.
pub fn compile_registry(
    registry: &Registry,
    key: &PKey<Private>,
    out_dir: &Path,
) -> Result<CompileSummary, CompileError> {
    let cert = X509::from_pem(registry.federation.signing_certificate_pem.as_bytes())
        .map_err(|e| CompileError::FederationCertificate(e.to_string()))?;
    if !keys::key_matches(key, &cert) {
        return Err(CompileError::KeyMismatch);
    }
    let cert_der = cert
        .to_der()
        .map_err(|e| CompileError::FederationCertificate(e.to_string()))?;
    std::fs::create_dir_all(out_dir).map_err(|source| CompileError::Write {
        path: out_dir.to_owned(),
        source,
    })?;
    let mut files = Vec::new();

    // The SAML aggregate.
    let idp = &registry.identity_provider;
    let idp_cert = if idp.signing_certificate_pem.trim().is_empty() {
        registry.federation.signing_certificate_pem.as_str()
    } else {
        idp.signing_certificate_pem.as_str()
    };
    let descriptor = IdpDescriptor {
        entity_id: &idp.entity_id,
        base_url: idp.base_url.trim_end_matches('/'),
        signing_certs_b64: vec![metadata_writer::pem_body(idp_cert)],
        organisation: Some(&idp.organisation),
        contacts: &idp.contacts,
        lang: &registry.federation.publication.lang,
    };
    let id = aggregate_id(registry.issued_at);
    let envelope = Envelope {
        id: &id,
        valid_until: registry.valid_until,
        cache_duration_hours: registry.federation.publication.cache_duration_hours,
        signer_cert_der: &cert_der,
    };
    let (unsigned, contents) = metadata_writer::aggregate(registry, &descriptor, &envelope)?;
    let signed = xmlsig::sign_enveloped(&unsigned, key)?;
    drop(unsigned);
    files.push(write(&out_dir.join(METADATA_FILE), signed.as_bytes())?);
    drop(signed);

    // The compact registries.
    let path = out_dir.join(signed_registry::REGISTRY_FILE);
    let size = signed_registry::write_signed(registry, &path, key)?;
    files.push((path, size));
    let cas = CasRegistry::from_registry(registry);
    let path = out_dir.join(signed_registry::CAS_REGISTRY_FILE);
    let size = signed_registry::write_signed(&cas, &path, key)?;
    files.push((path, size));

    // The annex.
    files.push(write(
        &out_dir.join(ANNEX_MD_FILE),
        crate::annex::render_markdown(registry).as_bytes(),
    )?);
    files.push(write(
        &out_dir.join(ANNEX_HTML_FILE),
        crate::annex::render_html(registry).as_bytes(),
    )?);

    tracing::info!(
        domain = %registry.federation.id,
        entities = contents.entities.len(),
        left_out = contents.left_out.len(),
        cas = cas.services.len(),
        "compiled"
    );
    Ok(CompileSummary {
        domain: registry.federation.id.clone(),
        issued_at: registry.issued_at,
        valid_until: registry.valid_until,
        files,
        saml_entities: contents.entities,
        left_out: contents.left_out,
        cas_services: cas.services.len(),
    })
}

/// An XML `ID` (an NCName) naming this publication.
fn aggregate_id(issued_at: OffsetDateTime) -> String {
    let mut random = [0u8; 8];
    // Uniqueness across publications only; a failure of the RNG leaves zeros, still valid.
    let _ = openssl::rand::rand_bytes(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("_fed{}{hex}", issued_at.unix_timestamp())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(PathBuf, u64), CompileError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| CompileError::Write {
            path: path.to_owned(),
            source,
        })?;
    Ok((path.to_owned(), bytes.len() as u64))
}
