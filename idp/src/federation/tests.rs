#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use federation_metadata::compile::compile_domain;
use federation_metadata::keys::{generate_self_signed, write_pair};
use federation_metadata::model::{MembershipState, Registry, Termination};
use federation_metadata::signed_registry::write_signed;
use federation_metadata::synthetic::{self, cas_service_url, saml_entity_id, SyntheticDomain};
use time::macros::{date, datetime};
use time::OffsetDateTime;

use super::*;
use crate::audit::MemoryAudit;
use crate::ports::ManualClock;
use crate::settings::TrustDomainSettings;

const NOW: OffsetDateTime = datetime!(2026-11-27 10:00 UTC);

/// A compiled registry of 3 SAML and 2 CAS services where `saml1` is pending and `cas1`
/// left on 2026-12-31 (access until 31 August 2027 under the school-year rule).
fn registry(tmp: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let (key, cert) = generate_self_signed("fed", 30).unwrap();
    let (key_path, cert_path) = (tmp.path().join("fed.key"), tmp.path().join("fed.crt"));
    write_pair(&key, &cert, &key_path, &cert_path).unwrap();
    let pem = String::from_utf8(cert.to_pem().unwrap()).unwrap();
    let domain = tmp.path().join("domain");
    synthetic::write_domain(
        &domain,
        &SyntheticDomain {
            id: "t",
            federation_cert_pem: &pem,
            sp_cert_pem: &pem,
            saml_services: 3,
            cas_services: 2,
            idp_base_url: "https://idp.example",
            start: "2026-09-01",
        },
    )
    .unwrap();
    let out = tmp.path().join("out");
    compile_domain(&domain, &key_path, &out, NOW).unwrap();
    let path = out.join("registry.json");
    let mut r: Registry = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for s in &mut r.services {
        if s.id == "saml1" {
            s.membership = MembershipState::Pending;
        }
        if s.id == "cas1" {
            s.agreement.termination = Some(Termination {
                requested_on: date!(2026 - 11 - 20),
                on: date!(2026 - 12 - 31),
                reason: String::new(),
            });
        }
    }
    write_signed(&r, &path, &key).unwrap();
    (path, cert_path)
}

fn start(tmp: &tempfile::TempDir, clock: Arc<ManualClock>) -> (Arc<Federation>, Arc<MemoryAudit>) {
    let (registry, certificate) = registry(tmp);
    let settings = FederationSettings {
        domains: vec![TrustDomainSettings {
            name: "t".into(),
            registry: registry.display().to_string(),
            certificate,
            reload_interval_secs: 1,
        }],
    };
    let audit = Arc::new(MemoryAudit::default());
    (
        Federation::start(&settings, audit.clone(), clock).unwrap(),
        audit,
    )
}

#[test]
fn only_services_granting_access_are_returned() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, audit) = start(&tmp, Arc::new(ManualClock::new(NOW)));
    assert!(matches!(
        audit.events().as_slice(),
        [AuditEvent::RegistryLoaded { services: 5, .. }]
    ));
    assert_eq!(
        f.service_for_saml_entity(&saml_entity_id(0), NOW)
            .unwrap()
            .id,
        "saml0"
    );
    assert!(
        f.service_for_saml_entity(&saml_entity_id(1), NOW).is_none(),
        "pending"
    );
    assert!(f.service_for_saml_entity("https://unknown", NOW).is_none());
    assert_eq!(
        f.service_for_cas_url(&cas_service_url(0), NOW).unwrap().id,
        "cas0"
    );
    assert!(f
        .service_for_cas_url("https://cas0.services.example.evil/app/", NOW)
        .is_none());
    // Leaving: served until the end of the school year, not after.
    let summer = datetime!(2027-08-31 12:00 UTC);
    let autumn = datetime!(2027-09-01 12:00 UTC);
    assert_eq!(
        f.service_for_cas_url(&cas_service_url(1), NOW).unwrap().id,
        "cas1"
    );
    // The registry itself is only valid 14 days: past that, nothing at all.
    assert!(f.service_for_cas_url(&cas_service_url(1), summer).is_none());
    assert!(f.service_for_cas_url(&cas_service_url(1), autumn).is_none());
    assert!(f
        .service_for_saml_entity(&saml_entity_id(0), NOW + time::Duration::days(14))
        .is_none());
}

#[test]
fn the_expiry_of_the_registry_in_force_is_reported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let (f, audit) = start(&tmp, clock.clone());
    clock.advance(std::time::Duration::from_secs(15 * 86_400));
    f.check_all(true);
    f.check_all(true);
    let refused: Vec<_> = audit
        .events()
        .into_iter()
        .filter(|e| matches!(e, AuditEvent::RegistryRefused { .. }))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
}

#[test]
fn a_missing_registry_is_reported_once_and_the_domain_stays_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, cert) = generate_self_signed("fed", 30).unwrap();
    let cert_path = tmp.path().join("fed.crt");
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    let settings = FederationSettings {
        domains: vec![TrustDomainSettings {
            name: "t".into(),
            registry: tmp.path().join("nope.json").display().to_string(),
            certificate: cert_path,
            reload_interval_secs: 1,
        }],
    };
    let audit = Arc::new(MemoryAudit::default());
    let f = Federation::start(&settings, audit.clone(), Arc::new(ManualClock::new(NOW))).unwrap();
    f.check_all(true);
    assert_eq!(audit.events().len(), 1);
    assert!(f.registries_at(NOW).is_empty());
}

/// A one-file HTTP server: `GET /registry.json` with an ETag (304 when it matches), and
/// `GET /registry.json.sig`. Returns its base URL and the requests it saw.
fn serve(registry: Vec<u8>, signature: Vec<u8>) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_owned());
            }
            let request = head.join(" | ");
            log.lock().unwrap().push(request.clone());
            let (status, body): (&str, &[u8]) = if request.starts_with("GET /registry.json.sig") {
                ("200 OK", &signature)
            } else if request
                .to_ascii_lowercase()
                .contains("if-none-match: \"v1\"")
            {
                ("304 Not Modified", b"")
            } else {
                ("200 OK", &registry)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nETag: \"v1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    (url, seen)
}

#[test]
fn a_registry_by_url_is_fetched_then_revalidated_with_a_conditional_get() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, certificate) = registry(&tmp);
    let sig = federation_metadata::signed_registry::signature_path(&path);
    let (url, seen) = serve(std::fs::read(&path).unwrap(), std::fs::read(sig).unwrap());
    let settings = FederationSettings {
        domains: vec![TrustDomainSettings {
            name: "t".into(),
            registry: format!("{url}/registry.json"),
            certificate,
            reload_interval_secs: 1,
        }],
    };
    let audit = Arc::new(MemoryAudit::default());
    let f = Federation::start(&settings, audit.clone(), Arc::new(ManualClock::new(NOW))).unwrap();
    assert!(f.service_for_saml_entity(&saml_entity_id(0), NOW).is_some());
    f.check_all(true);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests[2]
        .to_ascii_lowercase()
        .contains("if-none-match: \"v1\""));
    // Not modified: nothing reloaded, nothing refused.
    assert_eq!(audit.events().len(), 1, "{:?}", audit.events());
}

/// The standard SHA-1 test vectors (FIPS 180 "abc" and the empty string), hex lower case.
#[test]
fn sha1_hex_is_sha1() {
    assert_eq!(
        super::sha1_hex("abc"),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        super::sha1_hex(""),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    );
}
