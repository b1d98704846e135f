//! `/api/v1/policies` over a real socket: a policy is checked as the
//! console's editor types, applied as a new version only when valid (a bad
//! file is a 400 listing each problem with its line, and the last good
//! version stays active), rolled back by version; readers may only read,
//! check and explain (POSTs that change nothing).

mod support;

use serde_json::json;
use vine_console::ApiError;
use vine_store::Store;
use vine_workload::policy::DEFAULT_POLICY_TOML;

fn policy(name: &str, upper: &str) -> String {
    DEFAULT_POLICY_TOML
        .replacen("name = \"default\"", &format!("name = \"{name}\""), 1)
        .replacen("upper = 0.95", &format!("upper = {upper}"), 1)
}

#[tokio::test]
async fn policies_are_checked_versioned_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let coordinator = support::coordinator(&store, support::inventory(&store));
    let api = support::serve(support::users(dir.path()), coordinator, None, None).await;
    let admin = support::client(&api, "admin");
    let reader = support::client(&api, "viewer");

    // The editor's check: valid, then a contradiction with its place.
    let ok = admin
        .post("/policies/check", &json!({"text": policy("web", "0.9")}))
        .await
        .unwrap();
    assert_eq!(ok["valid"], true, "{ok}");
    let bad_text = policy("web", "0.9").replacen("lower = 0.6", "lower = 0.99", 1);
    let bad = admin
        .post("/policies/check", &json!({"text": bad_text}))
        .await
        .unwrap();
    assert_eq!(bad["valid"], false);
    let line_of_lower = bad_text
        .lines()
        .position(|l| l.starts_with("lower = 0.99"))
        .unwrap()
        + 1;
    let lines: Vec<u64> = bad["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert!(
        lines.contains(&(line_of_lower as u64)) || lines.contains(&(line_of_lower as u64 - 1)),
        "a problem at the thresholds (line {line_of_lower}): {bad}"
    );

    // Apply twice: versions 1 and 2; the newest is active.
    let v1 = admin
        .post(
            "/policies",
            &json!({"text": policy("web", "0.9"), "origin": "web.toml"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (v1["name"].as_str(), v1["version"].as_u64()),
        (Some("web"), Some(1))
    );
    assert_eq!(v1["applied_by"], "admin");
    admin
        .post("/policies", &json!({"text": policy("web", "0.85")}))
        .await
        .unwrap();
    let active: serde_json::Value = admin.get("/policies/web").await.unwrap();
    assert_eq!(active["version"], 2);
    assert!(active["text"].as_str().unwrap().contains("upper = 0.85"));

    // A bad apply is a 400 naming web.toml:line:col, and changes nothing.
    match admin
        .post(
            "/policies",
            &json!({"text": bad_text, "origin": "web.toml"}),
        )
        .await
    {
        Err(ApiError::Status {
            status: 400,
            detail,
            ..
        }) => {
            assert!(detail.contains("web.toml:"), "{detail}")
        }
        other => panic!("expected 400, got {other:?}"),
    }
    let active: serde_json::Value = admin.get("/policies/web").await.unwrap();
    assert_eq!(active["version"], 2);

    // Roll back to 1: a third version with version 1's text.
    let v3 = admin
        .post("/policies/web/rollback", &json!({"version": 1}))
        .await
        .unwrap();
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["text"], v1["text"]);
    assert_eq!(v3["note"], "rollback to version 1");
    let history: Vec<serde_json::Value> = reader.get("/policies/web/versions").await.unwrap();
    assert_eq!(history.len(), 3);
    let listed: Vec<serde_json::Value> = reader.get("/policies").await.unwrap();
    assert_eq!(listed.len(), 1);

    // Unknown names and versions are 404s; readers cannot apply.
    for path in ["/policies/nope", "/policies/web/versions/9"] {
        let e = admin.get::<serde_json::Value>(path).await.unwrap_err();
        assert_eq!(e.status(), Some(404), "{path}: {e}");
    }
    let e = admin
        .post("/policies/web/rollback", &json!({"version": 7}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = reader
        .post("/policies", &json!({"text": policy("web", "0.9")}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));

    // Check and explain change nothing, so readers may send them too;
    // every other POST stays the admins'.
    let ok = reader
        .post("/policies/check", &json!({"text": policy("web", "0.9")}))
        .await
        .unwrap();
    assert_eq!(ok["valid"], true, "{ok}");
    let bad = reader
        .post("/policies/check", &json!({"text": bad_text}))
        .await
        .unwrap();
    assert_eq!(bad["valid"], false, "{bad}");
    let dry = reader
        .post("/policies/explain", &json!({"name": "web"}))
        .await
        .unwrap();
    assert_eq!(
        (dry["policy"].as_str(), dry["dry_run"].as_bool()),
        (Some("web"), Some(true)),
        "{dry}"
    );
    let e = reader
        .post("/policies/web/rollback", &json!({"version": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    let e = reader
        .post("/policies/check/x", &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "only those two paths: {e}");
    let after: Vec<serde_json::Value> = reader.get("/policies/web/versions").await.unwrap();
    assert_eq!(after.len(), history.len(), "the reader changed nothing");
    let e = admin
        .post("/policies", &json!({"txt": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    let schema: serde_json::Value = reader.get("/policies/schema").await.unwrap();
    assert!(schema.is_object());
}
