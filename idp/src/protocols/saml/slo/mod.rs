//! Single logout, the IdP's side (SAML 2.0 profiles 4.4).
//!
//! SP-initiated: a LogoutRequest at `/saml/slo` (Redirect or POST) must be signed with the
//! SP's registered certificates and come from an active SAML service (else an error page:
//! nothing trusted to answer to). Once the SP and its signature are known, Version,
//! Destination, IssueInstant and replay failures are answered to the SP's registered
//! SingleLogoutService with a LogoutResponse carrying a `Requester` (or `VersionMismatch`)
//! status. LogoutRequest IDs have their own replay key space (not the AuthnRequests').
//!
//! Propagation to the other SAML SPs of the ended session ([`Saml::propagate`]): the SOAP
//! back channel where the SP registered a SOAP SingleLogoutService (signed LogoutRequest in
//! a SOAP 1.1 envelope, all SPs at once, short timeouts; the SP's signed LogoutResponse read
//! for its Status), else (or when the SOAP endpoint cannot be reached) a signed
//! HTTP-Redirect LogoutRequest (or, for an SP with only an HTTP-POST endpoint, our page
//! `/saml/slo/frame` posting it) for a frame of the logged-out page, whose LogoutResponse
//! comes back to `/saml/slo` ([`Saml::accept_logout_response`]). Only a top-level
//! `Success` counts as logged out. One SP failing never stops the others.
//!
//! Here: receiving an SP's LogoutRequest and answering it. `propagate.rs`: telling the
//! other SPs and reading their answers. `round.rs`: what the logged-out page and its status
//! page show, and the initiator's answer decided after them.

mod propagate;
mod round;

pub(crate) use propagate::soap_agent;
pub use propagate::SOAP_TIMEOUT;
pub use round::Line;

use std::time::Duration;

use federation_metadata::model::Binding;
use serde::{Deserialize, Serialize};

use super::logout::{self, LogoutSubject, Outcome};
use super::{
    bindings, instant_acceptable, response, soap, Incoming, PostAnswer, Refusal, Saml, Status,
    StoreDown, PENDING_LIFETIME, SESSION_ENTRY,
};
use crate::audit::AuditEvent;
use crate::model::SsoSession;

/// A POSTed LogoutRequest waiting for the browser to be back on our site.
const LOGOUT_PREFIX: &str = "saml-logout:";
/// Our LogoutRequest for an HTTP-POST-only SP, waiting for its frame to load it.
const FRAME_PREFIX: &str = "saml-logout-frame:";
/// LogoutRequests sent by the IdP to SPs, waiting for their LogoutResponse.
const SENT_PREFIX: &str = "saml-logout-sent:";
/// An initiating SP's answer, decided when the logged-out page moves on.
const ANSWER_PREFIX: &str = "saml-logout-answer:";
/// The lines of a logged-out page, for its status page.
const ROUND_PREFIX: &str = "saml-logout-round:";
/// An SP's answer to a front-channel LogoutRequest (`1`: logged out, `0`: failed).
const DONE_PREFIX: &str = "saml-logout-done:";
/// A checked LogoutRequest, waiting to be matched with the browser's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutPending {
    pub sp: String,
    pub request_id: String,
    pub name_id: Option<String>,
    pub session_indexes: Vec<String>,
    pub relay_state: Option<String>,
}

/// A refused LogoutRequest: an error page, or a status for `answer_to`'s SP.
#[derive(Debug)]
pub struct LogoutRejection {
    pub refusal: Refusal,
    /// Set once the SP and its signature are known: a LogoutResponse with
    /// `refusal.status` goes to its SingleLogoutService.
    pub answer_to: Option<Box<LogoutPending>>,
    /// The Issuer is not an active SAML service.
    pub unknown_sp: bool,
}

/// What was done for one other SAML SP of an ended session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SloState {
    /// Front channel: the URL for a frame of the page — the signed HTTP-Redirect
    /// LogoutRequest, or our page posting it to an HTTP-POST-only SP — the SP's endpoint
    /// (its origin goes into the page's `frame-src`) and the request's ID (to find the
    /// SP's answer later).
    Requested {
        url: String,
        endpoint: String,
        request_id: String,
    },
    /// Back channel: the SP answered `Success`.
    LoggedOut,
    /// Back channel: the SP answered with another status, or an answer that was refused.
    Failed,
    /// Back channel: no answer (connection, timeout, HTTP error) and no front channel.
    Unreachable,
    /// No usable SingleLogoutService registered (or the request could not be made).
    NoEndpoint,
}

impl SloState {
    /// The SP was told (or is being told) to end its session.
    pub fn told(&self) -> bool {
        matches!(self, Self::Requested { .. } | Self::LoggedOut)
    }
}

/// Propagation to one SAML SP of an ended session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SloNotice {
    pub sp: String,
    pub state: SloState,
}

/// How the LogoutResponse goes back.
pub enum LogoutAnswer {
    /// HTTP-Redirect: the whole signed URL.
    Redirect(String),
    Post(PostAnswer),
    /// The SP registered no usable SingleLogoutService.
    NoEndpoint,
}

/// One `saml` entry of a session:
/// `saml <service id> <SessionIndex> <NameID format> <NameID> <SP entityID>`.
struct Entry<'a> {
    index: &'a str,
    format: &'a str,
    name_id: &'a str,
    sp: &'a str,
}

fn entries(session: &SsoSession) -> Vec<Entry<'_>> {
    // The NameID (an attribute value for some formats) may hold spaces, the entityID
    // does not.
    session
        .services
        .iter()
        .filter_map(|e| {
            let mut f = e.splitn(5, ' ');
            let (tag, _service, index, format, rest) =
                (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            let (name_id, sp) = rest.rsplit_once(' ')?;
            (tag == SESSION_ENTRY).then_some(Entry {
                index,
                format,
                name_id,
                sp,
            })
        })
        .collect()
}

/// Whether `p` names a SAML entry of `session`: `Some(Success)` when it is the only SAML
/// SP of the session, `Some(Partial)` when other SAML SPs remain (`web::saml` then
/// propagates and may turn it into Success), `None` when NameID or SessionIndex do not
/// match.
pub fn logout_outcome(p: &LogoutPending, session: &SsoSession) -> Option<Outcome> {
    let all = entries(session);
    let matched = all.iter().any(|e| {
        e.sp == p.sp
            && p.name_id.as_deref() == Some(e.name_id)
            && (p.session_indexes.is_empty() || p.session_indexes.iter().any(|i| i == e.index))
    });
    if !matched {
        return None;
    }
    if all.iter().any(|e| e.sp != p.sp) {
        Some(Outcome::Partial)
    } else {
        Some(Outcome::Success)
    }
}

impl Saml {
    /// Our SLO endpoint (the Destination LogoutRequests must carry).
    pub fn slo_url(&self) -> String {
        format!("{}/saml/slo", self.identity.base_url)
    }

    fn refuse_logout(&self, sp: &str, r: LogoutRejection) -> LogoutRejection {
        let outcome = match (&r.refusal.status, &r.answer_to) {
            (Some(s), Some(_)) => s.label().to_owned(),
            _ => "error_page".to_owned(),
        };
        tracing::info!(sp, outcome, reason = %r.refusal.reason, "SAML logout message refused");
        self.audit.record(
            self.clock.now(),
            AuditEvent::SamlRequestRefused {
                sp: sp.to_owned(),
                outcome,
                reason: r.refusal.reason.to_string(),
            },
        );
        r
    }

    /// Decodes, verifies (a signature is required) and checks a LogoutRequest. Every
    /// refusal is audited.
    pub async fn check_logout(&self, incoming: Incoming) -> Result<LogoutPending, LogoutRejection> {
        let mut sp_name = String::new();
        let result = self.check_logout_inner(incoming, &mut sp_name).await;
        result.map_err(|r| self.refuse_logout(&sp_name, r))
    }

    async fn check_logout_inner(
        &self,
        incoming: Incoming,
        sp_name: &mut String,
    ) -> Result<LogoutPending, LogoutRejection> {
        // Decode, Issuer, active SP, signature (required): the checks shared with
        // AuthnRequests (`inbound.rs`).
        let super::inbound::Received {
            message: req,
            issuer,
            relay_state,
            ..
        } = self
            .receive_signed::<logout::LogoutRequest>(incoming, sp_name)
            .await?;
        let now = self.clock.now();
        // From here the SP is known and the request is its own: it gets a status.
        let pending = LogoutPending {
            sp: issuer.clone(),
            request_id: req.id.clone(),
            name_id: req.name_id,
            session_indexes: req.session_indexes,
            relay_state,
        };
        let to_sp = |status: Status, reason: &'static str| LogoutRejection {
            refusal: Refusal::status(status, reason),
            answer_to: Some(Box::new(pending.clone())),
            unknown_sp: false,
        };
        if req.version != "2.0" {
            return Err(to_sp(Status::VersionMismatch, "Version is not 2.0"));
        }
        if req.destination.as_deref() != Some(self.slo_url().as_str()) {
            return Err(to_sp(
                Status::Requester,
                "Destination is not this IdP's SLO endpoint",
            ));
        }
        let fresh = req
            .issue_instant
            .is_some_and(|t| instant_acceptable(t, now, self.skew, self.max_age));
        if !fresh {
            return Err(to_sp(
                Status::RequestDenied,
                "IssueInstant missing or outside the accepted window",
            ));
        }
        self.first_use(super::inbound::Kind::LogoutRequest, &issuer, &req.id)
            .await
            .map_err(|e| match e {
                super::inbound::ReplayError::Replayed => to_sp(Status::RequestDenied, e.reason()),
                super::inbound::ReplayError::Unavailable => to_sp(Status::Responder, e.reason()),
            })?;
        Ok(pending)
    }

    /// Keeps a POSTed LogoutRequest until the browser is back on our site.
    pub async fn put_logout(&self, p: &LogoutPending) -> Result<String, Refusal> {
        self.keep(LOGOUT_PREFIX, p)
            .await
            .map_err(|_| Refusal::page("cannot keep the request"))
    }

    /// The LogoutRequest `reference` names, consumed.
    pub async fn take_logout(&self, reference: &str) -> Result<Option<LogoutPending>, StoreDown> {
        self.record(Self::record_key(LOGOUT_PREFIX, reference), true)
            .await
    }

    /// The signed LogoutResponse for `p`, to the SP's registered SingleLogoutService
    /// (Redirect preferred, else POST), audited.
    pub async fn logout_answer(
        &self,
        p: &LogoutPending,
        outcome: Outcome,
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
        let pick = |b: Binding| self.slo_endpoint(&p.sp, b, true);
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
            let html = response::post_form_of(
                "SAMLResponse",
                &to,
                &xml,
                p.relay_state.as_deref(),
                "Déconnexion en cours… / Logging out…",
            );
            return Ok(LogoutAnswer::Post(PostAnswer {
                csp: response::post_csp(),
                acs: to,
                html,
                session_entry: None,
            }));
        }
        Ok(LogoutAnswer::NoEndpoint)
    }

    /// The SingleLogoutService of `binding` that `sp` registered, if any (its
    /// ResponseLocation when `response` and it has one).
    pub fn slo_endpoint(&self, sp: &str, binding: Binding, response: bool) -> Option<String> {
        let svc = self
            .federation
            .saml_service_with_registry(sp, self.clock.now());
        svc.as_ref().and_then(|(_, s)| s.saml()).and_then(|s| {
            s.single_logout_services
                .iter()
                .find(|e| e.binding == binding)
                .map(|e| match (&e.response_location, response) {
                    (Some(r), true) => r.clone(),
                    _ => e.location.clone(),
                })
        })
    }

    /// The HTTP-Redirect SingleLogoutService `sp` registered, if any.
    pub fn slo_redirect_location(&self, sp: &str) -> Option<String> {
        self.slo_endpoint(sp, Binding::HttpRedirect, false)
    }
}
