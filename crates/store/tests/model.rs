//! Property: any sequence of puts, deletes, insert_news and reopens leaves
//! the store equal to a BTreeMap model.

use std::collections::BTreeMap;

use proptest::prelude::*;
use vine_store::Store;

#[derive(Debug, Clone)]
enum Op {
    Put(String, u32),
    InsertNew(String, u32),
    Delete(String),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    // A small key space so deletes and duplicates hit existing keys.
    let key = "[a-d]{1,2}";
    prop_oneof![
        4 => (key, any::<u32>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (key, any::<u32>()).prop_map(|(k, v)| Op::InsertNew(k, v)),
        3 => key.prop_map(Op::Delete),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_btreemap_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Some(Store::open(dir.path()).unwrap());
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        for op in ops {
            let c = store.as_ref().unwrap().collection::<u32>("model").unwrap();
            match op {
                Op::Put(k, v) => {
                    c.put(&k, &v).unwrap();
                    model.insert(k, v);
                }
                Op::InsertNew(k, v) => {
                    let r = c.insert_new(&k, &v);
                    prop_assert_eq!(r.is_ok(), !model.contains_key(&k));
                    model.entry(k).or_insert(v);
                }
                Op::Delete(k) => {
                    prop_assert_eq!(c.delete(&k).unwrap(), model.remove(&k).is_some());
                }
                Op::Reopen => {
                    drop(c);
                    drop(store.take());
                    store = Some(Store::open(dir.path()).unwrap());
                }
            }
        }
        drop(store.take());
        let store = Store::open(dir.path()).unwrap();
        let c = store.collection::<u32>("model").unwrap();
        let stored: BTreeMap<String, u32> = c.list().unwrap().into_iter().collect();
        prop_assert_eq!(stored, model);
    }
}
