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
//! HTTP-Redirect LogoutRequest for a frame of the logged-out page, whose LogoutResponse
//! comes back to `/saml/slo` ([`Saml::accept_logout_response`]). Only a top-level
//! `Success` counts as logged out. One SP failing never stops the others.

use std::time::Duration;

use federation_metadata::model::Binding;
use serde::{Deserialize, Serialize};

use super::logout::{self, LogoutSubject, Outcome};
use super::{
    bindings, instant_acceptable, response, soap, Incoming, PostAnswer, Refusal, Saml, Status,
    StoreDown, PENDING_LIFETIME, PENDING_PREFIX, SESSION_ENTRY,
};
use crate::audit::AuditEvent;
use crate::model::SsoSession;

/// A POSTed LogoutRequest waiting for the browser to be back on our site.
const LOGOUT_PREFIX: &str = "saml-logout:";
/// LogoutRequests sent by the IdP to SPs, waiting for their LogoutResponse.
const SENT_PREFIX: &str = "saml-logout-sent:";
/// An initiating SP's answer, decided when the logged-out page moves on.
const ANSWER_PREFIX: &str = "saml-logout-answer:";
/// The lines of a logged-out page, for its status page.
const ROUND_PREFIX: &str = "saml-logout-round:";
/// An SP's answer to a front-channel LogoutRequest (`1`: logged out, `0`: failed).
const DONE_PREFIX: &str = "saml-logout-done:";
/// How long one SOAP logout exchange may take (the browser waits for all of them).
pub const SOAP_TIMEOUT: Duration = Duration::from_secs(3);
/// SAML bindings 3.2.2.1.
const SOAP_ACTION: &str = "http://www.oasis-open.org/committees/security";

/// An initiating SP's answer waiting for the logged-out page ([`Saml::defer_answer`]).
#[derive(Debug, Serialize, Deserialize)]
struct Deferred {
    pending: LogoutPending,
    session_ref: Option<String>,
    /// No other SP failed, was unreachable or had no endpoint.
    others_done: bool,
    /// The front-channel LogoutRequest IDs whose answers decide the rest.
    front: Vec<String>,
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
    /// Front channel: the signed HTTP-Redirect LogoutRequest URL, for a frame of the page,
    /// and its ID (to find the SP's answer later).
    Requested { url: String, request_id: String },
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

/// A LogoutRequest the IdP sent, waiting for its LogoutResponse.
#[derive(Serialize, Deserialize)]
struct Sent {
    sp: String,
    session_ref: String,
}

/// The agent of the SOAP back channel: short timeout, no redirects, the platform's roots.
pub(super) fn soap_agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(SOAP_TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

/// What a SOAP exchange with one SP gave: its state and the audit outcome.
fn soap_exchange(
    agent: &ureq::Agent,
    location: &str,
    request_id: &str,
    envelope: &str,
    sp: &str,
    (certs, allow_sha1): (&[String], bool),
) -> (SloState, String) {
    let res = agent
        .post(location)
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", SOAP_ACTION)
        .send(envelope);
    let mut res = match res {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(sp, error = %e, "SAML SOAP logout: no answer");
            return (SloState::Unreachable, "Unreachable".to_owned());
        }
    };
    let status = res.status().as_u16();
    let body = res
        .body_mut()
        .with_config()
        .limit(u64::try_from(bindings::MAX_XML).unwrap_or(u64::MAX) + 1024)
        .read_to_string();
    let body = match body {
        Ok(b) if status == 200 => b,
        Ok(_) => {
            tracing::warn!(sp, status, "SAML SOAP logout: HTTP error");
            return (SloState::Unreachable, format!("Unreachable: HTTP {status}"));
        }
        Err(e) => {
            tracing::warn!(sp, error = %e, "SAML SOAP logout: answer not read");
            return (SloState::Unreachable, "Unreachable".to_owned());
        }
    };
    let failed = |reason: &str| {
        tracing::warn!(sp, reason, "SAML SOAP LogoutResponse refused");
        (SloState::Failed, format!("LogoutFailed: {reason}"))
    };
    let xml = match soap::soap_body(&body) {
        Ok(x) => x,
        Err(r) => return failed(&r.reason),
    };
    let read = match logout::parse_logout_response(&xml) {
        Ok(r) => r,
        Err(r) => return failed(&r.reason),
    };
    if read.in_response_to != request_id {
        return failed("InResponseTo is not the request sent");
    }
    if read.issuer.as_deref() != Some(sp) {
        return failed("the Issuer is not the SP that was asked");
    }
    if !read.signed_enveloped {
        return failed("a LogoutResponse must be signed");
    }
    if let Err(r) = bindings::verify_post_signature(&xml, certs, allow_sha1) {
        return failed(&r.reason);
    }
    if read.success() {
        (SloState::LoggedOut, "LoggedOut".to_owned())
    } else {
        (
            SloState::Failed,
            format!("LogoutFailed: {}", read.status_label()),
        )
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
    pub async fn take_logout(&self, reference: &str) -> Result<Option<LogoutPending>, StoreDown> {
        let key =
            Self::pending_key(reference).map(|k| k.replacen(PENDING_PREFIX, LOGOUT_PREFIX, 1));
        self.record(key, true).await
    }

    /// Keeps the initiating SP's answer for after the logged-out page: its outcome is only
    /// known once the front-channel SPs have answered (their frames load with the page), so
    /// it is decided, signed and sent when the browser leaves the page
    /// ([`Saml::deferred_answer`]). Returns the reference.
    pub async fn defer_answer(
        &self,
        p: &LogoutPending,
        session_ref: Option<&str>,
        notices: &[SloNotice],
    ) -> Result<String, Refusal> {
        let deferred = Deferred {
            pending: p.clone(),
            session_ref: session_ref.map(str::to_owned),
            others_done: notices
                .iter()
                .all(|n| matches!(n.state, SloState::LoggedOut | SloState::Requested { .. })),
            front: notices
                .iter()
                .filter_map(|n| match &n.state {
                    SloState::Requested { request_id, .. } => Some(request_id.clone()),
                    _ => None,
                })
                .collect(),
        };
        let reference = response::new_id();
        let bytes =
            serde_json::to_vec(&deferred).map_err(|_| Refusal::page("cannot keep the answer"))?;
        self.tickets
            .put(
                &format!("{ANSWER_PREFIX}{reference}"),
                bytes,
                PENDING_LIFETIME,
            )
            .await
            .map_err(|_| Refusal::page("cannot keep the answer"))?;
        Ok(reference)
    }

    /// The initiator's answer `reference` names (consumed: sent once): `Success` when every
    /// other SP was logged out — by the back channel, or by a front-channel LogoutResponse
    /// with a `Success` status received by now — else `PartialLogout` (SAML core 3.7.3.2:
    /// the session authority could not confirm them all). `None`: unknown or already used.
    pub async fn deferred_answer(&self, reference: &str) -> Result<Option<LogoutAnswer>, Refusal> {
        let key =
            Self::pending_key(reference).map(|k| k.replacen(PENDING_PREFIX, ANSWER_PREFIX, 1));
        let Some(d) = self
            .record::<Deferred>(key, true)
            .await
            .map_err(|_| Refusal::page("the record store is unavailable"))?
        else {
            return Ok(None);
        };
        let mut all = d.others_done;
        for id in &d.front {
            if !all {
                break;
            }
            all = matches!(
                self.tickets.get(&format!("{DONE_PREFIX}{id}")).await,
                Ok(Some(v)) if v == b"1"
            );
        }
        let outcome = if all {
            Outcome::Success
        } else {
            Outcome::Partial
        };
        self.logout_answer(&d.pending, outcome, d.session_ref.as_deref())
            .await
            .map(Some)
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

    /// Tells the SAML SPs of ended `session` but `except` (the SP that initiated the
    /// logout): by SOAP where the SP registered a SOAP SingleLogoutService (all at once,
    /// answers read), else by a signed HTTP-Redirect LogoutRequest for the page (recorded
    /// as pending, for the SP's LogoutResponse). One notice per SP, in session order; each
    /// audited.
    pub async fn propagate(&self, session: &SsoSession, except: Option<&str>) -> Vec<SloNotice> {
        let now = self.clock.now();
        let mut targets: Vec<Entry<'_>> = Vec::new();
        for e in entries(session) {
            if except == Some(e.sp) || targets.iter().any(|t| t.sp == e.sp) {
                continue;
            }
            targets.push(e);
        }
        let issuer = self.identity.entity_id.as_str();
        // The back channel first, every SP at once; the browser waits at most one timeout.
        let mut jobs = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let Some(to) = self.slo_endpoint(t.sp, Binding::Soap, false) else {
                continue;
            };
            let certs = self
                .federation
                .saml_service_with_registry(t.sp, now)
                .and_then(|(_, s)| {
                    s.saml()
                        .map(|s| (s.signing_certificates.clone(), s.allow_sha1))
                })
                .unwrap_or_default();
            let (agent, key) = (self.back_channel.clone(), self.identity.key.clone());
            let cert_der = self.identity.certificate_der.clone();
            let fields = [issuer, t.sp, t.name_id, t.format, t.index].map(str::to_owned);
            // Signing is CPU work too: the whole exchange runs on the blocking pool.
            jobs.push((
                i,
                tokio::task::spawn_blocking(move || {
                    let [issuer, sp, name_id, format, session_index] = &fields;
                    let who = LogoutSubject {
                        issuer,
                        sp,
                        name_id,
                        format,
                        session_index,
                    };
                    match logout::build_signed_logout_request(&who, &to, now, &key, &cert_der) {
                        Ok((id, xml)) => {
                            let envelope = soap::soap_envelope(&xml);
                            soap_exchange(&agent, &to, &id, &envelope, sp, (&certs.0, certs.1))
                        }
                        Err(e) => {
                            tracing::error!(sp = %sp, error = %e, "SAML LogoutRequest not signed");
                            (
                                SloState::Unreachable,
                                "Unreachable: LogoutRequest not signed".to_owned(),
                            )
                        }
                    }
                }),
            ));
        }
        let mut soap: Vec<Option<(SloState, String)>> = vec![None; targets.len()];
        for (i, job) in jobs {
            let result = job.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "SAML SOAP logout task failed");
                (SloState::Unreachable, "Unreachable".to_owned())
            });
            if let Some(slot) = soap.get_mut(i) {
                *slot = Some(result);
            }
        }
        let mut out = Vec::new();
        for (t, by_soap) in targets.iter().zip(soap) {
            let state = match by_soap {
                Some((state, outcome)) => {
                    self.audit_logout(t.sp, &outcome, &session.audit_ref);
                    state
                }
                None => SloState::NoEndpoint,
            };
            // Not answered by SOAP (or none): the front channel, when registered.
            let state = match state {
                SloState::Unreachable | SloState::NoEndpoint => {
                    match self.front_request(t, session).await {
                        Some((url, request_id)) => {
                            self.audit_logout(t.sp, "LogoutRequestSent", &session.audit_ref);
                            SloState::Requested { url, request_id }
                        }
                        None if state == SloState::NoEndpoint => {
                            self.audit_logout(t.sp, "NoLogoutEndpoint", &session.audit_ref);
                            state
                        }
                        None => state,
                    }
                }
                s => s,
            };
            out.push(SloNotice {
                sp: t.sp.to_owned(),
                state,
            });
        }
        out
    }

    fn audit_logout(&self, sp: &str, outcome: &str, session_ref: &str) {
        tracing::info!(sp, outcome, "SAML logout propagation");
        self.audit.record(
            self.clock.now(),
            AuditEvent::SamlLogout {
                sp: sp.to_owned(),
                outcome: outcome.to_owned(),
                session_ref: session_ref.to_owned(),
            },
        );
    }

    /// A signed HTTP-Redirect LogoutRequest URL for `t`, recorded as pending; `None` when
    /// the SP registered no HTTP-Redirect SingleLogoutService or it could not be made.
    async fn front_request(&self, t: &Entry<'_>, session: &SsoSession) -> Option<(String, String)> {
        let to = self.slo_redirect_location(t.sp)?;
        let who = LogoutSubject {
            issuer: &self.identity.entity_id,
            sp: t.sp,
            name_id: t.name_id,
            format: t.format,
            session_index: t.index,
        };
        let (id, xml) = logout::build_logout_request(&who, &to, self.clock.now());
        let key = self.identity.key.clone();
        let signed =
            tokio::task::spawn_blocking(move || logout::redirect_request_url(&to, &xml, &key))
                .await;
        let url = match signed {
            Ok(Ok(u)) => u,
            _ => {
                tracing::error!(sp = %t.sp, "SAML LogoutRequest not signed");
                return None;
            }
        };
        let sent = Sent {
            sp: t.sp.to_owned(),
            session_ref: session.audit_ref.clone(),
        };
        let bytes = serde_json::to_vec(&sent).ok()?;
        self.tickets
            .put(&format!("{SENT_PREFIX}{id}"), bytes, PENDING_LIFETIME)
            .await
            .ok()?;
        Some((url, id))
    }

    /// An SP's LogoutResponse to a LogoutRequest of [`Self::propagate`]: signed by that SP
    /// (query signature or enveloped), its InResponseTo a pending ID (consumed). Returns
    /// the SP and whether its status is `Success`; audited `LoggedOut` or `LogoutFailed`.
    pub async fn accept_logout_response(
        &self,
        incoming: Incoming,
    ) -> Result<(String, bool), Refusal> {
        let mut sp_name = String::new();
        let result = self
            .accept_logout_response_inner(incoming, &mut sp_name)
            .await;
        if let Err(r) = &result {
            self.refuse_logout(
                &sp_name,
                LogoutRejection {
                    refusal: r.clone(),
                    answer_to: None,
                    unknown_sp: false,
                },
            );
        }
        result
    }

    async fn accept_logout_response_inner(
        &self,
        incoming: Incoming,
        sp_name: &mut String,
    ) -> Result<(String, bool), Refusal> {
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
        // The Issuer as claimed, for the audit trail only.
        sp_name.extend(read.issuer.iter().flat_map(|i| i.chars()).take(256));
        let id = &read.in_response_to;
        if id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Refusal::page("unknown InResponseTo"));
        }
        let key = format!("{SENT_PREFIX}{id}");
        let sent: Sent = match self.tickets.get(&key).await {
            Ok(Some(b)) => {
                serde_json::from_slice(&b).map_err(|_| Refusal::page("unknown InResponseTo"))?
            }
            _ => return Err(Refusal::page("unknown InResponseTo")),
        };
        let sp = sent.sp;
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
        let signed = super::inbound::verify_signature(
            xml,
            redirect_sig,
            post && read.signed_enveloped,
            &certs.0,
            certs.1,
        )
        .await?;
        if !signed {
            return Err(Refusal::page("a LogoutResponse must be signed"));
        }
        // Consumed: a replayed response finds nothing.
        if !matches!(self.tickets.take(&key).await, Ok(Some(_))) {
            return Err(Refusal::page("unknown InResponseTo"));
        }
        let ok = read.success();
        let outcome = if ok {
            "LoggedOut".to_owned()
        } else {
            format!("LogoutFailed: {}", read.status_label())
        };
        self.audit_logout(&sp, &outcome, &sent.session_ref);
        // For the logged-out page's status page.
        let mark = if ok { b"1".to_vec() } else { b"0".to_vec() };
        if let Err(e) = self
            .tickets
            .put(&format!("{DONE_PREFIX}{id}"), mark, PENDING_LIFETIME)
            .await
        {
            tracing::warn!(error = %e, "SAML logout answer not recorded for the status page");
        }
        Ok((sp, ok))
    }

    /// Keeps the lines of a logged-out page (and where it leads next) for its status page;
    /// returns the reference.
    pub async fn put_round(&self, lines: &[(String, Line)], next: Option<&str>) -> Option<String> {
        let reference = response::new_id();
        let round = Round {
            lines: lines.to_vec(),
            next: next.map(str::to_owned),
            views: 0,
        };
        let bytes = serde_json::to_vec(&round).ok()?;
        self.tickets
            .put(
                &format!("{ROUND_PREFIX}{reference}"),
                bytes,
                PENDING_LIFETIME,
            )
            .await
            .ok()?;
        Some(reference)
    }

    /// The lines `reference` names, each front-channel request resolved to the SP's answer
    /// so far, and where the page leads next. While some SP has not answered, the first
    /// [`STATUS_WAITS`] views say so (`waiting`: the page shows it "requested" and looks
    /// again, an SP may be slow); then it is `NoAnswer` and the page moves on. Left in
    /// place: the page may be reloaded.
    pub async fn round(&self, reference: &str) -> Result<Option<RoundView>, StoreDown> {
        let Some(key) =
            Self::pending_key(reference).map(|k| k.replacen(PENDING_PREFIX, ROUND_PREFIX, 1))
        else {
            return Ok(None);
        };
        let Some(mut round) = self.record::<Round>(Some(key.clone()), false).await? else {
            return Ok(None);
        };
        let mut answers = Vec::with_capacity(round.lines.len());
        for (_, line) in &round.lines {
            answers.push(match line {
                Line::Front(id) => match self.tickets.get(&format!("{DONE_PREFIX}{id}")).await {
                    Ok(Some(v)) if v == b"1" => Some(Line::LoggedOut),
                    Ok(Some(_)) => Some(Line::Failed),
                    _ => None,
                },
                l => Some(l.clone()),
            });
        }
        let pending = answers.iter().any(Option::is_none);
        let waiting = pending && round.views < STATUS_WAITS;
        if waiting {
            round.views += 1;
            // Only the count of views changes: a lost write merely shows one more wait.
            if let Ok(bytes) = serde_json::to_vec(&round) {
                let _ = self.tickets.put(&key, bytes, PENDING_LIFETIME).await;
            }
        }
        let lines = round
            .lines
            .into_iter()
            .zip(answers)
            .map(|((name, line), answer)| {
                let shown = match answer {
                    Some(a) => a,
                    None if waiting => line,
                    None => Line::NoAnswer,
                };
                (name, shown)
            })
            .collect();
        Ok(Some(RoundView {
            lines,
            next: round.next,
            waiting,
        }))
    }
}

/// How many times the status page looks again for front-channel answers still missing
/// (each after the page's refresh delay) before it reports "no answer" and moves on.
pub const STATUS_WAITS: u8 = 3;

/// A logged-out page's lines and where it leads, kept for its status page.
#[derive(Debug, Serialize, Deserialize)]
struct Round {
    lines: Vec<(String, Line)>,
    next: Option<String>,
    /// Status views that waited for missing answers.
    views: u8,
}

/// What the status page shows.
pub struct RoundView {
    pub lines: Vec<(String, Line)>,
    /// Where the page leads once done.
    pub next: Option<String>,
    /// Some SP has not answered yet: look again instead of moving on.
    pub waiting: bool,
}

/// One line of a logged-out page: a service of the ended session and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Line {
    /// A CAS service, sent its back-channel notice.
    CasNotified,
    LoggedOut,
    Failed,
    Unreachable,
    NoEndpoint,
    /// A front-channel LogoutRequest (its ID) was sent from the page.
    Front(String),
    /// The SP has not answered its front-channel LogoutRequest (yet).
    NoAnswer,
}
