//! Shared helpers for end-to-end tests.
//!
//! [`TestIdp`] runs the real IdP (the same `app::spawn` path as production, real HTTP on
//! 127.0.0.1:0) over a directory in a temporary folder, with a `ManualClock` the test moves
//! and an audit sink that keeps events in memory and also writes the real JSON-lines file.
//! [`Browser`] is a ureq agent with a cookie jar that does not follow redirects and returns
//! every status, so that tests see exactly what a browser would get.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod apache;
pub mod chromium;
pub mod fake_sp;
pub mod mellon;
pub mod php;
pub mod procs;
pub mod redis;
pub mod registry;
pub mod saml_sp;
pub mod shibsp;
pub mod slapd;
pub mod tls;
pub mod two_sps;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use idp::app::{self, Backends, RunningServer};
use idp::audit::{AuditEvent, AuditSink, JsonLinesAudit, MemoryAudit};
use idp::authn::PasswordHasher;
use idp::backends::directory::embedded::EmbeddedDirectory;
use idp::model::{
    AccountState, Attributes, Category, Credentials, EntryKey, Person, PersonKey, ReferenceEntry,
    ReferenceKind,
};
use idp::ports::{BackendError, Clock, Directory, DirectoryWriter, ManualClock, SystemClock};
use idp::settings::Settings;

/// The académie of the test fixtures.
pub const ACADEMIE: &str = "02";

/// Known passwords of the fixtures.
pub const LEA_PASSWORD: &str = "Cheval-Batterie-7";
pub const TEACHER_PASSWORD: &str = "Craie-Tableau-42";
pub const LOCKED_PASSWORD: &str = "Verrou-Ferme-3";
pub const LEFT_PASSWORD: &str = "Au-Revoir-2025";
pub const ACTIVATION_CODE: &str = "K7MPQ2XW9R";

/// Settings for tests: cheap Argon2, small throttle limits.
pub fn test_settings() -> Settings {
    let mut s = Settings::default();
    s.passwords.argon2_memory_kib = 1024;
    s.passwords.argon2_iterations = 1;
    s.passwords.argon2_lanes = 1;
    s.throttle.max_failures_per_account = 3;
    s.throttle.max_failures_per_address = 8;
    s.sessions.idle_timeout_secs = 30 * 60;
    s.sessions.absolute_timeout_secs = 8 * 3600;
    s.server.workers = 2;
    s
}

/// Sends every event to memory (for assertions) and to the real JSON-lines file.
struct TeeAudit(Arc<MemoryAudit>, JsonLinesAudit);

impl AuditSink for TeeAudit {
    fn record(&self, at: time::OffsetDateTime, event: AuditEvent) {
        self.1.record(at, event.clone());
        self.0.record(at, event);
    }
}

/// The test directory, which a test can make fail as if the backend were down.
struct FlakyDirectory {
    inner: Arc<EmbeddedDirectory>,
    down: AtomicBool,
}

impl FlakyDirectory {
    fn check(&self) -> Result<(), BackendError> {
        if self.down.load(Ordering::SeqCst) {
            Err(BackendError::Unavailable("test: directory down".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl Directory for FlakyDirectory {
    async fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError> {
        self.check()?;
        self.inner.person(key).await
    }
    async fn person_by_login(&self, login: &str) -> Result<Option<Person>, BackendError> {
        self.check()?;
        self.inner.person_by_login(login).await
    }
    async fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError> {
        self.check()?;
        self.inner.reference(key).await
    }
    async fn set_password(
        &self,
        key: &PersonKey,
        hash: String,
        at: time::OffsetDateTime,
    ) -> Result<(), BackendError> {
        self.check()?;
        self.inner.set_password(key, hash, at).await
    }
    async fn set_state(&self, key: &PersonKey, state: AccountState) -> Result<(), BackendError> {
        self.check()?;
        self.inner.set_state(key, state).await
    }
    async fn ping(&self) -> Result<(), BackendError> {
        self.check()?;
        self.inner.ping().await
    }
}

/// A raw GET (status, body): no redirect followed, no entity decoding, any status.
pub fn raw_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut res = agent.get(url).call().unwrap();
    (
        res.status().as_u16(),
        res.body_mut().read_to_string().unwrap(),
    )
}

/// The CAS service ticket in a redirect `location` (asserted to be an `ST-`).
pub fn ticket_in(location: &str) -> String {
    let (_, t) = location.split_once("ticket=").unwrap();
    assert!(t.starts_with("ST-"), "{location}");
    t.to_owned()
}

pub struct TestIdp {
    server: Option<RunningServer>,
    flaky: Option<Arc<FlakyDirectory>>,
    pub url: String,
    pub clock: Arc<ManualClock>,
    pub audit: Arc<MemoryAudit>,
    pub audit_path: PathBuf,
    pub directory: Arc<EmbeddedDirectory>,
    pub settings: Settings,
    hasher: PasswordHasher,
    _tmp: tempfile::TempDir,
}

impl TestIdp {
    /// An IdP with the standard fixtures (see [`TestIdp::add_fixtures`]).
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Same, with settings adjusted by `f` first.
    pub fn start_with(f: impl FnOnce(&mut Settings)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut settings = test_settings();
        settings.directory.path = tmp.path().join("directory.redb");
        settings.audit.path = tmp.path().join("audit.log");
        f(&mut settings);
        let directory = Arc::new(EmbeddedDirectory::open(&settings.directory.path).unwrap());
        let flaky = Arc::new(FlakyDirectory {
            inner: directory.clone(),
            down: AtomicBool::new(false),
        });
        let mut idp = Self::serve_dyn(tmp, settings, flaky.clone(), directory);
        idp.flaky = Some(flaky);
        idp.add_fixtures();
        idp
    }

    /// An IdP over an already filled directory (the demo test).
    pub fn serve(
        tmp: tempfile::TempDir,
        settings: Settings,
        directory: Arc<EmbeddedDirectory>,
    ) -> Self {
        Self::serve_dyn(tmp, settings, directory.clone(), directory)
    }

    fn serve_dyn(
        tmp: tempfile::TempDir,
        settings: Settings,
        reader: Arc<dyn idp::ports::Directory>,
        directory: Arc<EmbeddedDirectory>,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let audit = Arc::new(MemoryAudit::default());
        let audit_path = settings.audit.path.clone();
        let tee = TeeAudit(audit.clone(), JsonLinesAudit::open(&audit_path).unwrap());
        let backends = Backends::with(reader, Arc::new(tee), clock.clone())
            .with_stores(&settings.store)
            .unwrap();
        let server = app::spawn(&settings, backends, "127.0.0.1:0").unwrap();
        let hasher = PasswordHasher::new(&settings.passwords).unwrap();
        Self {
            url: server.url(),
            server: Some(server),
            flaky: None,
            clock,
            audit,
            audit_path,
            directory,
            settings,
            hasher,
            _tmp: tmp,
        }
    }

    /// Makes the directory fail (or work again), as if its backend were down.
    pub fn set_directory_down(&self, down: bool) {
        if let Some(f) = &self.flaky {
            f.down.store(down, Ordering::SeqCst);
        }
    }

    /// Full URL of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.url)
    }

    pub fn hash(&self, password: &str) -> String {
        self.hasher.hash(password).unwrap()
    }

    pub fn events(&self) -> Vec<AuditEvent> {
        self.audit.events()
    }

    /// Moves the IdP's clock forward.
    pub fn advance_secs(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }

    pub fn put_person(&self, person: &Person) {
        let mut txn = self.directory.begin().unwrap();
        txn.put_person(person).unwrap();
        txn.commit().unwrap();
    }

    /// Locks the account of person `jointure` (of the test académie) in the directory, as
    /// an administrator would while the person has a session.
    pub fn lock(&self, jointure: &str) {
        let mut txn = self.directory.begin().unwrap();
        let key = PersonKey::new(ACADEMIE, jointure);
        let mut person = txn.person(&key).unwrap().expect("no such person");
        person.state = AccountState::Locked {
            reason: "test".into(),
        };
        txn.put_person(&person).unwrap();
        txn.commit().unwrap();
    }

    pub fn put_structure(&self, id: &str, uai: &str, name: &str) {
        let entry = ReferenceEntry {
            key: EntryKey::new(ReferenceKind::Structure, ACADEMIE, id),
            attributes: attrs(&[
                ("ENTStructureUAI", &[uai]),
                ("ENTStructureNomCourant", &[name]),
            ]),
        };
        let mut txn = self.directory.begin().unwrap();
        txn.put_reference(&entry).unwrap();
        txn.commit().unwrap();
    }

    /// A person of the test académie named (given name, surname); `password` set as an
    /// Argon2id hash when given.
    pub fn person(
        &self,
        category: Category,
        jointure: &str,
        login: &str,
        (given, surname): (&str, &str),
        password: Option<&str>,
        extra: &[(&str, &[&str])],
    ) -> Person {
        let (given, surname) = ([given], [surname]);
        let mut list: Vec<(&str, &[&str])> = vec![("givenName", &given), ("sn", &surname)];
        list.extend_from_slice(extra);
        let today = self.clock.today();
        Person {
            key: PersonKey::new(ACADEMIE, jointure),
            category,
            login: login.to_owned(),
            gar_id: format!("gar-{jointure}"),
            state: AccountState::Active,
            attributes: attrs(&list),
            credentials: Credentials {
                password_hash: password.map(|p| self.hash(p)),
                activation_code: None,
                password_changed_at: None,
            },
            created_on: today,
            updated_on: today,
        }
    }

    /// The standard school: a lycée and a collège, Léa (pupil, 2NDE A, password), a
    /// teacher in both schools, a locked and a left account, and Hugo who only has an
    /// activation code.
    pub fn add_fixtures(&self) {
        self.put_structure("9001", "0139999Y", "LYC$LYCEE MARIE CURIE$MARSEILLE");
        self.put_structure("9002", "0130998P", "CLG$COLLEGE JEAN JAURES$AUBAGNE");
        self.put_person(&self.person(
            Category::Eleve,
            "5001",
            "lea.dupont",
            ("Léa", "DUPONT"),
            Some(LEA_PASSWORD),
            &[
                ("ENTPersonStructRattach", &["9001"]),
                ("ENTEleveClasses", &["9001$2NDE A"]),
            ],
        ));
        self.put_person(&self.person(
            Category::PersEducNat,
            "3002",
            "nathalie.petit",
            ("Nathalie", "PETIT"),
            Some(TEACHER_PASSWORD),
            &[
                ("ENTPersonStructRattach", &["9001"]),
                (
                    "ENTPersonFonctions",
                    &[
                        "9001$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES",
                        "9002$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES",
                    ],
                ),
                (
                    "ENTAuxEnsClassesMatieres",
                    &["9001$2NDE B$030201", "9002$3E1$030201"],
                ),
            ],
        ));
        let mut locked = self.person(
            Category::Eleve,
            "5003",
            "paul.locked",
            ("Paul", "VERROU"),
            Some(LOCKED_PASSWORD),
            &[("ENTPersonStructRattach", &["9001"])],
        );
        locked.state = AccountState::Locked {
            reason: "test".into(),
        };
        self.put_person(&locked);
        let mut left = self.person(
            Category::Eleve,
            "5004",
            "jean.parti",
            ("Jean", "PARTI"),
            Some(LEFT_PASSWORD),
            &[("ENTPersonStructRattach", &["9001"])],
        );
        left.state = AccountState::Left {
            since: self.clock.today(),
        };
        self.put_person(&left);
        let mut hugo = self.person(
            Category::Eleve,
            "5002",
            "hugo.martin",
            ("Hugo", "MARTIN"),
            None,
            &[
                ("ENTPersonStructRattach", &["9001"]),
                ("ENTEleveClasses", &["9001$2NDE B"]),
            ],
        );
        hugo.credentials.activation_code = Some(ACTIVATION_CODE.into());
        self.put_person(&hugo);
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

fn attrs(list: &[(&str, &[&str])]) -> Attributes {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// One response, read fully.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body with HTML entities decoded.
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `Set-Cookie` header for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }
}

/// A browser: cookie jar, no automatic redirects, every status returned.
pub struct Browser {
    agent: ureq::Agent,
    base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            base: base.to_owned(),
        }
    }

    fn page(mut res: ureq::http::Response<ureq::Body>) -> Page {
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        // Entities decoded so that tests can look for plain text ("n'est plus actif").
        let body = res
            .body_mut()
            .read_to_string()
            .unwrap_or_default()
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#38;", "&")
            .replace("&amp;", "&");
        Page {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Page {
        Self::page(
            self.agent
                .get(format!("{}{path}", self.base))
                .call()
                .unwrap(),
        )
    }

    /// GET of an absolute URL (another server, e.g. a CAS client), with the same cookie jar.
    pub fn get_url(&self, url: &str) -> Page {
        Self::page(self.agent.get(url).call().unwrap())
    }

    pub fn get_with(&self, path: &str, header: (&str, &str)) -> Page {
        Self::page(
            self.agent
                .get(format!("{}{path}", self.base))
                .header(header.0, header.1)
                .call()
                .unwrap(),
        )
    }

    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(
            self.agent
                .post(format!("{}{path}", self.base))
                .send_form(fields.iter().copied())
                .unwrap(),
        )
    }

    /// A form POST with one extra request header.
    pub fn post_form_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        header: (&str, &str),
    ) -> Page {
        Self::page(
            self.agent
                .post(format!("{}{path}", self.base))
                .header(header.0, header.1)
                .send_form(fields.iter().copied())
                .unwrap(),
        )
    }

    /// A POST with a raw body and content type.
    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Page {
        Self::page(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .send(body)
                .unwrap(),
        )
    }

    /// The value of cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let jar = self.agent.cookie_jar_lock();
        let value = jar
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned());
        jar.release();
        value
    }

    /// Puts a cookie in the jar as if the server had set it (fixation attempts).
    pub fn set_cookie(&self, name: &str, value: &str) {
        let uri: ureq::http::Uri = self.base.parse().unwrap();
        let mut jar = self.agent.cookie_jar_lock();
        let c = ureq::Cookie::parse(format!("{name}={value}; Path=/"), &uri).unwrap();
        jar.insert(c, &uri).unwrap();
        jar.release();
    }

    /// Empties the jar.
    pub fn clear_cookies(&self) {
        let mut jar = self.agent.cookie_jar_lock();
        jar.clear();
        jar.release();
    }

    /// Shows the login page, then posts `login`/`password` with its CSRF token.
    pub fn login(&self, login: &str, password: &str) -> Page {
        let form = self.get("/login");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post_form(
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
    }

    /// Logs in and expects to land on the welcome page.
    pub fn login_ok(&self, login: &str, password: &str) -> Page {
        let res = self.login(login, password);
        assert_eq!(res.status, 303, "login refused: {}", res.body);
        assert_eq!(res.location(), Some("/"));
        let home = self.get("/");
        assert_eq!(home.status, 200);
        home
    }

    /// Whether the welcome page shows someone logged in.
    pub fn logged_in(&self) -> bool {
        self.get("/").body.contains("action=\"/logout\"")
    }
}
