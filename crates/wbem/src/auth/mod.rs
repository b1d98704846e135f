//! Users, roles and HTTP Basic authentication for the WBEM server.
//!
//! Where to begin: [`UserStore`] keeps the users file (`<state_dir>/users.toml`,
//! format in [`users`]); [`UserStore::verify_async`] is what the transport
//! calls for every request; [`bootstrap_admin`] creates the first admin.
//!
//! Roles: a [`Role::Reader`] may run read operations only, a [`Role::Admin`]
//! everything. This module only authenticates; the operation dispatcher
//! decides which operations count as reads, from the [`Principal`] it is
//! handed.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// HTTP Basic `Authorization` header parsing and the `WWW-Authenticate` challenge.
pub mod basic;
/// Short-lived cache of successful password verifications.
mod cache;
/// The users file and the [`UserStore`] around it.
pub mod users;

pub use users::{UserEntry, UserStore};

/// Name of the users file inside the state directory.
pub const USERS_FILE: &str = "users.toml";

/// Name of the user created at first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// Environment variable that sets the bootstrap admin's password.
pub const ADMIN_PASSWORD_ENV: &str = "VINE_ADMIN_PASSWORD";

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read operations only (Get*, Enumerate*, Associators, queries, pulls…).
    Reader,
    /// Every operation.
    Admin,
}

impl Role {
    /// The role's name as written in the users file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "reader" => Ok(Role::Reader),
            "admin" => Ok(Role::Admin),
            _ => Err(AuthError::UnknownRole { role: s.to_owned() }),
        }
    }
}

/// An authenticated user, handed to the operation handler with each request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// User name as stored in the users file.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

/// Errors of the users file and password handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The users file exists but could not be read.
    #[error("read users file {path}")]
    ReadUsers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The users file is not valid TOML of the expected shape.
    #[error("parse users file {path}")]
    ParseUsers {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// The users file names a user twice.
    #[error("users file {path} names user {name:?} twice")]
    DuplicateUser { path: PathBuf, name: String },
    /// Writing the users file (temporary file, permissions or rename) failed.
    #[error("write users file {path}")]
    WriteUsers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Serialising the users to TOML failed.
    #[error("serialise users file")]
    SerializeUsers(#[source] toml::ser::Error),
    /// Hashing a password failed.
    #[error("hash password of user {name:?}: {message}")]
    HashPassword { name: String, message: String },
    /// The operating system's random source failed.
    #[error("read random bytes: {message}")]
    Random { message: String },
    /// `add` of a user that exists.
    #[error("user {name:?} already exists")]
    UserExists { name: String },
    /// `set_password`/`remove` of a user that does not exist.
    #[error("no user {name:?}")]
    NoSuchUser { name: String },
    /// A user name that cannot be used with HTTP Basic auth.
    #[error("invalid user name {name:?}: use 1-64 letters, digits, '.', '_' or '-'")]
    InvalidName { name: String },
    /// An empty password.
    #[error("empty password for user {name:?}")]
    EmptyPassword { name: String },
    /// A role other than `reader` or `admin`.
    #[error("unknown role {role:?}: use reader or admin")]
    UnknownRole { role: String },
    /// The state directory could not be created.
    #[error("create state directory {path}")]
    CreateStateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Result of this module.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// The users file of a state directory.
pub fn users_path(state_dir: &Path) -> PathBuf {
    state_dir.join(USERS_FILE)
}

/// First-start setup: if the users file of `state_dir` is missing or has no
/// users, create user `admin` with role admin.
///
/// The password is `$VINE_ADMIN_PASSWORD` when set and non-empty; otherwise a
/// random one is generated and returned so the caller prints it once (it is
/// stored only as a hash). Returns `None` when nothing was generated.
pub fn bootstrap_admin(state_dir: &Path) -> Result<Option<String>> {
    let from_env = std::env::var(ADMIN_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty());
    bootstrap_admin_with(state_dir, from_env)
}

/// [`bootstrap_admin`] with the environment value passed in (testable
/// without touching the process environment).
pub fn bootstrap_admin_with(state_dir: &Path, password: Option<String>) -> Result<Option<String>> {
    std::fs::create_dir_all(state_dir).map_err(|source| AuthError::CreateStateDir {
        path: state_dir.to_owned(),
        source,
    })?;
    let store = UserStore::open(users_path(state_dir))?;
    if !store.is_empty() {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (generate_password()?, true),
    };
    store.add(BOOTSTRAP_ADMIN, Role::Admin, &password)?;
    tracing::info!(user = BOOTSTRAP_ADMIN, "created bootstrap admin user");
    Ok(generated.then_some(password))
}

/// A random 20-character password of letters and digits (~119 bits).
pub fn generate_password() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(20);
    let mut buf = [0u8; 64];
    while out.len() < 20 {
        getrandom::fill(&mut buf).map_err(|e| AuthError::Random {
            message: e.to_string(),
        })?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        for &b in &buf {
            if (b as usize) < limit && out.len() < 20 {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_parses_and_prints() {
        assert_eq!("Admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!("reader".parse::<Role>().unwrap(), Role::Reader);
        assert!("root".parse::<Role>().is_err());
        assert_eq!(Role::Reader.to_string(), "reader");
    }

    #[test]
    fn generated_passwords_differ_and_are_long() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn bootstrap_generates_once() {
        let dir = tempfile::tempdir().unwrap();
        let pw = bootstrap_admin_with(dir.path(), None).unwrap().unwrap();
        let store = UserStore::open(users_path(dir.path())).unwrap();
        let p = store.verify("admin", &pw).unwrap();
        assert_eq!(p.role, Role::Admin);
        // Second start: nothing created, nothing printed.
        assert_eq!(bootstrap_admin_with(dir.path(), None).unwrap(), None);
    }

    #[test]
    fn bootstrap_uses_given_password_and_returns_none() {
        let dir = tempfile::tempdir().unwrap();
        let out = bootstrap_admin_with(dir.path(), Some("s3cret".into())).unwrap();
        assert_eq!(out, None);
        let store = UserStore::open(users_path(dir.path())).unwrap();
        assert!(store.verify("admin", "s3cret").is_some());
    }
}
