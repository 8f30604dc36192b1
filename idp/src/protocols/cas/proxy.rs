//! Proxy authentication: handing a proxy-granting ticket to a registered HTTPS `pgtUrl`
//! (the PGTIOU handshake: `GET pgtUrl?pgtId=PGT-…&pgtIou=PGTIOU-…`, which must answer 200
//! before the PGT exists), and `/proxy?pgt=…&targetService=…` issuing proxy tickets whose
//! validation lists the chain of proxies in `cas:proxies`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::error::CasError;
use super::response;
use super::ticket::{self, Kind, TicketData};
use super::url::{self, MAX_URL};
use super::validate::decode;
use super::Cas;
use crate::audit::AuditEvent;

impl Cas {
    /// Calls `pgt_url` back with a new PGT and its IOU; the PGT is stored only once the
    /// callback answered 200. Returns the IOU.
    pub(super) async fn grant_pgt(
        &self,
        pgt_url: &str,
        from: &TicketData,
    ) -> Result<String, CasError> {
        let pgt = ticket::new_id(Kind::ProxyGranting.prefix());
        let iou = ticket::new_id("PGTIOU-");
        let target = url::with_param(&url::with_param(pgt_url, "pgtId", &pgt), "pgtIou", &iou);
        let agent = self.callback.clone();
        let status =
            actix_web::web::block(move || agent.get(&target).call().map(|r| r.status().as_u16()))
                .await
                .map_err(|e| CasError::Internal(e.to_string()))?;
        match status {
            Ok(200) => {}
            Ok(code) => {
                tracing::info!(status = code, "proxy callback refused the PGT");
                return Err(CasError::InvalidProxyCallback(
                    "the proxy callback did not answer 200",
                ));
            }
            Err(e) => {
                tracing::info!(error = %ticket::redact(&e.to_string()), "proxy callback unreachable");
                return Err(CasError::InvalidProxyCallback(
                    "the proxy callback could not be reached",
                ));
            }
        }
        let mut proxies = vec![pgt_url.to_owned()];
        proxies.extend(from.proxies.iter().cloned());
        let data = TicketData {
            kind: Kind::ProxyGranting,
            service: from.service.clone(),
            service_id: from.service_id.clone(),
            person: from.person.clone(),
            login: from.login.clone(),
            session_ref: from.session_ref.clone(),
            authn_instant: from.authn_instant,
            from_new_login: false,
            proxies,
            expires_at: self.clock.now() + self.pgt_lifetime,
        };
        self.put(&pgt, &data, self.pgt_lifetime).await?;
        self.audit_issued(&data);
        Ok(iou)
    }

    async fn proxy_ticket(
        &self,
        pgt: Option<&str>,
        target: Option<&str>,
    ) -> Result<String, CasError> {
        let (Some(pgt), Some(target)) = (
            pgt.filter(|s| !s.is_empty()),
            target.filter(|s| !s.is_empty()),
        ) else {
            return Err(CasError::InvalidRequest(
                "pgt and targetService are required",
            ));
        };
        if pgt.len() > ticket::MAX_TICKET || target.len() > MAX_URL {
            return Err(CasError::InvalidRequest("a parameter is too long"));
        }
        if !ticket::well_formed(pgt) || Kind::of(pgt) != Some(Kind::ProxyGranting) {
            return Err(CasError::InvalidTicketSpec(
                "pgt must be a proxy-granting ticket",
            ));
        }
        let data = self
            .tickets
            .get(pgt)
            .await?
            .and_then(|b| TicketData::from_bytes(&b))
            .ok_or(CasError::InvalidTicket(
                "proxy-granting ticket not recognized",
            ))?;
        let now = self.clock.now();
        if now >= data.expires_at {
            return Err(CasError::InvalidTicket("proxy-granting ticket expired"));
        }
        // Proxy-granting tickets end with the session they came from.
        if self
            .tickets
            .get(&ended_key(&data.session_ref))
            .await?
            .is_some()
        {
            return Err(CasError::InvalidTicket(
                "the session of this proxy-granting ticket has ended",
            ));
        }
        // The proxying service must still be a member allowed to proxy.
        let allowed = self
            .federation
            .service_for_cas_url(&data.service, now)
            .filter(|s| s.id == data.service_id)
            .is_some_and(|s| s.cas().is_some_and(|c| !c.proxy_callbacks.is_empty()));
        if !allowed {
            return Err(CasError::UnauthorizedServiceProxy(
                "this service may not proxy",
            ));
        }
        let m = self
            .service_for(target)
            .ok_or(CasError::UnauthorizedService(
                "targetService is not a registered service",
            ))?;
        let id = ticket::new_id(Kind::Proxy.prefix());
        let pt = TicketData {
            kind: Kind::Proxy,
            service: m.normalised.clone(),
            service_id: m.service.id.clone(),
            person: data.person.clone(),
            login: data.login.clone(),
            session_ref: data.session_ref.clone(),
            authn_instant: data.authn_instant,
            from_new_login: false,
            proxies: data.proxies.clone(),
            expires_at: now + self.st_lifetime,
        };
        self.put(&id, &pt, self.st_lifetime).await?;
        self.audit_issued(&pt);
        Ok(id)
    }
}

/// The ticket-store key marking a session as ended (its PGTs die with it).
pub(super) fn ended_key(session_ref: &str) -> String {
    format!("ended-session:{session_ref}")
}

/// `GET /proxy?pgt=…&targetService=…`.
pub async fn proxy(req: HttpRequest, cas: Data<Cas>) -> HttpResponse {
    let (params, format) = match decode(&req) {
        Ok(x) => x,
        Err((e, format)) => return response::proxy_failure(&e, format),
    };
    let target = url::param(&params, "targetService");
    match cas.proxy_ticket(url::param(&params, "pgt"), target).await {
        Ok(pt) => response::proxy_success(&pt, format),
        Err(e) => {
            tracing::info!(code = e.code(), reason = %e.reason(), "CAS proxy ticket refused");
            cas.audit.record(
                cas.clock.now(),
                AuditEvent::CasValidation {
                    service: target.unwrap_or_default().chars().take(256).collect(),
                    endpoint: "proxy",
                    outcome: e.code().to_owned(),
                    reason: e.reason(),
                    login: String::new(),
                    attributes: Vec::new(),
                },
            );
            response::proxy_failure(&e, format)
        }
    }
}
