#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use federation_metadata::model::{Binding, IndexedEndpoint, NameIdFormat, SamlSettings};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::macros::datetime;

use super::bindings::{self, decode_redirect, verify_redirect_signature};
use super::request::parse_authn_request;
use super::*;

fn deflate_b64(xml: &str) -> String {
    use std::io::Write as _;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(enc.finish().unwrap())
}

/// Strict percent-encoding (everything but unreserved characters).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Lower-case hex percent-encoding: another SP's choice, equally valid.
fn enc_lower(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_abc" Version="2.0" IssueInstant="2026-01-01T10:00:00Z" Destination="https://idp/saml/sso" AssertionConsumerServiceURL="https://sp/acs" ForceAuthn="true"><saml:Issuer>https://sp/&amp;meta</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/></samlp:AuthnRequest>"#;

fn key() -> (PKey<Private>, String) {
    let (k, c) = federation_metadata::keys::generate_self_signed("sp", 1).unwrap();
    (k, String::from_utf8(c.to_pem().unwrap()).unwrap())
}

fn sign(key: &PKey<Private>, data: &str, md: MessageDigest) -> String {
    let mut s = Signer::new(md, key).unwrap();
    s.update(data.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(s.sign_to_vec().unwrap())
}

#[test]
fn parses_an_authn_request() {
    let r = parse_authn_request(REQ).unwrap();
    assert_eq!(r.id, "_abc");
    assert_eq!(r.issuer.as_deref(), Some("https://sp/&meta"));
    assert_eq!(r.acs_url.as_deref(), Some("https://sp/acs"));
    assert!(r.force_authn && !r.is_passive && !r.signed_enveloped);
    assert_eq!(r.issue_instant, Some(datetime!(2026-01-01 10:00 UTC)));
    assert_eq!(r.allow_create, Some(true));
}

#[test]
fn refuses_dtd_oversized_and_foreign_roots() {
    let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{REQ}");
    assert!(parse_authn_request(&dtd)
        .unwrap_err()
        .reason
        .contains("DTD"));
    let big = format!("{}{}", REQ, " ".repeat(bindings::MAX_XML));
    assert!(parse_authn_request(&big).is_err());
    assert!(parse_authn_request(
        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\"/>"
    )
    .is_err());
    // Only the root's own children count: a nested Issuer is not read.
    let nested = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="x" Version="2.0"><samlp:Extensions><saml:Issuer>evil</saml:Issuer></samlp:Extensions></samlp:AuthnRequest>"#;
    assert_eq!(parse_authn_request(nested).unwrap().issuer, None);
}

#[test]
fn inflate_is_bounded() {
    let bomb = "a".repeat(bindings::MAX_XML * 4);
    let q = format!("SAMLRequest={}", enc(&deflate_b64(&bomb)));
    assert!(decode_redirect(&q, "SAMLRequest").is_err());
    assert!(bindings::inflate(b"not deflate at all").is_err());
}

/// The former `inflate` (a `DeflateDecoder` reader per message), to show the reused
/// decompressor gives the same answers, including on streams cut short or followed by junk.
fn former_inflate(data: &[u8]) -> Result<String, String> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(bindings::MAX_XML as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| "message is not valid DEFLATE".to_owned())?;
    if out.len() > bindings::MAX_XML {
        return Err("message too large".to_owned());
    }
    String::from_utf8(out).map_err(|_| "message is not UTF-8".to_owned())
}

#[test]
fn inflate_answers_as_the_former_reader() {
    use std::io::Write as _;
    let deflate = |raw: &[u8], level: u32| {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(raw).unwrap();
        e.finish().unwrap()
    };
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    let text: String = (0..3000).map(|i| format!("<a n=\"{i}\">é</a>")).collect();
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), b"not deflate at all".to_vec()];
    for raw in [
        REQ.as_bytes(),
        text.as_bytes(),
        &noise[..bindings::MAX_XML],
        &noise[..bindings::MAX_XML + 1],
        &noise[..1000],
        "a".repeat(bindings::MAX_XML).as_bytes(),
        "a".repeat(bindings::MAX_XML + 1).as_bytes(),
        "a".repeat(bindings::MAX_XML * 4).as_bytes(),
        &[0xff, 0xfe, 0x00],
    ] {
        for level in [0, 1, 6, 9] {
            let d = deflate(raw, level);
            for cut in [d.len(), d.len() - 1, d.len() / 2, 1, 0] {
                inputs.push(d[..cut].to_vec());
            }
            let mut junk = d.clone();
            junk.extend_from_slice(b"trailing junk");
            inputs.push(junk);
            let mut broken = d.clone();
            let mid = broken.len() / 3;
            broken[mid] ^= 0x55;
            inputs.push(broken);
        }
    }
    inputs.push(noise[..5000].to_vec());
    for (i, input) in inputs.iter().enumerate() {
        // Twice, so that the second call runs on the reused state.
        for _ in 0..2 {
            let new = bindings::inflate(input).map_err(|r| r.reason.to_string());
            assert_eq!(new, former_inflate(input), "input {i}");
        }
    }
}

#[test]
fn redirect_signature_is_checked_over_the_raw_query() {
    let (k, pem) = key();
    let (_, other) = key();
    for encode in [enc, enc_lower] {
        let signed = format!(
            "SAMLRequest={}&RelayState={}&SigAlg={}",
            encode(&deflate_b64(REQ)),
            encode("/page?a=1&b=é"),
            encode(bindings::SIG_RSA_SHA256)
        );
        let q = format!(
            "{signed}&Signature={}",
            encode(&sign(&k, &signed, MessageDigest::sha256()))
        );
        let m = decode_redirect(&q, "SAMLRequest").unwrap();
        assert_eq!(m.xml, REQ);
        assert_eq!(m.relay_state.as_deref(), Some("/page?a=1&b=é"));
        let (alg, sig, bytes) = m.signature.unwrap();
        assert_eq!(bytes, signed.as_bytes());
        verify_redirect_signature(&alg, &sig, &bytes, std::slice::from_ref(&pem), false).unwrap();
        // Another key, or a tampered byte, fails.
        assert!(
            verify_redirect_signature(&alg, &sig, &bytes, std::slice::from_ref(&other), false)
                .is_err()
        );
        let mut tampered = bytes.clone();
        tampered[5] ^= 1;
        assert!(verify_redirect_signature(
            &alg,
            &sig,
            &tampered,
            std::slice::from_ref(&pem),
            false
        )
        .is_err());
    }
    // A re-encoded copy of a query signed with upper-case escapes no longer matches what
    // was signed: the bytes as received are what count.
    let signed = format!(
        "SAMLRequest={}&SigAlg={}",
        enc(&deflate_b64(REQ)),
        enc(bindings::SIG_RSA_SHA256)
    );
    let sig = sign(&k, &signed, MessageDigest::sha256());
    let relowered = format!("{}&Signature={}", signed.replace("%2F", "%2f"), enc(&sig));
    let (alg, sig, bytes) = decode_redirect(&relowered, "SAMLRequest")
        .unwrap()
        .signature
        .unwrap();
    assert!(
        verify_redirect_signature(&alg, &sig, &bytes, std::slice::from_ref(&pem), false).is_err()
    );
}

#[test]
fn sha1_only_where_allowed_and_params_once() {
    let (k, pem) = key();
    let signed = format!(
        "SAMLRequest={}&SigAlg={}",
        enc(&deflate_b64(REQ)),
        enc(bindings::SIG_RSA_SHA1)
    );
    let q = format!(
        "{signed}&Signature={}",
        enc(&sign(&k, &signed, MessageDigest::sha1()))
    );
    let (alg, sig, bytes) = decode_redirect(&q, "SAMLRequest")
        .unwrap()
        .signature
        .unwrap();
    assert!(
        verify_redirect_signature(&alg, &sig, &bytes, std::slice::from_ref(&pem), false).is_err()
    );
    verify_redirect_signature(&alg, &sig, &bytes, std::slice::from_ref(&pem), true).unwrap();
    // SHA-2 methods, the same set as the POST binding's; a mismatched digest fails.
    for (alg, md) in [
        (bindings::SIG_RSA_SHA256, MessageDigest::sha256()),
        (bindings::SIG_RSA_SHA384, MessageDigest::sha384()),
        (bindings::SIG_RSA_SHA512, MessageDigest::sha512()),
    ] {
        let signed = format!("SAMLRequest={}&SigAlg={}", enc(&deflate_b64(REQ)), enc(alg));
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sign(&k, &signed, md))
            .unwrap();
        verify_redirect_signature(
            alg,
            &sig,
            signed.as_bytes(),
            std::slice::from_ref(&pem),
            false,
        )
        .unwrap();
        let sha1_sig = base64::engine::general_purpose::STANDARD
            .decode(sign(&k, &signed, MessageDigest::sha1()))
            .unwrap();
        assert!(verify_redirect_signature(
            alg,
            &sha1_sig,
            signed.as_bytes(),
            std::slice::from_ref(&pem),
            true
        )
        .is_err());
    }
    let twice = format!("{q}&SAMLRequest=x");
    assert!(decode_redirect(&twice, "SAMLRequest").is_err());
    assert!(decode_redirect(&signed, "SAMLRequest").is_err());
}

fn sp() -> SamlSettings {
    let acs = |binding, location: &str, index, is_default| IndexedEndpoint {
        binding,
        location: location.to_owned(),
        index,
        is_default,
    };
    SamlSettings {
        entity_id: "https://sp".into(),
        assertion_consumer_services: vec![
            acs(Binding::HttpPost, "https://sp/a", 0, false),
            acs(Binding::HttpArtifact, "https://sp/art", 1, false),
            acs(Binding::HttpPost, "https://sp/b", 2, true),
        ],
        single_logout_services: vec![],
        signing_certificates: vec![],
        encryption_certificates: vec![],
        authn_requests_signed: false,
        want_assertions_signed: true,
        sign_assertion: true,
        sign_response: false,
        signature_algorithm: Default::default(),
        allow_sha1: false,
        encrypt_assertion: false,
        name_id_format: NameIdFormat::Transient,
        name_id_attribute: None,
        allow_idp_initiated: false,
    }
}

#[test]
fn acs_only_among_the_registered_ones() {
    let sp = sp();
    assert_eq!(
        select_acs(&sp, None, None, None).unwrap().location,
        "https://sp/b"
    );
    assert_eq!(
        select_acs(&sp, Some("https://sp/a"), None, None)
            .unwrap()
            .location,
        "https://sp/a"
    );
    assert_eq!(
        select_acs(&sp, None, Some(0), None).unwrap().location,
        "https://sp/a"
    );
    // Never answered to: an unregistered URL or index, or both given.
    for (url, index) in [
        (Some("https://evil/acs"), None),
        (None, Some(9)),
        (Some("https://sp/a"), Some(0)),
    ] {
        for binding in [None, Some(Binding::HttpArtifact.urn())] {
            assert!(
                matches!(
                    select_acs(&sp, url, index, binding),
                    Err(AcsError::Page(Refusal { status: None, .. }))
                ),
                "{url:?} {index:?} {binding:?}"
            );
        }
    }
    assert!(select_acs(
        &sp,
        Some("https://sp/a"),
        None,
        Some(Binding::HttpPost.urn())
    )
    .is_ok());
}

#[test]
fn another_response_binding_gets_unsupported_binding_at_the_default_post_acs() {
    let sp = sp();
    let cases = [
        // A ProtocolBinding other than HTTP-POST, with or without a registered POST ACS named.
        (None, None, Some(Binding::HttpArtifact.urn())),
        (None, None, Some(Binding::Paos.urn())),
        (None, None, Some("urn:x-unknown-binding")),
        (
            Some("https://sp/a"),
            None,
            Some(Binding::HttpArtifact.urn()),
        ),
        (None, Some(0), Some(Binding::Paos.urn())),
        // An ACS registered for another binding, named by URL or by index.
        (Some("https://sp/art"), None, None),
        (None, Some(1), None),
        (Some("https://sp/art"), None, Some(Binding::HttpPost.urn())),
    ];
    for (url, index, binding) in cases {
        match select_acs(&sp, url, index, binding) {
            Err(AcsError::Binding(r, default)) => {
                assert_eq!(r.status, Some(Status::UnsupportedBinding));
                assert_eq!(default.location, "https://sp/b");
                assert_eq!(default.binding, Binding::HttpPost);
            }
            other => panic!("{url:?} {index:?} {binding:?}: {other:?}"),
        }
    }
    // Without any HTTP-POST ACS there is nowhere to answer: a page.
    let mut artifact_only = sp.clone();
    artifact_only
        .assertion_consumer_services
        .retain(|e| e.binding == Binding::HttpArtifact);
    assert!(matches!(
        select_acs(
            &artifact_only,
            None,
            None,
            Some(Binding::HttpArtifact.urn())
        ),
        Err(AcsError::Page(_))
    ));
    assert!(matches!(
        select_acs(&artifact_only, None, None, None),
        Err(AcsError::Page(_))
    ));
    let (top, sub) = Status::UnsupportedBinding.codes();
    assert_eq!(top, "urn:oasis:names:tc:SAML:2.0:status:Responder");
    assert_eq!(
        sub.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding")
    );
}

#[test]
fn issue_instant_window() {
    let now = datetime!(2026-01-01 10:00 UTC);
    let skew = time::Duration::seconds(60);
    let age = time::Duration::seconds(300);
    assert!(instant_acceptable(now, now, skew, age));
    assert!(instant_acceptable(
        now + time::Duration::seconds(59),
        now,
        skew,
        age
    ));
    assert!(!instant_acceptable(
        now + time::Duration::seconds(61),
        now,
        skew,
        age
    ));
    assert!(instant_acceptable(
        now - time::Duration::seconds(359),
        now,
        skew,
        age
    ));
    assert!(!instant_acceptable(
        now - time::Duration::seconds(361),
        now,
        skew,
        age
    ));
}

#[test]
fn name_id_policy() {
    let sp = sp();
    let mut r = parse_authn_request(REQ).unwrap();
    check_name_id_policy(&r, &sp, "https://sp").unwrap();
    r.name_id_format = Some(NameIdFormat::Persistent.urn().into());
    let e = check_name_id_policy(&r, &sp, "https://sp").unwrap_err();
    assert_eq!(e.status, Some(Status::InvalidNameIdPolicy));
    r.name_id_format = Some(NameIdFormat::Unspecified.urn().into());
    check_name_id_policy(&r, &sp, "https://sp").unwrap();
    r.sp_name_qualifier = Some("https://sp".into());
    check_name_id_policy(&r, &sp, "https://sp").unwrap();
    r.sp_name_qualifier = Some("https://affiliation".into());
    let e = check_name_id_policy(&r, &sp, "https://sp").unwrap_err();
    assert_eq!(e.status, Some(Status::InvalidNameIdPolicy));
    assert!(e.reason.contains("affiliations"), "{e}");
}

#[test]
fn allow_create_never_refuses_our_identifier_formats() {
    let transient = sp();
    let persistent = SamlSettings {
        name_id_format: NameIdFormat::Persistent,
        ..sp()
    };
    let email = SamlSettings {
        name_id_format: NameIdFormat::Email,
        name_id_attribute: Some("mail".into()),
        ..sp()
    };
    let policy = |format: Option<&str>, allow: Option<bool>| AuthnRequest {
        name_id_format: format.map(str::to_owned),
        allow_create: allow,
        ..parse_authn_request(REQ).unwrap()
    };
    let t = NameIdFormat::Transient.urn();
    let p = NameIdFormat::Persistent.urn();
    let u = NameIdFormat::Unspecified.urn();
    // Transient identifiers are associated with nothing lasting (errata E10: "not
    // applicable"), whether the format is named, unspecified or absent.
    for format in [Some(t), Some(u), None] {
        for allow in [Some(false), Some(true), None] {
            check_name_id_policy(&policy(format, allow), &transient, "https://sp").unwrap();
        }
    }
    // Persistent identifiers exist for every person by construction; attribute-valued
    // ones are not created either.
    for format in [Some(p), Some(u), None] {
        for allow in [Some(false), Some(true), None] {
            check_name_id_policy(&policy(format, allow), &persistent, "https://sp").unwrap();
        }
    }
    check_name_id_policy(&policy(None, Some(false)), &email, "https://sp").unwrap();
    // Format mismatch stays refused whatever AllowCreate says.
    for allow in [Some(false), Some(true), None] {
        let e =
            check_name_id_policy(&policy(Some(t), allow), &persistent, "https://sp").unwrap_err();
        assert_eq!(e.status, Some(Status::InvalidNameIdPolicy));
    }
}

#[test]
fn allow_create_is_read_as_a_strict_boolean() {
    let with = |v: &str| REQ.replace("AllowCreate=\"true\"", &format!("AllowCreate=\"{v}\""));
    for (v, want) in [
        ("true", true),
        ("1", true),
        ("false", false),
        ("0", false),
        (" false ", false),
    ] {
        assert_eq!(
            parse_authn_request(&with(v)).unwrap().allow_create,
            Some(want),
            "{v}"
        );
    }
    for v in ["no", "False", ""] {
        assert!(parse_authn_request(&with(v)).is_err(), "{v}");
    }
    let without = REQ.replace(" AllowCreate=\"true\"", "");
    assert_eq!(parse_authn_request(&without).unwrap().allow_create, None);
}

#[tokio::test]
async fn replay_cache_refuses_a_second_use() {
    use crate::ports::CounterStore as _;
    use inbound::{replay_key, Kind};
    let store = crate::backends::store::memory::MemoryCounterStore::default();
    let w = std::time::Duration::from_secs(60);
    let authn = replay_key(Kind::AuthnRequest, "https://sp", "_x");
    assert_eq!(store.hit(&authn, w).await.unwrap(), 1);
    assert_eq!(store.hit(&authn, w).await.unwrap(), 2);
    // The same ID as a LogoutRequest, or from another SP, is another key.
    let logout = replay_key(Kind::LogoutRequest, "https://sp", "_x");
    assert_ne!(authn, logout);
    assert_eq!(store.hit(&logout, w).await.unwrap(), 1);
    assert_ne!(authn, replay_key(Kind::AuthnRequest, "https://sp2", "_x"));
    assert_eq!(authn, replay_key(Kind::AuthnRequest, "https://sp", "_x"));
    // The separator keeps (issuer, ID) pairs apart.
    assert_ne!(
        replay_key(Kind::AuthnRequest, "a", "b\nc"),
        replay_key(Kind::AuthnRequest, "a\nb", "c")
    );
}

#[test]
fn response_is_signed_and_verifies() {
    let (k, c) = federation_metadata::keys::generate_self_signed("idp", 1).unwrap();
    let now = datetime!(2026-01-01 10:00 UTC);
    let data = assertion_at(now, "_n", "a<b");
    let cert = c.clone();
    let signing = response::Signing {
        key: std::sync::Arc::new(signature::SigningKey::new(k, &c.to_der().unwrap())),
        sign_assertion: true,
        sign_response: true,
        algorithm: federation_metadata::xmlsig::RSA_SHA256,
        encrypt_for: None,
    };
    let xml = response::build_response(
        "https://idp/saml/metadata",
        "https://sp/acs",
        Some("_abc"),
        now,
        None,
        Some(&data),
        &signing,
    )
    .unwrap();
    assert!(xml.starts_with("<samlp:Response"));
    assert!(xml.contains("a&lt;b"));
    assert_eq!(xml.matches("<ds:SignatureValue>").count(), 2);
    // Both signatures are filled (pysaml2 verifies them in the e2e tests); the assertion,
    // taken alone, verifies with the IdP certificate.
    assert!(!xml.contains("<ds:SignatureValue></ds:SignatureValue>"));
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let assertion = &xml[start..end];
    let v = federation_metadata::xmlsig::verify_enveloped(assertion, &cert).unwrap();
    assert_eq!(v.root_name, "Assertion");
    let tampered = assertion.replace("a&lt;b", "a&lt;c");
    assert!(federation_metadata::xmlsig::verify_enveloped(&tampered, &cert).is_err());
}

/// Decrypts an `EncryptedAssertion` written by `response::encrypt_assertion` with openssl:
/// unwraps the key (RSA-OAEP) and opens AES-256-GCM (IV || ciphertext || tag).
fn decrypt_assertion(
    xml: &str,
    key: &PKey<Private>,
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let values: Vec<&str> = xml
        .split("<xenc:CipherValue>")
        .skip(1)
        .map(|s| s.split("</xenc:CipherValue>").next().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{xml}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let wrapped = b64.decode(values[0]).unwrap();
    let data = b64.decode(values[1]).unwrap();
    let rsa = key.rsa().unwrap();
    let mut aes = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(&wrapped, &mut aes, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    assert_eq!(n, 32, "a 256-bit key");
    let (iv, rest) = data.split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    openssl::symm::decrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        &aes[..n],
        Some(iv),
        &[],
        ciphertext,
        tag,
    )
}

#[test]
fn encrypted_assertion_decrypts_to_the_signed_assertion() {
    let (idp_key, idp_cert) = federation_metadata::keys::generate_self_signed("idp", 1).unwrap();
    let (sp_key, sp_cert) = federation_metadata::keys::generate_self_signed("sp", 1).unwrap();
    let sp_pem = String::from_utf8(sp_cert.to_pem().unwrap()).unwrap();
    let sp_public = response::encryption_key(&["not a cert".into(), sp_pem]).unwrap();

    // encrypt_assertion alone: exactly the bytes given, back; fresh key and IV each time.
    let signed = "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_a\">é</saml:Assertion>";
    let one = response::encrypt_assertion(signed, &sp_public).unwrap();
    let two = response::encrypt_assertion(signed, &sp_public).unwrap();
    assert_ne!(one, two);
    assert_eq!(decrypt_assertion(&one, &sp_key).unwrap(), signed.as_bytes());
    assert!(one.contains(response::AES256_GCM) && one.contains(response::RSA_OAEP_MGF1P));
    // The tag is checked: one flipped byte and nothing comes out.
    let start = one.rfind("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len();
    let flipped = if &one[start + 20..start + 21] == "A" {
        "B"
    } else {
        "A"
    };
    let mut tampered = one.clone();
    tampered.replace_range(start + 20..start + 21, flipped);
    assert!(decrypt_assertion(&tampered, &sp_key).is_err());

    // Through build_response: sign-then-encrypt, nothing readable left in the Response.
    let now = datetime!(2026-01-01 10:00 UTC);
    let data = assertion_at(now, "_secret_name_id", "lea.secret");
    let signing = response::Signing {
        key: std::sync::Arc::new(signature::SigningKey::new(
            idp_key,
            &idp_cert.to_der().unwrap(),
        )),
        sign_assertion: true,
        sign_response: true,
        algorithm: federation_metadata::xmlsig::RSA_SHA256,
        encrypt_for: Some(sp_public),
    };
    let xml = response::build_response(
        "https://idp/saml/metadata",
        "https://sp/acs",
        Some("_abc"),
        now,
        None,
        Some(&data),
        &signing,
    )
    .unwrap();
    assert!(xml.contains("<saml:EncryptedAssertion"));
    assert!(!xml.contains("<saml:Assertion"));
    assert!(!xml.contains("lea.secret") && !xml.contains("_secret_name_id"));
    // The Response (signed over the encrypted form) verifies.
    let v = federation_metadata::xmlsig::verify_enveloped(&xml, &idp_cert).unwrap();
    assert_eq!(v.root_name, "Response");
    let assertion = String::from_utf8(decrypt_assertion(&xml, &sp_key).unwrap()).unwrap();
    assert!(assertion.starts_with("<saml:Assertion"));
    assert!(assertion.contains("lea.secret"));
    let v = federation_metadata::xmlsig::verify_enveloped(&assertion, &idp_cert).unwrap();
    assert_eq!(v.root_name, "Assertion");

    // No usable certificate: none is chosen (then `answer` refuses with Responder).
    assert!(response::encryption_key(&[]).is_none());
    let ec = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let weak = openssl::rsa::Rsa::generate(1024).unwrap();
    for key in [
        PKey::from_ec_key(ec).unwrap(),
        PKey::from_rsa(weak).unwrap(),
    ] {
        let pem = String::from_utf8(self_signed(&key).to_pem().unwrap()).unwrap();
        assert!(response::encryption_key(&[pem]).is_none());
    }
    assert!(response::encryption_key(&[
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()
    ])
    .is_none());
}

fn self_signed(key: &PKey<Private>) -> openssl::x509::X509 {
    let mut b = openssl::x509::X509::builder().unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "sp").unwrap();
    let name = name.build();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build()
}

const LOGOUT: &str = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1" Version="2.0" IssueInstant="2026-01-01T10:00:00Z" Destination="https://idp.test/saml/slo"><saml:Issuer>https://sp.test/sp</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_nid&amp;1</saml:NameID><samlp:SessionIndex>_si1</samlp:SessionIndex></samlp:LogoutRequest>"#;

#[test]
fn parses_a_logout_request_and_refuses_other_roots() {
    let r = logout::parse_logout_request(LOGOUT).unwrap();
    assert_eq!(r.id, "_lr1");
    assert_eq!(r.issuer.as_deref(), Some("https://sp.test/sp"));
    assert_eq!(r.name_id.as_deref(), Some("_nid&1"));
    assert_eq!(r.session_indexes, ["_si1"]);
    assert_eq!(r.destination.as_deref(), Some("https://idp.test/saml/slo"));
    assert!(!r.signed_enveloped);
    assert!(
        logout::parse_logout_request(&LOGOUT.replace("LogoutRequest", "AuthnRequest")).is_err()
    );
    let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{LOGOUT}");
    assert!(logout::parse_logout_request(&dtd).is_err());
    let two = LOGOUT.replace(
        "<samlp:SessionIndex>",
        "<saml:NameID>other</saml:NameID><samlp:SessionIndex>",
    );
    assert!(logout::parse_logout_request(&two).is_err());
}

#[test]
fn logout_matches_a_session_entry_and_tells_partial_from_success() {
    let t = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
    let mut session = SsoSession {
        id: crate::model::SessionId::from_raw("s".to_owned()),
        audit_ref: "ref".into(),
        person: crate::model::PersonKey::new("02", "1"),
        login: "lea".into(),
        authn_instant: datetime!(2026-01-01 10:00 UTC),
        last_seen: datetime!(2026-01-01 10:00 UTC),
        services: vec![
            "cas https://app.test/".into(),
            format!("saml sp1 _si1 {t} _nid1 https://sp.test/sp"),
        ],
    };
    let p = LogoutPending {
        sp: "https://sp.test/sp".into(),
        request_id: "_lr1".into(),
        name_id: Some("_nid1".into()),
        session_indexes: vec!["_si1".into()],
        relay_state: None,
    };
    assert_eq!(logout_outcome(&p, &session), Some(logout::Outcome::Success));
    let wrong_index = LogoutPending {
        session_indexes: vec!["_other".into()],
        ..p.clone()
    };
    assert_eq!(logout_outcome(&wrong_index, &session), None);
    let wrong_name = LogoutPending {
        name_id: Some("_nid2".into()),
        ..p.clone()
    };
    assert_eq!(logout_outcome(&wrong_name, &session), None);
    let other_sp = LogoutPending {
        sp: "https://sp2.test/sp".into(),
        ..p.clone()
    };
    assert_eq!(logout_outcome(&other_sp, &session), None);
    session
        .services
        .push(format!("saml sp2 _si2 {t} a b https://sp2.test/sp"));
    assert_eq!(logout_outcome(&p, &session), Some(logout::Outcome::Partial));
    let spaced = LogoutPending {
        sp: "https://sp2.test/sp".into(),
        name_id: Some("a b".into()),
        session_indexes: vec![],
        ..p
    };
    assert_eq!(
        logout_outcome(&spaced, &session),
        Some(logout::Outcome::Partial)
    );
}

#[test]
fn logout_response_redirect_is_signed_over_the_query() {
    let (key, pem) = key();
    let xml = logout::build_logout_response(
        "https://idp.test/idp",
        "https://sp.test/slo",
        "_lr1",
        datetime!(2026-01-01 10:00 UTC),
        logout::Outcome::Partial,
        None,
    )
    .unwrap();
    assert!(xml.contains("InResponseTo=\"_lr1\""));
    assert!(xml.contains("status:PartialLogout"));
    let url = logout::redirect_url("https://sp.test/slo", &xml, Some("rs 1"), &key).unwrap();
    let query = url.split_once('?').unwrap().1;
    let m = decode_redirect(query, "SAMLResponse").unwrap();
    assert_eq!(m.xml, xml);
    assert_eq!(m.relay_state.as_deref(), Some("rs 1"));
    let (alg, sig, signed) = m.signature.unwrap();
    verify_redirect_signature(&alg, &sig, &signed, &[pem], false).unwrap();
}

#[test]
fn idp_logout_request_round_trips_signed_and_logout_responses_are_read() {
    let (key, pem) = key();
    let t = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
    let who = logout::LogoutSubject {
        issuer: "https://idp.test/idp",
        sp: "https://sp.test/sp",
        name_id: "a&b <c>",
        format: t,
        session_index: "_si1",
    };
    let (id, xml) =
        logout::build_logout_request(&who, "https://sp.test/slo", datetime!(2026-01-01 10:00 UTC));
    // The NameID carries the assertion's qualifiers (lasso compares them).
    assert!(
        xml.contains(
            "NameQualifier=\"https://idp.test/idp\" SPNameQualifier=\"https://sp.test/sp\""
        ),
        "{xml}"
    );
    let r = logout::parse_logout_request(&xml).unwrap();
    assert_eq!(r.id, id);
    assert_eq!(r.name_id.as_deref(), Some("a&b <c>"));
    assert_eq!(r.session_indexes, ["_si1"]);
    assert_eq!(r.destination.as_deref(), Some("https://sp.test/slo"));
    let url = logout::redirect_request_url("https://sp.test/slo?x=1", &xml, &key).unwrap();
    assert!(url.starts_with("https://sp.test/slo?x=1&SAMLRequest="));
    let query = url.split_once('?').unwrap().1;
    let m = decode_redirect(query, "SAMLRequest").unwrap();
    assert_eq!(m.xml, xml);
    let (alg, sig, signed) = m.signature.unwrap();
    verify_redirect_signature(&alg, &sig, &signed, &[pem], false).unwrap();

    let resp = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" InResponseTo="_id1"><saml:Issuer> https://sp.test/sp </saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#;
    let read = logout::parse_logout_response(resp).unwrap();
    assert_eq!(read.in_response_to, "_id1");
    assert_eq!(read.issuer.as_deref(), Some("https://sp.test/sp"));
    assert!(!read.signed_enveloped);
    assert!(logout::parse_logout_response(&resp.replace(" InResponseTo=\"_id1\"", "")).is_err());
    assert!(logout::parse_logout_response(LOGOUT).is_err());
    let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{resp}");
    assert!(logout::parse_logout_response(&dtd).is_err());
}

/// REQ signed enveloped by `key`, with `method` and `digest` in its SignedInfo.
fn post_signed(key: &PKey<Private>, method: &str, digest: &str) -> String {
    use federation_metadata::xmlsig;
    let template = xmlsig::signature_template("_abc", None)
        .replace(xmlsig::RSA_SHA256, method)
        .replace(xmlsig::SHA256, digest);
    let at = REQ.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let with = format!("{}{template}{}", &REQ[..at], &REQ[at..]);
    xmlsig::sign_enveloped(&with, key).unwrap()
}

#[test]
fn post_signature_sha1_only_where_allowed() {
    use federation_metadata::xmlsig::{RSA_SHA1, RSA_SHA256, SHA1, SHA256};
    let (k, pem) = key();
    let (_, other) = key();
    for (method, digest) in [(RSA_SHA1, SHA1), (RSA_SHA1, SHA256), (RSA_SHA256, SHA1)] {
        let xml = post_signed(&k, method, digest);
        assert!(parse_authn_request(&xml).unwrap().signed_enveloped);
        let e =
            bindings::verify_post_signature(&xml, std::slice::from_ref(&pem), false).unwrap_err();
        assert!(e.reason.contains("not accepted"), "{e}");
        bindings::verify_post_signature(&xml, std::slice::from_ref(&pem), true).unwrap();
        // Allowed SHA-1 is still a signature: another key, or a changed byte, fails.
        assert!(bindings::verify_post_signature(&xml, std::slice::from_ref(&other), true).is_err());
        let tampered = xml.replace("https://sp/acs", "https://sp/acz");
        assert!(
            bindings::verify_post_signature(&tampered, std::slice::from_ref(&pem), true).is_err()
        );
    }
    // SHA-256 verifies either way.
    let xml = post_signed(&k, RSA_SHA256, SHA256);
    bindings::verify_post_signature(&xml, std::slice::from_ref(&pem), false).unwrap();
    bindings::verify_post_signature(&xml, &[pem], true).unwrap();
}

#[test]
fn sha1_signatures_only_for_an_entry_allowing_them() {
    let with = |alg, allow_sha1| SamlSettings {
        signature_algorithm: alg,
        allow_sha1,
        ..sp()
    };
    let method = |s: &SamlSettings| signature_method(Some(s));
    assert_eq!(
        method(&with(SignatureAlgorithm::RsaSha1, true)),
        SignatureAlgorithm::RsaSha1.uri()
    );
    // An entry asking for SHA-1 without allowing it (validation refuses it) gets SHA-256.
    assert_eq!(
        method(&with(SignatureAlgorithm::RsaSha1, false)),
        SignatureAlgorithm::RsaSha256.uri()
    );
    assert_eq!(
        method(&with(SignatureAlgorithm::RsaSha256, true)),
        SignatureAlgorithm::RsaSha256.uri()
    );
    assert_eq!(
        method(&with(SignatureAlgorithm::RsaSha512, false)),
        SignatureAlgorithm::RsaSha512.uri()
    );
    assert_eq!(signature_method(None), SignatureAlgorithm::RsaSha256.uri());
}

/// An assertion for `https://sp` at `now`: transient NameID `name_id`, one basic `uid`.
fn assertion_at(now: time::OffsetDateTime, name_id: &str, uid: &str) -> response::AssertionData {
    response::AssertionData {
        issuer: "https://idp/saml/metadata".into(),
        audience: "https://sp".into(),
        recipient: "https://sp/acs".into(),
        in_response_to: Some("_abc".into()),
        name_id: name_id.into(),
        name_id_format: NameIdFormat::Transient.urn(),
        session_index: "_s".into(),
        authn_instant: now,
        session_not_on_or_after: None,
        now,
        lifetime: time::Duration::seconds(300),
        attributes: vec![(
            crate::release::Released {
                name: "uid".into(),
                values: vec![uid.into()],
            },
            federation_metadata::model::NameFormat::Basic.urn(),
        )],
    }
}

/// `instant` writes what `format!` wrote before it was made digit by digit, whatever the
/// date (offsets converted to UTC, years below 1000 zero-padded): the SP side's
/// `sp_adapter::saml::instant` still writes it with `format!`.
#[test]
fn instants_are_xs_datetime_in_utc() {
    let by_format = sp_adapter::saml::instant;
    let mut t = datetime!(0987-01-01 00:00:00 +02:00);
    let end = datetime!(2100-12-31 23:59:59 UTC);
    let mut seen = 0;
    while t < end {
        assert_eq!(response::instant(t), by_format(t));
        // An odd step, so that every field takes many values.
        t += time::Duration::seconds(86_400 * 37 + 3_671 + 7);
        seen += 1;
    }
    assert!(seen > 10_000);
    assert_eq!(
        response::instant(datetime!(2026-11-27 09:05:07.999 +01:00)),
        "2026-11-27T08:05:07Z"
    );
}

/// The POST page, now written into one buffer, is the page `format!` used to write.
#[test]
fn post_page_is_unchanged() {
    use base64::Engine as _;
    let former = |field: &str, to: &str, xml: &str, relay: Option<&str>, text: &str| {
        let e = crate::protocols::cas::url::html_escape;
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml.as_bytes());
        let relay = relay
            .map(|r| {
                format!(
                    "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">\n",
                    e(r)
                )
            })
            .unwrap_or_default();
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>SAML</title></head><body>\n<form method=\"post\" action=\"{}\">\n<input type=\"hidden\" name=\"{field}\" value=\"{encoded}\">\n{relay}<p>{text}</p>\n<button type=\"submit\">Continuer / Continue</button>\n</form>\n<script>{}</script>\n</body></html>\n",
            e(to),
            response::SUBMIT_SCRIPT
        )
    };
    for (to, xml, relay) in [
        (
            "https://sp.example/acs?a=1&b=\"2\"",
            "<samlp:Response>é</samlp:Response>",
            None,
        ),
        ("https://sp/acs", "x", Some("state <&> \"quoted\" 'single'")),
        ("https://sp/acs", "", Some("")),
    ] {
        assert_eq!(
            response::post_form_of("SAMLResponse", to, xml, relay, "Texte / Text"),
            former("SAMLResponse", to, xml, relay, "Texte / Text")
        );
    }
}
