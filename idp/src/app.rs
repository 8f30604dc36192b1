//! The composition root: the only place that names concrete backends. It turns `Settings`
//! into backends (embedded or LDAP directory, session, counter and ticket stores in memory or in
//! Redis per `[store]`, JSON-lines audit, the system clock), builds the core services over them (and the federation's
//! registries and the IdP's SAML identity), and runs the HTTP server.
//!
//! Tests and the demo use the same path with some backends swapped (`Backends::with`,
//! `spawn`), so what they exercise is what production runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::web::Data;
use actix_web::HttpServer;

use crate::audit::{AuditSink, JsonLinesAudit};
use crate::authn::{Authenticator, AuthnDeps, AuthnError};
use crate::backends::directory::embedded::EmbeddedDirectory;
use crate::backends::directory::ldap::{LdapConfig, LdapDirectory};
use crate::backends::store::memory::{MemoryCounterStore, MemorySessionStore, MemoryTicketStore};
use crate::backends::store::redis::{RedisConfig, RedisStores};
use crate::federation::identity::IdentityError;
use crate::federation::published::Publisher;
use crate::federation::{Federation, FederationError, IdpIdentity};
use crate::ports::{
    BackendError, Clock, CounterStore, Directory, DirectoryScan, DirectoryWriter, SessionStore,
    SystemClock, TicketStore,
};
use crate::protocols::cas::{Cas, CasDeps, HttpSetupError};
use crate::protocols::saml::nameid::NameIdSecret;
use crate::protocols::saml::{Saml, SamlDeps};
use crate::right_of_access::RightOfAccess;
use crate::session::SessionService;
use crate::settings::{DirectorySettings, LogSettings, Settings, StoreSettings};
use crate::web::{self, AppState};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the directory: {0}")]
    Directory(#[source] BackendError),
    #[error("cannot open the session store: {0}")]
    Store(#[source] BackendError),
    #[error("cannot open the audit log {path}: {source}")]
    Audit {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set up authentication: {0}")]
    Authn(#[from] AuthnError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Server(std::io::Error),
    #[error("server thread failed: {0}")]
    Thread(String),
    #[error("federation: {0}")]
    Federation(#[from] FederationError),
    #[error("{0}")]
    Identity(#[from] IdentityError),
    #[error("{0}")]
    Cas(#[from] HttpSetupError),
    #[error("{0}")]
    NameIdSecret(#[from] crate::protocols::saml::nameid::SecretError),
}

/// The directory of the settings, as the server's read port and the feeds' write port
/// (one database underneath).
pub struct DirectoryHandles {
    pub reader: Arc<dyn Directory>,
    pub writer: Arc<dyn DirectoryWriter>,
    /// Whole-directory walks (exports).
    pub scan: Arc<dyn DirectoryScan>,
}

/// Opens the directory `[directory] backend` names: the embedded database at
/// `directory.path`, or the LDAP server (reached now: the server does not start without its
/// directory). Either one's writer takes the AAF import.
pub fn open_directory(settings: &Settings) -> Result<DirectoryHandles, AppError> {
    if settings.directory.backend == "ldap" {
        let dir = Arc::new(open_ldap(&settings.directory)?);
        tracing::info!(url = %settings.directory.ldap_url, base = %settings.directory.ldap_base_dn, "directory in LDAP");
        return Ok(DirectoryHandles {
            reader: dir.clone(),
            scan: dir.clone(),
            writer: dir,
        });
    }
    let dir =
        Arc::new(EmbeddedDirectory::open(&settings.directory.path).map_err(AppError::Directory)?);
    Ok(DirectoryHandles {
        reader: dir.clone(),
        scan: dir.clone(),
        writer: dir,
    })
}

/// The LDAP directory of `[directory]`, connected.
pub fn open_ldap(settings: &DirectorySettings) -> Result<LdapDirectory, AppError> {
    LdapDirectory::connect(LdapConfig {
        url: settings.ldap_url.clone(),
        bind_dn: settings.ldap_bind_dn.clone(),
        bind_password: settings.ldap_bind_password.expose().to_owned(),
        base_dn: settings.ldap_base_dn.trim().to_owned(),
        connect_timeout: std::time::Duration::from_millis(settings.ldap_connect_timeout_ms),
        op_timeout: std::time::Duration::from_millis(settings.ldap_timeout_ms),
        connections: settings.ldap_connections,
        starttls: settings.ldap_starttls,
    })
    .map_err(AppError::Directory)
}

/// Every port the server needs.
#[derive(Clone)]
pub struct Backends {
    pub directory: Arc<dyn Directory>,
    pub sessions: Arc<dyn SessionStore>,
    pub counters: Arc<dyn CounterStore>,
    pub tickets: Arc<dyn TicketStore>,
    pub audit: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
}

impl Backends {
    /// The production choice for these settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, AppError> {
        let directory = open_directory(settings)?.reader;
        Self::with_directory(settings, directory)
    }

    /// The production choice, over a directory already open (the demo imports into it
    /// first).
    pub fn with_directory(
        settings: &Settings,
        directory: Arc<dyn Directory>,
    ) -> Result<Self, AppError> {
        let audit =
            JsonLinesAudit::open(&settings.audit.path).map_err(|source| AppError::Audit {
                path: settings.audit.path.clone(),
                source,
            })?;
        Self::with(directory, Arc::new(audit), Arc::new(SystemClock)).with_stores(&settings.store)
    }

    /// In-memory session, counter and ticket stores around the given directory, audit and clock
    /// (tests inject a `ManualClock` and a `MemoryAudit`).
    pub fn with(
        directory: Arc<dyn Directory>,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            directory,
            sessions: Arc::new(MemorySessionStore::default()),
            counters: Arc::new(MemoryCounterStore::default()),
            tickets: Arc::new(MemoryTicketStore::default()),
            audit,
            clock,
        }
    }

    /// The session, counter and ticket stores `[store]` chooses: unchanged for `memory`, one
    /// shared Redis connection for `redis` (connected now: the server does not start without
    /// its store).
    pub fn with_stores(mut self, store: &StoreSettings) -> Result<Self, AppError> {
        if store.backend == "redis" {
            let redis = RedisStores::connect(&RedisConfig {
                url: store.redis_url.clone(),
                key_prefix: store.key_prefix.clone(),
                connect_timeout: std::time::Duration::from_millis(store.connect_timeout_ms),
                response_timeout: std::time::Duration::from_millis(store.response_timeout_ms),
            })
            .map_err(AppError::Store)?;
            self.sessions = Arc::new(redis.sessions());
            self.counters = Arc::new(redis.counters());
            self.tickets = Arc::new(redis.tickets());
            tracing::info!(prefix = %store.key_prefix, "sessions, tickets and counters in redis");
        }
        Ok(self)
    }
}

/// The request handlers' shared state.
pub fn state(settings: &Settings, backends: Backends) -> Result<Data<AppState>, AppError> {
    if settings.sessions.same_site == "none" && !settings.https() {
        tracing::warn!(
            "sessions.same_site = none over plain HTTP: browsers will refuse the session cookie"
        );
    }
    let saml_counters = backends.counters.clone();
    let authn = Authenticator::new(
        settings,
        AuthnDeps {
            directory: backends.directory.clone(),
            counters: backends.counters,
            tickets: backends.tickets.clone(),
            audit: backends.audit.clone(),
            clock: backends.clock.clone(),
        },
    )?;
    // The registries are loaded (and checked) before the server answers, and followed by a
    // thread that lives as long as the state.
    let federation = Federation::start(
        &settings.federation,
        backends.audit.clone(),
        backends.clock.clone(),
    )?;
    federation
        .spawn_reloader()
        .map_err(|e| AppError::Thread(e.to_string()))?;
    let identity = Arc::new(IdpIdentity::from_settings(settings)?);
    let publisher = Arc::new(Publisher::new(identity.clone(), federation.clone()));
    let secret_path = settings.data_dir().join("saml").join("nameid-secret");
    let secret = NameIdSecret::load_or_create(&secret_path)?;
    let saml = Arc::new(
        Saml::new(
            &settings.saml,
            SamlDeps {
                federation: federation.clone(),
                identity,
                tickets: backends.tickets.clone(),
                counters: saml_counters,
                directory: backends.directory.clone(),
                audit: backends.audit.clone(),
                clock: backends.clock.clone(),
                secret,
            },
        )
        .with_session_lifetime(settings.sessions.absolute_timeout_secs),
    );
    let cas = Arc::new(Cas::new(
        &settings.cas,
        CasDeps {
            tickets: backends.tickets,
            federation: federation.clone(),
            directory: backends.directory.clone(),
            audit: backends.audit.clone(),
            clock: backends.clock.clone(),
            issuer: settings.server.public_url.clone(),
        },
    )?);
    let access = RightOfAccess::new(
        backends.directory.clone(),
        backends.audit.clone(),
        backends.clock.clone(),
        settings.audit.path.clone(),
    );
    let sessions = SessionService::new(
        backends.sessions,
        backends.clock,
        backends.audit,
        &settings.sessions,
    );
    Ok(Data::new(AppState {
        settings: Arc::new(settings.clone()),
        authn,
        sessions,
        access,
        directory: backends.directory,
        federation,
        publisher,
        cas,
        saml,
    }))
}

/// Sets up the application log once per process: text or JSON per `log.format`, filtered
/// by `RUST_LOG` when set, else by `log.level`. Later calls do nothing.
pub fn init_tracing(log: &LogSettings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = if log.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Err only means a subscriber is already installed (tests, demo after serve).
    let _ = result;
}

fn workers(settings: &Settings) -> usize {
    match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
}

/// Runs the IdP on `settings.server.bind` until Ctrl-C / SIGTERM (graceful stop).
/// `on_ready` is called with the bound addresses before serving.
pub fn run(
    settings: &Settings,
    backends: Backends,
    on_ready: impl FnOnce(&[SocketAddr]),
) -> Result<(), AppError> {
    let state = state(settings, backends)?;
    let bind = settings.server.bind.clone();
    let n = workers(settings);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || web::app(state.clone()))
            .workers(n)
            .shutdown_timeout(10)
            .bind(&bind)
            .map_err(|source| AppError::Bind {
                bind: bind.clone(),
                source,
            })?;
        let addrs = server.addrs();
        for a in &addrs {
            tracing::info!(address = %a, workers = n, "listening");
        }
        on_ready(&addrs);
        server.run().await.map_err(AppError::Server)
    })
}

/// A server running on its own thread (tests, embedding). Stops when dropped.
pub struct RunningServer {
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drops connections, and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // `stop` sends its command right away; the returned future only waits for it.
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("server thread panicked");
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the IdP on `bind` (e.g. `127.0.0.1:0`) in a background thread with the given
/// backends, and returns once it listens. Signals are left to the caller.
pub fn spawn(
    settings: &Settings,
    backends: Backends,
    bind: &str,
) -> Result<RunningServer, AppError> {
    let state = state(settings, backends)?;
    let bind = bind.to_owned();
    let n = settings.server.workers.max(1);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("idp-server".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = match HttpServer::new(move || web::app(state.clone()))
                    .workers(n)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .bind(&bind)
                {
                    Ok(s) => s,
                    Err(source) => {
                        let _ = tx.send(Err(AppError::Bind { bind, source }));
                        return;
                    }
                };
                let addr = server.addrs().first().copied();
                let running = server.run();
                let _ = tx.send(match addr {
                    Some(a) => Ok((a, running.handle())),
                    None => Err(AppError::Thread("no address bound".into())),
                });
                if let Err(e) = running.await {
                    tracing::error!(error = %e, "server stopped with an error");
                }
            });
        })
        .map_err(|e| AppError::Thread(e.to_string()))?;
    let (addr, handle) = rx.recv().map_err(|e| AppError::Thread(e.to_string()))??;
    Ok(RunningServer {
        addr,
        handle,
        thread: Some(thread),
    })
}
