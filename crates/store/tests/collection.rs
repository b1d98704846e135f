//! Collection operations on a real store in a temp directory.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vine_store::{names, Change, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Host {
    name: String,
    cpus: u32,
}

fn host(name: &str, cpus: u32) -> Host {
    Host {
        name: name.into(),
        cpus,
    }
}

#[test]
fn put_get_round_trip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let hosts = store.collection::<Host>(names::HOSTS).unwrap();
        hosts.put("a", &host("a", 4)).unwrap();
        hosts.put("b", &host("b", 8)).unwrap();
        hosts.put("a", &host("a", 16)).unwrap();
        assert_eq!(hosts.get("a").unwrap(), Some(host("a", 16)));
        assert_eq!(hosts.get("missing").unwrap(), None);
    }
    let store = Store::open(dir.path()).unwrap();
    let hosts = store.collection::<Host>(names::HOSTS).unwrap();
    assert_eq!(hosts.get("a").unwrap(), Some(host("a", 16)));
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts.ids().unwrap(), vec!["a", "b"]);
}

#[test]
fn list_and_scan_prefix_are_ordered_and_scoped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let vms = store.collection::<u32>(names::VMS).unwrap();
    let pools = store.collection::<u32>(names::POOLS).unwrap();
    for (id, v) in [("h2/vm1", 3), ("h1/vm2", 2), ("h1/vm1", 1), ("h10/vm1", 4)] {
        vms.put(id, &v).unwrap();
    }
    pools.put("h1/vm9", &99).unwrap();
    let all: Vec<_> = vms.list().unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(all, vec!["h1/vm1", "h1/vm2", "h10/vm1", "h2/vm1"]);
    let h1 = vms.scan_prefix("h1/").unwrap();
    assert_eq!(
        h1,
        vec![("h1/vm1".to_string(), 1), ("h1/vm2".to_string(), 2)]
    );
}

#[test]
fn insert_new_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let hosts = store.collection::<Host>(names::HOSTS).unwrap();
    hosts.insert_new("a", &host("a", 1)).unwrap();
    let err = hosts.insert_new("a", &host("a", 2)).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(err.to_string(), "hosts/a already exists");
    assert_eq!(hosts.get("a").unwrap(), Some(host("a", 1)));
}

#[test]
fn racing_insert_new_has_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let jobs = store.collection::<usize>(names::JOBS).unwrap();
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (jobs, barrier) = (jobs.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                jobs.insert_new("create-vm-web1", &i)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(StoreError::is_already_exists));
}

#[test]
fn update_is_atomic_under_contention() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let counters = store.collection::<u64>("counters").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let counters = counters.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    counters
                        .update("n", |v| Ok::<_, StoreError>(Some(v.unwrap_or(0) + 1)))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(counters.get("n").unwrap(), Some(100));
}

#[test]
fn update_error_writes_nothing_and_none_deletes() {
    #[derive(Debug, thiserror::Error)]
    enum AppError {
        #[error("refused")]
        Refused,
        #[error(transparent)]
        Store(#[from] StoreError),
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = store.collection::<u32>("c").unwrap();
    c.put("x", &1).unwrap();
    let r = c.update("x", |_| Err::<Option<u32>, _>(AppError::Refused));
    assert!(matches!(r, Err(AppError::Refused)));
    assert_eq!(c.get("x").unwrap(), Some(1));
    let r = c.update("x", |_| Ok::<_, AppError>(None)).unwrap();
    assert_eq!(r, None);
    assert!(!c.contains("x").unwrap());
    // Creating through update works too.
    let r = c
        .update("y", |old| Ok::<_, AppError>(Some(old.unwrap_or(7))))
        .unwrap();
    assert_eq!(r, Some(7));
}

#[test]
fn delete_reports_presence() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = store.collection::<u32>(names::EVENTS).unwrap();
    c.put("e1", &1).unwrap();
    assert!(c.delete("e1").unwrap());
    assert!(!c.delete("e1").unwrap());
    assert!(c.is_empty());
}

#[test]
fn corrupt_record_is_an_error_naming_collection_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Same tree, written as another type: the bytes don't decode as Host.
    store
        .collection::<String>(names::HOSTS)
        .unwrap()
        .put("h7", &"not a host".to_string())
        .unwrap();
    let hosts = store.collection::<Host>(names::HOSTS).unwrap();
    let err = hosts.get("h7").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(err.to_string(), "record hosts/h7 is corrupt");
    assert!(hosts.list().is_err());
    // A corrupt record can still be deleted.
    assert!(hosts.delete("h7").unwrap());
    assert!(hosts.list().unwrap().is_empty());
}

#[test]
fn put_batch_stores_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = store.collection::<u32>(names::VMS).unwrap();
    let items: Vec<(String, u32)> = (0..100).map(|i| (format!("vm{i:03}"), i)).collect();
    c.put_batch(items.iter().map(|(id, v)| (id.as_str(), v)))
        .unwrap();
    assert_eq!(c.list().unwrap(), items);
}

#[test]
fn watch_sees_puts_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let c = store.collection::<Host>(names::HOSTS).unwrap();
    let mut w = c.watch("rack1/");
    c.put("rack2/x", &host("x", 1)).unwrap();
    c.put("rack1/a", &host("a", 2)).unwrap();
    c.delete("rack1/a").unwrap();
    let t = Duration::from_secs(5);
    assert_eq!(
        w.next_timeout(t).unwrap().unwrap(),
        Change {
            id: "rack1/a".into(),
            value: Some(host("a", 2))
        }
    );
    assert_eq!(
        w.next_timeout(t).unwrap().unwrap(),
        Change {
            id: "rack1/a".into(),
            value: None
        }
    );
    assert!(w.next_timeout(Duration::from_millis(50)).is_none());
}
