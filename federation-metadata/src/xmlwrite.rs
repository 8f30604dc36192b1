//! A thin element writer over quick-xml for the metadata writer: quick-xml escapes every
//! attribute value and text node, so no caller builds markup by hand (except the signature
//! template, whose content is fixed).

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// Writing to memory cannot fail, but quick-xml's API says `io::Result`: carried as this.
#[derive(Debug, thiserror::Error)]
#[error("cannot write XML: {0}")]
pub struct WriteError(#[from] pub std::io::Error);

pub struct XmlOut {
    w: Writer<Vec<u8>>,
}

impl Default for XmlOut {
    fn default() -> Self {
        Self::with_capacity(16 * 1024)
    }
}

impl XmlOut {
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            w: Writer::new_with_indent(Vec::with_capacity(bytes), b' ', 1),
        }
    }

    fn start<'a>(name: &'a str, attrs: &[(&'a str, &'a str)]) -> BytesStart<'a> {
        let mut e = BytesStart::new(name);
        for (k, v) in attrs {
            e.push_attribute((*k, *v));
        }
        e
    }

    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), WriteError> {
        self.w.write_event(Event::Start(Self::start(name, attrs)))?;
        Ok(())
    }

    pub fn close(&mut self, name: &str) -> Result<(), WriteError> {
        self.w.write_event(Event::End(BytesEnd::new(name)))?;
        Ok(())
    }

    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), WriteError> {
        self.w.write_event(Event::Empty(Self::start(name, attrs)))?;
        Ok(())
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        text: &str,
    ) -> Result<(), WriteError> {
        self.w
            .create_element(name)
            .with_attributes(attrs.iter().copied())
            .write_text_content(BytesText::new(text))?;
        Ok(())
    }

    /// Trusted markup written as is (the signature template).
    pub fn raw(&mut self, markup: &str) -> Result<(), WriteError> {
        self.w.write_indent()?;
        self.w.get_mut().extend_from_slice(markup.as_bytes());
        Ok(())
    }

    pub fn finish(self) -> Vec<u8> {
        self.w.into_inner()
    }
}
