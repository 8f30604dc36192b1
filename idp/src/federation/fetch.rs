//! Getting a trust domain's `registry.json` and its `.sig`: from a file (reread only when its
//! modification time or size changed) or from an `http(s)://` URL (a conditional GET with
//! `If-None-Match` / `If-Modified-Since`, so an unchanged registry costs one small request).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The largest registry accepted (10,000 services take a few tens of MB).
const MAX_REGISTRY_BYTES: u64 = 512 * 1024 * 1024;
const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// What tells whether the registry changed since the last look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamp {
    files: Option<[(Option<SystemTime>, u64); 2]>,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// A fetched registry: where its exact bytes are, and its signature file's content.
pub struct Fetched {
    pub registry: Body,
    pub signature: Vec<u8>,
    pub stamp: Stamp,
}

/// A registry's bytes: a local file is read by the verifier itself, in two streaming passes
/// (see `signed_registry::open_file`), so that its bytes and its parsed form are never in
/// memory together.
pub enum Body {
    File(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_REGISTRY_BYTES} bytes")]
    TooLarge { path: String },
    #[error("fetching {url}: {reason}")]
    Http { url: String, reason: String },
}

/// Where a registry comes from.
pub enum Location {
    File(PathBuf),
    Url { url: String, agent: ureq::Agent },
}

impl Location {
    pub fn parse(registry: &str) -> Self {
        if registry.starts_with("https://") || registry.starts_with("http://") {
            let tls = ureq::tls::TlsConfig::builder()
                .provider(ureq::tls::TlsProvider::NativeTls)
                .build();
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .tls_config(tls)
                .timeout_global(Some(Duration::from_secs(60)))
                .http_status_as_error(false)
                .build()
                .into();
            Self::Url {
                url: registry.to_owned(),
                agent,
            }
        } else {
            Self::File(PathBuf::from(registry))
        }
    }

    /// The registry and its signature if they changed since `previous`, `None` if not.
    pub fn fetch_if_changed(&self, previous: &Stamp) -> Result<Option<Fetched>, FetchError> {
        match self {
            Self::File(path) => fetch_file(path, previous),
            Self::Url { url, agent } => fetch_url(agent, url, previous),
        }
    }
}

fn signature_path(path: &std::path::Path) -> PathBuf {
    federation_metadata::signed_registry::signature_path(path)
}

fn file_stamp(path: &std::path::Path) -> (Option<SystemTime>, u64) {
    std::fs::metadata(path)
        .map(|m| (m.modified().ok(), m.len()))
        .unwrap_or((None, 0))
}

fn read_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, FetchError> {
    let len = std::fs::metadata(path)
        .map_err(|source| FetchError::Read {
            path: path.to_owned(),
            source,
        })?
        .len();
    if len > limit {
        return Err(FetchError::TooLarge {
            path: path.display().to_string(),
        });
    }
    std::fs::read(path).map_err(|source| FetchError::Read {
        path: path.to_owned(),
        source,
    })
}

fn fetch_file(path: &std::path::Path, previous: &Stamp) -> Result<Option<Fetched>, FetchError> {
    let sig = signature_path(path);
    let files = [file_stamp(path), file_stamp(&sig)];
    if previous.files == Some(files) {
        return Ok(None);
    }
    let stamp = Stamp {
        files: Some(files),
        ..Stamp::default()
    };
    let len = std::fs::metadata(path)
        .map_err(|source| FetchError::Read {
            path: path.to_owned(),
            source,
        })?
        .len();
    if len > MAX_REGISTRY_BYTES {
        return Err(FetchError::TooLarge {
            path: path.display().to_string(),
        });
    }
    Ok(Some(Fetched {
        registry: Body::File(path.to_owned()),
        signature: read_limited(&sig, MAX_SIGNATURE_BYTES)?,
        stamp,
    }))
}

fn http_error(url: &str, reason: impl std::fmt::Display) -> FetchError {
    FetchError::Http {
        url: url.to_owned(),
        reason: reason.to_string(),
    }
}

fn fetch_url(
    agent: &ureq::Agent,
    url: &str,
    previous: &Stamp,
) -> Result<Option<Fetched>, FetchError> {
    let mut request = agent.get(url);
    if let Some(etag) = &previous.etag {
        request = request.header("If-None-Match", etag);
    }
    if let Some(lm) = &previous.last_modified {
        request = request.header("If-Modified-Since", lm);
    }
    let mut response = request.call().map_err(|e| http_error(url, e))?;
    match response.status().as_u16() {
        304 => return Ok(None),
        200 => {}
        other => return Err(http_error(url, format!("status {other}"))),
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let stamp = Stamp {
        files: None,
        etag: header("etag"),
        last_modified: header("last-modified"),
    };
    let registry = response
        .body_mut()
        .with_config()
        .limit(MAX_REGISTRY_BYTES)
        .read_to_vec()
        .map_err(|e| http_error(url, e))?;
    // The signature is fetched after the registry: when both change between the two
    // requests, the pair does not verify and the next round fetches them again.
    let sig_url = format!("{url}.sig");
    let mut sig_response = agent
        .get(&sig_url)
        .call()
        .map_err(|e| http_error(&sig_url, e))?;
    if sig_response.status().as_u16() != 200 {
        return Err(http_error(
            &sig_url,
            format!("status {}", sig_response.status().as_u16()),
        ));
    }
    let signature = sig_response
        .body_mut()
        .with_config()
        .limit(MAX_SIGNATURE_BYTES)
        .read_to_vec()
        .map_err(|e| http_error(&sig_url, e))?;
    Ok(Some(Fetched {
        registry: Body::Bytes(registry),
        signature,
        stamp,
    }))
}
