//! The annex holds the purposes, the dates and the structure, and escapes its texts.

use super::*;

fn demo() -> Registry {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/federation/demo");
    crate::source::load_domain(&dir)
        .unwrap()
        .to_registry(time::macros::datetime!(2026-11-27 0:00 UTC))
}

#[test]
fn markdown_has_the_annex_structure_purposes_and_dates() {
    let md = render_markdown(&demo());
    for part in [
        "## 1. Identification des parties",
        "## 2. Périmètre de la fédération",
        "## 3. Engagements du fournisseur d'identité",
        "## 4. Identité et attributs produits",
        "## 5. Engagements des fournisseurs de services",
        "## 6. Engagements mutuels",
        "## 7. Durée, renouvellement et résiliation",
        "## 8. Coûts",
    ] {
        assert!(md.contains(part), "missing {part}");
    }
    assert!(md.contains("Rapprochement du compte Pronote (homonymes)."));
    assert!(md.contains("Identifier l'ENT d'origine auprès du GAR."));
    assert!(md.contains("| GARPersonIdentifiant |"));
    assert!(md.contains("01/09/2025"), "start date");
    assert!(md.contains("0350001A"));
    assert!(md.contains("valeurs jointes par « ; »"));
}

#[test]
fn html_escapes_texts() {
    let mut r = demo();
    r.services[0].releases[0].purpose = "<script>alert('x')</script> & co".into();
    let html = render_html(&r);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    let md = render_markdown(&r);
    assert!(md.contains("\\<script\\>"));
}
