//! The one safe reader for the SAML protocol messages the IdP receives (AuthnRequest,
//! LogoutRequest, LogoutResponse): bounded size, no DTD (so no entity expansion), exactly one
//! root of the expected name, and only the root's attributes and its direct children are
//! read, so nothing nested elsewhere (a wrapped, genuinely signed message) is ever looked at.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::bindings::MAX_XML;
use super::error::Refusal;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The root or one of its direct children.
#[derive(Debug, Default)]
pub struct Element {
    ns: String,
    name: String,
    attrs: Vec<(String, String)>,
    /// The element's own text (entities resolved), trimmed; text of deeper elements is not
    /// included.
    pub text: String,
    /// Whether the element holds elements of its own.
    pub has_elements: bool,
    /// The first element inside this one, its name and attributes only (the top-level
    /// `StatusCode` of a `samlp:Status`).
    pub first_child: Option<Box<Element>>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A message read down to the root's direct children.
#[derive(Debug)]
pub struct Shallow {
    pub root: Element,
    pub children: Vec<Element>,
}

impl Shallow {
    /// A `ds:Signature` is a direct child of the root.
    pub fn signed_enveloped(&self) -> bool {
        self.children.iter().any(|c| c.is(DSIG_NS, "Signature"))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }
}

fn element(ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Element {
    Element {
        ns: match ns {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
            _ => String::new(),
        },
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ..Element::default()
    }
}

fn attrs(
    e: &BytesStart<'_>,
    decoder: quick_xml::encoding::Decoder,
) -> Result<Vec<(String, String)>, Refusal> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|_| Refusal::page("malformed XML attribute"))?;
            let value = a
                .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, decoder)
                .map_err(|_| Refusal::page("malformed XML attribute"))?;
            Ok((
                String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                value.into_owned(),
            ))
        })
        .collect()
}

/// Reads `xml`, whose root must be `samlp:<root>`; `what` names it in refusals ("an
/// AuthnRequest").
pub fn read(xml: &str, root: &str, what: &str) -> Result<Shallow, Refusal> {
    if xml.len() > MAX_XML {
        return Err(Refusal::page("message too large"));
    }
    let mut reader = NsReader::from_str(xml);
    let mut top: Option<Element> = None;
    let mut children: Vec<Element> = Vec::new();
    let mut depth = 0usize;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|_| Refusal::page("malformed XML"))?;
        match event {
            Event::DocType(_) => return Err(Refusal::page("XML with a DTD is refused")),
            Event::Start(ref e) | Event::Empty(ref e) => {
                match depth {
                    0 => {
                        if top.is_some() {
                            return Err(Refusal::page("more than one root element"));
                        }
                        let mut el = element(&ns, e);
                        if !el.is(PROTOCOL_NS, root) {
                            return Err(Refusal::page_owned(format!("not {what}")));
                        }
                        el.attrs = attrs(e, reader.decoder())?;
                        top = Some(el);
                    }
                    1 => {
                        let mut el = element(&ns, e);
                        el.attrs = attrs(e, reader.decoder())?;
                        children.push(el);
                    }
                    2 => {
                        if let Some(c) = children.last_mut() {
                            c.has_elements = true;
                            if c.first_child.is_none() {
                                let mut el = element(&ns, e);
                                el.attrs = attrs(e, reader.decoder())?;
                                c.first_child = Some(Box::new(el));
                            }
                        }
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    depth += 1;
                }
            }
            Event::Text(ref t) if depth == 2 => {
                let s = t
                    .xml10_content()
                    .map_err(|_| Refusal::page("malformed text"))?;
                if let Some(c) = children.last_mut() {
                    c.text.push_str(&s);
                }
            }
            Event::GeneralRef(ref r) if depth == 2 => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode().ok().and_then(|name| {
                        quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                    })
                };
                match (resolved, children.last_mut()) {
                    (Some(s), Some(c)) => c.text.push_str(&s),
                    (Some(_), None) => {}
                    (None, _) => return Err(Refusal::page("unknown XML entity")),
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
    }
    let root = match top {
        Some(r) if depth == 0 => r,
        _ => return Err(Refusal::page("malformed XML")),
    };
    for c in &mut children {
        c.text = c.text.trim().to_owned();
    }
    Ok(Shallow { root, children })
}
