//! Recursive-descent parser for the SELECT statement both languages share:
//!
//! ```text
//! query    := SELECT select FROM name [[AS] name] [WHERE or] END
//! select   := '*' | item (',' item)*        item := [name '.'] (name | '*')
//! or       := and (OR and)*                 and  := not (AND not)*
//! not      := NOT not | '(' or ')' | ISA class | operand tail
//! tail     := cmp operand | IS [NOT] NULL | [NOT] LIKE string | ISA class
//! operand  := [name '.'] name | string | number | TRUE | FALSE | NULL
//! class    := name | string
//! ```
//!
//! Keywords are reserved: they cannot name classes, properties or aliases,
//! which keeps every printed query readable back the same way.

use vine_cim::CimName;

use super::ast::{Expr, IsaTarget, Literal, Operand, Selection};
use super::lexer::{tokenize, Tok, Token};
use super::like::LikePattern;
use super::{Query, QueryError, QueryLanguage, MAX_DEPTH, MAX_QUERY_LEN};

const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "IS", "NULL", "LIKE", "ISA", "TRUE",
    "FALSE",
];

/// The WQL system property naming an instance's class.
pub(crate) const CLASS_PROPERTY: &str = "__CLASS";

/// A SELECT-list entry before FROM tells which qualifiers are valid.
struct SelectItem {
    qualifier: Option<(CimName, usize)>,
    /// `None` for `qualifier.*`.
    name: Option<CimName>,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    class_name: CimName,
    alias: Option<CimName>,
}

/// Parses `text` in `language`.
pub(crate) fn parse(language: QueryLanguage, text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong {
            len: text.len(),
            max: MAX_QUERY_LEN,
        });
    }
    let mut p = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        depth: 0,
        class_name: CimName::default(),
        alias: None,
    };
    p.keyword("SELECT")?;
    let items = p.select_list()?;
    p.keyword("FROM")?;
    p.class_name = p.name("a class name")?;
    // The alias may follow AS or stand alone (`FROM CIM_System s`).
    let explicit_alias = p.eat_keyword("AS");
    if explicit_alias || matches!(p.peek(), Tok::Ident(s) if !is_keyword(s)) {
        p.alias = Some(p.name("an alias")?);
    }
    let select = p.resolve_selection(items)?;
    let filter = if p.eat_keyword("WHERE") {
        Some(p.or_expr()?)
    } else {
        None
    };
    if *p.peek() != Tok::Eof {
        let expected = if filter.is_some() {
            "expected AND, OR or end of query"
        } else {
            "expected WHERE or end of query"
        };
        return Err(p.unexpected(expected));
    }
    Ok(Query {
        language,
        class_name: p.class_name,
        alias: p.alias,
        select,
        filter,
    })
}

fn is_keyword(s: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.token().tok
    }

    fn token(&self) -> &Token {
        // The list always ends with Eof and `advance` never passes it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + ahead).min(last)].tok
    }

    fn col(&self) -> usize {
        self.token().col
    }

    fn error_at(&self, col: usize, message: impl Into<String>) -> QueryError {
        QueryError::Syntax {
            column: col,
            message: message.into(),
        }
    }

    /// "expected X, found Y" at the current token.
    fn unexpected(&self, expected: &str) -> QueryError {
        self.error_at(
            self.col(),
            format!("{expected}, found {}", self.peek().describe()),
        )
    }

    fn is_keyword_here(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let here = self.is_keyword_here(kw);
        if here {
            self.pos += 1;
        }
        here
    }

    fn keyword(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {kw}")))
        }
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let here = self.peek() == tok;
        if here {
            self.pos += 1;
        }
        here
    }

    /// A non-keyword identifier.
    fn name(&mut self, what: &str) -> Result<CimName, QueryError> {
        match self.peek() {
            Tok::Ident(s) if !is_keyword(s) => {
                let name = CimName::new(s.clone());
                self.pos += 1;
                Ok(name)
            }
            Tok::Ident(s) => Err(self.error_at(
                self.col(),
                format!("expected {what}, found reserved word `{s}`"),
            )),
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    fn select_list(&mut self) -> Result<Vec<SelectItem>, QueryError> {
        let mut items = Vec::new();
        if self.eat(&Tok::Star) {
            items.push(SelectItem {
                qualifier: None,
                name: None,
            });
            return Ok(items);
        }
        loop {
            let col = self.col();
            let first = self.name("`*` or a property name")?;
            let item = if self.eat(&Tok::Dot) {
                let name = if self.eat(&Tok::Star) {
                    None
                } else {
                    Some(self.name("a property name or `*`")?)
                };
                SelectItem {
                    qualifier: Some((first, col)),
                    name,
                }
            } else {
                SelectItem {
                    qualifier: None,
                    name: Some(first),
                }
            };
            items.push(item);
            if !self.eat(&Tok::Comma) {
                return Ok(items);
            }
        }
    }

    /// True when `name` denotes the instance itself (class name or alias).
    fn is_this(&self, name: &CimName) -> bool {
        *name == self.class_name || self.alias.as_ref() == Some(name)
    }

    fn check_qualifier(&self, qualifier: &CimName, col: usize) -> Result<(), QueryError> {
        if self.is_this(qualifier) {
            Ok(())
        } else {
            Err(self.error_at(
                col,
                format!(
                    "`{qualifier}` is neither the FROM class nor its alias \
                     (embedded property paths are not supported)"
                ),
            ))
        }
    }

    fn resolve_selection(&self, items: Vec<SelectItem>) -> Result<Selection, QueryError> {
        let single = items.len() == 1;
        let mut props = Vec::new();
        for item in items {
            if let Some((q, col)) = &item.qualifier {
                self.check_qualifier(q, *col)?;
            }
            match item.name {
                Some(name) => props.push(name),
                None if single => return Ok(Selection::All),
                None => {
                    let col = item.qualifier.map_or(1, |(_, c)| c);
                    return Err(self.error_at(col, "`*` cannot be mixed with property names"));
                }
            }
        }
        Ok(Selection::Props(props))
    }

    /// Counts one level of nesting and refuses to go past the limit, so
    /// hostile input cannot exhaust the stack here or in later passes.
    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::TooDeep {
                column: self.col(),
                max: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and_expr()?];
        while self.eat_keyword("OR") {
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.not_expr()?];
        while self.eat_keyword("AND") {
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        self.enter()?;
        let expr = if self.eat_keyword("NOT") {
            Expr::Not(Box::new(self.not_expr()?))
        } else if self.eat(&Tok::LParen) {
            let inner = self.or_expr()?;
            if !self.eat(&Tok::RParen) {
                return Err(self.unexpected("expected `)`, AND or OR"));
            }
            inner
        } else if self.eat_keyword("ISA") {
            Expr::Isa {
                target: IsaTarget::Instance,
                class_name: self.isa_class()?,
            }
        } else {
            self.predicate()?
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn isa_class(&mut self) -> Result<CimName, QueryError> {
        let col = self.col();
        if let Tok::Str(s) = self.peek() {
            let name = CimName::new(s.clone());
            if !name.is_valid() || is_keyword(s) {
                return Err(self.error_at(col, format!("`{s}` is not a class name")));
            }
            self.pos += 1;
            return Ok(name);
        }
        self.name("a class name after ISA")
    }

    /// An operand and what follows it.
    fn predicate(&mut self) -> Result<Expr, QueryError> {
        let col = self.col();
        // `Name ISA X` tests the instance when Name is the class, the alias
        // or `__CLASS`, else the (reference or embedded) property Name.
        if let Tok::Ident(first) = self.peek().clone() {
            let qualified = *self.peek_at(1) == Tok::Dot;
            let isa_after = if qualified { 3 } else { 1 };
            if matches!(self.peek_at(isa_after), Tok::Ident(s) if s.eq_ignore_ascii_case("ISA")) {
                let Operand::Property(name) = self.operand()? else {
                    return Err(self.error_at(col, "expected a property before ISA"));
                };
                self.pos += 1;
                let first = CimName::new(first);
                let target = if name == CLASS_PROPERTY || (!qualified && self.is_this(&first)) {
                    IsaTarget::Instance
                } else {
                    IsaTarget::Property(name)
                };
                return Ok(Expr::Isa {
                    target,
                    class_name: self.isa_class()?,
                });
            }
        }
        let operand = self.operand()?;
        if let Tok::Cmp(op) = *self.peek() {
            self.pos += 1;
            let right = self.operand()?;
            return Ok(Expr::Compare {
                left: operand,
                op,
                right,
            });
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.keyword("NULL")?;
            return Ok(Expr::IsNull { operand, negated });
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("LIKE") {
            let col = self.col();
            let Tok::Str(source) = self.peek().clone() else {
                return Err(self.unexpected("expected a quoted pattern after LIKE"));
            };
            self.pos += 1;
            let pattern = LikePattern::new(&source).map_err(|e| {
                self.error_at(
                    col,
                    format!("bad LIKE pattern: {} at offset {}", e.reason, e.offset),
                )
            })?;
            return Ok(Expr::Like {
                operand,
                pattern,
                negated,
            });
        }
        Err(self.unexpected(if negated {
            "expected LIKE"
        } else {
            "expected a comparison operator, IS, LIKE or ISA"
        }))
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let col = self.col();
        let literal = match self.peek() {
            Tok::Str(s) => Literal::String(s.clone()),
            Tok::Int(i) => Literal::Integer(*i),
            Tok::Real(r) => Literal::Real(*r),
            Tok::Ident(s) if s.eq_ignore_ascii_case("TRUE") => Literal::Boolean(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("FALSE") => Literal::Boolean(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("NULL") => Literal::Null,
            Tok::Ident(_) => {
                let first = self.name("a property name or a value")?;
                if !self.eat(&Tok::Dot) {
                    return Ok(Operand::Property(first));
                }
                self.check_qualifier(&first, col)?;
                return Ok(Operand::Property(self.name("a property name")?));
            }
            _ => return Err(self.unexpected("expected a property name or a value")),
        };
        self.pos += 1;
        Ok(Operand::Literal(literal))
    }
}
