//! Evaluates a WHERE condition against an instance with SQL's three-valued
//! logic: a comparison involving NULL, a missing property or values of
//! unrelated types is UNKNOWN, and only TRUE selects an instance.
//!
//! Values compare like this:
//! - integers of any width and sign compare exactly; a real on either side
//!   compares as a real (a real32 at real32 precision, so `Speed = 0.1`
//!   finds a real32 0.1);
//! - strings and char16 compare case-sensitively by code point;
//! - booleans and references support only `=` and `<>`;
//! - datetimes compare as points in time (offsets applied) or as
//!   durations; a timestamp and an interval never compare;
//! - a string literal against a non-string property is read as that
//!   property's type (`EnabledState = '2'`, `InstallDate > '2026…+000'`,
//!   `Antecedent = 'CIM_X.Name="a"'`); if it cannot be, UNKNOWN;
//! - an array property matches when any element does (`OperationalStatus
//!   = 2`, also for `<>` and `LIKE`); an empty array matches nothing.

use std::cmp::Ordering;

use vine_cim::{CimDateTime, CimInstance, CimInstanceName, CimValue};

use super::ast::{CmpOp, Expr, IsaTarget, Literal, Operand};
use super::parser::CLASS_PROPERTY;

/// A truth value of three-valued logic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        }
    }

    /// TRUE if any is TRUE, else UNKNOWN if any is UNKNOWN, else FALSE: the
    /// rule for OR and for "any array element".
    fn any(items: impl IntoIterator<Item = Truth>) -> Truth {
        let mut out = Truth::False;
        for t in items {
            match t {
                Truth::True => return Truth::True,
                Truth::Unknown => out = Truth::Unknown,
                Truth::False => {}
            }
        }
        out
    }

    /// FALSE if any is FALSE, else UNKNOWN if any is UNKNOWN, else TRUE.
    fn all(items: impl IntoIterator<Item = Truth>) -> Truth {
        Truth::any(items.into_iter().map(Truth::not)).not()
    }
}

/// What evaluation needs besides the condition.
pub(crate) struct Context<'a> {
    pub inst: &'a CimInstance,
    pub isa: &'a dyn Fn(&str, &str) -> bool,
}

impl Context<'_> {
    /// The value of an operand; `None` is NULL (or a missing property).
    fn value(&self, operand: &Operand) -> Option<CimValue> {
        match operand {
            Operand::Property(name) => match self.inst.property(name.as_str()) {
                Some(p) => p.value.clone(),
                None if *name == CLASS_PROPERTY => {
                    Some(CimValue::String(self.inst.class_name.to_string()))
                }
                None => None,
            },
            Operand::Literal(l) => literal_value(l),
        }
    }

    /// True when `class` is `ancestor` or derives from it.
    fn is_a(&self, class: &str, ancestor: &str) -> bool {
        class.eq_ignore_ascii_case(ancestor) || (self.isa)(class, ancestor)
    }

    pub(crate) fn eval(&self, expr: &Expr) -> Truth {
        match expr {
            Expr::And(items) => Truth::all(items.iter().map(|e| self.eval(e))),
            Expr::Or(items) => Truth::any(items.iter().map(|e| self.eval(e))),
            Expr::Not(inner) => self.eval(inner).not(),
            Expr::Compare { left, op, right } => match (self.value(left), self.value(right)) {
                (Some(a), Some(b)) => compare(&a, *op, &b),
                _ => Truth::Unknown,
            },
            Expr::IsNull { operand, negated } => {
                Truth::from_bool(self.value(operand).is_none() != *negated)
            }
            Expr::Like {
                operand,
                pattern,
                negated,
            } => {
                let t = match self.value(operand) {
                    Some(v) => each_element(&v, &|e| match e {
                        CimValue::String(s) => Truth::from_bool(pattern.matches(s)),
                        CimValue::Char16(c) => {
                            Truth::from_bool(pattern.matches(c.encode_utf8(&mut [0; 4])))
                        }
                        _ => Truth::Unknown,
                    }),
                    None => Truth::Unknown,
                };
                if *negated {
                    t.not()
                } else {
                    t
                }
            }
            Expr::Isa { target, class_name } => match target {
                IsaTarget::Instance => {
                    Truth::from_bool(self.is_a(self.inst.class_name.as_str(), class_name.as_str()))
                }
                IsaTarget::Property(p) => match self.inst.get(p.as_str()) {
                    Some(v) => each_element(v, &|e| match e {
                        CimValue::Reference(r) => {
                            Truth::from_bool(self.is_a(r.class_name.as_str(), class_name.as_str()))
                        }
                        CimValue::Instance(i) => {
                            Truth::from_bool(self.is_a(i.class_name.as_str(), class_name.as_str()))
                        }
                        _ => Truth::Unknown,
                    }),
                    None => Truth::Unknown,
                },
            },
        }
    }
}

fn literal_value(l: &Literal) -> Option<CimValue> {
    Some(match l {
        Literal::String(s) => CimValue::String(s.clone()),
        Literal::Integer(i) => integer(*i)?,
        Literal::Real(r) => CimValue::Real64(*r),
        Literal::Boolean(b) => CimValue::Boolean(*b),
        Literal::Null => return None,
    })
}

/// Applies `f` to a scalar, or to every element of an array (any-match).
fn each_element(v: &CimValue, f: &dyn Fn(&CimValue) -> Truth) -> Truth {
    match v {
        CimValue::Array(items) => Truth::any(items.iter().map(f)),
        scalar => f(scalar),
    }
}

/// How two scalars relate.
enum Relation {
    Ordered(Ordering),
    /// Only equality is defined for the type.
    Equal(bool),
    Incomparable,
}

/// `a op b` for two non-NULL values.
pub(crate) fn compare(a: &CimValue, op: CmpOp, b: &CimValue) -> Truth {
    each_element(a, &|a| each_element(b, &|b| apply(op, relate(a, b, true))))
}

fn apply(op: CmpOp, rel: Relation) -> Truth {
    match rel {
        Relation::Ordered(o) => Truth::from_bool(match op {
            CmpOp::Eq => o.is_eq(),
            CmpOp::Ne => o.is_ne(),
            CmpOp::Lt => o.is_lt(),
            CmpOp::Le => o.is_le(),
            CmpOp::Gt => o.is_gt(),
            CmpOp::Ge => o.is_ge(),
        }),
        Relation::Equal(eq) => match op {
            CmpOp::Eq => Truth::from_bool(eq),
            CmpOp::Ne => Truth::from_bool(!eq),
            _ => Truth::Unknown,
        },
        Relation::Incomparable => Truth::Unknown,
    }
}

fn relate(a: &CimValue, b: &CimValue, may_convert: bool) -> Relation {
    use CimValue as V;
    if let (Some(x), Some(y)) = (a.as_i128(), b.as_i128()) {
        return Relation::Ordered(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        let single = matches!(a, V::Real32(_)) || matches!(b, V::Real32(_));
        let ord = if single {
            (x as f32).partial_cmp(&(y as f32))
        } else {
            x.partial_cmp(&y)
        };
        return ord.map_or(Relation::Incomparable, Relation::Ordered);
    }
    match (a, b) {
        (V::String(_) | V::Char16(_), V::String(_) | V::Char16(_)) => {
            Relation::Ordered(text(a).cmp(&text(b)))
        }
        (V::Boolean(x), V::Boolean(y)) => Relation::Equal(x == y),
        (V::Reference(x), V::Reference(y)) => Relation::Equal(x == y),
        (V::DateTime(x), V::DateTime(y)) => match (datetime_key(x), datetime_key(y)) {
            (Key::Time(x), Key::Time(y)) | (Key::Span(x), Key::Span(y)) => {
                Relation::Ordered(x.cmp(&y))
            }
            _ => Relation::Incomparable,
        },
        (V::String(s), other) if may_convert => match convert(s, other) {
            Some(conv) => relate(&conv, other, false),
            None => Relation::Incomparable,
        },
        (other, V::String(s)) if may_convert => match convert(s, other) {
            Some(conv) => relate(other, &conv, false),
            None => Relation::Incomparable,
        },
        _ => Relation::Incomparable,
    }
}

fn text(v: &CimValue) -> String {
    match v {
        CimValue::Char16(c) => c.to_string(),
        CimValue::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Reads `s` as a value of `like`'s type.
fn convert(s: &str, like: &CimValue) -> Option<CimValue> {
    match like {
        CimValue::Reference(_) => CimInstanceName::parse(s).ok().map(CimValue::from),
        CimValue::Instance(_) | CimValue::Array(_) => None,
        // Read as a number of its own kind rather than `like`'s type, so
        // that '300' against a uint8 is a plain "greater", not an error.
        _ if like.as_f64().is_some() => number(s.trim()),
        _ => CimValue::parse_scalar(like.cim_type()?, s).ok(),
    }
}

/// An integer as the narrowest of sint64 / uint64 that holds it.
fn integer(i: i128) -> Option<CimValue> {
    i64::try_from(i)
        .map(CimValue::Sint64)
        .ok()
        .or_else(|| u64::try_from(i).ok().map(CimValue::Uint64))
}

/// Decimal text as an integer, else as a finite real.
fn number(s: &str) -> Option<CimValue> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i128>().ok().and_then(integer);
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(CimValue::Real64)
}

/// A datetime as a comparable number.
enum Key {
    /// Microseconds since 1970-01-01 UTC.
    Time(i128),
    /// Microseconds of an interval.
    Span(i128),
}

fn datetime_key(d: &CimDateTime) -> Key {
    match (d.timestamp_micros(), d.interval_micros()) {
        (Some(t), _) => Key::Time(t),
        (None, Some(s)) => Key::Span(s),
        // Every datetime is one or the other; keep the match total.
        (None, None) => Key::Span(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kleene_connectives() {
        use Truth::*;
        let vals = [True, False, Unknown];
        for a in vals {
            for b in vals {
                let and = Truth::all([a, b]);
                let or = Truth::any([a, b]);
                let expect_and = if a == False || b == False {
                    False
                } else if a == Unknown || b == Unknown {
                    Unknown
                } else {
                    True
                };
                let expect_or = if a == True || b == True {
                    True
                } else if a == Unknown || b == Unknown {
                    Unknown
                } else {
                    False
                };
                assert_eq!(and, expect_and, "{a:?} AND {b:?}");
                assert_eq!(or, expect_or, "{a:?} OR {b:?}");
            }
        }
    }
}
