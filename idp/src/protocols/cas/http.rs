//! The outgoing HTTP of the CAS server: `pgtUrl` callbacks and back-channel logout
//! requests, with short timeouts, no redirects followed, and optionally extra trusted CAs.

use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("cas.proxy_callback_ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
}

/// An agent with `timeout` and, when `ca_file` is set, its certificates as trust roots.
pub fn agent(ca_file: &Path, timeout: Duration) -> Result<ureq::Agent, HttpSetupError> {
    let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::NativeTls);
    if ca_file.as_os_str().is_empty() {
        tls = tls.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    } else {
        let err = |reason: String| HttpSetupError::CaFile {
            path: ca_file.display().to_string(),
            reason,
        };
        let pem = std::fs::read(ca_file).map_err(|e| err(e.to_string()))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| err(e.to_string()))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(err("no certificate in the file".into()));
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into())
}
