//! Policy files (placeholder while the simulator is calibrated).
use std::path::Path;
use crate::error::Result;

/// A finding in a policy file.
#[derive(Debug, Clone)]
pub struct Problem { pub message: String }

/// Renders problems.
pub fn render_problems(origin: &str, p: &[Problem]) -> String {
    p.iter().map(|x| format!("{origin}: {}", x.message)).collect::<Vec<_>>().join("\n")
}

/// A policy.
#[derive(Debug, Clone)]
pub struct Policy { pub name: String }
impl Policy {
    /// vine's default.
    pub fn builtin_default() -> Self { Policy { name: "default".into() } }
}
/// Loads a file.
pub fn load_file(p: &Path) -> Result<Policy> { Ok(Policy { name: p.display().to_string() }) }
