//! Streaming reader of one AAF XML file: bytes in, one `Record` at a time out, never the
//! whole file in memory. It checks the `ficAlimMENESR` layout, reads the header comments
//! (académie code), decodes UTF-8 or ISO-8859-15 as declared, refuses internal DTD subsets
//! and unknown entities (no XXE, no billion laughs: nothing is ever expanded or fetched),
//! and bounds the size of one record and of one value.

use std::io::{BufReader, Read};

use indicatif::ProgressBar;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::error::ImportError;
use super::lines::LineCounter;

/// Largest accepted record (`addRequest`...`</addRequest>`), in bytes of XML.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;
/// Largest accepted value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Modify,
    Delete,
}

/// One request of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub op: Op,
    /// `categoriePersonne`, `categorieStructure`... and its value.
    pub category_attr: String,
    pub category: String,
    pub id: String,
    /// Attributes (add) or replace modifications (modify), in file order.
    pub attrs: Vec<(String, Vec<String>)>,
    /// Line of the opening tag.
    pub line: u64,
}

/// Where the parser is inside a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    OpAttrs,
    OpAttr,
    Identifier,
    Id,
    Attributes,
    Attr,
    Modifications,
    Modification,
    Value,
}

type XmlReader<'r> = Reader<BufReader<LineCounter<&'r mut dyn Read>>>;

pub struct RecordReader<'r> {
    reader: XmlReader<'r>,
    buf: Vec<u8>,
    file: String,
    academie: Option<String>,
    /// A request start seen while reading the header, with its line and offset.
    peeked: Option<(Op, u64, u64)>,
    done: bool,
}

fn op_of(name: &[u8]) -> Option<Op> {
    match name {
        b"addRequest" => Some(Op::Add),
        b"modifyRequest" => Some(Op::Modify),
        b"deleteRequest" => Some(Op::Delete),
        _ => None,
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Add => "addRequest",
        Op::Modify => "modifyRequest",
        Op::Delete => "deleteRequest",
    }
}

impl<'r> RecordReader<'r> {
    /// Reads the prolog and the header comments, up to the first request.
    pub fn open(
        input: &'r mut dyn Read,
        file: &str,
        progress: Option<ProgressBar>,
    ) -> Result<Self, ImportError> {
        let counter = LineCounter::new(input, progress);
        let mut reader = Reader::from_reader(BufReader::with_capacity(64 * 1024, counter));
        let config = reader.config_mut();
        config.expand_empty_elements = false;
        config.check_end_names = true;
        let mut this = Self {
            reader,
            buf: Vec::with_capacity(4096),
            file: file.to_owned(),
            academie: None,
            peeked: None,
            done: false,
        };
        this.read_prolog()?;
        Ok(this)
    }

    /// The académie code of the `<!-- codeAcademieExport="NN" -->` header comment.
    pub fn academie(&self) -> Option<&str> {
        self.academie.as_deref()
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.get_ref().get_ref().bytes_read()
    }

    fn line_at(&mut self, offset: u64) -> u64 {
        self.reader.get_mut().get_mut().line_at(offset)
    }

    fn error(&mut self, offset: u64, reason: impl Into<String>) -> ImportError {
        let line = self.line_at(offset);
        ImportError::invalid(&self.file, line, reason)
    }

    fn xml_error(&mut self, e: quick_xml::Error) -> ImportError {
        let pos = self.reader.error_position();
        self.error(pos, format!("malformed XML: {e}"))
    }

    fn read_prolog(&mut self) -> Result<(), ImportError> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut in_root = false;
        loop {
            buf.clear();
            let start = self.reader.buffer_position();
            let event = match self.reader.read_event_into(&mut buf) {
                Ok(e) => e,
                Err(e) => return Err(self.xml_error(e)),
            };
            match event {
                Event::Decl(_) | Event::PI(_) => {}
                Event::DocType(d) => {
                    if d.contains(&b'[') {
                        return Err(self.error(
                            start,
                            "internal DTD subset refused (entity declarations are not allowed)",
                        ));
                    }
                }
                Event::Comment(c) => {
                    if let Some(code) = header_academie(&c) {
                        self.academie = Some(code);
                    }
                }
                Event::Text(t) => {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        return Err(self.error(start, "text outside of any element"));
                    }
                }
                Event::Start(e) if !in_root => {
                    if e.name().as_ref() != b"ficAlimMENESR" {
                        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                        return Err(self.error(
                            start,
                            format!("root element is <{name}>, expected <ficAlimMENESR>"),
                        ));
                    }
                    in_root = true;
                }
                Event::Empty(e) if !in_root => {
                    if e.name().as_ref() != b"ficAlimMENESR" {
                        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                        return Err(self.error(
                            start,
                            format!("root element is <{name}>, expected <ficAlimMENESR>"),
                        ));
                    }
                    self.done = true;
                    break;
                }
                Event::Start(e) => {
                    let Some(op) = op_of(e.name().as_ref()) else {
                        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                        return Err(self.error(start, format!("unexpected element <{name}>")));
                    };
                    let line = self.line_at(start + 1);
                    self.peeked = Some((op, line, start));
                    break;
                }
                Event::End(_) => {
                    // The root closed before any request: an empty file.
                    self.done = true;
                    break;
                }
                Event::Eof => {
                    let pos = self.reader.buffer_position();
                    return Err(if in_root {
                        self.error(pos, "unexpected end of file: <ficAlimMENESR> is not closed")
                    } else {
                        self.error(pos, "no <ficAlimMENESR> root element")
                    });
                }
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    return Err(self.error(start, format!("unexpected element <{name}/>")));
                }
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.error(start, "text outside of any request"));
                }
            }
        }
        self.buf = buf;
        Ok(())
    }

    /// The next request, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ImportError> {
        if let Some((op, line, start)) = self.peeked.take() {
            return self.read_request(op, line, start).map(Some);
        }
        if self.done {
            return Ok(None);
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            buf.clear();
            let start = self.reader.buffer_position();
            let event = match self.reader.read_event_into(&mut buf) {
                Ok(e) => e,
                Err(e) => break Err(self.xml_error(e)),
            };
            match event {
                Event::Start(e) => match op_of(e.name().as_ref()) {
                    Some(op) => break Ok(Some((op, start))),
                    None => {
                        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                        break Err(self.error(start, format!("unexpected element <{name}>")));
                    }
                },
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    break Err(self.error(start, format!("empty or unexpected element <{name}/>")));
                }
                Event::End(_) => {
                    self.done = true;
                    break self.read_trailer().map(|()| None);
                }
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => {
                    let pos = self.reader.buffer_position();
                    break Err(
                        self.error(pos, "unexpected end of file: <ficAlimMENESR> is not closed")
                    );
                }
                Event::DocType(_) | Event::Decl(_) => {
                    break Err(self.error(start, "declaration inside the document"));
                }
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    break Err(self.error(start, "text outside of any request"));
                }
            }
        };
        self.buf = buf;
        match result? {
            Some((op, start)) => {
                let line = self.line_at(start + 1);
                self.read_request(op, line, start).map(Some)
            }
            None => Ok(None),
        }
    }

    /// After the root: only comments and blanks may follow.
    fn read_trailer(&mut self) -> Result<(), ImportError> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let start = self.reader.buffer_position();
            match self.reader.read_event_into(&mut buf) {
                Err(e) => return Err(self.xml_error(e)),
                Ok(Event::Eof) => return Ok(()),
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
                Ok(_) => return Err(self.error(start, "content after the root element")),
            }
        }
    }

    fn read_request(&mut self, op: Op, line: u64, start: u64) -> Result<Record, ImportError> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.read_request_body(op, line, start, &mut buf);
        self.buf = buf;
        result
    }

    fn read_request_body(
        &mut self,
        op: Op,
        line: u64,
        start: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Record, ImportError> {
        let mut stack: Vec<Elem> = Vec::with_capacity(4);
        let mut record = Record {
            op,
            category_attr: String::new(),
            category: String::new(),
            id: String::new(),
            attrs: Vec::new(),
            line,
        };
        let mut op_attr_name = String::new();
        let mut text = String::new();
        let bad = |this: &mut Self, reason: String| {
            let line = this.line_at(this.reader.buffer_position());
            ImportError::invalid(&this.file, line, reason)
        };
        loop {
            buf.clear();
            let event = match self.reader.read_event_into(buf) {
                Ok(e) => e,
                Err(e) => return Err(self.xml_error(e)),
            };
            if self.reader.buffer_position() - start > MAX_RECORD_BYTES {
                return Err(ImportError::invalid(
                    &self.file,
                    line,
                    format!("record larger than {MAX_RECORD_BYTES} bytes"),
                ));
            }
            let (elem, empty) = match event {
                Event::Start(ref e) => (e, false),
                Event::Empty(ref e) => (e, true),
                Event::End(_) => {
                    match stack.pop() {
                        None => break,
                        Some(Elem::Value) => {
                            let value = std::mem::take(&mut text).trim().to_owned();
                            match stack.last() {
                                Some(Elem::OpAttr) => {
                                    if record.category.is_empty() {
                                        record.category_attr = op_attr_name.clone();
                                        record.category = value;
                                    }
                                }
                                _ => {
                                    if let Some((_, values)) = record.attrs.last_mut() {
                                        values.push(value);
                                    }
                                }
                            }
                        }
                        Some(Elem::Id) => {
                            record.id = std::mem::take(&mut text).trim().to_owned();
                        }
                        Some(_) => {}
                    }
                    continue;
                }
                Event::Text(ref t) => {
                    if matches!(stack.last(), Some(Elem::Value | Elem::Id)) {
                        match t.xml10_content() {
                            Ok(s) => text.push_str(&s),
                            Err(e) => return Err(bad(self, format!("cannot decode text: {e}"))),
                        }
                        if text.len() > MAX_VALUE_BYTES {
                            return Err(bad(
                                self,
                                format!("value larger than {MAX_VALUE_BYTES} bytes"),
                            ));
                        }
                    } else if !t.iter().all(u8::is_ascii_whitespace) {
                        return Err(bad(self, "unexpected text".into()));
                    }
                    continue;
                }
                Event::CData(ref t) => {
                    if !matches!(stack.last(), Some(Elem::Value | Elem::Id)) {
                        return Err(bad(self, "unexpected CDATA".into()));
                    }
                    match t.xml10_content() {
                        Ok(s) => text.push_str(&s),
                        Err(e) => return Err(bad(self, format!("cannot decode text: {e}"))),
                    }
                    if text.len() > MAX_VALUE_BYTES {
                        return Err(bad(
                            self,
                            format!("value larger than {MAX_VALUE_BYTES} bytes"),
                        ));
                    }
                    continue;
                }
                Event::GeneralRef(ref r) => {
                    if !matches!(stack.last(), Some(Elem::Value | Elem::Id)) {
                        return Err(bad(self, "unexpected entity reference".into()));
                    }
                    let name = match r.decode() {
                        Ok(n) => n.into_owned(),
                        Err(e) => return Err(bad(self, format!("cannot decode text: {e}"))),
                    };
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        Ok(None) => match resolve_predefined_entity(&name) {
                            Some(s) => text.push_str(s),
                            None => {
                                return Err(bad(self, format!("undefined entity &{name};")));
                            }
                        },
                        Err(e) => return Err(bad(self, format!("bad character reference: {e}"))),
                    }
                    continue;
                }
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Eof => {
                    return Err(bad(
                        self,
                        format!("unexpected end of file inside <{}>", op_name(op)),
                    ))
                }
                Event::DocType(_) | Event::Decl(_) => {
                    return Err(bad(self, "declaration inside a request".into()));
                }
            };
            let name = elem.name();
            let name = name.as_ref();
            let next = match (stack.last(), name) {
                (None, b"operationalAttributes") => Elem::OpAttrs,
                (None, b"identifier") => Elem::Identifier,
                (None, b"attributes") if op == Op::Add => Elem::Attributes,
                (None, b"modifications") if op == Op::Modify => Elem::Modifications,
                (Some(Elem::OpAttrs), b"attr") => {
                    op_attr_name = self.attribute(elem, b"name")?.unwrap_or_default();
                    Elem::OpAttr
                }
                (Some(Elem::Identifier), b"id") => Elem::Id,
                (Some(Elem::Attributes), b"attr") => {
                    let Some(attr) = self.attribute(elem, b"name")?.filter(|n| !n.is_empty())
                    else {
                        return Err(bad(self, "<attr> without a name".into()));
                    };
                    record.attrs.push((attr, Vec::new()));
                    Elem::Attr
                }
                (Some(Elem::Modifications), b"modification") => {
                    let Some(attr) = self.attribute(elem, b"name")?.filter(|n| !n.is_empty())
                    else {
                        return Err(bad(self, "<modification> without a name".into()));
                    };
                    let operation = self.attribute(elem, b"operation")?.unwrap_or_default();
                    if operation != "replace" {
                        return Err(bad(
                            self,
                            format!(
                                "modification of {attr}: operation `{operation}` is not supported (only `replace`)"
                            ),
                        ));
                    }
                    record.attrs.push((attr, Vec::new()));
                    Elem::Modification
                }
                (Some(Elem::OpAttr | Elem::Attr | Elem::Modification), b"value") => Elem::Value,
                _ => {
                    let name = String::from_utf8_lossy(name).into_owned();
                    return Err(bad(
                        self,
                        format!("unexpected element <{name}> in <{}>", op_name(op)),
                    ));
                }
            };
            if empty {
                // `<value/>` is an empty value; `<attr name="x"/>` an attribute with none.
                match next {
                    Elem::Value => match stack.last() {
                        Some(Elem::OpAttr) => {}
                        _ => {
                            if let Some((_, values)) = record.attrs.last_mut() {
                                values.push(String::new());
                            }
                        }
                    },
                    Elem::Id => record.id.clear(),
                    _ => {}
                }
            } else {
                if next == Elem::Value || next == Elem::Id {
                    text.clear();
                }
                stack.push(next);
            }
        }
        if record.category.is_empty() {
            return Err(ImportError::invalid(
                &self.file,
                line,
                format!("<{}> without an operational category", op_name(op)),
            ));
        }
        if record.id.is_empty() {
            return Err(ImportError::invalid(
                &self.file,
                line,
                format!("<{}> without an identifier", op_name(op)),
            ));
        }
        Ok(record)
    }

    fn attribute(
        &mut self,
        e: &BytesStart<'_>,
        name: &[u8],
    ) -> Result<Option<String>, ImportError> {
        let decoder = self.reader.decoder();
        let found = match e.try_get_attribute(name) {
            Ok(a) => a,
            Err(err) => {
                let pos = self.reader.buffer_position();
                return Err(self.error(pos, format!("bad attribute: {err}")));
            }
        };
        match found {
            None => Ok(None),
            Some(a) => {
                match a.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, decoder) {
                    Ok(v) => Ok(Some(v.into_owned())),
                    Err(err) => {
                        let pos = self.reader.buffer_position();
                        Err(self.error(pos, format!("bad attribute value: {err}")))
                    }
                }
            }
        }
    }
}

/// `codeAcademieExport="02"` in a header comment.
fn header_academie(comment: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(comment).ok()?;
    let rest = text.split_once("codeAcademieExport=\"")?.1;
    let code = rest.split_once('"')?.0.trim();
    (!code.is_empty()).then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(xml: &[u8]) -> Result<(Option<String>, Vec<Record>), ImportError> {
        let mut input: &[u8] = xml;
        let mut r = RecordReader::open(&mut input, "f.xml", None)?;
        let academie = r.academie().map(str::to_owned);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok((academie, out))
    }

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<ficAlimMENESR>\n<!-- codeAcademieExport=\"02\" -->\n";

    #[test]
    fn reads_requests_values_and_lines() {
        let xml = format!(
            "{HEAD}<addRequest>\n<operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\n<identifier><id>5001</id></identifier>\n<attributes>\n<attr name=\"sn\"><value>DUPONT &amp; FILS</value></attr>\n<attr name=\"mail\"><value/></attr>\n<attr name=\"ENTEleveGroupes\"></attr>\n<attr name=\"ENTElevePersRelEleve\"><value>7001$1$1$1$1$0</value><value>7002$2$1$1$1$0</value></attr>\n</attributes>\n</addRequest>\n<deleteRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>5006</id></identifier></deleteRequest>\n</ficAlimMENESR>\n"
        );
        let (academie, recs) = records(xml.as_bytes()).unwrap();
        assert_eq!(academie.as_deref(), Some("02"));
        assert_eq!(recs.len(), 2);
        let r = &recs[0];
        assert_eq!((r.op, r.line, r.id.as_str()), (Op::Add, 5, "5001"));
        assert_eq!(r.category_attr, "categoriePersonne");
        assert_eq!(r.category, "Eleve");
        assert_eq!(r.attrs[0], ("sn".into(), vec!["DUPONT & FILS".to_string()]));
        assert_eq!(r.attrs[1], ("mail".into(), vec![String::new()]));
        assert_eq!(r.attrs[2], ("ENTEleveGroupes".into(), vec![]));
        assert_eq!(r.attrs[3].1.len(), 2);
        assert_eq!((recs[1].op, recs[1].line), (Op::Delete, 15));
    }

    #[test]
    fn decodes_iso_8859_15() {
        let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?>\n<ficAlimMENESR><addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>1</id></identifier><attributes><attr name=\"givenName\"><value>".to_vec();
        // "Zoé Œ€" in ISO-8859-15: é = E9, Œ = BC, € = A4.
        xml.extend_from_slice(b"Zo\xe9 \xbc\xa4");
        xml.extend_from_slice(b"</value></attr></attributes></addRequest></ficAlimMENESR>");
        let (_, recs) = records(&xml).unwrap();
        assert_eq!(recs[0].attrs[0].1, vec!["Zoé Œ€".to_string()]);
    }

    #[test]
    fn refuses_internal_dtd_and_unknown_entities() {
        let xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE ficAlimMENESR [\n<!ENTITY lol \"lol\">\n]>\n<ficAlimMENESR/>";
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("DTD"), "{e}");
        let xml = format!("{HEAD}<addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>&lol;</id></identifier></addRequest></ficAlimMENESR>");
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("undefined entity &lol;"), "{e}");
    }

    #[test]
    fn refuses_bad_layouts() {
        let e = records(b"<root/>").unwrap_err().to_string();
        assert!(e.contains("expected <ficAlimMENESR>"), "{e}");
        let xml = format!("{HEAD}<modifyRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>1</id></identifier><modifications><modification name=\"sn\" operation=\"add\"><value>X</value></modification></modifications></modifyRequest></ficAlimMENESR>");
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("only `replace`"), "{e}");
        let xml = format!("{HEAD}<addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><attributes/></addRequest></ficAlimMENESR>");
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(
            e.contains("line 5") && e.contains("without an identifier"),
            "{e}"
        );
        let xml = format!("{HEAD}<addRequest><identifier><id>1</id></addRequest></ficAlimMENESR>");
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("malformed XML"), "{e}");
    }

    #[test]
    fn bounds_record_size() {
        let value = "x".repeat(MAX_VALUE_BYTES - 10);
        let attrs: String = (0..20)
            .map(|i| format!("<attr name=\"a{i}\"><value>{value}</value></attr>"))
            .collect();
        let xml = format!("{HEAD}<addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>1</id></identifier><attributes>{attrs}</attributes></addRequest></ficAlimMENESR>");
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("line 5") && e.contains("record larger"), "{e}");
    }

    #[test]
    fn bounds_value_size() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let xml = format!("{HEAD}<addRequest><operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes><identifier><id>1</id></identifier><attributes><attr name=\"sn\"><value>{big}</value></attr></attributes></addRequest></ficAlimMENESR>");
        let e = records(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("value larger"), "{e}");
    }
}
