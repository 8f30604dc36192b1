//! One middleware around every response: security headers, the remembered language
//! choice, and the request log line.
//!
//! The request log has the method, the path (never the query string, which may one day
//! carry SAML messages or tickets), the status and the duration; never cookies.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;

use super::cookies;
use super::i18n::{query_lang, LANG_COOKIE};
use super::state::AppState;

/// No scripts, no frames, styles from this origin only. No `form-action`: browsers apply
/// it to every redirect that follows a form submission, and our forms lead off-site by
/// design (the login form's answer is a redirect to the CAS service with its ticket;
/// Chromium blocked every CAS login with `form-action 'self'`). What we render is escaped
/// (askama), so the directive was defence in depth only.
pub(super) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
frame-ancestors 'none'; base-uri 'none'";

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let chosen_lang = query_lang(req.query_string());
    let settings = req.app_data::<Data<AppState>>().map(|s| s.settings.clone());

    let mut res = next.call(req).await?;

    let headers = res.headers_mut();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if is_html {
        // A handler may set its own, stricter-scoped policy (the CAS POST hand-off), or
        // allow our own pages to frame it (the answer to an SP's LogoutResponse).
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
        }
        if !headers.contains_key(header::X_FRAME_OPTIONS) {
            headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        // Pages carry personal data or one-time tokens: never stored by any cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
    }
    if settings.as_ref().is_some_and(|s| s.https()) {
        // Once seen over HTTPS, never again over plain HTTP (cookies and passwords).
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if let (Some(lang), Some(settings)) = (chosen_lang, settings) {
        let cookie = cookies::build(
            &settings,
            LANG_COOKIE,
            lang.code().to_owned(),
            SameSite::Lax,
            Some(Duration::days(365)),
        );
        if let Err(e) = res.response_mut().add_cookie(&cookie) {
            tracing::warn!(error = %e, "language cookie not set");
        }
    }
    tracing::info!(
        method = %method,
        path = %path,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(res)
}
