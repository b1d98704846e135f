//! One request through the DSP0200 checks to the handler and back (the
//! numbered steps are in the `transport` module docs).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::body::{InFlight, ResponseBody};
use super::headers::{self, CimHeaders, RequestKind};
use super::{
    CimErrorHeader, ExportHandler, ExportRequest, OperationHandler, OperationRequest,
    OperationResponse,
};
use crate::auth::{basic, Principal, Role, UserStore};

/// Characters escaped in the `CIMStatusCodeDescription` trailer: controls
/// (incl. CR/LF, which would break the message), `%`, and all non-ASCII.
const DESCRIPTION_ESCAPE: &AsciiSet = &CONTROLS.add(b'%');

/// What every request needs from the server.
pub(crate) struct Shared {
    pub(crate) users: Arc<UserStore>,
    pub(crate) ops: Arc<dyn OperationHandler>,
    pub(crate) export: Option<Arc<dyn ExportHandler>>,
    pub(crate) max_body_bytes: u64,
    pub(crate) challenge: HeaderValue,
}

/// Answer one request; `in_flight` lives until the response is sent.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    scheme: &'static str,
    in_flight: InFlight,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (resp, user) = respond(&shared, req).await;
    tracing::debug!(
        scheme,
        %method,
        path,
        user = user.as_deref().unwrap_or("-"),
        status = resp.status().as_u16(),
        cim_error = resp.headers().get("cimerror").and_then(|v| v.to_str().ok()).unwrap_or(""),
        latency_us = started.elapsed().as_micros() as u64,
        "wbem request"
    );
    resp.map(|b| b.tracked(in_flight))
}

/// How the CIM response headers are spelled: plain for POST, `NN-` prefixed
/// for M-POST (DSP0200 follows RFC 2774 there).
struct Style {
    ns: Option<String>,
}

impl Style {
    fn name(&self, name: &str) -> HeaderName {
        let full = match &self.ns {
            Some(ns) => format!("{ns}-{name}"),
            None => name.to_owned(),
        };
        // Names are ASCII letters and digits we built ourselves.
        HeaderName::from_bytes(full.as_bytes()).unwrap_or(header::WARNING)
    }

    fn start(&self, status: StatusCode) -> http::response::Builder {
        let mut b = Response::builder().status(status);
        if let Some(ns) = &self.ns {
            b = b
                .header("ext", "")
                .header(header::CACHE_CONTROL, "no-cache")
                .header(
                    "man",
                    format!("http://www.dmtf.org/cim/mapping/http/v1.0 ; ns={ns}"),
                );
        }
        b
    }
}

async fn respond(
    shared: &Shared,
    req: Request<Incoming>,
) -> (Response<ResponseBody>, Option<String>) {
    let plain = Style { ns: None };
    let mpost = req.method().as_str() == "M-POST";
    if req.method() != Method::POST && !mpost {
        let resp = plain
            .start(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "POST, M-POST");
        return (finish(resp, ResponseBody::empty()), None);
    }
    if !matches!(req.uri().path(), "/cimom" | "/") {
        return (status_only(StatusCode::NOT_FOUND), None);
    }
    if req.version() == Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
        return (status_only(StatusCode::BAD_REQUEST), None);
    }
    let style = if mpost {
        match headers::mpost_namespace(req.headers()) {
            Some(ns) => Style { ns: Some(ns) },
            // RFC 2774: a mandatory request without a usable declaration.
            None => return (status_only(StatusCode::NOT_EXTENDED), None),
        }
    } else {
        plain
    };

    let user = match authenticate(shared, req.headers()).await {
        Some(u) => Some(u),
        None if open_export(shared, req.headers(), &style) => None,
        None => return (unauthorized(shared, &style), None),
    };
    let name = user.as_ref().map(|u| u.name.clone());
    let query = req.uri().query().map(str::to_owned);

    let cim = match &style.ns {
        Some(ns) => CimHeaders::mpost(req.headers(), ns),
        None => CimHeaders::post(req.headers()),
    };
    let checked = match headers::check_cim_headers(&cim) {
        Ok(c) => c,
        Err(e) => return (rejected(&style, e), name),
    };
    // Only an export may come without credentials: a request that also
    // carries CIMOperation is an operation, and operations need a user.
    let user = match (user, &checked.kind) {
        (Some(u), _) => u,
        (None, RequestKind::Export { .. }) => Principal {
            name: String::new(),
            role: Role::Reader,
        },
        (None, RequestKind::Operation { .. }) => return (unauthorized(shared, &style), None),
    };
    if let Err(e) = headers::check_content_type(req.headers()) {
        return (rejected(&style, e), name);
    }
    // Refuse exports without a listener before reading their body.
    if matches!(checked.kind, RequestKind::Export { .. }) && shared.export.is_none() {
        return (rejected(&style, CimErrorHeader::UnsupportedOperation), name);
    }

    let trailers = req.version() == Version::HTTP_11 && headers::wants_trailers(req.headers());
    let body = match read_body(shared.max_body_bytes, req).await {
        Ok(b) => b,
        Err(resp) => return (resp, name),
    };
    if std::str::from_utf8(&body).is_err() {
        return (rejected(&style, CimErrorHeader::RequestNotValid), name);
    }

    let protocol_version = checked.protocol_version;
    let (answer, response_header) = match checked.kind {
        RequestKind::Operation {
            cim_method,
            cim_object,
        } => {
            let ops = Arc::clone(&shared.ops);
            let req = OperationRequest {
                user,
                cim_method,
                cim_object,
                protocol_version,
                body,
            };
            // Own task, so a panicking handler costs one 500, not the connection.
            let answer = tokio::spawn(async move { ops.handle(req).await }).await;
            (answer, "CIMOperation")
        }
        RequestKind::Export { export_method } => {
            let Some(export) = shared.export.clone() else {
                return (rejected(&style, CimErrorHeader::UnsupportedOperation), name);
            };
            let req = ExportRequest {
                user,
                export_method,
                query,
                protocol_version,
                body,
            };
            let answer = tokio::spawn(async move { export.handle(req).await }).await;
            (answer, "CIMExport")
        }
    };
    let resp = match answer {
        Ok(OperationResponse::Body {
            xml,
            status,
            description,
        }) => method_response(&style, response_header, xml, status, description, trailers),
        Ok(OperationResponse::Rejected(e)) => rejected(&style, e),
        Err(e) => {
            tracing::error!(error = %e, "request handler failed");
            status_only(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    (resp, name)
}

fn unauthorized(shared: &Shared, style: &Style) -> Response<ResponseBody> {
    let resp = style
        .start(StatusCode::UNAUTHORIZED)
        .header(header::WWW_AUTHENTICATE, shared.challenge.clone());
    finish(resp, ResponseBody::empty())
}

/// An export request to a handler that checks senders itself: it may come
/// without credentials.
fn open_export(shared: &Shared, headers: &HeaderMap, style: &Style) -> bool {
    shared
        .export
        .as_ref()
        .is_some_and(|e| e.authenticates_senders())
        && headers.contains_key(style.name("CIMExport"))
}

async fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<Principal> {
    let creds = basic::parse_authorization(headers.get(header::AUTHORIZATION)?.as_bytes())?;
    shared.users.verify_async(creds.user, creds.password).await
}

/// Read the body within the limit: announced too-large bodies are refused
/// before reading, chunked ones as soon as they cross the limit.
async fn read_body(max: u64, req: Request<Incoming>) -> Result<Bytes, Response<ResponseBody>> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => {
            tracing::debug!(error = %e, "reading request body failed");
            Err(status_only(StatusCode::BAD_REQUEST))
        }
    }
}

fn too_large() -> Response<ResponseBody> {
    // Close: the rest of the body is not worth reading.
    let resp = Response::builder()
        .status(StatusCode::PAYLOAD_TOO_LARGE)
        .header(header::CONNECTION, "close");
    finish(resp, ResponseBody::empty())
}

fn method_response(
    style: &Style,
    response_header: &str,
    xml: Vec<u8>,
    status: u32,
    description: Option<String>,
    trailers: bool,
) -> Response<ResponseBody> {
    let resp = style
        .start(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml; charset=\"utf-8\"")
        .header(style.name(response_header), "MethodResponse");
    if !trailers {
        return finish(resp, ResponseBody::full(xml));
    }
    let code_name = style.name("CIMStatusCode");
    let desc_name = style.name("CIMStatusCodeDescription");
    let mut map = HeaderMap::new();
    map.insert(code_name.clone(), HeaderValue::from(status));
    if let Some(d) = description {
        let escaped = utf8_percent_encode(&d, DESCRIPTION_ESCAPE).to_string();
        if let Ok(v) = HeaderValue::from_str(&escaped) {
            map.insert(desc_name.clone(), v);
        }
    }
    let resp = resp.header(header::TRAILER, format!("{code_name}, {desc_name}"));
    finish(resp, ResponseBody::with_trailers(xml, map))
}

fn rejected(style: &Style, e: CimErrorHeader) -> Response<ResponseBody> {
    let resp = style
        .start(e.status())
        .header(style.name("CIMError"), e.as_str());
    finish(resp, ResponseBody::empty())
}

fn status_only(status: StatusCode) -> Response<ResponseBody> {
    finish(Response::builder().status(status), ResponseBody::empty())
}

/// Builders only fail on invalid parts; ours are all valid, but a 500 is
/// the safe answer if that ever changes.
fn finish(b: http::response::Builder, body: ResponseBody) -> Response<ResponseBody> {
    b.body(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "building response failed");
        let mut r = Response::new(ResponseBody::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
