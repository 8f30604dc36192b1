//! The SAML 2.0 identity provider, Web Browser SSO profile: AuthnRequests over HTTP-Redirect
//! and HTTP-POST at `/saml/sso`, IdP-initiated (unsolicited) SSO at
//! `/saml/sso/init?sp=<entityID>[&RelayState=…]`, responses over HTTP-POST only.
//!
//! Trust comes only from the signed federation registries: the Issuer must be an active
//! SAML service, signatures are checked with its registered certificates only, and answers
//! go only to one of its registered ACS (else an error page, never a POST). The checks run
//! in a fixed order: decode and parse (page), SP (page), signature (page) — these three in
//! `inbound.rs`, shared with LogoutRequests — ACS (page when not registered), then version,
//! Destination, IssueInstant window, replay, response binding (`UnsupportedBinding` at the
//! default HTTP-POST ACS) and NameIDPolicy, which are answered to the chosen ACS with a
//! SAML status. An accepted request becomes a server-side [`Pending`]
//! (in the `TicketStore`) that the login form names by an opaque reference. Pages and
//! cookies are the web front-end's (`web::saml`); this module knows no HTTP framework.
//! Assertions are encrypted (sign-then-encrypt, AES-256-GCM + RSA-OAEP, `response.rs`) for
//! SPs whose entry asks for it, with their registered encryption certificate only; such an
//! SP without a usable one gets a Responder status, never a plaintext assertion.
//! Single logout (`slo/`, messages in `logout.rs`, SOAP envelope in `soap.rs`):
//! SP-initiated LogoutRequests at `/saml/slo`, matched against the session's `services` entries written here, and
//! propagation to the session's other SPs (SOAP back channel, else front channel).

pub mod bindings;
pub mod error;
mod inbound;
pub mod logout;
pub mod nameid;
pub mod request;
pub mod response;
mod shallow;
pub mod signature;
mod slo;
mod soap;

use std::sync::Arc;
use std::time::Duration;

use federation_metadata::model::{
    Binding, IndexedEndpoint, NameIdFormat, SamlSettings, SignatureAlgorithm,
};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditSink};
use crate::federation::identity::IdpIdentity;
use crate::federation::Federation;
use crate::model::SsoSession;
use crate::ports::{Clock, CounterStore, Directory, TicketStore};
use crate::release;
use crate::settings::SamlSettings as SamlConfig;

pub use error::{Refusal, Status};
use nameid::NameIdSecret;
use request::AuthnRequest;
pub use slo::{
    logout_outcome, Line, LogoutAnswer, LogoutPending, LogoutRejection, SloNotice, SloState,
    SOAP_TIMEOUT,
};

/// Lifetime of a pending request waiting for the login form.
const PENDING_LIFETIME: Duration = Duration::from_secs(30 * 60);
const PENDING_PREFIX: &str = "saml-pending:";
/// Marks the SSO session's `services` entries written by SAML:
/// `saml <service id> <SessionIndex> <NameID format> <NameID> <SP entityID>`.
const SESSION_ENTRY: &str = "saml";

/// The store keeping pending requests and logout records failed (not: no such record).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the SAML record store is unavailable")]
pub struct StoreDown;

/// Why [`Saml::answer`] refuses when the SP left the registry since its request.
pub const SP_GONE: &str = "the SP is no longer an active service of the registry";

/// A request accepted (or an unsolicited SSO allowed): where and how to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The SP's entityID.
    pub sp: String,
    /// The registered ACS (HTTP-POST) the response goes to.
    pub acs: String,
    /// The AuthnRequest's ID (none for unsolicited SSO).
    pub request_id: Option<String>,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
}

/// How a request arrived.
pub enum Incoming {
    /// The raw query string, as received.
    Redirect(String),
    Post {
        saml_request: String,
        relay_state: Option<String>,
    },
}

/// A refused request: an error page, or a status for `answer_to`'s ACS.
#[derive(Debug)]
pub struct Rejection {
    pub refusal: Refusal,
    /// Set when the SP and its ACS are known and trusted (the status goes there).
    pub answer_to: Option<Box<Pending>>,
    /// The Issuer is not an active SAML service.
    pub unknown_sp: bool,
}

/// A response ready for the HTTP-POST binding.
pub struct PostAnswer {
    pub acs: String,
    pub html: String,
    pub csp: String,
    /// The SSO session's `services` entry (success only).
    pub session_entry: Option<String>,
}

pub struct Saml {
    federation: Arc<Federation>,
    identity: Arc<IdpIdentity>,
    tickets: Arc<dyn TicketStore>,
    counters: Arc<dyn CounterStore>,
    directory: Arc<dyn Directory>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    secret: NameIdSecret,
    /// The identity's key with its certificate, ready to sign responses.
    signing_key: Arc<signature::SigningKey>,
    skew: time::Duration,
    max_age: time::Duration,
    lifetime: time::Duration,
    require_signed: bool,
    /// The SOAP back channel of single logout.
    back_channel: ureq::Agent,
    /// The SSO session's absolute lifetime (`SessionNotOnOrAfter`), when known.
    session_lifetime: Option<time::Duration>,
}

pub struct SamlDeps {
    pub federation: Arc<Federation>,
    pub identity: Arc<IdpIdentity>,
    pub tickets: Arc<dyn TicketStore>,
    pub counters: Arc<dyn CounterStore>,
    pub directory: Arc<dyn Directory>,
    pub audit: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
    pub secret: NameIdSecret,
}

fn secs(s: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2))
}

/// Why no ACS could be chosen for an AuthnRequest.
#[derive(Debug)]
pub enum AcsError<'a> {
    /// Nothing trusted to answer to (an unregistered URL or index, both given, no HTTP-POST
    /// ACS at all): an error page.
    Page(Refusal),
    /// The SP is known and its request authentic, but it wants its response over another
    /// binding (its ProtocolBinding, or the registered binding of the ACS it names):
    /// `UnsupportedBinding`, posted to its default HTTP-POST ACS.
    Binding(Refusal, &'a IndexedEndpoint),
}

impl AcsError<'_> {
    pub fn refusal(self) -> Refusal {
        match self {
            Self::Page(r) | Self::Binding(r, _) => r,
        }
    }
}

/// The ACS a response goes to: by URL or by index among the SP's registered HTTP-POST
/// endpoints, else the default one (`is_default`, else the first). A URL or index that is
/// not registered at all is never answered to; one registered for another binding, or a
/// ProtocolBinding other than HTTP-POST, gets `UnsupportedBinding` at the default ACS.
pub fn select_acs<'a>(
    sp: &'a SamlSettings,
    url: Option<&str>,
    index: Option<u16>,
    protocol_binding: Option<&str>,
) -> Result<&'a IndexedEndpoint, AcsError<'a>> {
    let all = &sp.assertion_consumer_services;
    let post: Vec<&IndexedEndpoint> = all
        .iter()
        .filter(|e| e.binding == Binding::HttpPost)
        .collect();
    let default = post
        .iter()
        .find(|e| e.is_default)
        .or_else(|| post.first())
        .copied();
    let none_registered = || {
        AcsError::Page(Refusal::page(
            "no HTTP-POST AssertionConsumerService registered",
        ))
    };
    let unsupported = |why: &'static str| match default {
        Some(d) => AcsError::Binding(Refusal::status(Status::UnsupportedBinding, why), d),
        None => none_registered(),
    };
    let named = match (url, index) {
        (Some(_), Some(_)) => {
            return Err(AcsError::Page(Refusal::page(
                "AssertionConsumerServiceURL and AssertionConsumerServiceIndex together",
            )))
        }
        (Some(u), None) => match post.iter().find(|e| e.location == u) {
            Some(e) => Some(*e),
            None if all.iter().any(|e| e.location == u) => {
                return Err(unsupported(
                    "the AssertionConsumerServiceURL is registered for a binding other than HTTP-POST",
                ))
            }
            None => {
                return Err(AcsError::Page(Refusal::page(
                    "AssertionConsumerServiceURL not registered",
                )))
            }
        },
        (None, Some(i)) => match post.iter().find(|e| e.index == i) {
            Some(e) => Some(*e),
            None if all.iter().any(|e| e.index == i) => {
                return Err(unsupported(
                    "the AssertionConsumerServiceIndex is registered for a binding other than HTTP-POST",
                ))
            }
            None => {
                return Err(AcsError::Page(Refusal::page(
                    "AssertionConsumerServiceIndex not registered",
                )))
            }
        },
        (None, None) => None,
    };
    if protocol_binding.is_some_and(|b| b != Binding::HttpPost.urn()) {
        return Err(unsupported(
            "only the HTTP-POST response binding is supported",
        ));
    }
    named.or(default).ok_or_else(none_registered)
}

/// The SignatureMethod for an SP's responses: its entry's, RSA-SHA1 only where the entry
/// also allows SHA-1 (validation refuses the contrary; this stays closed if it slipped
/// through), RSA-SHA256 otherwise and when no SP is known.
pub fn signature_method(sp: Option<&SamlSettings>) -> &'static str {
    match sp.map(|s| (s.signature_algorithm, s.allow_sha1)) {
        Some((SignatureAlgorithm::RsaSha512, _)) => SignatureAlgorithm::RsaSha512.uri(),
        Some((SignatureAlgorithm::RsaSha1, true)) => SignatureAlgorithm::RsaSha1.uri(),
        _ => SignatureAlgorithm::RsaSha256.uri(),
    }
}

/// Whether `instant` lies in the window `[now - max_age - skew, now + skew]`.
pub fn instant_acceptable(
    instant: time::OffsetDateTime,
    now: time::OffsetDateTime,
    skew: time::Duration,
    max_age: time::Duration,
) -> bool {
    instant <= now + skew && instant >= now - max_age - skew
}

/// Checks a NameIDPolicy (SAML core 3.4.1.1) against the SP's registry entry; a policy we
/// cannot honour gets `InvalidNameIDPolicy`.
///
/// - `Format`: the SP's registered one, or unspecified/absent (the registered one is then
///   used).
/// - `AllowCreate="false"`: issue only an identifier already established for the person
///   with this SP (core 3.4.1.1 as amended by errata E10). Persistent identifiers are
///   derived (HMAC of SP and person), so one exists for every person at every SP by
///   construction; unspecified/email ones are attribute values; a transient one is
///   associated with nothing lasting, so the notion does not apply (E10 lets the IdP say
///   so, and Shibboleth IdP does the same). None of our formats is therefore ever refused
///   for AllowCreate; it is still parsed strictly. Should stored identifiers come, this is
///   where AllowCreate="false" must refuse an unestablished one.
/// - `SPNameQualifier`: only the requester's own entityID; we support no affiliations.
pub fn check_name_id_policy(
    req: &AuthnRequest,
    sp: &SamlSettings,
    entity_id: &str,
) -> Result<(), Refusal> {
    if let Some(f) = req.name_id_format.as_deref() {
        let unspecified = f == NameIdFormat::Unspecified.urn();
        if !unspecified && NameIdFormat::from_urn(f) != Some(sp.name_id_format) {
            return Err(Refusal::status(
                Status::InvalidNameIdPolicy,
                "NameIDPolicy Format is not the one registered for this SP",
            ));
        }
    }
    if let Some(q) = req.sp_name_qualifier.as_deref() {
        if q != entity_id {
            return Err(Refusal::status(
                Status::InvalidNameIdPolicy,
                "SPNameQualifier other than the SP itself (affiliations are not supported)",
            ));
        }
    }
    Ok(())
}

impl Saml {
    pub fn new(settings: &SamlConfig, deps: SamlDeps) -> Self {
        let signing_key = Arc::new(signature::SigningKey::new(
            deps.identity.key.clone(),
            &deps.identity.certificate_der,
        ));
        Self {
            federation: deps.federation,
            identity: deps.identity,
            tickets: deps.tickets,
            counters: deps.counters,
            directory: deps.directory,
            audit: deps.audit,
            clock: deps.clock,
            secret: deps.secret,
            signing_key,
            skew: secs(settings.clock_skew_secs),
            max_age: secs(settings.request_max_age_secs),
            lifetime: secs(settings.assertion_lifetime_secs),
            require_signed: settings.require_signed_requests,
            // At least one second: zero would wait for nobody.
            back_channel: slo::soap_agent(Duration::from_secs(settings.soap_timeout_secs.max(1))),
            session_lifetime: None,
        }
    }

    /// Announces the SSO session's absolute lifetime (`sessions.absolute_timeout_secs`) in
    /// assertions, as `SessionNotOnOrAfter`.
    pub fn with_session_lifetime(mut self, secs_: u64) -> Self {
        self.session_lifetime = Some(secs(secs_));
        self
    }

    /// Our SSO endpoint (the Destination requests must carry).
    pub fn sso_url(&self) -> String {
        format!("{}/saml/sso", self.identity.base_url)
    }

    fn refuse(&self, sp: &str, rejection: Rejection) -> Rejection {
        let outcome = match (&rejection.refusal.status, &rejection.answer_to) {
            (Some(s), Some(_)) => s.label().to_owned(),
            _ => "error_page".to_owned(),
        };
        tracing::info!(sp, outcome, reason = %rejection.refusal.reason, "SAML request refused");
        self.audit.record(
            self.clock.now(),
            AuditEvent::SamlRequestRefused {
                sp: sp.to_owned(),
                outcome,
                reason: rejection.refusal.reason.to_string(),
            },
        );
        rejection
    }

    /// Audits an SSO request refused with an error page outside [`Self::check`]: the HTTP
    /// form itself unreadable, a pending request lost, a store or signing failure (`sp`:
    /// empty when unknown).
    pub fn audit_page_refusal(&self, sp: &str, refusal: Refusal) {
        self.refuse(
            sp,
            Rejection {
                refusal,
                answer_to: None,
                unknown_sp: false,
            },
        );
    }

    /// Decodes, verifies and checks an AuthnRequest. Every refusal is audited.
    pub async fn check(&self, incoming: Incoming) -> Result<Pending, Rejection> {
        let mut sp_name = String::new();
        let page = |r: Refusal| Rejection {
            refusal: r,
            answer_to: None,
            unknown_sp: false,
        };
        let result = self.check_inner(incoming, &mut sp_name, page).await;
        result.map_err(|r| self.refuse(&sp_name, r))
    }

    async fn check_inner(
        &self,
        incoming: Incoming,
        sp_name: &mut String,
        page: impl Fn(Refusal) -> Rejection,
    ) -> Result<Pending, Rejection> {
        let inbound::Received {
            message: req,
            issuer,
            service,
            relay_state,
            signed,
        } = self
            .receive_signed::<AuthnRequest>(incoming, sp_name)
            .await?;
        let Some(sp) = service.saml() else {
            return Err(page(Refusal::page("not a SAML service")));
        };
        let now = self.clock.now();
        // An unsupported binding is answered once the request itself is known valid (below).
        let (acs, unsupported) = match select_acs(
            sp,
            req.acs_url.as_deref(),
            req.acs_index,
            req.protocol_binding.as_deref(),
        ) {
            Ok(acs) => (acs, None),
            Err(AcsError::Page(r)) => return Err(page(r)),
            Err(AcsError::Binding(r, default)) => (default, Some(r)),
        };
        let pending = Pending {
            sp: issuer.clone(),
            acs: acs.location.clone(),
            request_id: Some(req.id.clone()),
            relay_state,
            force_authn: req.force_authn,
            is_passive: req.is_passive,
        };
        let to_acs = |r: Refusal| Rejection {
            refusal: r,
            answer_to: Some(Box::new(pending.clone())),
            unknown_sp: false,
        };
        if req.version != "2.0" {
            return Err(to_acs(Refusal::status(
                Status::VersionMismatch,
                "Version is not 2.0",
            )));
        }
        match req.destination.as_deref() {
            Some(d) if d != self.sso_url() => {
                return Err(to_acs(Refusal::status(
                    Status::Requester,
                    "Destination is not this IdP's SSO endpoint",
                )))
            }
            None if signed => {
                return Err(to_acs(Refusal::status(
                    Status::Requester,
                    "a signed request must carry its Destination",
                )))
            }
            _ => {}
        }
        let fresh = req
            .issue_instant
            .is_some_and(|t| instant_acceptable(t, now, self.skew, self.max_age));
        if !fresh {
            return Err(to_acs(Refusal::status(
                Status::RequestDenied,
                "IssueInstant missing or outside the accepted window",
            )));
        }
        // Replay: each (SP, request ID) once while the request could still be accepted.
        self.first_use(inbound::Kind::AuthnRequest, &issuer, &req.id)
            .await
            .map_err(|e| {
                let status = match e {
                    inbound::ReplayError::Replayed => Status::RequestDenied,
                    inbound::ReplayError::Unavailable => Status::Responder,
                };
                to_acs(Refusal::status(status, e.reason()))
            })?;
        if let Some(r) = unsupported {
            return Err(to_acs(r));
        }
        check_name_id_policy(&req, sp, &issuer).map_err(to_acs)?;
        Ok(pending)
    }

    /// IdP-initiated SSO towards `sp` (its default ACS), if its registry entry allows it.
    pub fn unsolicited(&self, sp: &str, relay_state: Option<String>) -> Result<Pending, Rejection> {
        let page = |r: Refusal, unknown_sp: bool| Rejection {
            refusal: r,
            answer_to: None,
            unknown_sp,
        };
        let now = self.clock.now();
        let result = (|| {
            if relay_state
                .as_ref()
                .is_some_and(|r| r.len() > bindings::MAX_RELAY_STATE)
            {
                return Err(page(Refusal::page("RelayState too long"), false));
            }
            let Some((_, service)) = self.federation.saml_service_with_registry(sp, now) else {
                return Err(page(
                    Refusal::page("not an active SAML service of the registry"),
                    true,
                ));
            };
            let settings = service
                .saml()
                .ok_or_else(|| page(Refusal::page("not a SAML service"), true))?;
            if !settings.allow_idp_initiated {
                return Err(page(
                    Refusal::page("unsolicited SSO is not allowed for this SP"),
                    false,
                ));
            }
            let acs =
                select_acs(settings, None, None, None).map_err(|e| page(e.refusal(), false))?;
            Ok(Pending {
                sp: sp.to_owned(),
                acs: acs.location.clone(),
                request_id: None,
                relay_state,
                force_authn: false,
                is_passive: false,
            })
        })();
        result.map_err(|r| self.refuse(sp, r))
    }

    /// Keeps `p` for the login form; returns its opaque reference.
    pub async fn put_pending(&self, p: &Pending) -> Result<String, Refusal> {
        self.keep(PENDING_PREFIX, p)
            .await
            .map_err(|_| Refusal::page("cannot keep the request"))
    }

    /// The `TicketStore` key of the record of kind `prefix` that `reference` names; `None`
    /// for a reference we could not have made (so it is never looked up).
    fn record_key(prefix: &str, reference: &str) -> Option<String> {
        (reference.len() <= 64
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| format!("{prefix}{reference}"))
    }

    /// Keeps `value` as a record of kind `prefix` for [`PENDING_LIFETIME`]; returns the new
    /// opaque reference that names it.
    pub(crate) async fn keep<T: Serialize>(
        &self,
        prefix: &str,
        value: &T,
    ) -> Result<String, StoreDown> {
        let reference = response::new_id();
        self.keep_at(&format!("{prefix}{reference}"), value).await?;
        Ok(reference)
    }

    /// Keeps `value` under `key` (replacing what was there) for [`PENDING_LIFETIME`].
    pub(crate) async fn keep_at<T: Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StoreDown> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            tracing::error!(error = %e, "SAML record not serialised");
            StoreDown
        })?;
        self.tickets
            .put(key, bytes, PENDING_LIFETIME)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "SAML record not stored");
                StoreDown
            })
    }

    /// The pending request `reference` names, left in place.
    pub async fn get_pending(&self, reference: &str) -> Result<Option<Pending>, StoreDown> {
        self.record(Self::record_key(PENDING_PREFIX, reference), false)
            .await
    }

    /// The pending request `reference` names, consumed.
    pub async fn take_pending(&self, reference: &str) -> Result<Option<Pending>, StoreDown> {
        self.record(Self::record_key(PENDING_PREFIX, reference), true)
            .await
    }

    /// The record kept under `key` in the `TicketStore` (consumed when `take`). A store
    /// failure is [`StoreDown`] — the person gets "unavailable, try again", not "your
    /// request is lost"; an unreadable record counts as gone.
    pub(crate) async fn record<T: serde::de::DeserializeOwned>(
        &self,
        key: Option<String>,
        take: bool,
    ) -> Result<Option<T>, StoreDown> {
        let Some(key) = key else {
            return Ok(None);
        };
        let read = if take {
            self.tickets.take(&key).await
        } else {
            self.tickets.get(&key).await
        };
        let bytes = read.map_err(|e| {
            tracing::error!(error = %e, "SAML record store unavailable");
            StoreDown
        })?;
        Ok(bytes.and_then(|b| {
            serde_json::from_slice(&b)
                .inspect_err(|e| tracing::warn!(error = %e, "unreadable SAML record ignored"))
                .ok()
        }))
    }

    fn signing_for(&self, sp: Option<&SamlSettings>) -> response::Signing {
        response::Signing {
            key: self.signing_key.clone(),
            // The registry's explicit flags decide: `want_assertions_signed` is only what the
            // SP publishes, and `validate.rs` refuses it without `sign_assertion`. The one
            // fallback, for an entry signing nothing (also refused there): a signed assertion
            // rather than an unsigned response, whatever `want_assertions_signed` says.
            sign_assertion: sp.is_none_or(|s| s.sign_assertion || !s.sign_response),
            sign_response: sp.is_some_and(|s| s.sign_response),
            encrypt_for: None,
            algorithm: signature_method(sp),
        }
    }

    async fn post(
        &self,
        p: &Pending,
        status: Option<Status>,
        assertion: Option<response::AssertionData>,
        sp: Option<&SamlSettings>,
        encrypt_for: Option<openssl::pkey::PKey<openssl::pkey::Public>>,
    ) -> Result<String, Refusal> {
        let mut signing = self.signing_for(sp);
        signing.encrypt_for = encrypt_for;
        let now = self.clock.now();
        // Inline, not `spawn_blocking`: one RSA signature (about 0.25 ms) with the key loaded
        // at start. Handing it to the blocking pool cost two thread switches per response
        // and no throughput, since a worker per core is already busy with it.
        let xml = response::build_response(
            &self.identity.entity_id,
            &p.acs,
            p.request_id.as_deref(),
            now,
            status,
            assertion.as_ref(),
            &signing,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "SAML response not signed");
            Refusal::page("the response could not be signed")
        })?;
        Ok(response::post_form(&p.acs, &xml, p.relay_state.as_deref()))
    }

    /// A response with a non-success `status` (already audited by the caller's refusal).
    pub async fn answer_status(&self, p: &Pending, status: Status) -> Result<PostAnswer, Refusal> {
        let now = self.clock.now();
        let svc = self.federation.saml_service_with_registry(&p.sp, now);
        let sp = svc.as_ref().and_then(|(_, s)| s.saml());
        let html = self.post(p, Some(status), None, sp, None).await?;
        Ok(PostAnswer {
            acs: p.acs.clone(),
            csp: response::post_csp(),
            html,
            session_entry: None,
        })
    }

    /// Refuses `p` with `status` (audited) and answers it to the ACS.
    pub async fn refuse_to_acs(
        &self,
        p: &Pending,
        status: Status,
        reason: &'static str,
    ) -> Result<PostAnswer, Refusal> {
        self.refuse(
            &p.sp,
            Rejection {
                refusal: Refusal::status(status, reason),
                answer_to: Some(Box::new(p.clone())),
                unknown_sp: false,
            },
        );
        self.answer_status(p, status).await
    }

    /// The successful response for `session`, audited. The SP is looked up again: it may
    /// have left the registry since the request.
    pub async fn answer(&self, p: &Pending, session: &SsoSession) -> Result<PostAnswer, Refusal> {
        let now = self.clock.now();
        let Some((registry, service)) = self.federation.saml_service_with_registry(&p.sp, now)
        else {
            let r = Refusal::page(SP_GONE);
            self.refuse(
                &p.sp,
                Rejection {
                    refusal: r.clone(),
                    answer_to: None,
                    unknown_sp: true,
                },
            );
            return Err(r);
        };
        let sp = service
            .saml()
            .ok_or_else(|| Refusal::page("not a SAML service"))?;
        // Never a plaintext assertion to an SP whose entry asks for encryption.
        let encrypt_for = if sp.encrypt_assertion {
            match response::encryption_key(&sp.encryption_certificates) {
                Some(key) => Some(key),
                None => {
                    return self
                        .refuse_to_acs(
                            p,
                            Status::Responder,
                            "encrypted assertions wanted but no usable encryption certificate (RSA, 2048 bits or more) is registered",
                        )
                        .await;
                }
            }
        } else {
            None
        };
        let person = self
            .directory
            .person(&session.person)
            .await
            .ok()
            .flatten()
            .filter(|p| p.is_active());
        let Some(person) = person else {
            return self
                .refuse_to_acs(p, Status::UnknownPrincipal, "the account is not active")
                .await;
        };
        let resolved = match release::resolve(
            &person,
            self.directory.as_ref(),
            &registry.registry.attributes,
            |id| {
                sp.name_id_attribute.as_deref() == Some(id)
                    || service.releases.iter().any(|r| r.source == id)
            },
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "attributes not resolved");
                return self
                    .refuse_to_acs(p, Status::Responder, "directory unavailable")
                    .await;
            }
        };
        let released = release::release(&service, &resolved);
        let name_id = match sp.name_id_format {
            NameIdFormat::Transient => self.secret.transient(&p.sp, &session.audit_ref),
            NameIdFormat::Persistent => self.secret.persistent(&p.sp, &person.key.to_string()),
            NameIdFormat::Unspecified | NameIdFormat::Email => {
                let value = sp
                    .name_id_attribute
                    .as_deref()
                    .and_then(|a| release::user_value(a, &resolved));
                match value {
                    Some(v) => v,
                    None => {
                        return self
                            .refuse_to_acs(
                                p,
                                Status::UnknownPrincipal,
                                "no value for the NameID attribute",
                            )
                            .await
                    }
                }
            }
        };
        let session_index = self.secret.session_index(&p.sp, &session.audit_ref);
        let attributes: Vec<_> = released
            .into_iter()
            .map(|r| {
                let fmt = service
                    .releases
                    .iter()
                    .find(|d| d.name == r.name)
                    .map(|d| d.name_format.urn())
                    .unwrap_or(federation_metadata::model::NameFormat::Basic.urn());
                (r, fmt)
            })
            .collect();
        let attributes = response::writable(attributes);
        let names: Vec<String> = attributes.iter().map(|(r, _)| r.name.clone()).collect();
        let format = sp.name_id_format.urn();
        let data = response::AssertionData {
            issuer: self.identity.entity_id.clone(),
            audience: p.sp.clone(),
            recipient: p.acs.clone(),
            in_response_to: p.request_id.clone(),
            name_id: name_id.clone(),
            name_id_format: format,
            session_index: session_index.clone(),
            authn_instant: session.authn_instant,
            session_not_on_or_after: self.session_lifetime.map(|l| session.authn_instant + l),
            now,
            lifetime: self.lifetime,
            attributes,
        };
        let html = self
            .post(p, None, Some(data), Some(sp), encrypt_for)
            .await?;
        tracing::info!(sp = %p.sp, session = %session.audit_ref, "SAML assertion issued");
        self.audit.record(
            now,
            AuditEvent::SamlAssertionIssued {
                sp: p.sp.clone(),
                service: service.id.clone(),
                login: session.login.clone(),
                name_id_format: format,
                name_id: name_id.clone(),
                attributes: names,
                session_ref: session.audit_ref.clone(),
                initiated_by: if p.request_id.is_some() { "sp" } else { "idp" },
            },
        );
        Ok(PostAnswer {
            acs: p.acs.clone(),
            csp: response::post_csp(),
            html,
            session_entry: Some(format!(
                "{SESSION_ENTRY} {} {session_index} {format} {name_id} {}",
                service.id, p.sp
            )),
        })
    }
}

#[cfg(test)]
mod tests;
