//! MOF grammar (DSP0004 ANNEX A, the 2.x syntax plus MOF 3.0's
//! `association`/`indication` keywords): tokens in, one [`Production`] at
//! a time out. The grammar has no recursive productions here (array
//! values hold scalars only), so no input can make the parser recurse.

use super::ast::*;
use super::lexer::{Tok, Token};
use super::MofError;

pub(crate) struct Parser<'a> {
    file: &'a str,
    toks: Vec<Token>,
    at: usize,
}

fn is_kw(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a> {
    /// A parser over `toks`, which must end with `Tok::Eof`.
    pub fn new(file: &'a str, toks: Vec<Token>) -> Self {
        Parser { file, toks, at: 0 }
    }

    fn peek(&self) -> &Token {
        // `tokenize` always ends with Eof and `bump` never moves past it.
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.at + n).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> Pos {
        let t = self.peek();
        Pos {
            line: t.line,
            col: t.col,
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.at += 1;
        }
        t
    }

    fn error_here(&self, msg: impl Into<String>) -> MofError {
        let t = self.peek();
        MofError::new(self.file, t.line, t.col, msg)
    }

    /// "expected `what` `context`, found X".
    fn expected(&self, what: &str, context: &str) -> MofError {
        self.error_here(format!(
            "expected {what} {context}, found {}",
            self.peek().tok
        ))
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek().tok == Tok::Punct(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn punct(&mut self, c: char, context: &str) -> Result<(), MofError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{c}`"), context))
        }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if is_kw(&self.peek().tok, kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn ident(&mut self, what: &str, context: &str) -> Result<(String, Pos), MofError> {
        let pos = self.pos();
        match &self.peek().tok {
            Tok::Ident(s) => {
                let s = s.clone();
                self.bump();
                Ok((s, pos))
            }
            _ => Err(self.expected(what, context)),
        }
    }

    /// The next production, or `None` at the end of the input.
    pub fn next_production(&mut self) -> Result<Option<Production>, MofError> {
        let pos = self.pos();
        let tok = self.peek().tok.clone();
        if tok == Tok::Eof {
            return Ok(None);
        }
        if tok == Tok::Punct('#') {
            return self.pragma(pos).map(Some);
        }
        if is_kw(&tok, "qualifier") {
            return self.qualifier_decl(pos).map(Some);
        }
        let quals = self.qualifier_list()?;
        let pos = self.pos();
        let t = self.peek().tok.clone();
        if is_kw(&t, "class") || is_kw(&t, "association") || is_kw(&t, "indication") {
            self.class(quals, pos).map(Some)
        } else if is_kw(&t, "instance") {
            self.instance(quals, pos).map(Some)
        } else {
            Err(self.error_here(format!(
                "expected `class`, `instance`, `qualifier` or `#pragma`, found {t}"
            )))
        }
    }

    fn pragma(&mut self, pos: Pos) -> Result<Production, MofError> {
        self.bump();
        if !self.eat_kw("pragma") {
            return Err(self.expected("`pragma`", "after `#`"));
        }
        let (name, _) = self.ident("a pragma name", "after `#pragma`")?;
        self.punct('(', "after the pragma name")?;
        let value = match &self.peek().tok {
            Tok::Str(_) => self.strings()?,
            _ => return Err(self.expected("a string", "as the pragma value")),
        };
        self.punct(')', "after the pragma value")?;
        Ok(Production::Pragma { name, value, pos })
    }

    /// One or more adjacent string literals, joined.
    fn strings(&mut self) -> Result<String, MofError> {
        let mut s = String::new();
        while let Tok::Str(part) = &self.peek().tok {
            s.push_str(part);
            self.bump();
        }
        Ok(s)
    }

    fn qualifier_list(&mut self) -> Result<Vec<QualAst>, MofError> {
        let mut out = Vec::new();
        if !self.eat_punct('[') {
            return Ok(out);
        }
        loop {
            out.push(self.qualifier()?);
            if self.eat_punct(']') {
                return Ok(out);
            }
            self.punct(',', "or `]` after a qualifier")?;
        }
    }

    fn qualifier(&mut self) -> Result<QualAst, MofError> {
        let (name, pos) = self.ident("a qualifier name", "in the qualifier list")?;
        let value = if self.eat_punct('(') {
            let v = self.literal("qualifier value")?;
            self.punct(')', "after the qualifier value")?;
            Some(v)
        } else if self.peek().tok == Tok::Punct('{') {
            Some(self.initializer("qualifier value")?)
        } else {
            None
        };
        let mut flavors = Vec::new();
        if self.eat_punct(':') {
            while let Tok::Ident(_) = self.peek().tok {
                flavors.push(self.ident("a flavor", "after `:`")?);
            }
            if flavors.is_empty() {
                return Err(self.expected("a flavor", "after `:`"));
            }
        }
        Ok(QualAst {
            name,
            value,
            flavors,
            pos,
        })
    }

    /// A scalar literal (sign, number, strings, char, true/false/null, alias).
    fn literal(&mut self, what: &str) -> Result<(Lit, Pos), MofError> {
        let pos = self.pos();
        let tok = self.peek().tok.clone();
        let lit = match tok {
            Tok::Punct(sign @ ('-' | '+')) => {
                self.bump();
                let neg = sign == '-';
                match self.bump().tok {
                    Tok::Int(n) => Lit::Int(if neg { -n } else { n }),
                    Tok::Real(r) => Lit::Real(if neg { -r } else { r }),
                    _ => {
                        return Err(MofError::new(
                            self.file,
                            pos.line,
                            pos.col,
                            format!("expected a number after `{sign}`"),
                        ))
                    }
                }
            }
            Tok::Int(n) => {
                self.bump();
                Lit::Int(n)
            }
            Tok::Real(r) => {
                self.bump();
                Lit::Real(r)
            }
            Tok::Str(_) => Lit::Str(self.strings()?),
            Tok::Char(c) => {
                self.bump();
                Lit::Char(c)
            }
            Tok::Alias(a) => {
                self.bump();
                Lit::Alias(a)
            }
            ref t if is_kw(t, "true") => {
                self.bump();
                Lit::Bool(true)
            }
            ref t if is_kw(t, "false") => {
                self.bump();
                Lit::Bool(false)
            }
            ref t if is_kw(t, "null") => {
                self.bump();
                Lit::Null
            }
            _ => return Err(self.expected(&format!("a {what}"), "here")),
        };
        Ok((lit, pos))
    }

    /// A literal or an array `{a, b}` of literals.
    fn initializer(&mut self, what: &str) -> Result<(Lit, Pos), MofError> {
        let pos = self.pos();
        if !self.eat_punct('{') {
            return self.literal(what);
        }
        let mut items = Vec::new();
        if !self.eat_punct('}') {
            loop {
                items.push(self.literal(what)?);
                if self.eat_punct('}') {
                    break;
                }
                self.punct(',', "or `}` between array elements")?;
            }
        }
        Ok((Lit::Array(items), pos))
    }

    fn array_spec(&mut self) -> Result<ArraySpec, MofError> {
        if !self.eat_punct('[') {
            return Ok(None);
        }
        if self.eat_punct(']') {
            return Ok(Some(None));
        }
        let n = match self.peek().tok {
            Tok::Int(n) => u32::try_from(n).ok(),
            _ => None,
        };
        let Some(n) = n else {
            return Err(self.expected("an array size or `]`", "after `[`"));
        };
        self.bump();
        self.punct(']', "after the array size")?;
        Ok(Some(Some(n)))
    }

    fn qualifier_decl(&mut self, pos: Pos) -> Result<Production, MofError> {
        self.bump();
        let (name, _) = self.ident("a qualifier name", "after `qualifier`")?;
        self.punct(':', "after the qualifier name")?;
        let ty = self.ident("a type", "in the qualifier declaration")?;
        let array = self.array_spec()?;
        let default = if self.eat_punct('=') {
            Some(self.initializer("default value")?)
        } else {
            None
        };
        let mut scopes = Vec::new();
        let mut flavors = Vec::new();
        loop {
            self.eat_punct(',');
            if self.eat_punct(';') {
                break;
            }
            let list = if self.eat_kw("scope") {
                &mut scopes
            } else if self.eat_kw("flavor") {
                &mut flavors
            } else {
                return Err(self.expected(
                    "`Scope(...)`, `Flavor(...)` or `;`",
                    "in the qualifier declaration",
                ));
            };
            self.punct('(', "after `Scope`/`Flavor`")?;
            loop {
                let item = self.ident("a name", "in the list")?;
                list.push(item);
                if self.eat_punct(')') {
                    break;
                }
                self.punct(',', "or `)` in the list")?;
            }
        }
        Ok(Production::QualifierDecl(QualDeclAst {
            name,
            ty,
            array,
            default,
            scopes,
            flavors,
            pos,
        }))
    }

    fn class(&mut self, quals: Vec<QualAst>, pos: Pos) -> Result<Production, MofError> {
        let (keyword, _) = self.ident("`class`", "")?;
        let (name, _) = self.ident("a class name", &format!("after `{keyword}`"))?;
        let superclass = if self.eat_punct(':') {
            Some(self.ident("a superclass name", "after `:`")?)
        } else {
            None
        };
        self.punct('{', "to open the class body")?;
        let mut class = ClassAst {
            quals,
            keyword,
            name,
            superclass,
            props: Vec::new(),
            methods: Vec::new(),
            pos,
        };
        while !self.eat_punct('}') {
            self.feature(&mut class)?;
        }
        self.punct(';', "after the class declaration")?;
        Ok(Production::Class(class))
    }

    /// A data type: `uint32`, or `ClassName REF`.
    fn data_type(&mut self) -> Result<TypeAst, MofError> {
        let (ty, pos) = self.ident("a type", "to start a declaration")?;
        // `X REF name` is a reference; `string Ref;` is a property named Ref.
        if is_kw(&self.peek().tok, "ref") && matches!(self.peek_at(1), Tok::Ident(_)) {
            self.bump();
            Ok(TypeAst::Ref(ty, pos))
        } else {
            Ok(TypeAst::Named(ty, pos))
        }
    }

    fn feature(&mut self, class: &mut ClassAst) -> Result<(), MofError> {
        if self.peek().tok == Tok::Eof {
            return Err(self.expected("`}`", "to close the class body"));
        }
        let quals = self.qualifier_list()?;
        let pos = self.pos();
        let ty = self.data_type()?;
        let (name, _) = self.ident("a property or method name", "after the type")?;
        if self.eat_punct('(') {
            let mut params = Vec::new();
            if !self.eat_punct(')') {
                loop {
                    params.push(self.parameter()?);
                    if self.eat_punct(')') {
                        break;
                    }
                    self.punct(',', "or `)` after a parameter")?;
                }
            }
            self.punct(';', "after method declaration")?;
            class.methods.push(MethodAst {
                quals,
                ty,
                name,
                params,
                pos,
            });
            return Ok(());
        }
        let array = self.array_spec()?;
        let default = if self.eat_punct('=') {
            Some(self.initializer("default value")?)
        } else {
            None
        };
        self.punct(';', "after property declaration")?;
        class.props.push(PropAst {
            quals,
            ty,
            name,
            array,
            default,
            pos,
        });
        Ok(())
    }

    fn parameter(&mut self) -> Result<PropAst, MofError> {
        let quals = self.qualifier_list()?;
        let pos = self.pos();
        let ty = self.data_type()?;
        let (name, _) = self.ident("a parameter name", "after the type")?;
        let array = self.array_spec()?;
        // MOF 3.0 allows parameter defaults; they carry no meaning for vine,
        // so they are parsed and dropped.
        if self.eat_punct('=') {
            self.initializer("default value")?;
        }
        Ok(PropAst {
            quals,
            ty,
            name,
            array,
            default: None,
            pos,
        })
    }

    fn instance(&mut self, quals: Vec<QualAst>, pos: Pos) -> Result<Production, MofError> {
        self.bump();
        if !self.eat_kw("of") {
            return Err(self.expected("`of`", "after `instance`"));
        }
        let (class, _) = self.ident("a class name", "after `instance of`")?;
        let alias = if self.eat_kw("as") {
            match self.peek().tok.clone() {
                Tok::Alias(a) => {
                    self.bump();
                    Some(a)
                }
                _ => return Err(self.expected("an alias `$name`", "after `as`")),
            }
        } else {
            None
        };
        self.punct('{', "to open the instance body")?;
        let mut props = Vec::new();
        while !self.eat_punct('}') {
            let quals = self.qualifier_list()?;
            let (name, pos) = self.ident("a property name or `}`", "in the instance body")?;
            self.punct('=', "after the property name")?;
            let value = self.initializer("property value")?;
            self.punct(';', "after the property value")?;
            props.push(PropValueAst {
                quals,
                name,
                value,
                pos,
            });
        }
        self.punct(';', "after the instance declaration")?;
        Ok(Production::Instance(InstanceAst {
            quals,
            class,
            alias,
            props,
            pos,
        }))
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
