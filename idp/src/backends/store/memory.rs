//! In-memory session, counter and ticket stores for a single node. Entries carry their own expiry
//! and are swept as the map grows, so an idle server does not keep dead sessions forever.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{SessionId, SsoSession};
use crate::ports::{BackendError, CounterStore, SessionStore, TicketStore};

/// A map whose entries expire, swept every `SWEEP_EVERY` writes.
struct ExpiringMap<V> {
    entries: HashMap<String, (V, Instant)>,
    writes: u64,
}

const SWEEP_EVERY: u64 = 1024;

impl<V> ExpiringMap<V> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
            writes: 0,
        }
    }

    fn live(&self, key: &str, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v)
    }

    /// The live value and its expiry, to change under the lock.
    fn live_mut(&mut self, key: &str, now: Instant) -> Option<(&mut V, &mut Instant)> {
        self.entries
            .get_mut(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, exp)| (v, exp))
    }

    fn insert(&mut self, key: String, value: V, expires: Instant, now: Instant) {
        self.writes += 1;
        if self.writes % SWEEP_EVERY == 0 {
            self.entries.retain(|_, (_, exp)| *exp > now);
        }
        self.entries.insert(key, (value, expires));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct MemorySessionStore {
    map: Mutex<ExpiringMap<SsoSession>>,
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self {
            map: Mutex::new(ExpiringMap::new()),
        }
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn put(&self, session: &SsoSession, ttl: Duration) -> Result<(), BackendError> {
        let now = Instant::now();
        lock(&self.map).insert(
            session.id.expose().to_owned(),
            session.clone(),
            now + ttl,
            now,
        );
        Ok(())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<SsoSession>, BackendError> {
        Ok(lock(&self.map).live(id.expose(), Instant::now()).cloned())
    }

    async fn take(&self, id: &SessionId) -> Result<Option<SsoSession>, BackendError> {
        let now = Instant::now();
        Ok(lock(&self.map)
            .entries
            .remove(id.expose())
            .filter(|(_, exp)| *exp > now)
            .map(|(s, _)| s))
    }

    async fn touch(
        &self,
        id: &SessionId,
        last_seen: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let now = Instant::now();
        Ok(lock(&self.map)
            .live_mut(id.expose(), now)
            .map(|(s, exp)| {
                s.last_seen = last_seen;
                *exp = now + ttl;
            })
            .is_some())
    }

    async fn add_service(
        &self,
        id: &SessionId,
        entry: &str,
        max: usize,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let now = Instant::now();
        Ok(lock(&self.map)
            .live_mut(id.expose(), now)
            .map(|(s, exp)| {
                s.services.push(entry.to_owned());
                let excess = s.services.len().saturating_sub(max);
                s.services.drain(..excess);
                *exp = now + ttl;
            })
            .is_some())
    }

    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// Tickets in a map under one lock: `take` removes under that lock, so it is atomic.
pub struct MemoryTicketStore {
    map: Mutex<ExpiringMap<Vec<u8>>>,
}

impl Default for MemoryTicketStore {
    fn default() -> Self {
        Self {
            map: Mutex::new(ExpiringMap::new()),
        }
    }
}

#[async_trait]
impl TicketStore for MemoryTicketStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), BackendError> {
        let now = Instant::now();
        lock(&self.map).insert(key.to_owned(), value, now + ttl, now);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(lock(&self.map).live(key, Instant::now()).cloned())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let now = Instant::now();
        Ok(lock(&self.map)
            .entries
            .remove(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v))
    }
}

pub struct MemoryCounterStore {
    map: Mutex<ExpiringMap<u64>>,
}

impl Default for MemoryCounterStore {
    fn default() -> Self {
        Self {
            map: Mutex::new(ExpiringMap::new()),
        }
    }
}

#[async_trait]
impl CounterStore for MemoryCounterStore {
    async fn hit(&self, key: &str, window: Duration) -> Result<u64, BackendError> {
        let now = Instant::now();
        let mut map = lock(&self.map);
        // Like Redis INCR + EXPIRE on first hit: the window starts at the first failure.
        let (count, expires) = match map.entries.get(key) {
            Some((c, exp)) if *exp > now => (c + 1, *exp),
            _ => (1, now + window),
        };
        map.insert(key.to_owned(), count, expires, now);
        Ok(count)
    }

    async fn count(&self, key: &str) -> Result<u64, BackendError> {
        Ok(lock(&self.map)
            .live(key, Instant::now())
            .copied()
            .unwrap_or(0))
    }

    async fn reset(&self, key: &str) -> Result<(), BackendError> {
        lock(&self.map).entries.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PersonKey;

    fn session(id: &str) -> SsoSession {
        SsoSession {
            id: SessionId::from_raw(id.into()),
            audit_ref: "r".into(),
            person: PersonKey::new("02", "1"),
            login: "a".into(),
            authn_instant: time::OffsetDateTime::UNIX_EPOCH,
            last_seen: time::OffsetDateTime::UNIX_EPOCH,
            services: vec![],
        }
    }

    #[tokio::test]
    async fn sessions_expire_and_take_removes() {
        let store = MemorySessionStore::default();
        store
            .put(&session("a"), Duration::from_secs(60))
            .await
            .unwrap();
        store.put(&session("b"), Duration::ZERO).await.unwrap();
        assert!(store
            .get(&SessionId::from_raw("a".into()))
            .await
            .unwrap()
            .is_some());
        assert!(store
            .get(&SessionId::from_raw("b".into()))
            .await
            .unwrap()
            .is_none());
        assert!(store
            .take(&SessionId::from_raw("a".into()))
            .await
            .unwrap()
            .is_some());
        assert!(store
            .get(&SessionId::from_raw("a".into()))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn counters_count_within_window() {
        let store = MemoryCounterStore::default();
        assert_eq!(store.hit("k", Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(store.hit("k", Duration::from_secs(60)).await.unwrap(), 2);
        assert_eq!(store.count("k").await.unwrap(), 2);
        store.reset("k").await.unwrap();
        assert_eq!(store.count("k").await.unwrap(), 0);
        assert_eq!(store.hit("z", Duration::ZERO).await.unwrap(), 1);
        assert_eq!(store.count("z").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn tickets_are_taken_once() {
        let store = MemoryTicketStore::default();
        store
            .put("ST-1", b"v".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get("ST-1").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.take("ST-1").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.take("ST-1").await.unwrap(), None);
        store
            .put("ST-2", b"v".to_vec(), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(store.take("ST-2").await.unwrap(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_takes_get_a_ticket_once() {
        let store = std::sync::Arc::new(MemoryTicketStore::default());
        for round in 0..50 {
            let key = format!("ST-{round}");
            store
                .put(&key, b"v".to_vec(), Duration::from_secs(60))
                .await
                .unwrap();
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let store = store.clone();
                    let key = key.clone();
                    tokio::spawn(async move { store.take(&key).await.unwrap().is_some() })
                })
                .collect();
            let mut wins = 0;
            for t in tasks {
                wins += usize::from(t.await.unwrap());
            }
            assert_eq!(wins, 1);
        }
    }
}
