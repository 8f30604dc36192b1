//! Per-node configuration: one TOML file (optional) with `IDP_*` environment overrides.
//! Every field has a default so that the binary runs with no file at all.
//!
//! An environment variable `IDP_SECTION__FIELD` overrides `[section] field`; its value is
//! read as a TOML value when it parses as one (numbers, booleans) and as a string otherwise.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub directory: DirectorySettings,
    pub sessions: SessionSettings,
    pub store: StoreSettings,
    pub throttle: ThrottleSettings,
    pub passwords: PasswordSettings,
    pub audit: AuditSettings,
    pub log: LogSettings,
    pub ui: UiSettings,
    pub aaf: AafSettings,
    pub saml: SamlSettings,
    pub federation: FederationSettings,
    pub cas: CasSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: String,
    /// The URL people reach the IdP at. `https://` turns on Secure cookies.
    pub public_url: String,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySettings {
    /// `embedded` (default: a database file) or `ldap` (the ENT's OpenLDAP directory; see
    /// deploy/ldap/README.md). The AAF import writes into either.
    pub backend: String,
    /// Database file of the embedded directory. With `ldap`, its folder still holds the
    /// IdP's own files (SAML keys, NameID secret).
    pub path: PathBuf,
    /// `ldap://host:389`, `ldaps://host:636` or `ldapi://%2Frun%2Fslapd%2Fldapi`.
    pub ldap_url: String,
    /// DN the IdP binds as (empty: anonymous, only over ldapi:// with peer-credential ACLs).
    pub ldap_bind_dn: String,
    /// Its password; better given as `IDP_DIRECTORY__LDAP_BIND_PASSWORD` (read verbatim)
    /// than in the file. Never logged.
    pub ldap_bind_password: Secret,
    /// The suffix under which `ou=people`, `ou=structures`, `ou=subjects`, `ou=mefs` are.
    pub ldap_base_dn: String,
    /// StartTLS on an `ldap://` URL (certificates checked against the system's CAs).
    pub ldap_starttls: bool,
    /// Bound on each connection attempt (TCP, TLS, bind), in milliseconds.
    pub ldap_connect_timeout_ms: u64,
    /// Bound on each operation, in milliseconds: past it the request gets the
    /// "unavailable" page instead of hanging.
    pub ldap_timeout_ms: u64,
    /// Multiplexed connections used in turn.
    pub ldap_connections: usize,
}

/// A secret setting: read like a string, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<hidden>"
        })
    }
}

/// Environment variables taken as plain strings, never parsed as TOML: a password such as
/// `123456` or `true` must not turn into a number or a boolean.
const VERBATIM_ENV: [&str; 1] = ["IDP_DIRECTORY__LDAP_BIND_PASSWORD"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Superseded by `[store] backend`; only `memory` (the default) is accepted, so that older
    /// files still load.
    pub backend: String,
    pub cookie_name: String,
    /// Idle timeout in seconds.
    pub idle_timeout_secs: u64,
    /// Absolute lifetime in seconds.
    pub absolute_timeout_secs: u64,
    /// `none`, `lax` or `strict`; empty chooses `none` over HTTPS (so that SAML POST
    /// bindings arriving from another site carry the cookie) and `lax` over plain HTTP,
    /// where browsers refuse `none` without `Secure`.
    pub same_site: String,
}

/// Where SSO sessions, CAS/SAML tickets and throttle counters live: `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `memory` (default: one node, lost on restart) or `redis` (shared by several nodes).
    pub backend: String,
    /// `redis://[[user]:password@]host[:port][/db]` or `redis+unix:///path/to/socket`.
    pub redis_url: String,
    /// Put before every key, so that several IdPs can share one Redis.
    pub key_prefix: String,
    /// Bound on each connection attempt, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Bound on each operation (reconnection included), in milliseconds: past it the request
    /// gets the "unavailable" page instead of hanging.
    pub response_timeout_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: "memory".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "idp:".into(),
            connect_timeout_ms: 2000,
            response_timeout_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// Failed attempts per account within the window before refusing it.
    pub max_failures_per_account: u64,
    /// Failed attempts per client address within the window.
    pub max_failures_per_address: u64,
    pub window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    pub min_length: usize,
    /// Argon2id memory cost in KiB, iterations and lanes.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_lanes: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// JSON-lines audit log, apart from the application log.
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter (`info`, `idp=debug`...); `RUST_LOG` wins when set.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// `fr` or `en`.
    pub default_language: String,
    /// Name shown on the pages.
    pub service_name: String,
    /// The legal information notice shown in the footer of the welcome and login pages.
    pub legal_notice_fr: String,
    pub legal_notice_en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AafSettings {
    /// Days a person who left is kept before being purged.
    pub retention_days: u32,
    /// Where import reports (JSON) are written.
    pub report_dir: PathBuf,
    /// Drop folder the running server imports deliveries from (empty: none). The embedded
    /// directory cannot be opened by a second process while the server runs.
    pub incoming_dir: PathBuf,
    /// Seconds between two scans of the drop folder; a delivery is imported once its
    /// files are unchanged over one interval.
    pub scan_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlSettings {
    /// The IdP's entityID; empty: `<server.public_url>/saml/metadata`.
    pub entity_id: String,
    /// PEM signing key and certificate. Both empty: a self-signed RSA-2048 pair is made on
    /// first start in `<data>/saml/idp-signing.{key,crt}` (`<data>` is the folder of
    /// `directory.path`) and reused afterwards.
    pub signing_key: PathBuf,
    pub signing_cert: PathBuf,
    /// Clock skew tolerated on the SPs' `IssueInstant`, in seconds.
    pub clock_skew_secs: u64,
    /// Oldest AuthnRequest accepted (age of its `IssueInstant`, skew added), in seconds; also
    /// how long request ids are remembered against replay.
    pub request_max_age_secs: u64,
    /// Lifetime of an assertion (`NotOnOrAfter` of its Conditions and bearer
    /// confirmation), in seconds.
    pub assertion_lifetime_secs: u64,
    /// Require signed AuthnRequests from every SP (otherwise only from those whose registry
    /// entry says `authn_requests_signed`).
    pub require_signed_requests: bool,
    /// How long one SOAP back-channel logout exchange with an SP may take, in seconds
    /// (all SPs are told at once; the person's logged-out page waits for the slowest).
    pub soap_timeout_secs: u64,
}

impl Default for SamlSettings {
    fn default() -> Self {
        Self {
            entity_id: String::new(),
            signing_key: PathBuf::new(),
            signing_cert: PathBuf::new(),
            clock_skew_secs: 60,
            request_max_age_secs: 300,
            assertion_lifetime_secs: 300,
            require_signed_requests: false,
            soap_timeout_secs: 3,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// The trust domains whose signed registry the IdP trusts (none: no service at all).
    #[serde(rename = "domain")]
    pub domains: Vec<TrustDomainSettings>,
}

/// One trust domain: `[[federation.domain]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustDomainSettings {
    /// Name for logs and audit events (e.g. `region`, `gar`).
    pub name: String,
    /// The signed `registry.json`: a file path or an `http(s)://` URL; its signature is at the
    /// same place with `.sig` appended.
    pub registry: String,
    /// The federation certificate (PEM) the registry must be signed with.
    pub certificate: PathBuf,
    /// Seconds between two checks for a new registry (file change, or a conditional GET).
    #[serde(default = "default_reload_secs")]
    pub reload_interval_secs: u64,
}

/// The CAS server: `[cas]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CasSettings {
    /// Path prefix of the CAS endpoints: `""` (default) puts them at the root of the IdP
    /// (`/login`, `/serviceValidate`...), `"/cas"` under `/cas/`. CAS clients are given
    /// `<server.public_url><prefix>` as the CAS base URL.
    pub prefix: String,
    /// Lifetime of service and proxy tickets, in seconds.
    pub service_ticket_lifetime_secs: u64,
    /// Lifetime of proxy-granting tickets, in seconds.
    pub proxy_granting_ticket_lifetime_secs: u64,
    /// PEM file of extra CA certificates trusted for `pgtUrl` callbacks (tests, private
    /// PKIs); empty: the system roots only.
    pub proxy_callback_ca_file: PathBuf,
    /// Timeout of the `pgtUrl` callback, in milliseconds.
    pub proxy_callback_timeout_ms: u64,
    /// Timeout of each back-channel `logoutRequest`, in milliseconds.
    pub back_channel_timeout_ms: u64,
}

impl Default for CasSettings {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            service_ticket_lifetime_secs: 10,
            proxy_granting_ticket_lifetime_secs: 7200,
            proxy_callback_ca_file: PathBuf::new(),
            proxy_callback_timeout_ms: 3000,
            back_channel_timeout_ms: 2000,
        }
    }
}

fn default_reload_secs() -> u64 {
    5
}

impl SamlSettings {
    /// The entityID, defaulted from the public URL.
    pub fn entity_id(&self, server: &ServerSettings) -> String {
        if self.entity_id.is_empty() {
            format!("{}/saml/metadata", server.public_url.trim_end_matches('/'))
        } else {
            self.entity_id.clone()
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://localhost:8080".into(),
            workers: 0,
            trust_forwarded_for: false,
        }
    }
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            path: PathBuf::from("data/directory.redb"),
            ldap_url: "ldap://127.0.0.1:389".into(),
            ldap_bind_dn: String::new(),
            ldap_bind_password: Secret::default(),
            ldap_base_dn: String::new(),
            ldap_starttls: false,
            ldap_connect_timeout_ms: 2000,
            ldap_timeout_ms: 2000,
            ldap_connections: 2,
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            backend: "memory".into(),
            cookie_name: "idp_session".into(),
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 10 * 3600,
            same_site: String::new(),
        }
    }
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_address: 50,
            window_secs: 15 * 60,
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        // OWASP's second Argon2id configuration: 19 MiB, 2 iterations, 1 lane.
        Self {
            min_length: 10,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_lanes: 1,
        }
    }
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/audit.log"),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            default_language: "fr".into(),
            service_name: "ENT".into(),
            legal_notice_fr: "Ce service d'authentification est opéré pour l'espace numérique de travail. \
Les données de connexion sont tracées conformément à la convention de fédération et au RGPD ; \
vous pouvez exercer vos droits d'accès, de rectification et d'opposition auprès du délégué à la protection des données."
                .into(),
            legal_notice_en: "This authentication service is operated for the digital workspace. \
Logins are traced as the federation agreement and the GDPR require; \
you may exercise your rights of access, rectification and objection with the data protection officer."
                .into(),
        }
    }
}

impl Default for AafSettings {
    fn default() -> Self {
        Self {
            retention_days: 365,
            report_dir: PathBuf::from("data/reports"),
            incoming_dir: PathBuf::from("data/aaf/incoming"),
            scan_interval_secs: 60,
        }
    }
}

impl DirectorySettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |m: &str| Err(SettingsError::Invalid(format!("directory.{m}")));
        match self.backend.as_str() {
            "embedded" => return Ok(()),
            "ldap" => {}
            _ => return bad("backend must be embedded or ldap"),
        }
        let url = &self.ldap_url;
        if !["ldap://", "ldaps://", "ldapi://"]
            .iter()
            .any(|s| url.starts_with(s))
        {
            return bad("ldap_url must start with ldap://, ldaps:// or ldapi://");
        }
        if self.ldap_starttls && !url.starts_with("ldap://") {
            return bad("ldap_starttls goes with an ldap:// URL (ldaps:// is TLS already)");
        }
        let base = self.ldap_base_dn.trim();
        if base.is_empty() || !base.contains('=') {
            return bad(
                "ldap_base_dn is required with backend = \"ldap\" (e.g. dc=ent,dc=example)",
            );
        }
        if self.ldap_bind_dn.is_empty() != self.ldap_bind_password.is_empty() {
            return bad("ldap_bind_dn and ldap_bind_password go together (or neither: anonymous)");
        }
        if self.ldap_connect_timeout_ms == 0 || self.ldap_timeout_ms == 0 {
            return bad("ldap timeouts must be at least 1 ms");
        }
        if !(1..=16).contains(&self.ldap_connections) {
            return bad("ldap_connections must be between 1 and 16");
        }
        Ok(())
    }
}

impl Settings {
    /// Reads `path` (if given) and applies the `IDP_*` variables of `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut root = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| SettingsError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| SettingsError::Invalid(format!("{}: {e}", p.display())))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("IDP_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            let value = if VERBATIM_ENV.contains(&name.as_str()) {
                toml::Value::String(value)
            } else {
                parse_env_value(&value)
            };
            set_path(&mut root, &path, value)
                .map_err(|e| SettingsError::Invalid(format!("{name}: {e}")))?;
        }
        let settings: Settings = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |m: &str| Err(SettingsError::Invalid(m.to_owned()));
        self.directory.validate()?;
        if self.sessions.backend != "memory" {
            return bad("sessions.backend is superseded: set [store] backend = \"redis\" instead");
        }
        match self.store.backend.as_str() {
            "memory" => {}
            "redis" => {
                let url = &self.store.redis_url;
                if !["redis://", "redis+unix://", "unix://"]
                    .iter()
                    .any(|s| url.starts_with(s))
                {
                    return bad("store.redis_url must start with redis:// or redis+unix://");
                }
            }
            _ => return bad("store.backend must be memory or redis"),
        }
        if self.store.connect_timeout_ms == 0 || self.store.response_timeout_ms == 0 {
            return bad("store: timeouts must be at least 1 ms");
        }
        if self
            .store
            .key_prefix
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return bad("store.key_prefix must not contain spaces or control characters");
        }
        if !["", "none", "lax", "strict"].contains(&self.sessions.same_site.as_str()) {
            return bad("sessions.same_site must be none, lax or strict");
        }
        if self.sessions.idle_timeout_secs == 0
            || self.sessions.absolute_timeout_secs < self.sessions.idle_timeout_secs
        {
            return bad("sessions: idle timeout must be > 0 and not above the absolute timeout");
        }
        if !["fr", "en"].contains(&self.ui.default_language.as_str()) {
            return bad("ui.default_language must be fr or en");
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return bad("log.format must be text or json");
        }
        if self.aaf.scan_interval_secs == 0 {
            return bad("aaf.scan_interval_secs must be at least 1");
        }
        if self.saml.signing_key.as_os_str().is_empty()
            != self.saml.signing_cert.as_os_str().is_empty()
        {
            return bad("saml.signing_key and saml.signing_cert go together (or neither)");
        }
        let mut names = std::collections::HashSet::new();
        for d in &self.federation.domains {
            if d.name.is_empty() || !names.insert(d.name.as_str()) {
                return bad("federation.domain: every domain needs a distinct name");
            }
            if d.reload_interval_secs == 0 {
                return bad("federation.domain.reload_interval_secs must be at least 1");
            }
        }
        let prefix = &self.cas.prefix;
        if !prefix.is_empty()
            && (!prefix.starts_with('/')
                || prefix.ends_with('/')
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)))
        {
            return bad("cas.prefix must be empty or like /cas (no trailing slash)");
        }
        if self.cas.service_ticket_lifetime_secs == 0
            || self.cas.proxy_granting_ticket_lifetime_secs == 0
        {
            return bad("cas: ticket lifetimes must be at least 1 second");
        }
        if self.passwords.min_length < 8 {
            return bad("passwords.min_length must be at least 8");
        }
        if !(self.server.public_url.starts_with("https://")
            || self.server.public_url.starts_with("http://"))
        {
            return bad("server.public_url must be an http(s) URL");
        }
        Ok(())
    }

    /// The folder the IdP keeps its own files in (that of `directory.path`).
    pub fn data_dir(&self) -> PathBuf {
        match self.directory.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// Whether cookies get `Secure` (the IdP is reached over HTTPS).
    pub fn https(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    // Parse as the right-hand side of a TOML assignment; fall back to a plain string.
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty name".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("{first} is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_settings_default_and_checked() {
        let s = Settings::load(None, Vec::new()).unwrap();
        assert_eq!(s.cas.prefix, "");
        assert_eq!(s.cas.service_ticket_lifetime_secs, 10);
        let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let s = Settings::load(None, env("IDP_CAS__PREFIX", "/cas")).unwrap();
        assert_eq!(s.cas.prefix, "/cas");
        for bad in ["cas", "/cas/", "/c as"] {
            assert!(
                Settings::load(None, env("IDP_CAS__PREFIX", bad)).is_err(),
                "{bad}"
            );
        }
        assert!(Settings::load(None, env("IDP_CAS__SERVICE_TICKET_LIFETIME_SECS", "0")).is_err());
    }

    #[test]
    fn runs_with_no_file() {
        let s = Settings::load(None, Vec::new()).unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert!(!s.https());
    }

    #[test]
    fn store_backend_and_redis_settings() {
        let s = Settings::load(None, Vec::new()).unwrap();
        assert_eq!(s.store.backend, "memory");
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let s = Settings::load(
            None,
            env(&[
                ("IDP_STORE__BACKEND", "redis"),
                ("IDP_STORE__REDIS_URL", "redis://:secret@10.0.0.5:6379/2"),
                ("IDP_STORE__KEY_PREFIX", "ent-a:"),
                ("IDP_STORE__RESPONSE_TIMEOUT_MS", "250"),
            ]),
        )
        .unwrap();
        assert_eq!(s.store.backend, "redis");
        assert_eq!(s.store.key_prefix, "ent-a:");
        assert_eq!(s.store.response_timeout_ms, 250);
        for bad in [
            vec![("IDP_STORE__BACKEND", "memcached")],
            vec![
                ("IDP_STORE__BACKEND", "redis"),
                ("IDP_STORE__REDIS_URL", "10.0.0.5:6379"),
            ],
            vec![("IDP_STORE__CONNECT_TIMEOUT_MS", "0")],
            vec![("IDP_STORE__KEY_PREFIX", "a b")],
            vec![("IDP_SESSIONS__BACKEND", "redis")],
        ] {
            assert!(Settings::load(None, env(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn directory_backend_and_ldap_settings() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let ldap = [
            ("IDP_DIRECTORY__BACKEND", "ldap"),
            ("IDP_DIRECTORY__LDAP_URL", "ldaps://ldap.ent.example"),
            ("IDP_DIRECTORY__LDAP_BASE_DN", "dc=ent,dc=example"),
            (
                "IDP_DIRECTORY__LDAP_BIND_DN",
                "cn=idp,ou=services,dc=ent,dc=example",
            ),
            // Taken verbatim: not the number 123456, not a TOML string with quotes.
            ("IDP_DIRECTORY__LDAP_BIND_PASSWORD", "123456"),
        ];
        let s = Settings::load(None, env(&ldap)).unwrap();
        assert_eq!(s.directory.backend, "ldap");
        assert_eq!(s.directory.ldap_bind_password.expose(), "123456");
        assert!(!format!("{s:?}").contains("123456"));
        let s = Settings::load(
            None,
            env(&[("IDP_DIRECTORY__LDAP_BIND_PASSWORD", "\"quoted\"")]),
        )
        .unwrap();
        assert_eq!(s.directory.ldap_bind_password.expose(), "\"quoted\"");
        for change in [
            ("IDP_DIRECTORY__BACKEND", "postgres"),
            ("IDP_DIRECTORY__LDAP_URL", "ldap.ent.example"),
            ("IDP_DIRECTORY__LDAP_BASE_DN", ""),
            ("IDP_DIRECTORY__LDAP_BIND_PASSWORD", ""),
            ("IDP_DIRECTORY__LDAP_STARTTLS", "true"),
            ("IDP_DIRECTORY__LDAP_TIMEOUT_MS", "0"),
            ("IDP_DIRECTORY__LDAP_CONNECTIONS", "0"),
        ] {
            let mut pairs: Vec<(&str, &str)> = ldap
                .iter()
                .copied()
                .filter(|(k, _)| *k != change.0)
                .collect();
            pairs.push(change);
            let err = Settings::load(None, env(&pairs)).unwrap_err().to_string();
            assert!(err.contains("directory."), "{change:?}: {err}");
        }
        // The embedded backend ignores the LDAP settings.
        assert!(Settings::load(None, env(&[("IDP_DIRECTORY__LDAP_URL", "x")])).is_ok());
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idp.toml");
        std::fs::write(
            &path,
            "[server]\nbind = \"0.0.0.0:9000\"\n[sessions]\nidle_timeout_secs = 60\n",
        )
        .unwrap();
        let env = vec![
            (
                "IDP_SERVER__PUBLIC_URL".to_string(),
                "https://ent.example".to_string(),
            ),
            (
                "IDP_SESSIONS__IDLE_TIMEOUT_SECS".to_string(),
                "120".to_string(),
            ),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let s = Settings::load(Some(&path), env).unwrap();
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.sessions.idle_timeout_secs, 120);
        assert!(s.https());
    }

    #[test]
    fn the_example_configuration_parses() {
        let text = include_str!("../../deploy/idp.toml.example");
        let table: toml::Table = text.parse().unwrap();
        let s: Settings = toml::Value::Table(table).try_into().unwrap();
        s.validate().unwrap();
        assert_eq!(s.federation.domains[0].name, "region");
        assert_eq!(s.saml.soap_timeout_secs, 3);
        let s = Settings::load(
            None,
            vec![("IDP_SAML__SOAP_TIMEOUT_SECS".into(), "7".into())],
        )
        .unwrap();
        assert_eq!(s.saml.soap_timeout_secs, 7);
    }

    #[test]
    fn federation_domains_and_saml_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idp.toml");
        std::fs::write(
            &path,
            "[[federation.domain]]\nname = \"region\"\nregistry = \"/srv/fed/registry.json\"\n\
             certificate = \"/etc/idp/fed.crt\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path), Vec::new()).unwrap();
        assert_eq!(s.federation.domains.len(), 1);
        assert_eq!(s.federation.domains[0].reload_interval_secs, 5);
        assert_eq!(
            s.saml.entity_id(&s.server),
            "http://localhost:8080/saml/metadata"
        );
        assert_eq!(s.data_dir(), PathBuf::from("data"));
        let env = vec![(
            "IDP_SAML__SIGNING_KEY".to_string(),
            "/etc/idp/k.pem".to_string(),
        )];
        assert!(Settings::load(None, env).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let env = vec![("IDP_SERVER__BINDD".to_string(), "x".to_string())];
        assert!(Settings::load(None, env).is_err());
        let env = vec![("IDP_UI__DEFAULT_LANGUAGE".to_string(), "de".to_string())];
        assert!(Settings::load(None, env).is_err());
    }
}
