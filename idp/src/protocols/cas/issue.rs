//! Issuing service tickets at `/login`: the `service` URL matched against the active
//! registry entries first (nothing is issued nor redirected to otherwise), then a ticket
//! bound to it, audited, and the entry the SSO session keeps for single logout.

use std::sync::Arc;

use federation_metadata::model::Service;

use super::error::CasError;
use super::ticket::{self, Kind, TicketData};
use super::url;
use super::Cas;
use crate::audit::AuditEvent;
use crate::model::SsoSession;

/// A `service` URL that matched an active CAS member of a registry in force.
#[derive(Debug, Clone)]
pub struct MatchedService {
    /// As the client sent it (where the browser is sent back).
    pub given: String,
    /// Normalised (what tickets are bound to).
    pub normalised: String,
    pub service: Arc<Service>,
}

/// Marks the SSO session's `services` entries written by CAS:
/// `cas <service id> <ticket> <service URL>` (the ticket is the logout's SessionIndex).
const SESSION_ENTRY: &str = "cas";

/// Longest list of services kept in one session (oldest entries dropped first).
pub const MAX_SESSION_SERVICES: usize = 64;

impl Cas {
    /// The active CAS service `url` belongs to, if any.
    pub fn service_for(&self, url: &str) -> Option<MatchedService> {
        let normalised = url::normalise(url)?;
        let now = self.clock.now();
        // Patterns are matched against the normalised URL, and against the URL as sent for
        // registry patterns written with capitals or an explicit default port.
        let service = self
            .federation
            .service_for_cas_url(&normalised, now)
            .or_else(|| {
                (normalised != url)
                    .then(|| self.federation.service_for_cas_url(url, now))
                    .flatten()
            })?;
        Some(MatchedService {
            given: url.to_owned(),
            normalised,
            service,
        })
    }

    /// A new service ticket for `session` towards `m`, audited.
    pub async fn issue_service_ticket(
        &self,
        m: &MatchedService,
        session: &SsoSession,
        from_new_login: bool,
    ) -> Result<String, CasError> {
        let now = self.clock.now();
        let id = ticket::new_id(Kind::Service.prefix());
        let data = TicketData {
            kind: Kind::Service,
            service: m.normalised.clone(),
            service_id: m.service.id.clone(),
            person: session.person.to_string(),
            login: session.login.clone(),
            session_ref: session.audit_ref.clone(),
            authn_instant: session.authn_instant,
            from_new_login,
            proxies: Vec::new(),
            expires_at: now + self.st_lifetime,
        };
        self.put(&id, &data, self.st_lifetime).await?;
        self.audit_issued(&data);
        Ok(id)
    }

    pub(super) async fn put(
        &self,
        id: &str,
        data: &TicketData,
        lifetime: std::time::Duration,
    ) -> Result<(), CasError> {
        // The store keeps it a little longer than its life: the expiry that counts is the
        // one in the ticket, on the IdP's clock.
        self.tickets
            .put(
                id,
                data.to_bytes()
                    .map_err(|e| CasError::Internal(e.to_string()))?,
                lifetime + std::time::Duration::from_secs(60),
            )
            .await?;
        Ok(())
    }

    pub(super) fn audit_issued(&self, data: &TicketData) {
        tracing::info!(
            service = %data.service_id,
            kind = data.kind.label(),
            session = %data.session_ref,
            "CAS ticket issued"
        );
        self.audit.record(
            self.clock.now(),
            AuditEvent::CasTicketIssued {
                service: data.service_id.clone(),
                login: data.login.clone(),
                ticket_kind: data.kind.label(),
                session_ref: data.session_ref.clone(),
            },
        );
    }

    /// Where the browser goes: the service with `ticket` added (none for `gateway`).
    pub fn redirect_url(m: &MatchedService, ticket: Option<&str>) -> String {
        match ticket {
            Some(t) => url::with_param(&m.given, "ticket", t),
            None => m.given.clone(),
        }
    }

    /// The SSO session's record of a ticket given to a service (for single logout).
    pub fn session_entry(m: &MatchedService, ticket: &str) -> String {
        format!("{SESSION_ENTRY} {} {ticket} {}", m.service.id, m.normalised)
    }

    /// The CAS entries of a session's `services`: (service id, ticket, service URL).
    pub(super) fn session_entries(session: &SsoSession) -> Vec<(String, String, String)> {
        session
            .services
            .iter()
            .filter_map(|e| {
                let mut parts = e.splitn(4, ' ');
                (parts.next()? == SESSION_ENTRY).then_some(())?;
                Some((
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                    parts.next()?.to_owned(),
                ))
            })
            .collect()
    }
}
