//! The console's login sessions: a random token in an HttpOnly cookie
//! names a session held in memory (a manager restart logs everyone out),
//! each with its own CSRF token that writes must echo in a header.
//!
//! Why cookies at all: a browser cannot be told to forget HTTP Basic
//! credentials, so a console on Basic has no logout, and its password sits
//! in the browser's cache for the whole visit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vine_wbem::auth::{generate_password, Principal, Role};

/// The cookie's name.
pub const COOKIE: &str = "vine_session";
/// The header a cookie-authenticated write must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A session ends this long after its last use…
const IDLE: Duration = Duration::from_secs(60 * 60);
/// …and at the latest this long after login.
const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// Logins beyond this many live sessions push out the least recently used
/// one: memory stays bounded whatever clients do.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    created: Instant,
    last_used: Instant,
}

impl Session {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.last_used) >= IDLE || now.duration_since(self.created) >= ABSOLUTE
    }
}

/// Why a session could not be made.
#[derive(Debug, thiserror::Error)]
#[error("no random numbers for a session token: {0}")]
pub struct TokenError(String);

/// The live sessions, by token.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a session for `who`: its cookie token and the session.
    pub fn create(&self, who: &Principal) -> Result<(String, Session), TokenError> {
        let token = random_token(2)?;
        let csrf = random_token(1)?;
        let now = Instant::now();
        let s = Session {
            user: who.name.clone(),
            role: who.role,
            csrf,
            created: now,
            last_used: now,
        };
        let mut map = self.lock();
        map.retain(|_, s| !s.expired(now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(token.clone(), s.clone());
        Ok((token, s))
    }

    /// The live session named by `token`, marked as used now.
    pub fn get(&self, token: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let s = map.get_mut(token)?;
        if s.expired(now) {
            map.remove(token);
            return None;
        }
        s.last_used = now;
        Some(s.clone())
    }

    /// Ends a session (logout). Unknown tokens are fine.
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// True when no session is held (live or not yet swept).
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a consistent map.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `n` × ~119 random bits as letters and digits (cookie- and header-safe).
fn random_token(n: usize) -> Result<String, TokenError> {
    let mut t = String::new();
    for _ in 0..n {
        t.push_str(&generate_password().map_err(|e| TokenError(e.to_string()))?);
    }
    Ok(t)
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Compares secrets in time that depends on the length only.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The `Set-Cookie` value that stores `token`.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ABSOLUTE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that makes the browser forget the cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Principal {
        Principal {
            name: "admin".into(),
            role: Role::Admin,
        }
    }

    #[test]
    fn a_session_is_found_by_its_token_until_removed() {
        let s = Sessions::new();
        let (token, made) = s.create(&admin()).unwrap();
        assert!(token.len() >= 40, "{token}");
        assert_ne!(token, made.csrf);
        let got = s.get(&token).unwrap();
        assert_eq!((got.user.as_str(), got.role), ("admin", Role::Admin));
        assert_eq!(got.csrf, made.csrf);
        assert!(s.get("not-a-token").is_none());
        s.remove(&token);
        assert!(s.get(&token).is_none());
    }

    #[test]
    fn expired_sessions_are_refused_and_dropped() {
        let s = Sessions::new();
        let (token, _) = s.create(&admin()).unwrap();
        {
            let mut map = s.lock();
            let e = map.get_mut(&token).unwrap();
            e.last_used = Instant::now().checked_sub(IDLE).unwrap();
        }
        assert!(s.get(&token).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn cookies_and_secrets() {
        assert_eq!(
            cookie_value("a=1; vine_session=xyz; b=2", COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie_value("vine_sessionx=1", COOKIE), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        let c = set_cookie("t", true);
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie("t", false).contains("Secure"));
    }
}
