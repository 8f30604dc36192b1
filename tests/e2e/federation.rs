//! The federation registry in the running IdP: a signed registry is loaded at start and
//! followed; a tampered, unsigned or expired one is refused (log line, audit event) and the
//! last good one stays in force; the IdP publishes its own signed metadata and, Metadata
//! Query style, each registered entity's, which an independent verifier (`xmlsec1`) accepts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use federation_metadata::compile::compile_domain;
use federation_metadata::keys::{generate_self_signed, load_private_key, write_pair};
use federation_metadata::model::Registry;
use federation_metadata::signed_registry;
use federation_metadata::synthetic::{self, saml_entity_id, SyntheticDomain};
use idp::audit::AuditEvent;
use idp::settings::TrustDomainSettings;
use idp_tests::TestIdp;
use time::OffsetDateTime;

struct Federation {
    tmp: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
    fed_pem: String,
    sp_pem: String,
}

impl Federation {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (key, cert) = generate_self_signed("Test federation", 30).unwrap();
        let (_, sp) = generate_self_signed("sp.example", 30).unwrap();
        let keys = tmp.path().join("keys");
        write_pair(&key, &cert, &keys.join("fed.key"), &keys.join("fed.crt")).unwrap();
        Self {
            key: keys.join("fed.key"),
            cert: keys.join("fed.crt"),
            fed_pem: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
            sp_pem: String::from_utf8(sp.to_pem().unwrap()).unwrap(),
            tmp,
        }
    }

    /// Compiles a domain of `saml` SAML and one CAS service at `at` into `out`.
    fn compile(&self, name: &str, saml: usize, at: OffsetDateTime) -> PathBuf {
        let domain = self.tmp.path().join(format!("src-{name}"));
        synthetic::write_domain(
            &domain,
            &SyntheticDomain {
                id: "test",
                federation_cert_pem: &self.fed_pem,
                sp_cert_pem: &self.sp_pem,
                saml_services: saml,
                cas_services: 1,
                idp_base_url: "https://idp.example",
                start: "2026-09-01",
            },
        )
        .unwrap();
        let out = self.tmp.path().join(format!("out-{name}"));
        compile_domain(&domain, &self.key, &out, at).unwrap();
        out
    }

    /// Where the IdP reads its registry.
    fn live(&self) -> PathBuf {
        self.tmp.path().join("live")
    }

    fn publish(&self, out: &Path) {
        std::fs::create_dir_all(self.live()).unwrap();
        for f in ["registry.json", "registry.json.sig"] {
            std::fs::copy(out.join(f), self.live().join(f)).unwrap();
        }
    }

    fn settings(&self) -> TrustDomainSettings {
        TrustDomainSettings {
            name: "test".into(),
            registry: self.live().join("registry.json").display().to_string(),
            certificate: self.cert.clone(),
            reload_interval_secs: 1,
        }
    }
}

/// Raw GET (the test browser decodes entities, which would break signatures).
fn get(url: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent.get(url).call().unwrap();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let status = res.status().as_u16();
    (status, ct, res.body_mut().read_to_string().unwrap())
}

fn xmlsec1_accepts(xml: &str, cert: &Path, root: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, xml).unwrap();
    Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(cert)
        .arg("--id-attr:ID")
        .arg(format!("urn:oasis:names:tc:SAML:2.0:metadata:{root}"))
        .arg(&file)
        .output()
        .expect("xmlsec1 must be installed")
        .status
        .success()
}

fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn loaded(idp: &TestIdp) -> usize {
    idp.events()
        .iter()
        .filter(|e| matches!(e, AuditEvent::RegistryLoaded { .. }))
        .count()
}

fn refusals(idp: &TestIdp) -> Vec<String> {
    idp.events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::RegistryRefused { domain, reason } => {
                assert_eq!(domain, "test");
                Some(reason)
            }
            _ => None,
        })
        .collect()
}

/// Waits (up to 10 s) for `cond`.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn idp_cert(idp: &TestIdp) -> PathBuf {
    idp.settings.data_dir().join("saml/idp-signing.crt")
}

fn entity_url(idp: &TestIdp, i: usize) -> String {
    idp.at(&format!("/entities/{}", encode(&saml_entity_id(i))))
}

#[test]
fn the_idp_publishes_its_own_signed_metadata() {
    let idp = TestIdp::start();
    let (status, ct, body) = get(&idp.at("/saml/metadata"));
    assert_eq!(status, 200);
    assert_eq!(ct, "application/samlmetadata+xml");
    assert!(body.contains("entityID=\"http://localhost:8080/saml/metadata\""));
    assert!(body.contains("<md:IDPSSODescriptor"));
    assert!(body.contains("Location=\"http://localhost:8080/saml/sso\""));
    assert!(body.contains("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
    assert!(xmlsec1_accepts(&body, &idp_cert(&idp), "EntityDescriptor"));
    // Generated on first start with a private key only its owner can read.
    let key = idp.settings.data_dir().join("saml/idp-signing.key");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The IdP's own entity by MDQ too.
    let (status, _, _) = get(&idp.at(&format!(
        "/entities/{}",
        encode("http://localhost:8080/saml/metadata")
    )));
    assert_eq!(status, 200);
}

#[test]
fn registered_entities_are_served_signed_and_unknown_ones_are_404() {
    let fed = Federation::new();
    let out = fed.compile("a", 2, OffsetDateTime::now_utc());
    fed.publish(&out);
    let domain = fed.settings();
    let idp = TestIdp::start_with(|s| s.federation.domains = vec![domain]);
    assert_eq!(loaded(&idp), 1, "{:?}", idp.events());

    let (status, ct, body) = get(&entity_url(&idp, 1));
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/samlmetadata+xml");
    assert!(body.contains(&format!("entityID=\"{}\"", saml_entity_id(1))));
    assert!(body.contains("<md:SPSSODescriptor"));
    assert!(xmlsec1_accepts(&body, &idp_cert(&idp), "EntityDescriptor"));
    // Not by the federation's key: the IdP signs what it serves.
    assert!(!xmlsec1_accepts(&body, &fed.cert, "EntityDescriptor"));

    let sha1 = idp::federation::sha1_hex(&saml_entity_id(0));
    let (status, _, body) = get(&idp.at(&format!("/entities/%7Bsha1%7D{sha1}")));
    assert_eq!(status, 200);
    assert!(body.contains(&saml_entity_id(0)));

    let (status, _, _) = get(&idp.at("/entities/https%3A%2F%2Funknown.example%2Fsp"));
    assert_eq!(status, 404);
    let (status, _, _) = get(&idp.at("/entities/%7Bsha1%7D0000"));
    assert_eq!(status, 404);
}

#[test]
fn tampered_unsigned_and_expired_registries_are_refused_and_the_last_good_one_stays() {
    let fed = Federation::new();
    let now = OffsetDateTime::now_utc();
    let good = fed.compile("good", 2, now);
    fed.publish(&good);
    let domain = fed.settings();
    let idp = TestIdp::start_with(|s| s.federation.domains = vec![domain]);
    assert_eq!(loaded(&idp), 1);
    assert_eq!(get(&entity_url(&idp, 1)).0, 200);

    // One flipped byte.
    let live = fed.live().join("registry.json");
    let mut bytes = std::fs::read(&live).unwrap();
    let at = String::from_utf8_lossy(&bytes)
        .find("Service saml")
        .unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&live, bytes).unwrap();
    wait_for("refusal of the tampered registry", || {
        !refusals(&idp).is_empty()
    });
    assert!(
        refusals(&idp)[0].contains("signature"),
        "{:?}",
        refusals(&idp)
    );
    assert_eq!(get(&entity_url(&idp, 1)).0, 200, "the last good one stays");
    let audit_file = std::fs::read_to_string(&idp.audit_path).unwrap();
    assert!(audit_file.contains("\"event\":\"registry_refused\""));

    // Unsigned.
    std::fs::copy(good.join("registry.json"), &live).unwrap();
    std::fs::remove_file(fed.live().join("registry.json.sig")).unwrap();
    wait_for("refusal of the unsigned registry", || {
        refusals(&idp).len() >= 2
    });
    assert_eq!(get(&entity_url(&idp, 1)).0, 200);

    // Expired: the good registry with 3 services, properly signed, stamped 20 days ago.
    let bigger = fed.compile("bigger", 3, now);
    let mut old: Registry =
        serde_json::from_slice(&std::fs::read(bigger.join("registry.json")).unwrap()).unwrap();
    old.issued_at = now - time::Duration::days(20);
    old.valid_until = now - time::Duration::days(6);
    let key = load_private_key(&fed.key).unwrap();
    signed_registry::write_signed(&old, &live, &key).unwrap();
    wait_for("refusal of the expired registry", || {
        refusals(&idp).iter().any(|r| r.contains("expired"))
    });
    assert_eq!(
        get(&entity_url(&idp, 2)).0,
        404,
        "the expired one is not used"
    );
    assert_eq!(loaded(&idp), 1);

    // A new good registry is taken.
    let newer = fed.compile("newer", 3, OffsetDateTime::now_utc());
    fed.publish(&newer);
    wait_for("the new registry", || loaded(&idp) == 2);
    assert_eq!(get(&entity_url(&idp, 2)).0, 200);
}

#[test]
fn a_registry_signed_by_another_key_is_never_loaded() {
    let fed = Federation::new();
    let out = fed.compile("a", 1, OffsetDateTime::now_utc());
    fed.publish(&out);
    let (_, other) = generate_self_signed("Other", 30).unwrap();
    let other_path = fed.tmp.path().join("other.crt");
    std::fs::write(&other_path, other.to_pem().unwrap()).unwrap();
    let mut domain = fed.settings();
    domain.certificate = other_path;
    let idp = TestIdp::start_with(|s| s.federation.domains = vec![domain]);
    assert_eq!(loaded(&idp), 0);
    assert_eq!(refusals(&idp).len(), 1);
    assert_eq!(get(&entity_url(&idp, 0)).0, 404);
}

#[test]
fn the_demo_trust_domain_compiles_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = idp::cli::demo::settings_for(
        idp_tests::test_settings(),
        &tmp.path().join("d"),
        "127.0.0.1:0",
    );
    idp::cli::demo::prepare_federation(&mut settings).unwrap();
    assert_eq!(settings.federation.domains.len(), 1);
    let federation = settings.federation.clone();
    let idp = TestIdp::start_with(|s| s.federation = federation);
    assert_eq!(loaded(&idp), 1, "{:?}", idp.events());
    let gar = encode("https://sp-auth.partenaire.gar.education.fr/demo");
    assert_eq!(get(&idp.at(&format!("/entities/{gar}"))).0, 200);
    // Moodle asked to join and is not approved yet.
    let moodle = encode("https://moodle.ac-demo.example/auth/saml2/sp/metadata.php");
    assert_eq!(get(&idp.at(&format!("/entities/{moodle}"))).0, 404);
}

#[test]
fn trust_domains_side_by_side_each_trusted_with_its_own_certificate() {
    let region = Federation::new();
    let gar = Federation::new();
    let now = OffsetDateTime::now_utc();
    region.publish(&region.compile("r", 1, now));
    gar.publish(&gar.compile("g", 3, now));
    let mut a = region.settings();
    a.name = "region".into();
    let mut b = gar.settings();
    b.name = "gar".into();
    // The GAR registry configured a second time with the region's certificate: refused.
    let mut crossed = b.clone();
    crossed.name = "crossed".into();
    crossed.certificate = region.cert.clone();
    let idp = TestIdp::start_with(|s| s.federation.domains = vec![a, b, crossed]);
    assert_eq!(loaded(&idp), 2, "{:?}", idp.events());
    let refused: Vec<String> = idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::RegistryRefused { domain, .. } => Some(domain),
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec!["crossed".to_string()]);
    // sp2 exists only in the GAR domain, sp0 in both.
    assert_eq!(get(&entity_url(&idp, 2)).0, 200);
    assert_eq!(get(&entity_url(&idp, 0)).0, 200);
    assert_eq!(get(&entity_url(&idp, 3)).0, 404);
}
