//! MOF tokens (DSP0004 ANNEX A lexical rules): identifiers, numbers in
//! every radix, reals, strings and char16 literals with escapes, aliases,
//! punctuation; comments are skipped.

use std::fmt;

use super::MofError;

/// One token kind.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword (keywords are matched case-insensitively by
    /// the parser, since DSP0004 keywords are case-insensitive).
    Ident(String),
    /// An unsigned integer literal (the sign is a separate `-`/`+` token).
    Int(i128),
    /// An unsigned real literal.
    Real(f64),
    /// One string literal (adjacent ones are joined by the parser).
    Str(String),
    /// A char16 literal `'c'`.
    Char(char),
    /// `$name`.
    Alias(String),
    /// One of `{ } ( ) [ ] ; , : = # + -`.
    Punct(char),
    Eof,
}

/// A token and where it starts (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Tok {
    /// How an error message names the token it found.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(n) => write!(f, "number `{n}`"),
            Tok::Real(r) => write!(f, "number `{r}`"),
            Tok::Str(s) => {
                let short: String = s.chars().take(20).collect();
                let more = if s.chars().count() > 20 { "..." } else { "" };
                write!(f, "string \"{short}{more}\"")
            }
            Tok::Char(c) => write!(f, "char16 `{c:?}`"),
            Tok::Alias(a) => write!(f, "alias `${a}`"),
            Tok::Punct(c) => write!(f, "`{c}`"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

/// Largest MOF text one file may have; keeps fuzz input and mistakes
/// (a binary file included by accident) from exhausting memory.
pub(crate) const MAX_INPUT: usize = 32 * 1024 * 1024;

struct Lexer<'a> {
    file: &'a str,
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    col: u32,
}

/// Splits `text` into tokens, ending with `Eof`.
pub(crate) fn tokenize(file: &str, text: &str) -> Result<Vec<Token>, MofError> {
    if text.len() > MAX_INPUT {
        return Err(MofError::new(
            file,
            1,
            1,
            format!("file is larger than {MAX_INPUT} bytes"),
        ));
    }
    let mut lx = Lexer {
        file,
        chars: text.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, line: u32, col: u32, msg: impl Into<String>) -> MofError {
        MofError::new(self.file, line, col, msg)
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), MofError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('/') => {
                    let (line, col) = (self.line, self.col);
                    let mut ahead = self.chars.clone();
                    ahead.next();
                    match ahead.next() {
                        Some('/') => {
                            while let Some(c) = self.bump() {
                                if c == '\n' {
                                    break;
                                }
                            }
                        }
                        Some('*') => {
                            self.bump();
                            self.bump();
                            let mut star = false;
                            loop {
                                match self.bump() {
                                    None => {
                                        return Err(self.err(
                                            line,
                                            col,
                                            "unterminated `/*` comment",
                                        ))
                                    }
                                    Some('/') if star => break,
                                    Some(c) => star = c == '*',
                                }
                            }
                        }
                        _ => return Ok(()),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, MofError> {
        self.skip_trivia()?;
        let (line, col) = (self.line, self.col);
        let tok = match self.peek() {
            None => Tok::Eof,
            Some(c) if is_ident_start(c) => {
                let mut s = String::new();
                while let Some(c) = self.peek().filter(|&c| is_ident_char(c)) {
                    s.push(c);
                    self.bump();
                }
                Tok::Ident(s)
            }
            Some(c) if c.is_ascii_digit() => self.number(line, col)?,
            Some('.') => {
                let mut ahead = self.chars.clone();
                ahead.next();
                if ahead.next().is_some_and(|c| c.is_ascii_digit()) {
                    self.number(line, col)?
                } else {
                    self.bump();
                    Tok::Punct('.')
                }
            }
            Some('"') => {
                self.bump();
                Tok::Str(self.string_body(line, col)?)
            }
            Some('\'') => {
                self.bump();
                self.char_literal(line, col)?
            }
            Some('$') => {
                self.bump();
                let mut s = String::new();
                while let Some(c) = self.peek().filter(|&c| is_ident_char(c)) {
                    s.push(c);
                    self.bump();
                }
                if s.is_empty() {
                    return Err(self.err(line, col, "expected an alias name after `$`"));
                }
                Tok::Alias(s)
            }
            Some(c) if "{}()[];,:=#+-".contains(c) => {
                self.bump();
                Tok::Punct(c)
            }
            Some(c) => return Err(self.err(line, col, format!("unexpected character {c:?}"))),
        };
        Ok(Token { tok, line, col })
    }

    /// A number: the longest run of characters that can belong to one, then
    /// decided as real (has `.` or an exponent) or integer (any radix).
    fn number(&mut self, line: u32, col: u32) -> Result<Tok, MofError> {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            let exp_sign =
                (c == '+' || c == '-') && s.ends_with(['e', 'E']) && !s.starts_with("0x");
            if c.is_ascii_alphanumeric() || c == '.' || exp_sign {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let lower = s.to_ascii_lowercase();
        let is_hex = lower.starts_with("0x");
        if !is_hex && (s.contains('.') || lower.contains('e')) {
            return s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Tok::Real)
                .ok_or_else(|| self.err(line, col, format!("`{s}` is not a valid real number")));
        }
        crate::value::parse_integer(&s)
            .map(Tok::Int)
            .ok_or_else(|| self.err(line, col, format!("`{s}` is not a valid integer")))
    }

    fn string_body(&mut self, line: u32, col: u32) -> Result<String, MofError> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(self.err(line, col, "unterminated string")),
                Some('"') => return Ok(s),
                Some('\\') => s.push(self.escape()?),
                Some(c) => s.push(c),
            }
        }
    }

    fn char_literal(&mut self, line: u32, col: u32) -> Result<Tok, MofError> {
        let c = match self.bump() {
            None | Some('\n') | Some('\'') => {
                return Err(self.err(line, col, "empty or unterminated char16 literal"))
            }
            Some('\\') => self.escape()?,
            Some(c) => c,
        };
        if self.bump() != Some('\'') {
            return Err(self.err(line, col, "expected `'` to end the char16 literal"));
        }
        Ok(Tok::Char(c))
    }

    /// The character after a backslash: `\b \t \n \f \r \" \' \\` and
    /// `\x`/`\X` with one to four hex digits (DSP0004 escapeSequence).
    fn escape(&mut self) -> Result<char, MofError> {
        let (line, col) = (self.line, self.col.saturating_sub(1));
        let c = self
            .bump()
            .ok_or_else(|| self.err(line, col, "unterminated escape sequence"))?;
        Ok(match c {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            '"' => '"',
            '\'' => '\'',
            '\\' => '\\',
            'x' | 'X' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 4 {
                    match self.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            n += 1;
                            self.bump();
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return Err(self.err(line, col, "expected hex digits after `\\x`"));
                }
                char::from_u32(v)
                    .ok_or_else(|| self.err(line, col, format!("`\\x{v:x}` is not a character")))?
            }
            other => {
                return Err(self.err(line, col, format!("unknown escape sequence `\\{other}`")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize("t.mof", s)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn identifiers_punctuation_and_comments() {
        assert_eq!(
            toks("class /* x\n */ A_1 : B { // c\n };"),
            vec![
                Tok::Ident("class".into()),
                Tok::Ident("A_1".into()),
                Tok::Punct(':'),
                Tok::Ident("B".into()),
                Tok::Punct('{'),
                Tok::Punct('}'),
                Tok::Punct(';'),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers_in_every_radix_and_reals() {
        assert_eq!(
            toks("42 0x1F 101b 017 0 1.5 .25 2e3 1.0E-2"),
            vec![
                Tok::Int(42),
                Tok::Int(31),
                Tok::Int(5),
                Tok::Int(15),
                Tok::Int(0),
                Tok::Real(1.5),
                Tok::Real(0.25),
                Tok::Real(2000.0),
                Tok::Real(0.01),
                Tok::Eof
            ]
        );
        assert_eq!(toks("-3")[..2], [Tok::Punct('-'), Tok::Int(3)]);
        assert!(tokenize("t", "12ab").is_err());
        assert!(tokenize("t", "1.2.3").is_err());
    }

    #[test]
    fn strings_chars_and_escapes() {
        assert_eq!(
            toks(r#""a\n\t\"\\\x41\X263a" 'c' '\n' '\x41'"#),
            vec![
                Tok::Str("a\n\t\"\\A\u{263a}".into()),
                Tok::Char('c'),
                Tok::Char('\n'),
                Tok::Char('A'),
                Tok::Eof
            ]
        );
        assert_eq!(toks("$Alias1")[0], Tok::Alias("Alias1".into()));
    }

    #[test]
    fn errors_have_positions() {
        let e = tokenize("f.mof", "class\n  \"abc").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("unterminated string"));
        let e = tokenize("f.mof", "a /* b").unwrap_err();
        assert_eq!((e.line, e.column), (1, 3));
        let e = tokenize("f.mof", "\"\\q\"").unwrap_err();
        assert!(e.message.contains("\\q"), "{e}");
        assert!(tokenize("f", "@").is_err());
        assert!(tokenize("f", "''").is_err());
        assert!(tokenize("f", "'ab'").is_err());
        assert!(tokenize("f", "$").is_err());
    }
}
