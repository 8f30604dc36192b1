//! The Redis stores against a real `redis-server` (started per test, see
//! `idp_tests::redis`): one contract body run against the memory and the Redis backends so
//! that the two cannot drift; key prefixes and hashed keys; Redis stopped and started again;
//! and a CAS flow through the real IdP configured with `[store] backend = "redis"`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idp::backends::store::memory::{MemoryCounterStore, MemorySessionStore, MemoryTicketStore};
use idp::backends::store::redis::{RedisConfig, RedisStores};
use idp::model::{PersonKey, SessionId, SsoSession};
use idp::ports::{BackendError, CounterStore, SessionStore, TicketStore};
use idp::protocols::cas::url::encode;
use idp_tests::raw_get as get;
use idp_tests::redis::RedisServer;
use idp_tests::registry::{CasService, TestRegistry};
use idp_tests::{ticket_in, TestIdp, ACTIVATION_CODE, LEA_PASSWORD};
use time::OffsetDateTime;

struct Stores {
    sessions: Arc<dyn SessionStore>,
    tickets: Arc<dyn TicketStore>,
    counters: Arc<dyn CounterStore>,
}

fn memory() -> Stores {
    Stores {
        sessions: Arc::new(MemorySessionStore::default()),
        tickets: Arc::new(MemoryTicketStore::default()),
        counters: Arc::new(MemoryCounterStore::default()),
    }
}

fn config(redis: &RedisServer, prefix: &str) -> RedisConfig {
    RedisConfig {
        url: redis.url(),
        key_prefix: prefix.to_owned(),
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
    }
}

fn on_redis(redis: &RedisServer, prefix: &str) -> Stores {
    let r = RedisStores::connect(&config(redis, prefix)).unwrap();
    Stores {
        sessions: Arc::new(r.sessions()),
        tickets: Arc::new(r.tickets()),
        counters: Arc::new(r.counters()),
    }
}

fn session(id: &str) -> SsoSession {
    SsoSession {
        id: SessionId::from_raw(id.into()),
        audit_ref: "ref-1".into(),
        person: PersonKey::new("02", "1234"),
        login: "lea.dupont".into(),
        authn_instant: OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        last_seen: OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        services: vec![],
    }
}

fn sid(id: &str) -> SessionId {
    SessionId::from_raw(id.into())
}

const LONG: Duration = Duration::from_secs(600);
const SHORT: Duration = Duration::from_millis(300);

/// Polls `check` until it holds, for at most 10 s (no assertion on how fast).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the ports promise, whatever the backend.
async fn contract(s: &Stores) {
    // Sessions: put, get, touch, services, take.
    let a = session("session-a");
    s.sessions.put(&a, LONG).await.unwrap();
    assert_eq!(
        s.sessions.get(&sid("session-a")).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(s.sessions.get(&sid("nope")).await.unwrap(), None);
    let later = a.last_seen + Duration::from_secs(60);
    assert!(s
        .sessions
        .touch(&sid("session-a"), later, LONG)
        .await
        .unwrap());
    for n in 0..5 {
        let entry = format!("cas|https://svc/{n}|ST-{n}");
        assert!(s
            .sessions
            .add_service(&sid("session-a"), &entry, 3, LONG)
            .await
            .unwrap());
    }
    let got = s.sessions.get(&sid("session-a")).await.unwrap().unwrap();
    assert_eq!(got.last_seen, later);
    // The newest three, in order; odd characters survive (the Redis script re-encodes JSON).
    assert_eq!(
        got.services,
        [
            "cas|https://svc/2|ST-2",
            "cas|https://svc/3|ST-3",
            "cas|https://svc/4|ST-4"
        ]
    );
    assert!(s
        .sessions
        .add_service(&sid("session-a"), "saml|é/\"\\ x", 10, LONG)
        .await
        .unwrap());
    let got = s.sessions.take(&sid("session-a")).await.unwrap().unwrap();
    assert_eq!(
        got.services.last().map(String::as_str),
        Some("saml|é/\"\\ x")
    );
    assert_eq!(got.services.len(), 4);
    assert_eq!(got.id, sid("session-a"));
    // Once taken (logout), nothing brings it back.
    assert_eq!(s.sessions.take(&sid("session-a")).await.unwrap(), None);
    assert!(!s
        .sessions
        .touch(&sid("session-a"), later, LONG)
        .await
        .unwrap());
    assert!(!s
        .sessions
        .add_service(&sid("session-a"), "x", 3, LONG)
        .await
        .unwrap());
    assert_eq!(s.sessions.get(&sid("session-a")).await.unwrap(), None);
    // max 0 keeps none; put replaces a whole session.
    let mut b = session("session-b");
    b.services = vec!["old".into()];
    s.sessions.put(&b, LONG).await.unwrap();
    assert!(s
        .sessions
        .add_service(&sid("session-b"), "x", 0, LONG)
        .await
        .unwrap());
    assert!(s
        .sessions
        .get(&sid("session-b"))
        .await
        .unwrap()
        .unwrap()
        .services
        .is_empty());
    b.services = vec!["new".into()];
    b.login = "other".into();
    s.sessions.put(&b, LONG).await.unwrap();
    assert_eq!(s.sessions.get(&sid("session-b")).await.unwrap(), Some(b));

    // 50 SSO hops at once into one session: every one recorded.
    s.sessions.put(&session("session-c"), LONG).await.unwrap();
    let hops: Vec<_> = (0..50)
        .map(|n| {
            let store = s.sessions.clone();
            tokio::spawn(async move {
                store
                    .add_service(&sid("session-c"), &format!("svc-{n}"), 100, LONG)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for h in hops {
        assert!(h.await.unwrap());
    }
    let mut services = s
        .sessions
        .get(&sid("session-c"))
        .await
        .unwrap()
        .unwrap()
        .services;
    services.sort();
    let mut want: Vec<String> = (0..50).map(|n| format!("svc-{n}")).collect();
    want.sort();
    assert_eq!(services, want);

    // Expiry: by the TTL given at put, pushed back by touch.
    s.sessions.put(&session("session-d"), SHORT).await.unwrap();
    s.sessions
        .put(&session("session-z"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(s.sessions.get(&sid("session-z")).await.unwrap(), None);
    eventually("session-d expires", || async {
        s.sessions.get(&sid("session-d")).await.unwrap().is_none()
    })
    .await;
    assert!(!s
        .sessions
        .touch(&sid("session-d"), later, LONG)
        .await
        .unwrap());
    assert_eq!(s.sessions.get(&sid("session-d")).await.unwrap(), None);

    // Tickets: get does not consume, take does, once.
    s.tickets.put("ST-1", b"v1".to_vec(), LONG).await.unwrap();
    assert_eq!(s.tickets.get("ST-1").await.unwrap(), Some(b"v1".to_vec()));
    assert_eq!(s.tickets.get("ST-1").await.unwrap(), Some(b"v1".to_vec()));
    assert_eq!(s.tickets.take("ST-1").await.unwrap(), Some(b"v1".to_vec()));
    assert_eq!(s.tickets.take("ST-1").await.unwrap(), None);
    assert_eq!(s.tickets.get("ST-1").await.unwrap(), None);
    s.tickets
        .put("ST-0", b"v".to_vec(), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(s.tickets.take("ST-0").await.unwrap(), None);
    s.tickets
        .put("ST-short", vec![0, 255, 1], SHORT)
        .await
        .unwrap();
    assert_eq!(
        s.tickets.get("ST-short").await.unwrap(),
        Some(vec![0, 255, 1])
    );
    eventually("ST-short expires", || async {
        s.tickets.get("ST-short").await.unwrap().is_none()
    })
    .await;
    // Racing validations of one ticket: exactly one wins, every round.
    for round in 0..30 {
        let key = format!("ST-race-{round}");
        s.tickets.put(&key, b"v".to_vec(), LONG).await.unwrap();
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let store = s.tickets.clone();
                let key = key.clone();
                tokio::spawn(async move { store.take(&key).await.unwrap().is_some() })
            })
            .collect();
        let mut wins = 0;
        for r in racers {
            wins += usize::from(r.await.unwrap());
        }
        assert_eq!(wins, 1, "round {round}");
    }

    // Counters: a window from the first hit, count, reset.
    assert_eq!(s.counters.count("login:lea").await.unwrap(), 0);
    assert_eq!(s.counters.hit("login:lea", LONG).await.unwrap(), 1);
    assert_eq!(s.counters.hit("login:lea", LONG).await.unwrap(), 2);
    assert_eq!(s.counters.count("login:lea").await.unwrap(), 2);
    s.counters.reset("login:lea").await.unwrap();
    assert_eq!(s.counters.count("login:lea").await.unwrap(), 0);
    assert_eq!(s.counters.hit("zero", Duration::ZERO).await.unwrap(), 1);
    assert_eq!(s.counters.count("zero").await.unwrap(), 0);
    assert_eq!(s.counters.hit("ip:10.0.0.1", SHORT).await.unwrap(), 1);
    assert_eq!(s.counters.hit("ip:10.0.0.1", SHORT).await.unwrap(), 2);
    eventually("the window closes", || async {
        s.counters.count("ip:10.0.0.1").await.unwrap() == 0
    })
    .await;
    assert_eq!(s.counters.hit("ip:10.0.0.1", SHORT).await.unwrap(), 1);
    let hits: Vec<_> = (0..40)
        .map(|_| {
            let store = s.counters.clone();
            tokio::spawn(async move { store.hit("burst", LONG).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for h in hits {
        seen.push(h.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=40).collect::<Vec<u64>>());

    s.sessions.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_stores_keep_the_contract() {
    contract(&memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_stores_keep_the_contract() {
    let redis = RedisServer::start();
    contract(&on_redis(&redis, "idp:")).await;
}

/// The ACL deploy/README.md recommends is enough, and credentials in the URL work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_stores_work_under_the_documented_acl() {
    let redis = RedisServer::start();
    let ok = redis.cli(&[
        "ACL",
        "SETUSER",
        "idp",
        "on",
        ">s3cret",
        "~idp:*",
        "+@read",
        "+@write",
        "+@scripting",
        "+@transaction",
        "+ping",
    ]);
    assert_eq!(ok.trim(), "OK");
    let url = format!("redis://idp:s3cret@127.0.0.1:{}", redis.port);
    let r = RedisStores::connect(&RedisConfig {
        url,
        ..config(&redis, "idp:")
    })
    .unwrap();
    contract(&Stores {
        sessions: Arc::new(r.sessions()),
        tickets: Arc::new(r.tickets()),
        counters: Arc::new(r.counters()),
    })
    .await;
    // Outside its prefix the user can do nothing: the ACL is what isolates this IdP.
    let wrong = RedisStores::connect(&RedisConfig {
        url: format!("redis://idp:s3cret@127.0.0.1:{}", redis.port),
        ..config(&redis, "other:")
    })
    .unwrap();
    assert!(wrong.tickets().get("ST-1").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_isolate_idps_and_keys_hide_secrets() {
    let redis = RedisServer::start();
    let a = on_redis(&redis, "ent-a:");
    let b = on_redis(&redis, "ent-b:");
    let secret_id = "Zx9-very-secret-session-cookie";
    let mut s = session(secret_id);
    s.services = vec!["cas|https://svc/|ST-in-session".into()];
    a.sessions.put(&s, LONG).await.unwrap();
    a.tickets
        .put("ST-secret-ticket", b"t".to_vec(), LONG)
        .await
        .unwrap();
    a.counters.hit("lea.dupont", LONG).await.unwrap();
    assert_eq!(b.sessions.get(&sid(secret_id)).await.unwrap(), None);
    assert_eq!(b.tickets.take("ST-secret-ticket").await.unwrap(), None);
    assert_eq!(b.counters.count("lea.dupont").await.unwrap(), 0);
    assert!(a.sessions.get(&sid(secret_id)).await.unwrap().is_some());
    assert_eq!(
        a.tickets.get("ST-secret-ticket").await.unwrap(),
        Some(b"t".to_vec())
    );

    let keys = redis.cli(&["--scan"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in &keys {
        assert!(k.starts_with("ent-a:"), "{k}");
        assert!(!k.contains("secret") && !k.contains("lea"), "{k}");
    }
    // Neither the keys nor the values give the session id or the ticket away.
    let dump: String = keys
        .iter()
        .map(|k| {
            let t = redis.cli(&["TYPE", k]);
            if t.trim() == "hash" {
                redis.cli(&["HGETALL", k])
            } else {
                redis.cli(&["GET", k])
            }
        })
        .collect();
    assert!(!dump.contains(secret_id), "{dump}");
    assert!(!dump.contains("ST-secret-ticket"), "{dump}");
    // Everything carries a TTL: nothing lives forever in a shared Redis.
    for k in &keys {
        let ttl: i64 = redis.cli(&["PTTL", k]).trim().parse().unwrap();
        assert!(ttl > 0, "{k}: {ttl}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_an_error_and_its_return_is_picked_up() {
    let mut redis = RedisServer::start();
    let cfg = RedisConfig {
        response_timeout: Duration::from_millis(500),
        ..config(&redis, "idp:")
    };
    let r = RedisStores::connect(&cfg).unwrap();
    let (sessions, tickets, counters) = (r.sessions(), r.tickets(), r.counters());
    sessions.put(&session("s1"), LONG).await.unwrap();

    redis.stop();
    let start = Instant::now();
    assert!(matches!(
        sessions.get(&sid("s1")).await,
        Err(BackendError::Unavailable(_))
    ));
    assert!(matches!(
        tickets.take("ST-1").await,
        Err(BackendError::Unavailable(_))
    ));
    assert!(matches!(
        counters.hit("k", LONG).await,
        Err(BackendError::Unavailable(_))
    ));
    assert!(matches!(
        sessions.ping().await,
        Err(BackendError::Unavailable(_))
    ));
    // Bounded by the response timeout rather than hanging (generous bound: shared machine).
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    // An outage longer than the reconnection's own retries: requests keep failing cleanly.
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(3) {
        assert!(sessions.ping().await.is_err());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Back (empty: nothing was saved): the same stores work again without a restart.
    redis.restart();
    eventually("the connection comes back", || async {
        sessions.ping().await.is_ok()
    })
    .await;
    assert_eq!(sessions.get(&sid("s1")).await.unwrap(), None);
    tickets.put("ST-2", b"v".to_vec(), LONG).await.unwrap();
    assert_eq!(tickets.take("ST-2").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(counters.hit("k", LONG).await.unwrap(), 1);
    // Scripts are loaded again after the restart emptied Redis's script cache.
    sessions.put(&session("s2"), LONG).await.unwrap();
    assert!(sessions
        .add_service(&sid("s2"), "svc", 3, LONG)
        .await
        .unwrap());
}

/// From async code too (the store's own runtime is dropped there on failure).
#[tokio::test]
async fn connecting_to_nothing_is_an_error_not_a_panic() {
    let cfg = RedisConfig {
        url: format!("redis://127.0.0.1:{}", idp_tests::procs::free_port()),
        key_prefix: "idp:".into(),
        connect_timeout: Duration::from_millis(300),
        response_timeout: Duration::from_millis(300),
    };
    assert!(matches!(
        RedisStores::connect(&cfg),
        Err(BackendError::Unavailable(_))
    ));
}

#[test]
fn an_unreachable_redis_stops_the_start_with_a_clear_error() {
    let port = idp_tests::procs::free_port();
    let mut settings = idp_tests::test_settings();
    settings.store.backend = "redis".into();
    settings.store.redis_url = format!("redis://:hunter2@127.0.0.1:{port}");
    settings.store.connect_timeout_ms = 300;
    let tmp = tempfile::tempdir().unwrap();
    settings.directory.path = tmp.path().join("directory.redb");
    settings.audit.path = tmp.path().join("audit.log");
    let Err(e) = idp::app::Backends::from_settings(&settings) else {
        panic!("started without its store");
    };
    let msg = e.to_string();
    assert!(
        msg.contains("session store") && msg.contains(&port.to_string()),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
}

#[test]
fn a_cas_sso_flow_with_the_idp_on_redis() {
    let redis = RedisServer::start();
    // Nothing listens there: the service is only a name (no back-channel logout).
    let app = "http://127.0.0.1:9/app/";
    let mut svc = CasService::pronote_like("app", app);
    svc.single_logout = false;
    let registry = TestRegistry::new();
    let domain = registry.publish(&[svc]);
    let url = redis.url();
    let idp = TestIdp::start_with(|s| {
        s.federation.domains = vec![domain];
        s.store.backend = "redis".into();
        s.store.redis_url = url;
        s.store.key_prefix = "e2e:".into();
        s.store.response_timeout_ms = 500;
    });
    assert_eq!(get(&idp.at("/readyz")).0, 200);
    let validate = |st: &str| {
        let (status, body) = get(&idp.at(&format!(
            "/p3/serviceValidate?service={}&ticket={}",
            encode(app),
            encode(st)
        )));
        assert_eq!(status, 200);
        body
    };

    // Log in for the service: a ticket, validated once.
    let b = idp.browser();
    let login_url = format!("/login?service={}", encode(app));
    let form = b.get(&login_url);
    assert_eq!(form.status, 200, "{}", form.body);
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
            ("service", app),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let st1 = ticket_in(res.location().unwrap());
    assert!(validate(&st1).contains("<cas:user>lea.dupont</cas:user>"));
    assert!(validate(&st1).contains("INVALID_TICKET"));
    let sessions = redis.cli(&["--scan", "--pattern", "e2e:s:*"]);
    assert_eq!(sessions.lines().count(), 1, "{sessions}");

    // The SSO hop: a new ticket from the session in Redis, no password.
    let hop = b.get(&login_url);
    assert_eq!(hop.status, 302, "{}", hop.body);
    let st2 = ticket_in(hop.location().unwrap());
    assert!(validate(&st2).contains("<cas:user>lea.dupont</cas:user>"));

    // Logout takes the session out of Redis.
    let home = b.get("/");
    assert!(home.body.contains("action=\"/logout\""));
    let out = b.post_form("/logout", &[("csrf", &home.csrf())]);
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(!b.logged_in());
    assert_eq!(redis.cli(&["--scan", "--pattern", "e2e:s:*"]), "");
    assert_eq!(b.get(&login_url).status, 200);

    // Redis down: "unavailable" pages (503), not errors; back: logins work again.
    let mut redis = redis;
    redis.stop();
    assert_eq!(get(&idp.at("/readyz")).0, 503);
    let form = b.get("/login");
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
        ],
    );
    assert_eq!(res.status, 503, "{}", res.body);
    assert_eq!(res.header("retry-after"), Some("60"));
    // The SAML pages that read a kept record say "unavailable" too, not "request lost"
    // (which they say, 400, once Redis is back and the record does not exist).
    let saml_records = [
        "/saml/sso/continue?ref=_gone",
        "/saml/slo/status?ref=_gone",
        "/saml/slo/answer?ref=_gone",
        "/saml/slo/continue?ref=_gone",
    ];
    for path in saml_records {
        let res = b.get(path);
        assert_eq!(res.status, 503, "{path}: {}", res.body);
    }
    redis.restart();
    let start = Instant::now();
    while get(&idp.at("/readyz")).0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    b.login_ok("lea.dupont", LEA_PASSWORD);
    for path in saml_records {
        let res = b.get(path);
        assert_eq!(res.status, 400, "{path}: {}", res.body);
    }
}

/// Two IdP nodes sharing the Redis stores (and the directory): an activation started on
/// one node (the code typed there) is finished on the other (the password chosen there).
/// Pending activations used to live in one node's memory.
#[test]
fn an_activation_started_on_one_node_ends_on_another() {
    let redis = RedisServer::start();
    let url = redis.url();
    let node_a = TestIdp::start_with(|s| {
        s.store.backend = "redis".into();
        s.store.redis_url = url;
        s.store.key_prefix = "e2e:".into();
    });
    let mut settings = node_a.settings.clone();
    let tmp = tempfile::tempdir().unwrap();
    settings.audit.path = tmp.path().join("audit-b.log");
    let node_b = TestIdp::serve(tmp, settings, node_a.directory.clone());

    let on_a = node_a.browser();
    let res = on_a.login("hugo.martin", ACTIVATION_CODE);
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/activate"));
    let pending = on_a
        .cookie("idp_activation")
        .expect("pending activation cookie");
    assert_eq!(
        redis
            .cli(&["--scan", "--pattern", "e2e:t:*"])
            .lines()
            .count(),
        1,
        "the pending activation is in Redis"
    );

    // The browser is sent to the other node.
    let on_b = node_b.browser();
    on_b.set_cookie("idp_activation", &pending);
    let form = on_b.get("/activate");
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("hugo.martin"), "{}", form.body);
    let res = on_b.post_form(
        "/activate",
        &[
            ("csrf", &form.csrf()),
            ("new_password", "Velo-Rouge-Lune-9"),
            ("confirm", "Velo-Rouge-Lune-9"),
        ],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(res.set_cookie("idp_session").is_some());
    assert_eq!(
        redis.cli(&["--scan", "--pattern", "e2e:t:*"]),
        "",
        "used up"
    );
    // Used up on the first node too; the new password works there.
    let again = on_a.get("/activate");
    assert!(
        again
            .body
            .contains("délai pour choisir votre mot de passe est dépassé"),
        "{}",
        again.body
    );
    node_a
        .browser()
        .login_ok("hugo.martin", "Velo-Rouge-Lune-9");
}
