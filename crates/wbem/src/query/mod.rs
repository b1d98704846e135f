//! The query engine behind ExecQuery and OpenQueryInstances: parses WQL and
//! DMTF:CQL SELECT statements and filters and projects instances with them.
//!
//! Both languages share one grammar (written out atop `parser.rs`):
//! `SELECT * | p[, p…] FROM Class [[AS] alias] [WHERE cond]`,
//! conditions built from `AND`, `OR`, `NOT`, parentheses, comparisons
//! (`= <> != < <= > >=`) between properties and literals, `IS [NOT] NULL`,
//! `[NOT] LIKE`, and `ISA`. Names compare without case; string values with
//! case. Choices where the standards leave room or where vine supports a
//! subset:
//!
//! 1. `LIKE` uses WQL patterns (`%`, `_`, `[set]`) in both languages; see
//!    [`LikePattern`].
//! 2. `ISA` tests the instance's class when its left side is the FROM
//!    class, the alias or `__CLASS` (`CIM_System ISA KVM_ComputerSystem`,
//!    DSP0202's form), or when it stands alone (`WHERE ISA X`); with a
//!    property on the left it tests the class of a reference or embedded
//!    instance. The class may be written bare or quoted (WQL's `ISA 'X'`).
//! 3. `Class.Prop` and `alias.Prop` name `Prop`; longer paths into
//!    embedded objects are refused.
//! 4. An array property compares true when any element does; see the
//!    comparison rules in `eval.rs`.
//! 5. [`Query::matches`] assumes the caller enumerated the FROM class with
//!    its subclasses; it does not test the instance's class itself.
//!
//! Serving ExecQuery / OpenQueryInstances with it:
//!
//! 1. `lang.parse::<QueryLanguage>()?` and [`parse`]`(lang, text)?` (both
//!    errors convert into the right [`CimError`]);
//! 2. fetch the FROM class ([`Query::class_name`]) and call
//!    [`Query::check_against`] so that unknown properties are refused;
//! 3. enumerate the class with its subclasses, keep the instances for which
//!    [`Query::matches`] holds, and return [`Query::project`] of each.

use std::fmt;
use std::str::FromStr;

use vine_cim::{CimClass, CimError, CimInstance, CimName, CimStatus};

/// The syntax tree and its printer.
mod ast;
/// Three-valued evaluation of conditions.
mod eval;
/// Tokens with their columns.
mod lexer;
/// WQL `LIKE` patterns.
mod like;
/// The SELECT-statement parser.
mod parser;
/// Unit tests of parsing, evaluation and projection.
#[cfg(test)]
mod tests;
/// Randomized tests: no panics, print-and-parse round trips.
#[cfg(test)]
mod tests_random;

pub use ast::{CmpOp, Expr, IsaTarget, Literal, Operand, Selection};
pub use eval::Truth;
pub use like::LikePattern;

/// Longest query text accepted, in bytes; real queries are a few hundred.
pub const MAX_QUERY_LEN: usize = 16 * 1024;

/// Deepest nesting of parentheses and `NOT` accepted. Keeps recursion in
/// the parser, evaluator and printer far from the end of any stack.
pub const MAX_DEPTH: usize = 64;

/// A query language named in ExecQuery's QueryLanguage or
/// OpenQueryInstances' FilterQueryLanguage parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryLanguage {
    Wql,
    Cql,
}

impl QueryLanguage {
    /// The name DSP0200 uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryLanguage::Wql => "WQL",
            QueryLanguage::Cql => "DMTF:CQL",
        }
    }
}

impl fmt::Display for QueryLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QueryLanguage {
    type Err = QueryError;

    /// Accepts `WQL`, `DMTF:CQL` and `CQL`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("WQL") {
            Ok(QueryLanguage::Wql)
        } else if s.eq_ignore_ascii_case("DMTF:CQL") || s.eq_ignore_ascii_case("CQL") {
            Ok(QueryLanguage::Cql)
        } else {
            Err(QueryError::UnsupportedLanguage(s.to_string()))
        }
    }
}

/// Why a query was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query language `{0}` is not supported; use WQL or DMTF:CQL")]
    UnsupportedLanguage(String),
    /// `column` counts characters from 1.
    #[error("{message} at column {column}")]
    Syntax { column: usize, message: String },
    #[error("query is {len} bytes long; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    #[error("conditions nest deeper than {max} levels at column {column}")]
    TooDeep { column: usize, max: usize },
    #[error("class {class} has no property `{property}`")]
    NoSuchProperty { class: CimName, property: CimName },
}

impl From<QueryError> for CimError {
    fn from(e: QueryError) -> Self {
        let status = match e {
            QueryError::UnsupportedLanguage(_) => CimStatus::QueryLanguageNotSupported,
            _ => CimStatus::InvalidQuery,
        };
        CimError::new(status, e.to_string())
    }
}

/// A parsed query. Printing it (`Display`) gives text that parses back to
/// an equal query in the same language.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub language: QueryLanguage,
    /// The FROM class.
    pub class_name: CimName,
    /// The name given after FROM's class (`FROM CIM_System AS s`).
    pub alias: Option<CimName>,
    pub select: Selection,
    /// The WHERE condition; `None` selects every instance.
    pub filter: Option<Expr>,
}

/// Parses `text` as a query in `language`.
pub fn parse(language: QueryLanguage, text: &str) -> Result<Query, QueryError> {
    parser::parse(language, text)
}

impl Query {
    /// True when the WHERE condition is TRUE for `inst` (UNKNOWN and FALSE
    /// both reject). `isa(class, ancestor)` answers whether `class` derives
    /// from `ancestor`; it is asked only when the two names differ.
    pub fn matches(&self, inst: &CimInstance, isa: &dyn Fn(&str, &str) -> bool) -> bool {
        self.evaluate(inst, isa) == Truth::True
    }

    /// The three-valued result of the WHERE condition for `inst`.
    pub fn evaluate(&self, inst: &CimInstance, isa: &dyn Fn(&str, &str) -> bool) -> Truth {
        match &self.filter {
            Some(expr) => eval::Context { inst, isa }.eval(expr),
            None => Truth::True,
        }
    }

    /// `inst` with only the selected properties (all for `*`); the path is
    /// kept so that ExecQuery can return it.
    pub fn project(&self, mut inst: CimInstance) -> CimInstance {
        if let Selection::Props(props) = &self.select {
            inst.properties.retain(|p| props.contains(&p.name));
        }
        inst
    }

    /// Refuses a query that names a property `class` (the FROM class,
    /// with its inherited properties) does not have.
    pub fn check_against(&self, class: &CimClass) -> Result<(), QueryError> {
        match self
            .referenced_properties()
            .into_iter()
            .find(|p| class.property(p.as_str()).is_none())
        {
            Some(property) => Err(QueryError::NoSuchProperty {
                class: class.name.clone(),
                property,
            }),
            None => Ok(()),
        }
    }

    /// Every property the query names, in first-use order, without
    /// repeats and without `__CLASS`: what to check against the FROM class
    /// (an unknown name there is CIM_ERR_INVALID_QUERY).
    pub fn referenced_properties(&self) -> Vec<CimName> {
        let mut out: Vec<CimName> = Vec::new();
        let mut add = |name: &CimName| {
            if *name != parser::CLASS_PROPERTY && !out.contains(name) {
                out.push(name.clone());
            }
        };
        if let Selection::Props(props) = &self.select {
            props.iter().for_each(&mut add);
        }
        if let Some(expr) = &self.filter {
            walk(expr, &mut add);
        }
        out
    }
}

/// Calls `f` on every property `expr` names.
fn walk(expr: &Expr, f: &mut dyn FnMut(&CimName)) {
    let operand = |o: &Operand, f: &mut dyn FnMut(&CimName)| {
        if let Operand::Property(p) = o {
            f(p);
        }
    };
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| walk(e, f)),
        Expr::Not(inner) => walk(inner, f),
        Expr::Compare { left, right, .. } => {
            operand(left, f);
            operand(right, f);
        }
        Expr::IsNull { operand: o, .. } | Expr::Like { operand: o, .. } => operand(o, f),
        Expr::Isa { target, .. } => {
            if let IsaTarget::Property(p) = target {
                f(p);
            }
        }
    }
}
