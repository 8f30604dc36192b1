//! The other pages: welcome (who you are), logout (the web form's and CAS `GET /logout`),
//! health probes, the stylesheet and the
//! fallbacks for unknown routes and methods.

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::web::{Data, Form};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::cookies;
use super::csrf;
use super::error::{ErrorKind, OrPage, WebError};
use super::i18n::{profile_label, Lang};
use super::render::{current_session, see_other, session_cookie, Ctx};
use super::state::AppState;
use super::templates::{
    ChildView, Chrome, ClassView, LoggedOutPage, LoggedOutService, ProfileView, StructureView,
    UserView, WelcomePage,
};
use crate::audit::{AuditEvent, FailureReason, SessionEndReason};
use crate::model::{Category, EntryKey, Person, PersonKey, ReferenceKind, SessionId};
use crate::protocols::saml::{Line, SloState};

const CSS: &str = include_str!("../../static/idp.css");

pub async fn welcome(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let current = current_session(&req, &ctx).await?;
    let mut set = Vec::new();
    if current.stale_cookie {
        set.push(cookies::session_removal(&state.settings));
    }
    let mut user = None;
    if let Some(session) = current.session {
        let person = state
            .directory
            .person(&session.person)
            .await
            .or_page(lang, ctx.name())?;
        match person {
            Some(p) if p.is_active() => user = Some(user_view(&ctx, &p).await?),
            _ => set.push(end_for_disabled_account(&ctx, &session.id).await?),
        }
    }
    let (token, csrf_cookie) = csrf::ensure(&req, &state.settings);
    set.extend(csrf_cookie);
    let page = WelcomePage {
        c: Chrome::new(lang, ctx.name(), "/", ctx.legal()),
        csrf: token,
        notice: current
            .expired
            .then(|| lang.texts().session_expired.to_owned()),
        user,
    };
    ctx.page(StatusCode::OK, &page, set)
}

/// Ends session `id`, whose account may no longer log in (locked or gone since login: the
/// session must not outlive the account); the cookie that clears it in the browser.
async fn end_for_disabled_account(
    ctx: &Ctx<'_>,
    id: &SessionId,
) -> Result<Cookie<'static>, WebError> {
    ctx.state
        .sessions
        .end(id, SessionEndReason::AccountDisabled)
        .await
        .or_page(ctx.lang, ctx.name())?;
    Ok(cookies::session_removal(&ctx.state.settings))
}

/// The logged-in person's own data (RGPD right of access), as a JSON download. Without a
/// session: the login page; an account that may no longer log in ends its session.
pub async fn my_data(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let current = current_session(&req, &ctx).await?;
    let Some(session) = current.session else {
        let removal = current
            .stale_cookie
            .then(|| cookies::session_removal(&state.settings));
        return Ok(see_other("/login", removal));
    };
    let client = super::client::ClientAddr::of(&req, state.settings.server.trust_forwarded_for);
    match state.access.for_self(&session.person, &client.0).await {
        Ok(Some((login, json))) => {
            // Logins are `[a-z0-9.-]`; anything else is left out of the file name anyway.
            let name: String = login
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
                .collect();
            Ok(HttpResponse::Ok()
                .content_type("application/json")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"donnees-{name}.json\""),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(json))
        }
        Ok(None) => Ok(see_other(
            "/",
            [end_for_disabled_account(&ctx, &session.id).await?],
        )),
        Err(e) => {
            tracing::error!(error = %e, "personal data export failed");
            Err(ctx.error(ErrorKind::Unavailable))
        }
    }
}

/// What the welcome page shows of a person: names, profiles, establishments with their
/// UAI (from the directory's structure entries) and classes.
async fn user_view(ctx: &Ctx<'_>, p: &Person) -> Result<UserView, WebError> {
    let mut structures = Vec::new();
    let mut names = std::collections::HashMap::new();
    for id in structure_ids(ctx, p).await? {
        let key = EntryKey::new(ReferenceKind::Structure, p.key.academie.clone(), id.clone());
        let entry = ctx
            .state
            .directory
            .reference(&key)
            .await
            .or_page(ctx.lang, ctx.name())?;
        let (name, uai) = match entry {
            Some(e) => (e.label(), e.uai().unwrap_or_default().to_owned()),
            None => (id.clone(), String::new()),
        };
        names.insert(id, name.clone());
        structures.push(StructureView { name, uai });
    }
    let classes = p
        .classes()
        .into_iter()
        .map(|c| ClassView {
            structure: names.get(&c.structure).cloned().unwrap_or(c.structure),
            name: c.name,
        })
        .collect();
    Ok(UserView {
        children: children(ctx, p).await?,
        is_parent: p.category == Category::PersRelEleve,
        name: p.display_name(),
        login: p.login.clone(),
        profiles: p
            .profiles()
            .into_iter()
            .map(|pr| ProfileView {
                label: profile_label(ctx.lang, pr),
                code: pr.national(),
            })
            .collect(),
        structures,
        classes,
    })
}

/// A parent's children found in the directory (none for anyone else).
async fn child_people(ctx: &Ctx<'_>, p: &Person) -> Result<Vec<Person>, WebError> {
    let mut out = Vec::new();
    if p.category != Category::PersRelEleve {
        return Ok(out);
    }
    for child in p.children() {
        let key = PersonKey::new(p.key.academie.clone(), child.clone());
        let found = ctx
            .state
            .directory
            .person(&key)
            .await
            .or_page(ctx.lang, ctx.name())?;
        out.extend(found);
    }
    Ok(out)
}

/// The person's establishments; a parent, who has none in the AAF, sees the children's.
async fn structure_ids(ctx: &Ctx<'_>, p: &Person) -> Result<Vec<String>, WebError> {
    let mut ids = p.structures();
    if ids.is_empty() {
        for child in child_people(ctx, p).await? {
            for s in child.structures() {
                if !ids.contains(&s) {
                    ids.push(s);
                }
            }
        }
    }
    Ok(ids)
}

async fn children(ctx: &Ctx<'_>, p: &Person) -> Result<Vec<ChildView>, WebError> {
    Ok(child_people(ctx, p)
        .await?
        .iter()
        .map(|c| ChildView {
            name: c.display_name(),
            classes: c
                .classes()
                .into_iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect())
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
    form: Form<LogoutForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    if !csrf::verify(&req, &state.settings, &form.csrf) {
        tracing::info!("logout refused: CSRF token mismatch");
        let client = super::client::ClientAddr::of(&req, state.settings.server.trust_forwarded_for);
        state.authn.audit_event(AuditEvent::AuthnFailure {
            login: String::new(),
            reason: FailureReason::CsrfMismatch,
            client_ip: client.0,
        });
        return Err(ctx.error(ErrorKind::Csrf));
    }
    let ended = end_session(&req, &ctx).await?;
    propagated_page(&ctx, ended.as_ref(), None).await
}

/// The origin (`scheme://host[:port]`) of `url`.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// The logged-out page of an ended session: every service of the session listed, CAS
/// ones as notified by back channel, SAML SPs of `notices` (from `Saml::propagate`) as
/// logged out or failed (SOAP back channel, answered), "logout requested" with their
/// signed LogoutRequest in a hidden `<iframe>` each (front channel, never waited for; the
/// page's CSP `frame-src` allows exactly those SP origins and ours, where they answer), or
/// not reachable. No JavaScript. `next`: a link (and a 3-second refresh) onwards.
pub(super) async fn propagated_page(
    ctx: &Ctx<'_>,
    ended: Option<&crate::model::SsoSession>,
    except: Option<&str>,
) -> Result<HttpResponse, WebError> {
    let notices = match ended {
        Some(s) => ctx.state.saml.propagate(s, except).await,
        None => Vec::new(),
    };
    logged_out_with(ctx, ended, notices, None).await
}

pub(super) async fn logged_out_with(
    ctx: &Ctx<'_>,
    ended: Option<&crate::model::SsoSession>,
    notices: Vec<crate::protocols::saml::SloNotice>,
    next: Option<String>,
) -> Result<HttpResponse, WebError> {
    let mut lines = Vec::new();
    let mut frames = Vec::new();
    let mut origins: Vec<String> = Vec::new();
    if let Some(session) = ended {
        for e in &session.services {
            let mut f = e.split(' ');
            if let (Some("cas"), Some(id)) = (f.next(), f.next()) {
                lines.push((id.to_owned(), Line::CasNotified));
            }
        }
    }
    for n in notices {
        let line = match n.state {
            SloState::Requested {
                url,
                endpoint,
                request_id,
            } => {
                // The SP's origin, whether the frame starts there (Redirect) or on our
                // page that posts to it (HTTP-POST).
                if let Some(o) = origin(&endpoint) {
                    if !origins.contains(&o) {
                        origins.push(o);
                    }
                }
                frames.push(url);
                Line::Front(request_id)
            }
            SloState::LoggedOut => Line::LoggedOut,
            SloState::Failed => Line::Failed,
            SloState::Unreachable => Line::Unreachable,
            SloState::NoEndpoint => Line::NoEndpoint,
        };
        lines.push((n.sp, line));
    }
    // Frames sent: the page moves on to its status page, which shows the SPs' answers and
    // then leads to `next`.
    let next = if frames.is_empty() {
        next
    } else {
        match ctx.state.saml.put_round(&lines, next.as_deref()).await {
            Some(r) => Some(format!("/saml/slo/status?ref={r}")),
            None => next,
        }
    };
    let mut res = logged_out_page(ctx, &lines, frames, next)?;
    if !origins.is_empty() {
        // 'self' too: each SP answers inside its frame by sending it on to our `/saml/slo`,
        // and `frame-src` applies to every hop of a frame's navigation (Chromium blocked
        // the LogoutResponses without it).
        let csp = format!(
            "{}; frame-src {} 'self'",
            super::headers::CSP,
            origins.join(" ")
        );
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&csp) {
            res.headers_mut()
                .insert(actix_web::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    Ok(res)
}

/// A logged-out page listing `lines`, with `frames` and a way on to `next`.
pub(super) fn logged_out_page(
    ctx: &Ctx<'_>,
    lines: &[(String, Line)],
    frames: Vec<String>,
    next: Option<String>,
) -> Result<HttpResponse, WebError> {
    let fr = ctx.lang == super::i18n::Lang::Fr;
    let services = lines
        .iter()
        .map(|(name, line)| {
            let (fr_text, en_text) = match line {
                Line::CasNotified => ("notifié par canal arrière", "notified by back channel"),
                Line::LoggedOut => ("déconnecté", "logged out"),
                Line::Failed => ("échec de la déconnexion", "logout failed"),
                Line::Unreachable => ("non joignable", "not reachable"),
                Line::NoEndpoint => (
                    "non joignable (pas de point de déconnexion)",
                    "not reachable (no logout endpoint)",
                ),
                Line::Front(_) => ("déconnexion demandée", "logout requested"),
                Line::NoAnswer => ("pas de réponse", "no answer"),
            };
            LoggedOutService {
                name: name.clone(),
                status: if fr { fr_text } else { en_text },
            }
        })
        .collect();
    let page = LoggedOutPage {
        c: Chrome::new(ctx.lang, ctx.name(), "/", ctx.legal()),
        services,
        frames,
        next,
    };
    ctx.page(
        StatusCode::OK,
        &page,
        [cookies::session_removal(&ctx.state.settings)],
    )
}

/// Ends the browser's session, if any, and sends the CAS back-channel logout requests to
/// the services that got a ticket in it: the one logout of the web page, of CAS and of
/// SAML SLO (`web::saml`). Returns the ended session.
pub(super) async fn end_session(
    req: &HttpRequest,
    ctx: &Ctx<'_>,
) -> Result<Option<crate::model::SsoSession>, WebError> {
    let Some(id) = session_cookie(req, ctx) else {
        return Ok(None);
    };
    let ended = ctx
        .state
        .sessions
        .end(&id, SessionEndReason::Logout)
        .await
        .or_page(ctx.lang, ctx.name())?;
    if let Some(session) = &ended {
        ctx.state.cas.single_logout(session).await;
    }
    Ok(ended)
}

/// CAS `GET /logout[?service=…]`: ends the SSO session (as `POST /logout` does) and tells
/// its SAML SPs, then sends the browser to `service` only when it belongs to an active
/// registry entry (through the logged-out page when SAML frames must be shown first);
/// otherwise shows the logged-out page. No CSRF token is asked: logging out is what a forged request
/// could at worst do, and CAS clients link here.
pub async fn cas_logout(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let params = crate::protocols::cas::url::parse_params(req.query_string())
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let ended = end_session(&req, &ctx).await?;
    // The SAML SPs of the session are told too (SOAP, else frames of the page).
    let notices = match &ended {
        Some(s) => state.saml.propagate(s, None).await,
        None => Vec::new(),
    };
    let target = crate::protocols::cas::url::param(&params, "service")
        .and_then(|s| state.cas.service_for(s));
    let framed = notices
        .iter()
        .any(|n| matches!(n.state, SloState::Requested { .. }));
    match target {
        // Straight back to the service when no frame has to be shown first.
        Some(m) if !framed => {
            let mut res = HttpResponse::Found();
            res.cookie(cookies::session_removal(&state.settings));
            Ok(res
                .insert_header((actix_web::http::header::LOCATION, m.given))
                .finish())
        }
        m => logged_out_with(&ctx, ended.as_ref(), notices, m.map(|m| m.given)).await,
    }
}

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// The directory and the session store answer.
pub async fn readyz(state: Data<AppState>, lang: Lang) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    state.directory.ping().await.or_page(lang, ctx.name())?;
    state.sessions.ping().await.or_page(lang, ctx.name())?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ready\n"))
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(CSS)
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, WebError> {
    Err(WebError::for_request(ErrorKind::NotFound, &req))
}

pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, WebError> {
    Err(WebError::for_request(ErrorKind::MethodNotAllowed, &req))
}
