//! Helpers shared by the handlers: rendering a page with its cookies, redirects, and
//! finding the session the browser's cookie names.

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::error::{ErrorKind, OrPage, WebError};
use super::i18n::Lang;
use super::state::AppState;
use crate::model::{SessionId, SsoSession};
use crate::session::Resolved;

/// Everything a handler needs to answer in the right language.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub lang: Lang,
}

impl<'a> Ctx<'a> {
    pub fn new(state: &'a AppState, lang: Lang) -> Self {
        Self { state, lang }
    }

    /// A kept record looked up: the store failing is "unavailable" (503), the record
    /// missing a bad request (400).
    pub fn found<T, E>(&self, read: Result<Option<T>, E>) -> Result<T, WebError> {
        read.map_err(|_| self.error(ErrorKind::Unavailable))?
            .ok_or_else(|| self.error(ErrorKind::BadRequest))
    }

    pub fn name(&self) -> &str {
        &self.state.settings.ui.service_name
    }

    pub fn error(&self, kind: ErrorKind) -> WebError {
        WebError::new(kind, self.lang, self.name())
    }

    /// The legal notice in this language.
    pub fn legal(&self) -> Option<String> {
        let ui = &self.state.settings.ui;
        Some(match self.lang {
            Lang::Fr => ui.legal_notice_fr.clone(),
            Lang::En => ui.legal_notice_en.clone(),
        })
        .filter(|s| !s.is_empty())
    }

    /// An HTML page with `cookies` set.
    pub fn page(
        &self,
        status: StatusCode,
        page: &impl Template,
        cookies: impl IntoIterator<Item = Cookie<'static>>,
    ) -> Result<HttpResponse, WebError> {
        let body = page.render().map_err(|e| {
            tracing::error!(error = %e, "template failed to render");
            self.error(ErrorKind::Internal)
        })?;
        let mut res = HttpResponse::build(status);
        for c in cookies {
            res.cookie(c);
        }
        Ok(res.content_type("text/html; charset=utf-8").body(body))
    }
}

/// A 303 to `location` (after a POST, so that reloading does not resubmit).
pub fn see_other(
    location: &str,
    cookies: impl IntoIterator<Item = Cookie<'static>>,
) -> HttpResponse {
    let mut res = HttpResponse::SeeOther();
    for c in cookies {
        res.cookie(c);
    }
    res.insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// The session id the browser sent, if any.
pub fn session_cookie(req: &HttpRequest, ctx: &Ctx<'_>) -> Option<SessionId> {
    req.cookie(&ctx.state.settings.sessions.cookie_name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(SessionId::from_raw)
}

/// The browser's session, resolved.
pub struct Current {
    pub session: Option<SsoSession>,
    /// A cookie was sent that no longer names a live session: it should be cleared.
    pub stale_cookie: bool,
    /// The session ran out just now (say so on the page).
    pub expired: bool,
}

pub async fn current_session(req: &HttpRequest, ctx: &Ctx<'_>) -> Result<Current, WebError> {
    let Some(id) = session_cookie(req, ctx) else {
        return Ok(Current {
            session: None,
            stale_cookie: false,
            expired: false,
        });
    };
    let resolved = ctx
        .state
        .sessions
        .resolve(&id)
        .await
        .or_page(ctx.lang, ctx.name())?;
    Ok(match resolved {
        Resolved::Active(s) => Current {
            session: Some(*s),
            stale_cookie: false,
            expired: false,
        },
        Resolved::Expired(_) => Current {
            session: None,
            stale_cookie: true,
            expired: true,
        },
        Resolved::Unknown => Current {
            session: None,
            stale_cookie: true,
            expired: false,
        },
    })
}
