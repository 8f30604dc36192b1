//! The demo federation's own service: "Vie scolaire (démo)", a small web application that
//! logs people in through the IdP over CAS 3, like Pronote does, and shows the user and the
//! attributes the registry released to it. It also honours the IdP's back-channel logout
//! (`logoutRequest` POSTed to the service URL), so logging out at the IdP logs out here.
//!
//! It runs on its own thread and actix system beside the IdP (`spawn`). The page helpers and
//! that thread are shared with the SAML demo service (`demo_saml`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use rand::RngCore;

use crate::cas::{CasClient, CasPrincipal};

const COOKIE: &str = "demo_service";

/// Where the demo service lives and which CAS server it trusts.
#[derive(Debug, Clone)]
pub struct DemoService {
    pub name: String,
    /// The service URL registered in the demo trust domain (ends with `/`).
    pub public_url: String,
    /// The IdP's CAS base URL.
    pub cas_base: String,
}

struct State {
    service: DemoService,
    client: CasClient,
    /// Local session id → who logged in, and the ticket that opened it.
    sessions: Mutex<HashMap<String, (CasPrincipal, String)>>,
}

impl State {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, (CasPrincipal, String)>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(format!(
            "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}\
             th{{text-align:left;padding-right:1rem}}</style></head><body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

pub(crate) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

pub(crate) fn new_session_id() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn home(req: HttpRequest, state: Data<State>) -> HttpResponse {
    let svc = &state.service;
    if let Some(c) = req.cookie(COOKIE) {
        if let Some((p, _)) = state.sessions().get(c.value()).cloned() {
            let mut rows = String::new();
            for (name, values) in &p.attributes {
                rows.push_str(&format!(
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape(name),
                    escape(&values.join(" ; "))
                ));
            }
            return page(
                &svc.name,
                &format!(
                    "<p>Connecté(e) par l'ENT en tant que <strong id=\"user\">{}</strong>.</p>\
                     <h2>Attributs reçus de l'ENT</h2><table>{rows}</table>\
                     <p><a href=\"logout\">Se déconnecter</a></p>",
                    escape(&p.user)
                ),
            );
        }
    }
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let Some(ticket) = query.get("ticket").cloned() else {
        return redirect(&state.client.login_url(&svc.public_url));
    };
    let client = state.client.clone();
    let service_url = svc.public_url.clone();
    let t = ticket.clone();
    let validated = web::block(move || client.validate(&service_url, &t)).await;
    match validated {
        Ok(Ok(principal)) => {
            let id = new_session_id();
            tracing::info!(user = %principal.user, "demo service: CAS login");
            state.sessions().insert(id.clone(), (principal, ticket));
            let cookie = Cookie::build(COOKIE, id)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish();
            HttpResponse::Found()
                .insert_header((header::LOCATION, svc.public_url.clone()))
                .cookie(cookie)
                .finish()
        }
        Ok(Err(e)) => page(
            &svc.name,
            &format!(
                "<p>La connexion par l'ENT a échoué : {}</p><p><a href=\"./\">Réessayer</a></p>",
                escape(&e.to_string())
            ),
        ),
        Err(e) => page(
            &svc.name,
            &format!("<p>Erreur : {}</p>", escape(&e.to_string())),
        ),
    }
}

async fn logout(req: HttpRequest, state: Data<State>) -> HttpResponse {
    if let Some(c) = req.cookie(COOKIE) {
        state.sessions().remove(c.value());
    }
    redirect(&state.client.logout_url(&state.service.public_url))
}

/// The IdP's back-channel logout: a form field `logoutRequest` whose `SessionIndex` is the
/// service ticket that opened the local session.
async fn back_channel(
    form: web::Form<HashMap<String, String>>,
    state: Data<State>,
) -> HttpResponse {
    let Some(request) = form.get("logoutRequest") else {
        return HttpResponse::BadRequest().finish();
    };
    let ticket = request
        .split("<samlp:SessionIndex>")
        .nth(1)
        .and_then(|rest| rest.split("</samlp:SessionIndex>").next())
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !ticket.is_empty() {
        let before = state.sessions().len();
        state.sessions().retain(|_, (_, t)| *t != ticket);
        if state.sessions().len() < before {
            tracing::info!("demo service: session ended by the IdP's logout");
        }
    }
    HttpResponse::Ok().finish()
}

/// Starts the demo service on `bind` on a thread of its own. Returns the bound address and
/// a handle to stop it.
pub fn spawn(service: DemoService, bind: &str) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let state = Data::new(State {
        client: CasClient::new(&service.cas_base),
        service,
        sessions: Mutex::new(HashMap::new()),
    });
    serve_on_thread("demo-service", bind, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(web::FormConfig::default().limit(16 * 1024))
            .route("/", web::get().to(home))
            .route("/", web::post().to(back_channel))
            .route("/logout", web::get().to(logout));
    })
}

/// Runs an actix server with the routes of `configure` on `bind`, on a thread of its own
/// with one worker. Returns the bound address and a handle to stop it.
pub(crate) fn serve_on_thread<F>(
    name: &str,
    bind: &str,
    configure: F,
) -> std::io::Result<(SocketAddr, ServerHandle)>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let bind = bind.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    // actix servers are not Send: build it on the thread that runs it.
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || App::new().configure(configure.clone()))
                    .workers(1)
                    .disable_signals()
                    .bind(&bind);
                let server = match server {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let addr = server.addrs().first().copied();
                let running = server.run();
                let _ = tx.send(
                    addr.map(|a| (a, running.handle()))
                        .ok_or_else(|| std::io::Error::other("no address bound")),
                );
                let _ = running.await;
            })
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the demo service did not start"))?
}
