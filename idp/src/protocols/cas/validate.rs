//! Ticket validation: `/validate` (CAS 1), `/serviceValidate`, `/proxyValidate`,
//! `/p3/serviceValidate`, `/p3/proxyValidate` (and the core `/samlValidate` uses). The ticket
//! is taken from the store atomically (single use even under racing validations), then
//! checked: expiry, service binding, `renew`, the service still active, the person still
//! active; then the attributes are released and, with a `pgtUrl`, a proxy-granting ticket
//! handed over. Every outcome is audited with its code and reason.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use federation_metadata::model::Service;

use super::error::CasError;
use super::response::{self, Format, Success};
use super::ticket::{self, Kind, TicketData};
use super::url::{self, MAX_URL};
use super::Cas;
use crate::audit::AuditEvent;
use crate::model::PersonKey;
use crate::release;

/// Longest query string accepted on the validation endpoints.
pub const MAX_QUERY: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Cas1,
    Service,
    Proxy,
    P3Service,
    P3Proxy,
    Saml,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Self::Cas1 => "validate",
            Self::Service => "serviceValidate",
            Self::Proxy => "proxyValidate",
            Self::P3Service => "p3/serviceValidate",
            Self::P3Proxy => "p3/proxyValidate",
            Self::Saml => "samlValidate",
        }
    }

    fn accepts_proxy_tickets(self) -> bool {
        matches!(self, Self::Proxy | Self::P3Proxy)
    }

    fn attributes(self) -> bool {
        matches!(self, Self::P3Service | Self::P3Proxy | Self::Saml)
    }

    fn proxies_allowed(self) -> bool {
        !matches!(self, Self::Cas1 | Self::Saml)
    }
}

/// One validation request, as decoded from the protocol.
pub struct Request<'a> {
    pub service: Option<&'a str>,
    pub ticket: Option<&'a str>,
    pub pgt_url: Option<&'a str>,
    pub renew: bool,
}

/// A successful validation, with what the SAML 1.1 answer also needs.
pub struct Validated {
    pub success: Success,
    pub ticket: TicketData,
}

impl Cas {
    /// Validates and audits.
    pub async fn validate(
        &self,
        endpoint: Endpoint,
        req: Request<'_>,
    ) -> Result<Validated, CasError> {
        // The service as sent (until the ticket names its registry id), without anything that
        // looks like a ticket; the login once the ticket is known.
        let sent: String = req.service.unwrap_or_default().chars().take(256).collect();
        let mut labels = (ticket::redact(&sent), String::new());
        let result = self.validate_inner(endpoint, &req, &mut labels).await;
        let (service_label, ticket_login) = labels;
        let (outcome, reason, login, attributes) = match &result {
            Ok(v) => (
                "success".to_owned(),
                String::new(),
                v.ticket.login.clone(),
                v.success
                    .attributes
                    .iter()
                    .flatten()
                    .map(|a| a.name.clone())
                    .collect(),
            ),
            Err(e) => (e.code().to_owned(), e.reason(), ticket_login, Vec::new()),
        };
        match &result {
            Ok(_) => {
                tracing::info!(service = %service_label, endpoint = endpoint.label(), "CAS ticket validated")
            }
            Err(CasError::Internal(d)) => {
                tracing::error!(service = %service_label, endpoint = endpoint.label(), error = %d, "CAS validation failed")
            }
            Err(e) => {
                tracing::info!(service = %service_label, endpoint = endpoint.label(), code = e.code(), reason = %e.description(), "CAS validation refused")
            }
        }
        self.audit.record(
            self.clock.now(),
            AuditEvent::CasValidation {
                service: service_label,
                endpoint: endpoint.label(),
                outcome,
                reason,
                login,
                attributes,
            },
        );
        result
    }

    async fn validate_inner(
        &self,
        endpoint: Endpoint,
        req: &Request<'_>,
        labels: &mut (String, String),
    ) -> Result<Validated, CasError> {
        let (Some(service), Some(ticket)) = (
            req.service.filter(|s| !s.is_empty()),
            req.ticket.filter(|t| !t.is_empty()),
        ) else {
            return Err(CasError::InvalidRequest("service and ticket are required"));
        };
        if service.len() > MAX_URL
            || ticket.len() > ticket::MAX_TICKET
            || req.pgt_url.is_some_and(|p| p.len() > MAX_URL)
        {
            return Err(CasError::InvalidRequest("a parameter is too long"));
        }
        if req.pgt_url.is_some() && !endpoint.proxies_allowed() {
            return Err(CasError::InvalidRequest("pgtUrl is not accepted here"));
        }
        if !ticket::well_formed(ticket) {
            return Err(CasError::InvalidTicket("ticket not recognized"));
        }
        match Kind::of(ticket) {
            None => return Err(CasError::InvalidTicket("ticket not recognized")),
            Some(Kind::ProxyGranting) => {
                return Err(CasError::InvalidTicketSpec(
                    "a proxy-granting ticket cannot be validated",
                ))
            }
            Some(Kind::Proxy) if !endpoint.accepts_proxy_tickets() => {
                return Err(CasError::InvalidTicketSpec(
                    "proxy tickets are validated at proxyValidate",
                ))
            }
            _ => {}
        }
        let Some(normalised) = url::normalise(service) else {
            // Not a URL: no ticket can be bound to it (the ticket is consumed all the same).
            self.tickets.take(ticket).await?;
            return Err(CasError::InvalidService("service is not a valid URL"));
        };
        let data = self
            .tickets
            .take(ticket)
            .await?
            .and_then(|b| TicketData::from_bytes(&b))
            .ok_or(CasError::InvalidTicket("ticket not recognized"))?;
        *labels = (data.service_id.clone(), data.login.clone());
        let now = self.clock.now();
        if now >= data.expires_at {
            return Err(CasError::InvalidTicket("ticket expired"));
        }
        if data.service != normalised {
            return Err(CasError::InvalidService(
                "ticket was issued for another service",
            ));
        }
        let found = self
            .federation
            .cas_service_with_registry(&normalised, now)
            .or_else(|| self.federation.cas_service_with_registry(service, now));
        let Some((registry, svc)) = found else {
            return Err(CasError::InvalidService("service is not registered"));
        };
        if svc.id != data.service_id {
            return Err(CasError::InvalidService(
                "ticket was issued for another service",
            ));
        }
        if req.renew && !data.from_new_login {
            return Err(CasError::InvalidTicket(
                "renew was asked but the ticket is not from a new login",
            ));
        }
        if let Some(p) = req.pgt_url {
            check_callback(&svc, p)?;
        }
        let person = match PersonKey::parse(&data.person) {
            Some(k) => self.directory.person(&k).await?,
            None => None,
        }
        .filter(|p| p.is_active())
        .ok_or(CasError::InvalidTicket("the account is no longer active"))?;
        let cas = svc
            .cas()
            .ok_or(CasError::InvalidService("service is not a CAS service"))?;
        let with_attributes = endpoint.attributes();
        let resolved = release::resolve(
            &person,
            self.directory.as_ref(),
            &registry.registry.attributes,
            |id| {
                id == cas.user_attribute
                    || (with_attributes && svc.releases.iter().any(|r| r.source == id))
            },
        )
        .await?;
        let user = release::user_value(&cas.user_attribute, &resolved).ok_or_else(|| {
            CasError::Internal(format!(
                "service {}: no value for its user attribute {}",
                svc.id, cas.user_attribute
            ))
        })?;
        let attributes = with_attributes.then(|| release::release(&svc, &resolved));
        let pgt_iou = match req.pgt_url {
            Some(p) => Some(self.grant_pgt(p, &data).await?),
            None => None,
        };
        Ok(Validated {
            success: Success {
                user,
                attributes,
                pgt_iou,
                proxies: data.proxies.clone(),
            },
            ticket: data,
        })
    }
}

/// A `pgtUrl` must be HTTPS and one of the service's registered callbacks, exactly; a
/// service with no callback in the registry may not proxy at all.
pub fn check_callback(service: &Service, pgt_url: &str) -> Result<(), CasError> {
    if service.cas().is_none_or(|c| c.proxy_callbacks.is_empty()) {
        return Err(CasError::UnauthorizedServiceProxy(
            "this service may not use proxy authentication",
        ));
    }
    if !pgt_url.starts_with("https://") || url::normalise(pgt_url).is_none() {
        return Err(CasError::InvalidProxyCallback(
            "pgtUrl must be an HTTPS URL",
        ));
    }
    let allowed = service
        .cas()
        .is_some_and(|c| c.proxy_callbacks.iter().any(|u| u == pgt_url));
    if !allowed {
        return Err(CasError::InvalidProxyCallback(
            "pgtUrl is not registered for this service",
        ));
    }
    Ok(())
}

/// Decoded query parameters.
pub(super) type Params = Vec<(String, String)>;

/// The query parameters and the answer format, or the failure to send.
pub(super) fn decode(req: &HttpRequest) -> Result<(Params, Format), (CasError, Format)> {
    let q = req.query_string();
    if q.len() > MAX_QUERY {
        return Err((CasError::InvalidRequest("request too large"), Format::Xml));
    }
    let Some(params) = url::parse_params(q) else {
        return Err((
            CasError::InvalidRequest("malformed or repeated parameters"),
            Format::Xml,
        ));
    };
    let format = match url::param(&params, "format") {
        None => Format::Xml,
        Some(f) if f.eq_ignore_ascii_case("xml") => Format::Xml,
        Some(f) if f.eq_ignore_ascii_case("json") => Format::Json,
        Some(_) => {
            return Err((
                CasError::InvalidRequest("format must be XML or JSON"),
                Format::Xml,
            ))
        }
    };
    Ok((params, format))
}

async fn handle(req: HttpRequest, cas: Data<Cas>, endpoint: Endpoint) -> HttpResponse {
    let (params, format) = match decode(&req) {
        Ok(x) => x,
        Err((e, format)) => {
            cas.audit_refused(endpoint, &e);
            return match endpoint {
                Endpoint::Cas1 => response::cas1(None),
                _ => response::failure(&e, format),
            };
        }
    };
    let request = Request {
        service: url::param(&params, "service"),
        ticket: url::param(&params, "ticket"),
        pgt_url: url::param(&params, "pgtUrl"),
        renew: url::flag(&params, "renew"),
    };
    match (cas.validate(endpoint, request).await, endpoint) {
        (Ok(v), Endpoint::Cas1) => response::cas1(Some(&v.success.user)),
        (Err(_), Endpoint::Cas1) => response::cas1(None),
        (Ok(v), _) => response::success(&v.success, format),
        (Err(e), _) => response::failure(&e, format),
    }
}

impl Cas {
    /// Audits a request refused before it could be read.
    pub(super) fn audit_refused(&self, endpoint: Endpoint, e: &CasError) {
        tracing::info!(
            endpoint = endpoint.label(),
            code = e.code(),
            "CAS request refused"
        );
        self.audit.record(
            self.clock.now(),
            AuditEvent::CasValidation {
                service: String::new(),
                endpoint: endpoint.label(),
                outcome: e.code().to_owned(),
                reason: e.reason(),
                login: String::new(),
                attributes: Vec::new(),
            },
        );
    }
}

pub async fn cas1(req: HttpRequest, cas: Data<Cas>) -> HttpResponse {
    handle(req, cas, Endpoint::Cas1).await
}

pub async fn service_validate(req: HttpRequest, cas: Data<Cas>) -> HttpResponse {
    handle(req, cas, Endpoint::Service).await
}

pub async fn proxy_validate(req: HttpRequest, cas: Data<Cas>) -> HttpResponse {
    handle(req, cas, Endpoint::Proxy).await
}

pub async fn p3_service_validate(req: HttpRequest, cas: Data<Cas>) -> HttpResponse {
    handle(req, cas, Endpoint::P3Service).await
}

pub async fn p3_proxy_validate(req: HttpRequest, cas: Data<Cas>) -> HttpResponse {
    handle(req, cas, Endpoint::P3Proxy).await
}
