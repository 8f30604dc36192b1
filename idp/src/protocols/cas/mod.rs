//! The CAS server (Apereo CAS Protocol 3.0): `/login` (with the web login pages),
//! `/logout`, `/validate` (CAS 1), `/serviceValidate` and `/proxyValidate` (CAS 2),
//! `/p3/serviceValidate` and `/p3/proxyValidate` (CAS 3, with `cas:attributes`), `/proxy`
//! and `/samlValidate` (SAML 1.1), all under `cas.prefix` (default: the IdP's root).
//!
//! Services come only from the signed federation registries (`Federation`): a `service` URL
//! is normalised (scheme and host case, default port) and must match an active CAS member
//! before any ticket is issued or any redirect made. Tickets live in the `TicketStore` port,
//! are single use (atomic take), bound to their service and short lived; attributes come
//! from `release` (resolution, then the service's `releases` only). Protocol failures are
//! answered with the specification's error codes here (`CasError`); pages (login, unknown
//! service, logged out) are the web front-end's. Every ticket issued and every validation is
//! audited; tickets themselves are never logged.

mod error;
mod http;
mod issue;
mod proxy;
mod response;
mod saml11;
mod slo;
mod ticket;
pub mod url;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::audit::AuditSink;
use crate::federation::Federation;
use crate::ports::{Clock, Directory, TicketStore};
use crate::settings::CasSettings;

pub use error::CasError;
pub use issue::{MatchedService, MAX_SESSION_SERVICES};

/// The CAS server's state: ports and settings.
pub struct Cas {
    tickets: Arc<dyn TicketStore>,
    federation: Arc<Federation>,
    directory: Arc<dyn Directory>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    st_lifetime: Duration,
    pgt_lifetime: Duration,
    callback: ureq::Agent,
    back_channel: ureq::Agent,
    issuer: String,
    /// Path prefix of the endpoints (`""` or e.g. `/cas`).
    pub prefix: String,
}

/// Everything `Cas` is built from.
pub struct CasDeps {
    pub tickets: Arc<dyn TicketStore>,
    pub federation: Arc<Federation>,
    pub directory: Arc<dyn Directory>,
    pub audit: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
    /// The IdP's public URL (SAML 1.1 `Issuer`).
    pub issuer: String,
}

impl Cas {
    pub fn new(settings: &CasSettings, deps: CasDeps) -> Result<Self, http::HttpSetupError> {
        Ok(Self {
            tickets: deps.tickets,
            federation: deps.federation,
            directory: deps.directory,
            audit: deps.audit,
            clock: deps.clock,
            st_lifetime: Duration::from_secs(settings.service_ticket_lifetime_secs),
            pgt_lifetime: Duration::from_secs(settings.proxy_granting_ticket_lifetime_secs),
            callback: http::agent(
                &settings.proxy_callback_ca_file,
                Duration::from_millis(settings.proxy_callback_timeout_ms),
            )?,
            back_channel: http::agent(
                &settings.proxy_callback_ca_file,
                Duration::from_millis(settings.back_channel_timeout_ms),
            )?,
            issuer: deps.issuer,
            prefix: settings.prefix.clone(),
        })
    }
}

pub use http::HttpSetupError;

/// Registers the CAS endpoints other than `/login` and `/logout` (which the web front-end
/// serves, since they are pages) under `prefix`.
pub fn configure(cfg: &mut web::ServiceConfig, prefix: &str) {
    let at = |p: &str| format!("{prefix}{p}");
    cfg.route(&at("/validate"), web::get().to(validate::cas1))
        .route(
            &at("/serviceValidate"),
            web::get().to(validate::service_validate),
        )
        .route(
            &at("/proxyValidate"),
            web::get().to(validate::proxy_validate),
        )
        .route(
            &at("/p3/serviceValidate"),
            web::get().to(validate::p3_service_validate),
        )
        .route(
            &at("/p3/proxyValidate"),
            web::get().to(validate::p3_proxy_validate),
        )
        .route(&at("/proxy"), web::get().to(proxy::proxy))
        .route(&at("/samlValidate"), web::post().to(saml11::saml_validate));
}
