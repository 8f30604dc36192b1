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

/// A document signed with RSA-SHA1 and a SHA-1 digest (as some SPs still do).
fn signed_sha1(method: &str, digest: &str) -> (String, X509) {
    let (key, cert) = generate_self_signed("test", 2).unwrap();
    let template = signature_template("_s1", None)
        .replace(RSA_SHA256, method)
        .replace(SHA256, digest);
    let xml = doc("_s1", &template, "legacy");
    (sign_enveloped(&xml, &key).unwrap(), cert)
}

#[test]
fn sha1_only_when_accepted_and_still_checked() {
    for (method, digest) in [(RSA_SHA1, SHA1), (RSA_SHA1, SHA256), (RSA_SHA256, SHA1)] {
        let (xml, cert) = signed_sha1(method, digest);
        assert!(xml.contains(method) && xml.contains(digest));
        // Refused by default, before any cryptography.
        assert!(matches!(
            verify_enveloped(&xml, &cert),
            Err(XmlSigError::Structure(_))
        ));
        assert!(matches!(
            verify_enveloped_with(&xml, &cert, Accepted::STRICT),
            Err(XmlSigError::Structure(_))
        ));
        // Accepted for a partner allowed SHA-1, and then genuinely verified.
        let v = verify_enveloped_with(&xml, &cert, Accepted::with_sha1(true)).unwrap();
        assert_eq!(v.root_id, "_s1");
        let tampered = xml.replace("legacy", "legacz");
        assert!(matches!(
            verify_enveloped_with(&tampered, &cert, Accepted::with_sha1(true)),
            Err(XmlSigError::BadSignature)
        ));
        let (_, other) = generate_self_signed("other", 2).unwrap();
        assert!(verify_enveloped_with(&xml, &other, Accepted::with_sha1(true)).is_err());
    }
    // SHA-1 allowed opens nothing else (MD5, or a method left empty).
    let (xml, cert) = signed("x");
    let md5 = xml.replace(RSA_SHA256, "http://www.w3.org/2001/04/xmldsig-more#rsa-md5");
    assert!(matches!(
        verify_enveloped_with(&md5, &cert, Accepted::with_sha1(true)),
        Err(XmlSigError::Structure(_))
    ));
    let md5_digest = xml.replace(SHA256, "http://www.w3.org/2001/04/xmldsig-more#md5");
    assert!(matches!(
        verify_enveloped_with(&md5_digest, &cert, Accepted::with_sha1(true)),
        Err(XmlSigError::Structure(_))
    ));
    // And SHA-2 documents still verify with SHA-1 allowed.
    verify_enveloped_with(&xml, &cert, Accepted::with_sha1(true)).unwrap();
}
