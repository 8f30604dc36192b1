//! The web front-end (actix-web): the login, activation, welcome and logout pages (also
//! CAS `/login` and `/logout`, with `protocols::cas`), health probes, published SAML
//! metadata (`/saml/metadata`, `/entities/{id}`), the SAML SSO endpoints (`/saml/sso`,
//! with `protocols::saml`), the CAS validation endpoints' routes,
//! cookies, CSRF, languages, security headers, and the one place where errors turn into
//! HTTP (`error.rs`).
//!
//! It uses `authn`, `session` and the `ports` traits held in [`AppState`]; it never names a
//! backend (`app.rs` chooses them). Pages are askama templates from `idp/templates/`, in
//! French or English, and need no JavaScript.

mod client;
mod cookies;
mod csrf;
mod error;
mod headers;
pub mod i18n;
mod login;
mod metadata;
mod pages;
mod render;
mod saml;
mod state;
mod templates;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, FormConfig};
use actix_web::App;

pub use client::ClientAddr;
pub use error::{ErrorKind, WebError};
pub use state::AppState;

/// Largest form body accepted: the login forms are a few hundred bytes.
pub const FORM_LIMIT: usize = 8 * 1024;

/// The whole web application over `state`.
pub fn app(
    state: Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let forms = FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|err, req| WebError::from_form(&err, req).into());
    let queries = actix_web::web::QueryConfig::default().error_handler(|err, req| {
        tracing::info!(error = %err, "query refused");
        WebError::for_request(ErrorKind::BadRequest, req).into()
    });
    let cas = Data::from(state.cas.clone());
    let prefix = state.settings.cas.prefix.clone();
    let mut app = App::new()
        .app_data(state)
        .app_data(forms)
        .app_data(queries)
        .app_data(cas)
        .wrap(from_fn(headers::middleware))
        .service(
            web::resource("/")
                .route(web::get().to(pages::welcome))
                .default_service(web::to(pages::method_not_allowed)),
        )
        .service(
            web::resource("/login")
                .route(web::get().to(login::login_form))
                .route(web::post().to(login::login_submit))
                .default_service(web::to(pages::method_not_allowed)),
        )
        .service(
            web::resource("/activate")
                .route(web::get().to(login::activate_form))
                .route(web::post().to(login::activate_submit))
                .default_service(web::to(pages::method_not_allowed)),
        )
        .service(
            web::resource("/logout")
                .route(web::get().to(pages::cas_logout))
                .route(web::post().to(pages::logout))
                .default_service(web::to(pages::method_not_allowed)),
        )
        .route("/account/data", web::get().to(pages::my_data))
        .route("/healthz", web::get().to(pages::healthz))
        .route("/readyz", web::get().to(pages::readyz))
        .route("/static/idp.css", web::get().to(pages::stylesheet))
        .route("/saml/metadata", web::get().to(metadata::idp_metadata))
        .service(
            web::resource("/saml/sso")
                .app_data(
                    FormConfig::default()
                        .limit(crate::protocols::saml::bindings::MAX_ENCODED + 4096)
                        .error_handler(saml::sso_form_error),
                )
                .route(web::get().to(saml::sso_redirect))
                .route(web::post().to(saml::sso_post))
                .default_service(web::to(pages::method_not_allowed)),
        )
        .service(
            web::resource("/saml/slo")
                .app_data(
                    FormConfig::default()
                        .limit(crate::protocols::saml::bindings::MAX_ENCODED + 4096)
                        .error_handler(|err, req| WebError::from_form(&err, req).into()),
                )
                .route(web::get().to(saml::slo_redirect))
                .route(web::post().to(saml::slo_post))
                .default_service(web::to(pages::method_not_allowed)),
        )
        .route("/saml/slo/continue", web::get().to(saml::slo_continue))
        .route("/saml/slo/answer", web::get().to(saml::slo_answer))
        .route("/saml/slo/frame", web::get().to(saml::slo_frame))
        .route("/saml/slo/status", web::get().to(saml::slo_status))
        .route("/saml/sso/continue", web::get().to(saml::sso_continue))
        .route("/saml/sso/init", web::get().to(saml::sso_init))
        .route("/entities/{id:.*}", web::get().to(metadata::entity))
        .configure(|cfg| crate::protocols::cas::configure(cfg, &prefix));
    if !prefix.is_empty() {
        // The CAS login and logout under the prefix are the same pages.
        app = app
            .service(
                web::resource(format!("{prefix}/login"))
                    .route(web::get().to(login::login_form))
                    .route(web::post().to(login::login_submit))
                    .default_service(web::to(pages::method_not_allowed)),
            )
            .service(
                web::resource(format!("{prefix}/logout"))
                    .route(web::get().to(pages::cas_logout))
                    .default_service(web::to(pages::method_not_allowed)),
            );
    }
    app.default_service(web::to(pages::not_found))
}
