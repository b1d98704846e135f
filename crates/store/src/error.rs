use std::io;
use std::path::PathBuf;

/// `Result` of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong opening or using a [`Store`](crate::Store).
///
/// Messages say which path or record and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this one) holds the lock.
    #[error(
        "store at {path} is in use by another process; stop the other vine manager \
         using this state directory, or choose another one"
    )]
    Locked {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The directory or a file in it cannot be created or written.
    #[error(
        "cannot write to store at {path}: permission denied or read-only file system; \
         make it writable by the user running vine, or choose another state directory"
    )]
    NotWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Any other failure creating or opening the directory or database.
    #[error("cannot open store at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store was written by another schema version.
    #[error(
        "store at {path} has schema version {found}, this vine uses version {expected}; \
         {advice}"
    )]
    SchemaMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
        advice: &'static str,
    },
    /// Data is present but no schema version: not a vine store.
    #[error(
        "{path} holds a database without a vine schema version; it is not a vine store \
         (or predates versioning): choose an empty state directory"
    )]
    NotAStore { path: PathBuf },
    /// The schema version record itself is unreadable.
    #[error("store at {path} has an unreadable schema version {raw:?}")]
    BadSchemaVersion { path: PathBuf, raw: String },
    /// Writing ran out of space (or hit a file size limit); nothing was acknowledged.
    #[error("no space left writing {collection}/{id}; the write was not stored: free disk space")]
    NoSpace {
        collection: String,
        id: String,
        #[source]
        source: sled::Error,
    },
    /// Writing (or flushing) a record failed; nothing was acknowledged.
    #[error("writing {collection}/{id} failed; the write was not stored")]
    Write {
        collection: String,
        id: String,
        #[source]
        source: sled::Error,
    },
    /// Reading failed at the storage layer.
    #[error("reading {collection}/{id} failed")]
    Read {
        collection: String,
        id: String,
        #[source]
        source: sled::Error,
    },
    /// A stored record does not decode as the collection's type.
    #[error("record {collection}/{id} is corrupt")]
    Corrupt {
        collection: String,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    /// A stored key is not UTF-8 (ids are strings).
    #[error("collection {collection} holds a key that is not UTF-8: {key:?}")]
    BadKey { collection: String, key: Vec<u8> },
    /// A value could not be encoded (e.g. a map with non-string keys).
    #[error("cannot encode {collection}/{id} as JSON")]
    Encode {
        collection: String,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    /// [`Collection::insert_new`](crate::Collection::insert_new) found the id taken.
    #[error("{collection}/{id} already exists")]
    AlreadyExists { collection: String, id: String },
}

impl StoreError {
    /// Classify a failed write: out-of-space gets its own variant so callers
    /// (and users) can tell "disk full" from "disk broken".
    pub(crate) fn write(collection: &str, id: &str, source: sled::Error) -> Self {
        let (collection, id) = (collection.to_owned(), id.to_owned());
        if is_no_space(&source) {
            StoreError::NoSpace {
                collection,
                id,
                source,
            }
        } else {
            StoreError::Write {
                collection,
                id,
                source,
            }
        }
    }

    pub(crate) fn read(collection: &str, id: &str, source: sled::Error) -> Self {
        StoreError::Read {
            collection: collection.to_owned(),
            id: id.to_owned(),
            source,
        }
    }

    /// Whether this is [`StoreError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, StoreError::AlreadyExists { .. })
    }
}

// ENOSPC and EFBIG (a file size limit) on Linux; both mean "could not grow".
const ENOSPC: i32 = 28;
const EFBIG: i32 = 27;
const EROFS: i32 = 30;

fn is_no_space(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            // sled re-wraps OS errors, keeping only the kind; the kinds
            // StorageFull/FileTooLarge are newer than our MSRV, so match
            // their names rather than the variants.
            matches!(io.raw_os_error(), Some(ENOSPC | EFBIG))
                || matches!(
                    format!("{:?}", io.kind()).as_str(),
                    "StorageFull" | "FileTooLarge"
                )
        }
        _ => false,
    }
}

/// Whether an I/O error means "this user may not write here".
pub(crate) fn is_not_writable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(EROFS)
}
