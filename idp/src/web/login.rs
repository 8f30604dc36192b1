//! The login and activation pages: GET shows the form, POST checks it through `authn`
//! and, on success, starts the SSO session through `session` (always with a new id).
//!
//! Between a correct activation code and the new password, the person is named by a
//! pending-activation token in a short-lived cookie, never by the code.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::StatusCode;
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
use crate::model::Person;

/// Cookie naming a pending activation.
const PENDING_COOKIE: &str = "idp_activation";

/// Longest login accepted (logins are short; this only bounds what reaches the stores).
const MAX_LOGIN: usize = 256;

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    login: String,
    password: String,
}

#[derive(Deserialize)]
pub struct ActivateForm {
    csrf: String,
    new_password: String,
    confirm: String,
}

fn login_page(
    ctx: &Ctx<'_>,
    csrf: String,
    login: String,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> LoginPage {
    let field = |f: &str| {
        errors
            .iter()
            .find(|e| e.field == f && e.inline)
            .map(|e| e.message.clone())
    };
    LoginPage {
        c: Chrome::new(ctx.lang, ctx.name(), "/login", ctx.legal()),
        login_error: field("login"),
        password_error: field("password"),
        csrf,
        login,
        errors,
        notice,
    }
}

pub async fn login_form(
    req: HttpRequest,
    state: Data<AppState>,
    lang: Lang,
) -> Result<HttpResponse, WebError> {
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let current = current_session(&req, &ctx).await?;
    if current.session.is_some() {
        return Ok(see_other("/", []));
    }
    let (token, csrf_cookie) = csrf::ensure(&req, &state.settings);
    let notice = current
        .expired
        .then(|| lang.texts().session_expired.to_owned());
    let mut set = Vec::from_iter(csrf_cookie);
    if current.stale_cookie {
        set.push(cookies::session_removal(&state.settings));
    }
    ctx.page(
        StatusCode::OK,
        &login_page(&ctx, token, String::new(), Vec::new(), notice),
        set,
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
        login: login.to_owned(),
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
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let form = form.into_inner();
    let login = normalize_login(&form.login);
    check_csrf(&req, &ctx, &form.csrf, &login, &client)?;
    let t = lang.texts();

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
            &login_page(&ctx, form.csrf, shown, errors, None),
            [],
        );
    }

    let outcome = state
        .authn
        .login(&login, &form.password, &client.0)
        .await
        .or_page(lang, ctx.name())?;
    match outcome {
        AuthnOutcome::Authenticated(person) => start_session(&req, &ctx, &person, &client).await,
        AuthnOutcome::NeedsActivation(token) => {
            let cookie = cookies::build(
                &state.settings,
                PENDING_COOKIE,
                token.expose().to_owned(),
                SameSite::Lax,
                Some(Duration::seconds(PENDING_LIFETIME.whole_seconds())),
            );
            Ok(see_other("/activate", [cookie]))
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
                &login_page(&ctx, form.csrf, form.login.trim().to_owned(), errors, None),
                [],
            )
        }
    }
}

/// Starts a session with a fresh id, ending the one the browser came with.
async fn start_session(
    req: &HttpRequest,
    ctx: &Ctx<'_>,
    person: &Person,
    client: &ClientAddr,
) -> Result<HttpResponse, WebError> {
    let previous = session_cookie(req, ctx);
    let session = ctx
        .state
        .sessions
        .start(person, &client.0, previous.as_ref())
        .await
        .or_page(ctx.lang, ctx.name())?;
    let cookie = cookies::session(&ctx.state.settings, session.id.expose());
    Ok(see_other("/", [cookie]))
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
        &login_page(ctx, token, String::new(), Vec::new(), notice),
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
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let Some(pending) = pending_token(&req).and_then(|t| state.authn.pending(&t)) else {
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
    let ctx = Ctx {
        state: &state,
        lang,
    };
    let form = form.into_inner();
    let token = pending_token(&req);
    let pending = token.as_ref().and_then(|t| state.authn.pending(t));
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
            let mut res = start_session(&req, &ctx, &person, &client).await?;
            if let Err(e) = res.add_cookie(&pending_removal(&ctx)) {
                tracing::warn!(error = %e, "pending activation cookie not cleared");
            }
            Ok(res)
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
