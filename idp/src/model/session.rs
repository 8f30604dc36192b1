//! The SSO session: one per person and browser, shared by every federated service.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::person::PersonKey;

/// Opaque session identifier (256 random bits, URL-safe). Never logged: `Debug` and
/// `Display` only show a short fingerprint-free marker.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(String);

impl SessionId {
    pub fn from_raw(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSession {
    pub id: SessionId,
    /// Short non-secret reference for logs and audit (not usable as a session id).
    pub audit_ref: String,
    pub person: PersonKey,
    pub login: String,
    pub authn_instant: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// Services that received an assertion or ticket in this session (for single logout).
    pub services: Vec<String>,
}
