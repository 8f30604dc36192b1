//! What the load drivers `bench_cas` and `bench_saml` share (included by each with
//! `#[path = "bench_common/mod.rs"] mod common;`; a subfolder of `examples/` is not an
//! example of its own): the settings and start of the real IdP on the loopback with one
//! pupil in its directory, the login through the form, a minimal HTTP/1.1 keep-alive client,
//! and percentiles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use idp::app::{self, Backends, RunningServer};
use idp::audit::JsonLinesAudit;
use idp::authn::PasswordHasher;
use idp::backends::directory::embedded::EmbeddedDirectory;
use idp::model::{AccountState, Category, Credentials, Person, PersonKey};
use idp::ports::{Directory, DirectoryWriter, SystemClock};
use idp::settings::Settings;

pub const LOGIN: &str = "camille.durand";
pub const PASSWORD: &str = "Bench-Mark-2026";
/// Upper bound of one phase of one run.
pub const MAX_PHASE: Duration = Duration::from_secs(60);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

fn person(hash: String) -> Person {
    let attrs = [
        ("sn", "DURAND"),
        ("givenName", "Camille"),
        ("ENTPersonDateNaissance", "03/04/2010"),
        ("ENTPersonCodePostal", "35000"),
        ("ENTPersonStructRattach", "9001"),
        ("ENTEleveClasses", "9001$2NDE A"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
    .collect();
    let today = time::OffsetDateTime::now_utc().date();
    Person {
        key: PersonKey::new("02", "5101"),
        category: Category::Eleve,
        login: LOGIN.into(),
        gar_id: "gar-5101".into(),
        state: AccountState::Active,
        attributes: attrs,
        credentials: Credentials {
            password_hash: Some(hash),
            activation_code: None,
            password_changed_at: None,
        },
        created_on: today,
        updated_on: today,
    }
}

/// Logs in once through the form; returns the `Cookie` header value of the session.
fn login(base: &str) -> anyhow::Result<String> {
    let a = agent();
    let mut form = a.get(format!("{base}/login")).call()?;
    let body = form.body_mut().read_to_string()?;
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).ok_or(anyhow!("no csrf"))? + marker.len();
    let end = start + body[start..].find('"').ok_or(anyhow!("no csrf end"))?;
    let res = a.post(format!("{base}/login")).send_form([
        ("csrf", &body[start..end]),
        ("login", LOGIN),
        ("password", PASSWORD),
    ])?;
    if res.status().as_u16() != 303 {
        bail!("login failed: {}", res.status());
    }
    let jar = a.cookie_jar_lock();
    let cookie = jar
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ");
    jar.release();
    Ok(cookie)
}

/// The demo settings in `dir` for a server with `workers` workers, with cheap password
/// hashing (the federation is not prepared yet).
pub fn settings(dir: &Path, workers: usize) -> Settings {
    let mut settings = idp::cli::demo::settings_for(Settings::default(), dir, "127.0.0.1:0");
    settings.server.workers = workers;
    settings.passwords.argon2_memory_kib = 1024;
    settings.passwords.argon2_iterations = 1;
    settings.passwords.argon2_lanes = 1;
    settings
}

/// Puts the pupil in the directory and starts the real IdP (`app::spawn`) on the loopback:
/// the server and its address.
pub fn start_server(settings: &Settings) -> anyhow::Result<(RunningServer, SocketAddr)> {
    let directory = Arc::new(EmbeddedDirectory::open(&settings.directory.path)?);
    let hash = PasswordHasher::new(&settings.passwords)?.hash(PASSWORD)?;
    let mut txn = directory.begin()?;
    txn.put_person(&person(hash))?;
    txn.commit()?;
    let audit = Arc::new(JsonLinesAudit::open(&settings.audit.path)?);
    let reader: Arc<dyn Directory> = directory;
    // `IDP_STORE__BACKEND=redis IDP_STORE__REDIS_URL=...` measures with the Redis stores.
    let store_env = std::env::vars().filter(|(k, _)| k.starts_with("IDP_STORE__"));
    let store = Settings::load(None, store_env)?.store;
    let backends = Backends::with(reader, audit, Arc::new(SystemClock)).with_stores(&store)?;
    let server = app::spawn(settings, backends, "127.0.0.1:0")?;
    let addr = server.addr;
    Ok((server, addr))
}

/// Logs the pupil in once per client thread: one session cookie per thread.
pub fn logins(addr: SocketAddr, threads: usize) -> anyhow::Result<Vec<String>> {
    let base = format!("http://{addr}");
    (0..threads).map(|_| login(&base)).collect()
}

/// [`start_server`], then [`logins`]: the server, its address, one session cookie per
/// thread.
#[allow(dead_code)] // used by bench_cas only
pub fn start(
    settings: &Settings,
    threads: usize,
) -> anyhow::Result<(RunningServer, SocketAddr, Vec<String>)> {
    let (server, addr) = start_server(settings)?;
    let cookies = logins(addr, threads)?;
    Ok((server, addr, cookies))
}

/// One keep-alive connection: GET requests with a cookie, answers read fully.
pub struct Conn {
    reader: BufReader<TcpStream>,
    host: String,
    cookie: String,
}

/// An answer: status, `Location` header, body.
pub struct Answer {
    pub status: u16,
    #[allow(dead_code)] // read by bench_cas only
    pub location: Option<String>,
    pub body: String,
}

impl Conn {
    pub fn open(addr: SocketAddr, cookie: String) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream),
            host: addr.to_string(),
            cookie,
        })
    }

    pub fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n",
            self.host, self.cookie
        );
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(anyhow!("bad status line: {line:?}"))?;
        let mut length = 0usize;
        let mut location = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse()?;
                } else if k.eq_ignore_ascii_case("location") {
                    location = Some(v.trim().to_owned());
                }
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok(Answer {
            status,
            location,
            body: String::from_utf8(body)?,
        })
    }
}

/// The `q` quantile of the sorted latencies `lat` (not empty).
pub fn pick(lat: &[Duration], q: f64) -> Duration {
    lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)]
}
