//! The manager's classes live in MOF files under `schemas/vine/`, compiled
//! into `root/vine` after the DMTF schema: the data centre, hosts, pools,
//! virtual servers and jobs, then the workload policies.

use vine_cim::mof::{self, CompileSummary, MofError, MofSource};
use vine_cim::Repository;

/// The data-centre classes, relative to the `schemas/` directory.
pub const MOF_FILE: &str = "vine/VINE_Manager.mof";
/// The policy classes (`VINE_PolicyRule` and its associations).
pub const POLICY_MOF_FILE: &str = "vine/VINE_Policy.mof";

/// Compiles [`MOF_FILE`] then [`POLICY_MOF_FILE`] from `source` into `ns`
/// (the DMTF classes must already be there). The summary covers both.
pub fn compile(
    repo: &mut Repository,
    ns: &str,
    source: &dyn MofSource,
) -> Result<CompileSummary, MofError> {
    let mut sum = mof::compile(repo, ns, MOF_FILE, source)?;
    let policy = mof::compile(repo, ns, POLICY_MOF_FILE, source)?;
    sum.classes += policy.classes;
    sum.qualifier_decls += policy.qualifier_decls;
    sum.instances += policy.instances;
    sum.warnings.extend(policy.warnings);
    Ok(sum)
}
