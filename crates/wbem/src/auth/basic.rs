//! HTTP Basic (RFC 7617) credentials and the `WWW-Authenticate` challenge.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// User name and password taken from an `Authorization: Basic …` header.
/// `Debug` hides the password so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password, as sent.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Parse an `Authorization` header value; `None` unless it is well-formed
/// Basic credentials in UTF-8.
pub fn parse_authorization(value: &[u8]) -> Option<Credentials> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(token.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// The `WWW-Authenticate` value for `realm`.
pub fn challenge(realm: &str) -> String {
    let escaped: String = realm
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    format!("Basic realm=\"{escaped}\"")
}

/// An `Authorization` header value for these credentials (for tests and clients).
pub fn authorization_value(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic() {
        let v = authorization_value("alice", "p:w");
        let c = parse_authorization(v.as_bytes()).unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(c.password, "p:w");
        let lower = v.replacen("Basic", "basic", 1);
        assert!(parse_authorization(lower.as_bytes()).is_some());
    }

    #[test]
    fn rejects_other_forms() {
        assert!(parse_authorization(b"Bearer abc").is_none());
        assert!(parse_authorization(b"Basic").is_none());
        assert!(parse_authorization(b"Basic !!!").is_none());
        // base64 of "nocolon"
        assert!(parse_authorization(b"Basic bm9jb2xvbg==").is_none());
        assert!(parse_authorization(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn debug_hides_password() {
        let c = Credentials {
            user: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn challenge_quotes_realm() {
        assert_eq!(challenge("vine"), "Basic realm=\"vine\"");
        assert_eq!(challenge("a\"b"), "Basic realm=\"a\\\"b\"");
    }
}
