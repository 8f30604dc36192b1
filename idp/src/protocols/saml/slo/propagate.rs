//! Propagation of a logout to the other SAML SPs of the ended session: SOAP back channel
//! (all at once, short timeouts, answers read and verified), else a signed HTTP-Redirect
//! LogoutRequest (or our page `/saml/slo/frame` posting it, for an SP with only an HTTP-POST
//! endpoint) for a frame of the logged-out page, whose LogoutResponse comes back to
//! `/saml/slo` ([`Saml::accept_logout_response`]).

use super::*;

/// How long one SOAP logout exchange may take by default (`saml.soap_timeout_secs`; the
/// browser waits for all of them).
pub const SOAP_TIMEOUT: Duration = Duration::from_secs(3);
/// SAML bindings 3.2.2.1.
const SOAP_ACTION: &str = "http://www.oasis-open.org/committees/security";

/// A LogoutRequest the IdP sent, waiting for its LogoutResponse.
#[derive(Serialize, Deserialize)]
struct Sent {
    sp: String,
    session_ref: String,
}

/// The agent of the SOAP back channel: short timeout, no redirects, the platform's roots.
pub(crate) fn soap_agent(timeout: Duration) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
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
                        Some((url, endpoint, request_id)) => {
                            self.audit_logout(t.sp, "LogoutRequestSent", &session.audit_ref);
                            SloState::Requested {
                                url,
                                endpoint,
                                request_id,
                            }
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

    /// The front-channel LogoutRequest for `t`, recorded as pending: (URL for a frame of
    /// the logged-out page, the SP's endpoint, request ID). HTTP-Redirect when the SP
    /// registered it (a signed query), else HTTP-POST (an enveloped signature, in a form
    /// that our own page `/saml/slo/frame` posts from the frame); `None` when it registered
    /// neither or the request could not be signed.
    async fn front_request(
        &self,
        t: &Entry<'_>,
        session: &SsoSession,
    ) -> Option<(String, String, String)> {
        let subject = LogoutSubject {
            issuer: &self.identity.entity_id,
            sp: t.sp,
            name_id: t.name_id,
            format: t.format,
            session_index: t.index,
        };
        let now = self.clock.now();
        let key = self.identity.key.clone();
        let (url, endpoint, id) = if let Some(to) = self.slo_redirect_location(t.sp) {
            let (id, xml) = logout::build_logout_request(&subject, &to, now);
            let endpoint = to.clone();
            let signed =
                tokio::task::spawn_blocking(move || logout::redirect_request_url(&to, &xml, &key))
                    .await;
            match signed {
                Ok(Ok(url)) => (url, endpoint, id),
                _ => {
                    tracing::error!(sp = %t.sp, "SAML LogoutRequest not signed");
                    return None;
                }
            }
        } else {
            let to = self.slo_endpoint(t.sp, Binding::HttpPost, false)?;
            // libxmlsec1 is synchronous CPU work: off the executor, with owned copies.
            let owned = [
                subject.issuer,
                subject.sp,
                subject.name_id,
                subject.format,
                subject.session_index,
            ]
            .map(str::to_owned);
            let (cert, dest) = (self.identity.certificate_der.clone(), to.clone());
            let signed = tokio::task::spawn_blocking(move || {
                let [issuer, sp, name_id, format, session_index] = &owned;
                let subject = LogoutSubject {
                    issuer,
                    sp,
                    name_id,
                    format,
                    session_index,
                };
                logout::build_signed_logout_request(&subject, &dest, now, &key, &cert)
            })
            .await;
            let (id, xml) = match signed {
                Ok(Ok(v)) => v,
                _ => {
                    tracing::error!(sp = %t.sp, "SAML LogoutRequest not signed");
                    return None;
                }
            };
            let form = PostAnswer {
                html: response::post_form_of(
                    "SAMLRequest",
                    &to,
                    &xml,
                    None,
                    "Déconnexion en cours… / Logging out…",
                ),
                csp: response::post_csp_framed_by("'self'"),
                acs: to.clone(),
                session_entry: None,
            };
            let reference = self
                .keep(FRAME_PREFIX, &(&form.acs, &form.html, &form.csp))
                .await
                .ok()?;
            (format!("/saml/slo/frame?ref={reference}"), to, id)
        };
        let sent = Sent {
            sp: t.sp.to_owned(),
            session_ref: session.audit_ref.clone(),
        };
        self.keep_at(&format!("{SENT_PREFIX}{id}"), &sent)
            .await
            .ok()?;
        Some((url, endpoint, id))
    }

    /// The form page of a front-channel HTTP-POST LogoutRequest `reference` names
    /// (consumed: one frame, one request).
    pub async fn take_frame(&self, reference: &str) -> Result<Option<PostAnswer>, StoreDown> {
        let record: Option<(String, String, String)> = self
            .record(Self::record_key(FRAME_PREFIX, reference), true)
            .await?;
        Ok(record.map(|(acs, html, csp)| PostAnswer {
            acs,
            html,
            csp,
            session_entry: None,
        }))
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
        let signed = crate::protocols::saml::inbound::verify_signature(
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
}
