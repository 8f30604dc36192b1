//! First login with an activation code: the code check, and the short-lived pending
//! activations that sit between "the code was right" and "a new password was chosen".
//!
//! A pending activation is named by a random opaque token (carried in a cookie by the web
//! front-end), never by the code itself, and lives for `PENDING_LIFETIME` on the injected
//! clock. They are kept in this node's memory: a person who is sent to another node between
//! the two steps simply types the code again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use base64::Engine as _;
use rand::RngCore;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::model::PersonKey;

/// How long someone has to choose a password after typing the right code.
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);

/// Pending activations kept at most; beyond it the oldest are dropped (memory bound).
const MAX_PENDING: usize = 10_000;

/// Compares a typed code with the stored one in constant time (for equal lengths).
/// Surrounding blanks and letter case are forgiven: codes are read off paper.
pub fn code_matches(typed: &str, stored: &str) -> bool {
    let typed = typed.trim().to_uppercase();
    let stored = stored.trim().to_uppercase();
    bool::from(typed.as_bytes().ct_eq(stored.as_bytes()))
}

/// The opaque name of a pending activation. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PendingToken(String);

impl PendingToken {
    pub fn from_raw(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PendingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingToken(..)")
    }
}

/// Who is activating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingActivation {
    pub person: PersonKey,
    pub login: String,
    pub expires: OffsetDateTime,
}

#[derive(Default)]
pub struct PendingActivations(Mutex<HashMap<String, PendingActivation>>);

impl PendingActivations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingActivation>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create(&self, person: PersonKey, login: String, now: OffsetDateTime) -> PendingToken {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let mut map = self.lock();
        map.retain(|_, p| p.expires > now);
        if map.len() >= MAX_PENDING {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            token.clone(),
            PendingActivation {
                person,
                login,
                expires: now + PENDING_LIFETIME,
            },
        );
        PendingToken(token)
    }

    /// The live pending activation named by `token`.
    pub fn get(&self, token: &PendingToken, now: OffsetDateTime) -> Option<PendingActivation> {
        let mut map = self.lock();
        match map.get(&token.0) {
            Some(p) if p.expires > now => Some(p.clone()),
            Some(_) => {
                map.remove(&token.0);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, token: &PendingToken) {
        self.lock().remove(&token.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_compare_forgiving_case_and_blanks() {
        assert!(code_matches(" abcd-efgh ", "ABCD-EFGH"));
        assert!(!code_matches("ABCD-EFGI", "ABCD-EFGH"));
        assert!(!code_matches("ABCD", "ABCD-EFGH"));
    }

    #[test]
    fn pending_activations_expire() {
        let p = PendingActivations::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let tok = p.create(PersonKey::new("02", "1"), "a".into(), t0);
        assert_eq!(tok.expose().len(), 43);
        assert!(p.get(&tok, t0 + Duration::minutes(9)).is_some());
        assert!(p.get(&tok, t0 + Duration::minutes(11)).is_none());
        assert!(p.get(&tok, t0).is_none());
    }
}
