//! The CIM data model (DSP0004) in Rust shape: names, types, values,
//! qualifiers, classes, instances and object paths, plus the MOF compiler
//! and the class repository that the WBEM server loads from `schemas/`.
//!
//! Start with [`CimInstance`], [`CimInstanceName`] and [`Repository`]. This
//! crate does no network I/O; the MOF loader reads files only through the
//! resolver the caller gives it.

/// Class declarations.
pub mod class;
/// Point-in-time and interval datetimes.
pub mod datetime;
/// CIM status codes and the operation error.
pub mod error;
/// Instances.
pub mod instance;
/// The MOF compiler and printer.
pub mod mof;
/// Case-insensitive names and namespace helpers.
pub mod name;
/// Class and instance paths, their text form and canonical form.
pub mod path;
/// Properties, methods, parameters and parameter values.
pub mod property;
/// Qualifiers, flavors and qualifier declarations.
pub mod qualifier;
/// The class repository: namespaces, resolved classes, qualifier
/// declarations and static instances.
pub mod repository;
/// Intrinsic data types.
pub mod types;
/// Typed values.
pub mod value;

pub use class::CimClass;
pub use datetime::CimDateTime;
pub use error::{CimError, CimResult, CimStatus};
pub use instance::CimInstance;
pub use name::CimName;
pub use path::{CimClassName, CimInstanceName, PathError};
pub use property::{CimMethod, CimParamValue, CimParameter, CimProperty};
pub use qualifier::{CimQualifier, Flavor, QualifierDecl, Scopes};
pub use repository::Repository;
pub use types::CimType;
pub use value::CimValue;
