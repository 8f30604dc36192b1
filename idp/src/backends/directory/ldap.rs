//! The OpenLDAP directory: people and reference entries read from an ENT LDAP directory
//! (schema and layout in `deploy/ldap/`), and the IdP's own account attributes (password
//! hash, activation code, state) written back to it.
//!
//! People are found by search under `ou=people,<base>` (by `ENTIdpPersonKey` or
//! `ENTPersonLogin`, values escaped), never by building their DN, so the provisioning may
//! lay the subtree out as it likes. Reference entries live under `ou=structures`,
//! `ou=subjects` and `ou=mefs`.
//!
//! A few multiplexed connections (ldap3's `Ldap` handle) are used in turn, each bound with
//! the configured DN; a connection that fails is dropped and made again on next use, so the
//! IdP recovers by itself when the server comes back. Like the Redis stores, every
//! operation runs on a small runtime the directory owns: ldap3 drives each connection in a
//! task of the runtime it was opened on, and actix's per-worker runtimes may stop first.
//!
//! Every LDAP failure is `Unavailable` (the web layer shows the "unavailable" page); an
//! entry the IdP cannot decode is `Corrupt`. The AAF import can write into LDAP too
//! (`import.rs`).

mod entry;
mod import;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::adapters::PagedResults;
use ldap3::{dn_escape, ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod};
use ldap3::{Scope, SearchEntry};
use time::OffsetDateTime;

use crate::model::{AccountState, EntryKey, Person, PersonKey, ReferenceEntry, ReferenceKind};
use crate::ports::{BackendError, Directory, DirectoryScan, DirectoryWriter, ImportTxn};

use entry::{decode_person, person_attributes, reference_attributes};

/// Entries per page of a whole-directory walk (slapd's default size limit is 500).
const PAGE_SIZE: i32 = 400;

/// Where and how to reach the directory.
#[derive(Clone)]
pub struct LdapConfig {
    /// `ldap://host:389`, `ldaps://host:636` or `ldapi://%2Frun%2Fslapd%2Fldapi`.
    pub url: String,
    /// Empty: anonymous (only sensible over ldapi:// with peer-credential ACLs).
    pub bind_dn: String,
    pub bind_password: String,
    /// `dc=ent,dc=example`; people under `ou=people,<base>`.
    pub base_dn: String,
    /// Bound on each connection attempt (TCP, TLS, bind).
    pub connect_timeout: Duration,
    /// Bound on each operation (a reconnection included).
    pub op_timeout: Duration,
    /// Multiplexed connections used in turn.
    pub connections: usize,
    /// StartTLS on an `ldap://` URL.
    pub starttls: bool,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"<hidden>")
            .field("base_dn", &self.base_dn)
            .field("connect_timeout", &self.connect_timeout)
            .field("op_timeout", &self.op_timeout)
            .field("connections", &self.connections)
            .field("starttls", &self.starttls)
            .finish()
    }
}

#[derive(Clone)]
pub struct LdapDirectory {
    pool: Arc<Pool>,
    runtime: Arc<OwnRuntime>,
}

/// The connections and what they need; shared with the tasks on the runtime.
struct Pool {
    config: LdapConfig,
    slots: Vec<tokio::sync::Mutex<Option<Ldap>>>,
    next: AtomicUsize,
}

/// The directory's runtime, shut down without waiting when dropped (possibly in async code).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Why an operation failed: the connection (dropped, made again next time) or the answer.
enum Fail {
    Conn(LdapError),
    Backend(BackendError),
}

impl From<LdapError> for Fail {
    fn from(e: LdapError) -> Self {
        match e {
            // The server answered: the connection is fine.
            LdapError::LdapResult { result } => {
                let hint = match result.rc {
                    4 => ": give the IdP's account a `limits` line (deploy/ldap/README.md)",
                    50 => ": see the ACLs of deploy/ldap/README.md",
                    _ => "",
                };
                Fail::Backend(BackendError::Unavailable(format!(
                    "{}{hint}",
                    LdapError::LdapResult { result }
                )))
            }
            e => Fail::Conn(e),
        }
    }
}

impl From<BackendError> for Fail {
    fn from(e: BackendError) -> Self {
        Fail::Backend(e)
    }
}

impl Pool {
    fn people_base(&self) -> String {
        format!("{},{}", entry::PEOPLE_OU, self.config.base_dn)
    }

    fn reference_base(&self, kind: ReferenceKind) -> String {
        format!("{},{}", entry::reference_ou(kind), self.config.base_dn)
    }

    /// Where a new person's entry goes (an existing one is found by search, wherever it
    /// is). The key is escaped (RFC 4514) as filter values are (RFC 4515).
    fn person_dn(&self, key: &PersonKey) -> String {
        let key = key.to_string();
        format!("{}={},{}", entry::KEY, dn_escape(&key), self.people_base())
    }

    /// Where a new reference entry goes.
    fn reference_dn(&self, key: &EntryKey) -> String {
        let value = entry::entry_key(key);
        let base = self.reference_base(key.kind);
        format!("{}={},{base}", entry::ENTRY_KEY, dn_escape(&value))
    }

    /// A bound connection of `slot`, reused while it is open.
    async fn connection(&self, slot: usize) -> Result<(Ldap, bool), Fail> {
        let Some(cell) = self.slots.get(slot) else {
            return Err(Fail::Backend(BackendError::Unavailable(
                "no LDAP connection slot".into(),
            )));
        };
        let mut cell = cell.lock().await;
        if let Some(ldap) = cell.as_mut() {
            if !ldap.is_closed() {
                return Ok((ldap.clone(), false));
            }
        }
        *cell = None;
        let c = &self.config;
        // One bound on the whole attempt, whoever calls (the walks and the import's commit
        // have no overall limit of their own).
        let ldap = tokio::time::timeout(c.connect_timeout, self.open())
            .await
            .map_err(|_| {
                Fail::Backend(BackendError::Unavailable(format!(
                    "LDAP connection to {}: not made within {:?}",
                    c.url, c.connect_timeout
                )))
            })??;
        tracing::info!(url = %c.url, slot, "LDAP connection opened");
        *cell = Some(ldap.clone());
        Ok((ldap, true))
    }

    /// A new connection (TCP, TLS or StartTLS), bound.
    async fn open(&self) -> Result<Ldap, Fail> {
        let c = &self.config;
        let settings = LdapConnSettings::new()
            .set_conn_timeout(c.connect_timeout)
            .set_starttls(c.starttls);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &c.url).await?;
        ldap3::drive!(conn);
        if !c.bind_dn.is_empty() {
            ldap.simple_bind(&c.bind_dn, &c.bind_password)
                .await?
                .success()
                .map_err(|e| {
                    Fail::Backend(BackendError::Unavailable(format!(
                        "LDAP bind as {} refused: {e}",
                        c.bind_dn
                    )))
                })?;
        }
        Ok(ldap)
    }

    async fn forget(&self, slot: usize) {
        if let Some(cell) = self.slots.get(slot) {
            *cell.lock().await = None;
        }
    }

    /// Entries matching `filter` under `base`, with `attrs` (`"*"`: all user attributes).
    async fn search(
        &self,
        ldap: &mut Ldap,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Fail> {
        let result = ldap
            .with_timeout(self.config.op_timeout)
            .search(base, scope, filter, attrs.to_vec())
            .await?;
        if result.1.rc == 32 {
            return Err(Fail::Backend(BackendError::Unavailable(format!(
                "LDAP base {base} does not exist (see deploy/ldap/README.md)"
            ))));
        }
        let (entries, _) = result.success()?;
        Ok(entries.into_iter().map(SearchEntry::construct).collect())
    }

    /// The entries under `base` (`class`: an object class, or `*` for any) whose `attr` is
    /// `value`, byte for byte. The filter alone is not enough: its matching rule compares
    /// prepared strings (RFC 4518: insignificant spaces, Unicode normalisation), so
    /// `lea.dupont ` or a full-width `ｌea.dupont` would find `lea.dupont`, a login the
    /// throttle counts apart. Those near matches are dropped here.
    async fn search_exact(
        &self,
        ldap: &mut Ldap,
        base: &str,
        class: &str,
        attr: &str,
        value: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Fail> {
        let filter = format!("(&(objectClass={class})({attr}={}))", ldap_escape(value));
        let mut found = self
            .search(ldap, base, Scope::Subtree, &filter, attrs)
            .await?;
        found.retain(|e| values(e, attr).iter().any(|v| v == value));
        Ok(found)
    }

    /// The one entry of `class` whose `attr` is `value` (see `search_exact`); several is
    /// corrupt data.
    async fn find_one(
        &self,
        ldap: &mut Ldap,
        base: &str,
        class: &str,
        attr: &str,
        value: &str,
    ) -> Result<Option<SearchEntry>, Fail> {
        let mut found = self
            .search_exact(ldap, base, class, attr, value, &["*"])
            .await?;
        if found.len() > 1 {
            return Err(Fail::Backend(BackendError::Corrupt(format!(
                "{} LDAP entries have {attr}={value} under {base}",
                found.len()
            ))));
        }
        Ok(found.pop())
    }

    async fn person_entry(
        &self,
        ldap: &mut Ldap,
        key: &PersonKey,
    ) -> Result<Option<SearchEntry>, Fail> {
        let base = self.people_base();
        self.find_one(ldap, &base, "ENTIdpAccount", entry::KEY, &key.to_string())
            .await
    }

    async fn reference_entry(
        &self,
        ldap: &mut Ldap,
        key: &EntryKey,
    ) -> Result<Option<SearchEntry>, Fail> {
        let base = self.reference_base(key.kind);
        let value = entry::entry_key(key);
        self.find_one(ldap, &base, "ENTIdpEntry", entry::ENTRY_KEY, &value)
            .await
    }

    /// Applies `mods` to the person's entry; no such person is a conflict (as embedded).
    async fn modify_person(
        &self,
        ldap: &mut Ldap,
        key: &PersonKey,
        mods: Vec<Mod<String>>,
    ) -> Result<(), Fail> {
        let Some(found) = self.person_entry(ldap, key).await? else {
            return Err(Fail::Backend(BackendError::Conflict(format!(
                "no person {key}"
            ))));
        };
        ldap.with_timeout(self.config.op_timeout)
            .modify(&found.dn, mods)
            .await?
            .success()?;
        Ok(())
    }

    /// Adds an entry. One already at `dn` is replaced when `replace` (provisioning), else
    /// left alone and a conflict (the import: it found no IdP entry there, so that one is
    /// someone else's and not its to delete). Values are added one by one after the
    /// first: ldap3 takes each attribute's values as a set, and slapd keeps the order values
    /// arrive in (the AAF's order is kept, e.g. for `first("mail")`). A value given twice is
    /// written once (`distinct`): slapd refuses to add a value an entry already has.
    async fn put(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        attrs: Vec<(String, Vec<String>)>,
        replace: bool,
    ) -> Result<(), Fail> {
        let t = self.config.op_timeout;
        let mut first = Vec::new();
        let mut more = Vec::new();
        for (name, values) in attrs {
            let mut values = distinct(values).into_iter();
            let Some(v) = values.next() else { continue };
            if name == entry::OBJECT_CLASS {
                let all: HashSet<String> = std::iter::once(v).chain(values).collect();
                first.push((name, all));
                continue;
            }
            first.push((name.clone(), HashSet::from([v])));
            more.extend(values.map(|v| Mod::Add(name.clone(), HashSet::from([v]))));
        }
        let added = ldap.with_timeout(t).add(dn, first.clone()).await?;
        if added.rc == 68 && !replace {
            return Err(Fail::Backend(BackendError::Conflict(format!(
                "LDAP entry {dn} exists but is not the IdP's entry for its key"
            ))));
        } else if added.rc == 68 {
            ldap.with_timeout(t).delete(dn).await?.success()?;
            ldap.with_timeout(t).add(dn, first).await?.success()?;
        } else {
            added.success()?;
        }
        if !more.is_empty() {
            ldap.with_timeout(t).modify(dn, more).await?.success()?;
        }
        Ok(())
    }
}

/// `values` without the empty ones and without repeats, in their order.
fn distinct(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .filter(|v| !v.is_empty() && seen.insert(v.clone()))
        .collect()
}

/// Whether binding with `config` sends the password unencrypted off this machine: a plain
/// `ldap://` URL, no StartTLS, a password, a host other than the loopback.
fn sends_secrets_in_clear(config: &LdapConfig) -> bool {
    let Some(rest) = config.url.strip_prefix("ldap://") else {
        return false;
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !config.starttls && !config.bind_password.is_empty() && !loopback
}

/// The values of `name` in `e` (attribute names are case-insensitive), empty when absent.
fn values<'a>(e: &'a SearchEntry, name: &str) -> &'a [String] {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or(&[], |(_, v)| v.as_slice())
}

impl LdapDirectory {
    /// Sets the directory up and checks that the server answers (and accepts the bind)
    /// within the connection timeout: the server does not start without its directory.
    pub fn connect(config: LdapConfig) -> Result<Self, BackendError> {
        if sends_secrets_in_clear(&config) {
            // Allowed (a test slapd, a private link), but never without saying so.
            tracing::warn!(
                url = %config.url,
                "LDAP without TLS to another host: the bind password and the password hashes \
                 cross the network in clear (use ldaps:// or ldap_starttls = true)"
            );
        }
        let dir = Self::new(config)?;
        dir.block_on("connect", |pool, mut ldap| async move {
            // The people's subtree exists and the account may read it.
            let base = pool.people_base();
            pool.search(&mut ldap, &base, Scope::Base, "(objectClass=*)", &["1.1"])
                .await
                .map(drop)
        })?;
        Ok(dir)
    }

    /// Same, without contacting the server (it is contacted at first use).
    pub fn new(config: LdapConfig) -> Result<Self, BackendError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // Two: a whole-directory walk hands entries over with a blocking send.
            .worker_threads(2)
            .thread_name("idp-ldap")
            .enable_all()
            .build()
            .map_err(|e| BackendError::Unavailable(format!("LDAP runtime: {e}")))?;
        let slots = (0..config.connections.max(1))
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        Ok(Self {
            pool: Arc::new(Pool {
                config,
                slots,
                next: AtomicUsize::new(0),
            }),
            runtime: Arc::new(OwnRuntime(Some(runtime))),
        })
    }

    fn handle(&self) -> Result<tokio::runtime::Handle, BackendError> {
        self.runtime
            .0
            .as_ref()
            .map(|rt| rt.handle().clone())
            .ok_or_else(|| BackendError::Unavailable("LDAP runtime stopped".into()))
    }

    /// The task that runs `op` on a connection, within `limit` (the default: one connection
    /// and one operation; `None` for a long run of operations, each bounded by its own
    /// timeout), once more on a new connection when a reused one turns out to be dead (the
    /// server restarted).
    fn task<T, F, Fut>(
        &self,
        what: &'static str,
        limit: Option<Duration>,
        op: F,
    ) -> impl Future<Output = Result<T, BackendError>> + Send + 'static
    where
        F: Fn(Arc<Pool>, Ldap) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Fail>> + Send,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        async move {
            let slot = pool.next.fetch_add(1, Ordering::Relaxed) % pool.slots.len().max(1);
            let limit = limit.unwrap_or(pool.config.op_timeout + pool.config.connect_timeout);
            let url = pool.config.url.clone();
            let attempt = |pool: Arc<Pool>| {
                let op = &op;
                async move {
                    let (ldap, fresh) = pool.connection(slot).await?;
                    Ok::<_, Fail>((op(pool.clone(), ldap).await, fresh))
                }
            };
            let mut tries = 0;
            loop {
                tries += 1;
                let outcome = tokio::time::timeout(limit, attempt(pool.clone())).await;
                let fail = match outcome {
                    Err(_) => {
                        pool.forget(slot).await;
                        return Err(BackendError::Unavailable(format!(
                            "LDAP {what} at {url}: no answer within {limit:?}"
                        )));
                    }
                    Ok(Ok((Ok(v), _))) => return Ok(v),
                    Ok(Ok((Err(f), fresh))) => (f, fresh),
                    Ok(Err(f)) => (f, true),
                };
                match fail {
                    (Fail::Backend(e), _) => return Err(e),
                    (Fail::Conn(e), fresh) => {
                        pool.forget(slot).await;
                        if fresh || tries > 1 {
                            return Err(BackendError::Unavailable(format!(
                                "LDAP {what} at {url}: {e}"
                            )));
                        }
                        tracing::info!(error = %e, "LDAP connection lost, reconnecting");
                    }
                }
            }
        }
    }

    /// Runs `op` on the directory's runtime and waits for it.
    async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, BackendError>
    where
        F: Fn(Arc<Pool>, Ldap) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Fail>> + Send,
        T: Send + 'static,
    {
        let task = self.handle()?.spawn(self.task(what, None, op));
        task.await
            .map_err(|e| BackendError::Unavailable(format!("LDAP {what}: {e}")))?
    }

    /// Same, from code that is not async (start-up, the AAF import).
    fn block_on<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, BackendError>
    where
        F: Fn(Arc<Pool>, Ldap) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Fail>> + Send,
        T: Send + 'static,
    {
        self.block_on_within(what, None, op)
    }

    /// `block_on` with an explicit overall limit (`Some(Duration::MAX)`: none).
    fn block_on_within<T, F, Fut>(
        &self,
        what: &'static str,
        limit: Option<Duration>,
        op: F,
    ) -> Result<T, BackendError>
    where
        F: Fn(Arc<Pool>, Ldap) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Fail>> + Send,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = self.task(what, limit, op);
        self.handle()?.spawn(async move {
            let _ = tx.send(task.await);
        });
        rx.recv()
            .map_err(|_| BackendError::Unavailable("LDAP runtime stopped".into()))?
    }

    /// Writes a person (add, or replace the entry with the same key). Not used by the
    /// server: provisioning tools and tests.
    pub async fn put_person(&self, person: &Person) -> Result<(), BackendError> {
        let dn = self.pool.person_dn(&person.key);
        self.put_entry("add person", dn, person_attributes(person))
            .await
    }

    /// Writes a structure, subject or MEF entry (add or replace).
    pub async fn put_reference(&self, e: &ReferenceEntry) -> Result<(), BackendError> {
        let dn = self.pool.reference_dn(&e.key);
        self.put_entry("add reference", dn, reference_attributes(e))
            .await
    }

    async fn put_entry(
        &self,
        what: &'static str,
        dn: String,
        attrs: Vec<(String, Vec<String>)>,
    ) -> Result<(), BackendError> {
        self.run(what, move |pool, mut ldap| {
            let (dn, attrs) = (dn.clone(), attrs.clone());
            async move { pool.put(&mut ldap, &dn, attrs, true).await }
        })
        .await
    }

    /// Walks every entry under `base` matching `filter`, a page at a time, handing each
    /// decoded item to `f` on the calling thread (the entries cross over a bounded channel:
    /// memory stays flat on a million people).
    fn walk<T: Send + 'static>(
        &self,
        base: String,
        filter: String,
        attrs: &[&str],
        decode: impl Fn(&SearchEntry) -> Result<T, BackendError> + Send + 'static,
        f: &mut dyn FnMut(&T) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Walked<T>>(PAGE_SIZE as usize);
        let pool = self.pool.clone();
        let url = pool.config.url.clone();
        let attrs: Vec<String> = attrs.iter().map(|a| (*a).to_owned()).collect();
        self.handle()?.spawn(async move {
            let last = match walk_pages(&pool, &base, &filter, attrs, decode, &tx).await {
                Ok(()) => Walked::Done,
                Err(Fail::Backend(e)) => Walked::Entry(Err(e)),
                Err(Fail::Conn(e)) => {
                    pool.forget(0).await;
                    Walked::Entry(Err(BackendError::Unavailable(format!(
                        "LDAP walk at {url}: {e}"
                    ))))
                }
            };
            let _ = tokio::task::block_in_place(|| tx.send(last));
        });
        for item in rx {
            match item {
                Walked::Entry(entry) => f(&entry?)?,
                Walked::Done => return Ok(()),
            }
        }
        // The walk's task went away without saying it was done: never a silent half walk.
        Err(BackendError::Unavailable(
            "LDAP walk stopped before its end".into(),
        ))
    }
}

/// What a whole-directory walk hands over.
enum Walked<T> {
    Entry(Result<T, BackendError>),
    Done,
}

async fn walk_pages<T: Send + 'static>(
    pool: &Pool,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
    decode: impl Fn(&SearchEntry) -> Result<T, BackendError>,
    tx: &std::sync::mpsc::SyncSender<Walked<T>>,
) -> Result<(), Fail> {
    let (mut ldap, _) = pool.connection(0).await?;
    let mut stream = ldap
        .with_timeout(pool.config.op_timeout)
        .streaming_search_with(
            PagedResults::new(PAGE_SIZE),
            base,
            Scope::Subtree,
            filter,
            attrs,
        )
        .await?;
    while let Some(raw) = stream.next().await? {
        let item = Walked::Entry(decode(&SearchEntry::construct(raw)));
        // block_in_place: the send may wait for the caller, and the connection's own task
        // must keep running meanwhile. A closed receiver: the caller stopped early.
        if tokio::task::block_in_place(|| tx.send(item)).is_err() {
            let _ = stream.finish().await;
            return Ok(());
        }
    }
    stream.finish().await.success()?;
    Ok(())
}

fn decode_person_entry(e: &SearchEntry) -> Result<Person, BackendError> {
    decode_person(&e.dn, &e.attrs)
}

fn decode_reference_entry(
    kind: ReferenceKind,
) -> impl Fn(&SearchEntry) -> Result<ReferenceEntry, BackendError> {
    move |e| entry::decode_reference(kind, &e.dn, &e.attrs)
}

#[async_trait]
impl Directory for LdapDirectory {
    async fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError> {
        let key = key.clone();
        self.run("person lookup", move |pool, mut ldap| {
            let key = key.clone();
            async move {
                let found = pool.person_entry(&mut ldap, &key).await?;
                Ok(found.as_ref().map(decode_person_entry).transpose()?)
            }
        })
        .await
    }

    async fn person_by_login(&self, login: &str) -> Result<Option<Person>, BackendError> {
        // Typed into the login form: escaped (`*)(uid=*` is a login, not a filter) and
        // compared exactly (`search_exact`).
        let login = login.to_owned();
        self.run("login lookup", move |pool, mut ldap| {
            let login = login.clone();
            async move {
                let base = pool.people_base();
                let found = pool
                    .find_one(&mut ldap, &base, "ENTPerson", entry::LOGIN, &login)
                    .await?;
                Ok(found.as_ref().map(decode_person_entry).transpose()?)
            }
        })
        .await
    }

    async fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError> {
        let key = key.clone();
        self.run("reference lookup", move |pool, mut ldap| {
            let key = key.clone();
            async move {
                let found = pool.reference_entry(&mut ldap, &key).await?;
                Ok(found
                    .as_ref()
                    .map(decode_reference_entry(key.kind))
                    .transpose()?)
            }
        })
        .await
    }

    async fn set_password(
        &self,
        key: &PersonKey,
        password_hash: String,
        at: OffsetDateTime,
    ) -> Result<(), BackendError> {
        let key = key.clone();
        let at = entry::format_generalized_time(at);
        self.run("password change", move |pool, mut ldap| {
            let key = key.clone();
            // One modify: the hash, the time, and the activation code gone (a replace with
            // no value removes it, and is no error when it is already gone).
            let mods = vec![
                Mod::Replace(
                    entry::PASSWORD_HASH.to_owned(),
                    HashSet::from([password_hash.clone()]),
                ),
                Mod::Replace(
                    entry::PASSWORD_CHANGED_AT.to_owned(),
                    HashSet::from([at.clone()]),
                ),
                Mod::Replace(entry::ACTIVATION_CODE.to_owned(), HashSet::new()),
            ];
            async move { pool.modify_person(&mut ldap, &key, mods).await }
        })
        .await
    }

    async fn set_state(&self, key: &PersonKey, state: AccountState) -> Result<(), BackendError> {
        let key = key.clone();
        let value = entry::format_state(&state);
        self.run("state change", move |pool, mut ldap| {
            let key = key.clone();
            let mods = vec![Mod::Replace(
                entry::STATE.to_owned(),
                HashSet::from([value.clone()]),
            )];
            async move { pool.modify_person(&mut ldap, &key, mods).await }
        })
        .await
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.run("ping", |pool, mut ldap| async move {
            // The root DSE: answered by any live server, whatever the ACLs on the data.
            let result = ldap
                .with_timeout(pool.config.op_timeout)
                .search("", Scope::Base, "(objectClass=*)", vec!["1.1"])
                .await?;
            result.success()?;
            Ok(())
        })
        .await
    }
}

impl DirectoryScan for LdapDirectory {
    fn for_each_person(
        &self,
        f: &mut dyn FnMut(&Person) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        self.walk(
            self.pool.people_base(),
            "(objectClass=ENTIdpAccount)".into(),
            &["*"],
            decode_person_entry,
            f,
        )
    }

    fn for_each_reference(
        &self,
        f: &mut dyn FnMut(&ReferenceEntry) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        for kind in [
            ReferenceKind::Structure,
            ReferenceKind::Subject,
            ReferenceKind::Mef,
        ] {
            self.walk(
                self.pool.reference_base(kind),
                "(objectClass=ENTIdpEntry)".into(),
                &["*"],
                decode_reference_entry(kind),
                f,
            )?;
        }
        Ok(())
    }
}

/// The AAF import into LDAP: changes held until commit, then written entry by entry (see
/// `import.rs`: not atomic across entries, but a re-run of the same delivery converges).
impl DirectoryWriter for LdapDirectory {
    fn begin(&self) -> Result<Box<dyn ImportTxn + '_>, BackendError> {
        Ok(Box::new(self.import_txn()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_over_plain_ldap_to_another_host_is_noticed() {
        let config = |url: &str, starttls: bool, password: &str| LdapConfig {
            url: url.into(),
            bind_dn: "cn=idp,dc=ent".into(),
            bind_password: password.into(),
            base_dn: "dc=ent".into(),
            connect_timeout: Duration::from_secs(1),
            op_timeout: Duration::from_secs(1),
            connections: 1,
            starttls,
        };
        for (url, starttls, password, clear) in [
            ("ldap://ldap.ent.example", false, "s", true),
            ("ldap://10.0.0.5:389", false, "s", true),
            ("ldap://ldap.ent.example", true, "s", false),
            ("ldaps://ldap.ent.example", false, "s", false),
            ("ldapi://%2Frun%2Fslapd%2Fldapi", false, "s", false),
            ("ldap://127.0.0.1:3890", false, "s", false),
            ("ldap://localhost", false, "s", false),
            ("ldap://[::1]:389/", false, "s", false),
            ("ldap://ldap.ent.example", false, "", false),
        ] {
            let c = config(url, starttls, password);
            assert_eq!(sends_secrets_in_clear(&c), clear, "{url} {starttls}");
            assert!(!format!("{c:?}").contains("\"s\""));
        }
    }
}
