//! Tickets: random identifiers with the standard prefixes and what each one stands for,
//! kept in the `TicketStore` port as JSON. A ticket is bound to the normalised service URL
//! it was issued for and carries its own expiry (checked on the injected clock).

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Random characters per ticket, from `[A-Za-z0-9]` (the specification's ticket alphabet,
/// with `-`): 32 × log2(62) ≈ 190 bits (the spec asks for at least 128).
const RANDOM_CHARS: usize = 32;

/// Longest ticket accepted from a client (ours are about 40 characters).
pub const MAX_TICKET: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `ST-`: from `/login`.
    Service,
    /// `PT-`: from `/proxy`.
    Proxy,
    /// `PGT-`: from a validation with a `pgtUrl`.
    ProxyGranting,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Service => "ST-",
            Self::Proxy => "PT-",
            Self::ProxyGranting => "PGT-",
        }
    }

    /// For the audit trail.
    pub fn label(self) -> &'static str {
        match self {
            Self::Service => "ST",
            Self::Proxy => "PT",
            Self::ProxyGranting => "PGT",
        }
    }

    /// The kind a client-sent ticket claims by its prefix.
    pub fn of(ticket: &str) -> Option<Self> {
        [Self::Service, Self::Proxy, Self::ProxyGranting]
            .into_iter()
            .find(|k| ticket.starts_with(k.prefix()))
    }
}

/// A new identifier: `prefix` + about 190 random bits from the thread's CSPRNG (ChaCha,
/// seeded from the OS), in the ticket alphabet.
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::rng(), RANDOM_CHARS)
    )
}

/// Whether a client-sent ticket looks like one of ours (cheap check before the store).
pub fn well_formed(ticket: &str) -> bool {
    !ticket.is_empty()
        && ticket.len() <= MAX_TICKET
        && ticket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `text` with anything that looks like a ticket replaced by `<ticket>` (for log lines
/// built from third-party error messages, which may quote a URL).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = ["ST-", "PT-", "PGT-", "PGTIOU-"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        out.push_str(&rest[..i]);
        out.push_str("<ticket>");
        let after = &rest[i..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// What a ticket stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketData {
    pub kind: Kind,
    /// The normalised service URL it was issued for (ST, PT); the proxying service's
    /// registry id for a PGT.
    pub service: String,
    /// Registry id of that service.
    pub service_id: String,
    /// The person (`academie$jointure`).
    pub person: String,
    pub login: String,
    /// The SSO session it came from (non-secret reference).
    pub session_ref: String,
    /// When the person last typed their password for this session.
    #[serde(with = "time::serde::rfc3339")]
    pub authn_instant: OffsetDateTime,
    /// Issued straight from a login form (not from an existing session).
    pub from_new_login: bool,
    /// The proxy chain: callback URLs of the proxies, most recent first.
    pub proxies: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl TicketData {
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_long_random_and_prefixed() {
        let a = new_id("ST-");
        let b = new_id("ST-");
        assert_ne!(a, b);
        assert!(a.starts_with("ST-"));
        assert_eq!(a.len(), 3 + 32);
        assert!(well_formed(&a));
        assert_eq!(Kind::of(&a), Some(Kind::Service));
        assert_eq!(Kind::of("PGT-x"), Some(Kind::ProxyGranting));
        assert_eq!(Kind::of("XX-1"), None);
        assert!(!well_formed("ST-<script>"));
        assert!(!well_formed("ST-a_b"));
        assert!(a[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(
            redact("GET https://h/cb?pgtId=PGT-abc_1&pgtIou=PGTIOU-x2: refused"),
            "GET https://h/cb?pgtId=<ticket>&pgtIou=<ticket>: refused"
        );
    }
}
