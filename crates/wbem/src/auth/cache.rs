//! Short-lived cache of successful password verifications.
//!
//! argon2 is slow on purpose (tens of milliseconds); a benchmark with 32
//! connections sending the same credentials would spend its time hashing.
//! The cache remembers a successful check for a short while, keyed by a
//! peppered SHA-256 of user and password so no password is kept in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::Principal;

/// How long a successful verification is remembered.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Bound on entries, so random credentials cannot grow memory.
const MAX_ENTRIES: usize = 4096;

pub(crate) struct VerifyCache {
    pepper: [u8; 32],
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl VerifyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        let mut pepper = [0u8; 32];
        // Without randomness the pepper is only weaker, never wrong.
        if getrandom::fill(&mut pepper).is_err() {
            tracing::warn!("no OS randomness for the auth cache pepper");
        }
        VerifyCache {
            pepper,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, name: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.pepper);
        // Length prefix so ("ab","c") and ("a","bc") differ.
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    pub(crate) fn get(&self, name: &str, password: &str) -> Option<Principal> {
        let key = self.key(name, password);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&key) {
            Some((p, at)) if at.elapsed() < self.ttl => Some(p.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, name: &str, password: &str, principal: Principal) {
        let key = self.key(name, password);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (principal, Instant::now()));
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn p() -> Principal {
        Principal {
            name: "u".into(),
            role: Role::Reader,
        }
    }

    #[test]
    fn hit_miss_and_expiry() {
        let c = VerifyCache::new(Duration::from_secs(60));
        assert!(c.get("u", "pw").is_none());
        c.insert("u", "pw", p());
        assert_eq!(c.get("u", "pw"), Some(p()));
        assert!(c.get("u", "pW").is_none());
        assert!(c.get("up", "w").is_none());
        c.clear();
        assert!(c.get("u", "pw").is_none());

        let short = VerifyCache::new(Duration::ZERO);
        short.insert("u", "pw", p());
        assert!(short.get("u", "pw").is_none());
    }
}
