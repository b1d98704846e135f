//! `/api/v1/session`: console login (`POST`), who am I (`GET`), logout
//! (`DELETE`). The session lives in an HttpOnly cookie; the answer carries
//! the CSRF token the console's script sends back on every change.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::json;
use vine_wbem::auth::UserStore;

use crate::auth::{authenticate, session_token, Via};
use crate::problem::Problem;
use crate::session::{clear_cookie, set_cookie, Sessions};

/// The login body.
#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// A JSON answer, with a cookie to set when given.
fn answer(
    status: StatusCode,
    body: serde_json::Value,
    cookie: Option<String>,
) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(c) = cookie {
        b = b.header(header::SET_COOKIE, c);
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// Handles one request to `/api/v1/session`. `Err` is a problem for the
/// caller to send (never with a Basic challenge: the console asks, and a
/// browser's own password dialog must not pop up over it).
pub(crate) async fn handle(
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    users: &Arc<UserStore>,
    sessions: &Sessions,
    secure: bool,
) -> Result<Response<Full<Bytes>>, Problem> {
    if *method == Method::POST {
        return login(headers, body, users, sessions, secure).await;
    }
    if *method == Method::DELETE {
        if session_token(headers).is_some() && headers.get(header::AUTHORIZATION).is_none() {
            match authenticate(method, headers, users, sessions).await {
                Ok(c) => {
                    if let Via::Session(token) = &c.via {
                        sessions.remove(token);
                    }
                }
                // A session that has already ended: nothing to end, but
                // the browser should still forget the cookie.
                Err(p) if p.status == 401 => {}
                Err(p) => return Err(p),
            }
        }
        let mut r = answer(
            StatusCode::NO_CONTENT,
            json!(null),
            Some(clear_cookie(secure)),
        );
        *r.body_mut() = Full::new(Bytes::new());
        return Ok(r);
    }
    if *method == Method::GET || *method == Method::HEAD {
        let c = authenticate(method, headers, users, sessions).await?;
        return Ok(answer(
            StatusCode::OK,
            json!({"user": c.principal.name, "role": c.principal.role, "csrf": c.csrf}),
            None,
        ));
    }
    Err(crate::api::not_allowed(method))
}

async fn login(
    headers: &HeaderMap,
    body: &Bytes,
    users: &Arc<UserStore>,
    sessions: &Sessions,
    secure: bool,
) -> Result<Response<Full<Bytes>>, Problem> {
    // Only JSON: a cross-site page can post a form, but cannot send
    // application/json without a CORS preflight this server never grants.
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "log in with a JSON body {\"user\": …, \"password\": …} and Content-Type: application/json",
        ));
    }
    let l: Login = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-body",
            format!("the login body must be {{\"user\": …, \"password\": …}}: {e}"),
        )
    })?;
    let who = users
        .verify_async(l.user.clone(), l.password)
        .await
        .ok_or_else(|| {
            tracing::info!(user = %l.user, "console login refused");
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong user name or password",
            )
        })?;
    // A login replaces the session the browser had, if any.
    if let Some(old) = session_token(headers) {
        sessions.remove(old);
    }
    let (token, s) = sessions
        .create(&who)
        .map_err(|e| Problem::internal(e.to_string()))?;
    tracing::info!(user = %who.name, role = %who.role, "console login");
    Ok(answer(
        StatusCode::OK,
        json!({"user": s.user, "role": s.role, "csrf": s.csrf}),
        Some(set_cookie(&token, secure)),
    ))
}

/// The OpenAPI description of `/api/v1/session` and the cookie scheme.
pub(crate) fn spec() -> (serde_json::Value, serde_json::Value) {
    let problem =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let session = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Session"}}});
    let path = json!({
        "post": {"summary": "log in (console): sets the vine_session cookie",
            "security": [],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["user", "password"],
                "properties": {"user": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {
                "200": {"description": "logged in; the CSRF token goes in X-CSRF-Token on every change", "content": session},
                "400": {"description": "not a login body", "content": problem},
                "401": {"description": "wrong user name or password", "content": problem},
                "415": {"description": "not application/json", "content": problem}}},
        "get": {"summary": "who am I (and the session's CSRF token)",
            "responses": {"200": {"description": "the caller", "content": session},
                "401": {"description": "no session", "content": problem}}},
        "delete": {"summary": "log out: ends the session, clears the cookie",
            "responses": {"204": {"description": "logged out"},
                "403": {"description": "no X-CSRF-Token", "content": problem}}}
    });
    let schema = json!({"type": "object", "required": ["user", "role"],
        "properties": {"user": {"type": "string"}, "role": {"enum": ["reader", "admin"]},
            "csrf": {"type": ["string", "null"], "description": "null for HTTP Basic callers"}}});
    (path, schema)
}
