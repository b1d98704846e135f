//! DSP0004 intrinsic data types.

use std::fmt;
use std::str::FromStr;

/// The type of a property, parameter, qualifier or method return value.
///
/// `Reference` and `Instance` are the two object-valued types: a reference
/// holds an object path, an embedded object/instance travels as a string
/// marked `EmbeddedObject` in CIM-XML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CimType {
    Boolean,
    String,
    Char16,
    DateTime,
    Uint8,
    Sint8,
    Uint16,
    Sint16,
    Uint32,
    Sint32,
    Uint64,
    Sint64,
    Real32,
    Real64,
    Reference,
    /// An embedded instance or class (`EmbeddedObject`/`EmbeddedInstance`).
    Instance,
}

impl CimType {
    /// The DSP0004/DSP0201 spelling (`uint16`, `datetime`, `reference`).
    pub fn as_str(self) -> &'static str {
        match self {
            CimType::Boolean => "boolean",
            CimType::String => "string",
            CimType::Char16 => "char16",
            CimType::DateTime => "datetime",
            CimType::Uint8 => "uint8",
            CimType::Sint8 => "sint8",
            CimType::Uint16 => "uint16",
            CimType::Sint16 => "sint16",
            CimType::Uint32 => "uint32",
            CimType::Sint32 => "sint32",
            CimType::Uint64 => "uint64",
            CimType::Sint64 => "sint64",
            CimType::Real32 => "real32",
            CimType::Real64 => "real64",
            CimType::Reference => "reference",
            CimType::Instance => "string",
        }
    }

    /// True for the eight integer types.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            CimType::Uint8
                | CimType::Sint8
                | CimType::Uint16
                | CimType::Sint16
                | CimType::Uint32
                | CimType::Sint32
                | CimType::Uint64
                | CimType::Sint64
        )
    }

    /// True for integers and reals.
    pub fn is_numeric(self) -> bool {
        self.is_integer() || matches!(self, CimType::Real32 | CimType::Real64)
    }

    /// Inclusive bounds of an integer type, as i128 so every type fits.
    pub fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            CimType::Uint8 => (0, u8::MAX as i128),
            CimType::Sint8 => (i8::MIN as i128, i8::MAX as i128),
            CimType::Uint16 => (0, u16::MAX as i128),
            CimType::Sint16 => (i16::MIN as i128, i16::MAX as i128),
            CimType::Uint32 => (0, u32::MAX as i128),
            CimType::Sint32 => (i32::MIN as i128, i32::MAX as i128),
            CimType::Uint64 => (0, u64::MAX as i128),
            CimType::Sint64 => (i64::MIN as i128, i64::MAX as i128),
            _ => return None,
        })
    }
}

impl fmt::Display for CimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A type name that is not one of DSP0004's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CIM type `{0}`")]
pub struct UnknownType(pub String);

impl FromStr for CimType {
    type Err = UnknownType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "boolean" => CimType::Boolean,
            "string" => CimType::String,
            "char16" => CimType::Char16,
            "datetime" => CimType::DateTime,
            "uint8" => CimType::Uint8,
            "sint8" => CimType::Sint8,
            "uint16" => CimType::Uint16,
            "sint16" => CimType::Sint16,
            "uint32" => CimType::Uint32,
            "sint32" => CimType::Sint32,
            "uint64" => CimType::Uint64,
            "sint64" => CimType::Sint64,
            "real32" => CimType::Real32,
            "real64" => CimType::Real64,
            "reference" | "ref" => CimType::Reference,
            _ => return Err(UnknownType(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for t in [
            CimType::Boolean,
            CimType::String,
            CimType::Char16,
            CimType::DateTime,
            CimType::Uint8,
            CimType::Sint8,
            CimType::Uint16,
            CimType::Sint16,
            CimType::Uint32,
            CimType::Sint32,
            CimType::Uint64,
            CimType::Sint64,
            CimType::Real32,
            CimType::Real64,
            CimType::Reference,
        ] {
            assert_eq!(t.as_str().parse::<CimType>(), Ok(t));
        }
        assert!("int".parse::<CimType>().is_err());
    }

    #[test]
    fn integer_ranges_match_the_rust_types() {
        assert_eq!(CimType::Uint8.integer_range(), Some((0, 255)));
        assert_eq!(
            CimType::Sint64.integer_range().map(|r| r.0),
            Some(i64::MIN as i128)
        );
        assert_eq!(CimType::String.integer_range(), None);
    }
}
