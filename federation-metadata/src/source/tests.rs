//! Loading the shipped demo domain and reporting parse errors with lines.

use super::*;
use time::macros::date;

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/federation/demo")
}

#[test]
fn demo_domain_loads_and_validates() {
    let domain = load_domain(&demo_dir()).unwrap();
    assert_eq!(domain.federation.id, "demo");
    let ids: Vec<_> = domain.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["gar", "moodle", "pronote", "ressources", "vie-scolaire"]
    );
    assert!(domain
        .federation
        .signing_certificate_pem
        .contains("BEGIN CERTIFICATE"));
    if let Err(errors) = crate::validate::validate(&domain, date!(2026 - 11 - 27)) {
        panic!("{}", crate::diagnostic::join(&errors));
    }
    let registry = domain.to_registry(time::macros::datetime!(2026-11-27 0:00 UTC));
    assert_eq!(
        registry.valid_until,
        time::macros::datetime!(2026-12-11 0:00 UTC)
    );
    // Round trip through JSON.
    let json = serde_json::to_string(&registry).unwrap();
    let back: Registry = serde_json::from_str(&json).unwrap();
    assert_eq!(back, registry);
    // And through TOML, which is what lifecycle commands rewrite.
    let service = &registry.services[0];
    let text = toml::to_string(service).unwrap();
    let back: Service = toml::from_str(&text).unwrap();
    assert_eq!(&back, service);
}

#[test]
fn toml_errors_carry_the_line() {
    let file = SourceFile {
        path: "x.toml".into(),
        text: "name = \"b\"\nurl = \"https://o.example\"\nbogus = 1\n".into(),
    };
    let mut errors = Vec::new();
    let parsed: Option<crate::model::Organisation> = parse(&file, &mut errors);
    assert!(parsed.is_none());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, Some(3));
    assert!(errors[0].message.contains("unknown field"), "{}", errors[0]);
}
