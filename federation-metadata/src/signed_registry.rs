//! The compact signed registries the IdP loads instead of the XML aggregate: `registry.json`
//! (the whole [`Registry`]) and `cas-services.json` (the CAS members only), each with a
//! detached RSA-SHA256 signature over its exact bytes in a sibling `.sig` file.
//!
//! Opening one checks, in this order: the signature with the configured federation
//! certificate (before a single byte is parsed), then the JSON, then the validity window
//! (`issued_at <= now < valid_until`) and the format version. Parsing JSON is far cheaper in
//! time and memory than verifying and reading a large XML aggregate, which the issue allows.

use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::detached::{self, DetachedError};
use crate::model::{AttributeDefinition, Registry, Service, FORMAT_VERSION};

pub const REGISTRY_FILE: &str = "registry.json";
pub const CAS_REGISTRY_FILE: &str = "cas-services.json";

#[derive(Debug, thiserror::Error)]
pub enum SignedRegistryError {
    #[error("signature: {0}")]
    Signature(#[from] DetachedError),
    #[error("not a registry: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("not valid before {0}")]
    NotYetValid(OffsetDateTime),
    #[error("expired at {0}")]
    Expired(OffsetDateTime),
    #[error("format version {found}, this program reads {expected}")]
    FormatVersion { found: u32, expected: u32 },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} changed while it was read")]
    Changed(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The CAS service registry: the CAS members of one trust domain with their URL patterns,
/// proxy callbacks and releases, and the attribute catalogue those releases refer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasRegistry {
    pub format_version: u32,
    /// The trust domain's id.
    pub federation_id: String,
    pub attributes: Vec<AttributeDefinition>,
    pub services: Vec<Service>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

impl CasRegistry {
    /// The CAS part of `registry` (every CAS member, whatever its status: readers filter).
    pub fn from_registry(registry: &Registry) -> Self {
        Self {
            format_version: registry.format_version,
            federation_id: registry.federation.id.clone(),
            attributes: registry.attributes.clone(),
            services: registry
                .services
                .iter()
                .filter(|s| s.cas().is_some())
                .cloned()
                .collect(),
            issued_at: registry.issued_at,
            valid_until: registry.valid_until,
        }
    }
}

/// Something with a validity window and a format version.
pub trait Signed: Serialize + DeserializeOwned {
    fn window(&self) -> (OffsetDateTime, OffsetDateTime);
    fn format_version(&self) -> u32;
}

impl Signed for Registry {
    fn window(&self) -> (OffsetDateTime, OffsetDateTime) {
        (self.issued_at, self.valid_until)
    }
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

impl Signed for CasRegistry {
    fn window(&self) -> (OffsetDateTime, OffsetDateTime) {
        (self.issued_at, self.valid_until)
    }
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// `path` + `.sig`.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// The signed bytes of `value` and their signature file's content.
pub fn sign<T: Signed>(
    value: &T,
    key: &PKey<Private>,
) -> Result<(Vec<u8>, String), SignedRegistryError> {
    let bytes = serde_json::to_vec(value)?;
    let sig = detached::sign(&bytes, key)?;
    Ok((bytes, sig))
}

/// Writes `value` to `path` and its signature to `path.sig`, each through a temporary file
/// renamed into place, the signature last, so that a reader polling the folder never sees a
/// half-written file (it may see a new registry with the old signature for an instant, which
/// it refuses and then retries).
pub fn write_signed<T: Signed>(
    value: &T,
    path: &Path,
    key: &PKey<Private>,
) -> Result<u64, SignedRegistryError> {
    let (bytes, sig) = sign(value, key)?;
    write_atomic(path, &bytes)?;
    write_atomic(&signature_path(path), sig.as_bytes())?;
    Ok(bytes.len() as u64)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SignedRegistryError> {
    let err = |source| SignedRegistryError::Write {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Verifies `signature` over `bytes` with `cert`, then parses, then checks the window at
/// `now` and the format version.
pub fn open<T: Signed>(
    bytes: &[u8],
    signature: &[u8],
    cert: &X509,
    now: OffsetDateTime,
) -> Result<T, SignedRegistryError> {
    detached::verify(bytes, signature, cert)?;
    let value: T = serde_json::from_slice(bytes)?;
    if value.format_version() != FORMAT_VERSION {
        return Err(SignedRegistryError::FormatVersion {
            found: value.format_version(),
            expected: FORMAT_VERSION,
        });
    }
    check_window(value.window(), now)?;
    Ok(value)
}

/// Same as [`open`] for a file, without ever holding its bytes and its parsed form in
/// memory together: a first pass streams the file through the signature check (and a
/// SHA-256), a second parses it through the same SHA-256, and the result is used only if
/// both passes read the same bytes (a file rewritten in place in between is refused). Peak
/// memory is then about the parsed registry alone.
pub fn open_file<T: Signed>(
    path: &Path,
    signature: &[u8],
    cert: &X509,
    now: OffsetDateTime,
) -> Result<T, SignedRegistryError> {
    use std::io::Seek as _;
    let read_err = |source| SignedRegistryError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let verified = detached::verify_stream(&mut file, signature, cert)?;
    file.rewind().map_err(read_err)?;
    let mut reader = HashingReader {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        digest: openssl::sha::Sha256::new(),
    };
    let value: T = serde_json::from_reader(&mut reader)?;
    // `from_reader` stops at the end of the value after checking only whitespace follows;
    // drain the rest so that the digest covers the whole file.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(read_err)?;
    if reader.digest.finish() != verified {
        return Err(SignedRegistryError::Changed(path.to_owned()));
    }
    // The signature covered these bytes; the rest is as in `open`.
    if value.format_version() != FORMAT_VERSION {
        return Err(SignedRegistryError::FormatVersion {
            found: value.format_version(),
            expected: FORMAT_VERSION,
        });
    }
    check_window(value.window(), now)?;
    Ok(value)
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    digest: openssl::sha::Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// Tolerated difference between the compiling machine's clock and the reader's.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

/// `issued_at <= now < valid_until` (with [`CLOCK_SKEW`] on the start only: a registry is
/// never trusted after its end).
pub fn check_window(
    (issued_at, valid_until): (OffsetDateTime, OffsetDateTime),
    now: OffsetDateTime,
) -> Result<(), SignedRegistryError> {
    if now + CLOCK_SKEW < issued_at {
        return Err(SignedRegistryError::NotYetValid(issued_at));
    }
    if now >= valid_until {
        return Err(SignedRegistryError::Expired(valid_until));
    }
    Ok(())
}
