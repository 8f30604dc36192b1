//! Back-channel single logout: when an SSO session ends by logout, every service that got a
//! ticket in it (and asks for single logout in the registry) is sent a `logoutRequest`
//! POST naming that ticket as `SessionIndex`. The requests go out concurrently, each with a
//! short timeout; a failure is logged and audited and never holds up the others. The
//! session's proxy-granting tickets stop working too.

use base64::Engine as _;
use rand::RngCore;

use super::response::escape;
use super::Cas;
use crate::audit::AuditEvent;
use crate::model::SsoSession;

fn random_id() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    format!(
        "LR-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

/// The SAML `LogoutRequest` the CAS protocol sends (form field `logoutRequest`).
pub fn logout_request(ticket: &str, at: time::OffsetDateTime) -> String {
    let instant = at
        .replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{instant}\"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        random_id(),
        escape(ticket)
    )
}

impl Cas {
    /// Notifies the services of an ended session; returns once every request has been
    /// answered or has timed out.
    pub async fn single_logout(&self, session: &SsoSession) {
        let now = self.clock.now();
        // The session's proxy-granting tickets end with it.
        let marker = super::proxy::ended_key(&session.audit_ref);
        if let Err(e) = self
            .tickets
            .put(&marker, b"1".to_vec(), self.pgt_lifetime)
            .await
        {
            tracing::error!(error = %e, "ended session not recorded for its proxy tickets");
        }
        let mut sent = Vec::new();
        for (service_id, ticket, url) in Self::session_entries(session) {
            let wants = self
                .federation
                .service_for_cas_url(&url, now)
                .filter(|s| s.id == service_id)
                .is_some_and(|s| s.cas().is_some_and(|c| c.single_logout));
            if !wants {
                continue;
            }
            let body = logout_request(&ticket, now);
            let agent = self.back_channel.clone();
            // Spawned right away on the blocking pool: the requests run concurrently.
            let job = actix_web::web::block(move || {
                agent
                    .post(&url)
                    .send_form([("logoutRequest", body.as_str())])
                    .map(|r| r.status().as_u16())
            });
            sent.push((service_id, job));
        }
        for (service_id, job) in sent {
            let delivered = match job.await {
                Ok(Ok(status)) if (200..300).contains(&status) => true,
                Ok(Ok(status)) => {
                    tracing::warn!(service = %service_id, status, "CAS logout request refused");
                    false
                }
                Ok(Err(e)) => {
                    tracing::warn!(
                        service = %service_id,
                        error = %super::ticket::redact(&e.to_string()),
                        "CAS logout request failed"
                    );
                    false
                }
                Err(e) => {
                    tracing::error!(service = %service_id, error = %e, "CAS logout request not sent");
                    false
                }
            };
            self.audit.record(
                self.clock.now(),
                AuditEvent::CasLogoutNotice {
                    service: service_id,
                    session_ref: session.audit_ref.clone(),
                    delivered,
                },
            );
        }
    }
}
