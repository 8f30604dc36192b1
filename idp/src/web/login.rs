//! The login and activation pages: GET shows the form, POST checks it through `authn`
//! and, on success, starts the SSO session through `session` (always with a new id).
//!
//! `/login` is also the CAS login: with a `service` (checked against the registry before
//! anything else, by `protocols::cas`), a person with a session gets a ticket without a
//! password (unless `renew`), `gateway` returns without one, and the login form carries the
//! service in a hidden field, checked again on submit, to continue there after login (or,
//! for a first login with an activation code, in a short-lived cookie until the password is
//! chosen).
//!
//! A SAML login carries the reference of a pending request (`protocols::saml`) in a hidden
//! `saml` field instead (a short-lived cookie during a first activation) and ends with the
//! SAML response (`web::saml`).
//!
//! Between a correct activation code and the new password, the person is named by a
//! pending-activation token in a short-lived cookie, never by the code.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::web::{Data, Form};
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use super::client::ClientAddr;
use super::cookies;
use super::csrf;
use super::error::{ErrorKind, OrPage, WebError};
use super::i18n::{failure_message, policy_message, rule_min_length, Lang};
use super::render::{current_session, see_other, session_cookie, Ctx};
use super::state::AppState;
use super::templates::{ActivatePage, Chrome, FieldError, LoginPage};
use crate::audit::{AuditEvent, FailureReason};
use crate::authn::{
    normalize_login, ActivationOutcome, AuthnOutcome, PendingToken, PolicyViolation,
    PENDING_LIFETIME,
};
use crate::model::{Person, SsoSession};
use crate::protocols::autopost::{self, SUBMIT_SCRIPT};
use crate::protocols::cas::{url, Cas, MatchedService, MAX_SESSION_SERVICES};

/// Cookie naming a pending activation.
const PENDING_COOKIE: &str = "idp_activation";

/// Cookie holding the CAS service a login with a pending activation continues to.
const CAS_SERVICE_COOKIE: &str = "idp_cas_service";

/// Cookie holding the pending SAML request's reference a login with a pending activation
/// continues to.
const SAML_PENDING_COOKIE: &str = "idp_saml_pending";

/// Longest login accepted (logins are short; this only bounds what reaches the stores).
const MAX_LOGIN: usize = 256;

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    login: String,
    password: String,
    /// CAS: the service to continue to (a hidden field, checked again against the registry).
    #[serde(default)]
    service: Option<String>,
    /// CAS: `POST` to hand the ticket over with a form.
    #[serde(default)]
    method: Option<String>,
    /// SAML: the pending request's reference (a server-side record, never the request).
    #[serde(default)]
    saml: Option<String>,
    /// CAS: `renew` was asked (kept so that the language switch cannot drop it).
    #[serde(default)]
    renew: Option<String>,
}

/// Where a login continues to: the CAS service of the form, if any.
#[derive(Default, Clone)]
pub(super) struct Continue {
    service: Option<String>,
    method_post: bool,
    renew: bool,
    saml: Option<String>,
}

impl Continue {
    /// Continue to the pending SAML request `reference`.
    pub(super) fn saml(reference: String) -> Self {
        Self {
            saml: Some(reference),
            ..Self::default()
        }
    }

    /// The same login page in language `lang`: it keeps where the login continues to
    /// (a switch must not lose the CAS service, its `renew`, or the pending SAML request).
    fn page_in(&self, lang: Lang) -> String {
        let code = lang.code();
        if let Some(r) = &self.saml {
            return format!("/saml/sso/continue?ref={}&lang={code}", url::encode(r));
        }
        let mut href = String::from("/login?");
        if let Some(s) = &self.service {
            href.push_str(&format!("service={}&", url::encode(s)));
            if self.renew {
                href.push_str("renew=true&");
            }
            if self.method_post {
                href.push_str("method=POST&");
            }
        }
        href.push_str(&format!("lang={code}"));
        href
    }
}

#[derive(Deserialize)]
pub struct ActivateForm {
    csrf: String,
    new_password: String,
    confirm: String,
}

pub(super) fn login_page(
    ctx: &Ctx<'_>,
    csrf: String,
    login: String,
    errors: Vec<FieldError>,
    notice: Option<String>,
    next: Continue,
) -> LoginPage {
    let field = |f: &str| {
        errors
            .iter()
            .find(|e| e.field == f && e.inline)
            .map(|e| e.message.clone())
    };
    let mut c = Chrome::new(ctx.lang, ctx.name(), "/login", ctx.legal());
    c.switch_href = next.page_in(ctx.lang.other());
    LoginPage {
        c,
        login_error: field("login"),
        password_error: field("password"),
        csrf,
        login,
        errors,
        notice,
        service: next.service,
        method_post: next.method_post,
        renew: next.renew,
        saml: next.saml,
    }
}

pub async fn login_form(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    // CAS parameters: the service is checked against the registry before anything else.
    let params =
        url::parse_params(req.query_string()).ok_or_else(|| ctx.error(ErrorKind::BadRequest))?;
    let matched = match url::param(&params, "service").filter(|s| !s.is_empty()) {
        Some(s) => Some(known_service(&ctx, s)?),
        None => None,
    };
    let renew = url::flag(&params, "renew");
    // The specification: with renew, gateway is ignored.
    let gateway = url::flag(&params, "gateway") && !renew;
    let method_post = url::param(&params, "method").is_some_and(|m| m.eq_ignore_ascii_case("POST"));

    let current = current_session(&req, &ctx).await?;
    if let Some(session) = &current.session {
        match &matched {
            Some(m) if !renew => {
                return cas_continue(&ctx, m, session, false, method_post, Vec::new()).await
            }
            Some(_) => {}
            None => return Ok(see_other("/", [])),
        }
    }
    let mut set = Vec::new();
    if current.stale_cookie {
        set.push(cookies::session_removal(&state.settings));
    }
    if let (Some(m), true, None) = (&matched, gateway, &current.session) {
        // No session and the service asked not to be stopped: back, without a ticket.
        let mut res = HttpResponse::Found();
        for c in set {
            res.cookie(c);
        }
        return Ok(res
            .insert_header((header::LOCATION, Cas::redirect_url(m, None)))
            .finish());
    }
    let (token, csrf_cookie) = csrf::ensure(&req, &state.settings);
    let notice = current
        .expired
        .then(|| lang.texts().session_expired.to_owned());
    set.extend(csrf_cookie);
    let next = Continue {
        service: matched.map(|m| m.given),
        method_post,
        renew,
        saml: None,
    };
    ctx.page(
        StatusCode::OK,
        &login_page(&ctx, token, String::new(), Vec::new(), notice, next),
        set,
    )
}

/// The active registry entry `service` belongs to, or the error page (nothing issued,
/// never redirected to).
fn known_service(ctx: &Ctx<'_>, service: &str) -> Result<MatchedService, WebError> {
    ctx.state.cas.service_for(service).ok_or_else(|| {
        tracing::info!("CAS login refused: service not registered");
        ctx.error(ErrorKind::UnknownService)
    })
}

/// Issues a service ticket for `session` towards `m`, records it in the session (single
/// logout) and sends the browser to the service (a redirect, or a form with
/// `method=POST`).
async fn cas_continue(
    ctx: &Ctx<'_>,
    m: &MatchedService,
    session: &SsoSession,
    fresh: bool,
    method_post: bool,
    set: Vec<Cookie<'static>>,
) -> Result<HttpResponse, WebError> {
    let ticket = ctx
        .state
        .cas
        .issue_service_ticket(m, session, fresh)
        .await
        .map_err(|e| {
            tracing::error!(error = %e.reason(), "CAS ticket not issued");
            ctx.error(ErrorKind::Unavailable)
        })?;
    ctx.state
        .sessions
        .add_service(
            session,
            Cas::session_entry(m, &ticket),
            MAX_SESSION_SERVICES,
        )
        .await
        .or_page(ctx.lang, ctx.name())?;
    let mut res = if method_post {
        HttpResponse::Ok()
    } else {
        HttpResponse::Found()
    };
    for c in set {
        res.cookie(c);
    }
    // The ticket is in the URL or the page: never kept by a cache.
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if !method_post {
        return Ok(res
            .insert_header((header::LOCATION, Cas::redirect_url(m, Some(&ticket))))
            .finish());
    }
    Ok(res
        .insert_header((header::CONTENT_SECURITY_POLICY, autopost::post_csp()))
        .content_type("text/html; charset=utf-8")
        .body(post_page(&m.given, &ticket)))
}

/// `method=POST`: a form that posts the ticket to the service by itself (a button without
/// JavaScript).
fn post_page(service: &str, ticket: &str) -> String {
    let e = crate::protocols::cas::url::html_escape;
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>…</title></head><body>\n<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"ticket\" value=\"{}\">\n<noscript><button type=\"submit\">Continuer / Continue</button></noscript>\n</form>\n<script>{SUBMIT_SCRIPT}</script>\n</body></html>\n",
        e(service),
        e(ticket)
    )
}

/// Refuses a POST whose CSRF field does not match its cookie; nothing else happens.
fn check_csrf(
    req: &HttpRequest,
    ctx: &Ctx<'_>,
    submitted: &str,
    login: &str,
    client: &ClientAddr,
) -> Result<(), WebError> {
    if csrf::verify(req, &ctx.state.settings, submitted) {
        return Ok(());
    }
    tracing::info!("form refused: CSRF token mismatch");
    ctx.state.authn.audit_event(AuditEvent::AuthnFailure {
        login: crate::authn::loggable_login(login),
        reason: FailureReason::CsrfMismatch,
        client_ip: client.0.clone(),
    });
    Err(ctx.error(ErrorKind::Csrf))
}

pub async fn login_submit(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
    client: ClientAddr,
    form: Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let form = form.into_inner();
    let login = normalize_login(&form.login);
    check_csrf(&req, &ctx, &form.csrf, &login, &client)?;
    let t = lang.texts();
    // The hidden service field is checked again: it came back from the browser.
    let matched = match form.service.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(known_service(&ctx, s)?),
        None => None,
    };
    // The pending SAML request must still be there (it is consumed after login).
    let saml_ref = form.saml.clone().filter(|r| !r.is_empty());
    if let Some(r) = &saml_ref {
        match state.saml.get_pending(r).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::info!("SAML login refused: the pending request is gone");
                return Err(super::saml::lost(&ctx));
            }
            Err(_) => return Err(ctx.error(ErrorKind::Unavailable)),
        }
    }
    let next = Continue {
        service: matched.as_ref().map(|m| m.given.clone()),
        method_post: form
            .method
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("POST")),
        renew: form.renew.as_deref() == Some("true"),
        saml: saml_ref.clone(),
    };

    let mut errors = Vec::new();
    if login.is_empty() {
        errors.push(FieldError {
            field: "login",
            message: t.err_login_missing.to_owned(),
            inline: true,
        });
    }
    if form.password.is_empty() {
        errors.push(FieldError {
            field: "password",
            message: t.err_password_missing.to_owned(),
            inline: true,
        });
    }
    if login.chars().count() > MAX_LOGIN {
        errors.push(FieldError {
            field: "login",
            message: t.err_bad_credentials.to_owned(),
            inline: true,
        });
    }
    if !errors.is_empty() {
        let shown = if login.chars().count() > MAX_LOGIN {
            String::new()
        } else {
            form.login.trim().to_owned()
        };
        return ctx.page(
            StatusCode::OK,
            &login_page(&ctx, form.csrf, shown, errors, None, next),
            [],
        );
    }

    let outcome = state
        .authn
        .login(&login, &form.password, &client.0)
        .await
        .or_page(lang, ctx.name())?;
    match outcome {
        AuthnOutcome::Authenticated(person) => {
            let (session, cookie) = start_session(&req, &ctx, &person, &client).await?;
            if let Some(r) = &saml_ref {
                return super::saml::after_login(&ctx, r, &session, vec![cookie]).await;
            }
            match &matched {
                Some(m) => {
                    cas_continue(&ctx, m, &session, true, next.method_post, vec![cookie]).await
                }
                None => Ok(see_other("/", [cookie])),
            }
        }
        AuthnOutcome::NeedsActivation(token) => {
            let lifetime = Some(Duration::seconds(PENDING_LIFETIME.whole_seconds()));
            let cookie = cookies::build(
                &state.settings,
                PENDING_COOKIE,
                token.expose().to_owned(),
                SameSite::Lax,
                lifetime,
            );
            let mut set = vec![cookie];
            // The pending SAML request to answer once the password is chosen.
            if let Some(r) = &saml_ref {
                set.push(cookies::build(
                    &state.settings,
                    SAML_PENDING_COOKIE,
                    r.clone(),
                    SameSite::Lax,
                    lifetime,
                ));
            }
            // The CAS service to continue to once the password is chosen (checked again).
            if let Some(m) = &matched {
                set.push(cookies::build(
                    &state.settings,
                    CAS_SERVICE_COOKIE,
                    url::encode(&m.given),
                    SameSite::Lax,
                    lifetime,
                ));
            }
            Ok(see_other("/activate", set))
        }
        AuthnOutcome::Failed(reason) => {
            // Not field-specific: the summary points at the login field, first in order.
            let errors = vec![FieldError {
                field: "login",
                message: failure_message(lang, reason).to_owned(),
                inline: false,
            }];
            ctx.page(
                StatusCode::OK,
                &login_page(
                    &ctx,
                    form.csrf,
                    form.login.trim().to_owned(),
                    errors,
                    None,
                    next,
                ),
                [],
            )
        }
    }
}

/// Starts a session with a fresh id, ending the one the browser came with; returns it and
/// its cookie.
pub(super) async fn start_session(
    req: &HttpRequest,
    ctx: &Ctx<'_>,
    person: &Person,
    client: &ClientAddr,
) -> Result<(SsoSession, Cookie<'static>), WebError> {
    let previous = session_cookie(req, ctx);
    let session = ctx
        .state
        .sessions
        .start(person, &client.0, previous.as_ref())
        .await
        .or_page(ctx.lang, ctx.name())?;
    let cookie = cookies::session(&ctx.state.settings, session.id.expose());
    Ok((session, cookie))
}

fn pending_token(req: &HttpRequest) -> Option<PendingToken> {
    req.cookie(PENDING_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
        .map(PendingToken::from_raw)
}

fn pending_removal(ctx: &Ctx<'_>) -> Cookie<'static> {
    cookies::removal(&ctx.state.settings, PENDING_COOKIE, SameSite::Lax)
}

/// The login page saying that the activation must start over.
fn activation_expired(req: &HttpRequest, ctx: &Ctx<'_>) -> Result<HttpResponse, WebError> {
    let (token, csrf_cookie) = csrf::ensure(req, &ctx.state.settings);
    let notice = Some(ctx.lang.texts().activation_expired.to_owned());
    let mut set = Vec::from_iter(csrf_cookie);
    set.push(pending_removal(ctx));
    ctx.page(
        StatusCode::OK,
        &login_page(
            ctx,
            token,
            String::new(),
            Vec::new(),
            notice,
            Continue::default(),
        ),
        set,
    )
}

fn activate_page(
    ctx: &Ctx<'_>,
    csrf: String,
    login: String,
    errors: Vec<FieldError>,
) -> ActivatePage {
    let field = |f: &str| {
        errors
            .iter()
            .find(|e| e.field == f && e.inline)
            .map(|e| e.message.clone())
    };
    ActivatePage {
        c: Chrome::new(ctx.lang, ctx.name(), "/activate", None),
        rule_min_length: rule_min_length(ctx.lang, ctx.state.authn.policy().min_length),
        password_error: field("new_password"),
        confirm_error: field("confirm"),
        csrf,
        login,
        errors,
    }
}

pub async fn activate_form(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let pending = match pending_token(&req) {
        Some(t) => state.authn.pending(&t).await.or_page(lang, ctx.name())?,
        None => None,
    };
    let Some(pending) = pending else {
        return activation_expired(&req, &ctx);
    };
    let (token, csrf_cookie) = csrf::ensure(&req, &state.settings);
    ctx.page(
        StatusCode::OK,
        &activate_page(&ctx, token, pending.login, Vec::new()),
        csrf_cookie,
    )
}

pub async fn activate_submit(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
    client: ClientAddr,
    form: Form<ActivateForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx::new(&state, lang);
    let form = form.into_inner();
    let token = pending_token(&req);
    let pending = match &token {
        Some(t) => state.authn.pending(t).await.or_page(lang, ctx.name())?,
        None => None,
    };
    let login = pending
        .as_ref()
        .map(|p| p.login.clone())
        .unwrap_or_default();
    check_csrf(&req, &ctx, &form.csrf, &login, &client)?;
    let (Some(token), Some(_)) = (token, pending) else {
        return activation_expired(&req, &ctx);
    };
    if form.new_password.is_empty() {
        let errors = vec![FieldError {
            field: "new_password",
            message: lang.texts().err_new_password_missing.to_owned(),
            inline: true,
        }];
        return ctx.page(
            StatusCode::OK,
            &activate_page(&ctx, form.csrf, login, errors),
            [],
        );
    }
    let outcome = state
        .authn
        .activate(&token, &form.new_password, &form.confirm, &client.0)
        .await
        .or_page(lang, ctx.name())?;
    match outcome {
        ActivationOutcome::Activated(person) => {
            let (session, cookie) = start_session(&req, &ctx, &person, &client).await?;
            let service = req
                .cookie(CAS_SERVICE_COOKIE)
                .and_then(|c| url::parse_params(&format!("s={}", c.value())))
                .and_then(|p| url::param(&p, "s").map(str::to_owned))
                .and_then(|s| state.cas.service_for(&s));
            let saml_ref = req
                .cookie(SAML_PENDING_COOKIE)
                .map(|c| c.value().to_owned())
                .filter(|v| !v.is_empty());
            let set = vec![
                cookie,
                pending_removal(&ctx),
                cookies::removal(&state.settings, CAS_SERVICE_COOKIE, SameSite::Lax),
                cookies::removal(&state.settings, SAML_PENDING_COOKIE, SameSite::Lax),
            ];
            if let Some(r) = saml_ref {
                return super::saml::after_login(&ctx, &r, &session, set).await;
            }
            match service {
                Some(m) => cas_continue(&ctx, &m, &session, true, false, set).await,
                None => Ok(see_other("/", set)),
            }
        }
        ActivationOutcome::Rejected(v) => {
            let field = if v == PolicyViolation::ConfirmationMismatch {
                "confirm"
            } else {
                "new_password"
            };
            let errors = vec![FieldError {
                field,
                message: policy_message(lang, v),
                inline: true,
            }];
            ctx.page(
                StatusCode::OK,
                &activate_page(&ctx, form.csrf, login, errors),
                [],
            )
        }
        ActivationOutcome::Expired => activation_expired(&req, &ctx),
    }
}
