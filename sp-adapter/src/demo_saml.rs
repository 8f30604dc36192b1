//! The demo federation's own SAML service: "Ressources numériques (démo)", a small web
//! application that logs people in through the IdP with SAML 2.0 (signed HTTP-Redirect
//! AuthnRequest, signed assertion POSTed to its ACS), like the GAR does, and shows the
//! NameID and the attributes the registry released to it. "Se déconnecter" is an
//! SP-initiated single logout; a logout started elsewhere reaches it as the IdP's
//! LogoutRequest at `/saml/slo`, which ends its local session.
//!
//! Endpoints under `base_url`: `/` (the page; not logged in: off to the IdP), `/logout`,
//! `/saml/acs` (HTTP-POST), `/saml/slo` (HTTP-Redirect, both directions) and
//! `/saml/metadata` (its entityID, serving its metadata).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::demo::{escape, new_session_id, page, redirect, serve_on_thread};
use crate::saml::{IdpDescriptor, SamlError, SamlPrincipal, ServiceProvider, SpConfig};

const COOKIE: &str = "demo_saml_service";

/// The demo SAML service: where it lives, its key pair, the IdP it trusts.
#[derive(Clone)]
pub struct SamlDemoService {
    pub name: String,
    /// `http://host:port`, no final `/`.
    pub base_url: String,
    pub key: PKey<Private>,
    pub certificate: X509,
    pub idp: IdpDescriptor,
}

/// The entityID of the service at `base_url` (also where its metadata is served).
pub fn entity_id(base_url: &str) -> String {
    format!("{}/saml/metadata", base_url.trim_end_matches('/'))
}

struct State {
    name: String,
    sp: ServiceProvider,
    /// Local session id → who logged in.
    sessions: Mutex<HashMap<String, SamlPrincipal>>,
}

impl State {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, SamlPrincipal>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self, req: &HttpRequest) -> Option<(String, SamlPrincipal)> {
        let id = req.cookie(COOKIE)?.value().to_owned();
        let p = self.sessions().get(&id).cloned()?;
        Some((id, p))
    }

    fn failed(&self, what: &str, e: &SamlError) -> HttpResponse {
        tracing::warn!(error = %e, "demo SAML service: {what} refused");
        let mut res = page(
            &self.name,
            &format!(
                "<p>{} : {}</p><p><a href=\"/\">Retour au service</a></p>",
                escape(what),
                escape(&e.to_string())
            ),
        );
        *res.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
        res
    }
}

fn blocking_failed(state: &State) -> HttpResponse {
    let mut res = page(&state.name, "<p>Erreur interne du service.</p>");
    *res.status_mut() = actix_web::http::StatusCode::INTERNAL_SERVER_ERROR;
    res
}

/// A RelayState we redirect to: a path of this service only.
fn local_path(relay: Option<&String>) -> String {
    match relay {
        Some(r) if r.starts_with('/') && !r.starts_with("//") && !r.contains('\\') => r.clone(),
        _ => "/".to_owned(),
    }
}

async fn home(req: HttpRequest, state: Data<State>) -> HttpResponse {
    let Some((_, p)) = state.current(&req) else {
        // Not logged in: a signed AuthnRequest to the IdP, coming back here.
        let s = state.clone();
        return match web::block(move || {
            s.sp.authn_request_url(Some("/"), OffsetDateTime::now_utc())
        })
        .await
        {
            Ok(Ok(url)) => redirect(&url),
            Ok(Err(e)) => state.failed("La demande de connexion n'a pas pu être faite", &e),
            Err(_) => blocking_failed(&state),
        };
    };
    let first = |name: &str| p.attributes.get(name).and_then(|v| v.first()).cloned();
    let user = match (first("GARPersonPrenom"), first("GARPersonNom")) {
        (Some(g), Some(n)) => format!("{g} {n}"),
        _ => p.name_id.clone(),
    };
    let mut rows = String::new();
    for (name, values) in &p.attributes {
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(name),
            escape(&values.join(" ; "))
        ));
    }
    page(
        &state.name,
        &format!(
            "<p>Connecté(e) par l'ENT (SAML 2.0) en tant que <strong id=\"user\">{}</strong>.</p>\
             <p>Identifiant (NameID) : <code id=\"nameid\">{}</code></p>\
             <h2>Attributs reçus de l'ENT</h2><table>{rows}</table>\
             <p><a href=\"/logout\">Se déconnecter</a> (de ce service et de l'ENT)</p>",
            escape(&user),
            escape(&p.name_id),
        ),
    )
}

async fn metadata(state: Data<State>) -> HttpResponse {
    match state.sp.metadata() {
        Ok(xml) => HttpResponse::Ok()
            .content_type("application/samlmetadata+xml")
            .body(xml),
        Err(e) => state.failed("Métadonnées indisponibles", &e),
    }
}

/// The AssertionConsumerService (HTTP-POST).
async fn acs(form: web::Form<HashMap<String, String>>, state: Data<State>) -> HttpResponse {
    let form = form.into_inner();
    let Some(response) = form.get("SAMLResponse").cloned() else {
        return state.failed(
            "La connexion par l'ENT a échoué",
            &SamlError::Malformed("no SAMLResponse".into()),
        );
    };
    let s = state.clone();
    let checked =
        web::block(move || s.sp.accept_response(&response, OffsetDateTime::now_utc())).await;
    match checked {
        Ok(Ok(principal)) => {
            let id = new_session_id();
            tracing::info!("demo SAML service: login");
            state.sessions().insert(id.clone(), principal);
            let cookie = Cookie::build(COOKIE, id)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish();
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, local_path(form.get("RelayState"))))
                .cookie(cookie)
                .finish()
        }
        Ok(Err(e)) => state.failed("La connexion par l'ENT a échoué", &e),
        Err(_) => blocking_failed(&state),
    }
}

/// "Se déconnecter": the local session ends now, then a signed LogoutRequest goes to the
/// IdP, whose LogoutResponse comes back to `/saml/slo`.
async fn logout(req: HttpRequest, state: Data<State>) -> HttpResponse {
    let Some((id, p)) = state.current(&req) else {
        return page(
            &state.name,
            "<p id=\"logged-out\">Vous n'êtes pas connecté(e) à ce service.</p>\
             <p><a href=\"/\">Se connecter par l'ENT</a></p>",
        );
    };
    state.sessions().remove(&id);
    let s = state.clone();
    match web::block(move || s.sp.logout_request_url(&p, None, OffsetDateTime::now_utc())).await {
        Ok(Ok(url)) => redirect(&url),
        Ok(Err(e)) => state.failed("La déconnexion de l'ENT n'a pas pu être demandée", &e),
        Err(_) => blocking_failed(&state),
    }
}

/// The SingleLogoutService (HTTP-Redirect): the IdP's answer to our LogoutRequest, or the
/// IdP's own LogoutRequest (a logout started at the IdP or at another service).
async fn slo(req: HttpRequest, state: Data<State>) -> HttpResponse {
    let query = req.query_string().to_owned();
    let now = OffsetDateTime::now_utc();
    let is_response = query.split('&').any(|p| p.starts_with("SAMLResponse="));
    let s = state.clone();
    if is_response {
        return match web::block(move || s.sp.accept_logout_response(&query, now)).await {
            Ok(Ok(r)) if r.success => page(
                &state.name,
                "<p id=\"logged-out\">Vous êtes déconnecté(e) de ce service et de l'ENT.</p>\
                 <p><a href=\"/\">Se reconnecter</a></p>",
            ),
            Ok(Ok(r)) => page(
                &state.name,
                &format!(
                    "<p id=\"logged-out\">Vous êtes déconnecté(e) de ce service ; l'ENT a répondu : {}.</p>\
                     <p><a href=\"/\">Se reconnecter</a></p>",
                    escape(&r.status)
                ),
            ),
            Ok(Err(e)) => state.failed("La réponse de déconnexion est refusée", &e),
            Err(_) => blocking_failed(&state),
        };
    }
    let checked = web::block(move || s.sp.accept_logout_request(&query, now)).await;
    let request = match checked {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return state.failed("La demande de déconnexion est refusée", &e),
        Err(_) => return blocking_failed(&state),
    };
    let ended = {
        let mut sessions = state.sessions();
        let before = sessions.len();
        sessions.retain(|_, p| !request.matches(p));
        sessions.len() < before
    };
    if ended {
        tracing::info!("demo SAML service: session ended by the IdP's logout");
    }
    let s = state.clone();
    match web::block(move || s.sp.logout_response_url(&request, ended, now)).await {
        Ok(Ok(url)) => redirect(&url),
        Ok(Err(e)) => state.failed("La réponse de déconnexion n'a pas pu être faite", &e),
        Err(_) => blocking_failed(&state),
    }
}

/// Starts the demo SAML service on `bind` on a thread of its own. Returns the bound
/// address and a handle to stop it.
pub fn spawn(service: SamlDemoService, bind: &str) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let base = service.base_url.trim_end_matches('/').to_owned();
    let sp = ServiceProvider::new(
        SpConfig {
            entity_id: entity_id(&base),
            acs_url: format!("{base}/saml/acs"),
            slo_url: format!("{base}/saml/slo"),
            key: service.key,
            certificate: service.certificate,
            clock_skew: time::Duration::seconds(60),
        },
        service.idp,
    );
    let state = Data::new(State {
        name: service.name,
        sp,
        sessions: Mutex::new(HashMap::new()),
    });
    serve_on_thread("demo-saml-service", bind, move |cfg| {
        cfg.app_data(state.clone())
            // A SAMLResponse is base64 of up to 128 kB.
            .app_data(web::FormConfig::default().limit(256 * 1024))
            .route("/", web::get().to(home))
            .route("/logout", web::get().to(logout))
            .route("/saml/acs", web::post().to(acs))
            .route("/saml/slo", web::get().to(slo))
            .route("/saml/metadata", web::get().to(metadata));
    })
}
