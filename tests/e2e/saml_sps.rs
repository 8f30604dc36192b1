//! The SAML 2.0 IdP with real service providers (issue 4, "Done when"): Shibboleth SP 3
//! (shibd + Apache `mod_shib`, `idp_tests::shibsp`) and mod_auth_mellon
//! (`idp_tests::mellon`), each in throwaway processes on loopback ports, trusting the IdP
//! through the metadata it serves at `/saml/metadata`, and registered in the IdP's signed
//! test registry from the metadata they publish themselves (`/Shibboleth.sso/Metadata`,
//! `/mellon/metadata`, read by `federation_metadata::saml_import`).
//!
//! Single logout with both, started at either SP (`/Shibboleth.sso/Logout`,
//! `/mellon/logout?ReturnTo=`) and at the IdP (its logout button): front channel (the
//! browser follows the logged-out page's frames), and Shibboleth's SOAP back channel
//! (`/Shibboleth.sso/SLO/SOAP`, reached by the IdP over the loopback). Each time, the SP's
//! own session is checked gone: its protected page sends the visitor to the IdP again.
//!
//! Encrypted assertions (the entry's `encrypt_assertion`): both SPs decrypt them
//! (AES-256-GCM, RSA-OAEP-MGF1P), and the SAMLResponse the browser carried holds nothing in
//! clear.
//!
//! The IdP's `server.public_url` is a plain-HTTP Apache reverse proxy on a port chosen
//! before it starts (`idp_tests::saml_sp::IdpFront`): its entityID, its SSO location and the
//! `Destination` it checks are then real loopback URLs.

use federation_metadata::model::Binding;
use idp::audit::AuditEvent;
use idp_tests::mellon::MellonSp;
use idp_tests::saml_sp::{self, IdpFront, SamlRegistry, SamlService};
use idp_tests::shibsp::ShibbolethSp;
use idp_tests::two_sps::{self, entity_url};
use idp_tests::{Browser, TestIdp, LEA_PASSWORD};

const LEA: (&str, &str) = ("lea.dupont", LEA_PASSWORD);

/// The IdP (behind its front), its registry, and both SPs.
struct World {
    idp: TestIdp,
    front: IdpFront,
    registry: SamlRegistry,
    shib: ShibbolethSp,
    mellon: MellonSp,
    /// One cookie jar for the IdP and both SPs; every URL absolute.
    browser: Browser,
    shib_metadata: String,
    mellon_metadata: String,
}

impl World {
    /// Starts everything; the SPs are not yet in the registry (see [`World::register`]).
    fn new() -> Self {
        let registry = SamlRegistry::new();
        registry.publish(&[]);
        let mut front = IdpFront::new();
        let (public_url, domain) = (front.url(), registry.settings());
        let idp = TestIdp::start_with(|s| {
            s.server.public_url = public_url;
            s.federation.domains = vec![domain];
        });
        front.start(&idp.url);
        let browser = Browser::new("");
        let idp_metadata = saml_sp::fetch_idp_metadata(&browser, &front.url());
        let shib = ShibbolethSp::start(&idp_metadata);
        let mellon = MellonSp::start(&idp_metadata);
        let shib_metadata = shib.fetch_metadata(&browser);
        let mellon_metadata = mellon.fetch_metadata(&browser);
        Self {
            idp,
            front,
            registry,
            shib,
            mellon,
            browser,
            shib_metadata,
            mellon_metadata,
        }
    }

    /// The two SPs as registry services, from their own metadata, with the
    /// SingleLogoutServices of `slo` bindings.
    fn services(&self, slo: &[Binding]) -> Vec<SamlService> {
        two_sps::services(&self.shib_metadata, &self.mellon_metadata, slo)
    }

    /// Publishes the registry with both SPs (no SingleLogoutService) and waits for the IdP
    /// to load it.
    fn register(&self) {
        self.register_with(&[]);
    }

    /// Publishes the registry with both SPs and their SingleLogoutServices of `slo`
    /// bindings, and waits for the IdP to load it (its registered Shibboleth SP's entityID
    /// answers at `/entities/<entityID>`), within 15 s.
    fn register_with(&self, slo: &[Binding]) {
        self.registry.publish(&self.services(slo));
        two_sps::wait_registered(&self.browser, &self.idp, &[self.shib.entity_id()], |body| {
            slo.is_empty() || body.contains("SingleLogoutService")
        });
    }
}

impl World {
    /// Publishes the registry with both SPs asking for encrypted assertions
    /// (`encrypt_assertion`, for the encryption certificate read from their metadata), no
    /// SingleLogoutService, and waits for the IdP to load it.
    fn register_encrypted(&self) {
        let on = "encrypt_assertion = true";
        self.register_saml_extra(&[("shibsp", on), ("mellon", on)]);
    }

    /// Publishes the registry with both SPs, `extra` lines in the `[protocol.saml]` table of
    /// the services named, and waits for the IdP to load it (the first registry holding the
    /// SPs already has those lines).
    fn register_saml_extra(&self, extra: &[(&str, &str)]) {
        self.registry.publish_with(&self.services(&[]), extra);
        let sps = [self.shib.entity_id(), self.mellon.entity_id()];
        two_sps::wait_registered(&self.browser, &self.idp, &sps, |_| true);
    }
}

/// The SP's protected page sends a visitor (through the SP's own redirects, e.g. mellon's
/// `/mellon/login`) to the IdP's SSO endpoint with an AuthnRequest over HTTP-Redirect.
fn assert_redirects_to_idp(browser: &Browser, app: &str, sso: &str, logs: &dyn Fn() -> String) {
    let mut url = app.to_owned();
    for _ in 0..5 {
        let page = browser.get_url(&url);
        assert!(
            page.status == 302 || page.status == 303,
            "{url}: {} {}\n{}",
            page.status,
            page.body,
            logs()
        );
        let loc = saml_sp::resolve(&url, page.location().unwrap_or_default());
        if loc.starts_with(&format!("{sso}?SAMLRequest=")) {
            return;
        }
        assert!(
            !loc.starts_with(sso),
            "{app} sends no AuthnRequest to {sso}: {loc}\n{}",
            logs()
        );
        url = loc;
    }
    panic!("{app} does not redirect to {sso}:\n{}", logs());
}

/// The harness itself: shibd and mod_shib, mod_auth_mellon start on the IdP's published
/// metadata, serve their own metadata (entityID, HTTP-POST ACS, certificate), send an
/// unauthenticated visitor to the IdP's SSO endpoint with an AuthnRequest, and their
/// metadata imports into a signed registry the IdP loads.
#[test]
fn real_saml_sps_start_publish_metadata_and_redirect_to_the_idp() {
    let w = World::new();
    let shib_origin = w.shib.origin();
    assert_eq!(saml_sp::entity_id(&w.shib_metadata), w.shib.entity_id());
    assert!(
        w.shib_metadata.contains(&format!(
            "Location=\"{shib_origin}/Shibboleth.sso/SAML2/POST\""
        )),
        "{}",
        w.shib_metadata
    );
    assert!(
        w.shib_metadata.contains("X509Certificate"),
        "{}",
        w.shib_metadata
    );
    let mellon_origin = w.mellon.origin();
    assert_eq!(saml_sp::entity_id(&w.mellon_metadata), w.mellon.entity_id());
    assert!(
        w.mellon_metadata
            .contains(&format!("Location=\"{mellon_origin}/mellon/postResponse\"")),
        "{}",
        w.mellon_metadata
    );
    assert!(
        w.mellon_metadata.contains("X509Certificate"),
        "{}",
        w.mellon_metadata
    );

    let sso = format!("{}/saml/sso", w.front.url());
    assert_redirects_to_idp(&w.browser, &w.shib.app_url(), &sso, &|| w.shib.logs());
    assert_redirects_to_idp(&w.browser, &w.mellon.app_url(), &sso, &|| w.mellon.logs());

    // Both SPs join the registry from their own metadata; the IdP loads it.
    w.register();
    let page = w
        .browser
        .get_url(&entity_url(&w.idp, &w.mellon.entity_id()));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&w.mellon.entity_id()), "{}", page.body);
}

/// Attributes of the Shibboleth session, from its Session handler
/// (`/Shibboleth.sso/Session`, `showAttributeValues="true"`): `(id, value)` pairs.
fn shib_session_attributes(w: &World) -> Vec<(String, String)> {
    let page = w
        .browser
        .get_url(&format!("{}/Shibboleth.sso/Session", w.shib.origin()));
    assert_eq!(page.status, 200, "{}", page.body);
    let mut text = String::new();
    let mut in_tag = false;
    for c in page.body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let (_, attributes) = text
        .split_once("Attributes")
        .unwrap_or_else(|| panic!("no attributes in the Shibboleth session:\n{}", page.body));
    attributes
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The value of `name` among `NAME=value` pairs.
fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The assertion the IdP recorded in its audit trail for `service`, as
/// (login, NameID, attribute names, session reference); panics unless there is exactly one.
fn assertion_issued(w: &World, service: &str) -> (String, String, Vec<String>, String) {
    let found: Vec<_> = w
        .idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SamlAssertionIssued {
                service: s,
                login,
                name_id,
                mut attributes,
                session_ref,
                ..
            } if s == service => {
                attributes.sort();
                Some((login, name_id, attributes, session_ref))
            }
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "assertions issued to {service}: {found:?}");
    found.into_iter().next().unwrap()
}

/// Léa opens the Shibboleth SP's protected page, is sent to the IdP with an AuthnRequest,
/// logs in when `password` (else her session is enough), and the IdP's response (posted by
/// the browser from the IdP's auto-submit form, no JavaScript) lets her in with exactly the
/// attributes released to that SP: `uid` by OID, `GARPersonIdentifiant` in basic format.
/// Returns the IdP session reference of the assertion.
fn shibboleth_login(w: &World, password: bool) -> String {
    shibboleth_login_response(w, password).0
}

/// [`shibboleth_login`], also returning the SAMLResponse the browser posted to the SP
/// (decoded XML).
fn shibboleth_login_response(w: &World, password: bool) -> (String, String) {
    let idp_origin = w.front.url();
    let walk = saml_sp::saml_login(&w.browser, &w.shib.app_url(), &idp_origin, LEA);
    let trace = || format!("{}\n{}\n{}", walk.trace(), walk.page.body, w.shib.logs());
    assert_eq!(walk.password_asked, password, "{}", trace());
    assert_eq!(walk.page.status, 200, "{}", trace());
    assert_eq!(
        walk.page.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{}",
        trace()
    );
    let form = walk.response_form.as_ref().expect("a SAML response form");
    assert_eq!(
        form.action,
        format!("{}/Shibboleth.sso/SAML2/POST", w.shib.origin()),
        "{}",
        trace()
    );
    let vars = saml_sp::env_lines(&walk.page.body);
    assert_eq!(var(&vars, "REMOTE_USER"), Some("lea.dupont"), "{}", trace());
    assert_eq!(var(&vars, "uid"), Some("lea.dupont"), "{}", trace());
    assert_eq!(
        var(&vars, "GARPersonIdentifiant"),
        Some("gar-5001"),
        "{}",
        trace()
    );
    assert_eq!(
        var(&vars, "Shib_Identity_Provider"),
        Some(format!("{idp_origin}/saml/metadata").as_str()),
        "{}",
        trace()
    );
    let mut attributes = shib_session_attributes(w);
    attributes.sort();
    assert_eq!(
        attributes,
        vec![
            ("GARPersonIdentifiant".to_owned(), "gar-5001".to_owned()),
            ("uid".to_owned(), "lea.dupont".to_owned()),
        ]
    );
    // Nothing else was sent (Shibboleth drops and logs attributes it does not map).
    assert!(
        !w.shib
            .shibd_log()
            .contains(idp_tests::shibsp::UNMAPPED_MARK),
        "{}",
        w.shib.shibd_log()
    );
    let (login, _, names, session) = assertion_issued(w, "shibsp");
    assert_eq!(login, "lea.dupont");
    assert_eq!(
        names,
        ["GARPersonIdentifiant", saml_sp::UID_OID].map(String::from)
    );
    (session, posted_response(form))
}

/// The decoded SAMLResponse of the IdP's form, as the browser posted it.
fn posted_response(form: &saml_sp::Form) -> String {
    let b64 = form.field("SAMLResponse").expect("a SAMLResponse field");
    String::from_utf8(base64_decode(b64)).unwrap()
}

/// The same with mod_auth_mellon, whose attributes are exactly `uid` and `sn` (basic name
/// format), and whose NameID is the transient one the IdP recorded.
fn mellon_login(w: &World, password: bool) -> String {
    mellon_login_response(w, password).0
}

/// [`mellon_login`], also returning the SAMLResponse the browser posted to the SP.
fn mellon_login_response(w: &World, password: bool) -> (String, String) {
    let walk = saml_sp::saml_login(&w.browser, &w.mellon.app_url(), &w.front.url(), LEA);
    let trace = || format!("{}\n{}\n{}", walk.trace(), walk.page.body, w.mellon.logs());
    assert_eq!(walk.password_asked, password, "{}", trace());
    assert_eq!(walk.page.status, 200, "{}", trace());
    let form = walk.response_form.as_ref().expect("a SAML response form");
    assert_eq!(
        form.action,
        format!("{}/mellon/postResponse", w.mellon.origin()),
        "{}",
        trace()
    );
    let vars = saml_sp::env_lines(&walk.page.body);
    assert_eq!(var(&vars, "REMOTE_USER"), Some("lea.dupont"), "{}", trace());
    assert_eq!(var(&vars, "MELLON_uid"), Some("lea.dupont"), "{}", trace());
    assert_eq!(var(&vars, "MELLON_sn"), Some("DUPONT"), "{}", trace());
    assert_eq!(
        idp_tests::mellon::attribute_names(&vars),
        ["sn", "uid"].into_iter().map(String::from).collect(),
        "{}",
        trace()
    );
    let (login, name_id, names, session) = assertion_issued(w, "mellon");
    assert_eq!(login, "lea.dupont");
    assert_eq!(var(&vars, "MELLON_NAME_ID"), Some(name_id.as_str()));
    assert_eq!(names, ["sn", "uid"].map(String::from));
    (session, posted_response(form))
}

/// Web Browser SSO with both real SPs: a login at the Shibboleth SP, then the mellon SP in
/// the same browser gets in without a password, on the same IdP session.
#[test]
fn sso_with_shibboleth_then_mellon() {
    let w = World::new();
    w.register();
    let first = shibboleth_login(&w, true);
    let second = mellon_login(&w, false);
    assert_eq!(first, second);
}

/// The other way round: a login at the mellon SP, then the Shibboleth SP without one.
#[test]
fn sso_with_mellon_then_shibboleth() {
    let w = World::new();
    w.register();
    let first = mellon_login(&w, true);
    let second = shibboleth_login(&w, false);
    assert_eq!(first, second);
}

// ---------------------------------------------------------------------------------------
// Encrypted assertions.

/// The Response `xml`, as it went through the browser, carries its assertion only
/// encrypted: `Success`, one `EncryptedAssertion` (AES-256-GCM data, key wrapped with
/// RSA-OAEP-MGF1P), and no plaintext assertion, subject, attribute, nor any of the released
/// values `clear`.
#[track_caller]
fn assert_encrypted_on_the_wire(xml: &str, clear: &[&str]) {
    assert!(xml.contains("status:Success\""), "{xml}");
    assert_eq!(xml.matches("<saml:EncryptedAssertion").count(), 1, "{xml}");
    for alg in [
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    ] {
        assert!(
            xml.contains(&format!("<xenc:EncryptionMethod Algorithm=\"{alg}\"")),
            "{alg} not used: {xml}"
        );
    }
    // (Markup and values base64 cannot hold, or too long to appear in it by chance.)
    let markup = [
        "<saml:Assertion",
        "NameID",
        "Subject",
        "Attribute",
        "AuthnStatement",
    ];
    for s in markup.iter().chain(clear) {
        assert!(!xml.contains(s), "{s} in clear: {xml}");
    }
}

/// Shibboleth SP 3 with `encrypt_assertion` in its entry: the IdP encrypts the signed
/// assertion for the certificate of the SP's own metadata (unqualified KeyDescriptor), the
/// SAMLResponse the browser carries holds nothing readable, and the SP decrypts it
/// (xml-security-c: AES-256-GCM, RSA-OAEP), checks its signature and lets Léa in with
/// exactly her released attributes (`uid` by OID, `GARPersonIdentifiant`).
#[test]
fn shibboleth_decrypts_its_encrypted_assertion() {
    let w = World::new();
    // Its one certificate is published without `use`: for signing and encryption.
    assert!(w.shib_metadata.contains("KeyDescriptor"));
    assert!(!w.shib_metadata.contains("use=\"encryption\""));
    w.register_encrypted();
    let (_, xml) = shibboleth_login_response(&w, true);
    assert_encrypted_on_the_wire(&xml, &["lea.dupont", "gar-5001", "GARPersonIdentifiant"]);
}

/// The same with mod_auth_mellon 0.18 (lasso 2.8 over libxmlsec1 1.2.37, which knows
/// AES-GCM), its encryption certificate from `use="encryption"`: exactly `uid` and `sn`, on
/// the same IdP session (no password) as a first encrypted login at Shibboleth.
#[test]
fn mellon_decrypts_its_encrypted_assertion_after_shibboleth() {
    let w = World::new();
    // mellon_create_metadata's certificate, `use="encryption"` (and again for signing).
    assert!(w.mellon_metadata.contains("use=\"encryption\""));
    w.register_encrypted();
    let (first, _) = shibboleth_login_response(&w, true);
    let (second, xml) = mellon_login_response(&w, false);
    assert_eq!(first, second);
    assert_encrypted_on_the_wire(&xml, &["lea.dupont", "DUPONT"]);
}

/// Shibboleth SP 3 as the SHA-1 verifier: with `allow_sha1` and `rsa-sha1` in its entry,
/// the assertion it gets is signed with RSA-SHA1 over a SHA-1 digest (nothing SHA-256),
/// and it accepts it; mellon, in the same session, still gets RSA-SHA256.
#[test]
fn shibboleth_accepts_an_rsa_sha1_assertion_its_entry_asks_for() {
    let w = World::new();
    w.register_saml_extra(&[(
        "shibsp",
        "allow_sha1 = true\nsignature_algorithm = \"rsa-sha1\"",
    )]);
    let (_, xml) = shibboleth_login_response(&w, true);
    let sha1 = [
        "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#rsa-sha1\"",
        "<ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"",
    ];
    for alg in sha1 {
        assert_eq!(xml.matches(alg).count(), 1, "{xml}");
    }
    assert!(
        !xml.contains("#rsa-sha256") && !xml.contains("#sha256"),
        "{xml}"
    );
    let (_, xml) = mellon_login_response(&w, false);
    assert!(xml.contains("xmldsig-more#rsa-sha256\""), "{xml}");
    assert!(
        !xml.contains("#rsa-sha1") && !xml.contains("#sha1"),
        "{xml}"
    );
}

// ---------------------------------------------------------------------------------------
// Single logout with the real SPs.

/// Front-channel SingleLogoutServices only (the SPs' SOAP ones left out of the registry).
const FRONT: [Binding; 2] = [Binding::HttpRedirect, Binding::HttpPost];

/// Léa logged in at both SPs on one IdP session; returns its reference.
fn logged_in_both(w: &World) -> String {
    let first = shibboleth_login(w, true);
    let second = mellon_login(w, false);
    assert_eq!(first, second);
    first
}

/// Where a walk of [`follow`] ended.
struct Followed {
    trace: Vec<String>,
    url: String,
    page: idp_tests::Page,
}

/// A browser without JavaScript from `url`: follows redirects, immediate (`0;url=`)
/// refreshes and posts any form carrying a `SAMLRequest` or `SAMLResponse` (the SPs' and
/// the IdP's auto-submitting forms), within 15 steps.
fn follow(browser: &Browser, url: &str) -> Followed {
    let mut url = url.to_owned();
    let mut page = browser.get_url(&url);
    let mut trace = vec![format!("GET {url} -> {}", page.status)];
    for _ in 0..15 {
        if (300..400).contains(&page.status) {
            let Some(loc) = page.location() else { break };
            url = saml_sp::resolve(&url, loc);
            page = browser.get_url(&url);
            trace.push(format!("GET {url} -> {}", page.status));
            continue;
        }
        if page.status != 200 {
            break;
        }
        let forms = saml_sp::Form::all(&page.body);
        let saml_form = forms
            .iter()
            .find(|f| f.field("SAMLRequest").is_some() || f.field("SAMLResponse").is_some());
        if let Some(f) = saml_form {
            let target = saml_sp::resolve(&url, &f.action);
            let fields: Vec<(&str, &str)> = f
                .fields
                .iter()
                .filter(|(n, _)| {
                    ["SAMLRequest", "SAMLResponse", "RelayState"].contains(&n.as_str())
                })
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            page = browser.post_form(&target, &fields);
            trace.push(format!("POST {target} -> {}", page.status));
            url = target;
            continue;
        }
        let immediate = page.body.contains("content=\"0;url=");
        match saml_sp::meta_refresh(&page.body) {
            Some(to) if immediate => {
                url = saml_sp::resolve(&url, &to);
                page = browser.get_url(&url);
                trace.push(format!("GET {url} -> {}", page.status));
            }
            _ => break,
        }
    }
    Followed { trace, url, page }
}

/// The LogoutRequest URLs of the IdP's logged-out page (one hidden frame per SAML SP told
/// by front channel).
fn frames_of(body: &str) -> Vec<String> {
    body.match_indices("<iframe class=\"slo\" src=\"")
        .map(|(i, m)| {
            let start = i + m.len();
            let end = body[start..].find('"').unwrap() + start;
            body[start..end].to_owned()
        })
        .collect()
}

/// The XML of the HTTP-Redirect message (`param`) in `url`.
fn redirect_xml(url: &str, param: &str) -> String {
    use std::io::Read as _;
    let q = url.split_once('?').unwrap().1;
    let raw = q
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{param}=")))
        .unwrap_or_else(|| panic!("no {param} in {url}"));
    let b64 = idp::protocols::saml::bindings::percent_decode(raw).unwrap();
    let bytes = base64_decode(&b64);
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(&bytes[..])
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn base64_decode(s: &str) -> Vec<u8> {
    openssl::base64::decode_block(s).unwrap()
}

/// The `saml_logout` audit outcomes recorded for `sp`, in order.
fn logout_outcomes(w: &World, sp: &str) -> Vec<String> {
    w.idp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::SamlLogout { sp: s, outcome, .. } if s == sp => Some(outcome),
            _ => None,
        })
        .collect()
}

/// Every SAML frame of a logged-out page is followed to its end: the SP ends its session
/// and answers the IdP with a LogoutResponse, which the IdP accepts (a 200 at its
/// `/saml/slo`).
fn follow_frames(w: &World, frames: &[String]) {
    for f in frames {
        let walk = follow(&w.browser, f);
        let trace = || {
            format!(
                "{}\n{}\n{}\n{}",
                walk.trace.join("\n"),
                walk.page.body,
                w.shib.logs(),
                w.mellon.logs()
            )
        };
        assert!(
            walk.url
                .starts_with(&format!("{}/saml/slo?SAMLResponse=", w.front.url()))
                || walk
                    .trace
                    .last()
                    .is_some_and(|t| t.starts_with(&format!("POST {}/saml/slo", w.front.url()))),
            "the SP did not answer the IdP: {}",
            trace()
        );
        assert_eq!(walk.page.status, 200, "{}", trace());
    }
}

/// The IdP's status page that a logged-out page with frames leads to (after the frames
/// were followed): it must list each of `sps` as logged out (their answers came back).
/// Returns where it leads next, if anywhere.
fn status_page(w: &World, page: &idp_tests::Page, sps: &[String]) -> Option<String> {
    let next = saml_sp::meta_refresh(&page.body).expect("a way on to the status page");
    assert!(next.starts_with("/saml/slo/status?ref="), "{next}");
    let status = w.browser.get_url(&format!("{}{next}", w.front.url()));
    assert_eq!(status.status, 200, "{}", status.body);
    assert!(status.body.find("<iframe").is_none(), "{}", status.body);
    for sp in sps {
        assert!(
            status.body.contains(&format!("{sp} — déconnecté<"))
                || status.body.contains(&format!("{sp} — logged out<")),
            "{sp}: {}",
            status.body
        );
    }
    saml_sp::meta_refresh(&status.body)
}

/// Both SPs' sessions are gone (their protected pages send the visitor to the IdP with
/// an AuthnRequest again) and so is the IdP's.
fn assert_all_logged_out(w: &World) {
    let sso = format!("{}/saml/sso", w.front.url());
    assert_redirects_to_idp(&w.browser, &w.shib.app_url(), &sso, &|| w.shib.logs());
    assert_redirects_to_idp(&w.browser, &w.mellon.app_url(), &sso, &|| w.mellon.logs());
    let home = w.browser.get_url(&format!("{}/", w.front.url()));
    assert!(!home.body.contains("action=\"/logout\""), "{}", home.body);
}

/// IdP-initiated logout (the IdP's own logout button) with both real SPs in the session:
/// the logged-out page lists them and carries one signed HTTP-Redirect LogoutRequest for
/// each in a frame; Shibboleth SP and mod_auth_mellon each accept it (signature, NameID
/// with its qualifiers, SessionIndex), end their session and answer with a signed
/// LogoutResponse that the IdP accepts and audits; the page's status page then shows both
/// as logged out.
#[test]
fn idp_initiated_logout_by_front_channel_with_shibboleth_and_mellon() {
    let w = World::new();
    w.register_with(&FRONT);
    let session = logged_in_both(&w);
    let home = w.browser.get_url(&format!("{}/", w.front.url()));
    let out = w.browser.post_form(
        &format!("{}/logout", w.front.url()),
        &[("csrf", &home.csrf())],
    );
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.contains(&w.shib.entity_id()), "{}", out.body);
    assert!(out.body.contains(&w.mellon.entity_id()), "{}", out.body);
    let frames = frames_of(&out.body);
    assert_eq!(frames.len(), 2, "{}", out.body);
    assert!(frames.iter().any(|f| f.starts_with(&format!(
        "{}/Shibboleth.sso/SLO/Redirect?SAMLRequest=",
        w.shib.origin()
    ))));
    assert!(frames
        .iter()
        .any(|f| f.starts_with(&format!("{}/mellon/logout?SAMLRequest=", w.mellon.origin()))));
    follow_frames(&w, &frames);
    for sp in [w.shib.entity_id(), w.mellon.entity_id()] {
        assert_eq!(
            logout_outcomes(&w, &sp),
            ["LogoutRequestSent", "LoggedOut"],
            "{sp}"
        );
    }
    // The person sees both answers; nothing follows an IdP-initiated logout.
    let after = status_page(&w, &out, &[w.shib.entity_id(), w.mellon.entity_id()]);
    assert_eq!(after, None);
    assert!(w.idp.events().iter().any(|e| matches!(e,
        AuditEvent::SamlLogout { outcome, session_ref, .. } if outcome == "LoggedOut" && *session_ref == session)));
    assert_all_logged_out(&w);
}

/// SP-initiated logout from `start` (the SP's own logout URL, returning to `back`): the
/// SP's LogoutRequest reaches the IdP, which ends the session and sends the other SP a
/// LogoutRequest from its logged-out page (front channel), shows its answer on the status
/// page, then leads the browser to the initiator's signed LogoutResponse, `Success` (every
/// other SP was told); the initiator then sends the browser to `back`.
fn sp_initiated(w: &World, initiator: &str, other: &str, start: &str, back: &str) {
    sp_initiated_with(w, (initiator, other), (start, back), Told::ByFrame);
}

/// How the other SP is expected to be told.
#[derive(PartialEq)]
enum Told {
    /// A frame of the logged-out page (front channel).
    ByFrame,
    /// SOAP, before the page is shown.
    BySoap,
}

fn sp_initiated_with(
    w: &World,
    (initiator, other): (&str, &str),
    (start, back): (&str, &str),
    told: Told,
) {
    let walk = follow(&w.browser, start);
    let trace = |walk: &Followed| {
        format!(
            "{}\n{}\n{}\n{}",
            walk.trace.join("\n"),
            walk.page.body,
            w.shib.logs(),
            w.mellon.logs()
        )
    };
    assert_eq!(walk.page.status, 200, "{}", trace(&walk));
    assert!(
        walk.url.starts_with(&w.front.url()),
        "not on the IdP: {}",
        trace(&walk)
    );
    let frames = frames_of(&walk.page.body);
    let expected = if told == Told::ByFrame { 1 } else { 0 };
    assert_eq!(frames.len(), expected, "{}", trace(&walk));
    assert!(walk.page.body.contains(other), "{}", walk.page.body);
    follow_frames(w, &frames);
    let next = match told {
        Told::ByFrame => status_page(w, &walk.page, &[other.to_owned()]),
        Told::BySoap => saml_sp::meta_refresh(&walk.page.body),
    }
    .expect("a way on to the initiator");
    // The initiator's answer is decided when the page moves on, from what the others
    // answered by then: all confirmed here, so Success.
    assert!(next.starts_with("/saml/slo/answer?ref="), "{next}");
    let answer = w.browser.get_url(&format!("{}{next}", w.front.url()));
    assert_eq!(answer.status, 302, "{}", answer.body);
    let next = answer
        .location()
        .expect("the LogoutResponse URL")
        .to_owned();
    assert!(next.contains("SAMLResponse="), "{next}");
    let xml = redirect_xml(&next, "SAMLResponse");
    assert!(
        xml.contains("StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>"),
        "{xml}"
    );
    let done = follow(&w.browser, &next);
    assert!(
        done.url.starts_with(back),
        "the initiator did not finish its logout: {}",
        trace(&done)
    );
    assert_eq!(logout_outcomes(w, initiator), ["Success"]);
    let other_outcomes: &[&str] = match told {
        Told::ByFrame => &["LogoutRequestSent", "LoggedOut"],
        Told::BySoap => &["LoggedOut"],
    };
    assert_eq!(logout_outcomes(w, other), other_outcomes);
    assert_all_logged_out(w);
}

/// Logout started at the Shibboleth SP (`/Shibboleth.sso/Logout`).
#[test]
fn shibboleth_initiated_logout_also_logs_out_of_mellon() {
    let w = World::new();
    w.register_with(&FRONT);
    logged_in_both(&w);
    let back = format!("{}/bye", w.shib.origin());
    let start = format!(
        "{}/Shibboleth.sso/Logout?return={}",
        w.shib.origin(),
        idp::protocols::cas::url::encode(&back)
    );
    sp_initiated(
        &w,
        &w.shib.entity_id(),
        &w.mellon.entity_id(),
        &start,
        &back,
    );
}

/// Logout started at the mod_auth_mellon SP (`/mellon/logout?ReturnTo=`).
#[test]
fn mellon_initiated_logout_also_logs_out_of_shibboleth() {
    let w = World::new();
    w.register_with(&FRONT);
    logged_in_both(&w);
    let back = format!("{}/bye", w.mellon.origin());
    let start = format!(
        "{}/mellon/logout?ReturnTo={}",
        w.mellon.origin(),
        idp::protocols::cas::url::encode(&back)
    );
    sp_initiated(
        &w,
        &w.mellon.entity_id(),
        &w.shib.entity_id(),
        &start,
        &back,
    );
}

/// Every SingleLogoutService of the SPs' metadata: SOAP (back channel) first for the IdP.
const WITH_SOAP: [Binding; 3] = [Binding::Soap, Binding::HttpRedirect, Binding::HttpPost];

/// IdP-initiated logout with the SOAP back channel: the Shibboleth SP registered its SOAP
/// SingleLogoutService (`/Shibboleth.sso/SLO/SOAP`), so the IdP posts it a signed
/// LogoutRequest in a SOAP envelope before showing the page and reads its signed
/// LogoutResponse's Status: the page says "logged out" for it, with no frame. mod_auth_mellon
/// publishes no SOAP endpoint (`mellon_create_metadata` writes HTTP-Redirect only), so it
/// still gets its frame. Both SP sessions are really gone.
#[test]
fn idp_initiated_logout_by_soap_back_channel_with_shibboleth() {
    let w = World::new();
    assert!(
        w.shib_metadata
            .contains("urn:oasis:names:tc:SAML:2.0:bindings:SOAP\" Location=\""),
        "{}",
        w.shib_metadata
    );
    w.register_with(&WITH_SOAP);
    let session = logged_in_both(&w);
    let home = w.browser.get_url(&format!("{}/?lang=en", w.front.url()));
    let out = w.browser.post_form(
        &format!("{}/logout", w.front.url()),
        &[("csrf", &home.csrf())],
    );
    let logs = || format!("{}\n{}", out.body, w.shib.logs());
    assert_eq!(out.status, 200, "{}", logs());
    let shib = w.shib.entity_id();
    assert_eq!(logout_outcomes(&w, &shib), ["LoggedOut"], "{}", logs());
    assert!(
        out.body.contains(&format!("{shib} — logged out")),
        "{}",
        logs()
    );
    let frames = frames_of(&out.body);
    assert_eq!(frames.len(), 1, "{}", logs());
    assert!(frames[0].starts_with(&format!("{}/mellon/logout?", w.mellon.origin())));
    follow_frames(&w, &frames);
    assert_eq!(
        logout_outcomes(&w, &w.mellon.entity_id()),
        ["LogoutRequestSent", "LoggedOut"]
    );
    status_page(&w, &out, &[shib.clone(), w.mellon.entity_id()]);
    assert!(w.idp.events().iter().all(|e| !matches!(e,
        AuditEvent::SamlLogout { session_ref, .. } if *session_ref != session)));
    assert_all_logged_out(&w);
}

/// Logout started at the mod_auth_mellon SP while the Shibboleth SP registered its SOAP
/// SingleLogoutService: Shibboleth is logged out by the back channel before the page is
/// shown (no frame), and mellon gets `Success`.
#[test]
fn mellon_initiated_logout_reaches_shibboleth_by_soap() {
    let w = World::new();
    w.register_with(&WITH_SOAP);
    logged_in_both(&w);
    let back = format!("{}/bye", w.mellon.origin());
    let start = format!(
        "{}/mellon/logout?ReturnTo={}",
        w.mellon.origin(),
        idp::protocols::cas::url::encode(&back)
    );
    sp_initiated_with(
        &w,
        (&w.mellon.entity_id(), &w.shib.entity_id()),
        (&start, &back),
        Told::BySoap,
    );
}

/// mod_auth_mellon answers SOAP LogoutRequests at its logout endpoint too (lasso), though
/// `mellon_create_metadata` does not publish it: with a SOAP SingleLogoutService added to
/// its registry entry (`/mellon/logout`), both real SPs are logged out by the back channel
/// before the page is shown. lasso declares `samlp`/`saml` on the SOAP Envelope, not on
/// the LogoutResponse: the IdP carries them over and the signature still verifies.
#[test]
fn idp_initiated_logout_by_soap_with_shibboleth_and_mellon() {
    let mut w = World::new();
    let soap = format!(
        "<SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:SOAP\" Location=\"{}/mellon/logout\"/>",
        w.mellon.origin()
    );
    let at = w.mellon_metadata.find("<SingleLogoutService").unwrap();
    w.mellon_metadata.insert_str(at, &soap);
    w.register_with(&WITH_SOAP);
    let session = logged_in_both(&w);
    let home = w.browser.get_url(&format!("{}/?lang=en", w.front.url()));
    let out = w.browser.post_form(
        &format!("{}/logout", w.front.url()),
        &[("csrf", &home.csrf())],
    );
    let logs = || format!("{}\n{}\n{}", out.body, w.shib.logs(), w.mellon.logs());
    assert_eq!(out.status, 200, "{}", logs());
    assert!(frames_of(&out.body).is_empty(), "{}", logs());
    for sp in [w.shib.entity_id(), w.mellon.entity_id()] {
        assert_eq!(logout_outcomes(&w, &sp), ["LoggedOut"], "{sp}\n{}", logs());
        assert!(
            out.body.contains(&format!("{sp} — logged out<")),
            "{}",
            logs()
        );
    }
    assert!(w.idp.events().iter().all(|e| !matches!(e,
        AuditEvent::SamlLogout { session_ref, .. } if *session_ref != session)));
    assert_all_logged_out(&w);
}
