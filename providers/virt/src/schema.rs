//! The virtualization classes are written once in `schemas/virt/` with the
//! placeholder prefix `VIRT_`, and compiled with the agent's prefix.

use vine_cim::mof::{self, CompileSummary, MofError, MofSource};
use vine_cim::Repository;

/// The placeholder prefix in `schemas/virt/*.mof`.
pub const PLACEHOLDER: &str = "VIRT_";

/// Serves another source's files with `VIRT_` replaced by `<prefix>_`.
pub struct Prefixed<'a> {
    inner: &'a dyn MofSource,
    prefix: String,
}

impl<'a> Prefixed<'a> {
    pub fn new(inner: &'a dyn MofSource, prefix: &str) -> Self {
        Prefixed {
            inner,
            prefix: format!("{prefix}_"),
        }
    }
}

impl MofSource for Prefixed<'_> {
    fn read(&self, name: &str, from_file: &str) -> std::io::Result<(String, String)> {
        let (resolved, text) = self.inner.read(name, from_file)?;
        Ok((resolved, text.replace(PLACEHOLDER, &self.prefix)))
    }
}

/// Compiles `virt/index.mof` from `source` into `ns` with class prefix
/// `prefix` (the DMTF classes must already be there).
pub fn compile(
    repo: &mut Repository,
    ns: &str,
    source: &dyn MofSource,
    prefix: &str,
) -> Result<CompileSummary, MofError> {
    mof::compile(repo, ns, "virt/index.mof", &Prefixed::new(source, prefix))
}
