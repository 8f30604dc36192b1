//! The fast signatures are checked by independent verifiers: libxmlsec1 through
//! `federation_metadata::xmlsig::verify_enveloped`, and the `xmlsec1 --verify` CLI (which
//! also accepts two signatures in one document, and SHA-1). Both canonicalize the parsed
//! document themselves, so a byte written here that is not canonical fails the digest.

use std::sync::OnceLock;

use base64::Engine as _;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use time::macros::datetime;

use super::{attr_value, text, xml_chars_ok, SigningKey};
use crate::protocols::saml::response::{self, AssertionData, Signing};
use crate::release::Released;
use federation_metadata::model::{NameFormat, NameIdFormat, SignatureAlgorithm};
use federation_metadata::xmlsig::verify_enveloped;

const ISSUER: &str = "https://idp.example/saml/metadata";
const ACS: &str = "https://sp.example/acs?a=1&b=2";

fn idp() -> &'static (PKey<Private>, X509) {
    static PAIR: OnceLock<(PKey<Private>, X509)> = OnceLock::new();
    PAIR.get_or_init(|| federation_metadata::keys::generate_self_signed("idp", 1).unwrap())
}

fn released(name: &str, values: &[&str]) -> (Released, &'static str) {
    (
        Released {
            name: name.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        },
        NameFormat::Basic.urn(),
    )
}

/// Values that every escaping rule touches.
const AWKWARD: [&str; 9] = [
    "a & b < c > d",
    "\"double\" and 'single'",
    "tab\there",
    "line\nfeed",
    "carriage\rreturn\r\nand CRLF",
    "Hélène Lefèvre-Durand",
    "emoji 🎓 and 𝄞",
    "",
    "]]> and &amp; already escaped",
];

fn data(attributes: Vec<(Released, &'static str)>) -> AssertionData {
    let now = datetime!(2026-11-27 05:00 UTC);
    AssertionData {
        issuer: ISSUER.into(),
        audience: "https://sp.example/entity?x=1&y=\"2\"".into(),
        recipient: ACS.into(),
        in_response_to: Some("_req\"<&>'".into()),
        name_id: "n<&>\"'é".into(),
        name_id_format: NameIdFormat::Transient.urn(),
        session_index: "_s1".into(),
        authn_instant: now - time::Duration::minutes(5),
        session_not_on_or_after: Some(now + time::Duration::hours(10)),
        now,
        lifetime: time::Duration::seconds(300),
        attributes,
    }
}

fn signing(sign_assertion: bool, sign_response: bool, algorithm: &'static str) -> Signing {
    let (key, cert) = idp();
    Signing {
        key: std::sync::Arc::new(SigningKey::new(key.clone(), &cert.to_der().unwrap())),
        algorithm,
        sign_assertion,
        sign_response,
        encrypt_for: None,
    }
}

fn build(d: Option<&AssertionData>, s: &Signing) -> Result<String, response::SignError> {
    response::build_response(
        ISSUER,
        ACS,
        Some("_req\"<&>'"),
        datetime!(2026-11-27 05:00 UTC),
        None,
        d,
        s,
    )
}

fn assertion_of(xml: &str) -> &str {
    let start = xml.find("<saml:Assertion ").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    &xml[start..end]
}

/// `xmlsec1 --verify` of the first signature in `xml` (document order), the element
/// holding it found by its `ID` attribute. True when it verifies.
fn xmlsec1_verifies(xml: &str, id_node: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("idp.pem");
    std::fs::write(&cert, idp().1.to_pem().unwrap()).unwrap();
    let doc = dir.path().join("doc.xml");
    std::fs::write(&doc, xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&cert)
        .args(["--id-attr:ID", id_node])
        .arg(&doc)
        .output()
        .expect("xmlsec1 (deploy/build-deps.sh --tests installs it)");
    if !out.status.success() {
        eprintln!("xmlsec1: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

const RESPONSE_NODE: &str = "urn:oasis:names:tc:SAML:2.0:protocol:Response";
const ASSERTION_NODE: &str = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion";

/// The text of every `AttributeValue`, read back by an XML parser.
fn values_read_back(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut out = Vec::new();
    let mut current = String::new();
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"saml:AttributeValue" => {
                inside = true;
                current.clear();
            }
            quick_xml::events::Event::Text(t) if inside => {
                current.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0).unwrap());
            }
            quick_xml::events::Event::GeneralRef(r) if inside => {
                let name = r.decode().unwrap();
                let c = match name.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => r.resolve_char_ref().unwrap().unwrap(),
                };
                current.push(c);
            }
            quick_xml::events::Event::End(e) if e.name().as_ref() == b"saml:AttributeValue" => {
                inside = false;
                out.push(current.clone());
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn canonical_escaping() {
    assert_eq!(
        text("a&b<c>d\"e'f\tg\nh\ri"),
        "a&amp;b&lt;c&gt;d\"e'f\tg\nh&#xD;i"
    );
    assert_eq!(
        attr_value("a&b<c>d\"e'f\tg\nh\ri"),
        "a&amp;b&lt;c>d&quot;e'f&#x9;g&#xA;h&#xD;i"
    );
    assert_eq!(text("é🎓"), "é🎓");
    assert!(xml_chars_ok("\t\n\r é 🎓"));
    assert!(!xml_chars_ok("a\u{1}b"));
    assert!(!xml_chars_ok("\u{FFFE}"));
}

#[test]
fn assertion_with_awkward_values_verifies() {
    let mut attributes = vec![released("awkward", &AWKWARD)];
    for i in 0..40 {
        attributes.push(released(&format!("attr{i}"), &[&format!("value {i}")]));
    }
    let d = data(attributes);
    let xml = build(
        Some(&d),
        &signing(true, false, SignatureAlgorithm::RsaSha256.uri()),
    )
    .unwrap();
    let assertion = assertion_of(&xml);
    let v = verify_enveloped(assertion, &idp().1).unwrap();
    assert_eq!(v.root_name, "Assertion");
    assert!(xmlsec1_verifies(&xml, ASSERTION_NODE));
    // The values come back exactly, CR included.
    let back = values_read_back(assertion);
    assert_eq!(&back[..AWKWARD.len()], &AWKWARD);
    assert_eq!(back.len(), AWKWARD.len() + 40);
    assert!(assertion.contains(" SessionNotOnOrAfter=\"2026-11-27T15:00:00Z\""));
    assert!(!xml.contains("/>"), "no self-closing tag: {xml}");
}

#[test]
fn one_changed_byte_fails() {
    let d = data(vec![released("uid", &["camille"])]);
    let xml = build(
        Some(&d),
        &signing(true, false, SignatureAlgorithm::RsaSha256.uri()),
    )
    .unwrap();
    let assertion = assertion_of(&xml);
    assert!(verify_enveloped(assertion, &idp().1).is_ok());
    let tampered = assertion.replace(">camille<", ">camillf<");
    assert_ne!(tampered, assertion);
    assert!(verify_enveloped(&tampered, &idp().1).is_err());
    // A byte of the signature value itself.
    let at = assertion.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let mut bytes = assertion.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert!(verify_enveloped(&tampered, &idp().1).is_err());
}

#[test]
fn response_and_assertion_signed() {
    let d = data(vec![released("awkward", &AWKWARD)]);
    let xml = build(
        Some(&d),
        &signing(true, true, SignatureAlgorithm::RsaSha256.uri()),
    )
    .unwrap();
    assert_eq!(xml.matches("<ds:SignatureValue>").count(), 2);
    // The Response's signature is the first in document order; its digest covers the
    // assertion with the assertion's own signature.
    assert!(xmlsec1_verifies(&xml, RESPONSE_NODE));
    assert!(verify_enveloped(assertion_of(&xml), &idp().1).is_ok());
    let tampered = xml.replace(
        "Version=\"2.0\"><saml:Issuer>",
        "Version=\"2.0\"><saml:Issuer> ",
    );
    assert_ne!(tampered, xml);
    assert!(!xmlsec1_verifies(&tampered, RESPONSE_NODE));
}

#[test]
fn response_signed_alone() {
    let d = data(vec![released("awkward", &AWKWARD)]);
    let xml = build(
        Some(&d),
        &signing(false, true, SignatureAlgorithm::RsaSha256.uri()),
    )
    .unwrap();
    let v = verify_enveloped(&xml, &idp().1).unwrap();
    assert_eq!(v.root_name, "Response");
    // A status-only answer too.
    let refusal = response::build_response(
        ISSUER,
        ACS,
        None,
        datetime!(2026-11-27 05:00 UTC),
        Some(crate::protocols::saml::error::Status::Responder),
        None,
        &signing(true, true, SignatureAlgorithm::RsaSha256.uri()),
    )
    .unwrap();
    assert!(verify_enveloped(&refusal, &idp().1).is_ok());
}

#[test]
fn rsa_sha512_and_sha1() {
    let d = data(vec![released("awkward", &AWKWARD)]);
    let xml = build(
        Some(&d),
        &signing(true, false, SignatureAlgorithm::RsaSha512.uri()),
    )
    .unwrap();
    assert!(xml.contains("xmldsig-more#rsa-sha512"));
    assert!(verify_enveloped(assertion_of(&xml), &idp().1).is_ok());
    // SHA-1 (signature and digest): only the CLI still accepts it here.
    let xml = build(
        Some(&d),
        &signing(true, true, SignatureAlgorithm::RsaSha1.uri()),
    )
    .unwrap();
    assert!(xml.contains("xmldsig#rsa-sha1") && xml.contains("xmldsig#sha1\""));
    assert!(!xml.contains("xmlenc#sha256"));
    assert!(xmlsec1_verifies(&xml, RESPONSE_NODE));
    assert!(xmlsec1_verifies(assertion_of(&xml), ASSERTION_NODE));
    let tampered = xml.replace("Hélène", "Helene");
    assert!(!xmlsec1_verifies(&tampered, RESPONSE_NODE));
}

/// Opens the `EncryptedAssertion` of `xml` with the SP's key (RSA-OAEP, AES-256-GCM).
fn decrypt(xml: &str, key: &PKey<Private>) -> String {
    let values: Vec<&str> = xml
        .split("<xenc:CipherValue>")
        .skip(1)
        .map(|s| s.split("</xenc:CipherValue>").next().unwrap())
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let wrapped = b64.decode(values[0]).unwrap();
    let data = b64.decode(values[1]).unwrap();
    let rsa = key.rsa().unwrap();
    let mut aes = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(&wrapped, &mut aes, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    let (iv, rest) = data.split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    let plain = openssl::symm::decrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        &aes[..n],
        Some(iv),
        &[],
        ciphertext,
        tag,
    )
    .unwrap();
    String::from_utf8(plain).unwrap()
}

#[test]
fn encrypted_assertion_in_a_signed_response() {
    let (sp_key, sp_cert) = federation_metadata::keys::generate_self_signed("sp", 1).unwrap();
    let mut s = signing(true, true, SignatureAlgorithm::RsaSha256.uri());
    s.encrypt_for = Some(sp_cert.public_key().unwrap());
    let d = data(vec![released("awkward", &AWKWARD)]);
    let xml = build(Some(&d), &s).unwrap();
    assert!(!xml.contains("<saml:Assertion "));
    assert!(!xml.contains("/>"), "no self-closing tag: {xml}");
    // One signature left in the document (the assertion's is encrypted): the strict check.
    assert!(verify_enveloped(&xml, &idp().1).is_ok());
    let assertion = decrypt(&xml, &sp_key);
    assert!(verify_enveloped(&assertion, &idp().1).is_ok());
    assert_eq!(values_read_back(&assertion), AWKWARD);
}

#[test]
fn characters_xml_cannot_hold() {
    let d = data(vec![
        released("mixed", &["fine", "bell\u{7}", "also fine"]),
        released("only_bad", &["\u{0}"]),
    ]);
    let xml = build(
        Some(&d),
        &signing(true, false, SignatureAlgorithm::RsaSha256.uri()),
    )
    .unwrap();
    let assertion = assertion_of(&xml);
    assert!(verify_enveloped(assertion, &idp().1).is_ok());
    assert_eq!(values_read_back(assertion), ["fine", "also fine"]);
    assert!(!assertion.contains("only_bad"));
    // Anything else is refused rather than written as invalid XML.
    let mut d = data(Vec::new());
    d.name_id = "n\u{1}".into();
    assert!(build(
        Some(&d),
        &signing(true, false, SignatureAlgorithm::RsaSha256.uri())
    )
    .is_err());
}

/// Random values from an alphabet of every escaping case, ASCII and not: each signed
/// assertion verifies and gives its values back.
#[test]
fn random_values_verify() {
    use rand::{Rng as _, SeedableRng as _};
    const ALPHABET: [char; 16] = [
        'a', 'Z', '0', ' ', '&', '<', '>', '"', '\'', '\t', '\n', '\r', 'é', '€', '🎓', ';',
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5a41_4d4c);
    for _ in 0..25 {
        let values: Vec<String> = (0..rng.random_range(1..5))
            .map(|_| {
                (0..rng.random_range(0..24))
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                    .collect()
            })
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let d = data(vec![released("random", &refs)]);
        let xml = build(
            Some(&d),
            &signing(true, true, SignatureAlgorithm::RsaSha256.uri()),
        )
        .unwrap();
        let assertion = assertion_of(&xml);
        assert!(verify_enveloped(assertion, &idp().1).is_ok(), "{values:?}");
        assert_eq!(values_read_back(assertion), values);
    }
}

#[test]
fn unwritable_values_are_left_out_before_the_audit_names_them() {
    let kept = response::writable(vec![
        released("mail", &["lea@example.org", "bad\u{1}value"]),
        released("sn", &["\u{0}"]),
        released("empty", &[]),
        released("cn", &["Léa 🎓"]),
    ]);
    let names: Vec<_> = kept.iter().map(|(r, _)| r.name.as_str()).collect();
    // `sn` had only an unwritable value: not released, so not audited either.
    assert_eq!(names, ["mail", "empty", "cn"]);
    assert_eq!(kept[0].0.values, ["lea@example.org"]);
    assert_eq!(kept[2].0.values, ["Léa 🎓"]);
}

/// Signs with every method through `k`'s kept contexts and checks each against `Signer`.
fn signs_as_signer(k: &SigningKey, round: usize) {
    use openssl::hash::MessageDigest;
    let methods = [
        (super::RSA_SHA1, MessageDigest::sha1()),
        (
            federation_metadata::xmlsig::RSA_SHA256,
            MessageDigest::sha256(),
        ),
        (super::RSA_SHA512, MessageDigest::sha512()),
    ];
    for (uri, md) in methods {
        let alg = super::Algorithms::for_method(uri).unwrap();
        let data = format!("<ds:SignedInfo>round {round} of {uri}</ds:SignedInfo>");
        let digest = super::hash(alg.signature, &[&data[..9], &data[9..]]);
        let ours = k.sign_digest(alg.signature, &digest).unwrap();
        let mut signer = openssl::sign::Signer::new(md, &idp().0).unwrap();
        signer.update(data.as_bytes()).unwrap();
        assert_eq!(ours, signer.sign_to_vec().unwrap(), "{uri}, round {round}");
    }
}

/// The kept signing contexts give exactly `Signer`'s PKCS#1 v1.5 signatures (deterministic)
/// for every method, again and again on the same context, and from other threads at once.
#[test]
fn kept_contexts_sign_as_signer_does() {
    let (key, cert) = idp();
    let k = std::sync::Arc::new(SigningKey::new(key.clone(), &cert.to_der().unwrap()));
    for round in 0..3 {
        signs_as_signer(&k, round);
    }
    assert_eq!(k.ready().len(), 3, "one context kept per method");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let k = k.clone();
            std::thread::spawn(move || (0..3).for_each(|r| signs_as_signer(&k, 10 * t + r)))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(k.ready().len() <= 3 * super::READY_CONTEXTS);
}
