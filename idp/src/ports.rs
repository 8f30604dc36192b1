//! The seams between the core and its backends. The core and the front-ends only see these
//! traits; `app.rs` picks the concrete backends. Each trait is shaped so that the embedded
//! and in-memory backends and the production ones (OpenLDAP, Redis) fit without change.

use std::time::Duration;

use async_trait::async_trait;
use time::{Date, OffsetDateTime};

use crate::model::{EntryKey, Person, PersonKey, ReferenceEntry, SessionId, SsoSession};

/// A backend failure. The message is for operators' logs; it never reaches a browser.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Read and account-maintenance side of the directory, used by the server.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError>;
    /// Looks a person up by login (exact, logins are stored lower case).
    async fn person_by_login(&self, login: &str) -> Result<Option<Person>, BackendError>;
    async fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError>;
    /// Stores a new password hash, clears the activation code.
    async fn set_password(
        &self,
        key: &PersonKey,
        password_hash: String,
        at: OffsetDateTime,
    ) -> Result<(), BackendError>;
    /// Replaces the account state (lock, unlock).
    async fn set_state(
        &self,
        key: &PersonKey,
        state: crate::model::AccountState,
    ) -> Result<(), BackendError>;
    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> Result<(), BackendError>;
}

/// Write side used by batch feeds (AAF import). Everything written through one
/// transaction becomes visible at `commit` or not at all.
pub trait DirectoryWriter: Send + Sync {
    fn begin(&self) -> Result<Box<dyn ImportTxn + '_>, BackendError>;
}

/// One all-or-nothing batch of directory changes.
pub trait ImportTxn {
    fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError>;
    /// Inserts or replaces a person and keeps the login index in step.
    fn put_person(&mut self, person: &Person) -> Result<(), BackendError>;
    /// Removes a person for good (retention purge); its login stays reserved.
    fn remove_person(&mut self, key: &PersonKey) -> Result<(), BackendError>;
    /// Whether a login was ever assigned (logins are never reused, even after a purge).
    fn login_taken(&self, login: &str) -> Result<bool, BackendError>;
    /// Keys of every person of one académie (for a Complet's "absent means left").
    fn person_keys(&self, academie: &str) -> Result<Vec<PersonKey>, BackendError>;
    /// People who left on or before `date` (retention purge).
    fn left_before(&self, date: Date) -> Result<Vec<PersonKey>, BackendError>;
    fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError>;
    fn put_reference(&mut self, entry: &ReferenceEntry) -> Result<(), BackendError>;
    fn remove_reference(&mut self, key: &EntryKey) -> Result<(), BackendError>;
    /// Feed bookkeeping (e.g. the last extraction applied per académie): small values.
    fn meta(&self, name: &str) -> Result<Option<String>, BackendError>;
    fn set_meta(&mut self, name: &str, value: &str) -> Result<(), BackendError>;
    fn commit(self: Box<Self>) -> Result<(), BackendError>;
}

/// Read-only walk over the whole directory, for exports (activation codes, RGPD).
pub trait DirectoryScan: Send + Sync {
    fn for_each_person(
        &self,
        f: &mut dyn FnMut(&Person) -> Result<(), BackendError>,
    ) -> Result<(), BackendError>;
    fn for_each_reference(
        &self,
        f: &mut dyn FnMut(&ReferenceEntry) -> Result<(), BackendError>,
    ) -> Result<(), BackendError>;
}

/// Server-side SSO sessions. `ttl` lets Redis expire entries by itself; the session
/// service still checks idle and absolute limits on every read.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn put(&self, session: &SsoSession, ttl: Duration) -> Result<(), BackendError>;
    async fn get(&self, id: &SessionId) -> Result<Option<SsoSession>, BackendError>;
    /// Removes and returns the session (logout).
    async fn take(&self, id: &SessionId) -> Result<Option<SsoSession>, BackendError>;
    /// Records activity, only if the session still exists: a read-modify-write with `put`
    /// would bring back a session that a logout took in between. False when it is gone.
    async fn touch(
        &self,
        id: &SessionId,
        last_seen: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, BackendError>;
    /// Appends a service entry (single logout), keeping the newest `max`, atomically and
    /// only if the session still exists: two SSO hops at once (a portal opening several
    /// services) must both be recorded, or the later logout would miss one. False when the
    /// session is gone.
    async fn add_service(
        &self,
        id: &SessionId,
        entry: &str,
        max: usize,
        ttl: Duration,
    ) -> Result<bool, BackendError>;
    async fn ping(&self) -> Result<(), BackendError>;
}

/// Short-lived single-use tickets (CAS ST/PT/PGT/PGTIOU), as opaque bytes under a key.
/// `take` is an atomic get-and-delete (Redis `GETDEL`): when two validations of one ticket
/// race, exactly one gets it. Entries disappear after `ttl` (the CAS layer also checks the
/// expiry recorded in the ticket, on the injected clock).
#[async_trait]
pub trait TicketStore: Send + Sync {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), BackendError>;
    /// Reads without consuming (proxy-granting tickets are used many times).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
    /// Removes and returns the value, atomically.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError>;
}

/// Counters with a time window, for login throttling (Redis: INCR + EXPIRE).
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Adds one and returns the count in the current window.
    async fn hit(&self, key: &str, window: Duration) -> Result<u64, BackendError>;
    async fn count(&self, key: &str) -> Result<u64, BackendError>;
    async fn reset(&self, key: &str) -> Result<(), BackendError>;
}

/// The time. Injected so that tests can move it (timeouts, retention) without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
    fn today(&self) -> Date {
        self.now().date()
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests, replays).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
