//! Opening stores: schema versions, locks, directories we cannot write.

use std::os::unix::fs::PermissionsExt;

use vine_store::{names, OpenOptions, Store, StoreError, SCHEMA_VERSION};

#[test]
fn creates_directory_and_records_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/store");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version(), SCHEMA_VERSION);
    assert_eq!(store.path(), path);
    drop(store);
    assert_eq!(Store::open(&path).unwrap().schema_version(), SCHEMA_VERSION);
}

#[test]
fn other_schema_version_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open_with(dir.path(), &OpenOptions { schema_version: 7 }).unwrap());

    let err = Store::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::SchemaMismatch { found: 7, .. }),
        "{err:?}"
    );
    assert!(msg.contains("schema version 7"), "{msg}");
    assert!(
        msg.contains(&format!("this vine uses version {SCHEMA_VERSION}")),
        "{msg}"
    );
    assert!(msg.contains("newer vine"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");

    // And the other direction says "older".
    let older = Store::open_with(dir.path(), &OpenOptions { schema_version: 9 }).unwrap_err();
    assert!(older.to_string().contains("older vine"), "{older}");
}

#[test]
fn second_open_of_a_locked_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

#[test]
fn lock_is_released_when_the_last_handle_drops() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hosts = store.collection::<u32>(names::HOSTS).unwrap();
    drop(store);
    // The collection still holds the store open.
    assert!(Store::open(dir.path()).is_err());
    drop(hosts);
    Store::open(dir.path()).unwrap();
}

#[test]
fn path_under_a_regular_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(file.join("store")).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("plain-file/store"), "{err}");
}

#[test]
fn foreign_sled_database_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled_open(dir.path());
        db.insert("something", "else").unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
}

fn sled_open(path: &std::path::Path) -> sled::Db {
    sled::open(path).unwrap()
}

/// A directory without write permission. chmod does not bind root (or any
/// process with CAP_DAC_OVERRIDE), so the test first probes whether it can
/// still write there and asserts what is true for this process.
#[test]
fn read_only_directory_is_a_clear_error_unless_permissions_do_not_bind() {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = ro.join("probe");
    let permissions_bind = std::fs::write(&probe, b"x").is_err();
    let _ = std::fs::remove_file(&probe);

    let result = Store::open(ro.join("store"));
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    if permissions_bind {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::NotWritable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("ro/store") && msg.contains("make it writable"),
            "{msg}"
        );
    } else {
        eprintln!(
            "note: this process ignores file permissions (root?); asserting the open succeeds"
        );
        result.unwrap();
    }
}

/// A read-only existing store (files 0444, directory 0555): same rule.
#[test]
fn read_only_existing_store_is_a_clear_error_unless_permissions_do_not_bind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    drop(Store::open(&path).unwrap());
    let mut entries = vec![path.clone()];
    for e in std::fs::read_dir(&path).unwrap() {
        entries.push(e.unwrap().path());
    }
    for p in entries.iter().rev() {
        let mode = if p.is_dir() { 0o555 } else { 0o444 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let permissions_bind = std::fs::OpenOptions::new()
        .append(true)
        .open(path.join("vine.lock"))
        .is_err();
    let result = Store::open(&path);
    for p in &entries {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    if permissions_bind {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::NotWritable { .. }), "{err:?}");
    } else {
        eprintln!(
            "note: this process ignores file permissions (root?); asserting the open succeeds"
        );
        result.unwrap();
    }
}
