//! A strict SAML 2.0 service provider (Web Browser SSO and single logout) for one IdP.
//!
//! - [`ServiceProvider::authn_request_url`]: a signed HTTP-Redirect AuthnRequest; its ID
//!   is remembered, to be answered once.
//! - [`ServiceProvider::accept_response`] (`response.rs`): the HTTP-POST Response. Its one
//!   Assertion, a direct child of the Response, is cut out with the namespace declarations
//!   in scope and verified as a document of its own by `federation_metadata::xmlsig`
//!   (wrapping refused before any cryptography, the IdP's configured certificate only);
//!   everything about the person is then read from that verified document only.
//! - Single logout (`logout.rs`): SP-initiated (our signed Redirect LogoutRequest, the
//!   IdP's signed LogoutResponse) and IdP-initiated (the IdP's signed Redirect
//!   LogoutRequest, our signed Redirect LogoutResponse).
//! - [`ServiceProvider::metadata`] (`metadata.rs`): the SP's `EntityDescriptor`, for
//!   `fedmeta join`.
//!
//! Time is always passed in (`now`), so that every window can be tested.

mod logout;
mod metadata;
pub mod redirect;
mod response;
pub mod xml;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use time::{Duration, OffsetDateTime};

pub use logout::{IdpLogoutRequest, LogoutResult};

pub const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
const STATUS_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:status:";

/// How long an AuthnRequest or LogoutRequest we sent may be answered.
const REQUEST_LIFETIME: Duration = Duration::minutes(10);
/// Oldest IdP LogoutRequest accepted (IssueInstant).
const MAX_MESSAGE_AGE: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error("malformed SAML message: {0}")]
    Malformed(String),
    #[error("signature refused: {0}")]
    BadSignature(String),
    #[error("the IdP answered with status {0}")]
    Status(String),
    #[error("the message is not for this service (Destination)")]
    WrongDestination,
    #[error("the message does not come from the configured IdP (Issuer)")]
    WrongIssuer,
    #[error("the assertion is not for this service (Audience)")]
    WrongAudience,
    #[error("the assertion is not for this service (Recipient)")]
    WrongRecipient,
    #[error("the message answers no request of ours (InResponseTo)")]
    UnknownInResponseTo,
    #[error("expired: {0}")]
    Expired(&'static str),
    #[error("not valid yet: {0}")]
    NotYetValid(&'static str),
    #[error("replayed: {0}")]
    Replayed(&'static str),
    #[error("refused: {0}")]
    Refused(String),
    #[error("key or signature: {0}")]
    Crypto(String),
}

/// The IdP this SP trusts.
#[derive(Clone)]
pub struct IdpDescriptor {
    pub entity_id: String,
    /// SingleSignOnService, HTTP-Redirect.
    pub sso_url: String,
    /// SingleLogoutService, HTTP-Redirect.
    pub slo_url: String,
    /// The only certificate the IdP's signatures are checked with.
    pub certificate: X509,
}

/// This SP.
#[derive(Clone)]
pub struct SpConfig {
    pub entity_id: String,
    /// AssertionConsumerService, HTTP-POST.
    pub acs_url: String,
    /// SingleLogoutService, HTTP-Redirect.
    pub slo_url: String,
    pub key: PKey<Private>,
    pub certificate: X509,
    /// Clock difference tolerated with the IdP.
    pub clock_skew: Duration,
}

/// Who the IdP says logged in, from a verified assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlPrincipal {
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub name_qualifier: Option<String>,
    pub sp_name_qualifier: Option<String>,
    pub session_index: Option<String>,
    /// The IdP session's end (`AuthnStatement/@SessionNotOnOrAfter`).
    pub session_not_on_or_after: Option<OffsetDateTime>,
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// IDs with an expiry, pruned as they are used.
#[derive(Default)]
struct Ids(HashMap<String, OffsetDateTime>);

impl Ids {
    fn prune(&mut self, now: OffsetDateTime) {
        self.0.retain(|_, until| *until > now);
    }

    /// Removes `id` if it is there and still valid (single use).
    fn take(&mut self, id: &str, now: OffsetDateTime) -> bool {
        self.prune(now);
        self.0.remove(id).is_some()
    }

    /// Records `id` until `until`; false if it was already there.
    fn first_use(&mut self, id: &str, until: OffsetDateTime, now: OffsetDateTime) -> bool {
        self.prune(now);
        if self.0.contains_key(id) {
            return false;
        }
        self.0.insert(id.to_owned(), until);
        true
    }
}

#[derive(Default)]
struct Memory {
    /// AuthnRequest IDs waiting for their Response.
    authn: Ids,
    /// LogoutRequest IDs waiting for their LogoutResponse.
    logout: Ids,
    /// Assertion IDs already accepted.
    assertions: Ids,
    /// IdP LogoutRequest IDs already accepted.
    idp_logouts: Ids,
}

/// A SAML SP for one IdP, with the state its checks need (outstanding request IDs, seen
/// assertion IDs). Share it behind an `Arc`; signing and verifying are synchronous CPU
/// work: async callers run them off their executor.
pub struct ServiceProvider {
    pub sp: SpConfig,
    pub idp: IdpDescriptor,
    memory: Mutex<Memory>,
}

/// A new XML ID (an NCName: starts with `_`), 160 random bits.
pub fn new_id() -> String {
    let mut raw = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    let mut id = String::from("_");
    for b in raw {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// `xs:dateTime` in UTC, whole seconds.
pub fn instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn parse_instant(v: &str) -> Result<OffsetDateTime, SamlError> {
    OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| SamlError::Malformed(format!("bad date-time {v:?}")))
}

fn optional_instant(v: Option<&str>) -> Result<Option<OffsetDateTime>, SamlError> {
    v.map(parse_instant).transpose()
}

/// The top-level (and second-level) status code of `status`, without the URN prefix.
fn status_label(top: &str, second: Option<&str>) -> String {
    let short = |s: &str| s.strip_prefix(STATUS_PREFIX).unwrap_or(s).to_owned();
    match second {
        Some(s) => format!("{}/{}", short(top), short(s)),
        None => short(top),
    }
}

impl ServiceProvider {
    pub fn new(sp: SpConfig, idp: IdpDescriptor) -> Self {
        Self {
            sp,
            idp,
            memory: Mutex::new(Memory::default()),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where to send a person to log in: the IdP's SSO endpoint with a signed AuthnRequest
    /// (HTTP-Redirect), asking for the answer at our ACS by HTTP-POST. `relay_state` comes
    /// back with the Response.
    pub fn authn_request_url(
        &self,
        relay_state: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, SamlError> {
        let id = new_id();
        let xml = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"{id}\" Version=\"2.0\" \
IssueInstant=\"{now}\" Destination=\"{dest}\" AssertionConsumerServiceURL=\"{acs}\" ProtocolBinding=\"{HTTP_POST}\">\
<saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy AllowCreate=\"true\"/></samlp:AuthnRequest>",
            p = xml::PROTOCOL_NS,
            a = xml::ASSERTION_NS,
            now = instant(now),
            dest = xml::esc(&self.idp.sso_url),
            acs = xml::esc(&self.sp.acs_url),
            issuer = xml::esc(&self.sp.entity_id),
        );
        let url = redirect::signed_url(
            &self.idp.sso_url,
            "SAMLRequest",
            &xml,
            relay_state,
            &self.sp.key,
        )?;
        self.memory()
            .authn
            .first_use(&id, now + REQUEST_LIFETIME, now);
        Ok(url)
    }

    /// The SP's metadata (`EntityDescriptor`), unsigned: the federation signs what it
    /// publishes.
    pub fn metadata(&self) -> Result<String, SamlError> {
        metadata::sp_metadata(&self.sp)
    }
}
