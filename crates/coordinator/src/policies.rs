//! Workload policies as the manager keeps them: every `apply` stores a new
//! version (validated first — a bad file never replaces a good one), the
//! newest version of each policy is the active one, and a rollback applies
//! an old version's text again as a new version, so history only grows.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use vine_store::{names, Collection, Store, StoreError};
use vine_workload::policy::{self, Policy, Problem};
use vine_workload::WorkloadError;

/// One stored version of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// The policy's `name` from its file.
    pub name: String,
    /// 1, 2, … per name.
    pub version: u32,
    /// The TOML as applied.
    pub text: String,
    /// Unix milliseconds.
    pub applied_at: u64,
    pub applied_by: Option<String>,
    /// "applied", or "rollback to version N".
    pub note: String,
}

/// Why a policy was not stored.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The file has problems; each has a line, column and what to write.
    #[error("{} problem(s) in policy {origin}", problems.len())]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
    #[error("no policy named {0}; `vine policy ls` lists them")]
    NoPolicy(String),
    #[error("policy {name} has no version {version}; `vine policy history {name}` lists them")]
    NoVersion { name: String, version: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, PolicyError>;

/// Checks a policy text without storing it: the problems, empty when valid.
pub fn check(text: &str, origin: &str) -> std::result::Result<Policy, Vec<Problem>> {
    match policy::parse_str(text, origin) {
        Ok(p) => Ok(p),
        Err(WorkloadError::InvalidPolicy { problems, .. }) => Err(problems),
        Err(other) => Err(vec![Problem {
            line: 0,
            column: 0,
            message: other.to_string(),
            help: None,
        }]),
    }
}

/// The stored policies.
pub struct Policies {
    coll: Collection<PolicyVersion>,
}

fn key(name: &str, version: u32) -> String {
    // Zero-padded so a prefix scan returns versions in order.
    format!("{name}/{version:08}")
}

impl Policies {
    pub fn open(store: &Store) -> Result<Self> {
        Ok(Policies {
            coll: store.collection(names::POLICIES)?,
        })
    }

    /// Validates `text` and stores it as the next version of the policy it
    /// names. Returns the stored version.
    pub fn apply(&self, text: &str, origin: &str, by: Option<&str>) -> Result<PolicyVersion> {
        let p = check(text, origin).map_err(|problems| PolicyError::Invalid {
            origin: origin.into(),
            problems,
        })?;
        self.store_version(&p.name, text, by, "applied".into())
    }

    fn store_version(
        &self,
        name: &str,
        text: &str,
        by: Option<&str>,
        note: String,
    ) -> Result<PolicyVersion> {
        // Versions are claimed with insert_new, so two applies at once get
        // distinct numbers rather than one overwriting the other.
        loop {
            let next = self.history(name)?.last().map_or(1, |v| v.version + 1);
            let rec = PolicyVersion {
                name: name.into(),
                version: next,
                text: text.into(),
                applied_at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
                applied_by: by.map(str::to_string),
                note: note.clone(),
            };
            match self.coll.insert_new(&key(name, next), &rec) {
                Ok(()) => return Ok(rec),
                Err(e) if e.is_already_exists() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Every version of `name`, oldest first (empty if none).
    pub fn history(&self, name: &str) -> Result<Vec<PolicyVersion>> {
        Ok(self
            .coll
            .scan_prefix(&format!("{name}/"))?
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| v.name == name)
            .collect())
    }

    /// The active (newest) version of `name`.
    pub fn active(&self, name: &str) -> Result<PolicyVersion> {
        self.history(name)?
            .pop()
            .ok_or_else(|| PolicyError::NoPolicy(name.into()))
    }

    /// The active version of every policy, by name.
    pub fn list(&self) -> Result<Vec<PolicyVersion>> {
        let mut out: Vec<PolicyVersion> = Vec::new();
        for (_, v) in self.coll.list()? {
            match out.last_mut() {
                Some(last) if last.name == v.name => *last = v,
                _ => out.push(v),
            }
        }
        Ok(out)
    }

    /// One version of `name`.
    pub fn version(&self, name: &str, version: u32) -> Result<PolicyVersion> {
        self.coll
            .get(&key(name, version))?
            .ok_or_else(|| match self.history(name) {
                Ok(h) if h.is_empty() => PolicyError::NoPolicy(name.into()),
                _ => PolicyError::NoVersion {
                    name: name.into(),
                    version,
                },
            })
    }

    /// Makes version `version` of `name` active again, as a new version.
    pub fn rollback(&self, name: &str, version: u32, by: Option<&str>) -> Result<PolicyVersion> {
        let old = self.version(name, version)?;
        self.store_version(
            name,
            &old.text,
            by,
            format!("rollback to version {version}"),
        )
    }

    /// The active policy of `name`, parsed. A stored text that no longer
    /// validates (the checker grew stricter) is reported, not used.
    pub fn active_policy(&self, name: &str) -> Result<Policy> {
        let v = self.active(name)?;
        check(&v.text, &format!("{name} v{}", v.version)).map_err(|problems| PolicyError::Invalid {
            origin: format!("{name} v{}", v.version),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, upper: f64) -> String {
        policy::DEFAULT_POLICY_TOML
            .replacen("name = \"default\"", &format!("name = \"{name}\""), 1)
            .replacen("upper = 0.95", &format!("upper = {upper}"), 1)
    }

    #[test]
    fn versions_grow_and_rollback_is_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let p = Policies::open(&Store::open(dir.path()).unwrap()).unwrap();
        let v1 = p
            .apply(&text("web", 0.8), "web.toml", Some("admin"))
            .unwrap();
        assert_eq!((v1.name.as_str(), v1.version), ("web", 1));
        let v2 = p.apply(&text("web", 0.7), "web.toml", None).unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(p.active("web").unwrap().text, v2.text);
        let v3 = p.rollback("web", 1, Some("admin")).unwrap();
        assert_eq!(v3.version, 3);
        assert_eq!(v3.text, v1.text);
        assert_eq!(v3.note, "rollback to version 1");
        assert_eq!(p.history("web").unwrap().len(), 3);
        p.apply(&text("batch", 0.9), "b.toml", None).unwrap();
        let names: Vec<String> = p.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["batch", "web"]);
        assert!(matches!(
            p.rollback("web", 9, None),
            Err(PolicyError::NoVersion { version: 9, .. })
        ));
        assert!(matches!(p.active("nope"), Err(PolicyError::NoPolicy(_))));
    }

    #[test]
    fn a_bad_file_is_refused_and_the_last_good_version_stays() {
        let dir = tempfile::tempdir().unwrap();
        let p = Policies::open(&Store::open(dir.path()).unwrap()).unwrap();
        p.apply(&text("web", 0.8), "web.toml", None).unwrap();
        // lower above upper: contradictory.
        let bad = text("web", 0.8).replacen("lower = 0.6", "lower = 0.99", 1);
        match p.apply(&bad, "web.toml", None) {
            Err(PolicyError::Invalid { problems, .. }) => {
                assert!(!problems.is_empty());
                assert!(problems.iter().any(|x| x.line > 0), "{problems:?}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(p.history("web").unwrap().len(), 1);
        assert_eq!(p.active_policy("web").unwrap().name, "web");
    }
}
