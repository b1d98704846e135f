//! Debian's headless Chromium driven over WebDriver (chromedriver), and
//! the steps the console tests share: log in, wait for the page to say
//! something, fill a dialog, follow a job box, take a screenshot.
//!
//! Needs `chromium` and `chromium-driver` (deploy/setup.sh installs them);
//! [`Browser::start`] returns `None`, saying why, when they are missing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::up_support::{free_port, spawn_group, Guard};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A WebDriver session on a private Chromium; chromedriver and the
/// browser go when it is dropped.
pub struct Browser {
    pub c: Client,
    _driver: Guard,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A 1280×900 headless Chromium; `dark` makes the system prefer a dark
    /// theme. `None` (with a SKIPPED line) without chromium.
    pub async fn start(dark: bool) -> Option<Browser> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            eprintln!("SKIPPED: {CHROMIUM} or {CHROMEDRIVER} missing; deploy/setup.sh installs chromium and chromium-driver");
            return None;
        }
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let driver = spawn_group(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver listens");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--ignore-certificate-errors".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if dark {
            args.push("--force-dark-mode".into());
        }
        let mut caps = serde_json::Map::new();
        caps.insert("acceptInsecureCerts".into(), json!(true));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": CHROMIUM, "args": args}),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session on chromium");
        Some(Browser {
            c,
            _driver: driver,
            _profile: profile,
        })
    }
}

/// Where screenshots go (test artifacts; the README's come from here).
pub fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Polls a JavaScript expression until it is truthy; its value. On time
/// out, fails with the page's text and a `failure.png` screenshot.
pub async fn wait_js(c: &Client, what: &str, expr: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = c
            .execute(&format!("return ({expr});"), vec![])
            .await
            .unwrap();
        let truthy =
            !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
        if truthy {
            return v;
        }
        if Instant::now() > deadline {
            let page: String = c
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap()
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(1500)
                .collect();
            if let Ok(png) = c.screenshot().await {
                let _ = std::fs::write(shots_dir().join("failure.png"), png);
            }
            let html = c
                .execute("return document.getElementById('main').innerHTML", vec![])
                .await
                .unwrap();
            panic!("timed out waiting for {what} ({expr}); the page says:\n{page}\n{html}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.unwrap().len()
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Logs in through the form (mouse).
pub async fn login(c: &Client, console: &str, user: &str, password: &str) {
    c.goto(&format!("{console}#/login")).await.unwrap();
    wait_js(
        c,
        "the login form",
        "document.getElementById('login-user')",
        10,
    )
    .await;
    for (id, value) in [("login-user", user), ("login-password", password)] {
        let el = c.find(Locator::Id(id)).await.unwrap();
        el.clear().await.unwrap();
        el.send_keys(value).await.unwrap();
    }
    click(c, "#login-submit").await;
}

/// Logs in with the keyboard only: type, Tab, type, Enter.
pub async fn login_by_keyboard(c: &Client, console: &str, user: &str, password: &str) {
    // A fresh page: nothing typed before.
    c.goto(&format!("{console}#/login")).await.unwrap();
    c.refresh().await.unwrap();
    wait_js(
        c,
        "the login form",
        "document.getElementById('login-user')",
        10,
    )
    .await;
    let focused = c.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("login-user"),
        "the login page starts in the user field"
    );
    let (tab, enter) = (
        char::from(fantoccini::key::Key::Tab),
        char::from(fantoccini::key::Key::Enter),
    );
    focused
        .send_keys(&format!("{user}{tab}{password}{enter}"))
        .await
        .unwrap();
}

/// No script error and nothing blocked by the CSP since the page loaded.
pub async fn no_problems(c: &Client) {
    let p = c
        .execute("return window.vineProblems", vec![])
        .await
        .unwrap();
    assert_eq!(p, json!([]), "the console reported problems");
}

/// Fills and submits the open dialog: `fields` by input name.
pub async fn dialog(c: &Client, fields: &[(&str, &str)]) {
    wait_js(c, "a dialog", "document.querySelector('dialog[open]')", 5).await;
    for (name, value) in fields {
        let el = c
            .find(Locator::Css(&format!("dialog[open] [name='{name}']")))
            .await
            .unwrap();
        if el.tag_name().await.unwrap() == "select" {
            el.select_by_value(value).await.unwrap();
        } else {
            el.clear().await.unwrap();
            el.send_keys(value).await.unwrap();
        }
    }
    click(c, "dialog[open] button[type=submit]").await;
}

/// Clicks `[data-action=<action>]` and, unless it opens a dialog first
/// (`fields`), waits for the new job's final state.
pub async fn act(c: &Client, action: &str, fields: Option<&[(&str, &str)]>) -> String {
    let before = count(c, ".job[data-job]").await;
    click(c, &format!("[data-action={action}]")).await;
    if let Some(f) = fields {
        dialog(c, f).await;
    }
    wait_js(
        c,
        "the new job's box",
        &format!("document.querySelectorAll('.job[data-job]').length > {before}"),
        10,
    )
    .await;
    job_outcome(c, 30).await
}

/// Waits for the job box of the newest job to finish; its final state.
pub async fn job_outcome(c: &Client, secs: u64) -> String {
    let v = wait_js(
        c,
        "the job to finish",
        "(() => { const b = document.querySelector('.job[data-job]'); const s = b && b.dataset.state; \
         return ['succeeded','failed','cancelled'].includes(s) ? s : null; })()",
        secs,
    )
    .await;
    v.as_str().unwrap().to_string()
}
