//! NameID values. Transient: opaque, per SP and SSO session. Persistent: opaque, stable per
//! person and SP and different for each SP (HMAC-SHA256 under a secret of the IdP, over the
//! SP's entityID and the person's key, base64url), so services cannot correlate people.
//! The secret is 32 random bytes made once in `<data>/saml/nameid-secret` (mode 0600) and
//! kept, so persistent identifiers survive restarts (losing it changes them all).

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The IdP's identifier secret, as an HMAC-SHA256 state keyed once (RustCrypto `hmac`:
/// under 1 µs per HMAC, where OpenSSL 3's `EVP_DigestSignInit` cost about 9 µs per call even
/// with the key made once). Standard HMAC (RFC 2104): the same bytes as before.
pub struct NameIdSecret(Option<Hmac<Sha256>>);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("NameID secret {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("NameID secret {0}: too short")]
    Short(String),
}

impl NameIdSecret {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        // HMAC takes a key of any length (longer than a block: hashed first): never `None`.
        Self(<Hmac<Sha256>>::new_from_slice(&bytes).ok())
    }

    /// Loads the secret at `path`, making it (0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        if !path.exists() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut raw = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
            let text = base64::engine::general_purpose::STANDARD.encode(raw);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(path) {
                Ok(mut f) => std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)?,
                // Another process made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .unwrap_or_default();
        if raw.len() < 16 {
            return Err(SecretError::Short(path.display().to_string()));
        }
        Ok(Self::from_bytes(raw))
    }

    fn hmac(&self, parts: &[&str]) -> String {
        let Some(key) = &self.0 else {
            return String::new();
        };
        // The keyed state (inner and outer pads already hashed) is cloned per call.
        let mut m = key.clone();
        for p in parts {
            // Length-prefixed so that no two part lists give the same input.
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p.as_bytes());
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    /// The persistent identifier of `person` at SP `sp`.
    pub fn persistent(&self, sp: &str, person: &str) -> String {
        self.hmac(&["persistent", sp, person])
    }

    /// The transient identifier for SSO session `session_ref` at SP `sp`.
    pub fn transient(&self, sp: &str, session_ref: &str) -> String {
        format!("_{}", self.hmac(&["transient", sp, session_ref]))
    }

    /// The SessionIndex given to SP `sp` for session `session_ref`.
    pub fn session_index(&self, sp: &str, session_ref: &str) -> String {
        format!("_{}", self.hmac(&["session-index", sp, session_ref]))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn persistent_is_stable_across_restarts_and_differs_per_sp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("saml/nameid-secret");
        let a = NameIdSecret::load_or_create(&path).unwrap();
        let b = NameIdSecret::load_or_create(&path).unwrap();
        assert_eq!(a.persistent("sp1", "p1"), b.persistent("sp1", "p1"));
        assert_ne!(a.persistent("sp1", "p1"), a.persistent("sp2", "p1"));
        assert_ne!(a.persistent("sp1", "p1"), a.persistent("sp1", "p2"));
        // Opaque: the person's key does not show (a key too long to appear by chance; "p1"
        // did, about once in a hundred secrets).
        assert!(!a
            .persistent("sp1", "02$5001-lea-dupont")
            .contains("5001-lea"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = NameIdSecret::from_bytes(vec![7; 32]);
        assert_ne!(a.persistent("sp1", "p1"), other.persistent("sp1", "p1"));
    }

    /// The former implementation (OpenSSL's HMAC through `Signer`), kept here so that the
    /// identifiers already given out (persistent NameIDs) are shown unchanged.
    fn openssl_hmac(secret: &[u8], parts: &[&str]) -> String {
        use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
        let key = PKey::hmac(secret).unwrap();
        let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
        for p in parts {
            s.update(&(p.len() as u64).to_be_bytes()).unwrap();
            s.update(p.as_bytes()).unwrap();
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.sign_to_vec().unwrap())
    }

    #[test]
    fn same_identifiers_as_the_former_openssl_hmac() {
        // A fixed value (also Python's `hmac` over the same bytes): it must never change.
        let s = NameIdSecret::from_bytes(vec![7; 32]);
        let fixed = "rg4zmQw68_gxeaV3BE9h2LAxdqOHBBcBJ2xsMfbjWGA";
        assert_eq!(
            s.persistent("https://sp.example.org/sp", "02$5001-lea-dupont"),
            fixed
        );
        assert_eq!(
            openssl_hmac(
                &[7; 32],
                &[
                    "persistent",
                    "https://sp.example.org/sp",
                    "02$5001-lea-dupont"
                ]
            ),
            fixed
        );
        let secrets: [Vec<u8>; 4] = [
            vec![7; 32],
            (0..16).collect(),
            (0..=255).collect(),
            b"a secret of another length".to_vec(),
        ];
        let values = [
            "",
            "sp",
            "https://gar.education.fr/idp",
            "é",
            &"x".repeat(200),
        ];
        for secret in &secrets {
            let new = NameIdSecret::from_bytes(secret.clone());
            for a in values {
                for b in values {
                    assert_eq!(
                        new.persistent(a, b),
                        openssl_hmac(secret, &["persistent", a, b])
                    );
                    assert_eq!(
                        new.transient(a, b),
                        format!("_{}", openssl_hmac(secret, &["transient", a, b]))
                    );
                    assert_eq!(
                        new.session_index(a, b),
                        format!("_{}", openssl_hmac(secret, &["session-index", a, b]))
                    );
                }
            }
        }
    }

    #[test]
    fn transient_is_per_session_and_sp() {
        let s = NameIdSecret::from_bytes(vec![1; 32]);
        assert_eq!(s.transient("sp", "r1"), s.transient("sp", "r1"));
        assert_ne!(s.transient("sp", "r1"), s.transient("sp", "r2"));
        assert_ne!(s.transient("sp", "r1"), s.transient("sp2", "r1"));
    }
}
