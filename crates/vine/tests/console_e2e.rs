//! The web console in a real browser: Debian's headless Chromium, driven
//! over WebDriver (chromedriver), against a real `vine up` with three
//! test-driver hosts. Logs in, reads the pages, creates and migrates a VM
//! while following its jobs, then checks that a reader sees no action and
//! that the API refuses the reader's write. Screenshots of the main pages
//! go to `target/console-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (deploy/setup.sh installs them);
//! without them the test says so and skips.

mod browser_support;
mod up_support;

use std::time::{Duration, Instant};

use browser_support::*;
use fantoccini::Locator;
use serde_json::json;
use up_support::{vine_up, Up};

/// Whether the API has a route for `method path` (405/404 mean it has
/// not). The probe's body is a JSON string, which no route takes: a route
/// that exists refuses it (400) and changes nothing.
fn has_route(up: &Up, method: &str, path: &str) -> bool {
    let (status, body) = up.rest(method, path, Some(json!("probe")));
    let missing = status == 405
        || (status == 404
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no such resource")));
    !missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_against_vine_up() {
    let Some(browser) = Browser::start(false).await else {
        return;
    };
    let c = browser.c.clone();
    let dir = tempfile::tempdir().unwrap();
    let up = vine_up(dir.path(), 3, 2, &[]);

    // Not logged in: the console sends us to its login page; a wrong
    // password says so and keeps us there.
    c.goto(&up.console).await.unwrap();
    wait_js(&c, "the login page", "location.hash === '#/login'", 10).await;
    login(&c, &up.console, "admin", "not-the-password").await;
    let msg = wait_js(
        &c,
        "the login error",
        "document.getElementById('login-error').textContent",
        10,
    )
    .await;
    assert_eq!(msg, "Wrong user name or password.");
    shot(&c, "login").await;

    // Admin: the overview shows three hosts up, loaded and timed.
    let t0 = Instant::now();
    login_by_keyboard(&c, &up.console, "admin", &up.password).await;
    wait_js(
        &c,
        "the overview's hosts",
        "document.querySelectorAll('#ov-hosts tbody tr a').length === 3",
        15,
    )
    .await;
    let first_paint = t0.elapsed();
    wait_js(
        &c,
        "three hosts up",
        "document.querySelector('#hosts-up .n')?.textContent === '3 / 3'",
        30,
    )
    .await;
    let hosts_text = text(&c, "#ov-hosts tbody").await;
    for h in ["host-1", "host-2", "host-3"] {
        assert!(hosts_text.contains(h), "{hosts_text}");
    }
    assert_eq!(text(&c, "#who").await, "admin (admin)");
    // A full reload of the overview, as a user pressing F5.
    let t1 = Instant::now();
    c.refresh().await.unwrap();
    wait_js(
        &c,
        "the overview after reload",
        "document.querySelectorAll('#ov-hosts tbody tr a').length === 3",
        15,
    )
    .await;
    let reload = t1.elapsed();
    eprintln!(
        "console: login page loaded, keyboard login, overview with 3 hosts shown: {first_paint:?}; reload → overview {reload:?}"
    );

    // Hosts page.
    c.goto(&format!("{}#/hosts", up.console)).await.unwrap();
    wait_js(
        &c,
        "the hosts list",
        "document.querySelectorAll('main tbody tr .state-up').length === 3",
        15,
    )
    .await;
    shot(&c, "hosts").await;

    // VMs: the six sample VMs; search narrows, sort orders.
    c.goto(&format!("{}#/vms", up.console)).await.unwrap();
    wait_js(
        &c,
        "the VM list",
        "document.querySelectorAll('main tbody tr a').length === 6",
        15,
    )
    .await;
    let search = c
        .find(Locator::Css("main input[type=search]"))
        .await
        .unwrap();
    search.send_keys("host-2").await.unwrap();
    wait_js(
        &c,
        "the filtered list",
        "document.querySelectorAll('main tbody tr a').length === 2",
        5,
    )
    .await;
    // Backspaces, as a user would (an input event per key).
    let backspaces = char::from(fantoccini::key::Key::Backspace)
        .to_string()
        .repeat(6);
    search.send_keys(&backspaces).await.unwrap();
    wait_js(
        &c,
        "the whole list",
        "document.querySelectorAll('main tbody tr a').length === 6",
        5,
    )
    .await;
    c.find(Locator::Css("th button.sort"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let first = wait_js(&c, "the sorted list", "document.querySelector('th[aria-sort=descending]') && document.querySelector('main tbody tr a').textContent", 5).await;
    assert_eq!(first, "host-3-vm2");
    shot(&c, "vms").await;

    // Create a VM, following its job.
    let can_create = has_route(&up, "POST", "/vms");
    let mut created = false;
    c.find(Locator::Id("new-vm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    dialog(
        &c,
        &[
            ("name", "web-e2e"),
            ("vcpus", "1"),
            ("memory_mib", "256"),
            ("host", "host-1"),
        ],
    )
    .await;
    if can_create {
        let outcome = job_outcome(&c, 30).await;
        assert_eq!(outcome, "succeeded", "{}", text(&c, ".job").await);
        wait_js(&c, "the new VM in the list", "[...document.querySelectorAll('main tbody tr a')].some(a => a.textContent === 'web-e2e')", 20).await;
        shot(&c, "vm-created").await;
        created = true;
    } else {
        let t = wait_js(
            &c,
            "the refusal",
            "document.querySelector('.toast.bad')?.textContent",
            10,
        )
        .await;
        eprintln!(
            "SKIPPED create VM: POST /api/v1/vms is not implemented yet (the console said: {t})"
        );
    }

    // The VM's page: settings, state, actions.
    let vm = if created { "web-e2e" } else { "host-1-vm1" };
    c.goto(&format!("{}#/vms/{vm}", up.console)).await.unwrap();
    wait_js(
        &c,
        "the VM's settings",
        "document.getElementById('vm-state')",
        15,
    )
    .await;
    assert_eq!(text(&c, "#vm-host").await, "host-1");
    assert!(
        count(&c, "#vm-actions button").await >= 8,
        "admin sees the actions"
    );
    shot(&c, "vm").await;

    if created && has_route(&up, "POST", "/vms/web-e2e/migrate") {
        c.find(Locator::Css("[data-action=migrate]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let opts = wait_js(&c, "the destinations", "[...document.querySelectorAll('dialog[open] option')].map(o => o.textContent).join('|')", 5).await;
        assert!(opts.as_str().unwrap().contains("host-2"), "{opts}");
        assert!(
            !opts.as_str().unwrap().contains("host-1 "),
            "not its own host: {opts}"
        );
        dialog(&c, &[("to", "host-2")]).await;
        let outcome = job_outcome(&c, 60).await;
        assert_eq!(outcome, "succeeded", "{}", text(&c, ".job").await);
        wait_js(
            &c,
            "the VM on host-2",
            "document.getElementById('vm-host')?.textContent === 'host-2'",
            15,
        )
        .await;
        shot(&c, "vm-migrated").await;
    } else {
        eprintln!("SKIPPED migrate: POST /api/v1/vms/{{name}}/migrate is not implemented yet");
    }

    // Power, resize and delete on a sample VM, each a job.
    if has_route(&up, "POST", "/vms/host-3-vm1/power") {
        c.goto(&format!("{}#/vms/host-3-vm1", up.console))
            .await
            .unwrap();
        let running = "document.getElementById('vm-state')?.textContent === 'Running'";
        wait_js(&c, "the VM running", running, 15).await;
        // Force off asks first; cancelling does nothing.
        c.find(Locator::Css("[data-action=stop]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let q = wait_js(
            &c,
            "the confirmation",
            "document.querySelector('dialog[open] h2')?.textContent",
            5,
        )
        .await;
        assert_eq!(q, "Force off host-3-vm1?");
        c.find(Locator::Css("dialog[open] button.quiet"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_js(
            &c,
            "the dialog closed",
            "!document.querySelector('dialog')",
            5,
        )
        .await;
        assert_eq!(
            count(&c, ".job[data-job]").await,
            0,
            "a cancelled force off starts no job"
        );
        assert_eq!(act(&c, "pause", None).await, "succeeded");
        wait_js(
            &c,
            "the VM paused",
            "document.getElementById('vm-state')?.textContent === 'Paused'",
            15,
        )
        .await;
        assert_eq!(act(&c, "resume", None).await, "succeeded");
        wait_js(&c, "the VM running", running, 15).await;
        if has_route(&up, "POST", "/vms/host-3-vm1/resize") {
            let r = act(&c, "resize", Some(&[("vcpus", "1"), ("memory_mib", "256")])).await;
            assert_eq!(r, "succeeded", "{}", text(&c, ".job").await);
            wait_js(
                &c,
                "the new size",
                "document.getElementById('vm-memory')?.textContent === '256 MiB'",
                15,
            )
            .await;
        }
        shot(&c, "vm-actions").await;
        // Delete asks first; once its job succeeds the page goes back to the list.
        c.find(Locator::Css("[data-action=delete]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        dialog(&c, &[]).await;
        wait_js(
            &c,
            "back at the list",
            "location.hash === '#/vms' && document.querySelectorAll('main tbody tr a').length > 0",
            15,
        )
        .await;
        let (_, vms) = up.rest("GET", "/vms", None);
        assert!(!vms.to_string().contains("host-3-vm1"), "deleted: {vms}");
    } else {
        eprintln!(
            "SKIPPED power/resize/delete: POST /api/v1/vms/{{name}}/power is not implemented yet"
        );
    }

    // Jobs.
    c.goto(&format!("{}#/jobs", up.console)).await.unwrap();
    wait_js(
        &c,
        "the jobs page",
        "document.querySelector('main table, main .muted')",
        10,
    )
    .await;
    if created {
        wait_js(
            &c,
            "the create job",
            "document.querySelector('main tbody').textContent.includes('vm.create web-e2e')",
            10,
        )
        .await;
    }
    shot(&c, "jobs").await;

    // Back on the overview, the jobs are among the recent events.
    c.goto(&format!("{}#/", up.console)).await.unwrap();
    wait_js(
        &c,
        "the overview",
        "document.querySelectorAll('#ov-hosts tbody tr a').length === 3",
        15,
    )
    .await;
    if created {
        wait_js(
            &c,
            "the job events",
            "document.querySelector('#ov-events').textContent.includes('web-e2e')",
            15,
        )
        .await;
    }
    // Two samples on the chart, and the job toasts gone.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    shot(&c, "overview").await;

    // Phone width: the VM list still reads.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}#/vms", up.console)).await.unwrap();
    wait_js(
        &c,
        "the VM list",
        "document.querySelectorAll('main tbody tr a').length >= 6",
        15,
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
        "no sideways scrolling of the page: {overflow}"
    );
    shot(&c, "vms-phone").await;
    c.set_window_size(1280, 900).await.unwrap();

    no_problems(&c).await;

    // Log out; log in as a reader.
    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
        "the overview",
        "document.querySelectorAll('#ov-hosts tbody tr a').length === 3",
        15,
    )
    .await;
    assert_eq!(text(&c, "#who").await, "viewer (reader)");
    c.goto(&format!("{}#/vms", up.console)).await.unwrap();
    wait_js(
        &c,
        "the VM list",
        "document.querySelectorAll('main tbody tr a').length >= 6",
        15,
    )
    .await;
    assert_eq!(
        count(&c, "#new-vm").await,
        0,
        "a reader has no New VM button"
    );
    c.goto(&format!("{}#/vms/{vm}", up.console)).await.unwrap();
    wait_js(
        &c,
        "the VM's settings",
        "document.getElementById('vm-state')",
        15,
    )
    .await;
    assert_eq!(
        count(&c, "[data-action]").await,
        0,
        "a reader has no VM actions"
    );
    shot(&c, "vm-reader").await;
    c.goto(&format!("{}#/jobs", up.console)).await.unwrap();
    wait_js(
        &c,
        "the jobs page",
        "document.querySelector('main table, main .muted')",
        10,
    )
    .await;
    assert_eq!(
        count(&c, "[data-cancel]").await,
        0,
        "a reader cannot cancel jobs"
    );
    // Only enabled, visible buttons a reader could press: navigation and logout.
    let buttons = c
        .execute(
            "return [...document.querySelectorAll('button')].filter(b => b.offsetParent && !b.disabled && !b.classList.contains('sort') && !['Previous','Next'].includes(b.textContent)).map(b => b.id || b.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(buttons, json!(["logout"]));

    // And the API refuses the reader's write, token or not.
    let statuses = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            (async () => {
              const me = await (await fetch('/api/v1/session')).json();
              const body = JSON.stringify({template: {name: 'sneaky', vcpus: 1, memory_mib: 128}});
              const h = {'Content-Type': 'application/json'};
              const a = await fetch('/api/v1/vms', {method: 'POST', headers: h, body});
              const b = await fetch('/api/v1/vms', {method: 'POST', headers: {...h, 'X-CSRF-Token': me.csrf}, body});
              return [a.status, (await a.json()).type, b.status, (await b.json()).type];
            })().then(done, e => done(String(e)));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!([403, "csrf", 403, "forbidden"]));
    let (_, vms) = up.rest("GET", "/vms", None);
    assert!(!vms.to_string().contains("sneaky"));

    no_problems(&c).await;
    c.close().await.unwrap();
}

/// A measurement, not a check: how the console copes with a big
/// inventory. Run against a `vine up` you started yourself, e.g.
/// `vine up --hosts 64 --vms-per-host 313` (≈20,000 VMs):
///
/// ```text
/// VINE_CONSOLE=https://127.0.0.1:8443/ VINE_PASSWORD=… \
///   cargo test -p vine --test console_e2e -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement against a big vine up started by hand"]
async fn console_speed_with_a_big_inventory() {
    let (Ok(console), Ok(password)) = (
        std::env::var("VINE_CONSOLE"),
        std::env::var("VINE_PASSWORD"),
    ) else {
        eprintln!("SKIPPED: set VINE_CONSOLE and VINE_PASSWORD to a running vine up");
        return;
    };
    // VINE_DARK=1: the system prefers dark; screenshots get a -dark suffix.
    let dark = std::env::var_os("VINE_DARK").is_some();
    let suffix = if dark { "-dark" } else { "" };
    let Some(browser) = Browser::start(dark).await else {
        return;
    };
    let c = browser.c.clone();
    login(&c, &console, "admin", &password).await;
    let t = Instant::now();
    wait_js(&c, "the overview", "document.querySelectorAll('#ov-hosts tbody tr a').length >= 10 && document.querySelector('#hosts-up .n')", 60).await;
    let overview = t.elapsed();
    let t = Instant::now();
    c.refresh().await.unwrap();
    wait_js(&c, "the overview", "document.querySelectorAll('#ov-hosts tbody tr a').length >= 10 && document.querySelector('#hosts-up .n')", 60).await;
    let overview_reload = t.elapsed();
    // A second sample draws the chart's line.
    tokio::time::sleep(Duration::from_millis(5500)).await;
    shot(&c, &format!("big-overview{suffix}")).await;
    let t = Instant::now();
    c.goto(&format!("{console}#/vms")).await.unwrap();
    let total = wait_js(&c, "the VM list", "document.querySelectorAll('main tbody tr a').length === 50 && document.querySelector('.pager span').textContent", 120).await;
    let vms = t.elapsed();
    shot(&c, &format!("big-vms{suffix}")).await;
    // One keystroke in the search box, to the re-rendered page.
    let search = c
        .find(Locator::Css("main input[type=search]"))
        .await
        .unwrap();
    let t = Instant::now();
    search.send_keys("7").await.unwrap();
    let filtered = wait_js(&c, "the filtered list", "document.querySelector('.pager span').textContent.includes('in all') && document.querySelector('.pager span').textContent", 30).await;
    let keystroke = t.elapsed();
    // Sort by memory, measured inside the page (no WebDriver round trip).
    let sort_ms = c
        .execute(
            "const b = [...document.querySelectorAll('th button.sort')].find(b => b.textContent === 'Memory'); \
             const t = performance.now(); b.click(); return performance.now() - t;",
            vec![],
        )
        .await
        .unwrap();
    let next_ms = c
        .execute(
            "const b = [...document.querySelectorAll('.pager button')].find(b => b.textContent === 'Next'); \
             const t = performance.now(); b.click(); return performance.now() - t;",
            vec![],
        )
        .await
        .unwrap();
    let heap = c
        .execute("return performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1048576) : null", vec![])
        .await
        .unwrap();
    eprintln!(
        "console with {total}: overview {overview:?} (reload {overview_reload:?}); VM list {vms:?}; \
         one search keystroke → {filtered} in {keystroke:?}; sort by memory {sort_ms} ms; next page {next_ms} ms; JS heap {heap} MiB"
    );
    c.close().await.unwrap();
}
