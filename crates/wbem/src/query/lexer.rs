//! Splits query text into tokens, each with the 1-based column (counted in
//! characters) where it starts, so that errors can point into the text.

use super::ast::CmpOp;
use super::QueryError;

/// One lexical element of a query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A name or a keyword; keywords are told apart by the parser.
    Ident(String),
    /// A quoted string with its escapes resolved.
    Str(String),
    Int(i128),
    Real(f64),
    Star,
    Comma,
    Dot,
    LParen,
    RParen,
    Cmp(CmpOp),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(_) => "a string".into(),
            Tok::Int(_) | Tok::Real(_) => "a number".into(),
            Tok::Star => "`*`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Cmp(op) => format!("`{}`", op.as_str()),
            Tok::Eof => "end of query".into(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
}

fn syntax(col: usize, message: impl Into<String>) -> QueryError {
    QueryError::Syntax {
        column: col,
        message: message.into(),
    }
}

/// Tokenizes `text`; the result always ends with `Eof`.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '*' => Some(Tok::Star),
            ',' => Some(Tok::Comma),
            '.' => Some(Tok::Dot),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '=' => Some(Tok::Cmp(CmpOp::Eq)),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token { tok, col });
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('<', Some('>')) | ('!', Some('=')) => (Tok::Cmp(CmpOp::Ne), 2),
            ('<', Some('=')) => (Tok::Cmp(CmpOp::Le), 2),
            ('>', Some('=')) => (Tok::Cmp(CmpOp::Ge), 2),
            ('<', _) => (Tok::Cmp(CmpOp::Lt), 1),
            ('>', _) => (Tok::Cmp(CmpOp::Gt), 1),
            ('\'' | '"', _) => string(&chars, i)?,
            ('-', _) | ('0'..='9', _) => number(&chars, i)?,
            (c, _) if c.is_alphabetic() || c == '_' => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| !(c.is_alphanumeric() || c == '_'))
                    .map_or(chars.len(), |p| i + p);
                (Tok::Ident(chars[i..end].iter().collect()), end - i)
            }
            (c, _) => return Err(syntax(col, format!("unexpected character `{c}`"))),
        };
        out.push(Token { tok, col });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        col: chars.len() + 1,
    });
    Ok(out)
}

/// A quoted string starting at `start`. Both quote characters are accepted
/// (WQL clients use either); inside, backslash escapes as in MOF and a
/// doubled quote character as in SQL.
fn string(chars: &[char], start: usize) -> Result<(Tok, usize), QueryError> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(syntax(start + 1, "unterminated string"));
        };
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err(syntax(start + 1, "unterminated string"));
                };
                i += 2;
                out.push(match e {
                    '\\' | '\'' | '"' => e,
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'x' | 'X' => {
                        let digits: String = chars[i..]
                            .iter()
                            .take(4)
                            .take_while(|c| c.is_ascii_hexdigit())
                            .collect();
                        let decoded = u32::from_str_radix(&digits, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                syntax(i - 1, "`\\x` needs 1 to 4 hex digits of a character")
                            })?;
                        i += digits.len();
                        decoded
                    }
                    other => return Err(syntax(i - 1, format!("unknown escape `\\{other}`"))),
                });
            }
            c if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    out.push(quote);
                    i += 2;
                } else {
                    return Ok((Tok::Str(out), i + 1 - start));
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// The smallest and largest integer literal: whatever a sint64 or uint64
/// property could hold.
const INT_MIN: i128 = i64::MIN as i128;
const INT_MAX: i128 = u64::MAX as i128;

/// A decimal or `0x` hexadecimal integer, or a real with a fraction and/or
/// exponent, optionally negative.
fn number(chars: &[char], start: usize) -> Result<(Tok, usize), QueryError> {
    let col = start + 1;
    let mut i = start;
    let negative = chars[i] == '-';
    if negative {
        i += 1;
    }
    let digits_from = |from: usize| {
        chars[from..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(chars.len(), |p| from + p)
    };
    if !chars.get(i).is_some_and(char::is_ascii_digit) {
        return Err(syntax(col, "expected a digit after `-`"));
    }
    let hex = chars[i] == '0' && matches!(chars.get(i + 1), Some('x' | 'X'));
    let (tok, end) = if hex {
        let from = i + 2;
        let end = chars[from..]
            .iter()
            .position(|c| !c.is_ascii_hexdigit())
            .map_or(chars.len(), |p| from + p);
        let text: String = chars[from..end].iter().collect();
        let v = parse_int(&text, 16, negative, col)?;
        (Tok::Int(v), end)
    } else {
        let int_end = digits_from(i);
        let mut end = int_end;
        let mut real = false;
        if chars.get(end) == Some(&'.') {
            let frac_end = digits_from(end + 1);
            if frac_end == end + 1 {
                return Err(syntax(end + 1, "expected a digit after `.`"));
            }
            end = frac_end;
            real = true;
        }
        if matches!(chars.get(end), Some('e' | 'E')) {
            let mut exp = end + 1;
            if matches!(chars.get(exp), Some('+' | '-')) {
                exp += 1;
            }
            let exp_end = digits_from(exp);
            if exp_end == exp {
                return Err(syntax(exp + 1, "expected a digit in the exponent"));
            }
            end = exp_end;
            real = true;
        }
        let text: String = chars[start..end].iter().collect();
        if real {
            let v: f64 = text
                .parse()
                .map_err(|_| syntax(col, "malformed real number"))?;
            if !v.is_finite() {
                return Err(syntax(col, "real number out of range"));
            }
            (Tok::Real(v), end)
        } else {
            let digits: String = chars[i..int_end].iter().collect();
            (Tok::Int(parse_int(&digits, 10, negative, col)?), end)
        }
    };
    // `12abc` is a typo, not the number 12 followed by a name.
    if chars
        .get(end)
        .is_some_and(|&c| c.is_alphanumeric() || c == '_')
    {
        return Err(syntax(end + 1, "unexpected character after number"));
    }
    Ok((tok, end - start))
}

fn parse_int(digits: &str, radix: u32, negative: bool, col: usize) -> Result<i128, QueryError> {
    if digits.is_empty() {
        return Err(syntax(col, "expected hex digits after `0x`"));
    }
    let v = i128::from_str_radix(digits, radix)
        .ok()
        .map(|v| if negative { -v } else { v })
        .filter(|v| (INT_MIN..=INT_MAX).contains(v))
        .ok_or_else(|| syntax(col, "integer out of range"))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn numbers_of_every_form() {
        assert_eq!(toks("-42")[0], Tok::Int(-42));
        assert_eq!(toks("0x1F")[0], Tok::Int(31));
        assert_eq!(toks("1.5e3")[0], Tok::Real(1500.0));
        assert_eq!(toks("2E-1")[0], Tok::Real(0.2));
        assert_eq!(toks("18446744073709551615")[0], Tok::Int(u64::MAX as i128));
        assert!(tokenize("18446744073709551616").is_err());
        assert!(tokenize("1.").is_err());
        assert!(tokenize("1e").is_err());
        assert!(tokenize("- 1").is_err());
        assert!(tokenize("12abc").is_err());
        assert!(tokenize("1e999").is_err());
    }

    #[test]
    fn strings_resolve_escapes() {
        assert_eq!(toks(r#"'it\'s'"#)[0], Tok::Str("it's".into()));
        assert_eq!(toks("'it''s'")[0], Tok::Str("it's".into()));
        assert_eq!(toks(r#""a\"b\\c""#)[0], Tok::Str("a\"b\\c".into()));
        assert_eq!(toks(r"'\x41\n'")[0], Tok::Str("A\n".into()));
        assert!(tokenize(r"'\q'").is_err());
        assert!(tokenize(r"'\xD800'").is_err());
    }

    #[test]
    fn columns_count_characters() {
        let t = tokenize("é <> 'x'").expect("tokenizes");
        assert_eq!(
            t.iter().map(|t| t.col).collect::<Vec<_>>(),
            vec![1, 3, 6, 9]
        );
        assert_eq!(t[1].tok, Tok::Cmp(CmpOp::Ne));
        match tokenize("a = 'open") {
            Err(QueryError::Syntax { column, .. }) => assert_eq!(column, 5),
            other => panic!("{other:?}"),
        }
    }
}
