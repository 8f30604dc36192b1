//! CSRF protection for every POST form, by double submit: a random token lives in an
//! `HttpOnly` cookie and is repeated in a hidden field; a POST is accepted only when both
//! are present and equal (compared in constant time). Another site can make a browser send
//! the cookie but cannot read it to fill the field.
//!
//! Over HTTPS the cookie is named with the `__Host-` prefix, so that a sibling subdomain
//! cannot plant its own token.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use base64::Engine as _;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::cookies;
use crate::settings::Settings;

/// Length of an encoded token (32 random bytes, base64url without padding).
const TOKEN_LEN: usize = 43;

pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.https() {
        "__Host-idp_csrf"
    } else {
        "idp_csrf"
    }
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The token to put in a form: the browser's current one, or a new one together with the
/// cookie that must be set on the response.
pub fn ensure(req: &HttpRequest, settings: &Settings) -> (String, Option<Cookie<'static>>) {
    if let Some(c) = req.cookie(cookie_name(settings)) {
        if well_formed(c.value()) {
            return (c.value().to_owned(), None);
        }
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    // Lax: the cookie must come along on same-site POSTs only; no max-age, it dies with
    // the browser session.
    let cookie = cookies::build(
        settings,
        cookie_name(settings),
        token.clone(),
        SameSite::Lax,
        None,
    );
    (token, Some(cookie))
}

/// Whether the submitted field matches the cookie.
pub fn verify(req: &HttpRequest, settings: &Settings, submitted: &str) -> bool {
    let Some(cookie) = req.cookie(cookie_name(settings)) else {
        return false;
    };
    let expected = cookie.value();
    well_formed(expected) && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}
