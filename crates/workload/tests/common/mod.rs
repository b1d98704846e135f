//! Shared by the integration tests: finds the PlanetLab tarball next to
//! the repository and extracts one day once per test process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$CARGO_MANIFEST_DIR/../../../shared/data/planetlab-5days.tar.gz`.
pub fn tarball() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/planetlab-5days.tar.gz")
}

/// Extracts `day` into a temp folder with the system `tar`; `None` (and a
/// printed reason) when the tarball or `tar` is missing.
pub fn day_dir(day: &str) -> Option<PathBuf> {
    let tgz = tarball();
    if !tgz.is_file() {
        eprintln!("SKIP: trace tarball not found at {}", tgz.display());
        return None;
    }
    let dest = std::env::temp_dir().join(format!("vine-planetlab-{}-{day}", std::process::id()));
    let dir = dest.join("planetlab").join(day);
    if dir.is_dir() {
        return Some(dir);
    }
    std::fs::create_dir_all(&dest).ok()?;
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&dest)
        .arg(format!("planetlab/{day}"))
        .status();
    match status {
        Ok(s) if s.success() && dir.is_dir() => Some(dir),
        other => {
            eprintln!(
                "SKIP: could not extract {day} from {} ({other:?})",
                tgz.display()
            );
            None
        }
    }
}
