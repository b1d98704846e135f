use std::fs::{self, File, OpenOptions as FileOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs2::FileExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::collection::Collection;
use crate::error::{is_not_writable, Result, StoreError};

/// The schema version this build writes and accepts. Bump it when a record
/// type changes incompatibly (and add a migration, or the refusal message).
pub const SCHEMA_VERSION: u32 = 1;

/// Key of the schema version in sled's default tree.
const SCHEMA_KEY: &[u8] = b"meta/schema_version";
/// Our own lock file beside sled's files.
const LOCK_FILE: &str = "vine.lock";
/// How long to wait for sled's lock after taking ours (see `open_sled`).
const SLED_LOCK_WAIT: Duration = Duration::from_secs(5);
/// sled 0.34's log file inside the directory.
const SLED_LOG_FILE: &str = "db";

/// How to open a store. [`Store::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The schema version to create with and to insist on.
    pub schema_version: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            schema_version: SCHEMA_VERSION,
        }
    }
}

/// An open store: one sled database in one directory, locked against other
/// processes for as long as this value or any [`Collection`] from it lives.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    path: PathBuf,
    schema_version: u32,
    // sled's log file, for the fdatasync in `flush` (see there).
    db_file: File,
    // Held for its lock; released when the last handle drops.
    _lock: File,
}

impl Inner {
    /// Make every write so far durable. sled's own flush ends in
    /// `sync_file_range` on Linux, which neither flushes the drive's cache
    /// nor the file's size, so a power cut could still lose an
    /// "acknowledged" record; the fdatasync on the log file closes that.
    pub(crate) fn flush(&self) -> Result<(), sled::Error> {
        self.db.flush()?;
        self.db_file.sync_data()?;
        Ok(())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("schema_version", &self.inner.schema_version)
            .finish()
    }
}

impl Store {
    /// Open the store in `dir`, creating it (and the directory) if needed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, &OpenOptions::default())
    }

    /// Open with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, options: &OpenOptions) -> Result<Store> {
        let path = dir.as_ref().to_path_buf();
        fs::create_dir_all(&path).map_err(|e| open_io_error(&path, e))?;
        let lock = take_lock(&path)?;
        let db = open_sled(&path)?;
        let db_file = File::open(path.join(SLED_LOG_FILE)).map_err(|e| open_io_error(&path, e))?;
        check_schema(&db, &db_file, &path, options.schema_version)?;
        tracing::debug!(path = %path.display(), schema = options.schema_version, "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                path,
                schema_version: options.schema_version,
                db_file,
                _lock: lock,
            }),
        })
    }

    /// The typed collection `name` (see [`crate::names`]), created on first use.
    pub fn collection<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<Collection<T>> {
        let tree = self
            .inner
            .db
            .open_tree(name)
            .map_err(|e| StoreError::read(name, "", e))?;
        Ok(Collection::new(self.inner.clone(), tree, name))
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> u32 {
        self.inner.schema_version
    }

    /// Bytes the database takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        self.inner
            .db
            .size_on_disk()
            .map_err(|e| StoreError::read("", "", e))
    }
}

fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = FileOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| open_io_error(dir, e))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => Err(StoreError::Locked {
            path: dir.to_path_buf(),
            source: e,
        }),
        Err(e) => Err(open_io_error(dir, e)),
    }
}

/// Open sled, waiting briefly if its own lock is still held. We hold our
/// lock file, so no other process has the store; sled's lock can only be a
/// store this process just dropped whose background flusher thread has not
/// let go of the file yet.
fn open_sled(path: &Path) -> Result<sled::Db> {
    let deadline = Instant::now() + SLED_LOCK_WAIT;
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return Ok(db),
            Err(e) => {
                let err = open_sled_error(path, e);
                if !matches!(err, StoreError::Locked { .. }) || Instant::now() >= deadline {
                    return Err(err);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn open_io_error(path: &Path, e: io::Error) -> StoreError {
    if is_not_writable(&e) {
        StoreError::NotWritable {
            path: path.to_path_buf(),
            source: e,
        }
    } else {
        StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        }
    }
}

fn open_sled_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if is_not_writable(&io) => StoreError::NotWritable {
            path: path.to_path_buf(),
            source: io,
        },
        // sled's own lock: only reached if something opened the directory
        // with sled directly, bypassing our lock file.
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                path: path.to_path_buf(),
                source: io,
            }
        }
        other => StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(other),
        },
    }
}

fn check_schema(db: &sled::Db, db_file: &File, path: &Path, expected: u32) -> Result<()> {
    let stored = db.get(SCHEMA_KEY).map_err(|e| open_sled_error(path, e))?;
    match stored {
        Some(raw) => {
            let text = String::from_utf8_lossy(&raw).into_owned();
            let found: u32 = text
                .trim()
                .parse()
                .map_err(|_| StoreError::BadSchemaVersion {
                    path: path.to_path_buf(),
                    raw: text.clone(),
                })?;
            if found == expected {
                return Ok(());
            }
            let advice = if found > expected {
                "it was written by a newer vine: run that version, or start this one with \
                 an empty state directory"
            } else {
                "it was written by an older vine and no migration to this version exists: \
                 run the older vine, or move the directory aside and start empty"
            };
            Err(StoreError::SchemaMismatch {
                path: path.to_path_buf(),
                found,
                expected,
                advice,
            })
        }
        None => {
            // sled always has its default tree; anything more means data.
            let has_data = db.tree_names().len() > 1 || !db.is_empty();
            if has_data {
                return Err(StoreError::NotAStore {
                    path: path.to_path_buf(),
                });
            }
            db.insert(SCHEMA_KEY, expected.to_string().as_bytes())
                .and_then(|_| db.flush())
                .and_then(|_| db_file.sync_data().map_err(sled::Error::from))
                .map_err(|e| StoreError::write("meta", "schema_version", e))?;
            Ok(())
        }
    }
}
