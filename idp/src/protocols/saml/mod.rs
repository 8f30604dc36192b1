//! The SAML 2.0 identity provider, Web Browser SSO profile: AuthnRequests over HTTP-Redirect
//! and HTTP-POST at `/saml/sso`, IdP-initiated (unsolicited) SSO at
//! `/saml/sso/init?sp=<entityID>[&RelayState=…]`, responses over HTTP-POST only.
//!
//! Trust comes only from the signed federation registries: the Issuer must be an active
//! SAML service, signatures are checked with its registered certificates only, and answers
//! go only to one of its registered ACS (else an error page, never a POST). The checks run
//! in a fixed order: decode and parse (page), SP (page), signature (page), ACS (page), then
//! version, Destination, IssueInstant window, replay and NameIDPolicy, which are answered to
//! the chosen ACS with a SAML status. An accepted request becomes a server-side [`Pending`]
//! (in the `TicketStore`) that the login form names by an opaque reference. Pages and
//! cookies are the web front-end's (`web::saml`); this module knows no HTTP framework.
//! Assertions are encrypted (sign-then-encrypt, AES-256-GCM + RSA-OAEP, `response.rs`) for
//! SPs whose entry asks for it, with their registered encryption certificate only; such an
//! SP without a usable one gets a Responder status, never a plaintext assertion.
//! Single logout, first part: SP-initiated LogoutRequests at `/saml/slo` (Redirect and
//! POST, signed with the SP's registered certificates — required), matched against the
//! session's `services` entries written here, answered with a signed LogoutResponse to the
//! SP's registered SingleLogoutService (`logout.rs`). No propagation to other SPs yet.

pub mod bindings;
pub mod error;
pub mod logout;
pub mod nameid;
pub mod request;
pub mod response;
mod shallow;

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

/// Lifetime of a pending request waiting for the login form.
const PENDING_LIFETIME: Duration = Duration::from_secs(30 * 60);
const PENDING_PREFIX: &str = "saml-pending:";
const REPLAY_PREFIX: &str = "saml-request-id:";
const LOGOUT_PREFIX: &str = "saml-logout:";
/// LogoutRequests sent by the IdP to SPs, waiting for their LogoutResponse (value: the SP).
const SENT_PREFIX: &str = "saml-logout-sent:";
/// Marks the SSO session's `services` entries written by SAML:
/// `saml <service id> <SessionIndex> <NameID format> <NameID> <SP entityID>`.
const SESSION_ENTRY: &str = "saml";

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

/// A checked LogoutRequest, waiting to be matched with the browser's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutPending {
    pub sp: String,
    pub request_id: String,
    pub name_id: Option<String>,
    pub session_indexes: Vec<String>,
    pub relay_state: Option<String>,
}

/// IdP-initiated propagation to one SAML SP of an ended session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloNotice {
    pub sp: String,
    /// The signed HTTP-Redirect LogoutRequest URL; `None` when the SP registered no
    /// HTTP-Redirect SingleLogoutService (or the request could not be made).
    pub url: Option<String>,
}

/// How the LogoutResponse goes back.
pub enum LogoutAnswer {
    /// HTTP-Redirect: the whole signed URL.
    Redirect(String),
    Post(PostAnswer),
    /// The SP registered no usable SingleLogoutService.
    NoEndpoint,
}

/// Whether `p` names a SAML entry of `session`: `Some(Success)` when it is the only SAML
/// SP of the session, `Some(Partial)` when other SAML SPs remain (`web::saml` then
/// propagates and may turn it into Success), `None`
/// when NameID or SessionIndex do not match.
pub fn logout_outcome(p: &LogoutPending, session: &SsoSession) -> Option<logout::Outcome> {
    // `saml <service id> <SessionIndex> <format> <NameID> <entityID>`: the NameID (an
    // attribute value for some formats) may hold spaces, the entityID does not.
    let entries: Vec<[&str; 4]> = session
        .services
        .iter()
        .filter_map(|e| {
            let mut f = e.splitn(5, ' ');
            let (tag, _service, index, _format, rest) =
                (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            let (name_id, entity) = rest.rsplit_once(' ')?;
            (tag == SESSION_ENTRY).then_some([tag, index, name_id, entity])
        })
        .collect();
    let matched = entries.iter().any(|f| {
        f[3] == p.sp
            && p.name_id.as_deref() == Some(f[2])
            && (p.session_indexes.is_empty() || p.session_indexes.iter().any(|i| i == f[1]))
    });
    if !matched {
        return None;
    }
    if entries.iter().any(|f| f[3] != p.sp) {
        Some(logout::Outcome::Partial)
    } else {
        Some(logout::Outcome::Success)
    }
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
    skew: time::Duration,
    max_age: time::Duration,
    lifetime: time::Duration,
    require_signed: bool,
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

/// The ACS a response goes to: by URL or by index among the SP's registered HTTP-POST
/// endpoints, else the default one (`is_default`, else the first).
pub fn select_acs<'a>(
    sp: &'a SamlSettings,
    url: Option<&str>,
    index: Option<u16>,
    protocol_binding: Option<&str>,
) -> Result<&'a IndexedEndpoint, Refusal> {
    if protocol_binding.is_some_and(|b| b != Binding::HttpPost.urn()) {
        return Err(Refusal::page(
            "only the HTTP-POST response binding is supported",
        ));
    }
    let mut post = sp
        .assertion_consumer_services
        .iter()
        .filter(|e| e.binding == Binding::HttpPost);
    match (url, index) {
        (Some(_), Some(_)) => Err(Refusal::page(
            "AssertionConsumerServiceURL and AssertionConsumerServiceIndex together",
        )),
        (Some(u), None) => post
            .find(|e| e.location == u)
            .ok_or_else(|| Refusal::page("AssertionConsumerServiceURL not registered")),
        (None, Some(i)) => post
            .find(|e| e.index == i)
            .ok_or_else(|| Refusal::page("AssertionConsumerServiceIndex not registered")),
        (None, None) => {
            let all: Vec<_> = post.collect();
            all.iter()
                .find(|e| e.is_default)
                .or_else(|| all.first())
                .copied()
                .ok_or_else(|| Refusal::page("no HTTP-POST AssertionConsumerService registered"))
        }
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

/// Checks a NameIDPolicy against the SP's registered format.
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
        Self {
            federation: deps.federation,
            identity: deps.identity,
            tickets: deps.tickets,
            counters: deps.counters,
            directory: deps.directory,
            audit: deps.audit,
            clock: deps.clock,
            secret: deps.secret,
            skew: secs(settings.clock_skew_secs),
            max_age: secs(settings.request_max_age_secs),
            lifetime: secs(settings.assertion_lifetime_secs),
            require_signed: settings.require_signed_requests,
        }
    }

    /// Our SLO endpoint (the Destination LogoutRequests must carry).
    pub fn slo_url(&self) -> String {
        format!("{}/saml/slo", self.identity.base_url)
    }

    /// Decodes, verifies (a signature is required) and checks a LogoutRequest. Every
    /// refusal is audited and gets an error page.
    pub async fn check_logout(&self, incoming: Incoming) -> Result<LogoutPending, Rejection> {
        let mut sp_name = String::new();
        let result = self.check_logout_inner(incoming, &mut sp_name).await;
        result.map_err(|r| self.refuse(&sp_name, r))
    }

    async fn check_logout_inner(
        &self,
        incoming: Incoming,
        sp_name: &mut String,
    ) -> Result<LogoutPending, Rejection> {
        let page = |r: Refusal| Rejection {
            refusal: r,
            answer_to: None,
            unknown_sp: false,
        };
        let (xml, relay_state, redirect_sig, post) = match incoming {
            Incoming::Redirect(query) => {
                let m = bindings::decode_redirect(&query, "SAMLRequest").map_err(page)?;
                (m.xml, m.relay_state, m.signature, false)
            }
            Incoming::Post {
                saml_request,
                relay_state,
            } => {
                let xml =
                    bindings::decode_post(&saml_request, relay_state.as_deref()).map_err(page)?;
                (xml, relay_state, None, true)
            }
        };
        let req = logout::parse_logout_request(&xml).map_err(page)?;
        let issuer = req
            .issuer
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| page(Refusal::page("the request has no Issuer")))?;
        sp_name.clone_from(&issuer);
        let now = self.clock.now();
        let Some((_, service)) = self.federation.saml_service_with_registry(&issuer, now) else {
            return Err(Rejection {
                refusal: Refusal::page("the Issuer is not an active SAML service of the registry"),
                answer_to: None,
                unknown_sp: true,
            });
        };
        let sp = service
            .saml()
            .ok_or_else(|| page(Refusal::page("not a SAML service")))?;
        if let Some((alg, sig, signed_bytes)) = &redirect_sig {
            bindings::verify_redirect_signature(
                alg,
                sig,
                signed_bytes,
                &sp.signing_certificates,
                sp.allow_sha1,
            )
            .map_err(page)?;
        } else if post && req.signed_enveloped {
            let (doc, certs) = (xml.clone(), sp.signing_certificates.clone());
            tokio::task::spawn_blocking(move || bindings::verify_post_signature(&doc, &certs))
                .await
                .map_err(|_| page(Refusal::page("verification task failed")))?
                .map_err(page)?;
        } else {
            return Err(page(Refusal::page("a LogoutRequest must be signed")));
        }
        if req.version != "2.0" {
            return Err(page(Refusal::page("Version is not 2.0")));
        }
        if req.destination.as_deref() != Some(self.slo_url().as_str()) {
            return Err(page(Refusal::page(
                "Destination is not this IdP's SLO endpoint",
            )));
        }
        let fresh = req
            .issue_instant
            .is_some_and(|t| instant_acceptable(t, now, self.skew, self.max_age));
        if !fresh {
            return Err(page(Refusal::page(
                "IssueInstant missing or outside the accepted window",
            )));
        }
        let window = std::time::Duration::try_from(self.max_age + self.skew * 2)
            .unwrap_or(Duration::from_secs(600));
        let key = format!(
            "{REPLAY_PREFIX}{}",
            crate::federation::sha1_hex(&format!("{issuer}\n{}", req.id))
        );
        match self.counters.hit(&key, window).await {
            Ok(1) => {}
            Ok(_) => return Err(page(Refusal::page("request ID already used (replay)"))),
            Err(e) => {
                tracing::error!(error = %e, "SAML replay cache unavailable");
                return Err(page(Refusal::page("replay cache unavailable")));
            }
        }
        Ok(LogoutPending {
            sp: issuer,
            request_id: req.id,
            name_id: req.name_id,
            session_indexes: req.session_indexes,
            relay_state,
        })
    }

    /// Keeps a POSTed LogoutRequest until the browser is back on our site.
    pub async fn put_logout(&self, p: &LogoutPending) -> Result<String, Refusal> {
        let reference = response::new_id();
        let bytes = serde_json::to_vec(p).map_err(|_| Refusal::page("cannot keep the request"))?;
        self.tickets
            .put(
                &format!("{LOGOUT_PREFIX}{reference}"),
                bytes,
                PENDING_LIFETIME,
            )
            .await
            .map_err(|_| Refusal::page("cannot keep the request"))?;
        Ok(reference)
    }

    /// The LogoutRequest `reference` names, consumed.
    pub async fn take_logout(&self, reference: &str) -> Option<LogoutPending> {
        let key = Self::pending_key(reference)?.replacen(PENDING_PREFIX, LOGOUT_PREFIX, 1);
        let bytes = self.tickets.take(&key).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// The signed LogoutResponse for `p`, to the SP's registered SingleLogoutService
    /// (Redirect preferred, else POST), audited.
    pub async fn logout_answer(
        &self,
        p: &LogoutPending,
        outcome: logout::Outcome,
        session_ref: Option<&str>,
    ) -> Result<LogoutAnswer, Refusal> {
        let now = self.clock.now();
        tracing::info!(sp = %p.sp, outcome = outcome.label(), "SAML logout");
        self.audit.record(
            now,
            AuditEvent::SamlLogout {
                sp: p.sp.clone(),
                outcome: outcome.label().to_owned(),
                session_ref: session_ref.unwrap_or_default().to_owned(),
            },
        );
        let svc = self.federation.saml_service_with_registry(&p.sp, now);
        let Some(sp) = svc.as_ref().and_then(|(_, s)| s.saml()) else {
            return Ok(LogoutAnswer::NoEndpoint);
        };
        let pick = |b: Binding| {
            sp.single_logout_services
                .iter()
                .find(|e| e.binding == b)
                .map(|e| e.response_location.clone().unwrap_or(e.location.clone()))
        };
        let key = self.identity.key.clone();
        let cert = self.identity.certificate_der.clone();
        let issuer = self.identity.entity_id.clone();
        let (irt, relay) = (p.request_id.clone(), p.relay_state.clone());
        let fail = |e: response::SignError| {
            tracing::error!(error = %e, "SAML logout response not signed");
            Refusal::page("the response could not be signed")
        };
        if let Some(to) = pick(Binding::HttpRedirect) {
            let url = tokio::task::spawn_blocking(move || {
                let xml = logout::build_logout_response(&issuer, &to, &irt, now, outcome, None)?;
                logout::redirect_url(&to, &xml, relay.as_deref(), &key)
            })
            .await
            .map_err(|_| Refusal::page("signing task failed"))?
            .map_err(fail)?;
            return Ok(LogoutAnswer::Redirect(url));
        }
        if let Some(to) = pick(Binding::HttpPost) {
            let dest = to.clone();
            let xml = tokio::task::spawn_blocking(move || {
                logout::build_logout_response(
                    &issuer,
                    &dest,
                    &irt,
                    now,
                    outcome,
                    Some((&key, &cert)),
                )
            })
            .await
            .map_err(|_| Refusal::page("signing task failed"))?
            .map_err(fail)?;
            let html = response::post_form(&to, &xml, p.relay_state.as_deref());
            return Ok(LogoutAnswer::Post(PostAnswer {
                csp: response::post_csp(&to),
                acs: to,
                html,
                session_entry: None,
            }));
        }
        Ok(LogoutAnswer::NoEndpoint)
    }

    /// The HTTP-Redirect SingleLogoutService `sp` registered, if any.
    pub fn slo_redirect_location(&self, sp: &str) -> Option<String> {
        let svc = self
            .federation
            .saml_service_with_registry(sp, self.clock.now());
        svc.as_ref().and_then(|(_, s)| s.saml()).and_then(|sp| {
            sp.single_logout_services
                .iter()
                .find(|e| e.binding == Binding::HttpRedirect)
                .map(|e| e.location.clone())
        })
    }

    /// Signed HTTP-Redirect LogoutRequests for the SAML SPs of ended `session` but
    /// `except` (the SP that initiated the logout), each recorded as pending (its ID, for
    /// the SP's LogoutResponse). One notice per SP, in session order.
    pub async fn propagate(&self, session: &SsoSession, except: Option<&str>) -> Vec<SloNotice> {
        let now = self.clock.now();
        let mut out: Vec<SloNotice> = Vec::new();
        for e in &session.services {
            let mut f = e.splitn(5, ' ');
            let (Some(tag), Some(_), Some(index), Some(format), Some(rest)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Some((name_id, entity)) = rest.rsplit_once(' ') else {
                continue;
            };
            if tag != SESSION_ENTRY || except == Some(entity) || out.iter().any(|n| n.sp == entity)
            {
                continue;
            }
            let location = self.slo_redirect_location(entity);
            let mut url = None;
            if let Some(to) = location {
                let (id, xml) = logout::build_logout_request(
                    &self.identity.entity_id,
                    &to,
                    name_id,
                    format,
                    index,
                    now,
                );
                let key = self.identity.key.clone();
                let signed = tokio::task::spawn_blocking(move || {
                    logout::redirect_request_url(&to, &xml, &key)
                })
                .await;
                match signed {
                    Ok(Ok(u)) => {
                        let kept = self
                            .tickets
                            .put(
                                &format!("{SENT_PREFIX}{id}"),
                                entity.as_bytes().to_vec(),
                                PENDING_LIFETIME,
                            )
                            .await;
                        if kept.is_ok() {
                            url = Some(u);
                        }
                    }
                    _ => tracing::error!(sp = %entity, "SAML LogoutRequest not signed"),
                }
            }
            self.audit.record(
                now,
                AuditEvent::SamlLogout {
                    sp: entity.to_owned(),
                    outcome: if url.is_some() {
                        "LogoutRequestSent"
                    } else {
                        "NoLogoutEndpoint"
                    }
                    .to_owned(),
                    session_ref: session.audit_ref.clone(),
                },
            );
            out.push(SloNotice {
                sp: entity.to_owned(),
                url,
            });
        }
        out
    }

    /// An SP's LogoutResponse to a LogoutRequest of [`Self::propagate`]: signed by that SP
    /// (query signature or enveloped), its InResponseTo a pending ID (consumed). Returns the
    /// SP, audited as `LoggedOut`.
    pub async fn accept_logout_response(&self, incoming: Incoming) -> Result<String, Refusal> {
        let (xml, redirect_sig, post) = match incoming {
            Incoming::Redirect(query) => {
                let m = bindings::decode_redirect(&query, "SAMLResponse")?;
                (m.xml, m.signature, false)
            }
            Incoming::Post {
                saml_request,
                relay_state,
            } => (
                bindings::decode_post(&saml_request, relay_state.as_deref())?,
                None,
                true,
            ),
        };
        let read = logout::parse_logout_response(&xml)?;
        let id = &read.in_response_to;
        if id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Refusal::page("unknown InResponseTo"));
        }
        let key = format!("{SENT_PREFIX}{id}");
        let sp = match self.tickets.get(&key).await {
            Ok(Some(b)) => {
                String::from_utf8(b).map_err(|_| Refusal::page("unknown InResponseTo"))?
            }
            _ => return Err(Refusal::page("unknown InResponseTo")),
        };
        if read.issuer.as_deref() != Some(sp.as_str()) {
            return Err(Refusal::page("the Issuer is not the SP that was asked"));
        }
        let now = self.clock.now();
        let svc = self.federation.saml_service_with_registry(&sp, now);
        let certs = svc
            .as_ref()
            .and_then(|(_, s)| s.saml())
            .map(|s| (s.signing_certificates.clone(), s.allow_sha1))
            .ok_or_else(|| Refusal::page("not an active SAML service"))?;
        if let Some((alg, sig, signed_bytes)) = &redirect_sig {
            bindings::verify_redirect_signature(alg, sig, signed_bytes, &certs.0, certs.1)?;
        } else if post && read.signed_enveloped {
            let doc = xml.clone();
            let c = certs.0.clone();
            tokio::task::spawn_blocking(move || bindings::verify_post_signature(&doc, &c))
                .await
                .map_err(|_| Refusal::page("verification task failed"))??;
        } else {
            return Err(Refusal::page("a LogoutResponse must be signed"));
        }
        let _ = self.tickets.take(&key).await;
        tracing::info!(sp = %sp, "SAML LogoutResponse received");
        self.audit.record(
            now,
            AuditEvent::SamlLogout {
                sp: sp.clone(),
                outcome: "LoggedOut".to_owned(),
                session_ref: String::new(),
            },
        );
        Ok(sp)
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
        let (xml, relay_state, redirect_sig, post) = match incoming {
            Incoming::Redirect(query) => {
                let m = bindings::decode_redirect(&query, "SAMLRequest").map_err(&page)?;
                (m.xml, m.relay_state, m.signature, false)
            }
            Incoming::Post {
                saml_request,
                relay_state,
            } => {
                let xml =
                    bindings::decode_post(&saml_request, relay_state.as_deref()).map_err(&page)?;
                (xml, relay_state, None, true)
            }
        };
        let req = request::parse_authn_request(&xml).map_err(&page)?;
        let issuer = req
            .issuer
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| page(Refusal::page("the request has no Issuer")))?;
        sp_name.clone_from(&issuer);
        let now = self.clock.now();
        let Some((_, service)) = self.federation.saml_service_with_registry(&issuer, now) else {
            return Err(Rejection {
                refusal: Refusal::page("the Issuer is not an active SAML service of the registry"),
                answer_to: None,
                unknown_sp: true,
            });
        };
        let sp = service
            .saml()
            .ok_or_else(|| page(Refusal::page("not a SAML service")))?;
        // The signature, with the SP's registered certificates only.
        let signed = if let Some((alg, sig, signed_bytes)) = &redirect_sig {
            bindings::verify_redirect_signature(
                alg,
                sig,
                signed_bytes,
                &sp.signing_certificates,
                sp.allow_sha1,
            )
            .map_err(&page)?;
            true
        } else if post && req.signed_enveloped {
            // libxmlsec1 is synchronous CPU work: off the async executor.
            let (doc, certs) = (xml.clone(), sp.signing_certificates.clone());
            tokio::task::spawn_blocking(move || bindings::verify_post_signature(&doc, &certs))
                .await
                .map_err(|_| page(Refusal::page("verification task failed")))?
                .map_err(&page)?;
            true
        } else {
            false
        };
        if (sp.authn_requests_signed || self.require_signed) && !signed {
            return Err(page(Refusal::page(
                "the request is not signed and this SP must sign its requests",
            )));
        }
        let acs = select_acs(
            sp,
            req.acs_url.as_deref(),
            req.acs_index,
            req.protocol_binding.as_deref(),
        )
        .map_err(&page)?;
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
        let window = std::time::Duration::try_from(self.max_age + self.skew * 2)
            .unwrap_or(Duration::from_secs(600));
        let key = format!(
            "{REPLAY_PREFIX}{}",
            crate::federation::sha1_hex(&format!("{issuer}\n{}", req.id))
        );
        match self.counters.hit(&key, window).await {
            Ok(1) => {}
            Ok(_) => {
                return Err(to_acs(Refusal::status(
                    Status::RequestDenied,
                    "request ID already used (replay)",
                )))
            }
            Err(e) => {
                tracing::error!(error = %e, "SAML replay cache unavailable");
                return Err(to_acs(Refusal::status(
                    Status::Responder,
                    "replay cache unavailable",
                )));
            }
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
            let acs = select_acs(settings, None, None, None).map_err(|r| page(r, false))?;
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
        let reference = response::new_id();
        let bytes = serde_json::to_vec(p).map_err(|_| Refusal::page("cannot keep the request"))?;
        self.tickets
            .put(
                &format!("{PENDING_PREFIX}{reference}"),
                bytes,
                PENDING_LIFETIME,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "SAML pending request not stored");
                Refusal::page("cannot keep the request")
            })?;
        Ok(reference)
    }

    fn pending_key(reference: &str) -> Option<String> {
        (reference.len() <= 64
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| format!("{PENDING_PREFIX}{reference}"))
    }

    /// The pending request `reference` names, left in place.
    pub async fn get_pending(&self, reference: &str) -> Option<Pending> {
        let key = Self::pending_key(reference)?;
        let bytes = self.tickets.get(&key).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// The pending request `reference` names, consumed.
    pub async fn take_pending(&self, reference: &str) -> Option<Pending> {
        let key = Self::pending_key(reference)?;
        let bytes = self.tickets.take(&key).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn signing_for(&self, sp: Option<&SamlSettings>) -> response::Signing {
        response::Signing {
            key: self.identity.key.clone(),
            cert_der: self.identity.certificate_der.clone(),
            sign_assertion: sp.is_none_or(|s| s.sign_assertion || s.want_assertions_signed),
            sign_response: sp.is_some_and(|s| s.sign_response),
            encrypt_for: None,
            algorithm: match sp.map(|s| (s.signature_algorithm, s.allow_sha1)) {
                Some((SignatureAlgorithm::RsaSha512, _)) => SignatureAlgorithm::RsaSha512.uri(),
                // SHA-1 only where the partner's entry allows it.
                Some((SignatureAlgorithm::RsaSha1, true)) => SignatureAlgorithm::RsaSha1.uri(),
                _ => SignatureAlgorithm::RsaSha256.uri(),
            },
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
        let issuer = self.identity.entity_id.clone();
        let acs = p.acs.clone();
        let irt = p.request_id.clone();
        let now = self.clock.now();
        let xml = tokio::task::spawn_blocking(move || {
            response::build_response(
                &issuer,
                &acs,
                irt.as_deref(),
                now,
                status,
                assertion.as_ref(),
                &signing,
            )
        })
        .await
        .map_err(|_| Refusal::page("signing task failed"))?
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
            csp: response::post_csp(&p.acs),
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
            csp: response::post_csp(&p.acs),
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
