//! The pair of real SPs the SAML e2e suites share (`saml_sps` with the scripted browser,
//! `browser` with Chromium): Shibboleth SP 3 and mod_auth_mellon, what the registry
//! releases to each, their registry entries, and waiting for the IdP to load them.

use std::time::{Duration, Instant};

use federation_metadata::model::{Binding, NameIdFormat};

use crate::saml_sp::SamlService;
use crate::{Browser, TestIdp};

/// What the registry releases to the Shibboleth SP: `uid` by its OID (URI name format) and
/// the GAR-style `GARPersonIdentifiant` (basic name format).
pub const SHIB_RELEASES: &str = r#"[[releases]]
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
pub const MELLON_RELEASES: &str = r#"[[releases]]
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

/// The two SPs as registry services (ids `shibsp` and `mellon`), from their own metadata,
/// with the SingleLogoutServices of `slo` bindings.
pub fn services(shib_metadata: &str, mellon_metadata: &str, slo: &[Binding]) -> Vec<SamlService> {
    let service = |id: &str, metadata: &str, releases: &str| SamlService {
        id: id.into(),
        metadata: metadata.into(),
        releases: releases.into(),
        name_id_format: NameIdFormat::Transient,
        slo_bindings: slo.to_vec(),
    };
    vec![
        service("shibsp", shib_metadata, SHIB_RELEASES),
        service("mellon", mellon_metadata, MELLON_RELEASES),
    ]
}

/// `<idp>/entities/<percent-encoded entityID>` (the IdP's per-entity metadata).
pub fn entity_url(idp: &TestIdp, entity_id: &str) -> String {
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

/// Waits (15 s at most) until the IdP serves each of `entities` at `/entities/…` with a
/// body `loaded` accepts: the registry holding them is in force.
pub fn wait_registered(
    http: &Browser,
    idp: &TestIdp,
    entities: &[String],
    loaded: impl Fn(&str) -> bool,
) {
    let start = Instant::now();
    for entity in entities {
        loop {
            let page = http.get_url(&entity_url(idp, entity));
            if page.status == 200 && page.body.contains(entity.as_str()) && loaded(&page.body) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the IdP did not load the registry with {entity}: {} {}",
                page.status,
                page.body
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
