//! The subscriptions file: JSON in the state directory, replaced
//! atomically (written to a temporary file, synced, renamed).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::model::Persisted;

/// Why the subscriptions file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a subscriptions file")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the file says; empty when it does not exist yet.
pub fn load(path: &Path) -> Result<Persisted, StoreError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Persisted::default()),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.into(),
                source,
            })
        }
    };
    serde_json::from_slice(&text).map_err(|source| StoreError::Parse {
        path: path.into(),
        source,
    })
}

/// Replaces the file with `state`; readers see the old or the new file,
/// never a half-written one.
pub fn save(path: &Path, state: &Persisted) -> Result<(), StoreError> {
    let werr = |source| StoreError::Write {
        path: path.into(),
        source,
    };
    let text = serde_json::to_vec_pretty(state).map_err(|e| werr(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(werr)?;
    f.write_all(&text).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(werr)?;
    Ok(())
}

/// Moves an unreadable file aside so that a fresh one does not overwrite
/// what an operator may want to recover; returns where it went.
pub fn quarantine(path: &Path) -> std::io::Result<PathBuf> {
    let aside = path.with_extension(format!("json.bad-{}", super::model::now_secs()));
    std::fs::rename(path, &aside)?;
    Ok(aside)
}
