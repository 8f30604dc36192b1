//! Reading an AuthnRequest through `shallow` (bounded size, no DTD, the root must be
//! `samlp:AuthnRequest`): only the root's attributes and its direct children
//! (`saml:Issuer`, `samlp:NameIDPolicy`, `ds:Signature`) are used, so nothing nested
//! elsewhere (a wrapped, genuinely signed request) is ever looked at.

use time::OffsetDateTime;

use super::error::Refusal;
use super::shallow::{self, ASSERTION_NS, PROTOCOL_NS};

/// What is read from an AuthnRequest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub version: String,
    pub issue_instant: Option<OffsetDateTime>,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub issuer: Option<String>,
    pub name_id_format: Option<String>,
    pub allow_create: Option<bool>,
    pub sp_name_qualifier: Option<String>,
    /// A `ds:Signature` is a direct child of the root.
    pub signed_enveloped: bool,
}

fn boolean(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1"))
}

/// Parses `xml` as an AuthnRequest.
pub fn parse_authn_request(xml: &str) -> Result<AuthnRequest, Refusal> {
    let doc = shallow::read(xml, "AuthnRequest", "an AuthnRequest")?;
    let root = &doc.root;
    let mut req = AuthnRequest {
        id: root.attr("ID").unwrap_or_default().to_owned(),
        version: root.attr("Version").unwrap_or_default().to_owned(),
        issue_instant: root.attr("IssueInstant").and_then(|v| {
            OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
        }),
        destination: root.attr("Destination").map(str::to_owned),
        acs_url: root.attr("AssertionConsumerServiceURL").map(str::to_owned),
        acs_index: match root.attr("AssertionConsumerServiceIndex") {
            Some(v) => Some(
                v.parse()
                    .map_err(|_| Refusal::page("bad AssertionConsumerServiceIndex"))?,
            ),
            None => None,
        },
        protocol_binding: root.attr("ProtocolBinding").map(str::to_owned),
        force_authn: boolean(root.attr("ForceAuthn")),
        is_passive: boolean(root.attr("IsPassive")),
        signed_enveloped: doc.signed_enveloped(),
        ..AuthnRequest::default()
    };
    for issuer in doc.children_named(ASSERTION_NS, "Issuer") {
        if req.issuer.is_some() {
            return Err(Refusal::page("more than one Issuer"));
        }
        if issuer.has_elements {
            return Err(Refusal::page("unexpected element in the Issuer"));
        }
        req.issuer = Some(issuer.text.clone());
    }
    if let Some(policy) = doc.children_named(PROTOCOL_NS, "NameIDPolicy").last() {
        req.name_id_format = policy.attr("Format").map(str::to_owned);
        // xs:boolean, strictly: a misspelt value must not silently read as "false".
        req.allow_create = match policy.attr("AllowCreate").map(str::trim) {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => return Err(Refusal::page("NameIDPolicy AllowCreate is not a boolean")),
        };
        req.sp_name_qualifier = policy.attr("SPNameQualifier").map(str::to_owned);
    }
    if req.id.is_empty() {
        return Err(Refusal::page("the request has no ID"));
    }
    Ok(req)
}
