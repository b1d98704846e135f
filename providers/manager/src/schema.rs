//! The manager's classes live in one MOF file under `schemas/`, compiled
//! into `root/vine` after the DMTF schema.

use vine_cim::mof::{self, CompileSummary, MofError, MofSource};
use vine_cim::Repository;

/// The file, relative to the `schemas/` directory.
pub const MOF_FILE: &str = "vine/VINE_Manager.mof";

/// Compiles [`MOF_FILE`] from `source` into `ns` (the DMTF classes must
/// already be there).
pub fn compile(
    repo: &mut Repository,
    ns: &str,
    source: &dyn MofSource,
) -> Result<CompileSummary, MofError> {
    mof::compile(repo, ns, MOF_FILE, source)
}
