//! The console's static files, embedded in the binary so the manager
//! serves a working console with no network and no files beside it.
//! Every file under `ui/` that the browser loads is listed here once; a
//! test checks the list against the folder.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderMap, Response, StatusCode};
use http_body_util::Full;

/// One embedded file.
pub(crate) struct Asset {
    /// URL path (`/js/app.js`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($file:literal, $ct:expr) => {
        Asset {
            path: concat!("/", $file),
            content_type: $ct,
            body: include_bytes!(concat!("../../../ui/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// What the browser may load.
pub(crate) static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.css", CSS),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/table.js", JS),
    asset!("js/jobwatch.js", JS),
    asset!("js/login.js", JS),
    asset!("js/overview.js", JS),
    asset!("js/hosts.js", JS),
    asset!("js/vms.js", JS),
    asset!("js/vm.js", JS),
    asset!("js/jobs.js", JS),
    asset!("js/stream.js", JS),
    asset!("js/charts.js", JS),
    asset!("js/policies.js", JS),
    asset!("js/editor.js", JS),
    asset!("js/diff.js", JS),
    asset!("js/vs.js", JS),
    asset!("js/alerts.js", JS),
    asset!("vendor/uplot/uPlot.esm.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
];

/// Scripts only from our origin and never inline; styles likewise (the
/// chart library sets styles through the DOM, which CSP allows); the API
/// only on our origin; no framing.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The asset served at `path` (`/` is the page).
pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// A strong ETag per asset (FNV-1a of its bytes), computed once.
fn etag(a: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let h = a.body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("\"{h:016x}\"")
            })
            .collect()
    });
    ASSETS
        .iter()
        .position(|x| x.path == a.path)
        .and_then(|i| tags.get(i))
        .map_or("\"\"", String::as_str)
}

/// The response for `a`: 304 when the browser has this version. Cached
/// copies are revalidated on every load (`no-cache`) so an upgraded
/// manager never serves a mix of old and new scripts.
pub(crate) fn respond(a: &Asset, request: &HeaderMap, head_only: bool) -> Response<Full<Bytes>> {
    let tag = etag(a);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if head_only {
        (StatusCode::OK, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from_static(a.body))
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, a.content_type)
        .header(header::ETAG, tag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header("Content-Security-Policy", CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("X-Frame-Options", "DENY")
        .header("Referrer-Policy", "no-referrer")
        .body(Full::new(body))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `ui/` except documentation and licences.
    fn files_in_ui() -> Vec<String> {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    let name = p.file_name().unwrap().to_string_lossy().to_string();
                    if name == "LICENSE" || name.ends_with(".md") {
                        continue;
                    }
                    out.push(format!(
                        "/{}",
                        p.strip_prefix(root).unwrap().to_string_lossy()
                    ));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    #[test]
    fn every_ui_file_is_embedded_and_nothing_else() {
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        listed.sort();
        assert_eq!(listed, files_in_ui());
    }

    #[test]
    fn every_script_the_page_loads_is_embedded_and_none_is_inline() {
        let page = std::str::from_utf8(find("/").unwrap().body).unwrap();
        assert!(!page.contains("<script>"), "no inline scripts (CSP)");
        assert!(!page.contains("style="), "no inline styles (CSP)");
        for js in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(js.body).unwrap();
            // Relative module imports resolve next to the importing file.
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let base = js.path.rsplit_once('/').unwrap().0;
                let target = if let Some(rest) = spec.strip_prefix("./") {
                    format!("{base}/{rest}")
                } else if let Some(rest) = spec.strip_prefix("../") {
                    format!("{}/{rest}", base.rsplit_once('/').unwrap().0)
                } else {
                    spec.to_string()
                };
                assert!(find(&target).is_some(), "{} imports {target}", js.path);
            }
        }
    }

    #[test]
    fn unchanged_assets_answer_304() {
        let a = find("/js/app.js").unwrap();
        let r = respond(a, &HeaderMap::new(), false);
        assert_eq!(r.status(), StatusCode::OK);
        let tag = r.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(respond(a, &h, false).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[header::CONTENT_TYPE], JS);
    }
}
