//! The SAML 2.0 IdP (Web Browser SSO) over HTTP with pysaml2 as the real SP
//! (`tests/fixtures/saml/pysaml2_sp.py`, using Debian's `xmlsec1`): a signed AuthnRequest
//! over HTTP-Redirect, the login page, the auto-submitting response form, validated by
//! pysaml2 (signature, audience, destination, InResponseTo, time), exactly the attributes
//! released, and a second request in the same session without a password; an SP whose
//! entry asks for encrypted assertions (AES-256-GCM, RSA-OAEP), decrypted by pysaml2. Then the
//! SP-initiated single logout (HTTP-Redirect) answered with a signed LogoutResponse that
//! pysaml2 validates, and its refusals. Then the refusals, each with its error page or SAML status and its audit event: unknown issuer,
//! unregistered ACS, missing or bad signature (both bindings), SHA-1 signatures from an SP
//! not allowed them (and accepted from one that is), signature wrapping, replay, expired or
//! future IssueInstant, unreadable, DTD-carrying and oversized messages, IsPassive,
//! NameIDPolicy (Format, AllowCreate, SPNameQualifier), response bindings other than
//! HTTP-POST (UnsupportedBinding), unsolicited SSO, and an SP gone from the registry (new
//! requests and one already waiting at the login page). And the response itself: every
//! date and address exactly, SessionNotOnOrAfter = the session's absolute end; responses
//! signed with RSA-SHA1 only for an entry allowing and asking for it (pysaml2 verifies
//! them); the demo Moodle entry's `uid` (basic name format) and login NameID.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use federation_metadata::compile::compile_domain;
use federation_metadata::keys::{generate_self_signed, write_pair};
use idp::audit::AuditEvent;
use idp::settings::TrustDomainSettings;
use idp_tests::registry::{federation_keys, service_header, write_demo_domain};
use idp_tests::{Browser, Page, TestIdp, ACTIVATION_CODE, LEA_PASSWORD};
use openssl::base64::{decode_block, encode_block};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use time::OffsetDateTime;

const SP: &str = "http://sp.test/pysaml2";
const SP2: &str = "http://sp2.test/unsolicited";
const ACS: &str = "http://127.0.0.1:9/acs";
const ACS2: &str = "http://127.0.0.1:9/acs2";
const SP3: &str = "http://sp3.test/encrypted";
const ACS3: &str = "http://127.0.0.1:9/acs3";
/// The default public URL of the test IdP (its SSO endpoint is the Destination to use).
const SSO: &str = "http://localhost:8080/saml/sso";
/// The SingleLogoutService (HTTP-Redirect) registered for the SPs.
const SLO: &str = "http://127.0.0.1:9/slo";
/// An SP whose entry allows SHA-1 signatures, with an HTTP-Artifact ACS (index 1) beside
/// its default HTTP-POST one.
const SP4: &str = "http://sp4.test/legacy";
const ACS4: &str = "http://127.0.0.1:9/acs4";
const ART4: &str = "http://127.0.0.1:9/artifact4";
/// The demo Moodle entry (`deploy/federation/demo/services/moodle.toml`): its entityID and
/// ACS as written there.
const MOODLE: &str = "https://moodle.ac-demo.example/auth/saml2/sp/metadata.php";
const MOODLE_ACS: &str =
    "https://moodle.ac-demo.example/auth/saml2/sp/saml2-acs.php/moodle.ac-demo.example";
const BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

struct Domain {
    tmp: tempfile::TempDir,
    fed_key: PathBuf,
    fed_cert: PathBuf,
    fed_pem: String,
    sp_key: PKey<Private>,
    sp_key_path: PathBuf,
    sp_cert_path: PathBuf,
    sp_pem: String,
}

/// A service; the unsolicited one (`idp_init`) also has its Response signed and
/// persistent NameIDs.
fn service_toml(id: &str, entity: &str, acs: &str, sp_pem: &str, idp_init: bool) -> String {
    let (sign_response, format) = if idp_init {
        (true, "persistent")
    } else {
        (false, "transient")
    };
    let mut t = service_header(id, &format!("SP SAML de test {id}"));
    t.push_str(&format!(
        r#"[[releases]]
name = "uid"
source = "login"
purpose = "Compte."

[[releases]]
name = "sn"
source = "surname"
purpose = "Nom."

[[releases]]
name = "givenName"
source = "given_name"
purpose = "Prénom."

[protocol.saml]
entity_id = "{entity}"
authn_requests_signed = true
want_assertions_signed = true
sign_assertion = true
sign_response = {sign_response}
name_id_format = "{format}"
allow_idp_initiated = {idp_init}
signing_certificates = ["""
{sp_pem}"""]

[[protocol.saml.assertion_consumer_services]]
binding = "http-post"
location = "{acs}"
index = 0
is_default = true

[[protocol.saml.single_logout_services]]
binding = "http-redirect"
location = "{SLO}"
"#
    ));
    t
}

/// The demo deployment's Moodle entry as shipped, with only what keeps it out of a live
/// registry changed: approved and signed (it is `pending` there), and the pysaml2 SP's
/// certificate instead of the placeholder. Its NameID policy and releases stay as written.
fn moodle_toml(sp_pem: &str) -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/federation/demo/services/moodle.toml"
    ))
    .unwrap();
    let approved = shipped
        .replace("membership = \"pending\"", "membership = \"approved\"")
        .replace(
            "requested_on = 2026-10-05\n",
            "requested_on = 2026-10-05\nsigned_on = 2026-10-05\nstart = 2026-10-05\n",
        );
    let (head, rest) = approved
        .split_once("signing_certificates = [\"\"\"\n")
        .unwrap();
    let (_, tail) = rest.split_once("\"\"\"]").unwrap();
    let t = format!("{head}signing_certificates = [\"\"\"\n{sp_pem}\"\"\"]{tail}");
    assert!(
        t.contains("membership = \"approved\"") && t.contains("signed_on = ") && t.contains(sp_pem),
        "the shipped Moodle entry changed shape:\n{shipped}"
    );
    t
}

impl Domain {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (fed_key, fed_cert, fed_pem) = federation_keys(tmp.path(), "Test federation");
        let (sp_key, sp_cert) = generate_self_signed("sp.test", 30).unwrap();
        let keys = tmp.path().join("keys");
        write_pair(
            &sp_key,
            &sp_cert,
            &keys.join("sp.key"),
            &keys.join("sp.crt"),
        )
        .unwrap();
        Self {
            fed_key,
            fed_cert,
            fed_pem,
            sp_key,
            sp_key_path: keys.join("sp.key"),
            sp_cert_path: keys.join("sp.crt"),
            sp_pem: String::from_utf8(sp_cert.to_pem().unwrap()).unwrap(),
            tmp,
        }
    }

    /// Compiles and publishes a demo domain with the pysaml2 SP (when `with_sp`) and the
    /// SP allowed unsolicited SSO.
    fn publish(&self, with_sp: bool) {
        let src = self.tmp.path().join("src");
        write_demo_domain(&src, &self.fed_pem);
        if with_sp {
            std::fs::write(
                src.join("services/pysp.toml"),
                service_toml("pysp", SP, ACS, &self.sp_pem, false),
            )
            .unwrap();
        }
        std::fs::write(
            src.join("services/unsolicited.toml"),
            service_toml("unsolicited", SP2, ACS2, &self.sp_pem, true),
        )
        .unwrap();
        // An SP asking for encrypted assertions, its encryption certificate = pysaml2's key
        // pair.
        let encrypted = service_toml("encrypted", SP3, ACS3, &self.sp_pem, true).replace(
            "[protocol.saml]\n",
            &format!(
                "[protocol.saml]\nencrypt_assertion = true\nencryption_certificates = [\"\"\"\n{}\"\"\"]\n",
                self.sp_pem
            ),
        )
        // … and registered no SingleLogoutService.
        .replace(
            &format!(
                "[[protocol.saml.single_logout_services]]\nbinding = \"http-redirect\"\nlocation = \"{SLO}\"\n"
            ),
            "",
        );
        std::fs::write(src.join("services/encrypted.toml"), encrypted).unwrap();
        // An SP still signing with SHA-1, which its entry allows, and with an HTTP-Artifact
        // ACS registered beside its HTTP-POST one.
        // It also asks for RSA-SHA1 signatures on its responses.
        let legacy = service_toml("legacy", SP4, ACS4, &self.sp_pem, false)
            .replace(
                "[protocol.saml]\n",
                "[protocol.saml]\nallow_sha1 = true\nsignature_algorithm = \"rsa-sha1\"\n",
            )
            .replace(
                "[[protocol.saml.single_logout_services]]",
                &format!(
                    "[[protocol.saml.assertion_consumer_services]]\nbinding = \"http-artifact\"\nlocation = \"{ART4}\"\nindex = 1\n\n[[protocol.saml.single_logout_services]]"
                ),
            );
        std::fs::write(src.join("services/legacy.toml"), legacy).unwrap();
        std::fs::write(src.join("services/moodle.toml"), moodle_toml(&self.sp_pem)).unwrap();
        let out = self.tmp.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        compile_domain(&src, &self.fed_key, &out, OffsetDateTime::now_utc())
            .unwrap_or_else(|e| panic!("the test domain does not compile: {e:?}"));
        let live = self.tmp.path().join("live");
        std::fs::create_dir_all(&live).unwrap();
        for f in ["registry.json", "registry.json.sig"] {
            std::fs::copy(out.join(f), live.join(format!("{f}.tmp"))).unwrap();
            std::fs::rename(live.join(format!("{f}.tmp")), live.join(f)).unwrap();
        }
    }

    fn settings(&self) -> TrustDomainSettings {
        TrustDomainSettings {
            name: "test".into(),
            registry: self
                .tmp
                .path()
                .join("live/registry.json")
                .display()
                .to_string(),
            certificate: self.fed_cert.clone(),
            reload_interval_secs: 1,
        }
    }

    /// The pysaml2 configuration for SP `entity` (IdP metadata fetched from `idp`).
    fn sp_config(&self, idp: &TestIdp, entity: &str, acs: &str) -> PathBuf {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let metadata = agent
            .get(idp.at("/saml/metadata"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let md = self.tmp.path().join("idp-metadata.xml");
        std::fs::write(&md, metadata).unwrap();
        let conf = self
            .tmp
            .path()
            .join(format!("sp-{}.json", entity.len() + acs.len()));
        let json = serde_json::json!({
            "entity_id": entity,
            "acs": acs,
            "key": self.sp_key_path,
            "cert": self.sp_cert_path,
            "idp_metadata": md,
            "sign_requests": true,
            "allow_unsolicited": entity == SP2 || entity == SP3,
            "decrypt": entity == SP3,
            "slo": SLO,
        });
        std::fs::write(&conf, json.to_string()).unwrap();
        conf
    }
}

fn pysaml2(conf: &Path, args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/saml/pysaml2_sp.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(conf)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "pysaml2 said:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn start(domain: &Domain) -> TestIdp {
    domain.publish(true);
    let settings = domain.settings();
    TestIdp::start_with(move |s| s.federation.domains = vec![settings])
}

/// The value of hidden field `name` in `body`.
fn field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// The path and query of the IdP URL pysaml2 redirects to.
fn path_of(url: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    format!("/saml/sso?{q}")
}

fn response_of(page: &Page) -> String {
    let b64 = field(&page.body, "SAMLResponse")
        .unwrap_or_else(|| panic!("no SAML response in:\n{}", page.body));
    String::from_utf8(decode_block(&b64).unwrap()).unwrap()
}

fn validate(domain: &Domain, conf: &Path, page: &Page, request_id: &str) -> serde_json::Value {
    let b64 = field(&page.body, "SAMLResponse").unwrap();
    let file = domain.tmp.path().join("response.b64");
    std::fs::write(&file, b64).unwrap();
    pysaml2(conf, &["acs", file.to_str().unwrap(), request_id])
}

/// The SP of `conf` sends Léa's browser to the IdP, she logs in with her password, and the
/// SP accepts the response: what it read from it.
fn pysaml2_login(domain: &Domain, conf: &Path, browser: &Browser) -> serde_json::Value {
    let req = pysaml2(conf, &["authn"]);
    let page = browser.get(&path_of(req["url"].as_str().unwrap()));
    let answer = login_through(browser, &page);
    let got = validate(domain, conf, &answer, req["request_id"].as_str().unwrap());
    assert_eq!(got["ok"], true, "{got}");
    got
}

fn validate_xml(domain: &Domain, conf: &Path, xml: &str) -> serde_json::Value {
    let file = domain.tmp.path().join("response-xml.b64");
    std::fs::write(&file, encode_block(xml.as_bytes())).unwrap();
    pysaml2(conf, &["acs", file.to_str().unwrap(), "-"])
}

/// `xml`'s EncryptedAssertion opened with the SP's `key` (openssl: RSA-OAEP, AES-256-GCM),
/// its plaintext assertion passed through `edit`, sealed again under the same AES key and a
/// new IV; the Response's own signature (the only one in clear) is dropped.
fn reseal(xml: &str, key: &PKey<Private>, edit: impl Fn(&str) -> String) -> String {
    use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
    let values: Vec<&str> = xml
        .split("<xenc:CipherValue>")
        .skip(1)
        .map(|s| s.split("</xenc:CipherValue>").next().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{xml}");
    let rsa = key.rsa().unwrap();
    let mut aes = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(
            &decode_block(values[0]).unwrap(),
            &mut aes,
            openssl::rsa::Padding::PKCS1_OAEP,
        )
        .unwrap();
    aes.truncate(n);
    let data = decode_block(values[1]).unwrap();
    let (iv, rest) = data.split_at(12);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    let plain = decrypt_aead(Cipher::aes_256_gcm(), &aes, Some(iv), &[], ct, tag).unwrap();
    let plain = edit(std::str::from_utf8(&plain).unwrap());
    let iv = [7u8; 12];
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        &aes,
        Some(&iv),
        &[],
        plain.as_bytes(),
        &mut tag,
    )
    .unwrap();
    let sealed = encode_block(&[&iv[..], &ct, &tag].concat());
    let start = xml.find("<ds:Signature").unwrap();
    let end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    format!("{}{}", &xml[..start], &xml[end..]).replace(values[1], &sealed)
}

fn refused(idp: &TestIdp, outcome: &str, reason_part: &str) -> bool {
    idp.events().iter().any(|e| {
        matches!(e, AuditEvent::SamlRequestRefused { outcome: o, reason, .. }
            if o == outcome && reason.contains(reason_part))
    })
}

fn instant(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An AuthnRequest written by hand.
fn authn_xml(id: &str, issuer: &str, at: OffsetDateTime, extra: &str, body: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{SSO}"{extra}><saml:Issuer>{issuer}</saml:Issuer>{body}</samlp:AuthnRequest>"#,
        instant(at)
    )
}

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

fn deflate(xml: &str) -> String {
    use std::io::Write as _;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml.as_bytes()).unwrap();
    encode_block(&e.finish().unwrap())
}

/// The HTTP-Redirect query of `xml`, signed with `key` when given.
fn redirect_query(xml: &str, key: Option<&PKey<Private>>) -> String {
    let mut q = format!("SAMLRequest={}&RelayState=rs-1", enc(&deflate(xml)));
    if let Some(key) = key {
        q.push_str(&format!(
            "&SigAlg={}",
            enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
        ));
        let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
        s.update(q.as_bytes()).unwrap();
        q.push_str(&format!(
            "&Signature={}",
            enc(&encode_block(&s.sign_to_vec().unwrap()))
        ));
    }
    format!("/saml/sso?{q}")
}

/// `xml` (whose root has ID `id`, Issuer first) with an enveloped signature by `key`.
fn sign_enveloped(xml: &str, id: &str, key: &PKey<Private>) -> String {
    use federation_metadata::xmlsig::{RSA_SHA256, SHA256};
    sign_enveloped_with(xml, id, key, RSA_SHA256, SHA256)
}

/// [`sign_enveloped`] with signature method `method` and digest `digest`.
fn sign_enveloped_with(
    xml: &str,
    id: &str,
    key: &PKey<Private>,
    method: &str,
    digest: &str,
) -> String {
    use federation_metadata::xmlsig::{RSA_SHA256, SHA256};
    let template = federation_metadata::xmlsig::signature_template(id, None)
        .replace(RSA_SHA256, method)
        .replace(SHA256, digest);
    let at = xml.find("</saml:Issuer>").unwrap() + "</saml:Issuer>".len();
    let with = format!("{}{template}{}", &xml[..at], &xml[at..]);
    let signed = federation_metadata::xmlsig::sign_enveloped(&with, key).unwrap();
    match signed.split_once("?>") {
        Some((decl, rest)) if decl.starts_with("<?xml") => rest.trim_start().to_owned(),
        _ => signed,
    }
}

/// The last `saml_request_refused` event: (SP, outcome, reason).
fn last_refusal(idp: &TestIdp) -> (String, String, String) {
    idp.events()
        .into_iter()
        .rev()
        .find_map(|e| match e {
            AuditEvent::SamlRequestRefused {
                sp,
                outcome,
                reason,
            } => Some((sp, outcome, reason)),
            _ => None,
        })
        .unwrap_or_default()
}

/// Asserts that the last refusal is `(sp, outcome)` with a reason containing `reason_part`.
#[track_caller]
fn assert_refused(idp: &TestIdp, sp: &str, outcome: &str, reason_part: &str) {
    let (s, o, r) = last_refusal(idp);
    assert_eq!((s.as_str(), o.as_str()), (sp, outcome), "{r}");
    assert!(r.contains(reason_part), "{r:?} lacks {reason_part:?}");
}

/// The `/saml/sso/continue` URL of the page answering a POSTed AuthnRequest.
fn continue_url(page: &Page) -> String {
    assert_eq!(page.status, 200, "{}", page.body);
    let next = page
        .body
        .split("url=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned();
    assert!(next.starts_with("/saml/sso/continue?ref="), "{}", page.body);
    next
}

/// Asserts that `page` posts to `acs` a response with status `code` (second level) for
/// request `id`, without an assertion.
#[track_caller]
fn assert_status(page: &Page, acs: &str, top: &str, code: &str, id: &str) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("action=\"{acs}\"")),
        "{}",
        page.body
    );
    let xml = response_of(page);
    assert!(xml.contains(&format!("status:{top}\"")), "{xml}");
    assert!(xml.contains(&format!("status:{code}\"")), "{xml}");
    assert!(xml.contains(&format!("InResponseTo=\"{id}\"")), "{xml}");
    assert!(!xml.contains("Assertion"), "{xml}");
}

fn login_through(browser: &Browser, page: &Page) -> Page {
    let reference = field(&page.body, "saml")
        .unwrap_or_else(|| panic!("no login form with a SAML reference:\n{}", page.body));
    browser.post_form(
        "/login",
        &[
            ("csrf", &page.csrf()),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
            ("saml", &reference),
        ],
    )
}

#[test]
fn pysaml2_logs_in_with_exactly_the_released_attributes_then_sso() {
    let domain = Domain::new();
    let idp = start(&domain);
    let conf = domain.sp_config(&idp, SP, ACS);
    let browser = idp.browser();

    let req = pysaml2(&conf, &["authn", "/back/here?x=1"]);
    let url = req["url"].as_str().unwrap();
    assert!(url.starts_with(SSO), "{url}");
    assert!(url.contains("Signature="), "{url}");
    let page = browser.get(&path_of(url));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"password\""));
    // The form carries a reference, not the request.
    assert!(!page.body.contains("SAMLRequest"));

    let answer = login_through(&browser, &page);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let csp = answer.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("form-action"), "{csp}");
    assert!(answer.body.contains(&format!("action=\"{ACS}\"")));
    assert!(answer.body.contains("<button type=\"submit\""));
    assert_eq!(
        field(&answer.body, "RelayState").as_deref(),
        Some("/back/here?x=1")
    );
    let xml = response_of(&answer);
    assert!(xml.contains("PasswordProtectedTransport"));
    assert!(xml.contains("SessionIndex="));

    let got = validate(&domain, &conf, &answer, req["request_id"].as_str().unwrap());
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(
        got["name_id_format"],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    );
    let attrs = got["attributes"].as_object().unwrap();
    let mut names: Vec<&str> = attrs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["givenName", "sn", "uid"], "{got}");
    assert_eq!(attrs["uid"], serde_json::json!(["lea.dupont"]));
    assert_eq!(attrs["sn"], serde_json::json!(["DUPONT"]));
    assert_eq!(attrs["givenName"], serde_json::json!(["Léa"]));
    let first_name_id = got["name_id"].as_str().unwrap().to_owned();

    // A second request in the same session: no password, same transient NameID.
    let req2 = pysaml2(&conf, &["authn"]);
    let again = browser.get(&path_of(req2["url"].as_str().unwrap()));
    assert_eq!(again.status, 200);
    assert!(!again.body.contains("name=\"password\""));
    let got2 = validate(&domain, &conf, &again, req2["request_id"].as_str().unwrap());
    assert_eq!(got2["ok"], true, "{got2}");
    assert_eq!(got2["name_id"].as_str().unwrap(), first_name_id);

    // The response to one request is not accepted for another.
    let got3 = validate(&domain, &conf, &again, req["request_id"].as_str().unwrap());
    assert_eq!(got3["ok"], false, "{got3}");

    let issued: Vec<_> = idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SamlAssertionIssued {
                sp,
                attributes,
                name_id,
                initiated_by,
                ..
            } => Some((sp, attributes, name_id, initiated_by)),
            _ => None,
        })
        .collect();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[0].0, SP);
    assert_eq!(issued[0].1, ["uid", "sn", "givenName"]);
    assert_eq!(issued[0].2, first_name_id);
    assert_eq!(issued[0].3, "sp");
}

#[test]
fn post_binding_signed_request_and_force_authn() {
    let domain = Domain::new();
    let idp = start(&domain);
    let browser = idp.browser();
    let now = OffsetDateTime::now_utc();
    let xml = authn_xml("_post1", SP, now, "", "");
    let signed = sign_enveloped(&xml, "_post1", &domain.sp_key);
    let page = browser.post_form(
        "/saml/sso",
        &[("SAMLRequest", &encode_block(signed.as_bytes()))],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let next = page
        .body
        .split("url=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(next.starts_with("/saml/sso/continue?ref="), "{next}");
    let login = browser.get(&next);
    let answer = login_through(&browser, &login);
    let xml = response_of(&answer);
    assert!(xml.contains("InResponseTo=\"_post1\""));
    assert!(xml.contains("Success"));

    // A first login with an activation code: the SSO completes once the password is chosen.
    let b2 = idp.browser();
    let xml = authn_xml("_act", SP, now, "", "");
    let login = b2.get(&redirect_query(&xml, Some(&domain.sp_key)));
    let reference = field(&login.body, "saml").unwrap();
    let res = b2.post_form(
        "/login",
        &[
            ("csrf", &login.csrf()),
            ("login", "hugo.martin"),
            ("password", ACTIVATION_CODE),
            ("saml", &reference),
        ],
    );
    assert_eq!(res.location(), Some("/activate"));
    let form = b2.get("/activate");
    let res = b2.post_form(
        "/activate",
        &[
            ("csrf", &form.csrf()),
            ("new_password", "Velo-Rouge-Lune-9"),
            ("confirm", "Velo-Rouge-Lune-9"),
        ],
    );
    assert!(response_of(&res).contains("InResponseTo=\"_act\""));

    // ForceAuthn: the login page again, despite the session.
    let forced = authn_xml("_force", SP, now, " ForceAuthn=\"true\"", "");
    let page = browser.get(&redirect_query(&forced, Some(&domain.sp_key)));
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
}

#[test]
fn refusals_get_an_error_page_or_a_status_and_an_audit_event() {
    let domain = Domain::new();
    let idp = start(&domain);
    let browser = idp.browser();
    let now = OffsetDateTime::now_utc();
    let key = &domain.sp_key;

    // Unknown issuer: error page.
    let xml = authn_xml("_u1", "http://unknown.test/sp", now, "", "");
    let page = browser.get(&redirect_query(&xml, Some(key)));
    assert_eq!(page.status, 403);
    assert!(!page.body.contains("SAMLResponse"));
    assert!(refused(&idp, "error_page", "not an active SAML service"));

    // Unregistered ACS: error page, never a POST.
    let xml = authn_xml(
        "_u2",
        SP,
        now,
        " AssertionConsumerServiceURL=\"http://evil.test/acs\"",
        "",
    );
    let page = browser.get(&redirect_query(&xml, Some(key)));
    assert_eq!(page.status, 400);
    assert!(!page.body.contains("SAMLResponse"));
    assert!(refused(
        &idp,
        "error_page",
        "AssertionConsumerServiceURL not registered"
    ));

    // Missing signature where the SP must sign.
    let xml = authn_xml("_u3", SP, now, "", "");
    let page = browser.get(&redirect_query(&xml, None));
    assert_eq!(page.status, 400);
    assert!(refused(&idp, "error_page", "not signed"));

    // Signed with another key.
    let (other, _) = generate_self_signed("other", 1).unwrap();
    let page = browser.get(&redirect_query(&xml, Some(&other)));
    assert_eq!(page.status, 400);
    assert!(refused(&idp, "error_page", "does not verify"));

    // The same over HTTP-POST: unsigned, signed by another key, a signature that no longer
    // covers what is read, from an unknown issuer.
    let post = |xml: &str| {
        browser.post_form(
            "/saml/sso",
            &[("SAMLRequest", &encode_block(xml.as_bytes()))],
        )
    };
    let page = post(&authn_xml("_p1", SP, now, "", ""));
    assert_eq!(page.status, 400, "{}", page.body);
    assert_refused(&idp, SP, "error_page", "not signed");
    let page = post(&sign_enveloped(
        &authn_xml("_p2", SP, now, "", ""),
        "_p2",
        &other,
    ));
    assert_eq!(page.status, 400, "{}", page.body);
    assert_refused(&idp, SP, "error_page", "signature is refused");
    let tampered = sign_enveloped(&authn_xml("_p3", SP, now, "", ""), "_p3", key)
        .replace(" Version=\"2.0\"", " Version=\"2.0\" IsPassive=\"true\"");
    let page = post(&tampered);
    assert_eq!(page.status, 400, "{}", page.body);
    assert_refused(&idp, SP, "error_page", "signature is refused");
    let stranger = "http://unknown.test/sp";
    let page = post(&sign_enveloped(
        &authn_xml("_p4", stranger, now, "", ""),
        "_p4",
        key,
    ));
    assert_eq!(page.status, 403, "{}", page.body);
    assert_refused(&idp, stranger, "error_page", "not an active SAML service");
    assert!(!page.body.contains("SAMLResponse"));

    // Unreadable messages: none at all (GET or POST), no Issuer, not base64, not DEFLATE,
    // over the form limit. Error pages, audited.
    assert_eq!(browser.get("/saml/sso").status, 400);
    assert_refused(&idp, "", "error_page", "no SAML message");
    let no_issuer =
        authn_xml("_p5", SP, now, "", "").replace(&format!("<saml:Issuer>{SP}</saml:Issuer>"), "");
    assert_eq!(
        browser.get(&redirect_query(&no_issuer, Some(key))).status,
        400
    );
    assert_refused(&idp, "", "error_page", "no Issuer");
    let page = browser.post_form("/saml/sso", &[("RelayState", "x")]);
    assert_eq!(page.status, 400, "{}", page.body);
    assert_refused(&idp, "", "error_page", "no SAML message");
    assert_eq!(browser.get("/saml/sso?SAMLRequest=%%%").status, 400);
    assert_refused(&idp, "", "error_page", "badly encoded");
    assert_eq!(
        browser
            .get("/saml/sso?SAMLRequest=bm90IGRlZmxhdGU%3D")
            .status,
        400
    );
    assert_refused(&idp, "", "error_page", "DEFLATE");
    let huge = "A".repeat(idp::protocols::saml::bindings::MAX_ENCODED + 8192);
    let page = browser.post_form("/saml/sso", &[("SAMLRequest", &huge)]);
    assert_eq!(page.status, 413, "{}", page.body);
    assert_refused(&idp, "", "error_page", "too large");
    // A pending request that is not kept (expired, or never was): at the continue step and
    // at the login that would complete it. Each one audited.
    let count = || {
        idp.events()
            .iter()
            .filter(|e| matches!(e, AuditEvent::SamlRequestRefused { .. }))
            .count()
    };
    let before = count();
    assert_eq!(browser.get("/saml/sso/continue?ref=_nothing").status, 400);
    assert_eq!(browser.get("/saml/sso/continue").status, 400);
    let other_browser = idp.browser();
    let form = other_browser.get("/login");
    let page = other_browser.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", "lea.dupont"),
            ("password", LEA_PASSWORD),
            ("saml", "_expired"),
        ],
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
    assert_eq!(count(), before + 3);
    assert_refused(&idp, "", "error_page", "unknown or expired pending request");

    // Signature wrapping: a genuinely signed request inside a forged one (POST binding).
    let inner = sign_enveloped(&authn_xml("_inner", SP, now, "", ""), "_inner", key);
    let inner = inner.replace(
        "<samlp:AuthnRequest ",
        "<samlp:AuthnRequest xmlns:x=\"urn:x\" ",
    );
    let forged = authn_xml(
        "_forged",
        SP,
        now,
        " AssertionConsumerServiceURL=\"http://evil.test/acs\"",
        &format!("<samlp:Extensions>{inner}</samlp:Extensions>"),
    );
    let page = browser.post_form(
        "/saml/sso",
        &[("SAMLRequest", &encode_block(forged.as_bytes()))],
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!page.body.contains("evil.test"));
    // (The nested signature is not the request's own: the forged one is unsigned.)
    assert_refused(&idp, SP, "error_page", "not signed");
    // The same with the inner request's signature moved up to the forged root.
    let sig_start = inner.find("<ds:Signature").unwrap();
    let sig_end = inner.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &inner[sig_start..sig_end];
    let forged2 = authn_xml(
        "_inner",
        SP,
        now,
        " AssertionConsumerServiceURL=\"http://evil.test/acs\"",
        sig,
    );
    let page = browser.post_form(
        "/saml/sso",
        &[("SAMLRequest", &encode_block(forged2.as_bytes()))],
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(refused(&idp, "error_page", "signature is refused"));

    // Replay: the same signed request twice; the second gets RequestDenied at the ACS.
    let xml = authn_xml("_replay", SP, now, "", "");
    let q = redirect_query(&xml, Some(key));
    let first = browser.get(&q);
    assert!(first.body.contains("name=\"password\""));
    let second = browser.get(&q);
    let res = response_of(&second);
    assert!(res.contains("status:RequestDenied"), "{res}");
    assert!(res.contains("InResponseTo=\"_replay\""));
    assert!(!res.contains("Assertion"));
    assert!(refused(&idp, "RequestDenied", "replay"));
    // Replayed over the other binding: the same ID is still used.
    let again = post(&sign_enveloped(&xml, "_replay", key));
    assert_status(&again, ACS, "Requester", "RequestDenied", "_replay");
    assert_refused(&idp, SP, "RequestDenied", "replay");

    // Expired IssueInstant.
    let old = now - time::Duration::hours(1);
    let xml = authn_xml("_old", SP, old, "", "");
    let res = response_of(&browser.get(&redirect_query(&xml, Some(key))));
    assert!(res.contains("status:RequestDenied"), "{res}");
    assert!(refused(&idp, "RequestDenied", "IssueInstant"));
    // … and one from the future beyond the allowed skew.
    let ahead = now + time::Duration::minutes(30);
    let page = browser.get(&redirect_query(
        &authn_xml("_ahead", SP, ahead, "", ""),
        Some(key),
    ));
    assert_status(&page, ACS, "Requester", "RequestDenied", "_ahead");
    assert_refused(&idp, SP, "RequestDenied", "IssueInstant");

    // DTD-carrying and oversized XML.
    let xml = format!(
        "<!DOCTYPE r [<!ENTITY e \"x\">]>{}",
        authn_xml("_dtd", SP, now, "", "")
    );
    assert_eq!(browser.get(&redirect_query(&xml, Some(key))).status, 400);
    assert!(refused(&idp, "error_page", "DTD"));
    let big = authn_xml(
        "_big",
        SP,
        now,
        "",
        &format!("<!--{}-->", "a".repeat(200_000)),
    );
    assert_eq!(browser.get(&redirect_query(&big, Some(key))).status, 400);
    assert!(refused(&idp, "error_page", "too large"));
    // The same over HTTP-POST (the message within the form limit, too large once decoded).
    let xml = format!(
        "<!DOCTYPE r [<!ENTITY e \"x\">]>{}",
        sign_enveloped(&authn_xml("_pdtd", SP, now, "", ""), "_pdtd", key)
    );
    assert_eq!(post(&xml).status, 400);
    assert_refused(&idp, "", "error_page", "DTD");
    let big = authn_xml(
        "_pbig",
        SP,
        now,
        "",
        &format!(
            "<!--{}-->",
            "a".repeat(idp::protocols::saml::bindings::MAX_XML + 1)
        ),
    );
    assert!(encode_block(big.as_bytes()).len() < idp::protocols::saml::bindings::MAX_ENCODED);
    assert_eq!(post(&big).status, 400);
    assert_refused(&idp, "", "error_page", "too large");

    // Another Destination: Requester.
    let xml = authn_xml("_dest", SP, now, "", "").replace(SSO, "http://elsewhere.test/sso");
    let res = response_of(&browser.get(&redirect_query(&xml, Some(key))));
    assert!(res.contains("status:Requester\""), "{res}");
    assert!(refused(&idp, "Requester", "Destination"));

    // IsPassive without a session: NoPassive.
    let xml = authn_xml("_passive", SP, now, " IsPassive=\"true\"", "");
    let res = response_of(&browser.get(&redirect_query(&xml, Some(key))));
    assert!(res.contains("status:NoPassive"), "{res}");
    assert!(refused(&idp, "NoPassive", "IsPassive"));

    // A NameID format the SP is not registered for.
    let xml = authn_xml(
        "_nip",
        SP,
        now,
        "",
        "<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\" AllowCreate=\"true\"/>",
    );
    let res = response_of(&browser.get(&redirect_query(&xml, Some(key))));
    assert!(res.contains("status:InvalidNameIDPolicy"), "{res}");
    assert_refused(&idp, SP, "InvalidNameIDPolicy", "Format");

    // Unsolicited SSO: refused for an SP not allowed to use it.
    let page = browser.get(&format!("/saml/sso/init?sp={}", enc(SP)));
    assert_eq!(page.status, 400);
    assert!(refused(&idp, "error_page", "unsolicited"));
    assert_eq!(browser.get("/saml/sso/init?RelayState=x").status, 400);
    assert_refused(&idp, "", "error_page", "without an sp parameter");
}

#[test]
fn unsolicited_sso_for_an_allowed_sp_and_an_sp_gone_from_the_registry() {
    let domain = Domain::new();
    let idp = start(&domain);
    let conf2 = domain.sp_config(&idp, SP2, ACS2);
    let browser = idp.browser();
    let page = browser.get(&format!("/saml/sso/init?sp={}&RelayState=home", enc(SP2)));
    let answer = login_through(&browser, &page);
    assert_eq!(field(&answer.body, "RelayState").as_deref(), Some("home"));
    let got = validate(&domain, &conf2, &answer, "-");
    assert_eq!(got["ok"], true, "{got}");
    let xml = response_of(&answer);
    assert!(!xml.contains("InResponseTo"));
    // Response and Assertion both signed, as this SP's entry says.
    assert_eq!(xml.matches("<ds:SignatureValue>").count(), 2, "{xml}");
    assert_eq!(
        got["name_id_format"],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    );
    let persistent = got["name_id"].as_str().unwrap().to_owned();
    assert!(!persistent.contains("lea"));
    // Persistent: the same in a new session.
    let other = idp.browser();
    let page = other.get(&format!("/saml/sso/init?sp={}", enc(SP2)));
    let answer = login_through(&other, &page);
    let got = validate(&domain, &conf2, &answer, "-");
    assert_eq!(got["name_id"].as_str().unwrap(), persistent);

    // An SP whose entry asks for encryption (in the same session, no password): an
    // EncryptedAssertion only, nothing readable; pysaml2 decrypts it (xmlsec1, AES-256-GCM,
    // RSA-OAEP), verifies the assertion's signature and gets exactly the released attributes.
    let conf3 = domain.sp_config(&idp, SP3, ACS3);
    let answer = other.get(&format!("/saml/sso/init?sp={}", enc(SP3)));
    let xml = response_of(&answer);
    assert!(xml.contains("status:Success"), "{xml}");
    assert_eq!(xml.matches("<saml:EncryptedAssertion").count(), 1, "{xml}");
    assert!(xml.contains("http://www.w3.org/2009/xmlenc11#aes256-gcm"));
    assert!(xml.contains("http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"));
    assert!(!xml.contains("<saml:Assertion"), "{xml}");
    // (Strings that base64 cannot hold, or too long to appear in it by chance.)
    for clear in [
        "AttributeValue",
        "NameID",
        "Subject",
        "lea.dupont",
        "DUPONT",
        "Léa",
    ] {
        assert!(!xml.contains(clear), "{clear} in clear: {xml}");
    }
    let got = validate(&domain, &conf3, &answer, "-");
    assert_eq!(got["ok"], true, "{got}");
    let attributes = got["attributes"].as_object().unwrap();
    let mut names: Vec<&str> = attributes.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["givenName", "sn", "uid"], "{got}");
    assert_eq!(attributes["uid"], serde_json::json!(["lea.dupont"]));
    assert_eq!(attributes["sn"], serde_json::json!(["DUPONT"]));
    assert_eq!(attributes["givenName"], serde_json::json!(["Léa"]));
    let name_id = got["name_id"].as_str().unwrap();
    assert!(name_id.len() > 8 && !xml.contains(name_id), "{got}");
    let issued = idp
        .events()
        .into_iter()
        .any(|e| matches!(e, AuditEvent::SamlAssertionIssued { sp, .. } if sp == SP3));
    assert!(issued);
    // The assertion's signature is checked after decryption: resealed as it was (and the
    // Response's signature dropped, pysaml2 not requiring one) it passes; with an attribute
    // value changed inside, pysaml2 refuses it.
    let got = validate_xml(
        &domain,
        &conf3,
        &reseal(&xml, &domain.sp_key, str::to_owned),
    );
    assert_eq!(got["ok"], true, "{got}");
    let forged = reseal(&xml, &domain.sp_key, |a| {
        assert!(a.starts_with("<saml:Assertion") && a.contains("<ds:SignatureValue>"));
        a.replace(">lea.dupont<", ">admin<")
    });
    let got = validate_xml(&domain, &conf3, &forged);
    assert_eq!(got["ok"], false, "{got}");
    assert!(
        got["error"].as_str().unwrap().contains("SignatureError"),
        "{got}"
    );
    // The same SP with a signature-only key and no encryption key pair cannot read it.
    let mut plain: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&conf3).unwrap()).unwrap();
    plain["decrypt"] = false.into();
    let conf_plain = domain.tmp.path().join("sp-plain.json");
    std::fs::write(&conf_plain, plain.to_string()).unwrap();
    let answer = other.get(&format!("/saml/sso/init?sp={}", enc(SP3)));
    let got = validate(&domain, &conf_plain, &answer, "-");
    assert_eq!(got["ok"], false, "{got}");
    assert!(
        got["error"].as_str().unwrap().contains("Missing assertion"),
        "{got}"
    );

    // The SP leaves the registry: its requests now get an error page.
    let now = OffsetDateTime::now_utc();
    let q = redirect_query(&authn_xml("_gone0", SP, now, "", ""), Some(&domain.sp_key));
    assert_eq!(browser.get(&q).status, 200);
    // A request accepted before the SP left, still waiting at the login page.
    let waiting = idp.browser();
    let q = redirect_query(
        &authn_xml("_gone_wait", SP, now, "", ""),
        Some(&domain.sp_key),
    );
    let login = waiting.get(&q);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    domain.publish(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        let id = format!("_gone{n}");
        let q = redirect_query(&authn_xml(&id, SP, now, "", ""), Some(&domain.sp_key));
        let page = browser.get(&q);
        if page.status == 403 {
            assert!(!page.body.contains("SAMLResponse"));
            break;
        }
        assert!(Instant::now() < deadline, "the SP is still served");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(refused(&idp, "error_page", "not an active SAML service"));
    // Its pending request, completed by a login now: an error page, never a response.
    let page = login_through(&waiting, &login);
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
    assert_refused(&idp, SP, "error_page", "no longer an active service");
}

#[test]
fn post_requests_signed_with_sha1_only_from_an_sp_allowed_it() {
    use federation_metadata::xmlsig::{RSA_SHA256, SHA256};
    let domain = Domain::new();
    let idp = start(&domain);
    let now = OffsetDateTime::now_utc();
    let key = &domain.sp_key;
    let post = |browser: &Browser, xml: &str| {
        browser.post_form(
            "/saml/sso",
            &[("SAMLRequest", &encode_block(xml.as_bytes()))],
        )
    };
    // RSA-SHA1 with a SHA-1 digest, and each of them alone.
    for (n, (method, digest)) in [(RSA_SHA1, SHA1), (RSA_SHA1, SHA256), (RSA_SHA256, SHA1)]
        .into_iter()
        .enumerate()
    {
        // The pysaml2 SP's entry does not allow SHA-1: an error page, never a POST.
        let browser = idp.browser();
        let id = format!("_sha1_refused{n}");
        let xml = sign_enveloped_with(&authn_xml(&id, SP, now, "", ""), &id, key, method, digest);
        let page = post(&browser, &xml);
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(!page.body.contains("SAMLResponse"));
        assert_refused(&idp, SP, "error_page", "not accepted");
        // The legacy SP's entry allows it: accepted, the login page, then its response.
        let id = format!("_sha1_ok{n}");
        let xml = sign_enveloped_with(&authn_xml(&id, SP4, now, "", ""), &id, key, method, digest);
        let login = browser.get(&continue_url(&post(&browser, &xml)));
        let answer = login_through(&browser, &login);
        assert!(
            answer.body.contains(&format!("action=\"{ACS4}\"")),
            "{}",
            answer.body
        );
        let res = response_of(&answer);
        assert!(res.contains("status:Success"), "{res}");
        assert!(res.contains(&format!("InResponseTo=\"{id}\"")), "{res}");
    }
    // SHA-1 allowed is still a signature check: another key, or a changed byte, refused.
    let browser = idp.browser();
    let (other, _) = generate_self_signed("other", 1).unwrap();
    let xml = authn_xml("_sha1_other", SP4, now, "", "");
    let page = post(
        &browser,
        &sign_enveloped_with(&xml, "_sha1_other", &other, RSA_SHA1, SHA1),
    );
    assert_eq!(page.status, 400, "{}", page.body);
    assert_refused(&idp, SP4, "error_page", "signature is refused");
    let signed = sign_enveloped_with(&xml, "_sha1_other", key, RSA_SHA1, SHA1);
    let tampered = signed.replace(" Version=\"2.0\"", " Version=\"2.0\" ForceAuthn=\"true\"");
    assert_ne!(signed, tampered);
    assert_eq!(post(&browser, &tampered).status, 400);
    assert_refused(&idp, SP4, "error_page", "signature is refused");
}

#[test]
fn name_id_policy_and_response_binding_refusals_get_a_status_at_the_trusted_acs() {
    let domain = Domain::new();
    let idp = start(&domain);
    let browser = idp.browser();
    let now = OffsetDateTime::now_utc();
    let key = &domain.sp_key;
    let policy = |attrs: &str| format!("<samlp:NameIDPolicy {attrs}/>");
    let get = |xml: &str| browser.get(&redirect_query(xml, Some(key)));

    // An SPNameQualifier other than the SP itself: no affiliations.
    let page = get(&authn_xml(
        "_affiliation",
        SP,
        now,
        "",
        &policy("SPNameQualifier=\"http://affiliation.test/group\" AllowCreate=\"true\""),
    ));
    assert_status(
        &page,
        ACS,
        "Requester",
        "InvalidNameIDPolicy",
        "_affiliation",
    );
    assert_refused(&idp, SP, "InvalidNameIDPolicy", "affiliations");
    // AllowCreate "true", "false" (a transient identifier is associated with nothing
    // lasting: errata E10's "not applicable", as Shibboleth IdP does), absent, or the SP
    // itself as SPNameQualifier: served.
    for (n, attrs) in [
        format!("Format=\"{TRANSIENT}\" AllowCreate=\"true\""),
        format!("Format=\"{TRANSIENT}\" AllowCreate=\"false\""),
        "AllowCreate=\"false\"".to_owned(),
        format!("Format=\"{UNSPECIFIED}\" AllowCreate=\"0\""),
        format!("Format=\"{TRANSIENT}\""),
        format!("SPNameQualifier=\"{SP}\""),
    ]
    .iter()
    .enumerate()
    {
        let page = get(&authn_xml(
            &format!("_create{n}"),
            SP,
            now,
            "",
            &policy(attrs),
        ));
        assert!(page.body.contains("name=\"password\""), "{}", page.body);
    }
    // A persistent identifier exists for every person by construction: AllowCreate="false"
    // is served, with it.
    let xml = authn_xml(
        "_persistent",
        SP2,
        now,
        "",
        &policy(&format!("Format=\"{PERSISTENT}\" AllowCreate=\"false\"")),
    );
    let answer = login_through(&browser, &get(&xml));
    let res = response_of(&answer);
    assert!(res.contains("status:Success"), "{res}");
    assert!(res.contains(PERSISTENT), "{res}");
    assert!(res.contains("InResponseTo=\"_persistent\""), "{res}");

    // Response bindings other than HTTP-POST (the session now open changes nothing):
    // UnsupportedBinding, posted to the SP's default HTTP-POST ACS.
    for (n, binding) in [
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
        "urn:oasis:names:tc:SAML:2.0:bindings:PAOS",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("_binding{n}");
        let extra = format!(" ProtocolBinding=\"{binding}\"");
        let page = get(&authn_xml(&id, SP, now, &extra, ""));
        assert_status(&page, ACS, "Responder", "UnsupportedBinding", &id);
        assert_refused(&idp, SP, "UnsupportedBinding", "HTTP-POST");
    }
    // An ACS registered for HTTP-Artifact, named by URL or by index: the same, at the SP's
    // HTTP-POST ACS.
    for (id, extra) in [
        (
            "_art_url",
            format!(" AssertionConsumerServiceURL=\"{ART4}\""),
        ),
        (
            "_art_index",
            " AssertionConsumerServiceIndex=\"1\"".to_owned(),
        ),
    ] {
        let page = get(&authn_xml(id, SP4, now, &extra, ""));
        assert_status(&page, ACS4, "Responder", "UnsupportedBinding", id);
        assert!(!page.body.contains(ART4), "{}", page.body);
        assert_refused(&idp, SP4, "UnsupportedBinding", "HTTP-POST");
    }
    // The request's own validity comes first: replayed, it is RequestDenied.
    let page = get(&authn_xml(
        "_art_url",
        SP4,
        now,
        &format!(" AssertionConsumerServiceURL=\"{ART4}\""),
        "",
    ));
    assert_status(&page, ACS4, "Requester", "RequestDenied", "_art_url");
    assert_refused(&idp, SP4, "RequestDenied", "replay");
    // An ACS that is not registered at all is never answered to, whatever the binding.
    let extra = " AssertionConsumerServiceURL=\"http://evil.test/acs\" ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact\"";
    let page = get(&authn_xml("_evil_art", SP, now, extra, ""));
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
    assert_refused(&idp, SP, "error_page", "not registered");
}

#[test]
fn authn_and_logout_request_ids_have_their_own_replay_key_spaces() {
    let domain = Domain::new();
    let idp = start(&domain);
    let browser = idp.browser();
    let now = OffsetDateTime::now_utc();
    let key = &domain.sp_key;
    let refusals = |idp: &TestIdp| {
        idp.events()
            .iter()
            .filter(|e| matches!(e, AuditEvent::SamlRequestRefused { .. }))
            .count()
    };
    let authn = redirect_query(&authn_xml("_shared", SP, now, "", ""), Some(key));
    let page = browser.get(&authn);
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
    // A LogoutRequest from the same SP with the same ID is not a replay of it.
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_shared" Version="2.0" IssueInstant="{}" Destination="http://localhost:8080/saml/slo"><saml:Issuer>{SP}</saml:Issuer><saml:NameID Format="{TRANSIENT}">_nobody</saml:NameID><samlp:SessionIndex>_none</samlp:SessionIndex></samlp:LogoutRequest>"#,
        instant(now)
    );
    let slo = redirect_query(&logout, Some(key)).replacen("/saml/sso?", "/saml/slo?", 1);
    let before = refusals(&idp);
    let res = browser.get(&slo);
    assert!(res.status < 500, "{}", res.body);
    assert_eq!(refusals(&idp), before, "{:?}", last_refusal(&idp));
    // Each used twice is.
    let res = browser.get(&slo);
    assert!(res.status < 500, "{}", res.body);
    assert_refused(&idp, SP, "RequestDenied", "replay");
    let page = browser.get(&authn);
    assert_status(&page, ACS, "Requester", "RequestDenied", "_shared");
    assert_refused(&idp, SP, "RequestDenied", "replay");
}

/// The path and query of a `/saml/slo` URL pysaml2 redirects to.
fn slo_path_of(url: &str) -> String {
    assert!(url.starts_with("http://localhost:8080/saml/slo?"), "{url}");
    format!("/saml/slo?{}", url.split_once('?').unwrap().1)
}

/// The XML of the Redirect LogoutResponse in `location`.
fn logout_response_xml(location: &str) -> String {
    use std::io::Read as _;
    let q = location.split_once('?').unwrap().1;
    let raw = q
        .split('&')
        .find_map(|p| p.strip_prefix("SAMLResponse="))
        .unwrap();
    let b64 = idp::protocols::saml::bindings::percent_decode(raw).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&decode_block(&b64).unwrap()[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[test]
fn sp_initiated_logout_ends_the_session_and_answers_a_signed_logout_response() {
    let domain = Domain::new();
    let idp = start(&domain);
    let conf = domain.sp_config(&idp, SP, ACS);
    let browser = idp.browser();
    let got = pysaml2_login(&domain, &conf, &browser);
    let name_id = got["name_id"].as_str().unwrap().to_owned();
    let session_index = got["session_index"].as_str().unwrap().to_owned();
    assert!(browser.logged_in());
    let cookie_name = idp_tests::test_settings().sessions.cookie_name;
    let old_cookie = browser.cookie(&cookie_name).unwrap();

    // Unsigned: refused with an error page, the session untouched.
    let unsigned = pysaml2(&conf, &["logout", &name_id, &session_index]);
    let url = unsigned["url"].as_str().unwrap();
    let bare = url.split("&SigAlg=").next().unwrap();
    let res = browser.get(&slo_path_of(bare));
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.location().is_none());
    assert!(refused(&idp, "error_page", "must be signed"));
    assert!(browser.logged_in());

    // From an issuer that is not a registered SP: refused, the session untouched.
    let stranger = domain.sp_config(&idp, "http://unknown.test/stranger-sp", ACS);
    let r = pysaml2(&stranger, &["logout", &name_id, &session_index]);
    let res = browser.get(&slo_path_of(r["url"].as_str().unwrap()));
    assert!(res.status >= 400, "{}", res.body);
    assert!(res.location().is_none());
    assert!(refused(&idp, "error_page", "not an active SAML service"));
    assert!(browser.logged_in());

    // A SessionIndex of no session entry: UnknownPrincipal, nothing ended.
    let r = pysaml2(&conf, &["logout", &name_id, "_not-this-session"]);
    let res = browser.get(&slo_path_of(r["url"].as_str().unwrap()));
    assert_eq!(res.status, 302, "{}", res.body);
    let location = res.location().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{SLO}?SAMLResponse=")),
        "{location}"
    );
    let xml = logout_response_xml(&location);
    assert!(xml.contains("status:UnknownPrincipal"), "{xml}");
    assert!(browser.logged_in());

    // The right one: the session ends, the SP gets Success, signed.
    let r = pysaml2(&conf, &["logout", &name_id, &session_index]);
    let request_id = r["request_id"].as_str().unwrap();
    let res = browser.get(&slo_path_of(r["url"].as_str().unwrap()));
    assert_eq!(res.status, 302, "{}", res.body);
    let location = res.location().unwrap().to_owned();
    assert!(location.contains("&Signature="), "{location}");
    let checked = pysaml2(&conf, &["slo_response", &location, request_id]);
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(
        checked["status"],
        "urn:oasis:names:tc:SAML:2.0:status:Success"
    );
    assert_eq!(checked["in_response_to"], request_id);
    assert_eq!(checked["relay_state"], "rs-slo");
    assert!(!browser.logged_in());
    let other = idp.browser();
    other.set_cookie(&cookie_name, &old_cookie);
    assert!(!other.logged_in());
    assert!(idp.events().iter().any(|e| matches!(e,
        AuditEvent::SamlLogout { sp, outcome, .. } if sp == SP && outcome == "Success")));
}

/// A LogoutRequest written by hand, for the IdP's SLO endpoint.
fn logout_xml(id: &str, issuer: &str, name_id: &str, session_index: &str) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="http://localhost:8080/saml/slo"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">{name_id}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        instant(OffsetDateTime::now_utc())
    )
}

#[test]
fn post_logout_request_propagates_then_answers_partial_logout_when_unconfirmed() {
    let domain = Domain::new();
    let idp = start(&domain);
    let conf = domain.sp_config(&idp, SP, ACS);
    let browser = idp.browser();
    let got = pysaml2_login(&domain, &conf, &browser);
    let name_id = got["name_id"].as_str().unwrap().to_owned();
    let session_index = got["session_index"].as_str().unwrap().to_owned();
    // A second SAML SP in the same session.
    let other = browser.get(&format!("/saml/sso/init?sp={}", enc(SP2)));
    assert!(
        other.body.contains(&format!("action=\"{ACS2}\"")),
        "{}",
        other.body
    );

    // Unsigned over POST: refused, nothing ended.
    let xml = logout_xml("_lo-unsigned", SP, &name_id, &session_index);
    let res = browser.post_form(
        "/saml/slo",
        &[("SAMLRequest", &encode_block(xml.as_bytes()))],
    );
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(browser.logged_in());

    // Signed (enveloped): back on our site, then PartialLogout to the SP's SLO endpoint.
    let xml = sign_enveloped(
        &logout_xml("_lo-signed", SP, &name_id, &session_index),
        "_lo-signed",
        &domain.sp_key,
    );
    let res = browser.post_form(
        "/saml/slo",
        &[
            ("SAMLRequest", &encode_block(xml.as_bytes())),
            ("RelayState", "rs-post"),
        ],
    );
    assert_eq!(res.status, 200, "{}", res.body);
    let start = res.body.find("/saml/slo/continue?ref=").unwrap();
    let end = res.body[start..].find('"').unwrap() + start;
    let res = browser.get(&res.body[start..end]);
    // The other SP is sent a LogoutRequest from the logout page, which then leads on to
    // the initiator's LogoutResponse: Success, since every other SP could be told.
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body.matches("<iframe").count(), 1, "{}", res.body);
    // Then its status page: the other SP never answers here, so it looks again a few
    // times ("logout requested"), then says "no answer" and leads on.
    let start = res.body.find("href=\"/saml/slo/status?ref=").unwrap() + 6;
    let end = res.body[start..].find('"').unwrap() + start;
    let status_url = res.body[start..end].to_owned();
    let mut res = browser.get(&status_url);
    let mut waits = 0;
    while res.body.contains(&format!("href=\"{status_url}\"")) {
        assert!(
            res.body.contains(&format!("{SP2} — déconnexion demandée"))
                || res.body.contains(&format!("{SP2} — logout requested")),
            "{}",
            res.body
        );
        waits += 1;
        assert!(waits <= 3, "the status page never moves on");
        res = browser.get(&status_url);
    }
    assert_eq!(waits, 3);
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        res.body.contains(&format!("{SP2} — pas de réponse"))
            || res.body.contains(&format!("{SP2} — no answer")),
        "{}",
        res.body
    );
    // On to the initiator's answer, decided now: SP2 never confirmed, so PartialLogout.
    let start = res.body.find("href=\"/saml/slo/answer?ref=").unwrap() + 6;
    let end = res.body[start..].find('"').unwrap() + start;
    let answer = browser.get(&res.body[start..end]);
    assert_eq!(answer.status, 302, "{}", answer.body);
    let location = answer.location().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/slo?SAMLResponse="),
        "{location}"
    );
    assert!(
        location.contains("&RelayState=rs-post&SigAlg="),
        "{location}"
    );
    let xml = logout_response_xml(&location);
    assert!(xml.contains("InResponseTo=\"_lo-signed\""), "{xml}");
    assert!(xml.contains("status:Success\""), "{xml}");
    assert!(xml.contains("status:PartialLogout\""), "{xml}");
    // Sent once.
    assert_eq!(browser.get(&res.body[start..end]).status, 400);
    assert!(!browser.logged_in());
    assert!(idp.events().iter().any(|e| matches!(e,
        AuditEvent::SamlLogout { sp, outcome, .. } if sp == SP && outcome == "PartialLogout")));
    assert!(
        idp.events().iter().any(|e| matches!(e,
        AuditEvent::SamlLogout { sp, outcome, .. } if sp == SP2 && outcome == "LogoutRequestSent"))
    );
}

/// The signed LogoutRequest URLs of a logout page's frames.
fn frames_of(body: &str) -> Vec<String> {
    body.match_indices("<iframe class=\"slo\" src=\"")
        .map(|(i, m)| {
            let start = i + m.len();
            let end = body[start..].find('"').unwrap() + start;
            body[start..end].replace("&amp;", "&").replace("&#38;", "&")
        })
        .collect()
}

#[test]
fn idp_initiated_logout_sends_a_signed_logout_request_to_each_saml_sp() {
    let domain = Domain::new();
    let idp = start(&domain);
    let conf = domain.sp_config(&idp, SP, ACS);
    let conf2 = domain.sp_config(&idp, SP2, ACS2);
    let browser = idp.browser();
    let got = pysaml2_login(&domain, &conf, &browser);
    // Two more SAML SPs in the session; the third registered no SingleLogoutService.
    let page2 = browser.get(&format!("/saml/sso/init?sp={}", enc(SP2)));
    let got2 = validate(&domain, &conf2, &page2, "-");
    assert_eq!(got2["ok"], true, "{got2}");
    let page3 = browser.get(&format!("/saml/sso/init?sp={}", enc(SP3)));
    assert!(
        page3.body.contains(&format!("action=\"{ACS3}\"")),
        "{}",
        page3.body
    );

    let home = browser.get("/");
    let out = browser.post_form("/logout", &[("csrf", &home.csrf())]);
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(!browser.logged_in());
    let csp = out.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-src http://127.0.0.1:9"), "{csp}");
    assert!(
        out.body.contains(SP3)
            && (out.body.contains("not reachable") || out.body.contains("non joignable")),
        "{}",
        out.body
    );
    let frames = frames_of(&out.body);
    assert_eq!(frames.len(), 2, "{}", out.body);
    let mut answered = Vec::new();
    for (url, c, got) in [(&frames[0], &conf, &got), (&frames[1], &conf2, &got2)] {
        assert!(url.starts_with(&format!("{SLO}?SAMLRequest=")), "{url}");
        let r = pysaml2(c, &["idp_logout", url]);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["name_id"], got["name_id"], "{r}");
        assert_eq!(r["session_index"], got["session_index"], "{r}");
        answered.push(r["response_url"].as_str().unwrap().to_owned());
    }
    // SP's LogoutResponse comes back: that SP is logged out (audited); a replay is refused.
    let res = browser.get(&slo_path_of(&answered[0]));
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(idp.events().iter().any(|e| matches!(e,
        AuditEvent::SamlLogout { sp, outcome, .. } if sp == SP && outcome == "LoggedOut")));
    assert!(idp.events().iter().any(|e| matches!(e,
        AuditEvent::SamlLogout { sp, outcome, .. } if sp == SP3 && outcome == "NoLogoutEndpoint")));
    let again = browser.get(&slo_path_of(&answered[0]));
    assert_eq!(again.status, 400, "{}", again.body);
}

// ---------------------------------------------------------------------------------------
// The response's fields, read from the SAMLResponse the browser posts.

/// The value of attribute `attr` on the first `<tag` element of `xml` (the IdP writes
/// canonical XML with fixed prefixes, so a plain search is exact).
fn attr_on(xml: &str, tag: &str, attr: &str) -> Option<String> {
    let open = format!("<{tag}");
    let start = xml
        .match_indices(&open)
        .map(|(i, _)| i)
        .find(|&i| matches!(xml.as_bytes().get(i + open.len()), Some(b' ' | b'>')))?;
    let end = xml[start..].find('>')? + start;
    let marker = format!(" {attr}=\"");
    let at = xml[start..end].find(&marker)? + start + marker.len();
    Some(xml[at..at + xml[at..].find('"')?].to_owned())
}

/// The text of the first `<tag>` element of `xml`.
fn text_of(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// An instant as the IdP writes it (whole seconds, UTC, `Z`).
fn at_second(t: OffsetDateTime) -> String {
    instant(t.replace_nanosecond(0).unwrap())
}

/// Every date, address and the session end of the Response and its Assertion, exactly,
/// against the IdP's (frozen, test-moved) clock: Destination, Recipient and InResponseTo
/// name the request's ACS and ID, the Audience is the SP, NotBefore/NotOnOrAfter follow
/// `saml.assertion_lifetime_secs`, and `SessionNotOnOrAfter` is the login instant plus
/// `sessions.absolute_timeout_secs`, the same in a later SSO response of that session, and
/// really the session's end: at that instant the IdP asks for the password again.
#[test]
fn response_dates_addresses_and_session_end_are_exact() {
    use idp::ports::Clock as _;
    const LIFETIME: i64 = 240;
    const IDLE: i64 = 1800;
    const ABSOLUTE: i64 = 2400;
    let domain = Domain::new();
    domain.publish(true);
    let settings = domain.settings();
    let idp = TestIdp::start_with(move |s| {
        s.federation.domains = vec![settings];
        s.saml.assertion_lifetime_secs = LIFETIME as u64;
        s.sessions.idle_timeout_secs = IDLE as u64;
        s.sessions.absolute_timeout_secs = ABSOLUTE as u64;
    });
    let conf = domain.sp_config(&idp, SP, ACS);
    let browser = idp.browser();
    let issuer = format!(
        "{}/saml/metadata",
        idp_tests::test_settings().server.public_url
    );
    let secs = time::Duration::seconds;

    let req = pysaml2(&conf, &["authn"]);
    let request_id = req["request_id"].as_str().unwrap();
    let login = browser.get(&path_of(req["url"].as_str().unwrap()));
    let t0 = idp.clock.now();
    let answer = login_through(&browser, &login);
    let xml = response_of(&answer);
    // The real verifier first (signature, audience, destination, InResponseTo, times).
    let got = validate(&domain, &conf, &answer, request_id);
    assert_eq!(got["ok"], true, "{got}");

    let check = |xml: &str, request_id: &str, now: OffsetDateTime| {
        let a = |tag: &str, attr: &str| attr_on(xml, tag, attr);
        assert_eq!(a("samlp:Response", "Destination").as_deref(), Some(ACS));
        assert_eq!(
            a("samlp:Response", "InResponseTo").as_deref(),
            Some(request_id)
        );
        assert_eq!(
            a("samlp:Response", "IssueInstant"),
            Some(at_second(now)),
            "{xml}"
        );
        assert_eq!(
            a("saml:Assertion", "IssueInstant"),
            Some(at_second(now)),
            "{xml}"
        );
        assert_eq!(xml.matches("<saml:Issuer").count(), 2, "{xml}");
        assert_eq!(
            xml.matches(&format!(">{issuer}</saml:Issuer>")).count(),
            2,
            "{xml}"
        );
        assert_eq!(
            a("saml:SubjectConfirmation", "Method").as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:cm:bearer")
        );
        let scd = "saml:SubjectConfirmationData";
        assert_eq!(a(scd, "Recipient").as_deref(), Some(ACS));
        assert_eq!(a(scd, "InResponseTo").as_deref(), Some(request_id));
        assert_eq!(
            a(scd, "NotOnOrAfter"),
            Some(at_second(now + secs(LIFETIME)))
        );
        // The Web SSO profile allows no NotBefore on a bearer confirmation.
        assert_eq!(a(scd, "NotBefore"), None, "{xml}");
        assert_eq!(
            a("saml:Conditions", "NotBefore"),
            Some(at_second(now - secs(30)))
        );
        assert_eq!(
            a("saml:Conditions", "NotOnOrAfter"),
            Some(at_second(now + secs(LIFETIME)))
        );
        assert_eq!(xml.matches("<saml:Audience>").count(), 1, "{xml}");
        assert_eq!(text_of(xml, "saml:Audience").as_deref(), Some(SP));
        let authn = "saml:AuthnStatement";
        assert_eq!(a(authn, "AuthnInstant"), Some(at_second(t0)), "{xml}");
        assert_eq!(
            a(authn, "SessionNotOnOrAfter"),
            Some(at_second(t0 + secs(ABSOLUTE))),
            "{xml}"
        );
        a(authn, "SessionIndex").unwrap()
    };
    let session_index = check(&xml, request_id, t0);
    assert_eq!(got["session_index"].as_str(), Some(session_index.as_str()));

    // Ten minutes on, then twenty more (each within the idle timeout): SSO without a
    // password, new dates, the same login instant and session end.
    for step in [600, 1200] {
        idp.advance_secs(step);
        let now = idp.clock.now();
        // Written at the IdP's time (pysaml2's would be too old for it by now).
        let request_id = format!("_later{step}");
        let xml = authn_xml(&request_id, SP, now, "", "");
        let again = browser.get(&redirect_query(&xml, Some(&domain.sp_key)));
        assert!(!again.body.contains("name=\"password\""), "{}", again.body);
        let index = check(&response_of(&again), &request_id, now);
        assert_eq!(index, session_index);
    }
    // At t0 + ABSOLUTE, the announced end, the session is over: the password again.
    idp.advance_secs((ABSOLUTE - 1800) as u64);
    assert_eq!(idp.clock.now(), t0 + secs(ABSOLUTE));
    let xml = authn_xml("_ended", SP, t0 + secs(ABSOLUTE), "", "");
    let page = browser.get(&redirect_query(&xml, Some(&domain.sp_key)));
    assert!(page.body.contains("name=\"password\""), "{}", page.body);
}

/// The demo deployment's Moodle entry (unspecified NameID from `login`, `uid` released
/// with no name format written, hence `basic`): pysaml2 gets the NameID `lea.dupont` in
/// the unspecified format and exactly `uid` = `lea.dupont`, in the basic name format.
#[test]
fn the_demo_moodle_entry_gets_uid_in_basic_format_and_the_login_as_name_id() {
    let domain = Domain::new();
    let idp = start(&domain);
    let conf = domain.sp_config(&idp, MOODLE, MOODLE_ACS);
    let browser = idp.browser();
    let req = pysaml2(&conf, &["authn"]);
    let page = browser.get(&path_of(req["url"].as_str().unwrap()));
    let answer = login_through(&browser, &page);
    assert!(
        answer.body.contains(&format!("action=\"{MOODLE_ACS}\"")),
        "{}",
        answer.body
    );
    let got = validate(&domain, &conf, &answer, req["request_id"].as_str().unwrap());
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["name_id"], "lea.dupont", "{got}");
    assert_eq!(got["name_id_format"], UNSPECIFIED, "{got}");
    assert_eq!(
        got["attributes"],
        serde_json::json!({"uid": ["lea.dupont"]}),
        "{got}"
    );
    let xml = response_of(&answer);
    assert_eq!(xml.matches("<saml:Attribute ").count(), 1, "{xml}");
    assert_eq!(
        attr_on(&xml, "saml:Attribute", "Name").as_deref(),
        Some("uid")
    );
    assert_eq!(
        attr_on(&xml, "saml:Attribute", "NameFormat").as_deref(),
        Some(BASIC)
    );
    assert_eq!(
        attr_on(&xml, "saml:NameID", "Format").as_deref(),
        Some(UNSPECIFIED)
    );
}

/// The legacy SP's entry allows SHA-1 and asks for `rsa-sha1`: its assertion is signed
/// with RSA-SHA1 over a SHA-1 digest, which pysaml2 (xmlsec1) verifies, and refuses once a
/// value is changed. The pysaml2 SP's entry (no `allow_sha1`) gets RSA-SHA256 and SHA-256
/// in the same session, nothing SHA-1; and a registry asking `rsa-sha1` without
/// `allow_sha1` does not compile, so no loaded entry can.
#[test]
fn responses_are_signed_with_sha1_only_for_an_entry_allowing_and_asking_for_it() {
    use federation_metadata::xmlsig::{RSA_SHA256, SHA256};
    let domain = Domain::new();
    let idp = start(&domain);
    let browser = idp.browser();

    let conf4 = domain.sp_config(&idp, SP4, ACS4);
    let req = pysaml2(&conf4, &["authn"]);
    let request_id = req["request_id"].as_str().unwrap();
    let page = browser.get(&path_of(req["url"].as_str().unwrap()));
    let answer = login_through(&browser, &page);
    let xml = response_of(&answer);
    assert_eq!(xml.matches("<ds:SignatureValue>").count(), 1, "{xml}");
    assert_eq!(
        attr_on(&xml, "ds:SignatureMethod", "Algorithm").as_deref(),
        Some(RSA_SHA1)
    );
    assert_eq!(
        attr_on(&xml, "ds:DigestMethod", "Algorithm").as_deref(),
        Some(SHA1)
    );
    assert!(!xml.contains(RSA_SHA256) && !xml.contains(SHA256), "{xml}");
    let got = validate(&domain, &conf4, &answer, request_id);
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["attributes"]["uid"], serde_json::json!(["lea.dupont"]));
    // Verified, not just accepted: a changed value breaks the SHA-1 digest.
    let forged = xml.replace(">DUPONT<", ">DURAND<");
    assert_ne!(forged, xml);
    let file = domain.tmp.path().join("forged-sha1.b64");
    std::fs::write(&file, encode_block(forged.as_bytes())).unwrap();
    let got = pysaml2(&conf4, &["acs", file.to_str().unwrap(), request_id]);
    assert_eq!(got["ok"], false, "{got}");
    assert!(
        got["error"].as_str().unwrap().contains("Signature"),
        "{got}"
    );

    // No allow_sha1: SHA-256 only, in the same session.
    let conf = domain.sp_config(&idp, SP, ACS);
    let req = pysaml2(&conf, &["authn"]);
    let again = browser.get(&path_of(req["url"].as_str().unwrap()));
    let xml = response_of(&again);
    assert_eq!(
        attr_on(&xml, "ds:SignatureMethod", "Algorithm").as_deref(),
        Some(RSA_SHA256)
    );
    assert_eq!(
        attr_on(&xml, "ds:DigestMethod", "Algorithm").as_deref(),
        Some(SHA256)
    );
    assert!(!xml.contains(RSA_SHA1) && !xml.contains(SHA1), "{xml}");
    let got = validate(&domain, &conf, &again, req["request_id"].as_str().unwrap());
    assert_eq!(got["ok"], true, "{got}");

    // rsa-sha1 without allow_sha1 is refused when the registry is compiled.
    let src = domain.tmp.path().join("src-sha1");
    write_demo_domain(&src, &domain.fed_pem);
    std::fs::write(
        src.join("services/pysp.toml"),
        service_toml("pysp", SP, ACS, &domain.sp_pem, false).replace(
            "[protocol.saml]\n",
            "[protocol.saml]\nsignature_algorithm = \"rsa-sha1\"\n",
        ),
    )
    .unwrap();
    let err = compile_domain(
        &src,
        &domain.fed_key,
        &domain.tmp.path().join("out-sha1"),
        OffsetDateTime::now_utc(),
    )
    .expect_err("rsa-sha1 without allow_sha1 compiled");
    assert!(format!("{err:?}").contains("allow_sha1"), "{err:?}");
}
