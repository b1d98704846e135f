//! Enumeration contexts for the pull operations (DSP0200 §5.4).
//!
//! An Open operation computes its whole result, hands back the first
//! MaxObjectCount items and parks the rest here under a random context id.
//! Each context expires when it has been idle for its OperationTimeout.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vine_cim::{CimError, CimInstance, CimInstanceName, CimResult, CimStatus};

/// The items a context yields: whole instances or only their paths.
#[derive(Debug)]
pub enum PullItems {
    Instances(VecDeque<CimInstance>),
    Paths(VecDeque<CimInstanceName>),
}

impl PullItems {
    fn len(&self) -> usize {
        match self {
            PullItems::Instances(v) => v.len(),
            PullItems::Paths(v) => v.len(),
        }
    }
}

/// What a pull request asks for, which must fit what the context holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullKind {
    /// PullInstancesWithPath / PullInstances.
    Instances,
    /// PullInstancePaths.
    Paths,
}

/// A batch taken from a context.
#[derive(Debug)]
pub enum PullBatch {
    Instances(Vec<CimInstance>),
    Paths(Vec<CimInstanceName>),
}

struct Context {
    items: PullItems,
    timeout: Duration,
    last_used: Instant,
    namespace: String,
}

/// All open enumeration contexts of one object manager.
pub struct PullTable {
    contexts: Mutex<HashMap<String, Context>>,
    max_open: usize,
}

/// The result of opening or pulling: a batch, and the context to continue
/// with unless the sequence has ended.
#[derive(Debug)]
pub struct PullResult {
    pub batch: PullBatch,
    pub context: Option<String>,
}

impl PullResult {
    /// True when nothing remains.
    pub fn end_of_sequence(&self) -> bool {
        self.context.is_none()
    }
}

fn take(items: &mut PullItems, n: usize) -> PullBatch {
    match items {
        PullItems::Instances(v) => PullBatch::Instances(v.drain(..n.min(v.len())).collect()),
        PullItems::Paths(v) => PullBatch::Paths(v.drain(..n.min(v.len())).collect()),
    }
}

fn new_context_id() -> String {
    let mut bytes = [0u8; 16];
    // An unguessable id keeps one client from pulling another's results;
    // if the OS RNG fails, fall back to time-based uniqueness.
    if getrandom::fill(&mut bytes).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = t.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PullTable {
    /// A table that allows `max_open` contexts at once.
    pub fn new(max_open: usize) -> Self {
        PullTable {
            contexts: Mutex::new(HashMap::new()),
            max_open,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context>> {
        self.contexts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an enumeration: returns the first `max_objects` items and, if
    /// more remain, a context for them.
    pub fn open(
        &self,
        namespace: &str,
        mut items: PullItems,
        max_objects: u32,
        timeout: Duration,
    ) -> CimResult<PullResult> {
        let batch = take(&mut items, max_objects as usize);
        if items.len() == 0 && max_objects > 0 {
            return Ok(PullResult {
                batch,
                context: None,
            });
        }
        let mut table = self.lock();
        let now = Instant::now();
        table.retain(|_, c| now.duration_since(c.last_used) < c.timeout);
        if table.len() >= self.max_open {
            return Err(CimError::new(
                CimStatus::ServerLimitsExceeded,
                format!(
                    "{} enumeration contexts are open; close some or wait for them to expire",
                    table.len()
                ),
            ));
        }
        let id = new_context_id();
        table.insert(
            id.clone(),
            Context {
                items,
                timeout,
                last_used: now,
                namespace: namespace.to_string(),
            },
        );
        Ok(PullResult {
            batch,
            context: Some(id),
        })
    }

    /// Pulls up to `max_objects` more items from `id`.
    pub fn pull(
        &self,
        namespace: &str,
        id: &str,
        kind: PullKind,
        max_objects: u32,
    ) -> CimResult<PullResult> {
        let mut table = self.lock();
        let ctx = Self::live(&mut table, namespace, id)?;
        match (&ctx.items, kind) {
            (PullItems::Instances(_), PullKind::Instances)
            | (PullItems::Paths(_), PullKind::Paths) => {}
            _ => {
                return Err(CimError::new(
                    CimStatus::InvalidEnumerationContext,
                    "the enumeration context was opened for another kind of result",
                ))
            }
        }
        let batch = take(&mut ctx.items, max_objects as usize);
        ctx.last_used = Instant::now();
        if ctx.items.len() == 0 {
            table.remove(id);
            return Ok(PullResult {
                batch,
                context: None,
            });
        }
        Ok(PullResult {
            batch,
            context: Some(id.to_string()),
        })
    }

    /// CloseEnumeration.
    pub fn close(&self, namespace: &str, id: &str) -> CimResult<()> {
        let mut table = self.lock();
        Self::live(&mut table, namespace, id)?;
        table.remove(id);
        Ok(())
    }

    /// EnumerationCount: how many items remain.
    pub fn count(&self, namespace: &str, id: &str) -> CimResult<u64> {
        let mut table = self.lock();
        let ctx = Self::live(&mut table, namespace, id)?;
        ctx.last_used = Instant::now();
        Ok(ctx.items.len() as u64)
    }

    /// Contexts currently open (for tests and metrics).
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn live<'a>(
        table: &'a mut HashMap<String, Context>,
        namespace: &str,
        id: &str,
    ) -> CimResult<&'a mut Context> {
        let invalid = || {
            CimError::new(
                CimStatus::InvalidEnumerationContext,
                format!("enumeration context {id} is not open"),
            )
        };
        let expired = match table.get(id) {
            None => return Err(invalid()),
            Some(c) => c.last_used.elapsed() >= c.timeout,
        };
        if expired {
            table.remove(id);
            return Err(invalid());
        }
        let ctx = table.get_mut(id).ok_or_else(invalid)?;
        if !vine_cim::name::namespace_eq(&ctx.namespace, namespace) {
            return Err(invalid());
        }
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(n: usize) -> PullItems {
        PullItems::Paths(
            (0..n)
                .map(|i| CimInstanceName::new("C").with_key("Id", i.to_string()))
                .collect(),
        )
    }

    #[test]
    fn pulls_in_batches_until_the_end() {
        let t = PullTable::new(10);
        let r = t.open("ns", paths(5), 2, Duration::from_secs(60)).unwrap();
        let id = r.context.clone().expect("more to come");
        assert_eq!(t.count("ns", &id).unwrap(), 3);
        let r2 = t.pull("ns", &id, PullKind::Paths, 2).unwrap();
        assert!(!r2.end_of_sequence());
        let r3 = t.pull("ns", &id, PullKind::Paths, 10).unwrap();
        assert!(r3.end_of_sequence());
        match r3.batch {
            PullBatch::Paths(p) => assert_eq!(p.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            t.pull("ns", &id, PullKind::Paths, 1).unwrap_err().status,
            CimStatus::InvalidEnumerationContext
        );
    }

    #[test]
    fn zero_max_objects_keeps_a_context_even_when_empty() {
        let t = PullTable::new(10);
        let r = t.open("ns", paths(0), 0, Duration::from_secs(60)).unwrap();
        let id = r.context.expect("context");
        assert!(t
            .pull("ns", &id, PullKind::Paths, 5)
            .unwrap()
            .end_of_sequence());
    }

    #[test]
    fn wrong_kind_namespace_and_expiry_are_refused() {
        let t = PullTable::new(10);
        let id = t
            .open("ns", paths(3), 1, Duration::from_millis(30))
            .unwrap()
            .context
            .unwrap();
        assert_eq!(
            t.pull("ns", &id, PullKind::Instances, 1)
                .unwrap_err()
                .status,
            CimStatus::InvalidEnumerationContext
        );
        assert_eq!(
            t.pull("other", &id, PullKind::Paths, 1).unwrap_err().status,
            CimStatus::InvalidEnumerationContext
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            t.count("ns", &id).unwrap_err().status,
            CimStatus::InvalidEnumerationContext
        );
    }

    #[test]
    fn too_many_contexts_is_a_server_limit() {
        let t = PullTable::new(2);
        for _ in 0..2 {
            t.open("ns", paths(3), 1, Duration::from_secs(60)).unwrap();
        }
        assert_eq!(
            t.open("ns", paths(3), 1, Duration::from_secs(60))
                .unwrap_err()
                .status,
            CimStatus::ServerLimitsExceeded
        );
    }
}
