//! SP metadata written by real SP software joins cleanly: Shibboleth SP's `shib-metagen`,
//! mod_auth_mellon's `mellon_create_metadata`, pysaml2's `entity_descriptor`. The tools run
//! here, now; CI installs them (`.ci/run`), so a missing tool fails with the package to
//! install rather than skipping.

use std::path::Path;
use std::process::Command;

use federation_metadata::lifecycle;
use federation_metadata::model::{Binding, MemberStatus, NameIdFormat};
use federation_metadata::saml_import::{import_sp_metadata, ImportError};
use federation_metadata::source::load_domain;

use super::common::*;

fn tool(path: &str, package: &str) -> String {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package {package} (bash .ci/run does)"
    );
    path.to_owned()
}

/// Writes `cert.pem` / `key.pem` (valid now) into `dir`.
fn sp_keypair(dir: &Path, cn: &str) {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Joins `xml` as `id` into a demo copy with the library, then checks the whole domain
/// (with the new pending file) validates as of today's real date.
fn join_and_validate(d: &Domain, id: &str, xml: &str) -> federation_metadata::model::Service {
    let domain = load_domain(&d.dir).unwrap();
    let imported = import_sp_metadata(xml, id, &domain.federation, TODAY).unwrap();
    let path = lifecycle::write_new_service_with_notes(
        &d.dir,
        &imported.service,
        &imported.notes,
        &imported.requested_attributes,
    )
    .unwrap();
    assert_eq!(path, d.path(&format!("services/{id}.toml")));
    // Certificates made just now: validate as of today.
    let today = time::OffsetDateTime::now_utc().date();
    let problems = d.problems_at(today);
    assert!(
        problems.is_empty(),
        "{}",
        federation_metadata::diagnostic::join(&problems)
    );
    let loaded = load_domain(&d.dir).unwrap();
    let service = loaded.services.into_iter().find(|s| s.id == id).unwrap();
    assert_eq!(service.status_at(today), MemberStatus::Pending);
    assert!(!service.grants_access_at(today));
    assert!(
        service.releases.is_empty(),
        "nothing released before the federation decides"
    );
    service
}

#[test]
fn shibboleth_sp_metadata_joins() {
    let metagen = tool("/usr/bin/shib-metagen", "libapache2-mod-shib");
    let d = Domain::demo();
    let work = tempfile::tempdir().unwrap();
    sp_keypair(work.path(), "sp.example.org");
    let out = Command::new(metagen)
        .args([
            "-h",
            "sp.example.org",
            "-e",
            "https://sp.example.org/shibboleth",
            "-c",
        ])
        .arg(work.path().join("cert.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8(out.stdout).unwrap();
    let s = join_and_validate(&d, "shib-sp", &xml);
    let saml = s.saml().unwrap();
    assert_eq!(saml.entity_id, "https://sp.example.org/shibboleth");
    // SAML 2 POST and PAOS kept; POST-SimpleSign and the SAML 1 endpoint skipped.
    let acs: Vec<_> = saml
        .assertion_consumer_services
        .iter()
        .map(|a| (a.binding, a.index))
        .collect();
    assert_eq!(acs, [(Binding::HttpPost, 1), (Binding::Paos, 3)]);
    assert_eq!(
        saml.assertion_consumer_services[0].location,
        "https://sp.example.org/Shibboleth.sso/SAML2/POST"
    );
    // A KeyDescriptor without `use`: both signing and encryption.
    assert_eq!(saml.signing_certificates.len(), 1);
    assert_eq!(saml.encryption_certificates, saml.signing_certificates);
    let text = d.read("services/shib-sp.toml");
    assert!(
        text.contains("POST-SimpleSign"),
        "the skipped endpoint is noted: {text}"
    );
}

#[test]
fn mellon_metadata_joins() {
    let create = tool(
        "/usr/sbin/mellon_create_metadata",
        "libapache2-mod-auth-mellon",
    );
    let d = Domain::demo();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(create)
        .args([
            "https://sp.example.org/mellon/metadata",
            "https://sp.example.org/mellon",
        ])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = std::fs::read_to_string(work.path().join("https_sp.example.org_mellon_metadata.xml"))
        .unwrap();
    let s = join_and_validate(&d, "mellon-sp", &xml);
    let saml = s.saml().unwrap();
    assert_eq!(saml.entity_id, "https://sp.example.org/mellon/metadata");
    assert!(saml.authn_requests_signed);
    assert_eq!(
        saml.assertion_consumer_services[0].location,
        "https://sp.example.org/mellon/postResponse"
    );
    assert_eq!(
        saml.single_logout_services[0].location,
        "https://sp.example.org/mellon/logout"
    );
    assert_eq!(saml.signing_certificates.len(), 1);
    assert_eq!(saml.encryption_certificates.len(), 1);
}

const PYSAML2: &str = r#"
import sys
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
conf = {
    "entityid": "https://pysaml2-sp.example.org/sp.xml",
    "key_file": sys.argv[2], "cert_file": sys.argv[1],
    "xmlsec_binary": "/usr/bin/xmlsec1",
    "service": {"sp": {
        "name": "Service pysaml2",
        "endpoints": {
            "assertion_consumer_service": [("https://pysaml2-sp.example.org/acs/post", BINDING_HTTP_POST)],
            "single_logout_service": [("https://pysaml2-sp.example.org/slo/redirect", BINDING_HTTP_REDIRECT)],
        },
        "required_attributes": ["uid"], "optional_attributes": ["mail"],
        "name_id_format": ["urn:oasis:names:tc:SAML:2.0:nameid-format:transient"],
        "authn_requests_signed": True, "want_assertions_signed": True,
    }},
    "organization": {"name": "Editeur Exemple", "display_name": "Éditeur & Co", "url": "https://editeur.example.org"},
    "contact_person": [{"given_name": "Ada", "sur_name": "Tech", "email_address": "tech@editeur.example.org", "contact_type": "technical"}],
}
print(str(entity_descriptor(SPConfig().load(conf))))
"#;

#[test]
fn pysaml2_metadata_joins() {
    tool("/usr/bin/xmlsec1", "xmlsec1");
    let d = Domain::demo();
    let work = tempfile::tempdir().unwrap();
    sp_keypair(work.path(), "pysaml2-sp.example.org");
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYSAML2)
        .arg(work.path().join("cert.pem"))
        .arg(work.path().join("key.pem"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pysaml2 failed (install it from PyPI: pip install pysaml2; bash .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8(out.stdout).unwrap();
    let s = join_and_validate(&d, "pysaml2-sp", &xml);
    let saml = s.saml().unwrap();
    assert_eq!(saml.entity_id, "https://pysaml2-sp.example.org/sp.xml");
    assert!(saml.authn_requests_signed && saml.want_assertions_signed);
    assert_eq!(saml.name_id_format, NameIdFormat::Transient);
    assert_eq!(s.organisation.name, "Editeur Exemple");
    assert_eq!(s.organisation.display_name.as_deref(), Some("Éditeur & Co"));
    assert_eq!(s.contacts[0].email, "tech@editeur.example.org");
    assert_eq!(s.contacts[0].name, "Ada Tech");
    let text = d.read("services/pysaml2-sp.toml");
    // The requested attributes are listed for the administrator, not released.
    assert!(
        text.contains("urn:oid:0.9.2342.19200300.100.1.1 (uid), required"),
        "{text}"
    );
}

#[test]
fn cli_join_from_metadata_file_and_cas() {
    let metagen = tool("/usr/bin/shib-metagen", "libapache2-mod-shib");
    let d = Domain::demo();
    let work = tempfile::tempdir().unwrap();
    sp_keypair(work.path(), "cli.example.org");
    let out = Command::new(metagen)
        .args([
            "-h",
            "cli.example.org",
            "-e",
            "https://cli.example.org/shibboleth",
            "-c",
        ])
        .arg(work.path().join("cert.pem"))
        .output()
        .unwrap();
    let file = work.path().join("sp.xml");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = d.fedmeta(&[
        "join",
        "--id",
        "cli-sp",
        "--saml-metadata",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cli-sp: asked to join, pending"),
        "{}",
        stdout(&out)
    );
    // Joining the same id again is refused.
    let out = d.fedmeta(&[
        "join",
        "--id",
        "cli-sp",
        "--saml-metadata",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());

    let out = d.fedmeta(&[
        "join",
        "--id",
        "chamilo",
        "--cas-service",
        "https://chamilo.example.org/main/auth/",
        "--cas-service",
        r"^https://chamilo\.example\.org/index\.php(\?.*)?$",
        "--proxy-callback",
        "https://chamilo.example.org/pgt",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let domain = load_domain(&d.dir).unwrap();
    let chamilo = domain.services.iter().find(|s| s.id == "chamilo").unwrap();
    let cas = chamilo.cas().unwrap();
    assert_eq!(cas.service_patterns.len(), 2);
    assert!(cas.service_patterns[1].matches("https://chamilo.example.org/index.php?x=1"));
    assert_eq!(cas.proxy_callbacks, ["https://chamilo.example.org/pgt"]);
    assert!(d
        .problems_at(time::OffsetDateTime::now_utc().date())
        .is_empty());
}

#[test]
fn hostile_metadata_is_refused() {
    let domain = load_domain(&demo_dir()).unwrap();
    let f = &domain.federation;
    let dtd = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">&e;</md:EntityDescriptor>"#;
    assert!(matches!(
        import_sp_metadata(dtd, "x", f, TODAY),
        Err(ImportError::Dtd)
    ));
    let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(matches!(
        import_sp_metadata(&deep, "x", f, TODAY),
        Err(ImportError::TooComplex)
    ));
    let big = format!("<a>{}</a>", "x".repeat(2 * 1024 * 1024));
    assert!(matches!(
        import_sp_metadata(&big, "x", f, TODAY),
        Err(ImportError::TooLarge)
    ));
    let idp_only = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>"#;
    let err = import_sp_metadata(idp_only, "x", f, TODAY).unwrap_err();
    assert!(err.to_string().contains("no SPSSODescriptor"), "{err}");
}

#[test]
fn join_from_a_metadata_url() {
    use std::io::{Read, Write};
    let d = Domain::demo();
    let pem = std::fs::read_to_string(d.path("federation-signing.crt")).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let xml = format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://url-sp.example.org/sp">
<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://url-sp.example.org/acs" index="0"/>
</md:SPSSODescriptor></md:EntityDescriptor>"#
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metadata.xml", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf).unwrap();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        conn.write_all(response.as_bytes()).unwrap();
    });
    let out = d.fedmeta(&["join", "--id", "url-sp", "--saml-metadata", &url]);
    server.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let domain = load_domain(&d.dir).unwrap();
    let s = domain.services.iter().find(|s| s.id == "url-sp").unwrap();
    assert_eq!(s.saml().unwrap().entity_id, "https://url-sp.example.org/sp");
    assert!(d.problems().is_empty());
}
