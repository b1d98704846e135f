//! Typed CIM values.

use std::fmt;

use crate::datetime::CimDateTime;
use crate::instance::CimInstance;
use crate::path::CimInstanceName;
use crate::types::CimType;

/// A non-null CIM value. Null is `Option::None` where a value may be absent;
/// the declared type then lives beside it (property, parameter).
#[derive(Clone, Debug, PartialEq)]
pub enum CimValue {
    Boolean(bool),
    String(String),
    Char16(char),
    DateTime(CimDateTime),
    Uint8(u8),
    Sint8(i8),
    Uint16(u16),
    Sint16(i16),
    Uint32(u32),
    Sint32(i32),
    Uint64(u64),
    Sint64(i64),
    Real32(f32),
    Real64(f64),
    Reference(Box<CimInstanceName>),
    Instance(Box<CimInstance>),
    /// An array; every element has the array's element type.
    Array(Vec<CimValue>),
}

/// A value that does not fit the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {cim_type} value: {reason}")]
pub struct ValueError {
    pub value: String,
    pub cim_type: CimType,
    pub reason: String,
}

impl CimValue {
    /// The element type (for an array: the type of its first element, or
    /// `None` when empty, since an empty array carries no type).
    pub fn cim_type(&self) -> Option<CimType> {
        Some(match self {
            CimValue::Boolean(_) => CimType::Boolean,
            CimValue::String(_) => CimType::String,
            CimValue::Char16(_) => CimType::Char16,
            CimValue::DateTime(_) => CimType::DateTime,
            CimValue::Uint8(_) => CimType::Uint8,
            CimValue::Sint8(_) => CimType::Sint8,
            CimValue::Uint16(_) => CimType::Uint16,
            CimValue::Sint16(_) => CimType::Sint16,
            CimValue::Uint32(_) => CimType::Uint32,
            CimValue::Sint32(_) => CimType::Sint32,
            CimValue::Uint64(_) => CimType::Uint64,
            CimValue::Sint64(_) => CimType::Sint64,
            CimValue::Real32(_) => CimType::Real32,
            CimValue::Real64(_) => CimType::Real64,
            CimValue::Reference(_) => CimType::Reference,
            CimValue::Instance(_) => CimType::Instance,
            CimValue::Array(v) => return v.first().and_then(|e| e.cim_type()),
        })
    }

    /// True for `Array`.
    pub fn is_array(&self) -> bool {
        matches!(self, CimValue::Array(_))
    }

    /// Parses the textual form used by CIM-XML `VALUE` elements and MOF
    /// literals (already unquoted) into a value of type `t`.
    pub fn parse_scalar(t: CimType, text: &str) -> Result<CimValue, ValueError> {
        let err = |reason: &str| ValueError {
            value: text.to_string(),
            cim_type: t,
            reason: reason.to_string(),
        };
        let trimmed = text.trim();
        Ok(match t {
            CimType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "true" => CimValue::Boolean(true),
                "false" => CimValue::Boolean(false),
                _ => return Err(err("expected TRUE or FALSE")),
            },
            CimType::String => CimValue::String(text.to_string()),
            CimType::Char16 => {
                let mut it = text.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => CimValue::Char16(c),
                    _ => return Err(err("expected exactly one character")),
                }
            }
            CimType::DateTime => CimValue::DateTime(
                trimmed
                    .parse()
                    .map_err(|e: crate::datetime::InvalidDateTime| err(e.reason))?,
            ),
            CimType::Real32 => {
                CimValue::Real32(trimmed.parse().map_err(|_| err("not a real number"))?)
            }
            CimType::Real64 => {
                CimValue::Real64(trimmed.parse().map_err(|_| err("not a real number"))?)
            }
            CimType::Reference | CimType::Instance => {
                return Err(err("object values have no scalar text form"))
            }
            int => {
                let n = parse_integer(trimmed).ok_or_else(|| err("not an integer"))?;
                let (lo, hi) = int.integer_range().unwrap_or((0, 0));
                if n < lo || n > hi {
                    return Err(err("out of range"));
                }
                match int {
                    CimType::Uint8 => CimValue::Uint8(n as u8),
                    CimType::Sint8 => CimValue::Sint8(n as i8),
                    CimType::Uint16 => CimValue::Uint16(n as u16),
                    CimType::Sint16 => CimValue::Sint16(n as i16),
                    CimType::Uint32 => CimValue::Uint32(n as u32),
                    CimType::Sint32 => CimValue::Sint32(n as i32),
                    CimType::Uint64 => CimValue::Uint64(n as u64),
                    _ => CimValue::Sint64(n as i64),
                }
            }
        })
    }

    /// The value as an i128 when it is an integer.
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            CimValue::Uint8(v) => v as i128,
            CimValue::Sint8(v) => v as i128,
            CimValue::Uint16(v) => v as i128,
            CimValue::Sint16(v) => v as i128,
            CimValue::Uint32(v) => v as i128,
            CimValue::Sint32(v) => v as i128,
            CimValue::Uint64(v) => v as i128,
            CimValue::Sint64(v) => v as i128,
            _ => return None,
        })
    }

    /// The value as an f64 when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            CimValue::Real32(v) => Some(v as f64),
            CimValue::Real64(v) => Some(v),
            _ => self.as_i128().map(|v| v as f64),
        }
    }

    /// The string when this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            CimValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean when this is a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            CimValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Converts an integer value to another integer type (MOF literals and
    /// untyped key bindings carry no type of their own).
    pub fn coerce(self, t: CimType) -> Result<CimValue, ValueError> {
        if self.cim_type() == Some(t) {
            return Ok(self);
        }
        match (&self, t) {
            (CimValue::Array(items), _) => items
                .iter()
                .cloned()
                .map(|v| v.coerce(t))
                .collect::<Result<Vec<_>, _>>()
                .map(CimValue::Array),
            (CimValue::String(s), t) if !matches!(t, CimType::Instance) => {
                CimValue::parse_scalar(t, s)
            }
            (v, t) if t.is_integer() && v.as_i128().is_some() => {
                CimValue::parse_scalar(t, &v.as_i128().unwrap_or_default().to_string())
            }
            (v, CimType::Real32) if v.as_f64().is_some() => {
                Ok(CimValue::Real32(v.as_f64().unwrap_or_default() as f32))
            }
            (v, CimType::Real64) if v.as_f64().is_some() => {
                Ok(CimValue::Real64(v.as_f64().unwrap_or_default()))
            }
            (v, t) => Err(ValueError {
                value: v.to_string(),
                cim_type: t,
                reason: format!(
                    "cannot convert a {} value",
                    v.cim_type().map(|t| t.as_str()).unwrap_or("empty array")
                ),
            }),
        }
    }
}

/// Parses decimal, `0x` hexadecimal, `0b`/trailing-`b` binary and leading
/// `0` octal integers, as MOF allows; CIM-XML uses plain decimal.
pub fn parse_integer(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_suffix('b').or_else(|| body.strip_suffix('B')) {
        i128::from_str_radix(b, 2).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8).ok()?
    } else {
        if !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

impl fmt::Display for CimValue {
    /// The CIM-XML text form of a scalar; arrays print `{a, b}` as MOF does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CimValue::Boolean(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            CimValue::String(s) => f.write_str(s),
            CimValue::Char16(c) => write!(f, "{c}"),
            CimValue::DateTime(d) => write!(f, "{d}"),
            CimValue::Uint8(v) => write!(f, "{v}"),
            CimValue::Sint8(v) => write!(f, "{v}"),
            CimValue::Uint16(v) => write!(f, "{v}"),
            CimValue::Sint16(v) => write!(f, "{v}"),
            CimValue::Uint32(v) => write!(f, "{v}"),
            CimValue::Sint32(v) => write!(f, "{v}"),
            CimValue::Uint64(v) => write!(f, "{v}"),
            CimValue::Sint64(v) => write!(f, "{v}"),
            CimValue::Real32(v) => write!(f, "{}", format_real(*v as f64, true)),
            CimValue::Real64(v) => write!(f, "{}", format_real(*v, false)),
            CimValue::Reference(p) => write!(f, "{p}"),
            CimValue::Instance(i) => write!(f, "instance of {}", i.class_name),
            CimValue::Array(items) => {
                f.write_str("{")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Reals as DSP0201 wants them: shortest round-trip form, with an exponent
/// or decimal point so they never read as integers; INF/NaN per XML Schema.
pub fn format_real(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "INF".into() } else { "-INF".into() };
    }
    let s = if single {
        format!("{:?}", v as f32)
    } else {
        format!("{v:?}")
    };
    s
}

macro_rules! from_scalar {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for CimValue {
            fn from(x: $t) -> Self { CimValue::$v(x) }
        })*
    };
}
from_scalar!(bool => Boolean, String => String, u8 => Uint8, i8 => Sint8, u16 => Uint16,
    i16 => Sint16, u32 => Uint32, i32 => Sint32, u64 => Uint64, i64 => Sint64,
    f32 => Real32, f64 => Real64, CimDateTime => DateTime);

impl From<&str> for CimValue {
    fn from(s: &str) -> Self {
        CimValue::String(s.to_string())
    }
}
impl From<CimInstanceName> for CimValue {
    fn from(p: CimInstanceName) -> Self {
        CimValue::Reference(Box::new(p))
    }
}
impl From<CimInstance> for CimValue {
    fn from(i: CimInstance) -> Self {
        CimValue::Instance(Box::new(i))
    }
}
impl<T: Into<CimValue>> From<Vec<T>> for CimValue {
    fn from(v: Vec<T>) -> Self {
        CimValue::Array(v.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_in_every_mof_radix() {
        assert_eq!(parse_integer("42"), Some(42));
        assert_eq!(parse_integer("-0x1F"), Some(-31));
        assert_eq!(parse_integer("101b"), Some(5));
        assert_eq!(parse_integer("017"), Some(15));
        assert_eq!(parse_integer("1e3"), None);
        assert_eq!(parse_integer("-"), None);
    }

    #[test]
    fn scalars_respect_their_range() {
        assert_eq!(
            CimValue::parse_scalar(CimType::Uint8, "255"),
            Ok(CimValue::Uint8(255))
        );
        assert!(CimValue::parse_scalar(CimType::Uint8, "256").is_err());
        assert!(CimValue::parse_scalar(CimType::Uint16, "-1").is_err());
        assert_eq!(
            CimValue::parse_scalar(CimType::Boolean, "true"),
            Ok(CimValue::Boolean(true))
        );
        assert!(CimValue::parse_scalar(CimType::Char16, "ab").is_err());
    }

    #[test]
    fn coerce_converts_literals_to_declared_types() {
        assert_eq!(
            CimValue::Sint64(7).coerce(CimType::Uint16),
            Ok(CimValue::Uint16(7))
        );
        assert!(CimValue::Sint64(-7).coerce(CimType::Uint16).is_err());
        assert_eq!(
            CimValue::Array(vec![CimValue::Sint64(2), CimValue::Sint64(3)]).coerce(CimType::Uint16),
            Ok(CimValue::Array(vec![
                CimValue::Uint16(2),
                CimValue::Uint16(3)
            ]))
        );
    }

    #[test]
    fn reals_never_print_as_integers() {
        assert_eq!(format_real(1.0, false), "1.0");
        assert_eq!(format_real(f64::INFINITY, false), "INF");
        assert_eq!(CimValue::Real32(0.1).to_string(), "0.1");
    }
}
