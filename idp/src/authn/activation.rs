//! First login with an activation code: the code check, and the short-lived pending
//! activations that sit between "the code was right" and "a new password was chosen".
//!
//! A pending activation is named by a random opaque token (carried in a cookie by the web
//! front-end), never by the code itself, and lives for `PENDING_LIFETIME` on the injected
//! clock. It is kept in the `TicketStore`, so with the Redis stores any node can finish
//! an activation another node started (they used to live in one node's memory: a person
//! sent to another node between the two steps had to type the code again).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::model::PersonKey;
use crate::ports::{BackendError, TicketStore};

/// How long someone has to choose a password after typing the right code.
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);

/// Key prefix of pending activations in the `TicketStore`.
const KEY_PREFIX: &str = "activation:";

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

/// A pending activation as kept in the store.
#[derive(Serialize, Deserialize)]
struct Kept {
    person: String,
    login: String,
    /// Unix seconds on the injected clock (the store's own TTL only cleans up).
    expires: i64,
}

/// Pending activations in the `TicketStore`.
#[derive(Clone)]
pub struct PendingActivations {
    store: Arc<dyn TicketStore>,
}

impl PendingActivations {
    pub fn new(store: Arc<dyn TicketStore>) -> Self {
        Self { store }
    }

    fn key(token: &PendingToken) -> String {
        format!("{KEY_PREFIX}{}", token.0)
    }

    pub async fn create(
        &self,
        person: PersonKey,
        login: String,
        now: OffsetDateTime,
    ) -> Result<PendingToken, BackendError> {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = PendingToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
        let kept = Kept {
            person: person.to_string(),
            login,
            expires: (now + PENDING_LIFETIME).unix_timestamp(),
        };
        let value = serde_json::to_vec(&kept).map_err(|e| BackendError::Corrupt(e.to_string()))?;
        let ttl = std::time::Duration::try_from(PENDING_LIFETIME)
            .unwrap_or(std::time::Duration::from_secs(600));
        self.store.put(&Self::key(&token), value, ttl).await?;
        Ok(token)
    }

    /// The live pending activation named by `token`.
    pub async fn get(
        &self,
        token: &PendingToken,
        now: OffsetDateTime,
    ) -> Result<Option<PendingActivation>, BackendError> {
        let Some(bytes) = self.store.get(&Self::key(token)).await? else {
            return Ok(None);
        };
        let pending = serde_json::from_slice::<Kept>(&bytes).ok().and_then(|k| {
            Some(PendingActivation {
                person: PersonKey::parse(&k.person)?,
                login: k.login,
                expires: OffsetDateTime::from_unix_timestamp(k.expires).ok()?,
            })
        });
        match pending {
            Some(p) if p.expires > now => Ok(Some(p)),
            // Expired on our clock, or unreadable: gone.
            _ => {
                self.remove(token).await?;
                Ok(None)
            }
        }
    }

    pub async fn remove(&self, token: &PendingToken) -> Result<(), BackendError> {
        self.store.take(&Self::key(token)).await.map(drop)
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

    /// Kept in the ticket store: any holder of the same store finds them (another node
    /// with the Redis stores), they expire on the injected clock, and removal is final.
    #[tokio::test]
    async fn pending_activations_live_in_the_ticket_store() {
        let store: Arc<dyn TicketStore> =
            Arc::new(crate::backends::store::memory::MemoryTicketStore::default());
        let (node_a, node_b) = (
            PendingActivations::new(store.clone()),
            PendingActivations::new(store),
        );
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let key = PersonKey::new("02", "1");
        let tok = node_a.create(key.clone(), "a".into(), t0).await.unwrap();
        assert_eq!(tok.expose().len(), 43);
        let found = node_b.get(&tok, t0 + Duration::minutes(9)).await.unwrap();
        assert_eq!(
            found,
            Some(PendingActivation {
                person: key,
                login: "a".into(),
                expires: t0 + PENDING_LIFETIME,
            })
        );
        let unknown = PendingToken::from_raw("not-a-token".into());
        assert_eq!(node_b.get(&unknown, t0).await.unwrap(), None);
        assert_eq!(
            node_b.get(&tok, t0 + Duration::minutes(11)).await.unwrap(),
            None
        );
        assert_eq!(
            node_a.get(&tok, t0).await.unwrap(),
            None,
            "an expired one is removed"
        );
        let tok = node_a
            .create(PersonKey::new("02", "2"), "b".into(), t0)
            .await
            .unwrap();
        node_b.remove(&tok).await.unwrap();
        assert_eq!(node_a.get(&tok, t0).await.unwrap(), None);
    }
}
