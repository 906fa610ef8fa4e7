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

mod cluster;
mod datahub;
mod hub_keys;
mod journeys;
mod live_data;
mod notices;
mod usage;
mod webhooks;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
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
const INSTALL_HINT: &str = "The browser tests need Debian's Chromium and its driver: apt-get install -y chromium chromium-driver \
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
    /// The page state axe-core last checked (URL + size of the body), so each
    /// page and each htmx swap is checked once.
    checked: std::cell::RefCell<String>,
    javascript: bool,
    /// For a browser with JavaScript off (where axe-core cannot run): a second
    /// browser with JavaScript on, into which each page's HTML is loaded, on
    /// our own origin, to be checked.
    checker: std::cell::OnceCell<Box<Browser>>,
    /// chromedriver's process group was killed (`stop`).
    stopped: bool,
}

/// axe-core from npm (pinned in scripts/test.sh), or `KEYHUB_AXE`.
fn axe_source() -> String {
    let path = std::env::var_os("KEYHUB_AXE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/npm/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core not found at {} ({e}); scripts/test.sh installs it (npm install --prefix target/npm axe-core)",
            path.display()
        )
    })
}

static AXE: std::sync::LazyLock<String> = std::sync::LazyLock::new(axe_source);

/// WebDriver key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// Desktop and phone widths every checked page is seen at.
pub const WIDTHS: [(u32, u32); 2] = [(390, 844), (1280, 900)];

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
        Browser::start_at(&app.address, name, javascript).await
    }

    async fn start_at(base: &str, name: &str, javascript: bool) -> Browser {
        let chromium = chromium();
        assert!(chromium.exists(), "{} not found. {INSTALL_HINT}", chromium.display());
        let driver_path = find_chromedriver();
        let port = free_port();
        // A process group of its own: stopping the group stops every
        // Chromium process it started, even one still quitting (see `stop`).
        let mut driver = Command::new(driver_path)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}. {INSTALL_HINT}"));
        let driver_url = format!("http://127.0.0.1:{port}");
        let _said = crate::helpers::until_says(
            driver.stdout.take().expect("piped"),
            "started successfully",
            &format!("chromedriver ({INSTALL_HINT})"),
        )
        .await;
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
            base: base.to_owned(),
            javascript,
            checker: std::cell::OnceCell::new(),
            name: name.to_owned(),
            _profile: profile,
            step: std::cell::Cell::new(0),
            checked: std::cell::RefCell::new(String::new()),
            stopped: false,
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
            Ok(png) => {
                std::fs::write(&file, png).map(|_| format!(" (screenshot: {})", file.display())).unwrap_or_default()
            }
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

    /// Chooses a local file in the file input labelled `label`.
    pub async fn attach(&self, label: &str, path: &std::path::Path) {
        self.next_step();
        let el = self.field(label).await;
        if let Err(e) = el.send_keys(&path.display().to_string()).await {
            self.fail(format!("cannot choose a file in \"{label}\": {e}")).await;
        }
    }

    /// Types into the field labelled `label` without clearing it first.
    pub async fn type_into(&self, label: &str, text: &str) {
        self.next_step();
        let el = self.field(label).await;
        if let Err(e) = el.send_keys(text).await {
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

    /// Clicks the checkbox or radio button labelled `label` unless it is already on.
    pub async fn tick(&self, label: &str) {
        self.next_step();
        let el = self.field(label).await;
        if !el.is_selected().await.unwrap_or(false)
            && let Err(e) = el.click().await
        {
            self.fail(format!("cannot tick \"{label}\": {e}")).await;
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

    /// Opens the user menu (Profile, API keys, Sign out) in the top bar.
    pub async fn open_user_menu(&self) {
        self.next_step();
        let el = self.find(Locator::Css("details.user-menu summary"), "the user menu").await;
        if let Err(e) = el.click().await {
            self.fail(format!("cannot open the user menu: {e}")).await;
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

    /// Runs axe-core on the page at desktop and phone widths (once per page
    /// state) and fails on any serious or critical violation, or on sideways
    /// scrolling at phone width.
    pub async fn expect_accessible(&self) {
        let state = self.execute("return location.href + '#' + document.body.innerHTML.length;").await.to_string();
        if *self.checked.borrow() == state {
            return;
        }
        if !self.javascript {
            let html = match self.client.source().await {
                Ok(h) => h,
                Err(e) => self.fail(format!("cannot read the page: {e}")).await,
            };
            if self.checker.get().is_none() {
                let checker = Box::pin(Browser::start_at(&self.base, &format!("{}-axe", self.name), true)).await;
                let _ = self.checker.set(Box::new(checker));
            }
            let Some(checker) = self.checker.get() else { unreachable!() };
            checker.open("/help").await;
            // The page as the no-JavaScript user saw it, without its scripts.
            let without_scripts = html
                .split("<script")
                .enumerate()
                .map(|(i, part)| {
                    if i == 0 {
                        part.to_owned()
                    } else {
                        part.split_once("</script>").map(|(_, rest)| rest.to_owned()).unwrap_or_default()
                    }
                })
                .collect::<String>();
            if let Err(e) = checker
                .client
                .execute(
                    "document.open(); document.write(arguments[0]); document.close(); return null;",
                    vec![serde_json::json!(without_scripts)],
                )
                .await
            {
                self.fail(format!("cannot load the page into the checker: {e}")).await;
            }
            if let Err(msg) = checker.axe_at_widths().await {
                self.fail(format!("(checked without JavaScript) {msg}")).await;
            }
        } else if let Err(msg) = self.axe_at_widths().await {
            self.fail(msg).await;
        }
        *self.checked.borrow_mut() = state;
    }

    async fn axe_at_widths(&self) -> Result<(), String> {
        for (w, h) in WIDTHS {
            self.client.set_window_size(w, h).await.map_err(|e| format!("cannot resize the window to {w}px: {e}"))?;
            if self.execute("return typeof window.axe === 'object';").await != serde_json::json!(true) {
                self.execute(&format!("{}\nreturn null;", *AXE)).await;
            }
            let args = vec![];
            let result = self
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations
                       .filter(v => v.impact === 'serious' || v.impact === 'critical')
                       .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))),
                       e => done(['axe failed: ' + e]));",
                    args,
                )
                .await;
            let violations: Vec<String> = match result {
                Ok(v) => serde_json::from_value(v).unwrap_or_default(),
                Err(e) => return Err(format!("axe-core could not run: {e}")),
            };
            if !violations.is_empty() {
                return Err(format!("axe-core at {w}px: {violations:#?}"));
            }
            if w < 1000 && std::env::var_os("KEYHUB_SCREENSHOTS").is_some() {
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
                if let Ok(png) = self.client.screenshot().await {
                    let _ =
                        std::fs::write(dir.join(format!("{}-step{:02}-{w}px.png", self.name, self.step.get())), png);
                }
            }
            if w < 1000 {
                let header = self.execute("const h = document.querySelector('header.topbar'); return h ? h.getBoundingClientRect().height : 0;").await;
                if header.as_f64().unwrap_or(0.0) > 64.0 {
                    return Err(format!("the top bar is {header} px high at {w}px (at most 64)"));
                }
            }
            let sideways = self
                .execute("return document.documentElement.scrollWidth > document.documentElement.clientWidth + 1;")
                .await;
            if sideways == serde_json::json!(true) {
                let wide = self.execute("return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id).join(', ');").await;
                return Err(format!("the page scrolls sideways at {w}px: {wide}"));
            }
        }
        Ok(())
    }

    /// Where keyboard focus is: tag, id and text of the focused element.
    pub async fn focused(&self) -> String {
        self.execute("const e = document.activeElement; return e ? (e.tagName + '#' + e.id + ' ' + (e.textContent || '').trim().slice(0, 60)) : '';")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for focus to land on the element matching `css`: at once if it
    /// is there, else on the browser's `focusin` event (an htmx swap moves
    /// focus a moment after it settles); fails after 5 s.
    pub async fn expect_focused(&self, css: &str) {
        self.next_step();
        let script = "const [sel, done] = arguments; \
            const on = () => document.activeElement && document.activeElement.matches(sel); \
            if (on()) return done(true); \
            const h = () => { if (on()) { document.removeEventListener('focusin', h); done(true); } }; \
            document.addEventListener('focusin', h); setTimeout(() => done(on()), 5000);";
        let got =
            self.client.execute_async(script, vec![json!(css)]).await.ok().and_then(|v| v.as_bool()).unwrap_or(false);
        if !got {
            self.fail(format!("focus is not on {css} but on {}", self.focused().await)).await;
        }
    }

    /// Waits for `n` htmx swaps of the element `#id` from now on, counted on
    /// htmx's `afterSwap` event; fails after 15 s.
    pub async fn expect_swaps(&self, id: &str, n: u32) {
        self.next_step();
        let script = "const [id, n, done] = arguments; let seen = 0; \
            const h = (e) => { if (e.detail.target && e.detail.target.id === id && ++seen >= n) { document.body.removeEventListener('htmx:afterSwap', h); done(true); } }; \
            document.body.addEventListener('htmx:afterSwap', h); setTimeout(() => done(false), 15000);";
        let got = self
            .client
            .execute_async(script, vec![json!(id), json!(n)])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if !got {
            self.fail(format!("#{id} was not swapped {n} times")).await;
        }
    }

    /// Presses Tab until the focused element's description contains `what`.
    pub async fn tab_to(&self, what: &str) {
        for _ in 0..80 {
            if self.focused().await.contains(what) {
                return;
            }
            self.press(TAB).await;
        }
        self.fail(format!("Tab never reached \"{what}\"; focus is on {}", self.focused().await)).await;
    }

    /// Presses keys in the focused element (WebDriver key codes for Tab, Enter ...).
    pub async fn press(&self, keys: &str) {
        self.next_step();
        let el = match self.client.active_element().await {
            Ok(el) => el,
            Err(e) => self.fail(format!("no focused element: {e}")).await,
        };
        if let Err(e) = el.send_keys(keys).await {
            self.fail(format!("cannot type {keys:?}: {e}")).await;
        }
    }

    /// Waits up to 10 s for `text` on the page, then checks the console and
    /// the page's accessibility.
    pub async fn expect_text(&self, text: &str) {
        self.next_step();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut trust_page = true;
        loop {
            if self.body_text().await.contains(text) {
                break;
            }
            if Instant::now() > deadline {
                self.fail(format!("expected text \"{text}\" on the page")).await;
            }
            // The page says at once when it already shows the text (the
            // check above then confirms it); when it says so wrongly once,
            // only a change of the page wakes the next check.
            trust_page = !self.page_changes(deadline, trust_page.then_some(text)).await && trust_page;
        }
        self.expect_clean_console().await;
        self.expect_accessible().await;
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
            self.page_changes(deadline, None).await;
        }
    }

    /// Waits, in the page and without polling, until the document changes
    /// (a MutationObserver), the page is replaced by another (the script
    /// ends with the old document), or `deadline`. With `text`, returns at
    /// once (true) when the page already shows it. Callers check again.
    async fn page_changes(&self, deadline: Instant, text: Option<&str>) -> bool {
        let ms = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
        let script = "const [text, ms, done] = arguments; \
            if (text !== null && document.body && document.body.innerText.includes(text)) return done(true); \
            const o = new MutationObserver(() => { o.disconnect(); done(false); }); \
            o.observe(document, {subtree: true, childList: true, characterData: true, attributes: true}); \
            setTimeout(() => { o.disconnect(); done(false); }, ms);";
        let got = self.client.execute_async(script, vec![json!(text), json!(ms)]).await;
        matches!(got, Ok(Value::Bool(true)))
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
        self.stop();
    }

    /// Kills chromedriver's process group: chromedriver and every Chromium
    /// process under it. Killing chromedriver alone left a Chromium that was
    /// still quitting behind, reparented and running, after each test run.
    fn stop(&mut self) {
        if self.stopped {
            return; // the group's id may belong to someone else by now
        }
        self.stopped = true;
        // SAFETY: kill(2) on the process group this test started, whose
        // leader is not reaped yet (so the id is still ours).
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
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
