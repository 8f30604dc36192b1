//! Building the IdP's cookies with the flags its settings call for: always `HttpOnly` and
//! `Path=/`, `Secure` whenever the public URL is HTTPS, and a `SameSite` value chosen per
//! cookie (the session cookie follows `Settings.sessions.same_site`).

use actix_web::cookie::{time::Duration, Cookie, SameSite};

use crate::settings::Settings;

/// `SameSite` of the session cookie: as configured, or by default `None` over HTTPS (SAML
/// POST bindings arrive from other sites) and `Lax` over HTTP (browsers refuse `None`
/// without `Secure`).
pub fn session_same_site(settings: &Settings) -> SameSite {
    match settings.sessions.same_site.as_str() {
        "none" => SameSite::None,
        "strict" => SameSite::Strict,
        "lax" => SameSite::Lax,
        _ if settings.https() => SameSite::None,
        _ => SameSite::Lax,
    }
}

/// A cookie with the common flags. `max_age` `None` makes a browser-session cookie.
pub fn build(
    settings: &Settings,
    name: &str,
    value: String,
    same_site: SameSite,
    max_age: Option<Duration>,
) -> Cookie<'static> {
    let mut c = Cookie::build(name.to_owned(), value)
        .path("/")
        .http_only(true)
        .secure(settings.https())
        .same_site(same_site)
        .finish();
    if let Some(age) = max_age {
        c.set_max_age(age);
    }
    c
}

/// A cookie that makes the browser forget `name`.
pub fn removal(settings: &Settings, name: &str, same_site: SameSite) -> Cookie<'static> {
    let mut c = build(settings, name, String::new(), same_site, None);
    c.make_removal();
    c
}

/// The session cookie for `id`.
pub fn session(settings: &Settings, id: &str) -> Cookie<'static> {
    build(
        settings,
        &settings.sessions.cookie_name,
        id.to_owned(),
        session_same_site(settings),
        None,
    )
}

pub fn session_removal(settings: &Settings) -> Cookie<'static> {
    removal(
        settings,
        &settings.sessions.cookie_name,
        session_same_site(settings),
    )
}
