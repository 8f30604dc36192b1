//! Keys and certificates (PEM files, openssl): loading the federation's signing key and
//! certificate, checking that they belong together, and making a self-signed RSA-2048 pair
//! (the IdP's zero-setup signing key, the demo federation, tests and benchmarks).

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a PEM {what}: {reason}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("the signing key does not match the certificate {0}")]
    Mismatch(PathBuf),
    #[error("openssl: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A PEM private key (PKCS#8 or traditional RSA).
pub fn load_private_key(path: &Path) -> Result<PKey<Private>, KeyError> {
    PKey::private_key_from_pem(&read(path)?).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        what: "private key",
        reason: e.to_string(),
    })
}

/// A PEM X.509 certificate (the first one of the file).
pub fn load_certificate(path: &Path) -> Result<X509, KeyError> {
    X509::from_pem(&read(path)?).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        what: "certificate",
        reason: e.to_string(),
    })
}

/// Whether `key` is the private half of `cert`'s public key.
pub fn key_matches(key: &PKey<Private>, cert: &X509) -> bool {
    cert.public_key().is_ok_and(|public| public.public_eq(key))
}

/// A new RSA-2048 key and a self-signed SHA-256 certificate for `common_name`, valid from
/// now for `days` days.
pub fn generate_self_signed(
    common_name: &str,
    days: u32,
) -> Result<(PKey<Private>, X509), KeyError> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(days)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok((key, builder.build()))
}

/// Writes `key` (PKCS#8 PEM, mode 0600 on Unix) and `cert` (PEM) to the given paths,
/// creating their folders.
pub fn write_pair(
    key: &PKey<Private>,
    cert: &X509,
    key_path: &Path,
    cert_path: &Path,
) -> Result<(), KeyError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyError::Read { path, source }
    };
    for p in [key_path, cert_path] {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
    }
    let pem = key.private_key_to_pem_pkcs8()?;
    write_private(key_path, &pem).map_err(io(key_path))?;
    std::fs::write(cert_path, cert.to_pem()?).map_err(io(cert_path))?;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    // Created 0600 from the start, so the key is never readable by others even briefly.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
