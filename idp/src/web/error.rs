//! The one place where failures become HTTP responses: every handler returns
//! `Result<_, WebError>`, extractor failures (bad or oversized forms) and unknown routes
//! are turned into a `WebError` too, and `WebError` renders a page in the person's
//! language. Internal details (backend messages) go to the application log, never to the
//! browser.

use actix_web::error::UrlencodedError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use super::i18n::{default_lang, Lang};
use super::templates::{Chrome, ErrorPage};
use crate::authn::AuthnError;
use crate::session::SessionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    /// A CAS `service` (or logout target) that no active registry entry allows.
    UnknownService,
    PayloadTooLarge,
    Csrf,
    NotFound,
    MethodNotAllowed,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{kind:?}")]
pub struct WebError {
    pub kind: ErrorKind,
    pub lang: Lang,
    service_name: String,
}

impl WebError {
    pub fn new(kind: ErrorKind, lang: Lang, service_name: &str) -> Self {
        Self {
            kind,
            lang,
            service_name: service_name.to_owned(),
        }
    }

    /// For extractors and fallbacks that only have the request.
    pub fn for_request(kind: ErrorKind, req: &HttpRequest) -> Self {
        let lang = Lang::of(req, default_lang(req));
        let name = req
            .app_data::<actix_web::web::Data<super::state::AppState>>()
            .map(|s| s.settings.ui.service_name.clone())
            .unwrap_or_default();
        Self::new(kind, lang, &name)
    }

    /// Maps a rejected form body.
    pub fn from_form(err: &UrlencodedError, req: &HttpRequest) -> Self {
        let kind = match err {
            UrlencodedError::Overflow { .. } => ErrorKind::PayloadTooLarge,
            _ => ErrorKind::BadRequest,
        };
        tracing::info!(error = %err, "form refused");
        Self::for_request(kind, req)
    }
}

/// Turns core errors into `WebError`s, logging the detail.
pub trait OrPage<T> {
    fn or_page(self, lang: Lang, service_name: &str) -> Result<T, WebError>;
}

impl<T> OrPage<T> for Result<T, AuthnError> {
    fn or_page(self, lang: Lang, service_name: &str) -> Result<T, WebError> {
        self.map_err(|e| {
            tracing::error!(error = %e, "authentication backend failure");
            let kind = match e {
                AuthnError::Backend(_) => ErrorKind::Unavailable,
                AuthnError::Hash(_) | AuthnError::Worker(_) => ErrorKind::Internal,
            };
            WebError::new(kind, lang, service_name)
        })
    }
}

impl<T> OrPage<T> for Result<T, SessionError> {
    fn or_page(self, lang: Lang, service_name: &str) -> Result<T, WebError> {
        self.map_err(|e| {
            tracing::error!(error = %e, "session store failure");
            WebError::new(ErrorKind::Unavailable, lang, service_name)
        })
    }
}

impl<T> OrPage<T> for Result<T, crate::ports::BackendError> {
    fn or_page(self, lang: Lang, service_name: &str) -> Result<T, WebError> {
        self.map_err(|e| {
            tracing::error!(error = %e, "backend failure (directory or store)");
            WebError::new(ErrorKind::Unavailable, lang, service_name)
        })
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::UnknownService => StatusCode::FORBIDDEN,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Csrf => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let t = self.lang.texts();
        let (title, message) = match self.kind {
            ErrorKind::BadRequest => t.error_bad_request,
            ErrorKind::UnknownService => t.error_unknown_service,
            ErrorKind::PayloadTooLarge => t.error_too_large,
            ErrorKind::Csrf => t.error_csrf,
            ErrorKind::NotFound => t.error_not_found,
            ErrorKind::MethodNotAllowed => t.error_method,
            ErrorKind::Unavailable => t.error_unavailable,
            ErrorKind::Internal => t.error_internal,
        };
        let page = ErrorPage {
            c: Chrome::new(self.lang, &self.service_name, "/", None),
            title,
            message,
        };
        let mut res = HttpResponse::build(self.status_code());
        if self.kind == ErrorKind::Unavailable {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("60")));
        }
        match page.render() {
            Ok(body) => res.content_type("text/html; charset=utf-8").body(body),
            // A template that cannot render is a bug; still answer something sensible.
            Err(_) => res
                .content_type("text/plain; charset=utf-8")
                .body(format!("{title}\n\n{message}\n")),
        }
    }
}
