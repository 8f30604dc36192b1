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
//! ACS gets an error page, never a POST. Every refusal is audited (`saml_request_refused`),
//! including those decided here: an unreadable form, a pending request gone, a store or
//! signing failure.
//!
//! Single logout (`protocols::saml::slo` does the protocol): `GET /saml/slo` and `POST
//! /saml/slo` take an SP-initiated, signed LogoutRequest (a POSTed one moves to
//! `/saml/slo/continue` as SSO does, for the session cookie) or an SP's LogoutResponse to
//! one of ours. A request refused once its SP and signature are known is answered to that
//! SP with a status; otherwise the error page. When its NameID and SessionIndex name an
//! entry of the browser's session, the session ends through the shared logout
//! (`pages::end_session`, CAS notices included), the other SAML SPs are told (SOAP before
//! the page, else hidden frames of the logged-out page), and the initiator gets Success or
//! PartialLogout: straight away when nobody else was in the session, else after the page
//! (a 3 s refresh, with frames through `/saml/slo/status`, which shows what each framed SP
//! answered, to `/saml/slo/answer`): only then is the outcome decided — Success when every
//! other SP confirmed, by SOAP or by its front-channel LogoutResponse — signed and sent
//! (Redirect, or the auto-submitting POST form), once.

use actix_web::cookie::Cookie;
use actix_web::error::UrlencodedError;
use actix_web::http::{header, StatusCode};
use actix_web::web::{Data, Form};
use actix_web::{HttpRequest, HttpResponse};
use federation_metadata::model::Binding;
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
    logout_outcome, Incoming, LogoutAnswer, LogoutPending, LogoutRejection, Pending, PostAnswer,
    Refusal, Rejection, Status, SP_GONE,
};

#[derive(Deserialize)]
pub struct SsoForm {
    /// Optional here so that a form without it is refused (and audited) like any other
    /// unreadable request.
    #[serde(rename = "SAMLRequest", default)]
    saml_request: Option<String>,
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

/// A store or signing failure while answering `sp`: audited, then the "unavailable" page.
fn unavailable(ctx: &Ctx<'_>, sp: &str, r: Refusal) -> WebError {
    ctx.state.saml.audit_page_refusal(sp, r);
    ctx.error(ErrorKind::Unavailable)
}

/// A pending request that is not (or no longer) kept: audited, then the error page.
pub(super) fn lost(ctx: &Ctx<'_>) -> WebError {
    ctx.state.saml.audit_page_refusal(
        "",
        Refusal::page("unknown or expired pending request reference"),
    );
    ctx.error(ErrorKind::BadRequest)
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
        Err(r) => return Err(unavailable(ctx, &p.sp, r)),
    };
    if let Some(entry) = &answer.session_entry {
        ctx.state
            .sessions
            .add_service(session, entry.clone(), MAX_SESSION_SERVICES)
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
                // Answered now: a record left behind would only expire.
                ctx.state.saml.take_pending(r).await.ok();
            }
            return answer(ctx, &p, s, Vec::new()).await;
        }
        _ => {}
    }
    if p.is_passive {
        if let Some(r) = &reference {
            ctx.state.saml.take_pending(r).await.ok();
        }
        let a = ctx
            .state
            .saml
            .refuse_to_acs(&p, Status::NoPassive, "IsPassive and no usable session")
            .await
            .map_err(|r| unavailable(ctx, &p.sp, r))?;
        return Ok(post_page(a, Vec::new()));
    }
    let reference = match reference {
        Some(r) => r,
        None => ctx
            .state
            .saml
            .put_pending(&p)
            .await
            .map_err(|r| unavailable(ctx, &p.sp, r))?,
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
    let ctx = Ctx::new(&state, lang);
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
    let ctx = Ctx::new(&state, lang);
    let form = form.into_inner();
    let p = match state
        .saml
        .check(Incoming::Post {
            saml_request: form.saml_request.unwrap_or_default(),
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
        .map_err(|r| unavailable(&ctx, &p.sp, r))?;
    // Back on our own site, where the session cookie is sent.
    Ok(back_on_site(&format!("/saml/sso/continue?ref={reference}")))
}

/// A POSTed AuthnRequest the form reader refused (too large, not a form): audited like every
/// other refused request, then the usual error page.
pub fn sso_form_error(err: UrlencodedError, req: &HttpRequest) -> actix_web::Error {
    if let Some(state) = req.app_data::<Data<AppState>>() {
        state.saml.audit_page_refusal(
            "",
            Refusal::page(match err {
                UrlencodedError::Overflow { .. } => "message too large",
                _ => "unreadable form",
            }),
        );
    }
    WebError::from_form(&err, req).into()
}

pub async fn sso_continue(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let reference = url::parse_params(req.query_string())
        .and_then(|params| url::param(&params, "ref").map(str::to_owned))
        .unwrap_or_default();
    let p = state
        .saml
        .get_pending(&reference)
        .await
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?
        .ok_or_else(|| lost(&ctx))?;
    proceed(&req, &ctx, p, Some(reference)).await
}

/// The `ref` query parameter naming a server-side record (pending request, logout round,
/// answer), else the bad-request page.
fn reference_param(req: &HttpRequest, ctx: &Ctx<'_>) -> Result<String, WebError> {
    url::parse_params(req.query_string())
        .and_then(|params| url::param(&params, "ref").map(str::to_owned))
        .ok_or_else(|| ctx.error(ErrorKind::BadRequest))
}

/// IdP-initiated SSO: `GET /saml/sso/init?sp=<entityID>[&RelayState=…]`.
pub async fn sso_init(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let no_sp = || {
        state
            .saml
            .audit_page_refusal("", Refusal::page("unsolicited SSO without an sp parameter"));
        ctx.error(ErrorKind::BadRequest)
    };
    let params = url::parse_params(req.query_string()).ok_or_else(no_sp)?;
    let sp = url::param(&params, "sp")
        .or_else(|| url::param(&params, "providerId"))
        .ok_or_else(no_sp)?;
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
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?
        .ok_or_else(|| lost(ctx))?;
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

/// A LogoutResponse on its way to the SP: a redirect, or the auto-submitting POST page.
fn logout_answer_page(answer: LogoutAnswer, set: Vec<Cookie<'static>>) -> Option<HttpResponse> {
    match answer {
        LogoutAnswer::Redirect(url) => {
            let mut res = HttpResponse::Found();
            for c in set {
                res.cookie(c);
            }
            Some(
                res.insert_header((header::CACHE_CONTROL, "no-store"))
                    .insert_header((header::LOCATION, url))
                    .finish(),
            )
        }
        LogoutAnswer::Post(a) => Some(post_page(a, set)),
        LogoutAnswer::NoEndpoint => None,
    }
}

/// A refused LogoutRequest: a LogoutResponse with the status to the SP when it is known
/// and its signature verified, else the error page.
async fn logout_refusal(ctx: &Ctx<'_>, r: LogoutRejection) -> Result<HttpResponse, WebError> {
    let (Some(status), Some(p)) = (r.refusal.status, r.answer_to.as_deref()) else {
        return Err(if r.unknown_sp {
            ctx.error(ErrorKind::UnknownService)
        } else {
            ctx.error(ErrorKind::BadRequest)
        });
    };
    let answer = ctx
        .state
        .saml
        .logout_answer(p, Outcome::Refused(status), None)
        .await
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
    logout_answer_page(answer, Vec::new()).ok_or_else(|| ctx.error(ErrorKind::BadRequest))
}

/// Matches a checked LogoutRequest with the browser's session, ends it through the shared
/// logout when it matches, tells the session's other SAML SPs, and answers the SP.
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
        .unwrap_or(Outcome::UnknownPrincipal);
    let ended = if outcome == Outcome::UnknownPrincipal {
        None
    } else {
        super::pages::end_session(req, ctx).await?
    };
    // Other SAML SPs remain: each is told (SOAP, else a frame of the logged-out page).
    let notices = match (&ended, outcome) {
        (Some(s), Outcome::Partial) => ctx.state.saml.propagate(s, Some(&p.sp)).await,
        _ => Vec::new(),
    };
    let session_ref = ended.as_ref().map(|s| s.audit_ref.as_str());
    let mut set = Vec::new();
    if ended.is_some() || current.stale_cookie {
        set.push(cookies::session_removal(&ctx.state.settings));
    }
    let answerable = [Binding::HttpRedirect, Binding::HttpPost]
        .into_iter()
        .any(|b| ctx.state.saml.slo_endpoint(&p.sp, b, true).is_some());
    if notices.is_empty() || !answerable {
        let answer = ctx
            .state
            .saml
            .logout_answer(&p, outcome, session_ref)
            .await
            .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
        if notices.is_empty() {
            return match logout_answer_page(answer, set) {
                Some(res) => Ok(res),
                None if ended.is_some() => {
                    super::pages::logged_out_with(ctx, ended.as_ref(), notices, None).await
                }
                None => Err(ctx.error(ErrorKind::BadRequest)),
            };
        }
        return super::pages::logged_out_with(ctx, ended.as_ref(), notices, None).await;
    }
    // The logged-out page first (it lists every SP and carries the frames); the
    // initiator's answer, Success or PartialLogout, is decided when the browser moves on,
    // once the frames' SPs have had their chance to answer.
    let reference = ctx
        .state
        .saml
        .defer_answer(&p, session_ref, &notices)
        .await
        .map_err(|_| ctx.error(ErrorKind::Unavailable))?;
    let next = Some(format!("/saml/slo/answer?ref={reference}"));
    super::pages::logged_out_with(ctx, ended.as_ref(), notices, next).await
}

/// `GET /saml/slo/status?ref=…`: the logged-out page again, with the SPs' answers to the
/// front-channel LogoutRequests its frames sent (logged out, failed; still requested while
/// it waits a little for late ones, then no answer), then on to where the page was leading
/// (the initiating SP's answer, a CAS service).
pub async fn slo_status(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let reference = reference_param(&req, &ctx)?;
    let view = ctx.found(state.saml.round(&reference).await)?;
    // An SP still silent: this page again after the refresh delay, a few times, before
    // moving on (the initiator's answer is only decided there).
    let next = if view.waiting {
        Some(format!("/saml/slo/status?ref={reference}"))
    } else {
        view.next
    };
    super::pages::logged_out_page(&ctx, &view.lines, Vec::new(), next)
}

/// `GET /saml/slo/frame?ref=…`: inside a frame of the logged-out page, the form that posts
/// our signed LogoutRequest to an SP whose only SingleLogoutService is HTTP-POST (once).
/// Framed by our own pages only.
pub async fn slo_frame(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let reference = reference_param(&req, &ctx)?;
    let form = ctx.found(state.saml.take_frame(&reference).await)?;
    let mut res = post_page(form, Vec::new());
    res.headers_mut().insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(res)
}

/// `GET /saml/slo/answer?ref=…`: the initiating SP's LogoutResponse, decided, signed and
/// sent (Redirect, or the auto-submitting POST form) once, when the logged-out page moves
/// on.
pub async fn slo_answer(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let reference = reference_param(&req, &ctx)?;
    match state.saml.deferred_answer(&reference).await {
        Ok(None) => Err(ctx.error(ErrorKind::BadRequest)),
        Err(_) => Err(ctx.error(ErrorKind::Unavailable)),
        Ok(Some(answer)) => Ok(logout_answer_page(answer, Vec::new())
            .unwrap_or_else(|| super::render::see_other("/", []))),
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
        Ok((_, logged_out)) => {
            let text = if logged_out {
                "Déconnecté / Logged out"
            } else {
                "Échec de la déconnexion / Logout failed"
            };
            // Shown in the frame of our logged-out page that carried the LogoutRequest:
            // framing by our own pages only.
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; frame-ancestors 'self'; base-uri 'none'",
                ))
                .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
                .content_type("text/html; charset=utf-8")
                .body(format!("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>SLO</title></head><body><p>{text}</p></body></html>\n")))
        }
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
    let ctx = Ctx::new(&state, lang);
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
        Err(r) => logout_refusal(&ctx, r).await,
    }
}

/// SP-initiated logout over HTTP-POST: checked here, finished back on our site.
pub async fn slo_post(
    state: Data<AppState>,
    lang: Lang,
    form: Form<SloForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
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
    let checked = state
        .saml
        .check_logout(Incoming::Post {
            saml_request,
            relay_state: form.relay_state,
        })
        .await;
    let p = match checked {
        Ok(p) => p,
        Err(r) => return logout_refusal(&ctx, r).await,
    };
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
    let ctx = Ctx::new(&state, lang);
    let reference = reference_param(&req, &ctx)?;
    let p = ctx.found(state.saml.take_logout(&reference).await)?;
    finish_logout(&req, &ctx, p).await
}
