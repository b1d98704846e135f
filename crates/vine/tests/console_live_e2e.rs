//! The live console against a real `vine up` (two test-driver hosts, the
//! manager sampling every second): the metrics history fills and is served
//! over REST; the job and event streams carry a VM's creation as it
//! happens, read with curl (a third-party client); and in Chromium the
//! overview's and the VM page's charts have history and grow, while the
//! jobs page shows a new job without a reload, over an open EventSource.
//!
//! The browser part needs `chromium` and `chromium-driver`
//! (deploy/setup.sh installs them); without them it says so and skips.

mod browser_support;
mod up_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use browser_support::*;
use fantoccini::Locator;
use serde_json::{json, Value};
use up_support::{spawn_group, vine_up, Guard, Up};

/// `vine up` sampling fast (agents and manager every second), with some
/// synthetic CPU load so that the charts have something to show.
fn live_up(dir: &std::path::Path) -> Up {
    let load = dir.join("load.json");
    std::fs::write(
        &load,
        json!({"host-1-vm1": 0.35, "host-1-vm2": 0.8, "host-2-vm1": 0.6}).to_string(),
    )
    .unwrap();
    vine_up(
        dir,
        2,
        2,
        &[
            "--haproxy",
            "off",
            "--metrics-interval",
            "1",
            "--monitor-interval",
            "1",
            "--synthetic-load",
            load.to_str().unwrap(),
        ],
    )
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `secs`.
fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A server-sent event stream read by `curl -N`, message by message.
struct Sse {
    rx: mpsc::Receiver<(String, String, Value)>,
    _curl: Guard,
}

impl Sse {
    /// Opens `path` (below the API) as admin, with extra curl arguments.
    fn open(up: &Up, path: &str, extra: &[&str]) -> Sse {
        let mut curl = spawn_group(
            Command::new("curl")
                .args(["-skN", "-u"])
                .arg(format!("admin:{}", up.password))
                .args(extra)
                .arg(format!("{}{path}", up.api))
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let out = curl.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut id, mut event) = (String::new(), String::new());
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.to_string();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    let data = serde_json::from_str(v).unwrap_or(Value::Null);
                    if tx.send((id.clone(), event.clone(), data)).is_err() {
                        return;
                    }
                }
            }
        });
        Sse { rx, _curl: curl }
    }

    /// The next message (id, event, data) within `secs`.
    fn next(&self, secs: u64) -> (String, String, Value) {
        self.rx
            .recv_timeout(Duration::from_secs(secs))
            .expect("a message on the stream")
    }
}

#[test]
fn metrics_history_and_event_streams_over_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let up = live_up(dir.path());

    // A few rounds in, each host's and VM's series has points, with CPU
    // and memory in percent.
    let host = eventually("three host points with CPU", 20, || {
        let m = up.get("/hosts/host-1/metrics");
        let cpu = m["cpu_pct"]
            .as_array()?
            .iter()
            .filter(|v| v.is_number())
            .count();
        (cpu >= 3).then_some(m)
    });
    assert_eq!(host["name"], "host-1");
    assert_eq!(host["interval_s"], 1.0);
    let t: Vec<u64> = serde_json::from_value(host["t"].clone()).unwrap();
    assert!(t.windows(2).all(|w| w[0] < w[1]), "oldest first: {t:?}");
    assert_eq!(host["memory_pct"].as_array().unwrap().len(), t.len());
    for v in host["cpu_pct"]
        .as_array()
        .unwrap()
        .iter()
        .chain(host["memory_pct"].as_array().unwrap())
    {
        if let Some(x) = v.as_f64() {
            assert!((0.0..=100.0).contains(&x), "a percentage: {x}");
        }
    }
    // `since` gives only what is newer.
    let last = t[t.len() - 1];
    let newer = up.get(&format!("/hosts/host-1/metrics?since={last}"));
    assert!(newer["t"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x.as_u64().unwrap() > last));
    let vm = eventually("two VM points", 20, || {
        let m = up.get("/vms/host-2-vm1/metrics");
        (m["t"].as_array()?.len() >= 2).then_some(m)
    });
    assert!(vm["interval_s"].as_f64().unwrap() >= 1.0);
    assert!(
        vm["cpu_pct"]
            .as_array()
            .unwrap()
            .iter()
            .any(Value::is_number),
        "{vm}"
    );
    let summary = up.get("/metrics?top=1");
    assert!(summary["datacenter"]["t"].as_array().unwrap().len() >= 3);
    assert_eq!(summary["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(summary["busiest"].as_array().unwrap().len(), 1);
    // The answers have what the OpenAPI document says they have.
    let doc = up.get("/../openapi.json");
    for (schema, answer) in [
        ("Metrics", &host),
        ("Metrics", &vm),
        ("MetricsSummary", &summary),
    ] {
        for field in doc["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap()
        {
            let f = field.as_str().unwrap();
            assert!(answer.get(f).is_some(), "{schema}.{f} missing: {answer}");
        }
    }
    for path in [
        "/api/v1/jobs/stream",
        "/api/v1/events/stream",
        "/api/v1/metrics",
        "/api/v1/vms/{name}/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    // Wrong names and values are refused, with problem bodies.
    let (status, body) = up.rest("GET", "/hosts/no-such-host/metrics", None);
    assert_eq!(
        (status, body["status"].as_u64()),
        (404, Some(404)),
        "{body}"
    );
    let (status, _) = up.rest("GET", "/vms/no-such-vm/metrics", None);
    assert_eq!(status, 404);
    let (status, body) = up.rest("GET", "/hosts/host-1/metrics?since=yesterday", None);
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("since"), "{body}");

    // The streams need credentials like every route.
    let anon = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/jobs/stream", up.api))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&anon.stdout), "401");

    // A VM's creation, as the job stream carries it: every state in order.
    let jobs = Sse::open(&up, "/jobs/stream", &[]);
    let events = Sse::open(&up, "/events/stream", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let (status, r) = up.rest(
        "POST",
        "/vms",
        Some(json!({"template": {"name": "streamed", "vcpus": 1, "memory_mib": 256}})),
    );
    assert_eq!(status, 202, "{r}");
    let id = r["job"].as_str().unwrap().to_string();
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut first_id = None;
    while !matches!(
        seen.last().map(|s| s.1.as_str()),
        Some("succeeded" | "failed" | "cancelled")
    ) {
        let (sse_id, event, job) = jobs.next(30);
        assert_eq!(event, "job");
        if job["id"] != id.as_str() {
            continue;
        }
        assert_eq!(
            sse_id,
            job["updated_at"].to_string(),
            "the message id is its time"
        );
        first_id.get_or_insert(sse_id);
        seen.push((
            job["revision"].as_u64().unwrap(),
            job["state"].as_str().unwrap().to_string(),
        ));
    }
    let states: Vec<&str> = seen.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(states.first(), Some(&"queued"), "{states:?}");
    assert_eq!(states.last(), Some(&"succeeded"), "{states:?}");
    assert!(states.contains(&"running"), "{states:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "revisions only grow: {seen:?}"
    );
    // The event log's entry for it arrives on the other stream.
    eventually("the job's event on the event stream", 15, || {
        let (_, event, ev) = events.next(15);
        assert_eq!(event, "event");
        (ev["kind"] == "job.succeeded" && ev["subject"] == "streamed").then_some(())
    });

    // A client that reconnects with Last-Event-ID is sent what changed
    // since, at once: here the job's final state.
    let resumed = Sse::open(
        &up,
        "/jobs/stream",
        &["-H", &format!("Last-Event-ID: {}", first_id.unwrap())],
    );
    let last_state = eventually("the resumed stream's copy of the job", 10, || {
        let (_, _, job) = resumed.next(10);
        (job["id"] == id.as_str() && job["state"] == "succeeded").then_some(job)
    });
    assert_eq!(last_state["revision"].as_u64(), seen.last().map(|s| s.0));
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_charts_and_jobs_in_chromium() {
    let Some(browser) = Browser::start(false).await else {
        return;
    };
    let c = browser.c.clone();
    let dir = tempfile::tempdir().unwrap();
    let up = live_up(dir.path());
    login(&c, &up.console, "admin", &up.password).await;

    // Overview: the data-centre chart and the busiest hosts' small charts
    // are drawn from the history, and grow as rounds come in.
    let n = wait_js(
        &c,
        "the data-centre chart with points",
        "window.vineCharts && window.vineCharts['ov-dc'] && window.vineCharts['ov-dc'].data[0].length > 1 && window.vineCharts['ov-dc'].data[0].length",
        30,
    )
    .await;
    wait_js(
        &c,
        "two host charts with points",
        "Object.keys(window.vineCharts).filter(k => k.startsWith('ov-host-') && window.vineCharts[k].data[0].length > 1).length === 2",
        15,
    )
    .await;
    wait_js(
        &c,
        "the data-centre chart to grow",
        &format!("window.vineCharts['ov-dc'].data[0].length > {n}"),
        15,
    )
    .await;
    // A dozen rounds, for the screenshot.
    wait_js(
        &c,
        "twelve points",
        "window.vineCharts['ov-dc'].data[0].length >= 12",
        15,
    )
    .await;
    wait_js(
        &c,
        "the events stream open",
        "window.vineStreams.events && window.vineStreams.events.readyState === 1",
        10,
    )
    .await;
    shot(&c, "overview-live").await;

    // A VM's page: its chart has the history from before the page opened.
    c.goto(&format!("{}#/vms/host-1-vm1", up.console))
        .await
        .unwrap();
    let n = wait_js(
        &c,
        "the VM's chart with points",
        "window.vineCharts.vm && window.vineCharts.vm.data[0].length > 1 && window.vineCharts.vm.data[0].length",
        20,
    )
    .await;
    wait_js(
        &c,
        "the VM's chart to grow",
        &format!("window.vineCharts.vm.data[0].length > {n}"),
        15,
    )
    .await;
    wait_js(
        &c,
        "five VM points",
        "window.vineCharts.vm.data[0].length >= 5",
        15,
    )
    .await;
    assert!(
        text(&c, "#vm-use").await.starts_with("Now: CPU"),
        "the use now is written out"
    );
    c.execute(
        "document.getElementById('vm-util').scrollIntoView(); return true",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "vm-charts").await;

    // Jobs: the stream is open, and a job submitted elsewhere appears and
    // finishes in the list without a reload.
    c.goto(&format!("{}#/jobs", up.console)).await.unwrap();
    wait_js(
        &c,
        "the jobs stream open",
        "window.vineStreams.jobs && window.vineStreams.jobs.readyState === EventSource.OPEN",
        10,
    )
    .await;
    c.execute("window.vineNoReload = true; return true", vec![])
        .await
        .unwrap();
    let (status, _) = up.rest(
        "POST",
        "/vms",
        Some(json!({"template": {"name": "live-1", "vcpus": 1, "memory_mib": 256}})),
    );
    assert_eq!(status, 202);
    wait_js(
        &c,
        "the new job, succeeded, in the list",
        "[...document.querySelectorAll('main tbody tr')].some(r => r.textContent.includes('vm.create live-1') && r.querySelector('.state-succeeded'))",
        30,
    )
    .await;
    assert_eq!(
        c.execute("return window.vineNoReload === true", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page was not reloaded"
    );
    // Filter by state: only failed jobs (none), then only succeeded ones.
    let state = c
        .find(Locator::Css("main select[name=state]"))
        .await
        .unwrap();
    state.select_by_value("failed").await.unwrap();
    wait_js(
        &c,
        "no failed job",
        "![...document.querySelectorAll('main tbody tr')].some(r => r.textContent.includes('live-1'))",
        5,
    )
    .await;
    state.select_by_value("succeeded").await.unwrap();
    wait_js(
        &c,
        "only succeeded jobs",
        "(() => { const rows = [...document.querySelectorAll('main tbody tr')]; \
         return rows.some(r => r.textContent.includes('live-1')) && rows.every(r => r.querySelector('.state-succeeded')); })()",
        5,
    )
    .await;
    no_problems(&c).await;
    c.close().await.unwrap();
    up.stop();
}
