//! A pull reader over quick-xml that hands out whole start tags and text,
//! skips comments and processing instructions, refuses DTDs and enforces
//! [`DecodeLimits`]. The element decoders drive it recursively: every tag
//! returned by [`XmlReader::next_child`] must be consumed with
//! `next_child` until `None`, [`XmlReader::text`] or [`XmlReader::skip`].

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{DecodeError, DecodeErrorKind, DecodeLimits, Result};

/// A start tag with its attributes unescaped.
#[derive(Debug)]
pub(crate) struct Tag {
    pub name: String,
    attrs: Vec<(String, String)>,
    /// True for `<X/>`: there is no content and no end event to read.
    pub empty: bool,
    pub pos: u64,
}

impl Tag {
    /// The value of attribute `name` (exact spelling, as XML wants).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of attribute `name`, matched without regard to case, for
    /// the attributes clients spell both ways (`EmbeddedObject`).
    pub fn attr_nocase(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a required attribute.
    pub fn req_attr(&self, name: &str) -> Result<&str> {
        self.attr(name).ok_or_else(|| {
            DecodeError::invalid(
                format!("<{}> lacks the {name} attribute", self.name),
                self.pos,
            )
        })
    }

    /// A `NotValid` error about this element.
    pub fn invalid(&self, msg: impl Into<String>) -> DecodeError {
        DecodeError::invalid(format!("<{}>: {}", self.name, msg.into()), self.pos)
    }

    /// An error for a child element that does not belong here.
    pub fn unexpected(&self, child: &Tag) -> DecodeError {
        DecodeError::invalid(
            format!("<{}> is not allowed in <{}>", child.name, self.name),
            child.pos,
        )
    }

    /// A boolean attribute (`TRUE`/`FALSE` in any case), `default` when absent.
    pub fn bool_attr(&self, name: &str, default: bool) -> Result<bool> {
        match self.attr(name) {
            None => Ok(default),
            Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.invalid(format!("{name}=\"{v}\" is not a boolean"))),
        }
    }
}

/// The streaming reader with its limit counters.
pub(crate) struct XmlReader<'a> {
    reader: Reader<&'a [u8]>,
    pub limits: &'a DecodeLimits,
    depth: usize,
    /// Elements seen so far, embedded documents included.
    pub elements: usize,
    /// Position of the error reported for embedded documents, which have
    /// offsets of their own.
    base_pos: u64,
}

fn not_well_formed(e: impl std::fmt::Display, pos: u64) -> DecodeError {
    DecodeError::new(DecodeErrorKind::NotWellFormed, e.to_string(), pos)
}

/// XML 1.0 (§2.2) allows no C0 control but tab, newline and carriage
/// return, nor U+FFFE/U+FFFF, not even as character references; quick-xml
/// does not check. Accepting them would lose data: the encoder cannot
/// write them back.
fn check_chars(s: &str, pos: u64) -> Result<()> {
    let bad = |c: char| {
        ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
            || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    match s.chars().find(|&c| bad(c)) {
        Some(c) => Err(not_well_formed(
            format!("character U+{:04X} is not allowed in XML", c as u32),
            pos,
        )),
        None => Ok(()),
    }
}

impl<'a> XmlReader<'a> {
    /// A reader over `text`, starting at nesting `depth` with `elements`
    /// already counted (non-zero for embedded objects).
    pub fn new(text: &'a str, limits: &'a DecodeLimits, depth: usize, elements: usize) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text_start = false;
        config.trim_text_end = false;
        XmlReader {
            reader,
            limits,
            depth,
            elements,
            base_pos: 0,
        }
    }

    /// Checks size and encoding, then builds the reader for a document.
    pub fn for_document(xml: &'a [u8], limits: &'a DecodeLimits) -> Result<XmlReader<'a>> {
        if xml.len() > limits.max_input_bytes {
            return Err(DecodeError::new(
                DecodeErrorKind::LimitExceeded,
                format!(
                    "document of {} bytes exceeds {}",
                    xml.len(),
                    limits.max_input_bytes
                ),
                0,
            ));
        }
        let xml = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
        let text = std::str::from_utf8(xml)
            .map_err(|e| DecodeError::invalid("document is not UTF-8", e.valid_up_to() as u64))?;
        Ok(XmlReader::new(text, limits, 0, 0))
    }

    /// The current byte offset.
    pub fn pos(&self) -> u64 {
        self.base_pos + self.reader.buffer_position()
    }

    /// Nesting depth of the element last returned.
    pub fn depth(&self) -> usize {
        self.depth
    }

    fn limit(&self, msg: String) -> DecodeError {
        DecodeError::new(DecodeErrorKind::LimitExceeded, msg, self.pos())
    }

    fn event(&mut self) -> Result<Event<'a>> {
        let pos = self.pos();
        self.reader
            .read_event()
            .map_err(|e| not_well_formed(e, pos.max(self.base_pos + self.reader.error_position())))
    }

    fn tag(&mut self, start: &BytesStart<'a>, empty: bool) -> Result<Tag> {
        let pos = self.pos();
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.limit(format!("more than {} elements", self.limits.max_elements)));
        }
        if self.depth + 1 > self.limits.max_depth {
            return Err(self.limit(format!("nesting deeper than {}", self.limits.max_depth)));
        }
        if !empty {
            self.depth += 1;
        }
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        for a in start.attributes() {
            let a = a.map_err(|e| not_well_formed(e, pos))?;
            if a.value.len() > self.limits.max_attribute_bytes {
                return Err(self.limit(format!(
                    "attribute longer than {} bytes",
                    self.limits.max_attribute_bytes
                )));
            }
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a.unescape_value().map_err(|e| not_well_formed(e, pos))?;
            check_chars(&value, pos)?;
            attrs.push((key, value.into_owned()));
        }
        Ok(Tag {
            name,
            attrs,
            empty,
            pos,
        })
    }

    /// Reads the prolog and returns the root element. A DOCTYPE with an
    /// internal subset is refused (that is where entity bombs live); one
    /// with only an external id is skipped without fetching anything.
    pub fn root(&mut self) -> Result<Tag> {
        loop {
            match self.event()? {
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::DocType(d) => {
                    if d.contains(&b'[') {
                        return Err(DecodeError::invalid(
                            "a DTD internal subset is not accepted",
                            self.pos(),
                        ));
                    }
                }
                Event::Start(s) => return self.tag(&s, false),
                Event::Empty(s) => return self.tag(&s, true),
                Event::Eof => {
                    return Err(not_well_formed("document has no root element", self.pos()))
                }
                _ => {
                    return Err(not_well_formed(
                        "content before the root element",
                        self.pos(),
                    ))
                }
            }
        }
    }

    /// After the root element: only whitespace, comments and PIs may follow.
    pub fn finish(&mut self) -> Result<()> {
        loop {
            match self.event()? {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                _ => {
                    return Err(not_well_formed(
                        "content after the root element",
                        self.pos(),
                    ))
                }
            }
        }
    }

    /// The next child element of `parent`, or `None` at its end tag.
    /// Non-blank text in element-only content is invalid.
    pub fn next_child(&mut self, parent: &Tag) -> Result<Option<Tag>> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            match self.event()? {
                Event::Start(s) => return self.tag(&s, false).map(Some),
                Event::Empty(s) => return self.tag(&s, true).map(Some),
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(None);
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::Text(_) | Event::CData(_) => {
                    return Err(parent.invalid("text is not allowed here"))
                }
                Event::Eof => {
                    return Err(not_well_formed(
                        format!("document ends inside <{}>", parent.name),
                        self.pos(),
                    ))
                }
                Event::Decl(_) | Event::DocType(_) => {
                    return Err(not_well_formed("declaration inside an element", self.pos()))
                }
            }
        }
    }

    /// The text content of `tag` (entities and character references
    /// resolved, CDATA kept verbatim); child elements are invalid.
    pub fn text(&mut self, tag: &Tag) -> Result<String> {
        let mut out = String::new();
        if tag.empty {
            return Ok(out);
        }
        loop {
            let pos = self.pos();
            match self.event()? {
                Event::Text(t) => {
                    let s = t.unescape().map_err(|e| not_well_formed(e, pos))?;
                    check_chars(&s, pos)?;
                    out.push_str(&s);
                }
                Event::CData(c) => {
                    let s = c.decode().map_err(|e| not_well_formed(e, pos))?;
                    check_chars(&s, pos)?;
                    out.push_str(&s);
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(out);
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Start(_) | Event::Empty(_) => {
                    return Err(tag.invalid("an element is not allowed in text content"))
                }
                Event::Eof => {
                    return Err(not_well_formed(
                        format!("document ends inside <{}>", tag.name),
                        pos,
                    ))
                }
                Event::Decl(_) | Event::DocType(_) => {
                    return Err(not_well_formed("declaration inside an element", pos))
                }
            }
            if out.len() > self.limits.max_text_bytes {
                return Err(self.limit(format!(
                    "text longer than {} bytes",
                    self.limits.max_text_bytes
                )));
            }
        }
    }

    /// Consumes `tag` and everything inside it (elements a decoder
    /// tolerates but does not use). Iterative, so depth costs no stack.
    pub fn skip(&mut self, tag: &Tag) -> Result<()> {
        if tag.empty {
            return Ok(());
        }
        let mut open = 1usize;
        while open > 0 {
            match self.event()? {
                Event::Start(s) => {
                    self.tag(&s, false)?;
                    open += 1;
                }
                Event::Empty(s) => {
                    self.tag(&s, true)?;
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    open -= 1;
                }
                Event::Eof => {
                    return Err(not_well_formed(
                        format!("document ends inside <{}>", tag.name),
                        self.pos(),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks that `tag` has no children (its content is ignored when blank).
    pub fn expect_empty(&mut self, tag: &Tag) -> Result<()> {
        match self.next_child(tag)? {
            None => Ok(()),
            Some(child) => Err(tag.unexpected(&child)),
        }
    }
}
