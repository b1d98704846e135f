//! The parsed form of a query and its text form. Printing a query and
//! parsing the text again gives an equal query; the printer adds exactly
//! the parentheses the tree needs for that.

use std::fmt;

use vine_cim::CimName;

use super::like::LikePattern;
use super::Query;

/// What the SELECT list asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// `*` (or `Class.*`): every property.
    All,
    /// The listed properties, in query order.
    Props(Vec<CimName>),
}

/// A comparison operator. `!=` is read as `<>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as it is printed.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A literal value in the query text.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    /// Any integer a sint64 or uint64 can hold.
    Integer(i128),
    /// A finite real.
    Real(f64),
    Boolean(bool),
    Null,
}

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A property of the instance (written plain or as `Class.Prop` /
    /// `alias.Prop`). `__CLASS` names the instance's class, as in WQL.
    Property(CimName),
    Literal(Literal),
}

/// What the left side of `ISA` tests.
#[derive(Clone, Debug, PartialEq)]
pub enum IsaTarget {
    /// The instance itself: `Class ISA X`, `alias ISA X`, `__CLASS ISA X`
    /// or a bare `ISA X`.
    Instance,
    /// A reference or embedded-instance property.
    Property(CimName),
}

/// A WHERE condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Two or more conditions that must all hold.
    And(Vec<Expr>),
    /// Two or more conditions of which one must hold.
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        left: Operand,
        op: CmpOp,
        right: Operand,
    },
    /// `x IS NULL`, or `x IS NOT NULL` when `negated`.
    IsNull {
        operand: Operand,
        negated: bool,
    },
    /// `x LIKE 'p'`, or `x NOT LIKE 'p'` when `negated`.
    Like {
        operand: Operand,
        pattern: LikePattern,
        negated: bool,
    },
    /// `x ISA Class`: the class of `x` is `Class` or one of its subclasses.
    Isa {
        target: IsaTarget,
        class_name: CimName,
    },
}

/// Writes `s` as a single-quoted literal that the lexer reads back as `s`.
pub(crate) fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write_string(f, s),
            Literal::Integer(i) => write!(f, "{i}"),
            // `{:?}` is the shortest text that reads back as the same f64 and
            // always has a `.` or exponent, so it never reads as an integer.
            Literal::Real(r) => write!(f, "{r:?}"),
            Literal::Boolean(true) => f.write_str("TRUE"),
            Literal::Boolean(false) => f.write_str("FALSE"),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Property(p) => write!(f, "{p}"),
            Operand::Literal(l) => write!(f, "{l}"),
        }
    }
}

/// Prints an expression; `this` is the name printed for the instance
/// itself (the alias, else the FROM class), `class` the FROM class: both
/// read back as the instance on the left of `ISA`.
pub(crate) struct ExprText<'a> {
    pub expr: &'a Expr,
    pub this: &'a CimName,
    pub class: &'a CimName,
}

impl ExprText<'_> {
    fn child<'b>(&'b self, expr: &'b Expr) -> ExprText<'b> {
        ExprText {
            expr,
            this: self.this,
            class: self.class,
        }
    }

    /// Writes `items` joined by `sep`, bracketing any child that would
    /// otherwise merge into this node or bind differently.
    fn write_list(&self, f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str) -> fmt::Result {
        let is_and = sep == " AND ";
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            let needs_parens = match item {
                Expr::Or(_) => true,
                Expr::And(_) => is_and,
                _ => false,
            };
            if needs_parens {
                write!(f, "({})", self.child(item))?;
            } else {
                write!(f, "{}", self.child(item))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for ExprText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expr {
            Expr::And(items) => self.write_list(f, items, " AND "),
            Expr::Or(items) => self.write_list(f, items, " OR "),
            Expr::Not(inner) => match **inner {
                Expr::And(_) | Expr::Or(_) => write!(f, "NOT ({})", self.child(inner)),
                _ => write!(f, "NOT {}", self.child(inner)),
            },
            Expr::Compare { left, op, right } => {
                write!(f, "{left} {} {right}", op.as_str())
            }
            Expr::IsNull { operand, negated } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{operand} IS {not}NULL")
            }
            Expr::Like {
                operand,
                pattern,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{operand} {not}LIKE ")?;
                write_string(f, pattern.source())
            }
            Expr::Isa { target, class_name } => match target {
                IsaTarget::Instance => write!(f, "{} ISA {class_name}", self.this),
                // Qualified when the bare name would read as the instance.
                IsaTarget::Property(p) if p == self.this || p == self.class => {
                    write!(f, "{}.{p} ISA {class_name}", self.this)
                }
                IsaTarget::Property(p) => write!(f, "{p} ISA {class_name}"),
            },
        }
    }
}

impl fmt::Display for Query {
    /// The query in the syntax both languages accept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        match &self.select {
            Selection::All => f.write_str("*")?,
            Selection::Props(props) => {
                for (i, p) in props.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{p}")?;
                }
            }
        }
        write!(f, " FROM {}", self.class_name)?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {alias}")?;
        }
        if let Some(expr) = &self.filter {
            let this = self.alias.as_ref().unwrap_or(&self.class_name);
            let class = &self.class_name;
            write!(f, " WHERE {}", ExprText { expr, this, class })?;
        }
        Ok(())
    }
}
