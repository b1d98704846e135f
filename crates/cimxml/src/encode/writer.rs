//! A compact XML writer: no indentation, attributes in the order given,
//! text and attribute values escaped so that any string survives a decode.

/// Builds one XML document or fragment in memory.
pub(crate) struct Writer {
    out: String,
}

/// An attribute list; `None` values are left out.
pub(crate) type Attrs<'a> = &'a [(&'a str, Option<&'a str>)];

impl Writer {
    /// A fragment with no XML declaration (embedded objects).
    pub fn fragment() -> Self {
        Writer { out: String::new() }
    }

    /// A document, starting with the XML declaration DSP0200 shows.
    pub fn document() -> Self {
        Writer {
            out: String::from("<?xml version=\"1.0\" encoding=\"utf-8\" ?>"),
        }
    }

    fn start(&mut self, name: &str, attrs: Attrs) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            if let Some(v) = v {
                self.out.push(' ');
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v, true);
                self.out.push('"');
            }
        }
    }

    /// `<name attrs>`.
    pub fn open(&mut self, name: &str, attrs: Attrs) {
        self.start(name, attrs);
        self.out.push('>');
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &str, attrs: Attrs) {
        self.start(name, attrs);
        self.out.push_str("/>");
    }

    /// `<name attrs>text</name>`.
    pub fn text_element(&mut self, name: &str, attrs: Attrs, text: &str) {
        self.open(name, attrs);
        escape_into(&mut self.out, text, false);
        self.close(name);
    }

    /// The text written so far.
    pub fn into_string(self) -> String {
        self.out
    }
}

/// Escapes markup characters. Carriage returns (and in attributes tabs and
/// newlines) become character references because XML parsers normalise
/// them otherwise. Characters XML 1.0 forbids even as references become
/// U+FFFD: a document a client cannot parse helps nobody.
fn escape_into(out: &mut String, s: &str, attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let mut w = Writer::fragment();
        w.text_element(
            "V",
            &[("A", Some("a\"<&>\n")), ("B", None)],
            "x<&>\"'\r\u{1}",
        );
        assert_eq!(
            w.into_string(),
            "<V A=\"a&quot;&lt;&amp;&gt;&#10;\">x&lt;&amp;&gt;\"'&#13;\u{FFFD}</V>"
        );
    }
}
