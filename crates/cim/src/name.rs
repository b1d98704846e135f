//! CIM names: case-insensitive for comparison, case-preserving for display
//! (DSP0004 §5.1: element names compare without regard to case).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A class, property, method, parameter, qualifier or key name.
#[derive(Clone, Default)]
pub struct CimName(String);

impl CimName {
    /// Wraps `s` as a name; the spelling is kept for output.
    pub fn new(s: impl Into<String>) -> Self {
        CimName(s.into())
    }

    /// The name as it was spelled.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for comparison and hashing.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// True when `other` names the same element.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    /// True when this is a legal DSP0004 identifier: a letter or `_`
    /// followed by letters, digits and `_`.
    pub fn is_valid(&self) -> bool {
        let mut chars = self.0.chars();
        match chars.next() {
            Some(c) if c.is_alphabetic() || c == '_' => {}
            _ => return false,
        }
        chars.all(|c| c.is_alphanumeric() || c == '_')
    }
}

impl PartialEq for CimName {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for CimName {}

impl PartialEq<str> for CimName {
    fn eq(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}
impl PartialEq<&str> for CimName {
    fn eq(&self, other: &&str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl Hash for CimName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl Ord for CimName {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = self.0.bytes().map(|b| b.to_ascii_lowercase());
        let b = other.0.bytes().map(|b| b.to_ascii_lowercase());
        a.cmp(b)
    }
}
impl PartialOrd for CimName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for CimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for CimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&str> for CimName {
    fn from(s: &str) -> Self {
        CimName(s.to_string())
    }
}
impl From<String> for CimName {
    fn from(s: String) -> Self {
        CimName(s)
    }
}
impl From<&String> for CimName {
    fn from(s: &String) -> Self {
        CimName(s.clone())
    }
}
impl Borrow<str> for CimName {
    // Only used for display-oriented lookups; maps keyed by CimName use
    // CimName itself so that the case-insensitive Hash applies.
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Case-insensitive comparison of a namespace name (`root/cimv2`), ignoring
/// leading and trailing slashes, which clients are inconsistent about.
pub fn namespace_eq(a: &str, b: &str) -> bool {
    a.trim_matches('/')
        .eq_ignore_ascii_case(b.trim_matches('/'))
}

/// The canonical spelling vine uses for a namespace: no surrounding slashes.
pub fn normalize_namespace(ns: &str) -> String {
    ns.trim_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_compare_without_case_but_keep_spelling() {
        let a = CimName::new("CIM_ComputerSystem");
        let b = CimName::new("cim_computersystem");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "CIM_ComputerSystem");
        let set: HashSet<CimName> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn identifiers_are_validated() {
        assert!(CimName::new("KVM_HostSystem").is_valid());
        assert!(CimName::new("_x1").is_valid());
        assert!(!CimName::new("1abc").is_valid());
        assert!(!CimName::new("a-b").is_valid());
        assert!(!CimName::new("").is_valid());
    }

    #[test]
    fn namespaces_ignore_slashes_and_case() {
        assert!(namespace_eq("/root/Interop", "root/interop"));
        assert!(!namespace_eq("root/virt", "root/vine"));
    }
}
