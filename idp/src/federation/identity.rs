//! The IdP's own SAML identity: its entityID, base URL and signing key pair.
//!
//! With `saml.signing_key` / `saml.signing_cert` unset, a self-signed RSA-2048 pair is made
//! on first start in `<data>/saml/idp-signing.{key,crt}` (key mode 0600) and reused after,
//! so that `idp serve` with no configuration publishes stable, signed metadata.

use std::path::PathBuf;

use federation_metadata::keys;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::settings::Settings;

/// Validity of a generated certificate: ten years (SAML trusts the key in metadata, not
/// the certificate's dates; rotation goes through metadata).
const GENERATED_CERT_DAYS: u32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("IdP signing key: {0}")]
    Key(#[from] keys::KeyError),
    #[error("the IdP signing key {key} does not match the certificate {cert}")]
    Mismatch { key: PathBuf, cert: PathBuf },
}

pub struct IdpIdentity {
    pub entity_id: String,
    /// Public base URL without a trailing `/`.
    pub base_url: String,
    pub key: PKey<Private>,
    pub certificate: X509,
    pub certificate_der: Vec<u8>,
}

impl IdpIdentity {
    /// Loads the configured pair, or the generated one (making it on first start).
    pub fn from_settings(settings: &Settings) -> Result<Self, IdentityError> {
        let (key_path, cert_path) = if settings.saml.signing_key.as_os_str().is_empty() {
            let dir = settings.data_dir().join("saml");
            let pair = (dir.join("idp-signing.key"), dir.join("idp-signing.crt"));
            if !pair.0.exists() || !pair.1.exists() {
                let entity_id = settings.saml.entity_id(&settings.server);
                let (key, cert) = keys::generate_self_signed(&entity_id, GENERATED_CERT_DAYS)?;
                keys::write_pair(&key, &cert, &pair.0, &pair.1)?;
                tracing::info!(
                    key = %pair.0.display(),
                    certificate = %pair.1.display(),
                    "generated a self-signed SAML signing key for the IdP"
                );
            }
            pair
        } else {
            (
                settings.saml.signing_key.clone(),
                settings.saml.signing_cert.clone(),
            )
        };
        let key = keys::load_private_key(&key_path)?;
        let certificate = keys::load_certificate(&cert_path)?;
        if !keys::key_matches(&key, &certificate) {
            return Err(IdentityError::Mismatch {
                key: key_path,
                cert: cert_path,
            });
        }
        let certificate_der = certificate.to_der().map_err(keys::KeyError::from)?;
        Ok(Self {
            entity_id: settings.saml.entity_id(&settings.server),
            base_url: settings.server.public_url.trim_end_matches('/').to_owned(),
            key,
            certificate,
            certificate_der,
        })
    }
}
