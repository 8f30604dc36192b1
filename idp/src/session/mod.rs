//! The SSO session service: starts, resolves and ends sessions over `ports::SessionStore`,
//! with the idle and absolute limits of `Settings.sessions` measured on the injected clock.
//!
//! A login always gets a new session id and drops the one the browser came with, so a
//! session id planted before login (fixation) is worthless. Ids are 256 random bits; each
//! session also has a short `audit_ref` for logs and the audit trail, which cannot be used
//! to resume it. Session ids never appear in logs (`SessionId`'s `Debug` hides them).

use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore;
use time::{Duration, OffsetDateTime};

use crate::audit::{AuditEvent, AuditSink, SessionEndReason};
use crate::model::{Person, SessionId, SsoSession};
use crate::ports::{BackendError, Clock, SessionStore};
use crate::settings::SessionSettings;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What a session cookie turned out to name.
#[derive(Debug)]
pub enum Resolved {
    Active(Box<SsoSession>),
    /// It named a session that just ran out (and has been ended).
    Expired(SessionEndReason),
    /// It names nothing (never existed, logged out, or swept by the store).
    Unknown,
}

/// How long a resolve may skip writing `last_seen` back: saves a store write per request
/// at the price of that much slack on the idle timeout.
const TOUCH_EVERY: Duration = Duration::seconds(30);

/// Extra store lifetime beyond the idle limit, so that an idle session is usually still
/// there to be ended (and audited) by `resolve` rather than silently dropped by the store.
const STORE_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    idle: Duration,
    absolute: Duration,
}

fn random_b64(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn secs(d: u64) -> Duration {
    Duration::seconds(i64::try_from(d).unwrap_or(i64::MAX))
}

impl SessionService {
    pub fn new(
        store: Arc<dyn SessionStore>,
        clock: Arc<dyn Clock>,
        audit: Arc<dyn AuditSink>,
        settings: &SessionSettings,
    ) -> Self {
        Self {
            store,
            clock,
            audit,
            idle: secs(settings.idle_timeout_secs),
            absolute: secs(settings.absolute_timeout_secs),
        }
    }

    fn ttl(&self, session: &SsoSession, now: OffsetDateTime) -> std::time::Duration {
        let left = (session.authn_instant + self.absolute - now).min(self.idle);
        std::time::Duration::try_from(left).unwrap_or_default() + STORE_GRACE
    }

    /// Starts a session for `person`, first ending `previous` (the session the browser
    /// came with, if any).
    pub async fn start(
        &self,
        person: &Person,
        client_ip: &str,
        previous: Option<&SessionId>,
    ) -> Result<SsoSession, SessionError> {
        if let Some(old) = previous {
            self.end(old, SessionEndReason::Superseded).await?;
        }
        let now = self.clock.now();
        let session = SsoSession {
            id: SessionId::from_raw(random_b64(32)),
            audit_ref: random_b64(9),
            person: person.key.clone(),
            login: person.login.clone(),
            authn_instant: now,
            last_seen: now,
            services: Vec::new(),
        };
        self.store.put(&session, self.ttl(&session, now)).await?;
        tracing::info!(session = %session.audit_ref, "session started");
        self.audit.record(
            now,
            AuditEvent::SessionStart {
                session_ref: session.audit_ref.clone(),
                login: session.login.clone(),
                person: session.person.to_string(),
                client_ip: client_ip.to_owned(),
            },
        );
        Ok(session)
    }

    /// Looks a session up, ending it if a limit has passed, and records the activity.
    pub async fn resolve(&self, id: &SessionId) -> Result<Resolved, SessionError> {
        let Some(mut session) = self.store.get(id).await? else {
            return Ok(Resolved::Unknown);
        };
        let now = self.clock.now();
        let expired = if now - session.authn_instant >= self.absolute {
            Some(SessionEndReason::AbsoluteTimeout)
        } else if now - session.last_seen >= self.idle {
            Some(SessionEndReason::IdleTimeout)
        } else {
            None
        };
        if let Some(reason) = expired {
            self.end(id, reason).await?;
            return Ok(Resolved::Expired(reason));
        }
        if now - session.last_seen >= TOUCH_EVERY {
            session.last_seen = now;
            if !self.store.touch(id, now, self.ttl(&session, now)).await? {
                // Ended (logged out) since it was read.
                return Ok(Resolved::Unknown);
            }
        }
        Ok(Resolved::Active(Box::new(session)))
    }

    /// Ends a session (logout, timeout, replaced at login). Returns it if it existed.
    pub async fn end(
        &self,
        id: &SessionId,
        reason: SessionEndReason,
    ) -> Result<Option<SsoSession>, SessionError> {
        let session = self.store.take(id).await?;
        if let Some(s) = &session {
            tracing::info!(session = %s.audit_ref, reason = ?reason, "session ended");
            self.audit.record(
                self.clock.now(),
                AuditEvent::SessionEnd {
                    session_ref: s.audit_ref.clone(),
                    login: s.login.clone(),
                    person: s.person.to_string(),
                    reason,
                },
            );
        }
        Ok(session)
    }

    /// Records in the session that a service got a ticket or an assertion (`entry`, whose
    /// form is the protocol's), for single logout, unless the session already holds that
    /// very entry; keeps the newest `max` entries. Atomic in
    /// the store (see [`SessionStore::add_service`]); nothing is recorded, and nothing
    /// brought back, when the session ended meanwhile.
    pub async fn add_service(
        &self,
        session: &SsoSession,
        entry: String,
        max: usize,
    ) -> Result<(), SessionError> {
        // Already there (the same SP again, with the same NameID and SessionIndex): a
        // duplicate would only push older services' entries out of the newest `max`, and
        // those services would then miss the single logout.
        if session.services.contains(&entry) {
            return Ok(());
        }
        // The caller's copy gives the TTL (it depends on the login time only): no second
        // read of the store.
        let ttl = self.ttl(session, self.clock.now());
        if !self
            .store
            .add_service(&session.id, &entry, max, ttl)
            .await?
        {
            tracing::info!(session = %session.audit_ref, "service not recorded: the session ended meanwhile");
        }
        Ok(())
    }

    /// Readiness of the session store.
    pub async fn ping(&self) -> Result<(), SessionError> {
        Ok(self.store.ping().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MemoryAudit;
    use crate::backends::store::memory::MemorySessionStore;
    use crate::model::{AccountState, Category, Credentials, PersonKey};
    use crate::ports::ManualClock;

    fn person() -> Person {
        Person {
            key: PersonKey::new("02", "1"),
            category: Category::Eleve,
            login: "lea.dupont".into(),
            gar_id: "g".into(),
            state: AccountState::Active,
            attributes: Default::default(),
            credentials: Credentials::default(),
            created_on: time::macros::date!(2026 - 09 - 07),
            updated_on: time::macros::date!(2026 - 09 - 07),
        }
    }

    fn service() -> (SessionService, Arc<ManualClock>, Arc<MemoryAudit>) {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH));
        let audit = Arc::new(MemoryAudit::default());
        let settings = SessionSettings {
            idle_timeout_secs: 600,
            absolute_timeout_secs: 3600,
            ..SessionSettings::default()
        };
        let s = SessionService::new(
            Arc::new(MemorySessionStore::default()),
            clock.clone(),
            audit.clone(),
            &settings,
        );
        (s, clock, audit)
    }

    #[tokio::test]
    async fn idle_then_absolute_timeouts() {
        let (s, clock, audit) = service();
        let a = s.start(&person(), "ip", None).await.unwrap();
        assert_eq!(a.id.expose().len(), 43);
        assert_eq!(a.audit_ref.len(), 12);
        clock.advance(std::time::Duration::from_secs(599));
        assert!(matches!(
            s.resolve(&a.id).await.unwrap(),
            Resolved::Active(_)
        ));
        clock.advance(std::time::Duration::from_secs(599));
        assert!(matches!(
            s.resolve(&a.id).await.unwrap(),
            Resolved::Active(_)
        ));
        clock.advance(std::time::Duration::from_secs(601));
        assert!(matches!(
            s.resolve(&a.id).await.unwrap(),
            Resolved::Expired(SessionEndReason::IdleTimeout)
        ));
        assert!(matches!(s.resolve(&a.id).await.unwrap(), Resolved::Unknown));

        let b = s.start(&person(), "ip", None).await.unwrap();
        for _ in 0..6 {
            clock.advance(std::time::Duration::from_secs(590));
            assert!(matches!(
                s.resolve(&b.id).await.unwrap(),
                Resolved::Active(_)
            ));
        }
        clock.advance(std::time::Duration::from_secs(100));
        assert!(matches!(
            s.resolve(&b.id).await.unwrap(),
            Resolved::Expired(SessionEndReason::AbsoluteTimeout)
        ));
        assert_eq!(audit.events().len(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_service_entries_are_all_recorded() {
        let (s, _, _) = service();
        let s = Arc::new(s);
        let a = s.start(&person(), "ip", None).await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|n| {
                let (s, a) = (s.clone(), a.clone());
                tokio::spawn(async move { s.add_service(&a, format!("cas {n}"), 100).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let Resolved::Active(session) = s.resolve(&a.id).await.unwrap() else {
            panic!("session gone");
        };
        let mut got = session.services.clone();
        got.sort();
        let mut want: Vec<_> = (0..64).map(|n| format!("cas {n}")).collect();
        want.sort();
        assert_eq!(got, want);
        // The newest `max` are kept.
        s.add_service(&a, "cas last".into(), 3).await.unwrap();
        let Resolved::Active(session) = s.resolve(&a.id).await.unwrap() else {
            panic!("session gone");
        };
        assert_eq!(session.services.len(), 3);
        assert_eq!(
            session.services.last().map(String::as_str),
            Some("cas last")
        );
    }

    /// The same entry again (an SP visited anew in the session) is not recorded twice, so
    /// it does not push other services' entries out of the newest `max`.
    #[tokio::test]
    async fn an_entry_already_recorded_is_not_repeated() {
        async fn current(s: &SessionService, id: &SessionId) -> SsoSession {
            match s.resolve(id).await.unwrap() {
                Resolved::Active(session) => *session,
                _ => panic!("session gone"),
            }
        }
        let (s, _, _) = service();
        let a = s.start(&person(), "ip", None).await.unwrap();
        s.add_service(&a, "cas other".into(), 3).await.unwrap();
        for _ in 0..5 {
            let now = current(&s, &a.id).await;
            s.add_service(&now, "saml gar _i f _n https://gar".into(), 3)
                .await
                .unwrap();
        }
        assert_eq!(
            current(&s, &a.id).await.services,
            ["cas other", "saml gar _i f _n https://gar"]
        );
        let now = current(&s, &a.id).await;
        s.add_service(&now, "saml gar _j f _n https://gar".into(), 3)
            .await
            .unwrap();
        assert_eq!(
            current(&s, &a.id).await.services.len(),
            3,
            "a different entry is recorded"
        );
    }

    #[tokio::test]
    async fn a_session_taken_by_a_logout_is_not_brought_back() {
        let store = MemorySessionStore::default();
        let (s, clock, _) = service();
        let a = s.start(&person(), "ip", None).await.unwrap();
        store
            .put(&a, std::time::Duration::from_secs(600))
            .await
            .unwrap();
        // What an SSO hop read just before a logout took the session...
        let read = store.get(&a.id).await.unwrap().unwrap();
        store.take(&a.id).await.unwrap().unwrap();
        // ...must not write it back.
        let ttl = std::time::Duration::from_secs(600);
        assert!(!store.touch(&a.id, clock.now(), ttl).await.unwrap());
        assert!(!store.add_service(&a.id, "cas x", 10, ttl).await.unwrap());
        assert!(store.get(&a.id).await.unwrap().is_none());
        assert!(read.services.is_empty());
        // Through the service: ended, then an entry for it, then a read: still gone.
        s.end(&a.id, SessionEndReason::Logout).await.unwrap();
        s.add_service(&a, "cas y".into(), 10).await.unwrap();
        assert!(matches!(s.resolve(&a.id).await.unwrap(), Resolved::Unknown));
    }

    #[tokio::test]
    async fn login_replaces_previous_session() {
        let (s, _, _) = service();
        let a = s.start(&person(), "ip", None).await.unwrap();
        let b = s.start(&person(), "ip", Some(&a.id)).await.unwrap();
        assert_ne!(a.id, b.id);
        assert!(matches!(s.resolve(&a.id).await.unwrap(), Resolved::Unknown));
        assert!(matches!(
            s.resolve(&b.id).await.unwrap(),
            Resolved::Active(_)
        ));
    }
}
