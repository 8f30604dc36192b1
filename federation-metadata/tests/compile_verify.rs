//! Compiling a trust domain and verifying what came out: an independent verifier (the
//! `xmlsec1` command of Debian) accepts the aggregate; `verify_file` accepts every artefact
//! and refuses one flipped byte, a wrapped signature, another key and an expired artefact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use federation_metadata::compile::{compile_domain, CompileError};
use federation_metadata::keys::{generate_self_signed, write_pair};
use federation_metadata::synthetic::{self, SyntheticDomain};
use federation_metadata::verify::{verify_file, ArtefactKind, VerifyError};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-27 10:00 UTC);

struct Fixture {
    _tmp: tempfile::TempDir,
    domain: PathBuf,
    key: PathBuf,
    cert: PathBuf,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (key, cert) = generate_self_signed("Test federation", 30).unwrap();
    let (_, sp_cert) = generate_self_signed("sp.example", 365).unwrap();
    let keys = tmp.path().join("keys");
    write_pair(&key, &cert, &keys.join("fed.key"), &keys.join("fed.crt")).unwrap();
    let domain = tmp.path().join("domain");
    let fed_pem = String::from_utf8(cert.to_pem().unwrap()).unwrap();
    let sp_pem = String::from_utf8(sp_cert.to_pem().unwrap()).unwrap();
    synthetic::write_domain(
        &domain,
        &SyntheticDomain {
            id: "test",
            federation_cert_pem: &fed_pem,
            sp_cert_pem: &sp_pem,
            saml_services: 3,
            cas_services: 2,
            idp_base_url: "https://idp.example",
            start: "2026-09-01",
        },
    )
    .unwrap();
    // A pending SAML service: in registry.json, left out of the aggregate.
    let saml0 = std::fs::read_to_string(domain.join("services/saml0.toml")).unwrap();
    let pending = saml0
        .replace("\"saml0\"", "\"pending0\"")
        .replace("sp0.services", "pending0.services")
        .replace("\"approved\"", "\"pending\"");
    std::fs::write(domain.join("services/pending0.toml"), pending).unwrap();
    Fixture {
        out: tmp.path().join("out"),
        domain,
        key: keys.join("fed.key"),
        cert: keys.join("fed.crt"),
        _tmp: tmp,
    }
}

fn compiled() -> Fixture {
    let f = fixture();
    compile_domain(&f.domain, &f.key, &f.out, NOW).unwrap();
    f
}

fn xmlsec1_accepts(file: &Path, cert: &Path, root: &str) -> bool {
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(cert)
        .arg("--id-attr:ID")
        .arg(format!("urn:oasis:names:tc:SAML:2.0:metadata:{root}"))
        .arg(file)
        .output()
        .expect("xmlsec1 (Debian package xmlsec1) must be installed");
    out.status.success()
}

fn flip_byte(path: &Path, needle: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {path:?}"));
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn compile_writes_every_artefact_and_leaves_pending_services_out() {
    let f = fixture();
    let summary = compile_domain(&f.domain, &f.key, &f.out, NOW).unwrap();
    assert_eq!(summary.saml_entities.len(), 4, "{summary}");
    assert_eq!(
        summary.saml_entities[0],
        "https://idp.example/saml/metadata"
    );
    assert_eq!(summary.left_out.len(), 1);
    assert!(summary.left_out[0].0.contains("pending0"));
    assert_eq!(summary.cas_services, 2);
    for file in [
        "metadata.xml",
        "registry.json",
        "registry.json.sig",
        "cas-services.json",
        "cas-services.json.sig",
        "annex.md",
        "annex.html",
    ] {
        assert!(f.out.join(file).exists(), "{file} missing");
    }
    let xml = std::fs::read_to_string(f.out.join("metadata.xml")).unwrap();
    for expected in [
        "Name=\"urn:fr:ent:test:test\"",
        "validUntil=\"2026-12-11T10:00:00Z\"",
        "cacheDuration=\"PT6H\"",
        "<mdrpi:PublicationInfo",
        "<mdrpi:RegistrationInfo",
        "<mdui:UIInfo>",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "<md:RequestedAttribute Name=\"uid\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\" FriendlyName=\"uid\" isRequired=\"true\"/>",
        "isRequired=\"false\"",
        "index=\"0\" isDefault=\"true\"",
        "remd:contactType=\"http://refeds.org/metadata/contactType/security\"",
        "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://idp.example/saml/sso\"/>",
        "Location=\"https://idp.example/saml/slo\"",
        // Escaping of text and attributes.
        "Service saml n°1 &lt;R&amp;D&gt;",
        "acs?a=1&amp;b=2",
    ] {
        assert!(xml.contains(expected), "{expected} not in the aggregate");
    }
    assert!(!xml.contains("pending0.services"));
    assert!(!xml.contains("xmldsig#rsa-sha1"));
    assert_eq!(xml.matches("<md:EntityDescriptor ").count(), 4);
    // The IdP's own descriptor reads as SAML metadata with samael (which cannot read an
    // aggregate with Extensions).
    let idp = &xml[xml.find("<md:EntityDescriptor").unwrap()..];
    let idp = &idp[..idp.find("</md:EntityDescriptor>").unwrap() + 22]
        .replacen("<md:EntityDescriptor", "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" xmlns:remd=\"http://refeds.org/metadata\"", 1);
    let parsed: samael::metadata::EntityDescriptor = idp.parse().unwrap();
    assert_eq!(
        parsed.entity_id.as_deref(),
        Some("https://idp.example/saml/metadata")
    );
}

#[test]
fn xmlsec1_accepts_the_aggregate_and_refuses_a_flipped_byte() {
    let f = compiled();
    let xml = f.out.join("metadata.xml");
    assert!(xmlsec1_accepts(&xml, &f.cert, "EntitiesDescriptor"));
    flip_byte(&xml, "Service saml n");
    assert!(!xmlsec1_accepts(&xml, &f.cert, "EntitiesDescriptor"));
}

#[test]
fn verify_file_accepts_every_artefact() {
    let f = compiled();
    let s = verify_file(&f.out.join("metadata.xml"), &f.cert, NOW).unwrap();
    assert_eq!(s.kind, ArtefactKind::SamlAggregate);
    assert_eq!(s.entries, 4);
    let s = verify_file(&f.out.join("registry.json"), &f.cert, NOW).unwrap();
    assert_eq!(s.kind, ArtefactKind::Registry);
    assert_eq!(s.entries, 6);
    let s = verify_file(&f.out.join("cas-services.json"), &f.cert, NOW).unwrap();
    assert_eq!(s.kind, ArtefactKind::CasRegistry);
    assert_eq!(s.entries, 2);
}

#[test]
fn one_flipped_byte_is_refused() {
    let f = compiled();
    let xml = f.out.join("metadata.xml");
    flip_byte(&xml, "Service saml n");
    assert!(verify_file(&xml, &f.cert, NOW).is_err());
    let json = f.out.join("registry.json");
    flip_byte(&json, "Service saml n");
    assert!(matches!(
        verify_file(&json, &f.cert, NOW),
        Err(VerifyError::Registry(_))
    ));
    let cas = f.out.join("cas-services.json");
    flip_byte(&cas, "cas1.services");
    assert!(verify_file(&cas, &f.cert, NOW).is_err());
}

#[test]
fn another_certificate_and_expired_artefacts_are_refused() {
    let f = compiled();
    let (_, other) = generate_self_signed("Other", 30).unwrap();
    let other_path = f.out.join("other.crt");
    std::fs::write(&other_path, other.to_pem().unwrap()).unwrap();
    for file in ["metadata.xml", "registry.json", "cas-services.json"] {
        assert!(
            verify_file(&f.out.join(file), &other_path, NOW).is_err(),
            "{file}"
        );
        let later = NOW + time::Duration::days(14);
        let err = verify_file(&f.out.join(file), &f.cert, later).unwrap_err();
        assert!(err.to_string().contains("xpired"), "{file}: {err}");
    }
    assert!(!xmlsec1_accepts(
        &f.out.join("metadata.xml"),
        &other_path,
        "EntitiesDescriptor"
    ));
}

#[test]
fn a_signed_aggregate_wrapped_in_a_forged_root_is_refused() {
    let f = compiled();
    let path = f.out.join("metadata.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let body = &xml[xml.find("<md:EntitiesDescriptor").unwrap()..];
    let forged = format!(
        "<?xml version=\"1.0\"?>\n<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
         ID=\"_forged\" Name=\"urn:evil\" validUntil=\"2030-01-01T00:00:00Z\">\
         <md:EntityDescriptor entityID=\"https://evil.example/sp\"><md:SPSSODescriptor \
         protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
         Location=\"https://evil.example/acs\" index=\"0\"/></md:SPSSODescriptor></md:EntityDescriptor>\
         {body}</md:EntitiesDescriptor>"
    );
    std::fs::write(&path, forged).unwrap();
    let err = verify_file(&path, &f.cert, NOW).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(_)), "{err}");

    // The genuine signature moved under a forged root that reuses the signed root's ID.
    let sig_start = xml.find("<ds:Signature").unwrap();
    let sig_end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let signature = &xml[sig_start..sig_end];
    let id_start = xml.find(" ID=\"").unwrap() + 5;
    let id = &xml[id_start..id_start + xml[id_start..].find('"').unwrap()];
    let forged = format!(
        "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" ID=\"{id}\" \
         validUntil=\"2030-01-01T00:00:00Z\">{signature}\
         <md:EntityDescriptor entityID=\"https://evil.example/sp\"/></md:EntitiesDescriptor>"
    );
    std::fs::write(&path, forged).unwrap();
    assert!(verify_file(&path, &f.cert, NOW).is_err());
}

#[test]
fn compile_refuses_a_key_that_is_not_the_federation_s() {
    let f = fixture();
    let (key, cert) = generate_self_signed("Impostor", 30).unwrap();
    let other_key = f.out.with_file_name("impostor.key");
    write_pair(
        &key,
        &cert,
        &other_key,
        &f.out.with_file_name("impostor.crt"),
    )
    .unwrap();
    let err = compile_domain(&f.domain, &other_key, &f.out, NOW).unwrap_err();
    assert!(matches!(err, CompileError::KeyMismatch), "{err}");
    assert!(!f.out.join("metadata.xml").exists());
}

#[test]
fn compile_refuses_an_invalid_domain() {
    let f = fixture();
    let path = f.domain.join("services/saml1.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("source = \"login\"", "source = \"nope\""),
    )
    .unwrap();
    let err = compile_domain(&f.domain, &f.key, &f.out, NOW).unwrap_err();
    assert!(matches!(err, CompileError::Invalid(_)), "{err}");
}
