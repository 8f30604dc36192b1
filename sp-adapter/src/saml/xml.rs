//! The one reader for the XML the SP receives: bounded size, depth and element count, no
//! DTD (so no entity expansion), predefined entities only, a UTF-8 document. It is read
//! once into a small tree that keeps each element's byte span and namespace declarations,
//! so that one element can be cut out as a document of its own for signature verification
//! ([`extract`]), then that document is read again: values only ever come from it.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::SamlError;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Largest message accepted, decoded (a response with a few attributes is a few kB).
pub const MAX_XML: usize = 128 * 1024;
const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 4_000;

/// A namespace declaration: (prefix, `None` for the default namespace; URI).
pub type Decl = (Option<String>, String);

#[derive(Debug, Clone, Default)]
pub struct Element {
    pub ns: String,
    pub name: String,
    /// Attributes by local name (namespace declarations apart).
    pub attrs: Vec<(String, String)>,
    /// The namespace declarations written on this element.
    pub decls: Vec<Decl>,
    /// The element's own text (entities resolved), trimmed.
    pub text: String,
    pub children: Vec<Element>,
    /// Byte range of the whole element in the document.
    pub span: (usize, usize),
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The one child `ns:name`, if any; a repeated one is refused.
    pub fn child(&self, ns: &str, name: &str) -> Result<Option<&Element>, SamlError> {
        let mut it = self.children.iter().filter(|c| c.is(ns, name));
        let first = it.next();
        if it.next().is_some() {
            return Err(SamlError::Malformed(format!("{name} is repeated")));
        }
        Ok(first)
    }

    /// How many elements `ns:name` this element holds, itself included, at any depth.
    pub fn count(&self, ns: &str, name: &str) -> usize {
        usize::from(self.is(ns, name))
            + self
                .children
                .iter()
                .map(|c| c.count(ns, name))
                .sum::<usize>()
    }
}

fn bad(why: impl Into<String>) -> SamlError {
    SamlError::Malformed(why.into())
}

fn element(ns: Option<String>, e: &BytesStart<'_>, start: usize) -> Result<Element, SamlError> {
    let mut el = Element {
        ns: ns.unwrap_or_default(),
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        span: (start, start),
        ..Element::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|_| bad("malformed XML attribute"))?;
        let value = a
            .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, e.decoder())
            .map_err(|_| bad("malformed XML attribute"))?
            .into_owned();
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        match key.strip_prefix("xmlns") {
            Some("") => el.decls.push((None, value)),
            Some(rest) if rest.starts_with(':') => {
                el.decls.push((Some(rest[1..].to_owned()), value));
            }
            _ => el.attrs.push((
                String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                value,
            )),
        }
    }
    Ok(el)
}

/// Reads `xml` into its root element (see the module comment for what is refused).
pub fn parse(xml: &str) -> Result<Element, SamlError> {
    if xml.len() > MAX_XML {
        return Err(bad("message too large"));
    }
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| bad(format!("malformed XML: {e}")))?;
        let event = event.into_owned();
        let ns = match ns {
            ResolveResult::Bound(n) => Some(String::from_utf8_lossy(n.as_ref()).into_owned()),
            _ => None,
        };
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let mut done: Option<Element> = None;
        match event {
            Event::DocType(_) => return Err(bad("XML with a DTD is refused")),
            Event::Decl(d) => {
                // Another declared encoding would be read differently by libxml2.
                let other = d
                    .encoding()
                    .transpose()
                    .map_err(|_| bad("malformed XML declaration"))?
                    .is_some_and(|enc| {
                        !enc.eq_ignore_ascii_case(b"utf-8") && !enc.eq_ignore_ascii_case(b"utf8")
                    });
                if other {
                    return Err(bad("only UTF-8 documents are accepted"));
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                elements += 1;
                if elements > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(bad("message too complex"));
                }
                if stack.is_empty() && root.is_some() {
                    return Err(bad("more than one root element"));
                }
                let mut el = element(ns, e, before)?;
                if matches!(event, Event::Start(_)) {
                    stack.push(el);
                } else {
                    el.span.1 = after;
                    done = Some(el);
                }
            }
            Event::End(_) => {
                let mut el = stack.pop().ok_or_else(|| bad("malformed XML"))?;
                el.span.1 = after;
                el.text = el.text.trim().to_owned();
                done = Some(el);
            }
            Event::Text(ref t) => {
                let s = t.xml10_content().map_err(|_| bad("malformed text"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(ref t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(t.as_ref()));
                }
            }
            Event::GeneralRef(ref r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode().ok().and_then(|name| {
                        quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
                    })
                };
                let s = resolved.ok_or_else(|| bad("unknown XML entity"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if let Some(el) = done {
            match stack.last_mut() {
                Some(parent) => parent.children.push(el),
                None => root = Some(el),
            }
        }
    }
    match root {
        Some(r) if stack.is_empty() => Ok(r),
        _ => Err(bad("malformed XML")),
    }
}

/// `element` (a node of the tree read from `xml`) as a document of its own, with the
/// namespace declarations of `ancestors` (outermost first) that it does not make itself
/// written on it. Exclusive canonicalization, which SAML signatures use, renders the
/// same bytes either way.
pub fn extract(xml: &str, element: &Element, ancestors: &[&Element]) -> Result<String, SamlError> {
    let text = xml
        .get(element.span.0..element.span.1)
        .ok_or_else(|| bad("malformed XML"))?;
    let mut missing: Vec<&Decl> = Vec::new();
    for decl in ancestors.iter().rev().flat_map(|a| a.decls.iter()) {
        if !element
            .decls
            .iter()
            .chain(missing.iter().copied())
            .any(|(p, _)| *p == decl.0)
        {
            missing.push(decl);
        }
    }
    let name_end = text
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .ok_or_else(|| bad("malformed XML"))?;
    let (head, tail) = text.split_at(name_end);
    let mut out = String::with_capacity(text.len() + 128);
    out.push_str(head);
    for (prefix, uri) in missing {
        let uri = quick_xml::escape::escape(uri.as_str());
        match prefix {
            Some(p) => out.push_str(&format!(" xmlns:{p}=\"{uri}\"")),
            None => out.push_str(&format!(" xmlns=\"{uri}\"")),
        }
    }
    out.push_str(tail);
    Ok(out)
}

/// Escapes text and attribute values we write (`&`, `<`, `>`, `"`, `'`).
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}
