//! A tiny read-only element tree over quick-xml, for the XML libvirt hands
//! back (domains, capabilities, pools, snapshots). No DTD, no entity
//! expansion beyond the five predefined ones and character references.

use quick_xml::events::Event;
use quick_xml::Reader;

/// One element: its name (with any prefix, `test:runstate`), attributes,
/// children and the text directly inside it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element called `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a `/`-separated path of child names.
    pub fn path(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |el, step| el.child(step))
    }

    /// The text of the element at `path`, trimmed.
    pub fn text_at(&self, path: &str) -> Option<&str> {
        self.path(path).map(|e| e.text.trim())
    }
}

/// Parses `xml` into its root element.
pub fn parse(xml: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(xml);
    // A stack of open elements; the finished root ends up alone in `done`.
    let mut stack: Vec<Element> = Vec::new();
    let mut done: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(start) => stack.push(open(&start)?),
            Event::Empty(start) => {
                let el = open(&start)?;
                close(&mut stack, &mut done, el)?;
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError("closing tag without opening tag".into()))?;
                close(&mut stack, &mut done, el)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.unescape().map_err(|e| XmlError(e.to_string()))?;
                    check_chars(&s)?;
                    top.text.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    let s = std::str::from_utf8(c.as_ref()).map_err(|e| XmlError(e.to_string()))?;
                    check_chars(s)?;
                    top.text.push_str(s);
                }
            }
            Event::DocType(_) => return Err(XmlError("DOCTYPE is not accepted".into())),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError(format!("unclosed element <{}>", stack[0].name)));
    }
    done.ok_or_else(|| XmlError("no root element".into()))
}

/// An element's byte range in its document, and the element.
pub type Span = (std::ops::Range<usize>, Element);

/// Where the children of the element at `path` (names from the root's
/// children down, e.g. `["devices"]`) lie in `xml`, each with its parsed
/// form, plus where the parent's closing tag starts. Lets callers edit a
/// document libvirt wrote without re-rendering what they do not model.
pub fn child_spans(xml: &str, path: &[&str]) -> Result<(Vec<Span>, Option<usize>), XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut names: Vec<String> = Vec::new();
    let mut spans = Vec::new();
    let mut open_at: Option<usize> = None;
    let mut parent_end = None;
    // The parent is at depth path.len() (the root is depth 0).
    let in_parent = |names: &[String]| {
        names.len() == path.len() + 1
            && names[1..]
                .iter()
                .map(String::as_str)
                .eq(path.iter().copied())
    };
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| XmlError(format!("at byte {}: {e}", reader.error_position())))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(start) => {
                if in_parent(&names) {
                    open_at = Some(before);
                }
                names.push(String::from_utf8_lossy(start.name().as_ref()).into_owned());
            }
            Event::Empty(_) if in_parent(&names) => {
                spans.push((before..after, parse(&xml[before..after])?));
            }
            Event::End(_) => {
                if in_parent(&names) {
                    parent_end = Some(before);
                }
                names.pop();
                if in_parent(&names) {
                    if let Some(start) = open_at.take() {
                        spans.push((start..after, parse(&xml[start..after])?));
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((spans, parent_end))
}

fn open(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|e| XmlError(e.to_string()))?
        .to_string();
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| XmlError(e.to_string()))?;
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|e| XmlError(e.to_string()))?
            .to_string();
        let value = a
            .unescape_value()
            .map_err(|e| XmlError(e.to_string()))?
            .into_owned();
        check_chars(&value)?;
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

/// quick-xml lets through characters XML 1.0 forbids (NUL and most C0
/// controls, raw or as references); read, they could not be written back.
fn check_chars(s: &str) -> Result<(), XmlError> {
    match s.chars().find(|&c| !super::xml::is_xml_char(c)) {
        Some(c) => Err(XmlError(format!(
            "character U+{:04X} is not allowed in XML",
            c as u32
        ))),
        None => Ok(()),
    }
}

fn close(stack: &mut [Element], done: &mut Option<Element>, el: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if done.is_none() => *done = Some(el),
        None => return Err(XmlError("more than one root element".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_characters_xml_forbids() {
        // Found by fuzz/ (libvirt_domain_xml): NULs in <description> were
        // read, and the renderer wrote them back as U+FFFD.
        for doc in [
            "<domain><description>a\0b</description></domain>",
            "<domain><description>a&#1;b</description></domain>",
            "<domain><description><![CDATA[a\u{1f}b]]></description></domain>",
            "<domain><name x='\u{b}'/></domain>",
        ] {
            let e = parse(doc).unwrap_err();
            assert!(e.0.contains("is not allowed in XML"), "{doc:?}: {e}");
        }
        let root = parse("<domain><description>a\tb\nc&#13;</description></domain>").unwrap();
        assert_eq!(root.child("description").unwrap().text, "a\tb\nc\r");
    }

    #[test]
    fn reads_nested_elements_attributes_and_escaped_text() {
        let root =
            parse("<?xml version='1.0'?><a x='1 &amp; 2'><b>t&lt;x</b><c/><b>two</b></a>").unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.attr("x"), Some("1 & 2"));
        assert_eq!(root.text_at("b"), Some("t<x"));
        assert_eq!(root.children_named("b").count(), 2);
        assert!(root.child("c").is_some());
    }

    #[test]
    fn child_spans_locate_devices_for_editing() {
        let xml =
            "<domain><name>x</name><devices><disk a='1'><t/></disk><interface/></devices></domain>";
        let (spans, end) = child_spans(xml, &["devices"]).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(&xml[spans[0].0.clone()], "<disk a='1'><t/></disk>");
        assert_eq!(spans[0].1.attr("a"), Some("1"));
        assert_eq!(&xml[spans[1].0.clone()], "<interface/>");
        assert_eq!(&xml[end.unwrap()..], "</devices></domain>");
        let (none, end) = child_spans("<domain><name>x</name></domain>", &["devices"]).unwrap();
        assert!(none.is_empty() && end.is_none());
    }

    #[test]
    fn refuses_doctype_and_broken_documents() {
        assert!(parse("<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>").is_err());
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
        assert!(parse("").is_err());
        assert!(parse("<a>&unknown;</a>").is_err());
    }
}
