//! A test certificate authority generated at run time, and a server certificate it signs for
//! the loopback address (`127.0.0.1` and `localhost`), written as PEM files that Apache,
//! libcurl (mod_auth_cas, phpCAS), Python `requests` and the IdP can be pointed at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509NameBuilder, X509};

/// PEM files: the CA certificate, and the loopback server's certificate and key.
pub struct TestCa {
    /// The CA certificate (what clients trust).
    pub ca_cert: PathBuf,
    /// The server certificate (for 127.0.0.1 and localhost), signed by the CA.
    pub server_cert: PathBuf,
    /// Its private key (PKCS#8).
    pub server_key: PathBuf,
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_text("O", "idp e2e tests").unwrap();
    n.append_entry_by_text("CN", cn).unwrap();
    n.build()
}

fn builder(key: &PKey<Private>, subject: &str) -> openssl::x509::X509Builder {
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(127, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name(subject)).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b
}

impl TestCa {
    /// Generates the CA and the server certificate into `dir` (created if needed).
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut ca = builder(&ca_key, "idp e2e test CA");
        ca.set_issuer_name(&name("idp e2e test CA")).unwrap();
        ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        ca.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        let ski = SubjectKeyIdentifier::new()
            .build(&ca.x509v3_context(None, None))
            .unwrap();
        ca.append_extension(ski).unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = ca.build();

        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut srv = builder(&key, "127.0.0.1");
        srv.set_issuer_name(ca.subject_name()).unwrap();
        srv.append_extension(BasicConstraints::new().build().unwrap())
            .unwrap();
        srv.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()
                .unwrap(),
        )
        .unwrap();
        srv.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&srv.x509v3_context(Some(&ca), None))
            .unwrap();
        srv.append_extension(san).unwrap();
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&srv.x509v3_context(Some(&ca), None))
            .unwrap();
        srv.append_extension(aki).unwrap();
        srv.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let srv = srv.build();

        let out = Self {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        };
        std::fs::write(&out.ca_cert, ca.to_pem().unwrap()).unwrap();
        std::fs::write(&out.server_cert, srv.to_pem().unwrap()).unwrap();
        std::fs::write(&out.server_key, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        out
    }
}
