//! In-memory session, counter and ticket stores for a single node. Entries carry their own expiry
//! and expired ones are removed as writes come, a few per write, so that dead sessions,
//! tickets and replay keys are not kept forever.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{SessionId, SsoSession};
use crate::ports::{BackendError, CounterStore, SessionStore, TicketStore};

/// A map whose entries expire. Expiries are also kept in a min-heap, so that each write
/// removes a few of the entries that have run out instead of the whole map being scanned
/// now and then: the replay cache holds every request ID of the last minutes (about a
/// million at a few thousand requests per second), and each such scan took milliseconds.
struct ExpiringMap<V> {
    entries: HashMap<String, (V, Instant)>,
    /// (expiry, key) as last written. An entry whose expiry was moved later since (a
    /// session touched) is put back with its new expiry when its old one comes up.
    expiries: BinaryHeap<Reverse<(Instant, String)>>,
}

/// Expired entries removed at most per write: each write adds at most one to the heap.
const SWEEP_PER_WRITE: usize = 8;

impl<V> ExpiringMap<V> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
            expiries: BinaryHeap::new(),
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
        self.sweep(now);
        match self.entries.insert(key.clone(), (value, expires)) {
            Some((_, before)) if before == expires => {}
            _ => self.expiries.push(Reverse((expires, key))),
        }
    }

    /// Removes up to `SWEEP_PER_WRITE` entries that have expired by `now`.
    fn sweep(&mut self, now: Instant) {
        for _ in 0..SWEEP_PER_WRITE {
            if !matches!(self.expiries.peek(), Some(Reverse((exp, _))) if *exp <= now) {
                return;
            }
            let Some(Reverse((_, key))) = self.expiries.pop() else {
                return;
            };
            match self.entries.get(&key) {
                Some((_, exp)) if *exp <= now => {
                    self.entries.remove(&key);
                }
                Some((_, exp)) => {
                    let later = *exp;
                    self.expiries.push(Reverse((later, key)));
                }
                // Taken or reset meanwhile.
                None => {}
            }
        }
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

    /// Expired entries go as writes come (a few per write), with no scan of the map; an
    /// entry whose expiry was moved later stays until its new expiry; rewriting an entry
    /// with the same expiry (a counter hit) adds nothing to the heap.
    #[test]
    fn expired_entries_go_as_writes_come() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut m = ExpiringMap::new();
        for i in 0..1000 {
            m.insert(format!("old{i}"), i, at(1), t0);
        }
        m.insert("kept".into(), 0, at(1), t0);
        // Moved later in place, as `touch` does.
        if let Some((_, exp)) = m.live_mut("kept", t0) {
            *exp = at(5);
        }
        for _ in 0..100 {
            m.insert("counter".into(), 7, at(9), t0);
        }
        assert_eq!(m.expiries.len(), 1002, "one heap entry per key and expiry");
        for i in 0..200 {
            m.insert(format!("new{i}"), i, at(10), at(2));
        }
        assert!(m.live("kept", at(2)).is_some());
        assert!(
            m.entries.keys().all(|k| !k.starts_with("old")),
            "all expired ones removed"
        );
        assert_eq!(m.entries.len(), 202);
        m.insert("later".into(), 0, at(20), at(6));
        assert!(
            !m.entries.contains_key("kept"),
            "gone once its new expiry passed"
        );
        assert_eq!(m.entries.len(), 202);
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
