//! Redis session, ticket and counter stores, so that several IdP nodes share one SSO state.
//!
//! Keys are `<prefix><kind>:<SHA-256 hex of the id>`: session ids and tickets are bearer
//! secrets, and a dump of Redis must not hand out live cookies or tickets (counter keys hold
//! logins and addresses, hashed the same way). A session is a hash: the fixed part (`v`),
//! `seen` and the service list (`svc`), so that `touch` and `add_service` change one field in
//! a Lua script that first checks the session still exists (a logout in between must not be
//! undone). The session id itself is not stored: it comes back from the caller's key.
//!
//! Every operation runs on a small runtime the store owns: the connection manager spawns
//! its connection and its reconnections on the runtime it is used from, and actix runs one
//! runtime per worker thread, which may stop before the store does.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::{PersonKey, SessionId, SsoSession};
use crate::ports::{BackendError, CounterStore, SessionStore, TicketStore};

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[[user]:password@]host[:port][/db]` or `redis+unix:///path/to/socket`.
    pub url: String,
    /// Put before every key, so that several IdPs can share one Redis.
    pub key_prefix: String,
    /// Bound on each connection attempt.
    pub connect_timeout: Duration,
    /// Bound on each operation, reconnection included: past it the request fails
    /// ("unavailable") instead of hanging.
    pub response_timeout: Duration,
}

/// One connection (multiplexed, reconnecting) shared by the three stores.
#[derive(Clone)]
pub struct RedisStores {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// The address without credentials, for messages.
    server: String,
    runtime: OwnRuntime,
}

/// The store's runtime. Dropping a runtime inside async code panics, and the last handle on
/// the store may well be dropped there: shut it down without waiting instead.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The longest TTL sent to Redis (ten years): beyond it `PEXPIRE` would overflow.
const MAX_TTL_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// Milliseconds for Redis; a non-zero TTL never rounds down to "expire now".
fn millis(ttl: Duration) -> u64 {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(MAX_TTL_MS);
    if ms == 0 && !ttl.is_zero() {
        1
    } else {
        ms.min(MAX_TTL_MS)
    }
}

fn hash_hex(secret: &str) -> String {
    // The incremental API: OpenSSL 3's one-shot SHA256() fetches the algorithm by name on
    // every call (a few µs, on every store access).
    let mut h = openssl::sha::Sha256::new();
    h.update(secret.as_bytes());
    hex::encode(h.finish())
}

impl RedisStores {
    /// Connects to Redis, waiting at most the connection timeout (and a few retries). An
    /// error means the server cannot have its session store: it does not start without it.
    pub fn connect(config: &RedisConfig) -> Result<Self, BackendError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| BackendError::Unavailable(format!("store.redis_url: {e}")))?;
        let server = client.get_connection_info().addr().to_string();
        // Wrapped at once: on the error paths below it is dropped too, maybe in async code.
        let runtime = OwnRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("idp-redis")
                .enable_all()
                .build()
                .map_err(|e| BackendError::Unavailable(format!("redis runtime: {e}")))?,
        ));
        let Some(handle) = runtime.0.as_ref().map(|rt| rt.handle().clone()) else {
            return Err(BackendError::Unavailable("redis runtime stopped".into()));
        };
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        // A bound on the whole start: three attempts and the delays between them.
        let limit = config.connect_timeout * 3 + Duration::from_secs(1);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let result = tokio::time::timeout(
                limit,
                ConnectionManager::new_with_config(client, manager_config),
            )
            .await;
            let _ = tx.send(result);
        });
        let conn = match rx.recv() {
            Ok(Ok(Ok(conn))) => conn,
            Ok(Ok(Err(e))) => {
                return Err(BackendError::Unavailable(format!(
                    "cannot connect to redis at {server}: {e}"
                )))
            }
            Ok(Err(_)) => {
                return Err(BackendError::Unavailable(format!(
                    "no answer from redis at {server} within {limit:?}"
                )))
            }
            Err(_) => {
                return Err(BackendError::Unavailable(
                    "redis runtime stopped while connecting".into(),
                ))
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                prefix: config.key_prefix.clone(),
                timeout: config.response_timeout,
                server,
                runtime,
            }),
        })
    }

    pub fn sessions(&self) -> RedisSessionStore {
        RedisSessionStore(self.clone())
    }

    pub fn tickets(&self) -> RedisTicketStore {
        RedisTicketStore(self.clone())
    }

    pub fn counters(&self) -> RedisCounterStore {
        RedisCounterStore(self.clone())
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{}", self.inner.prefix, hash_hex(id))
    }

    /// Runs `op` on the store's runtime within the response timeout.
    async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, BackendError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(runtime) = self.inner.runtime.0.as_ref() else {
            return Err(BackendError::Unavailable("redis runtime stopped".into()));
        };
        let limit = self.inner.timeout;
        let fut = op(self.inner.conn.clone());
        let task = runtime.spawn(async move { tokio::time::timeout(limit, fut).await });
        let server = &self.inner.server;
        match task.await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(BackendError::Unavailable(format!(
                "redis {what} at {server}: {e}"
            ))),
            Ok(Err(_)) => Err(BackendError::Unavailable(format!(
                "redis {what} at {server}: no answer within {limit:?}"
            ))),
            Err(e) => Err(BackendError::Unavailable(format!("redis {what}: {e}"))),
        }
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.run("ping", |mut conn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await
        .map(drop)
    }
}

/// What a session hash keeps besides `seen` and `svc`: everything but the id.
#[derive(Serialize, Deserialize)]
struct Fixed {
    audit_ref: String,
    person: PersonKey,
    login: String,
    authn_instant: OffsetDateTime,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, BackendError> {
    serde_json::to_string(value).map_err(|e| BackendError::Corrupt(format!("session: {e}")))
}

fn from_json<T: for<'de> Deserialize<'de>>(field: &str, text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::Corrupt(format!("session {field}: {e}")))
}

type Fields = (Option<String>, Option<String>, Option<String>);

/// The session from its hash fields; none when the hash is gone.
fn session_from(id: &SessionId, fields: Fields) -> Result<Option<SsoSession>, BackendError> {
    let (Some(fixed), Some(seen), Some(svc)) = fields else {
        return match fields {
            (None, None, None) => Ok(None),
            _ => Err(BackendError::Corrupt("session hash lacks fields".into())),
        };
    };
    let fixed: Fixed = from_json("v", &fixed)?;
    Ok(Some(SsoSession {
        id: id.clone(),
        audit_ref: fixed.audit_ref,
        person: fixed.person,
        login: fixed.login,
        authn_instant: fixed.authn_instant,
        last_seen: from_json("seen", &seen)?,
        services: from_json("svc", &svc)?,
    }))
}

/// `touch`: the new `seen` and TTL, only on a session that still exists.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'seen', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// `add_service`: appends to the JSON list, keeps the newest ARGV[2], only on a session that
/// still exists. cjson encodes an empty table as `{}`, hence the explicit `[]`.
static ADD_SERVICE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local svc = redis.call('HGET', KEYS[1], 'svc')
if not svc then return 0 end
local list = cjson.decode(svc)
table.insert(list, ARGV[1])
local keep = {}
for i = math.max(1, #list - tonumber(ARGV[2]) + 1), #list do keep[#keep + 1] = list[i] end
local out = '[]'
if #keep > 0 then out = cjson.encode(keep) end
redis.call('HSET', KEYS[1], 'svc', out)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// `hit`: INCR, and the window's expiry on the first hit only (like the memory store).
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
",
    )
});

pub struct RedisSessionStore(RedisStores);

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn put(&self, session: &SsoSession, ttl: Duration) -> Result<(), BackendError> {
        let key = self.0.key("s", session.id.expose());
        let fixed = to_json(&Fixed {
            audit_ref: session.audit_ref.clone(),
            person: session.person.clone(),
            login: session.login.clone(),
            authn_instant: session.authn_instant,
        })?;
        let seen = to_json(&session.last_seen)?;
        let svc = to_json(&session.services)?;
        let ms = millis(ttl);
        self.0
            .run("session put", move |mut conn| async move {
                // DEL first: a put replaces, it never merges into an older hash.
                redis::pipe()
                    .atomic()
                    .del(&key)
                    .hset_multiple(&key, &[("v", fixed), ("seen", seen), ("svc", svc)])
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    async fn get(&self, id: &SessionId) -> Result<Option<SsoSession>, BackendError> {
        let key = self.0.key("s", id.expose());
        let fields = self
            .0
            .run("session get", move |mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["v", "seen", "svc"][..])
                    .query_async::<Fields>(&mut conn)
                    .await
            })
            .await?;
        session_from(id, fields)
    }

    async fn take(&self, id: &SessionId) -> Result<Option<SsoSession>, BackendError> {
        let key = self.0.key("s", id.expose());
        let (fields, _): (Fields, u64) = self
            .0
            .run("session take", move |mut conn| async move {
                redis::pipe()
                    .atomic()
                    .cmd("HMGET")
                    .arg(&key)
                    .arg(&["v", "seen", "svc"][..])
                    .del(&key)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        session_from(id, fields)
    }

    async fn touch(
        &self,
        id: &SessionId,
        last_seen: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let key = self.0.key("s", id.expose());
        let seen = to_json(&last_seen)?;
        let ms = millis(ttl);
        self.0
            .run("session touch", move |mut conn| async move {
                TOUCH
                    .key(&key)
                    .arg(seen)
                    .arg(ms)
                    .invoke_async::<u8>(&mut conn)
                    .await
            })
            .await
            .map(|n| n == 1)
    }

    async fn add_service(
        &self,
        id: &SessionId,
        entry: &str,
        max: usize,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let key = self.0.key("s", id.expose());
        let entry = entry.to_owned();
        let ms = millis(ttl);
        self.0
            .run("session add_service", move |mut conn| async move {
                ADD_SERVICE
                    .key(&key)
                    .arg(entry)
                    .arg(max)
                    .arg(ms)
                    .invoke_async::<u8>(&mut conn)
                    .await
            })
            .await
            .map(|n| n == 1)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        self.0.ping().await
    }
}

pub struct RedisTicketStore(RedisStores);

#[async_trait]
impl TicketStore for RedisTicketStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), BackendError> {
        let key = self.0.key("t", key);
        let ms = millis(ttl);
        self.0
            .run("ticket put", move |mut conn| async move {
                if ms == 0 {
                    // Already expired (SET refuses PX 0): as if written and gone at once.
                    return redis::cmd("DEL")
                        .arg(&key)
                        .query_async::<()>(&mut conn)
                        .await;
                }
                redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let key = self.0.key("t", key);
        self.0
            .run("ticket get", move |mut conn| async move {
                redis::cmd("GET").arg(&key).query_async(&mut conn).await
            })
            .await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let key = self.0.key("t", key);
        self.0
            .run("ticket take", move |mut conn| async move {
                // One command: of two racing validations, exactly one gets the value.
                redis::cmd("GETDEL").arg(&key).query_async(&mut conn).await
            })
            .await
    }
}

pub struct RedisCounterStore(RedisStores);

#[async_trait]
impl CounterStore for RedisCounterStore {
    async fn hit(&self, key: &str, window: Duration) -> Result<u64, BackendError> {
        let key = self.0.key("c", key);
        let ms = millis(window);
        self.0
            .run("counter hit", move |mut conn| async move {
                HIT.key(&key).arg(ms).invoke_async(&mut conn).await
            })
            .await
    }

    async fn count(&self, key: &str) -> Result<u64, BackendError> {
        let key = self.0.key("c", key);
        self.0
            .run("counter count", move |mut conn| async move {
                redis::cmd("GET")
                    .arg(&key)
                    .query_async::<Option<u64>>(&mut conn)
                    .await
            })
            .await
            .map(Option::unwrap_or_default)
    }

    async fn reset(&self, key: &str) -> Result<(), BackendError> {
        let key = self.0.key("c", key);
        self.0
            .run("counter reset", move |mut conn| async move {
                redis::cmd("DEL")
                    .arg(&key)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are the SHA-256 of the secret in lower-case hex (the FIPS 180 "abc" vector).
    #[test]
    fn key_hash_is_sha256_hex() {
        assert_eq!(
            hash_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ttls_never_round_to_zero_nor_overflow() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn keys_hide_the_secret() {
        let h = hash_hex("ST-1-secret");
        assert_eq!(h.len(), 64);
        assert!(!h.contains("secret"));
    }
}
