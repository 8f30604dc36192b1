//! Finding the line of a key in a TOML source file.
//!
//! Validation works on the typed model, which carries no positions; when it finds a problem
//! it names the key (`protocol.saml.assertion_consumer_services[1].location`) and this module
//! re-parses the file's text into toml's spanned document to find where that key is. Only
//! done on error, so re-parsing costs nothing in the normal case.

use toml::de::{DeTable, DeValue};

/// 1-based line of byte `offset` in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line of the deepest existing part of `path` (dotted keys, `[n]` for array items), or
/// `None` when the text does not parse. A path whose tail is missing (a required key absent)
/// gives the line of the nearest existing parent, which is where the key should go.
pub fn line_of_path(text: &str, path: &str) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    let mut offset: Option<usize> = None;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for seg in segments(path) {
        match seg {
            Seg::Key(k) => {
                let t = match (table, value) {
                    (Some(t), _) => t,
                    (None, Some(DeValue::Table(t))) => t,
                    _ => break,
                };
                let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref().as_ref() == k) else {
                    break;
                };
                offset = Some(key.span().start);
                table = None;
                value = Some(v.get_ref());
            }
            Seg::Index(i) => {
                let Some(DeValue::Array(items)) = value else {
                    break;
                };
                let Some(item) = items.get(i) else {
                    break;
                };
                offset = Some(item.span().start);
                table = None;
                value = Some(item.get_ref());
            }
        }
    }
    Some(offset.map_or(1, |o| line_of_offset(text, o)))
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "id = \"x\"\n\n[protocol.saml]\nentity_id = \"e\"\n\n[[protocol.saml.assertion_consumer_services]]\nlocation = \"a\"\n\n[[protocol.saml.assertion_consumer_services]]\nbinding = \"http-post\"\nlocation = \"b\"\n\n[[releases]]\nname = \"uid\"\n";

    #[test]
    fn finds_nested_keys_and_array_items() {
        assert_eq!(line_of_path(TEXT, "id"), Some(1));
        assert_eq!(line_of_path(TEXT, "protocol.saml.entity_id"), Some(4));
        assert_eq!(
            line_of_path(
                TEXT,
                "protocol.saml.assertion_consumer_services[1].location"
            ),
            Some(11)
        );
        assert_eq!(line_of_path(TEXT, "releases[0].name"), Some(14));
        // Missing key: the nearest parent.
        let line = line_of_path(TEXT, "protocol.saml.assertion_consumer_services[0].binding");
        assert!(matches!(line, Some(6) | Some(7)), "{line:?}");
    }
}
