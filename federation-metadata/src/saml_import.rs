//! Joining a SAML service provider from its own metadata (file or URL).
//!
//! SP software publishes an `EntityDescriptor` with an `SPSSODescriptor`; this reads it
//! safely (quick-xml, no DTD, bounded size, depth and element count, parsed once into a
//! small tree), takes what the federation needs (entityID, ACS and SLO endpoints, signing and
//! encryption certificates, AuthnRequestsSigned / WantAssertionsSigned, NameIDFormat,
//! Organization, ContactPerson, MDUI), and builds a pending [`Service`] with the federation's
//! default terms. `RequestedAttribute`s are *not* turned into releases: each release needs a
//! purpose that the federation agrees to, so they are listed for the administrator instead
//! (data minimisation by default).

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;
use openssl::x509::X509;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use time::Date;

use crate::model::{
    Binding, Contact, ContactKind, Endpoint, Federation, IndexedEndpoint, Logo, MembershipState,
    NameIdFormat, Organisation, Protocol, SamlSettings, Service, ServiceCommitments,
    SignatureAlgorithm, UiInfo,
};

/// Largest metadata document accepted (one SP's metadata is a few kB; an aggregate is not
/// what `join` takes).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 20_000;

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const MDUI: &str = "urn:oasis:names:tc:SAML:metadata:ui";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("cannot fetch {0}: {1}")]
    Fetch(String, String),
    #[error("metadata larger than {MAX_METADATA_BYTES} bytes")]
    TooLarge,
    #[error("metadata is not well-formed XML: {0}")]
    Xml(String),
    #[error("metadata with a DTD is refused (no DTD processing)")]
    Dtd,
    #[error("metadata nested deeper than {MAX_DEPTH} or with more than {MAX_ELEMENTS} elements")]
    TooComplex,
    #[error("metadata: {0}")]
    Content(String),
}

/// A service built from SP metadata, with notes for the administrator.
#[derive(Debug, Clone)]
pub struct Imported {
    pub service: Service,
    /// What was skipped or needs a decision (unsupported bindings, requested attributes...).
    pub notes: Vec<String>,
    /// The attributes the SP asks for (`RequestedAttribute`): name, friendly name, required.
    pub requested_attributes: Vec<(String, Option<String>, bool)>,
}

/// Reads SP metadata from a file path, or an `http://` / `https://` URL (TLS through the
/// system's OpenSSL, 30 s timeout, same size limit).
pub fn read_metadata(location: &str) -> Result<String, ImportError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let fetch = |e: ureq::Error| ImportError::Fetch(location.to_owned(), e.to_string());
        let mut response = agent.get(location).call().map_err(fetch)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_METADATA_BYTES as u64)
            .read_to_vec()
            .map_err(fetch)?;
        String::from_utf8(bytes).map_err(|e| ImportError::Xml(e.to_string()))
    } else {
        let meta =
            std::fs::metadata(location).map_err(|e| ImportError::Read(location.to_owned(), e))?;
        if meta.len() > MAX_METADATA_BYTES as u64 {
            return Err(ImportError::TooLarge);
        }
        std::fs::read_to_string(location).map_err(|e| ImportError::Read(location.to_owned(), e))
    }
}

/// Builds a pending service `id` from the SP metadata `xml`, with the federation's default
/// terms and `today` as the request date.
pub fn import_sp_metadata(
    xml: &str,
    id: &str,
    federation: &Federation,
    today: Date,
) -> Result<Imported, ImportError> {
    let root = parse_tree(xml)?;
    let entity = find_entity(&root)?;
    let entity_id = entity
        .attr("entityID")
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ImportError::Content("EntityDescriptor without entityID".into()))?
        .to_owned();
    let sp = entity
        .children_named(MD, "SPSSODescriptor")
        .find(|d| {
            d.attr("protocolSupportEnumeration")
                .is_some_and(|p| p.split_whitespace().any(|x| x == SAML2_PROTOCOL))
        })
        .ok_or_else(|| {
            ImportError::Content(format!(
                "{entity_id}: no SPSSODescriptor supporting SAML 2.0"
            ))
        })?;

    let mut notes = Vec::new();
    let (signing, encryption) = certificates(sp, &mut notes)?;

    let mut acs = Vec::new();
    for (pos, e) in sp
        .children_named(MD, "AssertionConsumerService")
        .enumerate()
    {
        let binding_urn = e.attr("Binding").unwrap_or_default();
        let Some(binding) = Binding::from_urn(binding_urn) else {
            notes.push(format!(
                "AssertionConsumerService with binding {binding_urn} skipped (not supported)"
            ));
            continue;
        };
        let index = match e.attr("index").map(str::parse::<u16>) {
            Some(Ok(i)) => i,
            Some(Err(_)) => {
                return Err(ImportError::Content(format!(
                    "AssertionConsumerService index {:?} is not a number",
                    e.attr("index")
                )))
            }
            None => pos as u16,
        };
        acs.push(IndexedEndpoint {
            binding,
            location: required_attr(e, "Location")?,
            index,
            is_default: e.attr("isDefault").is_some_and(is_true),
        });
    }
    if acs.is_empty() {
        return Err(ImportError::Content(format!(
            "{entity_id}: no AssertionConsumerService with a SAML 2.0 binding"
        )));
    }
    let mut slo = Vec::new();
    for e in sp.children_named(MD, "SingleLogoutService") {
        let binding_urn = e.attr("Binding").unwrap_or_default();
        let Some(binding) = Binding::from_urn(binding_urn) else {
            notes.push(format!(
                "SingleLogoutService with binding {binding_urn} skipped (not supported)"
            ));
            continue;
        };
        slo.push(Endpoint {
            binding,
            location: required_attr(e, "Location")?,
            response_location: e.attr("ResponseLocation").map(str::to_owned),
        });
    }

    let formats: Vec<String> = sp
        .children_named(MD, "NameIDFormat")
        .map(|e| e.text.trim().to_owned())
        .collect();
    let name_id_format = formats
        .iter()
        .find_map(|f| NameIdFormat::from_urn(f))
        .unwrap_or_default();
    for f in &formats {
        if NameIdFormat::from_urn(f).is_none() {
            notes.push(format!("NameIDFormat {f} not supported, ignored"));
        }
    }
    let name_id_attribute = match name_id_format {
        NameIdFormat::Unspecified => Some("login".to_owned()),
        NameIdFormat::Email => Some("email".to_owned()),
        _ => None,
    };
    if let Some(a) = &name_id_attribute {
        notes.push(format!(
            "NameID format {} sends the value of catalogue attribute {a:?}: check it",
            name_id_format.urn()
        ));
    }

    let mut requested_attributes = Vec::new();
    for acs_el in sp.children_named(MD, "AttributeConsumingService") {
        for ra in acs_el.children_named(MD, "RequestedAttribute") {
            if let Some(name) = ra.attr("Name") {
                requested_attributes.push((
                    name.to_owned(),
                    ra.attr("FriendlyName").map(str::to_owned),
                    ra.attr("isRequired").is_some_and(is_true),
                ));
            }
        }
    }

    let ui = sp
        .children_named(MD, "Extensions")
        .flat_map(|x| x.children_named(MDUI, "UIInfo"))
        .next();
    let ui_text = |name: &str| ui.and_then(|u| localized(u.children_named(MDUI, name)));
    let organisation = entity.children_named(MD, "Organization").next();
    let org_text = |name: &str| organisation.and_then(|o| localized(o.children_named(MD, name)));
    let fallback_url = origin(&entity_id)
        .or_else(|| acs.first().and_then(|a| origin(&a.location)))
        .unwrap_or_default();
    let org = Organisation {
        name: org_text("OrganizationName").unwrap_or_else(|| id.to_owned()),
        display_name: org_text("OrganizationDisplayName"),
        url: org_text("OrganizationURL").unwrap_or(fallback_url),
    };
    let name = ui_text("DisplayName")
        .or_else(|| org.display_name.clone())
        .unwrap_or_else(|| id.to_owned());
    let logo = ui
        .and_then(|u| u.children_named(MDUI, "Logo").next())
        .and_then(|l| {
            Some(Logo {
                url: l.text.trim().to_owned(),
                width: l.attr("width")?.parse().ok()?,
                height: l.attr("height")?.parse().ok()?,
            })
        });

    let contacts = entity
        .children_named(MD, "ContactPerson")
        .filter_map(|c| contact(c, &mut notes))
        .collect();

    let service = Service {
        id: id.to_owned(),
        name,
        description: ui_text("Description").unwrap_or_default(),
        organisation: org,
        contacts,
        commitments: ServiceCommitments::default(),
        membership: MembershipState::Pending,
        agreement: crate::lifecycle::pending_agreement(federation, today),
        costs: String::new(),
        ui: UiInfo {
            information_url: ui_text("InformationURL"),
            privacy_statement_url: ui_text("PrivacyStatementURL"),
            logo,
        },
        protocol: Protocol::Saml(SamlSettings {
            entity_id,
            assertion_consumer_services: acs,
            single_logout_services: slo,
            signing_certificates: signing,
            encryption_certificates: encryption,
            authn_requests_signed: sp.attr("AuthnRequestsSigned").is_some_and(is_true),
            want_assertions_signed: sp.attr("WantAssertionsSigned").is_some_and(is_true),
            sign_assertion: true,
            sign_response: false,
            signature_algorithm: SignatureAlgorithm::RsaSha256,
            allow_sha1: false,
            encrypt_assertion: false,
            name_id_format,
            name_id_attribute,
            allow_idp_initiated: false,
        }),
        releases: Vec::new(),
    };
    Ok(Imported {
        service,
        notes,
        requested_attributes,
    })
}

/// KeyDescriptor `use="signing"`, `use="encryption"`, or no `use` (both), as PEM.
fn certificates(
    sp: &Element,
    notes: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>), ImportError> {
    let mut signing = Vec::new();
    let mut encryption = Vec::new();
    for kd in sp.children_named(MD, "KeyDescriptor") {
        let usage = kd.attr("use").unwrap_or("");
        let certs = kd
            .children_named(DS, "KeyInfo")
            .flat_map(|ki| ki.children_named(DS, "X509Data"))
            .flat_map(|xd| xd.children_named(DS, "X509Certificate"));
        for c in certs {
            let b64: String = c.text.chars().filter(|ch| !ch.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| ImportError::Content(format!("X509Certificate is not base64: {e}")))?;
            let cert = X509::from_der(&der).map_err(|e| {
                ImportError::Content(format!("X509Certificate does not parse: {e}"))
            })?;
            let pem = cert
                .to_pem()
                .map_err(|e| ImportError::Content(e.to_string()))?;
            let pem = String::from_utf8_lossy(&pem).trim().to_owned();
            match usage {
                "signing" => push_unique(&mut signing, pem),
                "encryption" => push_unique(&mut encryption, pem),
                "" => {
                    push_unique(&mut signing, pem.clone());
                    push_unique(&mut encryption, pem);
                }
                other => notes.push(format!("KeyDescriptor use={other:?} ignored")),
            }
        }
    }
    Ok((signing, encryption))
}

fn push_unique(list: &mut Vec<String>, pem: String) {
    if !list.contains(&pem) {
        list.push(pem);
    }
}

fn contact(c: &Element, notes: &mut Vec<String>) -> Option<Contact> {
    let ty = c.attr("contactType").unwrap_or_default();
    // REFEDS security contacts: contactType="other" remd:contactType="http://refeds.org/metadata/contactType/security".
    let refeds_security = c
        .attrs
        .iter()
        .any(|(k, v)| k.ends_with("contactType") && k.contains(':') && v.ends_with("/security"));
    let kind = match ty {
        "technical" => ContactKind::Technical,
        "support" => ContactKind::Support,
        "administrative" | "billing" => ContactKind::Administrative,
        "other" if refeds_security => ContactKind::Security,
        other => {
            notes.push(format!(
                "ContactPerson contactType={other:?} kept as administrative"
            ));
            ContactKind::Administrative
        }
    };
    let email = c
        .children_named(MD, "EmailAddress")
        .next()?
        .text
        .trim()
        .trim_start_matches("mailto:")
        .to_owned();
    let name = [
        c.children_named(MD, "GivenName").next(),
        c.children_named(MD, "SurName").next(),
    ]
    .into_iter()
    .flatten()
    .map(|e| e.text.trim())
    .filter(|t| !t.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    Some(Contact {
        kind,
        name,
        email,
        phone: c
            .children_named(MD, "TelephoneNumber")
            .next()
            .map(|t| t.text.trim().to_owned()),
    })
}

/// The French text of a localised element list if any, else the first.
fn localized<'a>(mut elements: impl Iterator<Item = &'a Element>) -> Option<String> {
    let all: Vec<&Element> = elements.by_ref().collect();
    all.iter()
        .find(|e| e.attr("lang") == Some("fr"))
        .or_else(|| all.first())
        .map(|e| e.text.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

fn is_true(v: &str) -> bool {
    v == "true" || v == "1"
}

fn required_attr(e: &Element, name: &str) -> Result<String, ImportError> {
    e.attr(name)
        .map(str::to_owned)
        .ok_or_else(|| ImportError::Content(format!("{} without {name}", e.local)))
}

/// The EntityDescriptor: the root, or the single one inside an EntitiesDescriptor.
fn find_entity(root: &Element) -> Result<&Element, ImportError> {
    if root.is(MD, "EntityDescriptor") {
        return Ok(root);
    }
    if root.is(MD, "EntitiesDescriptor") {
        let entities: Vec<&Element> = root.children_named(MD, "EntityDescriptor").collect();
        return match entities.as_slice() {
            [one] => Ok(one),
            _ => Err(ImportError::Content(format!(
                "an EntitiesDescriptor with {} entities: give the metadata of one SP",
                entities.len()
            ))),
        };
    }
    Err(ImportError::Content(format!(
        "root element {} is not a SAML metadata EntityDescriptor",
        root.local
    )))
}

/// A parsed element: namespace, local name, attributes by local name (prefixed ones keep
/// their qualified name), children, and its direct text.
#[derive(Debug, Default)]
struct Element {
    ns: String,
    local: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// An unprefixed attribute, or `xml:lang` as `lang`.
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name || (name == "lang" && k == "xml:lang"))
            .map(|(_, v)| v.as_str())
    }

    fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }
}

/// Parses `xml` into a tree, refusing DTDs, unknown entities, excessive size or depth.
fn parse_tree(xml: &str) -> Result<Element, ImportError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(ImportError::TooLarge);
    }
    let mut reader = NsReader::from_str(xml);
    let xml_err = |e: quick_xml::Error| ImportError::Xml(e.to_string());
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(xml_err)?;
        let ns = match ns {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => {
                return Err(ImportError::Xml(format!(
                    "unknown namespace prefix {}",
                    String::from_utf8_lossy(&p)
                )))
            }
        };
        match event {
            Event::DocType(_) => return Err(ImportError::Dtd),
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(ImportError::TooComplex);
                }
                let mut el = Element {
                    ns,
                    local: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|e| ImportError::Xml(e.to_string()))?;
                    let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let value = a
                        .decoded_and_normalized_value(
                            quick_xml::XmlVersion::Implicit1_0,
                            reader.decoder(),
                        )
                        .map_err(xml_err)?;
                    el.attrs.push((key, value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, el)?;
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| ImportError::Xml("unbalanced end tag".into()))?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let text: Cow<'_, str> = t
                        .xml10_content()
                        .map_err(|e| ImportError::Xml(e.to_string()))?;
                    top.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    let text = t.decode().map_err(|e| ImportError::Xml(e.to_string()))?;
                    top.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(xml_err)?.map(String::from)
                } else {
                    let name = r.decode().map_err(|e| ImportError::Xml(e.to_string()))?;
                    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                };
                let Some(text) = resolved else {
                    return Err(ImportError::Xml(
                        "unknown entity reference (no DTD entities)".into(),
                    ));
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(ImportError::Xml("unexpected end of document".into()));
    }
    root.ok_or_else(|| ImportError::Xml("empty document".into()))
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    el: Element,
) -> Result<(), ImportError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => return Err(ImportError::Xml("more than one root element".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
