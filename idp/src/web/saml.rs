//! The SAML 2.0 SSO endpoints' HTTP side (`protocols::saml` does the protocol):
//! `GET /saml/sso` (HTTP-Redirect), `POST /saml/sso` (HTTP-POST), `GET /saml/sso/continue`
//! and `GET /saml/sso/init?sp=<entityID>[&RelayState=…]` (IdP-initiated).
//!
//! An accepted request is kept server-side and named by an opaque reference. A POSTed
//! request arrives cross-site, without the `SameSite=Lax` session cookie: it is answered
//! with a small page that moves to `/saml/sso/continue` on our own site, where the cookie is
//! sent. With a session (and no ForceAuthn) the response is posted at once; with IsPassive
//! and no session the SP gets NoPassive; otherwise the login page carries the reference and
//! the login completes the SSO (`login::login_submit` → [`after_login`]). An unknown SP or
//! ACS gets an error page, never a POST.
//!
//! Single logout (first part): `GET /saml/slo` and `POST /saml/slo` take an SP-initiated,
//! signed LogoutRequest; a POSTed one moves to `/saml/slo/continue` as SSO does, for the
//! session cookie. When its NameID and SessionIndex name an entry of the browser's session,
//! the session ends through the shared logout (`pages::end_session`, CAS notices included)
//! and the SP gets Success; otherwise nothing ends and the SP gets UnknownPrincipal.
//!
//! Single logout (second part): when other SAML SPs remain (and for the web `POST
//! /logout`), the logout page lists the session's services and carries a signed
//! HTTP-Redirect LogoutRequest to each other SAML SP in a hidden `<iframe>` (front
//! channel, never waited for, no JavaScript; CSP `frame-src` = exactly those SP origins),
//! then links (3 s refresh) to the initiator's LogoutResponse: Success, or PartialLogout
//! when an SP has no HTTP-Redirect SingleLogoutService. The SPs' LogoutResponses come
//! back to `/saml/slo` (`SAMLResponse`, signed by the SP asked, InResponseTo a pending
//! ID): that SP is audited as logged out and gets a tiny 200 page.

use actix_web::cookie::Cookie;
use actix_web::http::{header, StatusCode};
use actix_web::web::{Data, Form};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::cookies;
use super::csrf;
use super::error::{ErrorKind, OrPage, WebError};
use super::i18n::Lang;
use super::login::{login_page, Continue};
use super::render::{current_session, Ctx};
use super::state::AppState;
use crate::model::SsoSession;
use crate::protocols::cas::{url, MAX_SESSION_SERVICES};
use crate::protocols::saml::logout::Outcome;
use crate::protocols::saml::{
    logout_outcome, Incoming, LogoutAnswer, LogoutPending, Pending, PostAnswer, Rejection, Status,
    SP_GONE,
};

#[derive(Deserialize)]
pub struct SsoForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState", default)]
    relay_state: Option<String>,
}

fn rejected(ctx: &Ctx<'_>, r: &Rejection) -> WebError {
    if r.unknown_sp {
        ctx.error(ErrorKind::UnknownService)
    } else {
        ctx.error(ErrorKind::BadRequest)
    }
}

/// The HTTP-POST page carrying a response to the ACS.
fn post_page(answer: PostAnswer, set: Vec<Cookie<'static>>) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    for c in set {
        res.cookie(c);
    }
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, answer.csp))
        .content_type("text/html; charset=utf-8")
        .body(answer.html)
}

/// A refused request: a status posted to the trusted ACS, else the error page.
async fn refusal(ctx: &Ctx<'_>, r: Rejection) -> Result<HttpResponse, WebError> {
    match (r.refusal.status, &r.answer_to) {
        (Some(status), Some(p)) => {
            let answer = ctx
                .state
                .saml
                .answer_status(p, status)
                .await
                .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
            Ok(post_page(answer, Vec::new()))
        }
        _ => Err(rejected(ctx, &r)),
    }
}

/// Answers `p` for `session`, recording the SP in the session.
async fn answer(
    ctx: &Ctx<'_>,
    p: &Pending,
    session: &SsoSession,
    set: Vec<Cookie<'static>>,
) -> Result<HttpResponse, WebError> {
    let answer = match ctx.state.saml.answer(p, session).await {
        Ok(a) => a,
        Err(r) if r.reason == SP_GONE => return Err(ctx.error(ErrorKind::UnknownService)),
        Err(_) => return Err(ctx.error(ErrorKind::Unavailable)),
    };
    if let Some(entry) = &answer.session_entry {
        ctx.state
            .sessions
            .add_service(&session.id, entry.clone(), MAX_SESSION_SERVICES)
            .await
            .or_page(ctx.lang, ctx.name())?;
    }
    Ok(post_page(answer, set))
}

/// Goes on with a checked request: answer with the session, NoPassive, or the login page.
async fn proceed(
    req: &HttpRequest,
    ctx: &Ctx<'_>,
    p: Pending,
    reference: Option<String>,
) -> Result<HttpResponse, WebError> {
    let current = current_session(req, ctx).await?;
    match &current.session {
        Some(s) if !p.force_authn => {
            if let Some(r) = &reference {
                ctx.state.saml.take_pending(r).await;
            }
            return answer(ctx, &p, s, Vec::new()).await;
        }
        _ => {}
    }
    if p.is_passive {
        if let Some(r) = &reference {
            ctx.state.saml.take_pending(r).await;
        }
        let a = ctx
            .state
            .saml
            .refuse_to_acs(&p, Status::NoPassive, "IsPassive and no usable session")
            .await
            .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
        return Ok(post_page(a, Vec::new()));
    }
    let reference = match reference {
        Some(r) => r,
        None => ctx
            .state
            .saml
            .put_pending(&p)
            .await
            .map_err(|_| ctx.error(ErrorKind::Unavailable))?,
    };
    let mut set = Vec::new();
    if current.stale_cookie {
        set.push(cookies::session_removal(&ctx.state.settings));
    }
    let (token, csrf_cookie) = csrf::ensure(req, &ctx.state.settings);
    set.extend(csrf_cookie);
    let notice = current
        .expired
        .then(|| ctx.lang.texts().session_expired.to_owned());
    ctx.page(
        StatusCode::OK,
        &login_page(
            ctx,
            token,
            String::new(),
            Vec::new(),
            notice,
            Continue::saml(reference),
        ),
        set,
    )
}

pub async fn sso_redirect(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    match state
        .saml
        .check(Incoming::Redirect(req.query_string().to_owned()))
        .await
    {
        Ok(p) => proceed(&req, &ctx, p, None).await,
        Err(r) => refusal(&ctx, r).await,
    }
}

pub async fn sso_post(
    state: Data<AppState>,
    lang: Lang,
    form: Form<SsoForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let form = form.into_inner();
    let p = match state
        .saml
        .check(Incoming::Post {
            saml_request: form.saml_request,
            relay_state: form.relay_state,
        })
        .await
    {
        Ok(p) => p,
        Err(r) => return refusal(&ctx, r).await,
    };
    let reference = state
        .saml
        .put_pending(&p)
        .await
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
    // Back on our own site, where the session cookie is sent.
    Ok(back_on_site(&format!("/saml/sso/continue?ref={reference}")))
}

pub async fn sso_continue(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let params =
        url::parse_params(req.query_string()).ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let reference = url::param(&params, "ref")
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?
        .to_owned();
    let p = state
        .saml
        .get_pending(&reference)
        .await
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    proceed(&req, &ctx, p, Some(reference)).await
}

/// IdP-initiated SSO: `GET /saml/sso/init?sp=<entityID>[&RelayState=…]`.
pub async fn sso_init(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let params =
        url::parse_params(req.query_string()).ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let sp = url::param(&params, "sp")
        .or_else(|| url::param(&params, "providerId"))
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let relay = url::param(&params, "RelayState")
        .or_else(|| url::param(&params, "target"))
        .map(str::to_owned);
    match state.saml.unsolicited(sp, relay) {
        Ok(p) => proceed(&req, &ctx, p, None).await,
        Err(r) => Err(rejected(&ctx, &r)),
    }
}

/// After a successful login on a page that carried pending request `reference`.
pub(super) async fn after_login(
    ctx: &Ctx<'_>,
    reference: &str,
    session: &SsoSession,
    set: Vec<Cookie<'static>>,
) -> Result<HttpResponse, WebError> {
    let p = ctx
        .state
        .saml
        .take_pending(reference)
        .await
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    answer(ctx, &p, session, set).await
}

/// A refreshing page back to our own site (a cross-site POST carries no session cookie).
fn back_on_site(to: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>…</title></head><body>\n<p><a href=\"{to}\">Continuer / Continue</a></p>\n</body></html>\n"
    );
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// Matches a checked LogoutRequest with the browser's session, ends it through the shared
/// logout when it matches, and answers the SP.
async fn finish_logout(
    req: &HttpRequest,
    ctx: &Ctx<'_>,
    p: LogoutPending,
) -> Result<HttpResponse, WebError> {
    let current = current_session(req, ctx).await?;
    let outcome = current
        .session
        .as_ref()
        .and_then(|s| logout_outcome(&p, s))
        .unwrap_or(Outcome::Refused(Status::UnknownPrincipal));
    let ended = if outcome == Outcome::Refused(Status::UnknownPrincipal) {
        None
    } else {
        super::pages::end_session(req, ctx).await?
    };
    // Other SAML SPs remain: a LogoutRequest to each through the logout page (front
    // channel), which then leads to the initiator's Redirect LogoutResponse: Success, or
    // PartialLogout when some SP could not be sent one (no HTTP-Redirect
    // SingleLogoutService). An initiator answered over HTTP-POST only gets PartialLogout
    // and no propagation (the page cannot carry both without JavaScript).
    let mut notices = Vec::new();
    let mut outcome = outcome;
    let by_redirect = ctx.state.saml.slo_redirect_location(&p.sp).is_some();
    if let (Some(s), Outcome::Partial, true) = (&ended, outcome, by_redirect) {
        notices = ctx.state.saml.propagate(s, Some(&p.sp)).await;
        if notices.iter().all(|n| n.url.is_some()) {
            outcome = Outcome::Success;
        }
    }
    let answer = ctx
        .state
        .saml
        .logout_answer(&p, outcome, ended.as_ref().map(|s| s.audit_ref.as_str()))
        .await
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
    let mut set = Vec::new();
    if ended.is_some() || current.stale_cookie {
        set.push(cookies::session_removal(&ctx.state.settings));
    }
    match answer {
        LogoutAnswer::Redirect(url) if !notices.is_empty() => {
            super::pages::logged_out_with(ctx, ended.as_ref(), notices, Some(url))
        }
        LogoutAnswer::Redirect(url) => {
            let mut res = HttpResponse::Found();
            for c in set {
                res.cookie(c);
            }
            Ok(res
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::LOCATION, url))
                .finish())
        }
        LogoutAnswer::Post(a) => Ok(post_page(a, set)),
        LogoutAnswer::NoEndpoint if ended.is_some() => {
            super::pages::logged_out_with(ctx, ended.as_ref(), notices, None)
        }
        LogoutAnswer::NoEndpoint => Err(ctx.error(ErrorKind::BadRequest)),
    }
}

#[derive(Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse", default)]
    saml_response: Option<String>,
    #[serde(rename = "RelayState", default)]
    relay_state: Option<String>,
}

/// An SP's LogoutResponse to the IdP's propagated LogoutRequest: a tiny page (it is
/// usually shown inside the logout page's frame for that SP).
async fn slo_response(ctx: &Ctx<'_>, incoming: Incoming) -> Result<HttpResponse, WebError> {
    match ctx.state.saml.accept_logout_response(incoming).await {
        Ok(_) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>OK</title></head><body><p>Déconnecté / Logged out</p></body></html>\n")),
        Err(r) => {
            tracing::info!(reason = %r.reason, "SAML LogoutResponse refused");
            Err(ctx.error(ErrorKind::BadRequest))
        }
    }
}

/// SP-initiated logout over HTTP-Redirect.
pub async fn slo_redirect(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let query = req.query_string();
    if query.split('&').any(|p| p.starts_with("SAMLResponse=")) {
        return slo_response(&ctx, Incoming::Redirect(query.to_owned())).await;
    }
    match state
        .saml
        .check_logout(Incoming::Redirect(req.query_string().to_owned()))
        .await
    {
        Ok(p) => finish_logout(&req, &ctx, p).await,
        Err(r) => Err(rejected(&ctx, &r)),
    }
}

/// SP-initiated logout over HTTP-POST: checked here, finished back on our site.
pub async fn slo_post(
    state: Data<AppState>,
    lang: Lang,
    form: Form<SloForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let form = form.into_inner();
    if let Some(r) = form.saml_response {
        return slo_response(
            &ctx,
            Incoming::Post {
                saml_request: r,
                relay_state: form.relay_state,
            },
        )
        .await;
    }
    let saml_request = form
        .saml_request
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let p = state
        .saml
        .check_logout(Incoming::Post {
            saml_request,
            relay_state: form.relay_state,
        })
        .await
        .map_err(|r| rejected(&ctx, &r))?;
    let reference = state
        .saml
        .put_logout(&p)
        .await
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
    Ok(back_on_site(&format!("/saml/slo/continue?ref={reference}")))
}

pub async fn slo_continue(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let params =
        url::parse_params(req.query_string()).ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let reference = url::param(&params, "ref").ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let p = state
        .saml
        .take_logout(reference)
        .await
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    finish_logout(&req, &ctx, p).await
}
