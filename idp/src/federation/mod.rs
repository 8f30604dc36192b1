//! The trust the IdP takes from its federations: each configured trust domain's signed
//! registry (`registry.json` + `.sig`, compiled by `fedmeta`), loaded at start and reloaded
//! when it changes, and the IdP's own SAML identity and published metadata.
//!
//! A registry is trusted only when its detached signature verifies with the domain's
//! configured federation certificate and its validity window holds on the IdP's clock. A
//! tampered, unsigned, unreadable or expired registry is refused with a log line and a
//! `RegistryRefused` audit event; the last good registry then stays in force (until its own
//! `valid_until`). A new registry replaces the old one atomically: a query sees one or the
//! other, never a mix. Queries only return services that grant access on the given date.

mod fetch;
pub mod identity;
pub mod published;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use federation_metadata::model::{Registry, Service, ServiceUrlPattern};
use federation_metadata::signed_registry;
use openssl::x509::X509;
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditSink};
use crate::ports::Clock;
use crate::settings::{FederationSettings, TrustDomainSettings};

pub use fetch::Stamp;
pub use identity::IdpIdentity;

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("trust domain {domain}: {reason}")]
    Setup { domain: String, reason: String },
}

/// One verified registry, indexed for the protocol front-ends.
pub struct LoadedRegistry {
    /// The registry without its services (see `services`).
    pub registry: Registry,
    /// Every member, shared with the indexes.
    pub services: Vec<Arc<Service>>,
    by_entity_id: HashMap<String, Arc<Service>>,
    /// Hex SHA-1 of each SAML entityID → entityID (the MDQ `{sha1}` form).
    by_sha1: HashMap<String, String>,
    /// CAS members with their service patterns compiled once (regexes are never compiled
    /// per request).
    cas: Vec<(Arc<Service>, Vec<CasPattern>)>,
}

/// A CAS `service_patterns` entry, ready to match (see `ServiceUrlPattern::matches` for the
/// reference semantics; a regex that does not compile matches nothing).
enum CasPattern {
    Exact(String),
    Prefix(String),
    Regex(Option<regex::Regex>),
}

impl CasPattern {
    fn compile(p: &ServiceUrlPattern) -> Self {
        match p {
            ServiceUrlPattern::Exact(s) => Self::Exact(s.clone()),
            ServiceUrlPattern::Prefix(s) => Self::Prefix(s.clone()),
            ServiceUrlPattern::Regex(r) => Self::Regex(regex::Regex::new(r).ok()),
        }
    }

    fn matches(&self, url: &str) -> bool {
        match self {
            Self::Exact(s) => s == url,
            Self::Prefix(p) => url.starts_with(p.as_str()),
            Self::Regex(r) => r.as_ref().is_some_and(|re| re.is_match(url)),
        }
    }
}

impl LoadedRegistry {
    fn new(mut registry: Registry) -> Self {
        let services: Vec<Arc<Service>> = std::mem::take(&mut registry.services)
            .into_iter()
            .map(Arc::new)
            .collect();
        let mut by_entity_id = HashMap::new();
        let mut by_sha1 = HashMap::new();
        let mut cas = Vec::new();
        for s in &services {
            if let Some(saml) = s.saml() {
                by_sha1.insert(sha1_hex(&saml.entity_id), saml.entity_id.clone());
                by_entity_id.insert(saml.entity_id.clone(), s.clone());
            } else if let Some(c) = s.cas() {
                let patterns = c.service_patterns.iter().map(CasPattern::compile).collect();
                cas.push((s.clone(), patterns));
            }
        }
        Self {
            registry,
            services,
            by_entity_id,
            by_sha1,
            cas,
        }
    }

    fn in_force_at(&self, now: OffsetDateTime) -> bool {
        now < self.registry.valid_until
    }

    /// The SAML member with this entityID, whatever its status.
    pub fn saml_service(&self, entity_id: &str) -> Option<&Arc<Service>> {
        self.by_entity_id.get(entity_id)
    }
}

/// Lowercase hex SHA-1 of `s` (MDQ's `{sha1}` identifiers).
pub fn sha1_hex(s: &str) -> String {
    // The incremental API: OpenSSL 3's one-shot SHA1() fetches the algorithm by name on
    // every call (a few µs; this runs on every SAML request, for its replay key).
    let mut h = openssl::sha::Sha1::new();
    h.update(s.as_bytes());
    hex::encode(h.finish())
}

/// One configured trust domain and the registry in force for it.
struct TrustDomain {
    settings: TrustDomainSettings,
    certificate: X509,
    location: fetch::Location,
    current: RwLock<Option<Arc<LoadedRegistry>>>,
    stamp: Mutex<Stamp>,
    last_check: Mutex<Option<Instant>>,
    /// Whether the expiry of the registry in force was already reported.
    expiry_reported: Mutex<bool>,
    /// The last error getting the files, reported once.
    last_fetch_error: Mutex<Option<String>>,
}

/// Every trust domain of the IdP.
pub struct Federation {
    domains: Vec<TrustDomain>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    /// Bumped at every swap (caches of per-entity metadata key on it).
    generation: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Federation {
    /// Reads the domains' certificates and loads each registry once (a refused one leaves
    /// the domain empty until a good one arrives). Call [`Federation::spawn_reloader`] to
    /// follow changes.
    pub fn start(
        settings: &FederationSettings,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, FederationError> {
        let mut domains = Vec::new();
        for d in &settings.domains {
            let certificate =
                federation_metadata::keys::load_certificate(&d.certificate).map_err(|e| {
                    FederationError::Setup {
                        domain: d.name.clone(),
                        reason: e.to_string(),
                    }
                })?;
            domains.push(TrustDomain {
                settings: d.clone(),
                certificate,
                location: fetch::Location::parse(&d.registry),
                current: RwLock::new(None),
                stamp: Mutex::new(Stamp::default()),
                last_check: Mutex::new(None),
                expiry_reported: Mutex::new(false),
                last_fetch_error: Mutex::new(None),
            });
        }
        let federation = Arc::new(Self {
            domains,
            audit,
            clock,
            generation: std::sync::atomic::AtomicU64::new(0),
        });
        federation.check_all(true);
        Ok(federation)
    }

    /// A thread that checks each domain every `reload_interval_secs` and stops once the
    /// federation is dropped.
    pub fn spawn_reloader(self: &Arc<Self>) -> std::io::Result<()> {
        if self.domains.is_empty() {
            return Ok(());
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("federation-reload".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(250));
                match weak.upgrade() {
                    Some(f) => f.check_all(false),
                    None => return,
                }
            })
            .map(|_| ())
    }

    /// Checks every domain whose interval elapsed (all of them when `force`).
    pub fn check_all(&self, force: bool) {
        for d in &self.domains {
            let due = {
                let mut last = lock(&d.last_check);
                let interval = Duration::from_secs(d.settings.reload_interval_secs);
                let due = force || last.is_none_or(|t| t.elapsed() >= interval);
                if due {
                    *last = Some(Instant::now());
                }
                due
            };
            if due {
                self.check(d);
            }
        }
    }

    fn refuse(&self, domain: &str, reason: String) {
        tracing::error!(
            domain,
            %reason,
            "federation registry refused; the last good registry, if any, stays in force"
        );
        self.audit.record(
            self.clock.now(),
            AuditEvent::RegistryRefused {
                domain: domain.to_owned(),
                reason,
            },
        );
    }

    fn check(&self, d: &TrustDomain) {
        let name = d.settings.name.as_str();
        let now = self.clock.now();
        let previous = lock(&d.stamp).clone();
        match d.location.fetch_if_changed(&previous) {
            Ok(None) => {}
            Ok(Some(fetched)) => {
                *lock(&d.stamp) = fetched.stamp;
                let opened = match fetched.registry {
                    fetch::Body::File(path) => signed_registry::open_file::<Registry>(
                        &path,
                        &fetched.signature,
                        &d.certificate,
                        now,
                    ),
                    fetch::Body::Bytes(bytes) => signed_registry::open::<Registry>(
                        &bytes,
                        &fetched.signature,
                        &d.certificate,
                        now,
                    ),
                };
                match opened {
                    Ok(registry) => self.swap_in(d, registry),
                    Err(e) => self.refuse(name, e.to_string()),
                }
            }
            Err(e) => {
                // A missing or unreachable registry is reported once per distinct error, not
                // at every poll; the stamp is reset so that its return is noticed.
                let reason = e.to_string();
                *lock(&d.stamp) = Stamp::default();
                let mut last = lock(&d.last_fetch_error);
                if last.as_deref() != Some(reason.as_str()) {
                    *last = Some(reason.clone());
                    drop(last);
                    self.refuse(name, reason);
                }
                return;
            }
        }
        *lock(&d.last_fetch_error) = None;
        // The registry in force may run out while nothing new arrives.
        let current = d.current.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(current) = current {
            if !current.in_force_at(now) {
                let mut reported = lock(&d.expiry_reported);
                if !*reported {
                    *reported = true;
                    drop(reported);
                    self.refuse(
                        name,
                        format!(
                            "the registry in force expired at {}: no service is trusted",
                            current.registry.valid_until
                        ),
                    );
                }
            }
        }
    }

    fn swap_in(&self, d: &TrustDomain, registry: Registry) {
        let loaded = LoadedRegistry::new(registry);
        let r = &loaded.registry;
        tracing::info!(
            domain = %d.settings.name,
            services = loaded.services.len(),
            issued_at = %r.issued_at,
            valid_until = %r.valid_until,
            "federation registry loaded"
        );
        self.audit.record(
            self.clock.now(),
            AuditEvent::RegistryLoaded {
                domain: d.settings.name.clone(),
                services: loaded.services.len(),
                issued_at: r.issued_at.to_string(),
                valid_until: r.valid_until.to_string(),
            },
        );
        *d.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(loaded));
        *lock(&d.expiry_reported) = false;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The IdP's clock (the one validity windows and membership dates are checked against).
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Changes every time a registry is swapped in.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The registries in force at `now`, one per domain that has one.
    pub fn registries_at(&self, now: OffsetDateTime) -> Vec<Arc<LoadedRegistry>> {
        self.domains
            .iter()
            .filter_map(|d| d.current.read().unwrap_or_else(|e| e.into_inner()).clone())
            .filter(|r| r.in_force_at(now))
            .collect()
    }

    /// The SAML service with this entityID that may be served at `now`.
    pub fn service_for_saml_entity(
        &self,
        entity_id: &str,
        now: OffsetDateTime,
    ) -> Option<Arc<Service>> {
        self.registries_at(now).into_iter().find_map(|r| {
            r.by_entity_id
                .get(entity_id)
                .filter(|s| s.grants_access_at(now.date()))
                .cloned()
        })
    }

    /// The active SAML service `entity_id` with the registry in force holding it (its
    /// attribute catalogue is needed to release attributes).
    pub fn saml_service_with_registry(
        &self,
        entity_id: &str,
        now: OffsetDateTime,
    ) -> Option<(Arc<LoadedRegistry>, Arc<Service>)> {
        self.registries_at(now).into_iter().find_map(|r| {
            let found = r
                .by_entity_id
                .get(entity_id)
                .filter(|s| s.grants_access_at(now.date()))
                .cloned()?;
            Some((r, found))
        })
    }

    /// The registry in force that holds CAS service `url` matches, with the service (the
    /// registry's attribute catalogue is needed to release attributes).
    pub fn cas_service_with_registry(
        &self,
        url: &str,
        now: OffsetDateTime,
    ) -> Option<(Arc<LoadedRegistry>, Arc<Service>)> {
        self.registries_at(now).into_iter().find_map(|r| {
            let found = r
                .cas
                .iter()
                .find(|(s, patterns)| {
                    s.grants_access_at(now.date()) && patterns.iter().any(|p| p.matches(url))
                })
                .map(|(s, _)| s.clone())?;
            Some((r, found))
        })
    }

    /// The CAS service whose patterns match `url` and that may be served at `now`.
    pub fn service_for_cas_url(&self, url: &str, now: OffsetDateTime) -> Option<Arc<Service>> {
        self.registries_at(now).into_iter().find_map(|r| {
            r.cas
                .iter()
                .find(|(s, patterns)| {
                    s.grants_access_at(now.date()) && patterns.iter().any(|p| p.matches(url))
                })
                .map(|(s, _)| s.clone())
        })
    }

    /// The registry in force that holds the SAML entity `entity_id` (or, with the MDQ
    /// `{sha1}<hex>` form, the entity whose entityID hashes to it), with its entityID.
    pub fn registered_entity(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Option<(Arc<LoadedRegistry>, Arc<Service>)> {
        self.registries_at(now).into_iter().find_map(|r| {
            let entity_id = match id.strip_prefix("{sha1}") {
                Some(hex) => r.by_sha1.get(&hex.to_ascii_lowercase())?.clone(),
                None => id.to_owned(),
            };
            let service = r.by_entity_id.get(&entity_id)?.clone();
            Some((r, service))
        })
    }
}

#[cfg(test)]
mod tests;
