//! The class repository every vine server starts from: the MOF under
//! `schemas/`, embedded at build time, or read from `--schemas DIR`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use vine_cim::mof::{self, FsSource, MofSource};
use vine_cim::Repository;

include!(concat!(env!("OUT_DIR"), "/schema_files.rs"));

/// Serves the embedded files to the MOF compiler.
struct Embedded;

impl MofSource for Embedded {
    fn read(&self, name: &str, from_file: &str) -> std::io::Result<(String, String)> {
        // Includes are relative to the including file, like a filesystem.
        let base = Path::new(from_file).parent().unwrap_or(Path::new(""));
        let wanted = normalize(&base.join(name));
        let direct = normalize(Path::new(name));
        SCHEMA_FILES
            .iter()
            .find(|(p, _)| *p == wanted || *p == direct)
            .map(|(p, text)| (p.to_string(), text.to_string()))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{name} is not an embedded schema file"),
                )
            })
    }
}

fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// The top-level files, compiled in this order into every namespace.
const ROOTS: &[&str] = &["qualifiers.mof", "dmtf/index.mof"];

/// Builds a repository holding the DMTF schema in each of `namespaces`, and
/// the `vine/*.mof` classes where `with_vine` says so.
pub fn load(
    namespaces: &[&str],
    vine_classes_in: &[&str],
    dir: Option<&Path>,
) -> Result<Repository> {
    let fs;
    let source: &dyn MofSource = match dir {
        Some(d) => {
            fs = FsSource {
                search_path: vec![PathBuf::from(d)],
            };
            &fs
        }
        None => &Embedded,
    };
    let vine_files: Vec<String> = match dir {
        Some(d) => {
            let mut v: Vec<String> = std::fs::read_dir(d.join("vine"))
                .with_context(|| format!("reading {}", d.join("vine").display()))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "mof"))
                .filter_map(|p| {
                    p.strip_prefix(d)
                        .ok()
                        .map(|r| r.to_string_lossy().into_owned())
                })
                .collect();
            v.sort();
            v
        }
        None => SCHEMA_FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("vine/"))
            .collect(),
    };
    let mut repo = Repository::new();
    let Some((first, rest)) = namespaces.split_first() else {
        return Ok(repo);
    };
    repo.create_namespace(first);
    for root in ROOTS {
        mof::compile(&mut repo, first, root, source)
            .with_context(|| format!("compiling schema {root}"))?;
    }
    for ns in rest {
        repo.copy_namespace(first, ns)
            .with_context(|| format!("creating namespace {ns}"))?;
    }
    for ns in vine_classes_in {
        if !repo.has_namespace(ns) {
            repo.copy_namespace(first, ns)
                .with_context(|| format!("creating namespace {ns}"))?;
        }
        for f in &vine_files {
            mof::compile(&mut repo, ns, f, source)
                .with_context(|| format!("compiling schema {f}"))?;
        }
    }
    Ok(repo)
}

/// Compiles `schemas/virt` (the virtualization classes, `VIRT_` replaced by
/// `prefix`) into `ns`, which must already hold the DMTF schema.
pub fn compile_virt(
    repo: &mut Repository,
    ns: &str,
    prefix: &str,
    dir: Option<&Path>,
) -> Result<()> {
    let fs;
    let source: &dyn MofSource = match dir {
        Some(d) => {
            fs = FsSource {
                search_path: vec![PathBuf::from(d)],
            };
            &fs
        }
        None => &Embedded,
    };
    vine_providers_virt::schema::compile(repo, ns, source, prefix)
        .with_context(|| format!("compiling schemas/virt with prefix {prefix}"))?;
    Ok(())
}

/// Compiles the manager's classes (`schemas/vine/VINE_Manager.mof`) into
/// `ns`, which must already hold the DMTF schema.
pub fn compile_manager(repo: &mut Repository, ns: &str, dir: Option<&Path>) -> Result<()> {
    let fs;
    let source: &dyn MofSource = match dir {
        Some(d) => {
            fs = FsSource {
                search_path: vec![PathBuf::from(d)],
            };
            &fs
        }
        None => &Embedded,
    };
    vine_providers_manager::schema::compile(repo, ns, source)
        .with_context(|| format!("compiling {}", vine_providers_manager::schema::MOF_FILE))?;
    Ok(())
}
