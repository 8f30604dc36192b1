//! A signed test registry with CAS services at loopback URLs: a demo trust domain (so
//! `http://127.0.0.1:PORT/...` service URLs are accepted; proxy callbacks stay HTTPS-only),
//! compiled and signed by `federation-metadata` exactly as an administrator's domain, and
//! the [`TrustDomainSettings`] that make a [`crate::TestIdp`] load it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use federation_metadata::compile::compile_domain;
use federation_metadata::keys::{generate_self_signed, write_pair};
use federation_metadata::synthetic::{self, SyntheticDomain};
use idp::settings::TrustDomainSettings;
use time::OffsetDateTime;

/// Pronote's releases (as in `deploy/federation/demo/services/pronote.toml`).
pub const PRONOTE_RELEASES: &str = r#"[[releases]]
name = "nom"
source = "surname"
purpose = "Nom."

[[releases]]
name = "prenom"
source = "given_name"
purpose = "Prénom."

[[releases]]
name = "dateNaissance"
source = "birth_date"
format = "date_dd_mm_yyyy"
purpose = "Homonymes."

[[releases]]
name = "codePostal"
source = "postal_code"
required = false
purpose = "Homonymes."

[[releases]]
name = "categories"
source = "profiles_numeric"
join_with = ";"
purpose = "Espace Pronote."
"#;

/// The part of a test service's TOML that does not depend on its protocol: `id`, `name`,
/// `description`, organisation, contacts, commitments and agreement (approved, signed on
/// 2025-06-01), ending with a blank line; the `[[releases]]` and the `[protocol.*]` table
/// follow.
pub fn service_header(id: &str, description: &str) -> String {
    format!(
        r#"id = "{id}"
name = "Service {id}"
description = "{description}"
membership = "approved"

[organisation]
name = "Éditeur {id}"
url = "https://{id}.editor.example"

[[contacts]]
kind = "technical"
email = "tech@{id}.editor.example"

[[contacts]]
kind = "security"
email = "security@{id}.editor.example"

[commitments]
data_protection = "Usage limité aux finalités."

[agreement]
requested_on = 2025-06-01
signed_on = 2025-06-01
start = 2025-06-01

[agreement.terms]
initial_duration_months = 36
tacit_renewal_months = 36
notice_months = 6
access_until_end_of_school_year = true

"#
    )
}

/// Writes at `src` (emptied first) the source of the synthetic demo trust domain `test`
/// whose federation certificate is `fed_pem`, without services: a demo domain (so
/// `http://` service URLs on the loopback are accepted) with the demo attribute catalogue.
pub fn write_demo_domain(src: &Path, fed_pem: &str) {
    let _ = std::fs::remove_dir_all(src);
    synthetic::write_domain(
        src,
        &SyntheticDomain {
            id: "test",
            federation_cert_pem: fed_pem,
            sp_cert_pem: fed_pem,
            saml_services: 0,
            cas_services: 0,
            idp_base_url: "https://idp.example",
            start: "2025-06-01",
        },
    )
    .unwrap();
    // A demo domain: http:// service URLs on the loopback are accepted.
    let fed = std::fs::read_to_string(src.join("federation.toml")).unwrap();
    std::fs::write(src.join("federation.toml"), format!("demo = true\n{fed}")).unwrap();
    // The demo catalogue (birth date, postal code, numeric profiles...).
    let catalogue = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/federation/demo/attributes.toml"
    );
    std::fs::copy(catalogue, src.join("attributes.toml")).unwrap();
}

/// Generates a self-signed federation key pair (common name `cn`, 30 days), written to
/// `dir/keys/fed.key` and `dir/keys/fed.crt`; returns those paths and the certificate's PEM.
pub fn federation_keys(dir: &Path, cn: &str) -> (PathBuf, PathBuf, String) {
    let (key, cert) = generate_self_signed(cn, 30).unwrap();
    let keys = dir.join("keys");
    write_pair(&key, &cert, &keys.join("fed.key"), &keys.join("fed.crt")).unwrap();
    (
        keys.join("fed.key"),
        keys.join("fed.crt"),
        String::from_utf8(cert.to_pem().unwrap()).unwrap(),
    )
}

/// One CAS service of the test registry.
pub struct CasService {
    pub id: String,
    /// `prefix` service URL patterns.
    pub prefixes: Vec<String>,
    /// Allowed `pgtUrl`s (HTTPS).
    pub proxy_callbacks: Vec<String>,
    /// `[[releases]]` tables, TOML.
    pub releases: String,
    pub single_logout: bool,
}

impl CasService {
    /// A service matching `prefix`, releasing Pronote's attributes, with single logout.
    pub fn pronote_like(id: &str, prefix: &str) -> Self {
        Self {
            id: id.to_owned(),
            prefixes: vec![prefix.to_owned()],
            proxy_callbacks: Vec::new(),
            releases: PRONOTE_RELEASES.to_owned(),
            single_logout: true,
        }
    }

    fn toml(&self) -> String {
        let mut t = service_header(&self.id, &format!("Service CAS de test {}", self.id));
        let _ = write!(
            t,
            r#"{releases}
[protocol.cas]
user_attribute = "login"
single_logout = {slo}
service_patterns = ["#,
            releases = self.releases,
            slo = self.single_logout,
        );
        let patterns: Vec<String> = self
            .prefixes
            .iter()
            .map(|p| format!("{{ prefix = \"{p}\" }}"))
            .collect();
        let _ = writeln!(t, "{}]", patterns.join(", "));
        let callbacks: Vec<String> = self
            .proxy_callbacks
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect();
        let _ = writeln!(t, "proxy_callbacks = [{}]", callbacks.join(", "));
        t
    }
}

/// A federation key pair and the folder its registry is published to.
pub struct TestRegistry {
    tmp: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
    fed_pem: String,
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRegistry {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (key, cert, fed_pem) = federation_keys(tmp.path(), "Test federation");
        Self {
            key,
            cert,
            fed_pem,
            tmp,
        }
    }

    /// Compiles a demo domain holding `services`, publishes the signed registry and returns
    /// the settings that load it.
    pub fn publish(&self, services: &[CasService]) -> TrustDomainSettings {
        let src = self.tmp.path().join("src");
        write_demo_domain(&src, &self.fed_pem);
        for s in services {
            std::fs::write(src.join(format!("services/{}.toml", s.id)), s.toml()).unwrap();
        }
        let out = self.tmp.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        compile_domain(&src, &self.key, &out, OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("the test domain does not compile: {e:?}"));
        let live = self.tmp.path().join("live");
        std::fs::create_dir_all(&live).unwrap();
        for f in ["registry.json", "registry.json.sig"] {
            std::fs::copy(out.join(f), live.join(f)).unwrap();
        }
        TrustDomainSettings {
            name: "test".into(),
            registry: live.join("registry.json").display().to_string(),
            certificate: self.cert.clone(),
            reload_interval_secs: 1,
        }
    }
}
