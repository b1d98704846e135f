use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::collection::{decode, key_str};
use crate::error::Result;

/// One change to a watched collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    /// The record's id.
    pub id: String,
    /// The new record, or `None` when it was deleted.
    pub value: Option<T>,
}

/// A subscription to a collection's changes (from
/// [`Collection::watch`](crate::Collection::watch)). Use [`Watch::next`] in
/// async code or [`Watch::next_timeout`] in threads. Events arrive as
/// writes happen, which may be just before they are flushed.
pub struct Watch<T> {
    subscriber: sled::Subscriber,
    collection: Arc<str>,
    _record: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Watch<T> {
    pub(crate) fn new(subscriber: sled::Subscriber, collection: Arc<str>) -> Self {
        Watch {
            subscriber,
            collection,
            _record: PhantomData,
        }
    }

    /// The next change; `None` when the store has closed.
    pub async fn next(&mut self) -> Option<Result<Change<T>>> {
        let event = (&mut self.subscriber).await?;
        Some(self.change(event))
    }

    /// The next change, waiting at most `timeout` (blocking the thread);
    /// `None` on timeout or when the store has closed.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<Change<T>>> {
        let event = self.subscriber.next_timeout(timeout).ok()?;
        Some(self.change(event))
    }

    fn change(&self, event: sled::Event) -> Result<Change<T>> {
        match event {
            sled::Event::Insert { key, value } => {
                let id = key_str(&self.collection, &key)?;
                let value = decode(&self.collection, &id, &value)?;
                Ok(Change {
                    id,
                    value: Some(value),
                })
            }
            sled::Event::Remove { key } => Ok(Change {
                id: key_str(&self.collection, &key)?,
                value: None,
            }),
        }
    }
}
