//! Which filters select a published indication, and what their
//! subscribers receive. Pure functions over the class repository.

use vine_cim::{CimError, CimInstance, CimResult, Repository};

use super::model::FilterRec;
use crate::interop::INTEROP_NS;
use crate::query::{self, Query, QueryLanguage};

/// The root of the indication classes.
const INDICATION_ROOT: &str = "CIM_Indication";

/// A filter with its parsed query. `query` is `None` only for a filter
/// loaded from the state file whose query no longer fits the schema; such
/// a filter selects nothing.
#[derive(Clone, Debug)]
pub struct Filter {
    pub rec: FilterRec,
    pub query: Option<Query>,
}

/// Parses and checks a filter's query against the repository: a supported
/// language (`CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED`), a query that parses,
/// source namespaces that exist, and a FROM class that is an indication
/// class with every property the query names (`CIM_ERR_INVALID_PARAMETER`).
pub fn compile(rec: &FilterRec, repo: &Repository) -> CimResult<Query> {
    let lang: QueryLanguage = rec.query_language.parse()?;
    let q = query::parse(lang, &rec.query)
        .map_err(|e| CimError::invalid_parameter(format!("Query: {e}")))?;
    for ns in rec.effective_namespaces() {
        if !repo.has_namespace(&ns) {
            return Err(CimError::invalid_parameter(format!(
                "source namespace {ns} does not exist"
            )));
        }
        let class = repo.get_class(&ns, q.class_name.as_str()).map_err(|_| {
            CimError::invalid_parameter(format!(
                "Query: class {} does not exist in {ns}",
                q.class_name
            ))
        })?;
        if !repo.is_subclass_of(&ns, class.name.as_str(), INDICATION_ROOT) {
            return Err(CimError::invalid_parameter(format!(
                "Query: {} is not an indication class",
                class.name
            )));
        }
        q.check_against(class)
            .map_err(|e| CimError::invalid_parameter(format!("Query: {e}")))?;
    }
    Ok(q)
}

/// True when `class` is `ancestor` or derives from it, looked up in the
/// source namespace and, for classes a provider did not load there, in
/// root/interop, which always holds the indication classes.
pub fn is_a(repo: &Repository, ns: &str, class: &str, ancestor: &str) -> bool {
    class.eq_ignore_ascii_case(ancestor)
        || repo.is_subclass_of(ns, class, ancestor)
        || repo.is_subclass_of(INTEROP_NS, class, ancestor)
}

/// True when `filter` selects `indication`, published from a source in
/// `ns`: the filter watches `ns`, the indication's class is the FROM class
/// or one of its subclasses, and the WHERE condition holds.
pub fn selects(filter: &Filter, ns: &str, indication: &CimInstance, repo: &Repository) -> bool {
    let Some(q) = &filter.query else {
        return false;
    };
    if !filter.rec.watches(ns) {
        return false;
    }
    let isa = |c: &str, a: &str| is_a(repo, ns, c, a);
    isa(indication.class_name.as_str(), q.class_name.as_str()) && q.matches(indication, &isa)
}

/// The indication as `filter`'s subscribers receive it: the SELECT list
/// projected, IndicationFilterName set (DSP1054), no instance path.
pub fn shape(filter: &Filter, indication: &CimInstance) -> CimInstance {
    let mut inst = match &filter.query {
        Some(q) => q.project(indication.clone()),
        None => indication.clone(),
    };
    inst.path = None;
    inst.set("IndicationFilterName", filter.rec.key.name.as_str());
    inst
}
