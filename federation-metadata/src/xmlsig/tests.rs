#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::keys::generate_self_signed;

fn doc(id: &str, sig: &str, body: &str) -> String {
    format!("<r:Root xmlns:r=\"urn:test\" ID=\"{id}\">{sig}<r:Data>{body}</r:Data></r:Root>")
}

fn signed(body: &str) -> (String, X509) {
    let (key, cert) = generate_self_signed("test", 2).unwrap();
    let xml = doc(
        "_a1",
        &signature_template("_a1", Some(&cert.to_der().unwrap())),
        body,
    );
    (sign_enveloped(&xml, &key).unwrap(), cert)
}

#[test]
fn signs_and_verifies_the_root() {
    let (xml, cert) = signed("hello &amp; bye");
    assert!(xml.contains("<ds:SignatureValue>"));
    let v = verify_enveloped(&xml, &cert).unwrap();
    assert_eq!(v.root_id, "_a1");
    assert_eq!(v.root_name, "Root");
    assert!(v.xml.contains("hello &amp; bye"), "{}", v.xml);
}

#[test]
fn another_key_or_a_changed_byte_is_refused() {
    let (xml, _) = signed("hello");
    let (_, other) = generate_self_signed("other", 2).unwrap();
    assert!(matches!(
        verify_enveloped(&xml, &other),
        Err(XmlSigError::BadSignature)
    ));
    let (xml, cert) = signed("hello");
    let tampered = xml.replace("hello", "hellp");
    assert!(verify_enveloped(&tampered, &cert).is_err());
}

#[test]
fn unsigned_and_wrapped_documents_are_refused() {
    let (xml, cert) = signed("genuine");
    let unsigned = doc("_a1", "", "genuine");
    assert!(matches!(
        verify_enveloped(&unsigned, &cert),
        Err(XmlSigError::Structure(_))
    ));
    // The genuine signed document moved inside a forged root.
    let inner = xml.trim_start_matches(|c| c != '>').trim_start_matches('>');
    let inner = inner.trim_start_matches(|c: char| c != '<');
    let wrapped = format!(
        "<r:Root xmlns:r=\"urn:test\" ID=\"_evil\"><r:Data>forged</r:Data>{inner}</r:Root>"
    );
    let err = verify_enveloped(&wrapped, &cert).unwrap_err();
    assert!(matches!(err, XmlSigError::Structure(_)), "{err}");
    // Duplicate IDs.
    let dup = xml.replace("<r:Data>", "<r:Data ID=\"_a1\">");
    assert!(verify_enveloped(&dup, &cert).is_err());
}

#[test]
fn sha1_and_dtds_are_refused() {
    let (xml, cert) = signed("x");
    let sha1 = xml.replace(RSA_SHA256, "http://www.w3.org/2000/09/xmldsig#rsa-sha1");
    assert!(matches!(
        verify_enveloped(&sha1, &cert),
        Err(XmlSigError::Structure(_))
    ));
    let dtd = format!("<!DOCTYPE r [<!ENTITY e \"x\">]>{xml}");
    assert!(verify_enveloped(&dtd, &cert).is_err());
    let latin1 = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{xml}");
    assert!(matches!(
        verify_enveloped(&latin1, &cert),
        Err(XmlSigError::Structure(_))
    ));
}
