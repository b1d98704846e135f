//! Who is asking: HTTP Basic against the users file the WBEM server uses.
//! (The console's cookie sessions will authenticate here too.)

use std::sync::Arc;

use http::{header, HeaderMap, StatusCode};
use vine_wbem::auth::{basic, Principal, UserStore};

use crate::problem::Problem;

/// The user behind a request, or the 401 to answer.
pub(crate) async fn authenticate(
    headers: &HeaderMap,
    users: &Arc<UserStore>,
) -> Result<Principal, Problem> {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| basic::parse_authorization(v.as_bytes()))
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this API needs HTTP Basic credentials of a vine user",
            )
        })?;
    users
        .verify_async(creds.user.clone(), creds.password.clone())
        .await
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "wrong user name or password",
            )
        })
}
