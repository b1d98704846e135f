//! Who is asking: HTTP Basic against the users file the WBEM server uses
//! (the CLI and scripts), or the console's session cookie (browsers).
//! Cookie requests that change something must also carry the session's
//! CSRF token in `X-CSRF-Token`: a cookie is sent by the browser whoever
//! made the page, the token only by the console's own script.

use std::sync::Arc;

use http::{header, HeaderMap, Method, StatusCode};
use vine_wbem::auth::{basic, Principal, UserStore};

use crate::problem::Problem;
use crate::session::{cookie_value, same_secret, Sessions, COOKIE, CSRF_HEADER};

/// How a caller proved who they are.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Via {
    Basic,
    /// The session cookie's token.
    Session(String),
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub principal: Principal,
    pub via: Via,
    /// The session's CSRF token (sessions only).
    pub csrf: Option<String>,
}

/// The session token in the request's cookies, if any.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| cookie_value(c, COOKIE))
        .filter(|t| !t.is_empty())
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// The user behind a request, or the 401/403 to answer. Basic credentials
/// win over a cookie (and need no CSRF token: a browser never sends
/// them on its own unless the user typed them for this origin).
pub(crate) async fn authenticate(
    method: &Method,
    headers: &HeaderMap,
    users: &Arc<UserStore>,
    sessions: &Sessions,
) -> Result<Caller, Problem> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let creds = basic::parse_authorization(v.as_bytes())
            .ok_or_else(|| unauthorized("this API needs HTTP Basic credentials of a vine user"))?;
        let principal = users
            .verify_async(creds.user.clone(), creds.password.clone())
            .await
            .ok_or_else(|| unauthorized("wrong user name or password"))?;
        return Ok(Caller {
            principal,
            via: Via::Basic,
            csrf: None,
        });
    }
    let Some(token) = session_token(headers) else {
        return Err(unauthorized(
            "this API needs HTTP Basic credentials of a vine user, or a console session (POST /api/v1/session)",
        ));
    };
    let session = sessions
        .get(token)
        .ok_or_else(|| unauthorized("the session has ended; log in again"))?;
    // The users file decides, not the login: a user removed or demoted
    // since then loses the session or its rights now.
    let role = users
        .list()
        .into_iter()
        .find(|(name, _)| *name == session.user)
        .map(|(_, role)| role);
    let Some(role) = role else {
        sessions.remove(token);
        return Err(unauthorized("the session's user no longer exists"));
    };
    if !is_read(method) {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same_secret(sent, &session.csrf) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a change made with the session cookie needs the session's X-CSRF-Token header",
            ));
        }
    }
    Ok(Caller {
        principal: Principal {
            name: session.user.clone(),
            role,
        },
        via: Via::Session(token.to_string()),
        csrf: Some(session.csrf),
    })
}

/// Methods that change nothing.
pub(crate) fn is_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}
