//! The users file and the [`UserStore`] around it.
//!
//! File format (`<state_dir>/users.toml`, mode 0600, rewritten atomically
//! through a temporary file and a rename):
//!
//! ```toml
//! [[user]]
//! name = "admin"
//! role = "admin"          # or "reader"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"
//! ```
//!
//! `password` is an argon2id PHC string; plain passwords are never stored.
//! A running server notices when another process (e.g. `vine user passwd`)
//! rewrites the file and reloads it on the next verification.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use super::cache::{VerifyCache, DEFAULT_TTL};
use super::{AuthError, Principal, Result, Role};

/// One user as stored in the users file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    /// Login name (1-64 of `[A-Za-z0-9._-]`).
    pub name: String,
    /// `reader` or `admin`.
    pub role: Role,
    /// argon2id PHC hash of the password.
    pub password: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    #[serde(default, rename = "user")]
    users: Vec<UserEntry>,
}

/// Identity of the file version we loaded, to notice outside rewrites.
type FileStamp = Option<(SystemTime, u64)>;

struct Loaded {
    users: Vec<UserEntry>,
    stamp: FileStamp,
}

/// The users of one server: loaded from the users file, changed through it.
pub struct UserStore {
    path: PathBuf,
    loaded: RwLock<Loaded>,
    cache: VerifyCache,
    /// Bounds concurrent argon2 runs (~19 MiB each): a burst of new
    /// connections with the same credentials waits for the first check and
    /// then hits the cache, and a flood of bad passwords cannot exhaust memory.
    verify_slots: tokio::sync::Semaphore,
}

impl std::fmt::Debug for UserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl UserStore {
    /// Open the users file at `path`; a missing file is an empty store (the
    /// file is created by the first change).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let (users, stamp) = read_file(&path)?;
        Ok(UserStore {
            path,
            loaded: RwLock::new(Loaded { users, stamp }),
            cache: VerifyCache::new(DEFAULT_TTL),
            verify_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        })
    }

    /// Path of the users file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.read().users.is_empty()
    }

    /// Names and roles of all users, in file order.
    pub fn list(&self) -> Vec<(String, Role)> {
        self.read()
            .users
            .iter()
            .map(|u| (u.name.clone(), u.role))
            .collect()
    }

    /// Add a user. Fails if the name is taken.
    pub fn add(&self, name: &str, role: Role, password: &str) -> Result<()> {
        validate_name(name)?;
        let hash = hash_password(name, password)?;
        self.modify(|users| {
            if users.iter().any(|u| u.name == name) {
                return Err(AuthError::UserExists {
                    name: name.to_owned(),
                });
            }
            users.push(UserEntry {
                name: name.to_owned(),
                role,
                password: hash,
            });
            Ok(())
        })
    }

    /// Replace a user's password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = hash_password(name, password)?;
        self.modify(|users| {
            find_mut(users, name)?.password = hash;
            Ok(())
        })
    }

    /// Change a user's role.
    pub fn set_role(&self, name: &str, role: Role) -> Result<()> {
        self.modify(|users| {
            find_mut(users, name)?.role = role;
            Ok(())
        })
    }

    /// Remove a user.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.modify(|users| {
            let before = users.len();
            users.retain(|u| u.name != name);
            if users.len() == before {
                return Err(AuthError::NoSuchUser {
                    name: name.to_owned(),
                });
            }
            Ok(())
        })
    }

    /// Check a name and password; the principal on success. Slow (argon2)
    /// unless a recent success is cached: call from blocking context, or use
    /// [`UserStore::verify_async`].
    pub fn verify(&self, name: &str, password: &str) -> Option<Principal> {
        self.reload_if_changed();
        if let Some(p) = self.cache.get(name, password) {
            return Some(p);
        }
        let entry = self.read().users.iter().find(|u| u.name == name).cloned();
        let Some(entry) = entry else {
            // Spend the same time as for a real user, so response timing does
            // not tell which user names exist.
            verify_hash(dummy_hash(), password);
            return None;
        };
        if !verify_hash(&entry.password, password) {
            return None;
        }
        let principal = Principal {
            name: entry.name,
            role: entry.role,
        };
        self.cache.insert(name, password, principal.clone());
        Some(principal)
    }

    /// [`UserStore::verify`] for async callers: cache hits answer inline,
    /// misses run argon2 on the blocking pool.
    pub async fn verify_async(
        self: &Arc<Self>,
        name: String,
        password: String,
    ) -> Option<Principal> {
        self.reload_if_changed();
        if let Some(p) = self.cache.get(&name, &password) {
            return Some(p);
        }
        // The semaphore is never closed, so acquire cannot fail.
        let _slot = self.verify_slots.acquire().await.ok()?;
        // Someone may have verified the same credentials while we waited.
        if let Some(p) = self.cache.get(&name, &password) {
            return Some(p);
        }
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.verify(&name, &password))
            .await
            .ok()
            .flatten()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reload when the file changed on disk since we read it. Errors keep the
    /// old users (a half-edited file must not lock everyone out) and are logged.
    fn reload_if_changed(&self) {
        let now = stamp(&self.path);
        if now == self.read().stamp {
            return;
        }
        match read_file(&self.path) {
            Ok((users, stamp)) => {
                let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
                *loaded = Loaded { users, stamp };
                self.cache.clear();
                tracing::info!(path = %self.path.display(), "reloaded users file");
            }
            Err(e) => {
                tracing::warn!(error = %e, "users file changed but cannot be loaded; keeping previous users")
            }
        }
    }

    /// Read-modify-write under the lock, starting from the file's current
    /// content so that changes by other processes are not lost.
    fn modify(&self, change: impl FnOnce(&mut Vec<UserEntry>) -> Result<()>) -> Result<()> {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        let (mut users, _) = read_file(&self.path)?;
        change(&mut users)?;
        write_file(&self.path, &users)?;
        *loaded = Loaded {
            users,
            stamp: stamp(&self.path),
        };
        self.cache.clear();
        Ok(())
    }
}

fn find_mut<'a>(users: &'a mut [UserEntry], name: &str) -> Result<&'a mut UserEntry> {
    users
        .iter_mut()
        .find(|u| u.name == name)
        .ok_or_else(|| AuthError::NoSuchUser {
            name: name.to_owned(),
        })
}

/// Names go into HTTP Basic credentials (no ':') and logs: keep them plain.
fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn hash_password(name: &str, password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(AuthError::EmptyPassword {
            name: name.to_owned(),
        });
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Random {
        message: e.to_string(),
    })?;
    let hash_error = |message: String| AuthError::HashPassword {
        name: name.to_owned(),
        message,
    };
    let salt = SaltString::encode_b64(&salt).map_err(|e| hash_error(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| hash_error(e.to_string()))
}

fn verify_hash(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => {
            tracing::warn!("a users file entry has an unreadable password hash");
            false
        }
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        // The salt is fixed: this hash only burns time, it guards nothing.
        SaltString::encode_b64(b"vine-dummy-salt!")
            .ok()
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(b"no such user", &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

fn stamp(path: &Path) -> FileStamp {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read_file(path: &Path) -> Result<(Vec<UserEntry>, FileStamp)> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(source) => {
            return Err(AuthError::ReadUsers {
                path: path.to_owned(),
                source,
            })
        }
    };
    Ok((parse_users(&text, path)?, stamp(path)))
}

/// The users in users-file text (`path` names it in errors); a name given
/// twice is refused. Public for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub fn parse_users(text: &str, path: &Path) -> Result<Vec<UserEntry>> {
    let file: UsersFile = toml::from_str(text).map_err(|source| AuthError::ParseUsers {
        path: path.to_owned(),
        source,
    })?;
    for (i, u) in file.users.iter().enumerate() {
        if file.users[..i].iter().any(|o| o.name == u.name) {
            return Err(AuthError::DuplicateUser {
                path: path.to_owned(),
                name: u.name.clone(),
            });
        }
    }
    Ok(file.users)
}

/// The TOML that [`parse_users`] reads back as `users`. Public for the
/// fuzz targets in `fuzz/`.
#[doc(hidden)]
pub fn render_users(users: &[UserEntry]) -> Result<String> {
    toml::to_string(&UsersFile {
        users: users.to_vec(),
    })
    .map_err(AuthError::SerializeUsers)
}

fn write_file(path: &Path, users: &[UserEntry]) -> Result<()> {
    let body = render_users(users)?;
    let text = format!(
        "# vine users: manage with `vine user add|passwd|rm`.\n\
         # role is reader or admin; password is an argon2id hash.\n\n{body}"
    );
    let write_err = |source| AuthError::WriteUsers {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension(format!("toml.tmp-{}", std::process::id()));
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, UserStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = UserStore::open(dir.path().join("users.toml")).unwrap();
        (dir, s)
    }

    #[test]
    fn round_trip_through_file() {
        let (dir, s) = store();
        s.add("alice", Role::Admin, "pw-a").unwrap();
        s.add("bob", Role::Reader, "pw-b").unwrap();
        let again = UserStore::open(dir.path().join("users.toml")).unwrap();
        assert_eq!(
            again.list(),
            vec![("alice".into(), Role::Admin), ("bob".into(), Role::Reader)]
        );
        let bob = again.verify("bob", "pw-b").unwrap();
        assert_eq!(bob.role, Role::Reader);
        assert!(again.verify("bob", "pw-a").is_none());
        assert!(again.verify("carol", "pw-b").is_none());
        let text = fs::read_to_string(dir.path().join("users.toml")).unwrap();
        assert!(text.contains("$argon2id$"));
        assert!(!text.contains("pw-a"));
    }

    #[cfg(unix)]
    #[test]
    fn file_mode_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, s) = store();
        s.add("alice", Role::Admin, "pw").unwrap();
        let mode = fs::metadata(dir.path().join("users.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn change_password_role_and_remove() {
        let (_dir, s) = store();
        s.add("alice", Role::Reader, "old").unwrap();
        assert!(s.verify("alice", "old").is_some());
        s.set_password("alice", "new").unwrap();
        // The cached success for the old password must be gone.
        assert!(s.verify("alice", "old").is_none());
        assert!(s.verify("alice", "new").is_some());
        s.set_role("alice", Role::Admin).unwrap();
        assert_eq!(s.verify("alice", "new").unwrap().role, Role::Admin);
        s.remove("alice").unwrap();
        assert!(s.verify("alice", "new").is_none());
        assert!(matches!(
            s.remove("alice"),
            Err(AuthError::NoSuchUser { .. })
        ));
    }

    #[test]
    fn rejects_bad_input() {
        let (_dir, s) = store();
        assert!(matches!(
            s.add("a:b", Role::Admin, "pw"),
            Err(AuthError::InvalidName { .. })
        ));
        assert!(matches!(
            s.add("a", Role::Admin, ""),
            Err(AuthError::EmptyPassword { .. })
        ));
        s.add("a", Role::Admin, "pw").unwrap();
        assert!(matches!(
            s.add("a", Role::Reader, "pw"),
            Err(AuthError::UserExists { .. })
        ));
    }

    #[test]
    fn sees_changes_made_by_another_store() {
        let (dir, s) = store();
        s.add("alice", Role::Admin, "pw").unwrap();
        assert!(s.verify("alice", "pw").is_some());
        let other = UserStore::open(dir.path().join("users.toml")).unwrap();
        other.remove("alice").unwrap();
        other.add("bob", Role::Reader, "pw2").unwrap();
        assert!(s.verify("alice", "pw").is_none());
        assert!(s.verify("bob", "pw2").is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_async_verifications() {
        let (_dir, s) = store();
        s.add("alice", Role::Admin, "pw").unwrap();
        let s = Arc::new(s);
        let checks: Vec<_> = (0..16)
            .map(|i| {
                let s = Arc::clone(&s);
                let pw = if i % 4 == 0 { "bad" } else { "pw" };
                tokio::spawn(async move { s.verify_async("alice".into(), pw.into()).await })
            })
            .collect();
        for (i, c) in checks.into_iter().enumerate() {
            assert_eq!(c.await.unwrap().is_some(), i % 4 != 0);
        }
    }

    #[test]
    fn bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        fs::write(&path, "[[user]]\nname = 1\n").unwrap();
        assert!(matches!(
            UserStore::open(&path),
            Err(AuthError::ParseUsers { .. })
        ));
        fs::write(
            &path,
            "[[user]]\nname='a'\nrole='admin'\npassword='x'\n[[user]]\nname='a'\nrole='reader'\npassword='y'\n",
        )
        .unwrap();
        assert!(matches!(
            UserStore::open(&path),
            Err(AuthError::DuplicateUser { .. })
        ));
    }
}
