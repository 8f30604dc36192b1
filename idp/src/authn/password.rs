//! Argon2id password hashing and verification.
//!
//! New hashes use the parameters of `Settings.passwords`; verification reads the
//! parameters from the stored PHC string, so raising the cost later does not lock anyone
//! out. Both are slow on purpose: callers run them on the blocking pool
//! (`tokio::task::spawn_blocking`), never on an async worker.

use std::sync::Arc;

use argon2::password_hash::SaltString;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use rand::RngCore;

use crate::settings::PasswordSettings;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random secret with the configured cost. Verifying against it when the
    /// login is unknown costs the same time as a real verification, so response time does
    /// not tell whether a login exists.
    dummy: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash (one Argon2 run, at startup).
    pub fn new(settings: &PasswordSettings) -> Result<Self, HashError> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_lanes,
            None,
        )
        .map_err(|e| HashError::Params(e.to_string()))?;
        let mut this = Self {
            params,
            dummy: Arc::from(""),
        };
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        this.dummy = Arc::from(this.hash_bytes(&secret)?);
        Ok(this)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A new PHC string for `password`, with a fresh 128-bit salt from the thread CSPRNG.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        self.hash_bytes(password.as_bytes())
    }

    fn hash_bytes(&self, secret: &[u8]) -> Result<String, HashError> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Hash(e.to_string()))?;
        self.argon2()
            .hash_password(secret, &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Hash(e.to_string()))
    }

    /// Whether `password` matches the stored PHC string. An unreadable stored hash never
    /// matches (and is logged, without the hash).
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(h) => self
                .argon2()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(e) => {
                tracing::warn!(error = %e, "stored password hash cannot be parsed");
                false
            }
        }
    }

    /// Spends one verification on the dummy hash; the result is always "no match".
    pub fn spend_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PasswordSettings {
        PasswordSettings {
            min_length: 10,
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_lanes: 1,
        }
    }

    #[test]
    fn hash_then_verify() {
        let h = PasswordHasher::new(&small()).unwrap();
        let phc = h.hash("Cheval-Batterie-7").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(h.verify("Cheval-Batterie-7", &phc));
        assert!(!h.verify("cheval-batterie-7", &phc));
        assert!(!h.verify("x", "not a hash"));
        // Two hashes of one password differ (random salt).
        assert_ne!(phc, h.hash("Cheval-Batterie-7").unwrap());
    }
}
