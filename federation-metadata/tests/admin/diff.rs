//! `diff` lists exactly what changed.

use federation_metadata::diff::diff_paths;

use super::common::*;

#[test]
fn no_changes() {
    let a = Domain::demo();
    let b = Domain::demo();
    assert!(diff_paths(&a.dir, &b.dir).unwrap().is_empty());
}

#[test]
fn lists_exactly_the_changes() {
    let old = Domain::demo();
    let new = Domain::demo();
    // An attribute released to Moodle, one no longer released to Pronote, a new GAR
    // certificate, a later start for GAR, Moodle approved, a new member.
    new.edit(
        "services/moodle.toml",
        "[[releases]]\nname = \"uid\"",
        "[[releases]]\nname = \"mail\"\nsource = \"email\"\nrequired = false\npurpose = \"Notifications.\"\n\n[[releases]]\nname = \"uid\"",
    );
    let text = new.read("services/pronote.toml");
    let start = text.find("[[releases]]\nname = \"codePostal\"").unwrap();
    let end = start + text[start + 1..].find("[[releases]]").unwrap() + 1;
    new.write(
        "services/pronote.toml",
        &format!("{}{}", &text[..start], &text[end..]),
    );
    let gar = new.read("services/gar.toml");
    let cs = gar.find("-----BEGIN CERTIFICATE-----").unwrap();
    let ce = gar.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    let fresh = certificate_pem("gar-new.example", 1_700_000_000, 2_100_000_000);
    new.write(
        "services/gar.toml",
        &format!("{}{}{}", &gar[..cs], fresh.trim(), &gar[ce..]),
    );
    new.edit(
        "services/gar.toml",
        "start = 2025-09-01",
        "start = 2025-09-02",
    );
    new.edit(
        "services/moodle.toml",
        "membership = \"pending\"",
        "membership = \"approved\"\n",
    );
    new.edit(
        "services/moodle.toml",
        "requested_on = 2026-10-05",
        "requested_on = 2026-10-05\nstart = 2026-12-01",
    );
    let out = new.fedmeta(&[
        "join",
        "--id",
        "chamilo",
        "--cas-service",
        "https://chamilo.example.org/",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let changes: Vec<String> = diff_paths(&old.dir, &new.dir)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let fingerprint = |d: &Domain| -> String {
        let text = d.read("services/gar.toml");
        let s = text.find("-----BEGIN").unwrap();
        let e = text.find("-----END CERTIFICATE-----").unwrap() + 25;
        let cert = openssl::x509::X509::from_pem(&text.as_bytes()[s..e]).unwrap();
        let d = cert.digest(openssl::hash::MessageDigest::sha256()).unwrap();
        let hex: Vec<String> = d.iter().take(16).map(|b| format!("{b:02X}")).collect();
        format!("SHA-256 {}…", hex.join(":"))
    };
    let expected = [
        "service chamilo: member added (CAS, Pending, releases: none)".to_owned(),
        "service gar: start: 2025-09-01 -> 2025-09-02".to_owned(),
        format!(
            "service gar: signing certificate added: {}",
            fingerprint(&new)
        ),
        format!(
            "service gar: signing certificate removed: {}",
            fingerprint(&old)
        ),
        "service moodle: membership: Pending -> Approved".to_owned(),
        "service moodle: start: none -> 2026-12-01".to_owned(),
        "service moodle: attribute released: mail (from email, optional)".to_owned(),
        "service pronote: attribute no longer released: codePostal".to_owned(),
    ];
    assert_eq!(changes, expected);

    // The CLI prints the same lines.
    let out = new.fedmeta(&["diff", old.dir.to_str().unwrap(), new.dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[test]
fn between_compiled_registries() {
    use federation_metadata::source::load_domain;
    use time::macros::datetime;
    let d = Domain::demo();
    let old = load_domain(&d.dir)
        .unwrap()
        .to_registry(datetime!(2026-11-27 0:00 UTC));
    let out = d.fedmeta(&[
        "leave",
        "pronote",
        "--on",
        "2027-02-01",
        "--requested-on",
        "2027-01-10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("access until 2027-08-31"),
        "{}",
        stdout(&out)
    );
    let new = load_domain(&d.dir)
        .unwrap()
        .to_registry(datetime!(2026-12-04 0:00 UTC));
    let a = d.dir.join("old.json");
    let b = d.dir.join("new.json");
    std::fs::write(&a, serde_json::to_vec(&old).unwrap()).unwrap();
    std::fs::write(&b, serde_json::to_vec(&new).unwrap()).unwrap();
    let changes: Vec<String> = diff_paths(&a, &b)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        changes,
        [
            "registry: valid until 2026-12-11T00:00:00Z -> 2026-12-18T00:00:00Z",
            "service pronote: leave recorded: requested 2027-01-10, leaving on 2027-02-01, access until 2027-08-31",
        ]
    );
}
