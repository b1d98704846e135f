//! The console's management pages in a real browser (Debian's headless
//! Chromium over WebDriver) against a real `vine up` with three
//! test-driver hosts: a policy written in the editor — a misspelt key and
//! an upper threshold below the lower one shown at their lines, fixed,
//! applied, compared with its first version, rolled back, explained — and
//! a virtual server created with two nodes, scaled to three and deleted,
//! each change followed to its job's end. A reader then finds no control
//! that changes anything, yet may explain a policy (it changes nothing), and a second `vine up --haproxy off` shows the
//! page saying its virtual server has no front end. Screenshots go to
//! `target/console-screenshots/` (`VINE_DARK=1`: dark ones, `-dark`).
//!
//! Needs `chromium` and `chromium-driver` (deploy/setup.sh installs them);
//! without them the test says so and skips.

mod browser_support;
mod up_support;

use std::collections::BTreeSet;
use std::time::Instant;

use browser_support::*;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use up_support::vine_up;

/// The policy as first applied. Line numbers matter: the checks below
/// find problems on the lines they put them on.
const POLICY_V1: &str = "name = \"e2e-policy\"
description = \"written by the console test\"

[scope]
kind = \"datacenter\"

[thresholds.cpu]
upper = 0.9
lower = 0.3

[migration]
max_concurrent = 2
hysteresis = 0.05
";

/// Replaces the editor's text by typing it, as a user pasting would
/// (an input event per key, so the debounced check runs as when typing).
async fn type_policy(c: &Client, text: &str) {
    let ta = c.find(Locator::Id("policy-text")).await.unwrap();
    ta.clear().await.unwrap();
    ta.send_keys(text).await.unwrap();
    let got = c
        .execute(
            "return document.getElementById('policy-text').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        got.as_str().unwrap(),
        text,
        "the editor holds what was typed"
    );
}

/// Waits for the editor's check to settle on `state` (valid / invalid)
/// for the text now in it.
async fn checked(c: &Client, state: &str) {
    wait_js(
        c,
        &format!("the policy check to say {state}"),
        &format!("document.getElementById('policy-check').dataset.state === '{state}' && !document.getElementById('policy-check').textContent.startsWith('Checking')"),
        10,
    )
    .await;
}

/// The problems the editor lists: (line, message).
async fn problems(c: &Client) -> Vec<(u64, String)> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('#policy-text-problems li')].map(li => [Number(li.querySelector('[data-line]')?.dataset.line || 0), li.querySelector('.msg').textContent])",
            vec![],
        )
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_str().unwrap().to_string()))
        .collect()
}

/// Lines the gutter marks as having problems.
async fn marked_lines(c: &Client) -> Value {
    c.execute(
        "return [...document.querySelectorAll('.code-gutter .ln.bad')].map(l => Number(l.dataset.line))",
        vec![],
    )
    .await
    .unwrap()
}

/// A screenshot without the passing toasts (they hide the page's corner).
async fn clean_shot(c: &Client, name: &str) {
    let name = if std::env::var_os("VINE_DARK").is_some() {
        format!("{name}-dark")
    } else {
        name.to_string()
    };
    c.execute(
        "document.getElementById('toasts').replaceChildren()",
        vec![],
    )
    .await
    .unwrap();
    shot(c, &name).await;
}

/// The hosts of the virtual server's nodes, as its page lists them.
async fn node_hosts(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('#vs-nodes tbody tr .node-host')].map(td => td.textContent)",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_virtual_servers_through_the_console() {
    // VINE_DARK=1: the system prefers dark; screenshots get a -dark suffix.
    let dark = std::env::var_os("VINE_DARK").is_some();
    let Some(browser) = Browser::start(dark).await else {
        return;
    };
    let c = browser.c.clone();
    let dir = tempfile::tempdir().unwrap();
    let up = vine_up(dir.path(), 3, 1, &[]);
    let t0 = Instant::now();

    login_by_keyboard(&c, &up.console, "admin", &up.password).await;
    wait_js(
        &c,
        "logged in",
        "document.getElementById('who').textContent === 'admin (admin)'",
        15,
    )
    .await;

    // Alerts on the overview: a host put in maintenance is named with
    // what to do; once it is back, nothing needs attention.
    wait_js(&c, "no alerts", "document.getElementById('no-alerts')", 15).await;
    let (status, body) = up.rest("PATCH", "/hosts/host-1", Some(json!({"maintenance": true})));
    assert_eq!(status, 200, "{body}");
    let alert = wait_js(
        &c,
        "the maintenance alert",
        "document.querySelector('#ov-alerts [data-alert=\"host-1\"]')?.textContent",
        15,
    )
    .await;
    assert!(
        alert.as_str().unwrap().contains("in maintenance"),
        "{alert}"
    );
    let (status, _) = up.rest(
        "PATCH",
        "/hosts/host-1",
        Some(json!({"maintenance": false})),
    );
    assert_eq!(status, 200);
    wait_js(
        &c,
        "the alert gone",
        "document.getElementById('no-alerts')",
        15,
    )
    .await;

    // The diff module on its own: a replaced line is a deletion then an
    // addition, unchanged lines keep both numbers.
    let d = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            import('/js/diff.js').then(m => {
              const s = m.lineDiff('a\nb\nc\n', 'a\nx\nc\nd\n');
              done([s.map(x => x.op + ':' + x.text + ':' + (x.a || '') + ':' + (x.b || '')).join(' '),
                    m.lineDiff('same\n', 'same\n').length, JSON.stringify(m.diffStats(s))]);
            }, e => done(String(e)));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        d,
        json!([
            "same:a:1:1 del:b:2: add:x::2 same:c:3:3 add:d::4",
            1,
            "{\"added\":2,\"removed\":1}"
        ])
    );

    // A new policy from the sample: valid as it stands.
    c.goto(&format!("{}#/policies", up.console)).await.unwrap();
    wait_js(
        &c,
        "the policies list",
        "document.querySelector('main .ptable')",
        10,
    )
    .await;
    click(&c, "#new-policy").await;
    wait_js(
        &c,
        "the editor",
        "document.getElementById('policy-text')",
        10,
    )
    .await;
    checked(&c, "valid").await;
    assert!(text(&c, "#policy-check").await.contains("No problems"));

    type_policy(&c, POLICY_V1).await;
    checked(&c, "valid").await;
    click(&c, "#policy-apply").await;
    wait_js(
        &c,
        "version 1 stored",
        "location.hash === '#/policies/e2e-policy' && document.querySelector('#policy-versions li[data-version=\"1\"]')",
        10,
    )
    .await;
    assert_eq!(up.get("/policies/e2e-policy")["version"], json!(1));

    // A misspelt key: shown at its line (12), marked in the gutter.
    let misspelt = POLICY_V1.replace("max_concurrent", "max_concurent");
    type_policy(&c, &misspelt).await;
    checked(&c, "invalid").await;
    let p = problems(&c).await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, 12, "{p:?}");
    assert!(p[0].1.contains("max_concurent"), "{p:?}");
    assert_eq!(marked_lines(&c).await, json!([12]));

    // An upper threshold below the lower one: shown at the `upper` line (8).
    let inverted = POLICY_V1.replace("upper = 0.9", "upper = 0.2");
    type_policy(&c, &inverted).await;
    checked(&c, "invalid").await;
    let p = problems(&c).await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, 8, "{p:?}");
    assert!(
        p[0].1.contains("upper (0.2) must be above lower (0.3)"),
        "{p:?}"
    );
    assert_eq!(marked_lines(&c).await, json!([8]));
    let apply_disabled = c
        .execute(
            "return document.getElementById('policy-apply').disabled",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        apply_disabled,
        json!(true),
        "no Apply while it has problems"
    );
    // The problem's entry moves the cursor to its line, with the keyboard.
    c.find(Locator::Css("#policy-text-problems button[data-line]"))
        .await
        .unwrap()
        .send_keys(&char::from(fantoccini::key::Key::Enter).to_string())
        .await
        .unwrap();
    let at = c
        .execute(
            "const t = document.activeElement; return t.id === 'policy-text' && t.value.slice(0, t.selectionStart).split('\\n').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(at, json!(8), "the cursor is on the problem's line");
    clean_shot(&c, "policy-error").await;

    // Fixed: the problems clear; applied as version 2.
    let v2 = POLICY_V1.replace("upper = 0.9", "upper = 0.8");
    type_policy(&c, &v2).await;
    checked(&c, "valid").await;
    assert!(problems(&c).await.is_empty());
    assert_eq!(marked_lines(&c).await, json!([]));
    click(&c, "#policy-apply").await;
    wait_js(
        &c,
        "version 2 in the history",
        "document.querySelector('#policy-versions li[data-version=\"2\"].active') && document.getElementById('policy-meta').textContent.includes('version 2')",
        10,
    )
    .await;

    // Version 1 against the text now: one line changed.
    click(&c, "[data-diff=\"1\"]").await;
    let summary = wait_js(
        &c,
        "the diff",
        "document.getElementById('diff-summary')?.textContent",
        5,
    )
    .await;
    assert!(summary.as_str().unwrap().contains("+1 −1"), "{summary}");
    assert_eq!(text(&c, "#policy-diff .dl.del .t").await, "upper = 0.9");
    assert_eq!(text(&c, "#policy-diff .dl.add .t").await, "upper = 0.8");
    clean_shot(&c, "policies").await;

    // Roll back to version 1, after a confirmation: stored as version 3.
    click(&c, "[data-rollback=\"1\"]").await;
    let q = wait_js(
        &c,
        "the confirmation",
        "document.querySelector('dialog[open] h2')?.textContent",
        5,
    )
    .await;
    assert_eq!(q, "Roll e2e-policy back to version 1?");
    dialog(&c, &[]).await;
    wait_js(
        &c,
        "version 3, the rollback",
        "document.querySelector('#policy-versions li[data-version=\"3\"].active') && document.getElementById('policy-text').value.includes('upper = 0.9')",
        10,
    )
    .await;
    let active = up.get("/policies/e2e-policy");
    assert_eq!(active["version"], json!(3));
    assert_eq!(active["note"], json!("rollback to version 1"));
    assert_eq!(active["text"], json!(POLICY_V1));

    // Explain: the engine's answer, or the console saying the manager
    // has no explain yet.
    let (status, body) = up.rest(
        "POST",
        "/policies/explain",
        Some(json!({"name": "e2e-policy"})),
    );
    click(&c, "#policy-explain-btn").await;
    let outcome = wait_js(
        &c,
        "the explanation",
        "document.getElementById('policy-explain').dataset.state",
        15,
    )
    .await;
    let said = text(&c, "#policy-explain").await;
    // No route: 404 "no such resource", or 405 from `/policies/{name}`.
    let missing = status == 405
        || (status == 404
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no such resource")));
    if missing {
        assert_eq!(outcome, "error", "{said}");
        assert!(said.contains("cannot explain policies yet"), "{said}");
        eprintln!("SKIPPED explain's answer: POST /api/v1/policies/explain is not there yet (the console said: {said})");
    } else {
        assert_eq!(status, 200, "{body}");
        assert_eq!(outcome, "answered", "{said}");
        assert!(said.contains("What the engine would do now"), "{said}");
        assert!(said.contains("Looked at 3 hosts"), "{said}");
        c.execute(
            "document.getElementById('policy-explain').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .unwrap();
        clean_shot(&c, "policy-explain").await;
        assert!(
            count(&c, "#explain-commands li, #explain-none").await >= 1,
            "{said}"
        );
    }
    let policies_done = t0.elapsed();

    // A virtual server with two nodes, from the list page.
    c.goto(&format!("{}#/vs", up.console)).await.unwrap();
    wait_js(
        &c,
        "the virtual servers",
        "document.querySelector('main .ptable')",
        10,
    )
    .await;
    click(&c, "#new-vs").await;
    dialog(
        &c,
        &[
            ("name", "e2e-web"),
            ("nodes", "2"),
            ("vcpus", "1"),
            ("memory_mib", "128"),
        ],
    )
    .await;
    let outcome = job_outcome(&c, 60).await;
    assert_eq!(outcome, "succeeded", "{}", text(&c, ".job").await);
    wait_js(
        &c,
        "e2e-web in the list",
        "[...document.querySelectorAll('main tbody tr a')].some(a => a.textContent === 'e2e-web')",
        10,
    )
    .await;
    // The page says whether HAProxy fronts it, as the API does.
    let fe = up.get("/vs/e2e-web")["front_end"]["state"].clone();
    let balancer = wait_js(
        &c,
        "the balancer note",
        "document.getElementById('vs-balancer')?.dataset.balancer",
        10,
    )
    .await;
    let want = if fe == json!("none") {
        "none"
    } else {
        "haproxy"
    };
    assert_eq!(balancer, json!(want), "front end {fe}");
    eprintln!(
        "virtual servers {}: the console said {:?}",
        if want == "none" {
            "without a front end"
        } else {
            "fronted by haproxy"
        },
        text(&c, "#vs-balancer").await
    );
    clean_shot(&c, "vs-list").await;

    // Its page: two nodes on two hosts; scale to three, one per host.
    c.goto(&format!("{}#/vs/e2e-web", up.console))
        .await
        .unwrap();
    wait_js(
        &c,
        "two nodes",
        "document.querySelectorAll('#vs-nodes tbody tr').length === 2",
        10,
    )
    .await;
    let hosts: BTreeSet<String> = node_hosts(&c).await.into_iter().collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    // Escape closes the scale dialog and starts nothing.
    click(&c, "[data-action=scale]").await;
    wait_js(
        &c,
        "the scale dialog",
        "document.querySelector('dialog[open]')",
        5,
    )
    .await;
    c.active_element()
        .await
        .unwrap()
        .send_keys(&char::from(fantoccini::key::Key::Escape).to_string())
        .await
        .unwrap();
    wait_js(
        &c,
        "the dialog closed",
        "!document.querySelector('dialog')",
        5,
    )
    .await;
    assert_eq!(count(&c, ".job[data-job]").await, 0);
    assert_eq!(act(&c, "scale", Some(&[("nodes", "3")])).await, "succeeded");
    wait_js(
        &c,
        "three nodes",
        "document.querySelectorAll('#vs-nodes tbody tr').length === 3",
        10,
    )
    .await;
    let hosts: BTreeSet<String> = node_hosts(&c).await.into_iter().collect();
    assert_eq!(
        hosts,
        ["host-1", "host-2", "host-3"].map(String::from).into(),
        "one node per host"
    );
    let api_health: Vec<String> = up.get("/vs/e2e-web")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["health"].as_str().unwrap().to_string())
        .collect();
    let shown = c
        .execute(
            "return [...document.querySelectorAll('#vs-nodes .node-health .state')].map(s => s.className.replace('state vs-', ''))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        shown,
        json!(api_health),
        "each node's health as the API has it"
    );
    clean_shot(&c, "vs").await;

    // Delete after a confirmation; its job's success takes us to the list.
    click(&c, "[data-action=delete]").await;
    dialog(&c, &[]).await;
    wait_js(
        &c,
        "the delete job's box",
        "document.querySelector('.job[data-job]')",
        10,
    )
    .await;
    wait_js(
        &c,
        "back at the list without e2e-web",
        "location.hash === '#/vs' && document.querySelector('main .ptable') && ![...document.querySelectorAll('main tbody tr a')].some(a => a.textContent === 'e2e-web')",
        60,
    )
    .await;
    assert_eq!(up.get("/vs"), json!([]));
    let vs_done = t0.elapsed() - policies_done;

    // Phone width: the policy page reads without sideways scrolling.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}#/policies/e2e-policy", up.console))
        .await
        .unwrap();
    wait_js(
        &c,
        "the versions",
        "document.querySelector('#policy-versions li')",
        10,
    )
    .await;
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "no sideways scrolling: {overflow}"
    );
    clean_shot(&c, "policy-phone").await;
    c.set_window_size(1280, 900).await.unwrap();
    no_problems(&c).await;

    // A reader: a virtual server to look at, made through the API.
    let (status, body) = up.rest(
        "POST",
        "/vs",
        Some(json!({"name": "e2e-keep", "nodes": 1, "template": {"vcpus": 1, "memory_mib": 128}})),
    );
    assert_eq!(status, 202, "{body}");
    click(&c, "#logout").await;
    wait_js(
        &c,
        "the login page",
        "location.hash === '#/login' && document.getElementById('login-user')",
        10,
    )
    .await;
    up.add_user("viewer", "reader", "viewer-password");
    login(&c, &up.console, "viewer", "viewer-password").await;
    wait_js(
        &c,
        "logged in as the reader",
        "document.getElementById('who').textContent === 'viewer (reader)'",
        15,
    )
    .await;
    let changers = "[...document.querySelectorAll('button, a.button')].filter(b => b.offsetParent).map(b => b.textContent.trim()).filter(t => /^(Apply|Roll back|New|Create|Scale|Delete|Undo)/.test(t))";
    c.goto(&format!("{}#/policies", up.console)).await.unwrap();
    wait_js(
        &c,
        "the policies list",
        "document.querySelector('main tbody tr a')",
        10,
    )
    .await;
    assert_eq!(count(&c, "#new-policy").await, 0);
    c.goto(&format!("{}#/policies/e2e-policy", up.console))
        .await
        .unwrap();
    wait_js(
        &c,
        "the versions",
        "document.querySelector('#policy-versions li[data-version=\"3\"]')",
        10,
    )
    .await;
    assert_eq!(count(&c, "#policy-apply, [data-rollback]").await, 0);
    // Explain changes nothing: the reader has it, and gets an answer.
    assert_eq!(count(&c, "#policy-explain-btn").await, 1);
    click(&c, "#policy-explain-btn").await;
    let outcome = wait_js(
        &c,
        "the reader's explanation",
        "document.getElementById('policy-explain').dataset.state",
        15,
    )
    .await;
    let said = text(&c, "#policy-explain").await;
    assert_eq!(outcome, "answered", "{said}");
    assert!(said.contains("What the engine would do now"), "{said}");
    let ro = c
        .execute(
            "return document.getElementById('policy-text').readOnly",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ro, json!(true), "a reader cannot type in the policy");
    assert_eq!(
        c.execute(&format!("return {changers}"), vec![])
            .await
            .unwrap(),
        json!([])
    );
    c.goto(&format!("{}#/vs", up.console)).await.unwrap();
    wait_js(
        &c,
        "e2e-keep in the list",
        "[...document.querySelectorAll('main tbody tr a')].some(a => a.textContent === 'e2e-keep')",
        10,
    )
    .await;
    assert_eq!(count(&c, "#new-vs").await, 0);
    c.goto(&format!("{}#/vs/e2e-keep", up.console))
        .await
        .unwrap();
    wait_js(
        &c,
        "its settings",
        "document.getElementById('vs-count')",
        10,
    )
    .await;
    assert_eq!(
        count(&c, "[data-action]").await,
        0,
        "a reader has no scale or delete"
    );
    assert_eq!(
        c.execute(&format!("return {changers}"), vec![])
            .await
            .unwrap(),
        json!([])
    );

    no_problems(&c).await;
    drop(up);

    // Without a load balancer (`--haproxy off`) the page says there is no
    // front end, and why, rather than showing a dead address.
    let bare_dir = tempfile::tempdir().unwrap();
    let bare = vine_up(bare_dir.path(), 2, 0, &["--haproxy", "off"]);
    let (status, body) = bare.rest(
        "POST",
        "/vs",
        Some(json!({"name": "bare", "nodes": 1, "template": {"vcpus": 1, "memory_mib": 128}})),
    );
    assert_eq!(status, 202, "{body}");
    login(&c, &bare.console, "admin", &bare.password).await;
    wait_js(
        &c,
        "logged in",
        "document.getElementById('who').textContent === 'admin (admin)'",
        15,
    )
    .await;
    c.goto(&format!("{}#/vs/bare", bare.console)).await.unwrap();
    wait_js(
        &c,
        "the no-front-end note",
        "document.getElementById('vs-balancer')?.dataset.balancer === 'none'",
        15,
    )
    .await;
    let said = text(&c, "#vs-balancer").await;
    assert!(said.starts_with("No front end."), "{said}");
    assert!(said.contains("--haproxy off"), "{said}");
    assert!(text(&c, "#vs-front").await.contains("no front end"));
    no_problems(&c).await;
    eprintln!(
        "console management: policies (new, 2 bad texts, fix, apply, diff, rollback, explain) {policies_done:?}; \
         virtual server (create 2, scale 3, delete) {vs_done:?}; all {:?}",
        t0.elapsed()
    );
    c.close().await.unwrap();
}
