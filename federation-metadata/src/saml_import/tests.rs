//! Unit tests of the SP metadata reader: namespaces, localised texts, key uses, contacts.

use super::*;
use time::macros::date;

fn federation() -> Federation {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/federation/demo");
    crate::source::load_domain(&dir).unwrap().federation
}

fn cert_b64() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/federation/demo");
    let pem = std::fs::read_to_string(dir.join("federation-signing.crt")).unwrap();
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn sample() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">
<EntityDescriptor entityID="https://sp.example.org/sp" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:remd="http://refeds.org/metadata">
  <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="1">
    <Extensions><mdui:UIInfo>
      <mdui:DisplayName xml:lang="en">Example</mdui:DisplayName>
      <mdui:DisplayName xml:lang="fr">Exemple &amp; Cie</mdui:DisplayName>
      <mdui:InformationURL xml:lang="fr">https://sp.example.org/info</mdui:InformationURL>
      <mdui:Logo width="80" height="60">https://sp.example.org/logo.png</mdui:Logo>
    </mdui:UIInfo></Extensions>
    <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
{cert}
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.org/slo"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs?a=1&amp;b=2" index="7" isDefault="true"/>
  </SPSSODescriptor>
  <Organization>
    <OrganizationName xml:lang="fr">Exemple SAS</OrganizationName>
    <OrganizationDisplayName xml:lang="fr">Exemple</OrganizationDisplayName>
    <OrganizationURL xml:lang="fr">https://www.example.org</OrganizationURL>
  </Organization>
  <ContactPerson contactType="other" remd:contactType="http://refeds.org/metadata/contactType/security">
    <EmailAddress>mailto:cert@example.org</EmailAddress>
  </ContactPerson>
</EntityDescriptor>
</EntitiesDescriptor>"#,
        cert = cert_b64()
    )
}

#[test]
fn reads_a_complete_descriptor() {
    let imported =
        import_sp_metadata(&sample(), "exemple", &federation(), date!(2026 - 11 - 27)).unwrap();
    let s = imported.service;
    assert_eq!(s.name, "Exemple & Cie");
    assert_eq!(s.organisation.name, "Exemple SAS");
    assert_eq!(s.organisation.url, "https://www.example.org");
    assert_eq!(
        s.ui.information_url.as_deref(),
        Some("https://sp.example.org/info")
    );
    assert_eq!(
        s.ui.logo.as_ref().map(|l| (l.width, l.height)),
        Some((80, 60))
    );
    assert_eq!(s.contacts.len(), 1);
    assert_eq!(s.contacts[0].kind, ContactKind::Security);
    assert_eq!(s.contacts[0].email, "cert@example.org");
    assert_eq!(s.membership, MembershipState::Pending);
    assert_eq!(s.agreement.requested_on, Some(date!(2026 - 11 - 27)));
    let saml = s.saml().unwrap();
    assert_eq!(
        saml.assertion_consumer_services[0].location,
        "https://sp.example.org/acs?a=1&b=2"
    );
    assert_eq!(saml.assertion_consumer_services[0].index, 7);
    assert!(saml.assertion_consumer_services[0].is_default);
    assert!(saml.want_assertions_signed);
    assert_eq!(saml.signing_certificates.len(), 1);
    assert!(saml.encryption_certificates.is_empty());
    assert_eq!(saml.name_id_format, NameIdFormat::Email);
    assert_eq!(saml.name_id_attribute.as_deref(), Some("email"));
    assert_eq!(
        saml.single_logout_services[0].binding,
        Binding::HttpRedirect
    );
}

#[test]
fn refuses_what_is_not_sp_metadata() {
    let f = federation();
    let today = date!(2026 - 11 - 27);
    assert!(import_sp_metadata("<html/>", "x", &f, today).is_err());
    assert!(import_sp_metadata("", "x", &f, today).is_err());
    assert!(import_sp_metadata("<a><b></a>", "x", &f, today).is_err());
    let unknown_entity = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e">&ext;</EntityDescriptor>"#;
    assert!(import_sp_metadata(unknown_entity, "x", &f, today).is_err());
    let two = sample().replace(
        "</EntitiesDescriptor>",
        "<EntityDescriptor entityID=\"b\"/></EntitiesDescriptor>",
    );
    assert!(import_sp_metadata(&two, "x", &f, today)
        .unwrap_err()
        .to_string()
        .contains("2 entities"));
}
