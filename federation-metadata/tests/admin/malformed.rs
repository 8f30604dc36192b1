//! Every malformed source file gives a precise error: the file and the line.

use super::common::*;

#[test]
fn the_demo_domain_is_valid() {
    let d = Domain::demo();
    let problems = d.problems();
    assert!(
        problems.is_empty(),
        "{}",
        federation_metadata::diagnostic::join(&problems)
    );
    let out = d.fedmeta(&["validate", "--at", "2026-11-27"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("demo: valid (5 services"));
}

#[test]
fn bad_toml_syntax() {
    let d = Domain::demo();
    d.edit(
        "services/moodle.toml",
        "name = \"Moodle académique\"",
        "name = \"Moodle académique",
    );
    d.assert_single(
        "services/moodle.toml",
        d.line_of("services/moodle.toml", "name = \"Moodle acad"),
        "",
    );
    // And the CLI prints file:line.
    let out = d.fedmeta(&["validate"]);
    assert!(!out.status.success());
    let line = d.line_of("services/moodle.toml", "name = \"Moodle acad");
    assert!(
        stderr(&out).contains(&format!("moodle.toml:{line}:")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn misspelt_key() {
    let d = Domain::demo();
    d.edit(
        "services/pronote.toml",
        "notice_months = 6",
        "notice_month = 6",
    );
    let line = d.line_of("services/pronote.toml", "notice_month = 6");
    d.assert_single("services/pronote.toml", line, "notice_month");
}

#[test]
fn wrong_type_and_bad_date() {
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "start = 2025-09-01",
        "start = 2025-13-01",
    );
    // toml itself refuses month 13 at that line.
    d.assert_single(
        "services/gar.toml",
        d.line_of("services/gar.toml", "start = 2025-13-01"),
        "",
    );
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "start = 2025-09-01",
        "start = \"1er septembre\"",
    );
    d.assert_single(
        "services/gar.toml",
        d.line_of("services/gar.toml", "1er septembre"),
        "date",
    );
}

#[test]
fn inconsistent_dates() {
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "start = 2025-09-01",
        "start = 2025-06-15",
    );
    d.assert_single(
        "services/gar.toml",
        d.line_of("services/gar.toml", "start = 2025-06-15"),
        "before it was signed",
    );
}

#[test]
fn duplicate_id_and_entity_id() {
    let d = Domain::demo();
    let gar = d.read("services/gar.toml");
    d.write("services/gar2.toml", &gar);
    let problems = d.problems();
    let shown = federation_metadata::diagnostic::join(&problems);
    let id_line = d.line_of("services/gar2.toml", "id = \"gar\"");
    let entity_line = d.line_of("services/gar2.toml", "entity_id = ");
    let gar2 = d.path("services/gar2.toml");
    assert!(
        problems.iter().any(|p| p.file == gar2
            && p.line == Some(id_line)
            && p.message.contains("duplicate service id")),
        "{shown}"
    );
    assert!(
        problems.iter().any(|p| p.file == gar2
            && p.line == Some(entity_line)
            && p.message.contains("already used by service \"gar\"")),
        "{shown}"
    );
}

#[test]
fn duplicate_catalogue_attribute() {
    let d = Domain::demo();
    let text = d.read("attributes.toml");
    d.write(
        "attributes.toml",
        &format!("{text}\n[[attribute]]\nid = \"login\"\ndescription = \"again\"\nderives_from = \"login\"\npersonal_data = true\n"),
    );
    let lines = text.lines().count();
    d.assert_single("attributes.toml", lines + 3, "duplicate attribute id");
}

#[test]
fn http_endpoint_outside_the_demo() {
    let d = Domain::demo();
    d.edit("federation.toml", "demo = true", "demo = false");
    https_demo_service(&d);
    d.edit(
        "idp.toml",
        "base_url = \"http://127.0.0.1:8080\"",
        "base_url = \"https://ent.region-demo.example\"",
    );
    d.edit(
        "services/gar.toml",
        "location = \"https://sp-auth.partenaire.gar.education.fr/demo/SAML2/POST\"",
        "location = \"http://sp-auth.partenaire.gar.education.fr/demo/SAML2/POST\"",
    );
    d.assert_single(
        "services/gar.toml",
        d.line_of("services/gar.toml", "location = \"http://sp-auth"),
        "must use https:// outside a demo domain",
    );
}

#[test]
fn http_idp_outside_the_demo() {
    let d = Domain::demo();
    d.edit("federation.toml", "demo = true", "demo = false");
    https_demo_service(&d);
    d.assert_single("idp.toml", d.line_of("idp.toml", "base_url ="), "https");
}

#[test]
fn expired_certificate() {
    let d = Domain::demo();
    // Valid in 2020 only.
    let expired = certificate_pem("expired.example", 1_577_836_800, 1_609_372_800);
    let text = d.read("services/moodle.toml");
    let start = text.find("signing_certificates = [\"\"\"\n").unwrap();
    let end = start + text[start..].find("\"\"\"]").unwrap() + 4;
    let new = format!(
        "{}signing_certificates = [\"\"\"\n{}\"\"\"]{}",
        &text[..start],
        expired,
        &text[end..]
    );
    d.write("services/moodle.toml", &new);
    d.assert_single(
        "services/moodle.toml",
        d.line_of("services/moodle.toml", "signing_certificates = ["),
        "expired",
    );
}

#[test]
fn certificates_checked_at_the_given_date() {
    let d = Domain::demo();
    // The demo certificates are valid ten years from November 2026.
    let problems = d.problems_at(time::macros::date!(2037 - 01 - 01));
    assert!(problems.iter().any(|p| p.file == d.path("federation.toml")
        && p.line == Some(d.line_of("federation.toml", "signing_certificate_file"))
        && p.message.contains("expired")));
    assert!(problems
        .iter()
        .any(|p| p.file == d.path("services/gar.toml") && p.message.contains("expired")));
}

#[test]
fn garbage_certificate() {
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "-----BEGIN CERTIFICATE-----\nMIID",
        "-----BEGIN CERTIFICATE-----\nXXXX",
    );
    d.assert_single(
        "services/gar.toml",
        d.line_of("services/gar.toml", "signing_certificates = ["),
        "not a PEM certificate",
    );
}

#[test]
fn missing_certificate_file() {
    let d = Domain::demo();
    std::fs::remove_file(d.path("federation-signing.crt")).unwrap();
    let line = d.line_of("federation.toml", "signing_certificate_file");
    let problems = d.problems();
    let shown = federation_metadata::diagnostic::join(&problems);
    assert!(
        problems.iter().any(|p| p.file == d.path("federation.toml")
            && p.line == Some(line)
            && p.message.contains("cannot read certificate")),
        "{shown}"
    );
}

#[test]
fn unknown_released_attribute() {
    let d = Domain::demo();
    d.edit(
        "services/pronote.toml",
        "source = \"postal_code\"",
        "source = \"code_postal\"",
    );
    d.assert_single(
        "services/pronote.toml",
        d.line_of("services/pronote.toml", "source = \"code_postal\""),
        "not in the catalogue",
    );
}

#[test]
fn release_without_purpose() {
    let d = Domain::demo();
    d.edit(
        "services/moodle.toml",
        "purpose = \"Rattacher la personne à son compte Moodle (champ « nom d'utilisateur »).\"",
        "purpose = \"  \"",
    );
    d.assert_single(
        "services/moodle.toml",
        d.line_of("services/moodle.toml", "purpose = \"  \""),
        "purpose",
    );
}

#[test]
fn unanchored_cas_regex() {
    let d = Domain::demo();
    d.edit(
        "services/pronote.toml",
        "{ prefix = \"https://0350002b.index-education.net/pronote/\" },",
        "{ regex = \"https://0350002b\\\\.index-education\\\\.net/pronote/.*\" },",
    );
    d.assert_single(
        "services/pronote.toml",
        d.line_of("services/pronote.toml", "regex ="),
        "anchored",
    );
}

#[test]
fn cas_prefix_without_path() {
    let d = Domain::demo();
    d.edit(
        "services/pronote.toml",
        "{ prefix = \"https://0350002b.index-education.net/pronote/\" },",
        "{ prefix = \"https://0350002b.index-education.net\" },",
    );
    d.assert_single(
        "services/pronote.toml",
        d.line_of("services/pronote.toml", "0350002b"),
        "path ending in '/'",
    );
}

#[test]
fn sha1_needs_an_explicit_allowance() {
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "signature_algorithm = \"rsa-sha256\"",
        "signature_algorithm = \"rsa-sha1\"",
    );
    d.assert_single(
        "services/gar.toml",
        d.line_of("services/gar.toml", "rsa-sha1"),
        "allow_sha1",
    );
    d.edit(
        "services/gar.toml",
        "signature_algorithm = \"rsa-sha1\"",
        "signature_algorithm = \"rsa-sha1\"\nallow_sha1 = true",
    );
    assert!(d.problems().is_empty());
}

#[test]
fn unspecified_name_id_needs_an_attribute() {
    let d = Domain::demo();
    d.edit(
        "services/moodle.toml",
        "name_id_attribute = \"login\"\n",
        "",
    );
    d.assert_single(
        "services/moodle.toml",
        d.line_of("services/moodle.toml", "name_id_format"),
        "name_id_attribute",
    );
}

#[test]
fn bad_uai_and_contact() {
    let d = Domain::demo();
    d.edit("federation.toml", "uai = \"0350002B\"", "uai = \"035002B\"");
    d.assert_single(
        "federation.toml",
        d.line_of("federation.toml", "035002B"),
        "not a UAI",
    );
    let d = Domain::demo();
    d.edit(
        "idp.toml",
        "email = \"rssi@region-demo.example\"",
        "email = \"rssi\"",
    );
    d.assert_single(
        "idp.toml",
        d.line_of("idp.toml", "email = \"rssi\""),
        "e-mail",
    );
}

#[test]
fn all_errors_at_once() {
    let d = Domain::demo();
    d.edit(
        "services/pronote.toml",
        "source = \"postal_code\"",
        "source = \"code_postal\"",
    );
    d.edit(
        "services/gar.toml",
        "start = 2025-09-01",
        "start = 2025-06-15",
    );
    d.edit(
        "services/moodle.toml",
        "membership = \"pending\"",
        "membership = \"maybe\"",
    );
    let problems = d.problems();
    // The parse error stops meaning checks (they need every file): it is reported alone,
    // with its line.
    assert_eq!(
        problems.len(),
        1,
        "{}",
        federation_metadata::diagnostic::join(&problems)
    );
    assert_eq!(
        problems[0].line,
        Some(d.line_of("services/moodle.toml", "maybe"))
    );
    d.edit(
        "services/moodle.toml",
        "membership = \"maybe\"",
        "membership = \"pending\"",
    );
    assert_eq!(d.problems().len(), 2);
}

/// Outside a demo domain, the demo's own loopback services (`vie-scolaire`, `ressources`)
/// would be problems of their own: give them HTTPS URLs so that each test sees only its own.
fn https_demo_service(d: &Domain) {
    for host in ["127.0.0.1", "localhost"] {
        d.edit(
            "services/vie-scolaire.toml",
            &format!("\"http://{host}:8081/\""),
            &format!("\"https://{host}:8081/\""),
        );
    }
    for path in ["acs", "slo"] {
        d.edit(
            "services/ressources.toml",
            &format!("\"http://127.0.0.1:8082/saml/{path}\""),
            &format!("\"https://127.0.0.1:8082/saml/{path}\""),
        );
    }
}
