use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::store::Inner;
use crate::watch::Watch;

/// A durable map from string ids to records of type `T`, stored as JSON in
/// one sled tree. Cheap to clone. Every write method flushes before it
/// returns `Ok`.
pub struct Collection<T> {
    // Keeps the database and its lock alive as long as the collection.
    inner: Arc<Inner>,
    tree: sled::Tree,
    name: Arc<str>,
    _record: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            inner: self.inner.clone(),
            tree: self.tree.clone(),
            name: self.name.clone(),
            _record: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    pub(crate) fn new(inner: Arc<Inner>, tree: sled::Tree, name: &str) -> Self {
        Collection {
            inner,
            tree,
            name: name.into(),
            _record: PhantomData,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The record `id`, if present.
    pub fn get(&self, id: &str) -> Result<Option<T>> {
        let raw = self
            .tree
            .get(id)
            .map_err(|e| StoreError::read(&self.name, id, e))?;
        raw.map(|bytes| self.decode(id, &bytes)).transpose()
    }

    /// Whether `id` is present (without decoding it).
    pub fn contains(&self, id: &str) -> Result<bool> {
        self.tree
            .contains_key(id)
            .map_err(|e| StoreError::read(&self.name, id, e))
    }

    /// Store `value` under `id`, replacing any previous record; flushed.
    pub fn put(&self, id: &str, value: &T) -> Result<()> {
        let bytes = self.encode(id, value)?;
        self.tree
            .insert(id, bytes)
            .map_err(|e| StoreError::write(&self.name, id, e))?;
        self.flush(id)
    }

    /// Store many records in one atomic batch with one flush.
    pub fn put_batch<'a, I>(&self, items: I) -> Result<()>
    where
        I: IntoIterator<Item = (&'a str, &'a T)>,
        T: 'a,
    {
        let mut batch = sled::Batch::default();
        let mut last = String::new();
        for (id, value) in items {
            batch.insert(id, self.encode(id, value)?);
            last = id.to_owned();
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| StoreError::write(&self.name, &last, e))?;
        self.flush(&last)
    }

    /// Store `value` under `id` only if `id` is absent (compare-and-swap);
    /// otherwise [`StoreError::AlreadyExists`]. Flushed.
    pub fn insert_new(&self, id: &str, value: &T) -> Result<()> {
        let bytes = self.encode(id, value)?;
        let swapped = self
            .tree
            .compare_and_swap(id, None as Option<&[u8]>, Some(bytes))
            .map_err(|e| StoreError::write(&self.name, id, e))?;
        if swapped.is_err() {
            return Err(StoreError::AlreadyExists {
                collection: self.name.to_string(),
                id: id.to_owned(),
            });
        }
        self.flush(id)
    }

    /// Atomic read-modify-write of `id`. `f` sees the current record (or
    /// `None`) and returns the new one (`None` deletes). If another writer
    /// changes the record meanwhile, `f` is called again with the new value,
    /// so it must be free of side effects. An `Err` from `f` aborts without
    /// writing. Returns what was stored; flushed.
    pub fn update<F, E>(&self, id: &str, mut f: F) -> Result<Option<T>, E>
    where
        F: FnMut(Option<T>) -> Result<Option<T>, E>,
        E: From<StoreError>,
    {
        let mut current = self
            .tree
            .get(id)
            .map_err(|e| StoreError::read(&self.name, id, e))?;
        loop {
            let decoded = match &current {
                Some(bytes) => Some(self.decode(id, bytes)?),
                None => None,
            };
            let next = f(decoded)?;
            let next_bytes = match &next {
                Some(value) => Some(self.encode(id, value)?),
                None => None,
            };
            let swapped = self
                .tree
                .compare_and_swap(id, current.as_ref(), next_bytes)
                .map_err(|e| StoreError::write(&self.name, id, e))?;
            match swapped {
                Ok(()) => {
                    self.flush(id)?;
                    return Ok(next);
                }
                Err(conflict) => current = conflict.current,
            }
        }
    }

    /// Remove `id`; returns whether it was present. Flushed. Works on
    /// corrupt records too (nothing is decoded).
    pub fn delete(&self, id: &str) -> Result<bool> {
        let old = self
            .tree
            .remove(id)
            .map_err(|e| StoreError::write(&self.name, id, e))?;
        self.flush(id)?;
        Ok(old.is_some())
    }

    /// Every record, ordered by id.
    pub fn list(&self) -> Result<Vec<(String, T)>> {
        self.collect(self.tree.iter())
    }

    /// Every id, ordered (nothing is decoded).
    pub fn ids(&self) -> Result<Vec<String>> {
        self.tree
            .iter()
            .keys()
            .map(|key| {
                let key = key.map_err(|e| StoreError::read(&self.name, "", e))?;
                self.key_str(&key)
            })
            .collect()
    }

    /// Records whose id starts with `prefix`, ordered by id.
    pub fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        self.collect(self.tree.scan_prefix(prefix))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether the collection is empty.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Subscribe to changes of records whose id starts with `prefix` (`""`
    /// for all). Only changes made after this call are seen.
    ///
    /// Drain it promptly or drop it: sled queues at most 1,024 events per
    /// subscriber and then **blocks the writers** until it is read.
    pub fn watch(&self, prefix: &str) -> Watch<T> {
        Watch::new(self.tree.watch_prefix(prefix), self.name.clone())
    }

    fn collect(&self, iter: sled::Iter) -> Result<Vec<(String, T)>> {
        iter.map(|entry| {
            let (key, value) = entry.map_err(|e| StoreError::read(&self.name, "", e))?;
            let id = self.key_str(&key)?;
            let record = self.decode(&id, &value)?;
            Ok((id, record))
        })
        .collect()
    }

    fn flush(&self, id: &str) -> Result<()> {
        self.inner
            .flush()
            .map_err(|e| StoreError::write(&self.name, id, e))
    }

    fn encode(&self, id: &str, value: &T) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            collection: self.name.to_string(),
            id: id.to_owned(),
            source,
        })
    }

    fn decode(&self, id: &str, bytes: &[u8]) -> Result<T> {
        decode(&self.name, id, bytes)
    }

    fn key_str(&self, key: &[u8]) -> Result<String> {
        key_str(&self.name, key)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(collection: &str, id: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        collection: collection.to_owned(),
        id: id.to_owned(),
        source,
    })
}

pub(crate) fn key_str(collection: &str, key: &[u8]) -> Result<String> {
    String::from_utf8(key.to_vec()).map_err(|_| StoreError::BadKey {
        collection: collection.to_owned(),
        key: key.to_vec(),
    })
}
