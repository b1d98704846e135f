//! A client of the REST API, for the CLI and for tests: JSON in and out,
//! HTTP Basic, problem bodies turned into errors that carry the server's
//! `detail`.

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use vine_wbem::auth::basic;
use vine_wbem::client::{ClientError, HttpPool, TlsVerify};

/// What a call can fail with.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The manager answered with an error; `detail` is its explanation.
    #[error("{detail} (HTTP {status})")]
    Status {
        status: u16,
        kind: String,
        detail: String,
    },
    #[error("cannot reach the manager at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: ClientError,
    },
    #[error("bad API URL {0}: use http(s)://host:port")]
    Url(String),
    #[error("the manager's answer is not the JSON expected: {0}")]
    Decode(String),
}

impl ApiError {
    /// The HTTP status, when the manager answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A connection to one manager's API.
pub struct ApiClient {
    base: String,
    host: String,
    authorization: String,
    pool: HttpPool,
}

impl ApiClient {
    /// `base` is the API root (`https://127.0.0.1:8443`); `tls` is used for
    /// https URLs.
    pub fn new(base: &str, user: &str, password: &str, tls: TlsVerify) -> Result<Self, ApiError> {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/api/v1").unwrap_or(base).to_string();
        let (https, rest) = if let Some(r) = base.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = base.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(ApiError::Url(base));
        };
        let authority = rest.split('/').next().unwrap_or_default().to_string();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse::<u16>().map_err(|_| ApiError::Url(base.clone()))?,
            ),
            None => (authority.clone(), if https { 443 } else { 80 }),
        };
        let pool = HttpPool::new(&host, port, https.then_some(&tls)).map_err(|source| {
            ApiError::Transport {
                url: base.clone(),
                source,
            }
        })?;
        Ok(ApiClient {
            authorization: basic::authorization_value(user, password),
            host: authority,
            base,
            pool,
        })
    }

    /// A client that sends `Authorization: Bearer <token>` (an agent
    /// registering with the manager's join token).
    pub fn with_bearer(base: &str, token: &str, tls: TlsVerify) -> Result<Self, ApiError> {
        let mut c = ApiClient::new(base, "", "", tls)?;
        c.authorization = format!("Bearer {token}");
        Ok(c)
    }

    /// The API root this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method path` (`path` below `/api/v1`, e.g. `/vms?host=a`)
    /// with an optional JSON body; returns the status and JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ApiError> {
        let uri = format!("/api/v1{path}");
        let bytes = match body {
            Some(v) => {
                Bytes::from(serde_json::to_vec(v).map_err(|e| ApiError::Decode(e.to_string()))?)
            }
            None => Bytes::new(),
        };
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes))
            .map_err(|_| ApiError::Url(uri.clone()))?;
        let (parts, body) = self
            .pool
            .send(req)
            .await
            .map_err(|source| ApiError::Transport {
                url: self.base.clone(),
                source,
            })?;
        let status = parts.status.as_u16();
        let json: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))?
        };
        if status >= 400 {
            return Err(ApiError::Status {
                status,
                kind: json["type"].as_str().unwrap_or("error").to_string(),
                detail: json["detail"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}")),
            });
        }
        Ok((status, json))
    }

    /// GET, decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let (_, v) = self.call(Method::GET, path, None).await?;
        serde_json::from_value(v).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// POST a JSON body; the answer as JSON.
    pub async fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<Value, ApiError> {
        let v = serde_json::to_value(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok(self.call(Method::POST, path, Some(&v)).await?.1)
    }

    /// PATCH with a JSON body; the answer as JSON.
    pub async fn patch<B: Serialize>(&self, path: &str, body: &B) -> Result<Value, ApiError> {
        let v = serde_json::to_value(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok(self.call(Method::PATCH, path, Some(&v)).await?.1)
    }

    /// DELETE; the answer as JSON.
    pub async fn delete(&self, path: &str) -> Result<Value, ApiError> {
        Ok(self.call(Method::DELETE, path, None).await?.1)
    }
}
