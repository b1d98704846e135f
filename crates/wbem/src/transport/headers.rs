//! Parsing and checking of the DSP0200 request headers. Pure functions over
//! a `HeaderMap`, so every rule is unit-tested without a socket.

use http::{HeaderMap, HeaderValue};

use super::CimErrorHeader;

/// Extension URIs accepted in an M-POST `Man` header: the DSP0200 mapping
/// (`http://www.dmtf.org/cim/mapping/http/v1.0`) and older DMTF forms.
const DMTF_EXTENSION_PREFIX: &str = "http://www.dmtf.org/cim/";

/// The CIM headers of one request. For M-POST they carry the `NN-` prefix
/// declared in `Man`; the unprefixed name is accepted too, as OpenPegasus does.
pub(crate) struct CimHeaders<'a> {
    headers: &'a HeaderMap,
    prefix: Option<String>,
}

impl<'a> CimHeaders<'a> {
    pub(crate) fn post(headers: &'a HeaderMap) -> Self {
        CimHeaders {
            headers,
            prefix: None,
        }
    }

    pub(crate) fn mpost(headers: &'a HeaderMap, ns: &str) -> Self {
        CimHeaders {
            headers,
            prefix: Some(ns.to_owned()),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'a HeaderValue> {
        if let Some(ns) = &self.prefix {
            if let Some(v) = self.headers.get(format!("{ns}-{name}").as_str()) {
                return Some(v);
            }
        }
        self.headers.get(name)
    }
}

/// The `ns` of the DMTF extension declared in the `Man` header(s) of an
/// M-POST; `None` when there is none.
pub(crate) fn mpost_namespace(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("man")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|decl| {
            let mut parts = decl.split(';').map(str::trim);
            let uri = parts.next()?.trim_matches('"');
            if !uri.to_ascii_lowercase().starts_with(DMTF_EXTENSION_PREFIX) {
                return None;
            }
            parts.find_map(|p| {
                let (k, v) = p.split_once('=')?;
                let v = v.trim();
                (k.trim().eq_ignore_ascii_case("ns")
                    && !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.to_owned())
            })
        })
}

/// What the CIM headers ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Operation {
        cim_method: String,
        cim_object: String,
    },
    Export {
        export_method: String,
    },
}

/// Checked CIM headers of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CimRequestHeaders {
    pub(crate) kind: RequestKind,
    pub(crate) protocol_version: String,
}

/// Check the CIM headers per DSP0200 (see the module list in `transport`).
pub(crate) fn check_cim_headers(h: &CimHeaders<'_>) -> Result<CimRequestHeaders, CimErrorHeader> {
    if let Some(op) = h.get("CIMOperation") {
        if !value_is(op, "MethodCall") {
            return Err(CimErrorHeader::UnsupportedOperation);
        }
        if h.get("CIMBatch").is_some() {
            return Err(CimErrorHeader::MultipleRequestsUnsupported);
        }
        let protocol_version = protocol_version(h)?;
        let cim_method = decoded_header(h, "CIMMethod")?;
        let cim_object = decoded_header(h, "CIMObject")?;
        return Ok(CimRequestHeaders {
            kind: RequestKind::Operation {
                cim_method,
                cim_object,
            },
            protocol_version,
        });
    }
    if let Some(exp) = h.get("CIMExport") {
        if !value_is(exp, "MethodRequest") {
            return Err(CimErrorHeader::UnsupportedOperation);
        }
        if h.get("CIMExportBatch").is_some() {
            return Err(CimErrorHeader::MultipleRequestsUnsupported);
        }
        let protocol_version = protocol_version(h)?;
        let export_method = decoded_header(h, "CIMExportMethod")?;
        return Ok(CimRequestHeaders {
            kind: RequestKind::Export { export_method },
            protocol_version,
        });
    }
    Err(CimErrorHeader::UnsupportedOperation)
}

fn value_is(v: &HeaderValue, expected: &str) -> bool {
    v.to_str()
        .is_ok_and(|s| s.trim().eq_ignore_ascii_case(expected))
}

fn protocol_version(h: &CimHeaders<'_>) -> Result<String, CimErrorHeader> {
    let Some(v) = h.get("CIMProtocolVersion") else {
        return Ok("1.0".to_owned());
    };
    let v = v
        .to_str()
        .map_err(|_| CimErrorHeader::UnsupportedProtocolVersion)?
        .trim();
    if is_supported_protocol_version(v) {
        Ok(v.to_owned())
    } else {
        Err(CimErrorHeader::UnsupportedProtocolVersion)
    }
}

/// DSP0200 1.x: `1.` followed by digits.
pub(crate) fn is_supported_protocol_version(v: &str) -> bool {
    v.strip_prefix("1.")
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

/// A required CIM header, URI-decoded; missing, empty or undecodable is a
/// header mismatch (the body cannot agree with it).
fn decoded_header(h: &CimHeaders<'_>, name: &str) -> Result<String, CimErrorHeader> {
    let raw = h
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(CimErrorHeader::HeaderMismatch)?;
    uri_decode(raw).ok_or(CimErrorHeader::HeaderMismatch)
}

/// Strict %-decoding into UTF-8: a `%` must be followed by two hex digits.
pub(crate) fn uri_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `Content-Type` must be `application/xml` or `text/xml`, with charset
/// utf-8 when a charset is given (quoted or not).
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), CimErrorHeader> {
    let v = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or(CimErrorHeader::RequestNotValid)?;
    let mut parts = v.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/xml") && !media.eq_ignore_ascii_case("text/xml") {
        return Err(CimErrorHeader::RequestNotValid);
    }
    for p in parts {
        if let Some((k, val)) = p.split_once('=') {
            let val = val.trim().trim_matches('"');
            if k.trim().eq_ignore_ascii_case("charset")
                && !val.eq_ignore_ascii_case("utf-8")
                && !val.eq_ignore_ascii_case("utf8")
            {
                return Err(CimErrorHeader::RequestNotValid);
            }
        }
    }
    Ok(())
}

/// True when the `TE` header lists `trailers`.
pub(crate) fn wants_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
}

/// Every check the transport makes on request headers, in its order, over
/// a raw header block (`Name: value` lines as they arrive; lines hyper would
/// refuse are dropped). Returns the outcome as text. Only for the fuzz
/// targets in `fuzz/`, hence hidden.
#[doc(hidden)]
pub fn fuzz_check_header_block(raw: &[u8], mpost: bool) -> String {
    let mut headers = HeaderMap::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = http::HeaderName::from_bytes(&line[..colon]);
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    let ns = if mpost {
        match mpost_namespace(&headers) {
            Some(ns) => Some(ns),
            None => return "not extended".to_owned(),
        }
    } else {
        None
    };
    let cim = match &ns {
        Some(ns) => CimHeaders::mpost(&headers, ns),
        None => CimHeaders::post(&headers),
    };
    format!(
        "{ns:?} {:?} {:?} {}",
        check_cim_headers(&cim),
        check_content_type(&headers),
        wants_trailers(&headers)
    )
}

/// [`uri_decode`] for the fuzz targets.
#[doc(hidden)]
pub fn fuzz_uri_decode(s: &str) -> Option<String> {
    uri_decode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn op(pairs: &[(&str, &str)]) -> Result<CimRequestHeaders, CimErrorHeader> {
        check_cim_headers(&CimHeaders::post(&map(pairs)))
    }

    const OK: [(&str, &str); 3] = [
        ("CIMOperation", "MethodCall"),
        ("CIMMethod", "EnumerateInstances"),
        ("CIMObject", "root%2Fcimv2"),
    ];

    #[test]
    fn good_operation() {
        let r = op(&OK).unwrap();
        assert_eq!(r.protocol_version, "1.0");
        assert_eq!(
            r.kind,
            RequestKind::Operation {
                cim_method: "EnumerateInstances".into(),
                cim_object: "root/cimv2".into()
            }
        );
    }

    #[test]
    fn operation_rejections() {
        use CimErrorHeader::*;
        assert_eq!(op(&[]), Err(UnsupportedOperation));
        assert_eq!(op(&[("CIMOperation", "Call")]), Err(UnsupportedOperation));
        let mut v = OK.to_vec();
        v.push(("CIMBatch", ""));
        assert_eq!(op(&v), Err(MultipleRequestsUnsupported));
        let mut v = OK.to_vec();
        v.push(("CIMProtocolVersion", "2.0"));
        assert_eq!(op(&v), Err(UnsupportedProtocolVersion));
        assert_eq!(op(&OK[..2]), Err(HeaderMismatch));
        assert_eq!(
            op(&[OK[0], OK[1], ("CIMObject", "root%2")]),
            Err(HeaderMismatch)
        );
        assert_eq!(op(&[OK[0], ("CIMMethod", " "), OK[2]]), Err(HeaderMismatch));
    }

    #[test]
    fn export_headers() {
        let r = op(&[
            ("CIMExport", "MethodRequest"),
            ("CIMExportMethod", "ExportIndication"),
            ("CIMProtocolVersion", "1.4"),
        ])
        .unwrap();
        assert_eq!(r.protocol_version, "1.4");
        assert_eq!(
            r.kind,
            RequestKind::Export {
                export_method: "ExportIndication".into()
            }
        );
        assert_eq!(
            op(&[
                ("CIMExport", "MethodRequest"),
                ("CIMExportMethod", "ExportIndication"),
                ("CIMExportBatch", "")
            ]),
            Err(CimErrorHeader::MultipleRequestsUnsupported)
        );
    }

    #[test]
    fn protocol_versions() {
        for ok in ["1.0", "1.1", "1.4", "1.10"] {
            assert!(is_supported_protocol_version(ok), "{ok}");
        }
        for bad in ["2.0", "1", "1.", "1.x", "", "0.9"] {
            assert!(!is_supported_protocol_version(bad), "{bad}");
        }
    }

    #[test]
    fn uri_decoding() {
        assert_eq!(uri_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(uri_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(uri_decode("%zz"), None);
        assert_eq!(uri_decode("%4"), None);
        assert_eq!(uri_decode("%FF"), None);
    }

    #[test]
    fn mpost_prefix_and_lookup() {
        let m = map(&[
            ("Man", "http://www.dmtf.org/cim/mapping/http/v1.0 ; ns=73"),
            ("73-CIMOperation", "MethodCall"),
            ("73-CIMMethod", "GetClass"),
            ("73-CIMObject", "root/cimv2"),
        ]);
        let ns = mpost_namespace(&m).unwrap();
        assert_eq!(ns, "73");
        let r = check_cim_headers(&CimHeaders::mpost(&m, &ns)).unwrap();
        assert!(
            matches!(r.kind, RequestKind::Operation { ref cim_method, .. } if cim_method == "GetClass")
        );
        assert_eq!(
            mpost_namespace(&map(&[("Man", "http://example.com/x; ns=1")])),
            None
        );
        assert_eq!(
            mpost_namespace(&map(&[(
                "Man",
                "\"http://www.dmtf.org/cim/mapping/http/v1.0\";ns=ab"
            )])),
            None
        );
        assert_eq!(mpost_namespace(&HeaderMap::new()), None);
    }

    #[test]
    fn content_types() {
        let ct = |v: &str| check_content_type(&map(&[("Content-Type", v)]));
        assert!(ct("application/xml; charset=\"utf-8\"").is_ok());
        assert!(ct("text/xml;charset=UTF-8").is_ok());
        assert!(ct("application/xml").is_ok());
        assert!(ct("application/json").is_err());
        assert!(ct("text/xml; charset=iso-8859-1").is_err());
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn te_trailers() {
        assert!(wants_trailers(&map(&[("TE", "trailers")])));
        assert!(wants_trailers(&map(&[("TE", "gzip;q=0.5, Trailers")])));
        assert!(!wants_trailers(&map(&[("TE", "gzip")])));
        assert!(!wants_trailers(&HeaderMap::new()));
    }
}
