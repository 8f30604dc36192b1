//! SAML 2.0 metadata written with quick-xml: the federation's aggregate
//! (`EntitiesDescriptor`) and single `EntityDescriptor`s (the IdP's own, and registered
//! entities served per entity, Metadata Query style).
//!
//! samael's metadata serializers drop `ID`, `Signature` and `Extensions`, which signed
//! metadata needs, hence this writer. Elements follow the schema's order (saml-metadata-2.0,
//! MDRPI, MDUI, REFEDS contact types); every value goes through quick-xml's escaping. The
//! output carries an empty `ds:Signature` template right after the root's start tag, to be
//! filled by [`crate::xmlsig::sign_enveloped`].

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::model::{Binding, Contact, ContactKind, NameIdFormat, Organisation, Registry, Service};
use crate::xmlsig::signature_template;
use crate::xmlwrite::{WriteError, XmlOut};

pub const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const MDRPI_NS: &str = "urn:oasis:names:tc:SAML:metadata:rpi";
pub const MDUI_NS: &str = "urn:oasis:names:tc:SAML:metadata:ui";
pub const REMD_NS: &str = "http://refeds.org/metadata";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SECURITY_CONTACT: &str = "http://refeds.org/metadata/contactType/security";

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("cannot format a date: {0}")]
    Date(#[from] time::error::Format),
}

/// What makes a document standalone and signable: its root `ID`, `validUntil`,
/// `cacheDuration`, and the certificate published in the signature's `KeyInfo`.
pub struct Envelope<'a> {
    pub id: &'a str,
    pub valid_until: OffsetDateTime,
    pub cache_duration_hours: u32,
    pub signer_cert_der: &'a [u8],
}

/// The identity provider as it publishes itself.
pub struct IdpDescriptor<'a> {
    pub entity_id: &'a str,
    /// Public base URL, without a trailing `/`.
    pub base_url: &'a str,
    /// Signing certificates, base64 DER.
    pub signing_certs_b64: Vec<String>,
    pub organisation: Option<&'a Organisation>,
    pub contacts: &'a [Contact],
    pub lang: &'a str,
}

/// What the aggregate holds.
#[derive(Debug, Clone, Default)]
pub struct AggregateContents {
    /// entityIDs written (the IdP first).
    pub entities: Vec<String>,
    /// SAML services left out, with their status at compile time (pending, not started,
    /// gone).
    pub left_out: Vec<(String, String)>,
}

/// `xs:dateTime` in UTC, whole seconds (`2026-11-27T02:35:00Z`).
pub fn xml_datetime(t: OffsetDateTime) -> Result<String, time::error::Format> {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
}

/// The base64 body of a PEM certificate (what `ds:X509Certificate` holds).
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect()
}

/// The unsigned aggregate of `registry` (with its signature template): every SAML service
/// granting access at `registry.issued_at`, then the IdP.
pub fn aggregate(
    registry: &Registry,
    idp: &IdpDescriptor,
    envelope: &Envelope,
) -> Result<(String, AggregateContents), MetadataError> {
    let publication = &registry.federation.publication;
    let lang = publication.lang.as_str();
    let today = registry.issued_at.date();
    let issued = xml_datetime(registry.issued_at)?;
    let mut out = XmlOut::with_capacity(4096 + registry.services.len() * 4096);
    let mut contents = AggregateContents::default();
    let valid_until = xml_datetime(envelope.valid_until)?;
    let cache = format!("PT{}H", envelope.cache_duration_hours);
    out.open(
        "md:EntitiesDescriptor",
        &[
            ("xmlns:md", MD_NS),
            ("xmlns:mdrpi", MDRPI_NS),
            ("xmlns:mdui", MDUI_NS),
            ("xmlns:remd", REMD_NS),
            ("ID", envelope.id),
            ("Name", &publication.aggregate_name),
            ("validUntil", &valid_until),
            ("cacheDuration", &cache),
        ],
    )?;
    out.raw(&signature_template(
        envelope.id,
        Some(envelope.signer_cert_der),
    ))?;
    out.open("md:Extensions", &[])?;
    out.open(
        "mdrpi:PublicationInfo",
        &[
            ("publisher", &publication.registration_authority),
            ("creationInstant", &issued),
            ("publicationId", envelope.id),
        ],
    )?;
    out.leaf(
        "mdrpi:UsagePolicy",
        &[("xml:lang", lang)],
        &publication.registration_policy_url,
    )?;
    out.close("mdrpi:PublicationInfo")?;
    out.open(
        "mdrpi:RegistrationInfo",
        &[("registrationAuthority", &publication.registration_authority)],
    )?;
    out.leaf(
        "mdrpi:RegistrationPolicy",
        &[("xml:lang", lang)],
        &publication.registration_policy_url,
    )?;
    out.close("mdrpi:RegistrationInfo")?;
    out.close("md:Extensions")?;

    write_idp(&mut out, idp, None)?;
    contents.entities.push(idp.entity_id.to_owned());
    for service in &registry.services {
        let Some(saml) = service.saml() else { continue };
        if !service.grants_access_at(today) {
            contents
                .left_out
                .push((saml.entity_id.clone(), service.status_at(today).to_string()));
            continue;
        }
        write_sp(&mut out, registry, service, None)?;
        contents.entities.push(saml.entity_id.clone());
    }
    out.close("md:EntitiesDescriptor")?;
    Ok((into_string(out), contents))
}

/// The unsigned, standalone `EntityDescriptor` of a SAML `service` (None for CAS).
pub fn sp_entity(
    registry: &Registry,
    service: &Service,
    envelope: &Envelope,
) -> Result<Option<String>, MetadataError> {
    if service.saml().is_none() {
        return Ok(None);
    }
    let mut out = XmlOut::default();
    write_sp(&mut out, registry, service, Some(envelope))?;
    Ok(Some(into_string(out)))
}

/// The unsigned, standalone `EntityDescriptor` of the IdP.
pub fn idp_entity(idp: &IdpDescriptor, envelope: &Envelope) -> Result<String, MetadataError> {
    let mut out = XmlOut::default();
    write_idp(&mut out, idp, Some(envelope))?;
    Ok(into_string(out))
}

fn into_string(out: XmlOut) -> String {
    // Everything written came from `&str`s: the bytes are UTF-8.
    String::from_utf8(out.finish())
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Opens an `EntityDescriptor`, standalone (namespaces, ID, validUntil, signature template)
/// or inside the aggregate.
fn open_entity(
    out: &mut XmlOut,
    entity_id: &str,
    envelope: Option<&Envelope>,
) -> Result<(), MetadataError> {
    match envelope {
        None => out.open("md:EntityDescriptor", &[("entityID", entity_id)])?,
        Some(env) => {
            let valid_until = xml_datetime(env.valid_until)?;
            let cache = format!("PT{}H", env.cache_duration_hours);
            out.open(
                "md:EntityDescriptor",
                &[
                    ("xmlns:md", MD_NS),
                    ("xmlns:mdrpi", MDRPI_NS),
                    ("xmlns:mdui", MDUI_NS),
                    ("xmlns:remd", REMD_NS),
                    ("ID", env.id),
                    ("entityID", entity_id),
                    ("validUntil", &valid_until),
                    ("cacheDuration", &cache),
                ],
            )?;
            out.raw(&signature_template(env.id, Some(env.signer_cert_der)))?;
        }
    }
    Ok(())
}

fn key_descriptor(out: &mut XmlOut, usage: &str, cert_b64: &str) -> Result<(), MetadataError> {
    out.open("md:KeyDescriptor", &[("use", usage)])?;
    out.open("ds:KeyInfo", &[("xmlns:ds", crate::xmlsig::DSIG_NS)])?;
    out.open("ds:X509Data", &[])?;
    out.leaf("ds:X509Certificate", &[], cert_b64)?;
    out.close("ds:X509Data")?;
    out.close("ds:KeyInfo")?;
    out.close("md:KeyDescriptor")?;
    Ok(())
}

fn write_idp(
    out: &mut XmlOut,
    idp: &IdpDescriptor,
    envelope: Option<&Envelope>,
) -> Result<(), MetadataError> {
    open_entity(out, idp.entity_id, envelope)?;
    out.open(
        "md:IDPSSODescriptor",
        &[
            ("protocolSupportEnumeration", SAML2_PROTOCOL),
            ("WantAuthnRequestsSigned", "false"),
        ],
    )?;
    for cert in &idp.signing_certs_b64 {
        key_descriptor(out, "signing", cert)?;
    }
    let slo = format!("{}/saml/slo", idp.base_url);
    let sso = format!("{}/saml/sso", idp.base_url);
    for binding in [Binding::HttpRedirect, Binding::HttpPost] {
        out.empty(
            "md:SingleLogoutService",
            &[("Binding", binding.urn()), ("Location", &slo)],
        )?;
    }
    for format in [NameIdFormat::Transient, NameIdFormat::Persistent] {
        out.leaf("md:NameIDFormat", &[], format.urn())?;
    }
    for binding in [Binding::HttpRedirect, Binding::HttpPost] {
        out.empty(
            "md:SingleSignOnService",
            &[("Binding", binding.urn()), ("Location", &sso)],
        )?;
    }
    out.close("md:IDPSSODescriptor")?;
    if let Some(org) = idp.organisation {
        organisation(out, org, idp.lang)?;
    }
    contacts(out, idp.contacts)?;
    out.close("md:EntityDescriptor")?;
    Ok(())
}

fn write_sp(
    out: &mut XmlOut,
    registry: &Registry,
    service: &Service,
    envelope: Option<&Envelope>,
) -> Result<(), MetadataError> {
    let Some(saml) = service.saml() else {
        return Ok(());
    };
    let publication = &registry.federation.publication;
    let lang = publication.lang.as_str();
    open_entity(out, &saml.entity_id, envelope)?;

    out.open("md:Extensions", &[])?;
    let registered = service
        .agreement
        .signed_on
        .or(service.agreement.start)
        .map(|d| xml_datetime(d.midnight().assume_utc()))
        .transpose()?;
    let mut attrs = vec![(
        "registrationAuthority",
        publication.registration_authority.as_str(),
    )];
    if let Some(r) = &registered {
        attrs.push(("registrationInstant", r));
    }
    out.open("mdrpi:RegistrationInfo", &attrs)?;
    out.leaf(
        "mdrpi:RegistrationPolicy",
        &[("xml:lang", lang)],
        &publication.registration_policy_url,
    )?;
    out.close("mdrpi:RegistrationInfo")?;
    out.close("md:Extensions")?;

    let yes_no = |b: bool| if b { "true" } else { "false" };
    out.open(
        "md:SPSSODescriptor",
        &[
            ("protocolSupportEnumeration", SAML2_PROTOCOL),
            ("AuthnRequestsSigned", yes_no(saml.authn_requests_signed)),
            ("WantAssertionsSigned", yes_no(saml.want_assertions_signed)),
        ],
    )?;
    // MDUI belongs to the role descriptor's extensions.
    out.open("md:Extensions", &[])?;
    out.open("mdui:UIInfo", &[])?;
    out.leaf("mdui:DisplayName", &[("xml:lang", lang)], &service.name)?;
    if !service.description.is_empty() {
        out.leaf(
            "mdui:Description",
            &[("xml:lang", lang)],
            &service.description,
        )?;
    }
    if let Some(url) = &service.ui.information_url {
        out.leaf("mdui:InformationURL", &[("xml:lang", lang)], url)?;
    }
    if let Some(url) = &service.ui.privacy_statement_url {
        out.leaf("mdui:PrivacyStatementURL", &[("xml:lang", lang)], url)?;
    }
    if let Some(logo) = &service.ui.logo {
        let (w, h) = (logo.width.to_string(), logo.height.to_string());
        out.leaf("mdui:Logo", &[("width", &w), ("height", &h)], &logo.url)?;
    }
    out.close("mdui:UIInfo")?;
    out.close("md:Extensions")?;

    for cert in &saml.signing_certificates {
        key_descriptor(out, "signing", &pem_body(cert))?;
    }
    for cert in &saml.encryption_certificates {
        key_descriptor(out, "encryption", &pem_body(cert))?;
    }
    for slo in &saml.single_logout_services {
        let mut attrs = vec![
            ("Binding", slo.binding.urn()),
            ("Location", slo.location.as_str()),
        ];
        if let Some(r) = &slo.response_location {
            attrs.push(("ResponseLocation", r));
        }
        out.empty("md:SingleLogoutService", &attrs)?;
    }
    out.leaf("md:NameIDFormat", &[], saml.name_id_format.urn())?;
    for acs in &saml.assertion_consumer_services {
        let index = acs.index.to_string();
        let mut attrs = vec![
            ("Binding", acs.binding.urn()),
            ("Location", acs.location.as_str()),
            ("index", index.as_str()),
        ];
        if acs.is_default {
            attrs.push(("isDefault", "true"));
        }
        out.empty("md:AssertionConsumerService", &attrs)?;
    }
    if !service.releases.is_empty() {
        out.open(
            "md:AttributeConsumingService",
            &[("index", "0"), ("isDefault", "true")],
        )?;
        out.leaf("md:ServiceName", &[("xml:lang", lang)], &service.name)?;
        if !service.description.is_empty() {
            out.leaf(
                "md:ServiceDescription",
                &[("xml:lang", lang)],
                &service.description,
            )?;
        }
        for release in &service.releases {
            let mut attrs = vec![
                ("Name", release.name.as_str()),
                ("NameFormat", release.name_format.urn()),
            ];
            if let Some(f) = &release.friendly_name {
                attrs.push(("FriendlyName", f));
            }
            attrs.push(("isRequired", yes_no(release.required)));
            out.empty("md:RequestedAttribute", &attrs)?;
        }
        out.close("md:AttributeConsumingService")?;
    }
    out.close("md:SPSSODescriptor")?;
    organisation(out, &service.organisation, lang)?;
    contacts(out, &service.contacts)?;
    out.close("md:EntityDescriptor")?;
    Ok(())
}

fn organisation(out: &mut XmlOut, org: &Organisation, lang: &str) -> Result<(), MetadataError> {
    let l = [("xml:lang", lang)];
    out.open("md:Organization", &[])?;
    out.leaf("md:OrganizationName", &l, &org.name)?;
    out.leaf("md:OrganizationDisplayName", &l, org.shown_name())?;
    out.leaf("md:OrganizationURL", &l, &org.url)?;
    out.close("md:Organization")?;
    Ok(())
}

fn contacts(out: &mut XmlOut, contacts: &[Contact]) -> Result<(), MetadataError> {
    for c in contacts {
        let mut attrs = vec![("contactType", c.kind.saml_contact_type())];
        if c.kind == ContactKind::Security {
            attrs.push(("remd:contactType", SECURITY_CONTACT));
        }
        out.open("md:ContactPerson", &attrs)?;
        if !c.name.is_empty() {
            out.leaf("md:GivenName", &[], &c.name)?;
        }
        out.leaf("md:EmailAddress", &[], &format!("mailto:{}", c.email))?;
        if let Some(phone) = &c.phone {
            out.leaf("md:TelephoneNumber", &[], phone)?;
        }
        out.close("md:ContactPerson")?;
    }
    Ok(())
}
