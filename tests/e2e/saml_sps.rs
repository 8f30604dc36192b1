//! The SAML 2.0 IdP with real service providers (issue 4, "Done when"): Shibboleth SP 3
//! (shibd + Apache `mod_shib`, `idp_tests::shibsp`) and mod_auth_mellon
//! (`idp_tests::mellon`), each in throwaway processes on loopback ports, trusting the IdP
//! through the metadata it serves at `/saml/metadata`, and registered in the IdP's signed
//! test registry from the metadata they publish themselves (`/Shibboleth.sso/Metadata`,
//! `/mellon/metadata`, read by `federation_metadata::saml_import`).
//!
//! The IdP's `server.public_url` is a plain-HTTP Apache reverse proxy on a port chosen
//! before it starts (`idp_tests::saml_sp::IdpFront`): its entityID, its SSO location and the
//! `Destination` it checks are then real loopback URLs.

use std::time::Duration;

use federation_metadata::model::NameIdFormat;
use idp::audit::AuditEvent;
use idp_tests::mellon::MellonSp;
use idp_tests::saml_sp::{self, IdpFront, SamlRegistry, SamlService};
use idp_tests::shibsp::ShibbolethSp;
use idp_tests::{Browser, TestIdp, LEA_PASSWORD};

const LEA: (&str, &str) = ("lea.dupont", LEA_PASSWORD);

/// What the registry releases to the Shibboleth SP: `uid` by its OID (URI name format) and
/// the GAR-style `GARPersonIdentifiant` (basic name format).
const SHIB_RELEASES: &str = r#"[[releases]]
name = "urn:oid:0.9.2342.19200300.100.1.1"
source = "login"
name_format = "uri"
friendly_name = "uid"
purpose = "Identifiant de connexion."

[[releases]]
name = "GARPersonIdentifiant"
source = "gar_id"
name_format = "basic"
purpose = "Identifiant GAR."
"#;

/// What it releases to mod_auth_mellon: Moodle's `uid` and `sn`, basic name format.
const MELLON_RELEASES: &str = r#"[[releases]]
name = "uid"
source = "login"
name_format = "basic"
purpose = "Identifiant de connexion."

[[releases]]
name = "sn"
source = "surname"
name_format = "basic"
purpose = "Nom."
"#;

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

    /// The two SPs as registry services, from their own metadata.
    fn services(&self) -> Vec<SamlService> {
        vec![
            SamlService {
                id: "shibsp".into(),
                metadata: self.shib_metadata.clone(),
                releases: SHIB_RELEASES.into(),
                name_id_format: NameIdFormat::Transient,
            },
            SamlService {
                id: "mellon".into(),
                metadata: self.mellon_metadata.clone(),
                releases: MELLON_RELEASES.into(),
                name_id_format: NameIdFormat::Transient,
            },
        ]
    }

    /// Publishes the registry with both SPs and waits for the IdP to load it (its registered
    /// Shibboleth SP's entityID answers at `/entities/<entityID>`), within 15 s.
    fn register(&self) {
        self.registry.publish(&self.services());
        let start = std::time::Instant::now();
        loop {
            let page = self
                .browser
                .get_url(&entity_url(&self.idp, &self.shib.entity_id()));
            if page.status == 200 && page.body.contains(&self.shib.entity_id()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the IdP did not load the registry with the SAML SPs: {} {}",
                page.status,
                page.body
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `<idp>/entities/<percent-encoded entityID>` (the IdP's per-entity metadata).
fn entity_url(idp: &TestIdp, entity_id: &str) -> String {
    let encoded: String = entity_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    idp.at(&format!("/entities/{encoded}"))
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
    session
}

/// The same with mod_auth_mellon, whose attributes are exactly `uid` and `sn` (basic name
/// format), and whose NameID is the transient one the IdP recorded.
fn mellon_login(w: &World, password: bool) -> String {
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
    session
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
