//! The MOF compiler (DSP0004 ANNEX A): reads MOF text — qualifier
//! declarations, classes, associations, indications, instances with
//! aliases, and the `include`/`namespace`/`locale` pragmas — and loads it
//! into a [`Repository`].
//!
//! Steps, per file:
//! 1. [`lexer`] turns text into tokens (comments skipped, escapes decoded);
//! 2. [`parser`] turns tokens into one untyped production at a time;
//! 3. [`compile`] types every value against the qualifier declaration or
//!    class it belongs to and adds the result to the repository, following
//!    `#pragma include` through a [`MofSource`].
//!
//! A compile either succeeds as a whole or leaves the repository untouched.
//! [`print`] writes classes, qualifier declarations and instances back as
//! MOF.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::repository::Repository;

/// The syntax tree of one production.
mod ast;
/// Typing productions and loading them into the repository.
mod compile;
/// MOF tokens.
mod lexer;
/// MOF grammar.
mod parser;
/// Classes, qualifier declarations and instances as MOF text.
pub mod print;
/// Typing literals and qualifier lists against their declarations.
mod typing;

pub use print::{class_to_mof, instance_to_mof, qualifier_decl_to_mof};

/// A compile error at a position in a MOF file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct MofError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl MofError {
    pub(crate) fn new(file: &str, line: u32, column: u32, message: impl Into<String>) -> Self {
        MofError {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// What a compile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileSummary {
    pub classes: usize,
    pub qualifier_decls: usize,
    pub instances: usize,
    /// `file:line:col: message` for things skipped (unknown pragmas).
    pub warnings: Vec<String>,
}

/// Where MOF text comes from: resolves a file name (as written in
/// `#pragma include`, relative to the including file) and reads it.
pub trait MofSource {
    /// Returns the resolved name (used in messages and for nested
    /// includes) and the text. `from_file` is the resolved name of the
    /// including file, or empty for the top-level file.
    fn read(&self, name: &str, from_file: &str) -> Result<(String, String), io::Error>;
}

/// Reads MOF from the file system: relative to the including file first,
/// then in each directory of `search_path`.
#[derive(Debug, Clone, Default)]
pub struct FsSource {
    pub search_path: Vec<PathBuf>,
}

impl FsSource {
    /// A source that finds top-level files (and includes not found beside
    /// their includer) in `root`.
    pub fn new(root: impl AsRef<Path>) -> Self {
        FsSource {
            search_path: vec![root.as_ref().to_path_buf()],
        }
    }

    /// A source searching each of `search_path` in turn.
    pub fn with_search_path(search_path: Vec<PathBuf>) -> Self {
        FsSource { search_path }
    }
}

impl MofSource for FsSource {
    fn read(&self, name: &str, from_file: &str) -> Result<(String, String), io::Error> {
        let mut candidates = Vec::new();
        let path = Path::new(name);
        if path.is_absolute() {
            candidates.push(path.to_path_buf());
        } else {
            match Path::new(from_file).parent() {
                Some(dir) if !from_file.is_empty() => candidates.push(dir.join(name)),
                _ => candidates.push(path.to_path_buf()),
            }
            candidates.extend(self.search_path.iter().map(|d| d.join(name)));
        }
        for c in &candidates {
            if c.is_file() {
                let text = std::fs::read_to_string(c)?;
                // The canonical path makes `a/../b.mof` and `b.mof` one file,
                // which include-cycle detection relies on.
                let resolved = std::fs::canonicalize(c).unwrap_or_else(|_| c.clone());
                return Ok((resolved.display().to_string(), text));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "`{name}` not found (looked at {})",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

/// MOF files held in memory, by name; includes are looked up by the name
/// as written. For tests and embedded schemas.
#[derive(Debug, Clone, Default)]
pub struct MemSource {
    pub files: HashMap<String, String>,
}

impl MemSource {
    /// A source with the given `(name, text)` files.
    pub fn new<N: Into<String>, T: Into<String>>(files: impl IntoIterator<Item = (N, T)>) -> Self {
        MemSource {
            files: files
                .into_iter()
                .map(|(n, t)| (n.into(), t.into()))
                .collect(),
        }
    }
}

impl MofSource for MemSource {
    fn read(&self, name: &str, _from_file: &str) -> Result<(String, String), io::Error> {
        self.files
            .get(name)
            .map(|t| (name.to_string(), t.clone()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("`{name}` not found")))
    }
}

/// Compiles `file` (read through `source`) into `repo`, starting in
/// `default_namespace` (created if needed). On error `repo` is unchanged.
pub fn compile(
    repo: &mut Repository,
    default_namespace: &str,
    file: &str,
    source: &dyn MofSource,
) -> Result<CompileSummary, MofError> {
    let mut work = repo.clone();
    let summary =
        compile::Compiler::new(&mut work, default_namespace, Some(source)).run_file(file)?;
    *repo = work;
    Ok(summary)
}

/// Compiles MOF `text` (named `file_name` in messages) into `repo`;
/// `#pragma include` is an error here. On error `repo` is unchanged.
pub fn compile_str(
    repo: &mut Repository,
    default_namespace: &str,
    file_name: &str,
    text: &str,
) -> Result<CompileSummary, MofError> {
    let mut work = repo.clone();
    let summary =
        compile::Compiler::new(&mut work, default_namespace, None).run_text(file_name, text)?;
    *repo = work;
    Ok(summary)
}
