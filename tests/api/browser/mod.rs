//! Real-browser tests: headless Chromium driven through chromedriver
//! (WebDriver). Each journey starts its own app, chromedriver and profile, so
//! journeys run in parallel without sharing state. Test names start with
//! `browser_`: `cargo test browser_` runs exactly them.
//!
//! Helpers read like the user's steps (`login`, `click_link`, `fill`,
//! `confirm_dialog`, `expect_text`). A failing step saves a screenshot under
//! `target/browser-screenshots/` and panics with what was expected. Every
//! `expect_*` step also reads the browser console and fails on any CSP
//! violation or JavaScript error.
#![allow(dead_code)]

mod journeys;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Debian's Chromium; `KEYHUB_CHROMIUM` / `KEYHUB_CHROMEDRIVER` point elsewhere.
fn chromium() -> PathBuf {
    std::env::var_os("KEYHUB_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}
const INSTALL_HINT: &str =
    "The browser tests need Debian's Chromium and its driver: apt-get install -y chromium chromium-driver \
     (scripts/test.sh installs them when missing).";

pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
    session_id: String,
    pub base: String,
    name: String,
    _profile: tempfile::TempDir,
    step: std::cell::Cell<u32>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn find_chromedriver() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYHUB_CHROMEDRIVER") {
        let p = PathBuf::from(p);
        assert!(p.exists(), "chromedriver not found at {}. {INSTALL_HINT}", p.display());
        return p;
    }
    for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("chromedriver not found. {INSTALL_HINT}");
}

impl Browser {
    /// A fresh headless Chromium for one user of `app`; `javascript: false`
    /// turns scripts off to prove every page works without them.
    pub async fn start(app: &TestApp, name: &str, javascript: bool) -> Browser {
        let chromium = chromium();
        assert!(chromium.exists(), "{} not found. {INSTALL_HINT}", chromium.display());
        let driver_path = find_chromedriver();
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}. {INSTALL_HINT}"));
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(res) = http.get(format!("{driver_url}/status")).send().await
                && res.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on {driver_url}. {INSTALL_HINT}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut options = json!({
            "binary": chromium.display().to_string(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(caps) = caps else { unreachable!() };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}. {INSTALL_HINT}"));
        let session_id = client.session_id().await.ok().flatten().expect("a session id");
        Browser {
            client,
            driver,
            driver_url,
            session_id,
            base: app.address.clone(),
            name: name.to_owned(),
            _profile: profile,
            step: std::cell::Cell::new(0),
        }
    }

    /// With `KEYHUB_SCREENSHOTS=1`, saves a picture of every checked page
    /// (for looking at the UI); otherwise only failures are saved.
    async fn maybe_screenshot(&self) {
        if std::env::var_os("KEYHUB_SCREENSHOTS").is_none() {
            return;
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{}-step{:02}-ok.png", self.name, self.step.get())), png);
        }
    }

    /// Saves a screenshot and stops the test with `msg`.
    pub async fn fail(&self, msg: impl std::fmt::Display) -> ! {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{}-step{}.png", self.name, self.step.get()));
        let saved = match self.client.screenshot().await {
            Ok(png) => std::fs::write(&file, png).map(|_| format!(" (screenshot: {})", file.display())).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        panic!("[{}] {msg} at {url}{saved}", self.name);
    }

    fn next_step(&self) {
        self.step.set(self.step.get() + 1);
    }

    pub async fn open(&self, path: &str) {
        self.next_step();
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        if let Err(e) = self.client.goto(&url).await {
            self.fail(format!("cannot open {url}: {e}")).await;
        }
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.map(|u| u.path().to_owned()).unwrap_or_default()
    }

    async fn find(&self, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(locator).await {
            Ok(el) => el,
            Err(e) => self.fail(format!("{what} not found: {e}")).await,
        }
    }

    /// The form control labelled `label` (exact text, or text starting with it).
    pub async fn field(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!(
            "(//label[normalize-space()={q}] | //label[starts-with(normalize-space(), {q})])[1]",
            q = xpath_literal(label)
        );
        let label_el = self.find(Locator::XPath(&xpath), &format!("label \"{label}\"")).await;
        let Some(id) = label_el.attr("for").await.ok().flatten() else {
            self.fail(format!("label \"{label}\" is not tied to a field")).await;
        };
        self.find(Locator::Id(&id), &format!("field for \"{label}\"")).await
    }

    pub async fn fill(&self, label: &str, value: &str) {
        self.next_step();
        let el = self.field(label).await;
        if let Err(e) = el.clear().await {
            self.fail(format!("cannot clear \"{label}\": {e}")).await;
        }
        if let Err(e) = el.send_keys(value).await {
            self.fail(format!("cannot type into \"{label}\": {e}")).await;
        }
    }

    pub async fn value_of(&self, css: &str) -> String {
        let el = self.find(Locator::Css(css), css).await;
        el.prop("value").await.ok().flatten().unwrap_or_default()
    }

    /// Ticks the checkbox whose label contains `text`, inside `scope` (CSS).
    pub async fn check(&self, scope: &str, text: &str) {
        self.next_step();
        let scope_el = self.find(Locator::Css(scope), scope).await;
        let xpath = format!(".//label[contains(normalize-space(), {})]//input[@type='checkbox']", xpath_literal(text));
        match scope_el.find(Locator::XPath(&xpath)).await {
            Ok(el) => {
                if !el.is_selected().await.unwrap_or(false) {
                    let _ = el.click().await;
                }
            }
            Err(e) => self.fail(format!("checkbox \"{text}\" not found in {scope}: {e}")).await,
        }
    }

    pub async fn click_button(&self, text: &str) {
        self.next_step();
        let xpath = format!("//button[normalize-space()={}]", xpath_literal(text));
        let el = self.find(Locator::XPath(&xpath), &format!("button \"{text}\"")).await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot click \"{text}\": {e}")).await;
        }
    }

    /// Clicks the button `text` in the table row that mentions `row_text`.
    pub async fn click_button_in_row(&self, row_text: &str, text: &str) {
        self.next_step();
        let xpath = format!(
            "//tr[contains(normalize-space(), {})]//button[normalize-space()={}]",
            xpath_literal(row_text),
            xpath_literal(text)
        );
        let el = self.find(Locator::XPath(&xpath), &format!("button \"{text}\" in the row of {row_text}")).await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot click \"{text}\": {e}")).await;
        }
    }

    pub async fn click_link(&self, text: &str) {
        self.next_step();
        let el = self.find(Locator::LinkText(text), &format!("link \"{text}\"")).await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot click link \"{text}\": {e}")).await;
        }
    }

    /// Opens a `<details>` section by its summary text.
    pub async fn click_summary(&self, text: &str) {
        self.next_step();
        let xpath = format!("//summary[normalize-space()={}]", xpath_literal(text));
        let el = self.find(Locator::XPath(&xpath), &format!("section \"{text}\"")).await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot open \"{text}\": {e}")).await;
        }
    }

    /// Chooses the option shown as `option` in the select labelled `label`.
    pub async fn select(&self, label: &str, option: &str) {
        self.next_step();
        let el = self.field(label).await;
        if let Err(e) = el.select_by_label(option).await {
            self.fail(format!("cannot choose \"{option}\" in \"{label}\": {e}")).await;
        }
    }

    /// Clicks a button of the open dialog by its text.
    pub async fn click_dialog_button(&self, text: &str) {
        self.next_step();
        let xpath = format!("//dialog[@open]//button[normalize-space()={}]", xpath_literal(text));
        let el = self.find(Locator::XPath(&xpath), &format!("dialog button \"{text}\"")).await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot click \"{text}\" in the dialog: {e}")).await;
        }
    }

    /// Confirms the open confirmation dialog (our `<dialog>`, not `window.confirm`).
    pub async fn confirm_dialog(&self) {
        self.next_step();
        let el = self.find(Locator::Css("dialog[open] button.danger"), "an open confirmation dialog").await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot confirm the dialog: {e}")).await;
        }
    }

    async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits up to 10 s for `text` on the page, then checks the console.
    pub async fn expect_text(&self, text: &str) {
        self.next_step();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.body_text().await.contains(text) {
                break;
            }
            if Instant::now() > deadline {
                self.fail(format!("expected text \"{text}\" on the page")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.expect_clean_console().await;
        self.maybe_screenshot().await;
    }

    pub async fn expect_no_text(&self, text: &str) {
        self.next_step();
        if self.body_text().await.contains(text) {
            self.fail(format!("did not expect \"{text}\" on the page")).await;
        }
    }

    pub async fn expect_path(&self, path: &str) {
        self.next_step();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.path().await != path {
            if Instant::now() > deadline {
                self.fail(format!("expected to be on {path}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads the browser console (chromedriver's log endpoint) and fails on
    /// any CSP violation or JavaScript error. Responses with 4xx statuses that
    /// a page expects (a form re-rendered with 422) are not errors.
    pub async fn expect_clean_console(&self) {
        let res = reqwest::Client::new()
            .post(format!("{}/session/{}/se/log", self.driver_url, self.session_id))
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        let entries = match res {
            Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["value"].as_array().cloned()).unwrap_or_default(),
            Err(e) => self.fail(format!("cannot read the browser console: {e}")).await,
        };
        let problems: Vec<String> = entries
            .iter()
            .filter_map(|e| {
                let level = e["level"].as_str().unwrap_or("");
                let msg = e["message"].as_str().unwrap_or("").to_owned();
                let expected_status = msg.contains("Failed to load resource: the server responded with a status of");
                let csp = msg.contains("Content Security Policy") || msg.contains("Content-Security-Policy");
                ((level == "SEVERE" && !expected_status) || csp).then_some(msg)
            })
            .collect();
        if !problems.is_empty() {
            self.fail(format!("browser console reported problems: {problems:#?}")).await;
        }
    }

    pub async fn execute(&self, script: &str) -> Value {
        match self.client.execute(script, vec![]).await {
            Ok(v) => v,
            Err(e) => self.fail(format!("script failed: {e}")).await,
        }
    }

    /// Signs in through the login form.
    pub async fn login(&self, email: &str, password: &str) {
        self.open("/login").await;
        self.fill("Email", email).await;
        self.fill("Password", password).await;
        self.click_button("Sign in").await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver takes its Chromium with it.
        let _ = self.driver.kill();
    }
}

/// An XPath string literal for any text (XPath 1 has no escapes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
