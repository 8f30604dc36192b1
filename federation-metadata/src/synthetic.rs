//! A synthetic trust domain written as source files: a valid federation, IdP, catalogue and
//! any number of SAML and CAS services. Tests and the 10,000-service benchmark
//! (`examples/bench_federation.rs`) compile it exactly as an administrator's domain.

use std::fmt::Write as _;
use std::path::Path;

/// What to generate.
pub struct SyntheticDomain<'a> {
    pub id: &'a str,
    /// PEM of the federation certificate (written as `federation-signing.crt`).
    pub federation_cert_pem: &'a str,
    /// PEM of the certificate every SAML service publishes (one is enough for volume).
    pub sp_cert_pem: &'a str,
    pub saml_services: usize,
    pub cas_services: usize,
    /// The IdP's base URL (its entityID is `<base>/saml/metadata`).
    pub idp_base_url: &'a str,
    /// Agreements start here (services must be active on the compile date).
    pub start: &'a str,
}

/// The entityID of synthetic SAML service `i`.
pub fn saml_entity_id(i: usize) -> String {
    format!("https://sp{i}.services.example/saml/metadata")
}

/// A service URL accepted for synthetic CAS service `i`.
pub fn cas_service_url(i: usize) -> String {
    format!("https://cas{i}.services.example/app/login?x=1")
}

const FEDERATION: &str = r#"id = "{ID}"
name = "Fédération synthétique {ID}"
signing_certificate_file = "federation-signing.crt"

[operator]
name = "Opérateur de test"
url = "https://operator.example"

[perimeter]
academies = ["Académie de Test"]

[[perimeter.establishments]]
uai = "0350001A"
name = "Lycée de test"

[default_terms]
initial_duration_months = 36
tacit_renewal_months = 36
notice_months = 6
access_until_end_of_school_year = true

[publication]
aggregate_name = "urn:fr:ent:test:{ID}"
registration_authority = "https://operator.example/federation"
registration_policy_url = "https://operator.example/federation/policy?a=1&b=2"
lang = "fr"
validity_days = 14
cache_duration_hours = 6
"#;

const IDP: &str = r#"entity_id = "{BASE}/saml/metadata"
base_url = "{BASE}"
name = "IdP de test"
signing_certificate_file = "federation-signing.crt"

[organisation]
name = "Opérateur de test"
url = "https://operator.example"

[[contacts]]
kind = "technical"
email = "tech@operator.example"

[commitments]
identifier_policy = "Identifiant unique et stable."
logging = "Chaque connexion est journalisée."
traceability = "Réquisitions judiciaires."
retention = "Un an."
"#;

const ATTRIBUTES: &str = r#"[[attribute]]
id = "login"
description = "Identifiant"
derives_from = "login"
personal_data = true

[[attribute]]
id = "surname"
description = "Nom"
derives_from = "surname"
personal_data = true

[[attribute]]
id = "given_name"
description = "Prénom"
derives_from = "given_name"
personal_data = true
"#;

fn common(out: &mut String, i: usize, kind: &str, start: &str) {
    let _ = write!(
        out,
        r#"id = "{kind}{i}"
name = "Service {kind} n°{i} <R&D>"
description = "Service synthétique « {i} » & co"
membership = "approved"

[organisation]
name = "Éditeur {i}"
url = "https://editor{i}.example"

[[contacts]]
kind = "technical"
name = "Tech {i}"
email = "tech{i}@editor.example"

[[contacts]]
kind = "security"
email = "security{i}@editor.example"

[commitments]
data_protection = "Usage limité aux finalités."

[agreement]
requested_on = {start}
signed_on = {start}
start = {start}

[agreement.terms]
initial_duration_months = 36
tacit_renewal_months = 36
notice_months = 6
access_until_end_of_school_year = true

[[releases]]
name = "uid"
source = "login"
friendly_name = "uid"
purpose = "Ouvrir la session."

[[releases]]
name = "sn"
source = "surname"
required = false
purpose = "Afficher le nom."

"#
    );
}

/// Writes the domain into `dir` (created if needed).
pub fn write_domain(dir: &Path, d: &SyntheticDomain) -> std::io::Result<()> {
    let services = dir.join("services");
    std::fs::create_dir_all(&services)?;
    std::fs::write(
        dir.join("federation.toml"),
        FEDERATION.replace("{ID}", d.id),
    )?;
    std::fs::write(dir.join("idp.toml"), IDP.replace("{BASE}", d.idp_base_url))?;
    std::fs::write(dir.join("attributes.toml"), ATTRIBUTES)?;
    std::fs::write(dir.join("federation-signing.crt"), d.federation_cert_pem)?;
    let mut text = String::with_capacity(8192);
    for i in 0..d.saml_services {
        text.clear();
        common(&mut text, i, "saml", d.start);
        let entity_id = saml_entity_id(i);
        let _ = write!(
            text,
            r#"[ui]
information_url = "https://sp{i}.services.example/info"

[protocol.saml]
entity_id = "{entity_id}"
want_assertions_signed = true
name_id_format = "persistent"
signing_certificates = ["""
{cert}"""]

[[protocol.saml.assertion_consumer_services]]
binding = "http-post"
location = "https://sp{i}.services.example/saml/acs?a=1&b=2"
index = 0
is_default = true

[[protocol.saml.single_logout_services]]
binding = "http-redirect"
location = "https://sp{i}.services.example/saml/slo"
"#,
            cert = d.sp_cert_pem
        );
        std::fs::write(services.join(format!("saml{i}.toml")), &text)?;
    }
    for i in 0..d.cas_services {
        text.clear();
        common(&mut text, i, "cas", d.start);
        let _ = write!(
            text,
            r#"[protocol.cas]
service_patterns = [{{ prefix = "https://cas{i}.services.example/app/" }}]
proxy_callbacks = ["https://cas{i}.services.example/proxy/callback"]
"#
        );
        std::fs::write(services.join(format!("cas{i}.toml")), &text)?;
    }
    Ok(())
}
