//! The test harness: `TestApp::spawn()` starts the real application on port 0
//! with a fresh database — a temp SQLite file, or a new PostgreSQL database when
//! `KEYHUB_TEST_DATABASE_URL` is set — and hands out cookie-keeping clients
//! that do not follow redirects.
#![allow(dead_code)]

use std::time::Duration;

use keyhub::{Application, Settings};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

mod datahub;
mod directus;
mod fault_proxy;
mod live;
mod receiver;
mod smtp;
pub use datahub::*;
pub use directus::*;
pub use fault_proxy::*;
pub use live::*;
pub use receiver::*;
pub use smtp::*;

pub const ADMIN_EMAIL: &str = "ada@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const WORKSPACE: &str = "Analytics";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub setup_code: String,
    pub db: DatabaseConnection,
    pub database_url: String,
    pub data_dir: tempfile::TempDir,
    /// The metrics listener's port, when the settings asked for one.
    pub metrics_port: Option<u16>,
    /// What the app's handlers share: tests reach its injected clocks here.
    pub state: actix_web::web::Data<keyhub::state::AppState>,
    server: actix_web::dev::ServerHandle,
    /// The running application (`Application::run`), awaited by `stop`.
    run: std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server's worker threads and free its database connections,
        // so a long run does not exhaust PostgreSQL's connection slots.
        drop(self.server.stop(false));
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct Client {
    pub http: reqwest::Client,
    pub address: String,
    /// Whom this client signed in as (setup, login, an accepted invitation),
    /// so that helpers can act for them through the library, not a page.
    who: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// The workspace this client's session works in, when it chose one
    /// (switched to it or created it); otherwise its only one.
    workspace: std::sync::Arc<std::sync::Mutex<Option<Chosen>>>,
    state: actix_web::web::Data<keyhub::state::AppState>,
}

#[derive(Clone, Copy)]
enum Chosen {
    Id(i64),
    /// The one it just created (the newest of its workspaces).
    Newest,
}

fn random_suffix() -> String {
    keyhub::domain::tokens::random_token(12).to_lowercase()
}

/// Creates the database `name` on the PostgreSQL server of `server` (a
/// URL to any of its databases) and returns its URL. `.ci/run` drops every
/// `keyhub_test_…` database when it ends.
pub async fn create_database(server: &str, name: &str) -> String {
    let admin = Database::connect(server).await.expect("connect to PostgreSQL");
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create a test database");
    admin.close().await.ok();
    let (root, _) = server.rsplit_once('/').expect("database URL has a path");
    format!("{root}/{name}")
}

/// A database of its own for one test.
async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var("KEYHUB_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => create_database(&base, &format!("keyhub_test_{}", random_suffix())).await,
        _ => format!("sqlite://{}?mode=rwc", dir.join("keyhub.db").display()),
    }
}

/// The background pulse as a loop sees it: `next` returns once background
/// work has reported something since the last look (at once if it already
/// has); fails after two minutes of silence.
pub struct Pulses(tokio::sync::watch::Receiver<u64>);

impl Pulses {
    pub fn new() -> Pulses {
        let mut rx = keyhub::pulse::background().subscribe();
        rx.borrow_and_update();
        Pulses(rx)
    }

    pub async fn next(&mut self) {
        if tokio::time::timeout(Duration::from_secs(120), self.0.changed()).await.is_err() {
            panic!("no background work reported anything for 2 minutes");
        }
    }
}

/// What a process the test started writes on one pipe, read on a thread
/// of its own (so the process never blocks on a full pipe).
pub struct Said(std::thread::JoinHandle<String>);

impl Said {
    /// Everything written on the pipe, once the process has closed it (ended).
    pub fn all(self) -> String {
        self.0.join().unwrap_or_default()
    }
}

/// Waits until a process the test started (a keyhub node, Datasette,
/// chromedriver) writes a line containing `ready` on `pipe` — each says so
/// once it listens — and keeps reading the pipe after that. An event, not
/// a poll; fails when the pipe closes first or after 60 s.
pub async fn until_says(pipe: impl std::io::Read + Send + 'static, ready: &str, what: &str) -> Said {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ready = ready.to_owned();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut all = String::new();
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if line.contains(&ready)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(())) => Said(reader),
        Ok(Err(_)) => panic!("{what} ended before it was up: {}", reader.join().unwrap_or_default()),
        Err(_) => panic!("{what} did not say it was up within 60 s"),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        keyhub::connectors::init_tls();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database(data_dir.path()).await;
        let mut settings = Settings {
            bind: "127.0.0.1:0".parse().expect("address"),
            data_dir: data_dir.path().to_path_buf(),
            database_url: Some(database_url.clone()),
            ..Settings::default()
        };
        configure(&mut settings);
        let app = Application::build(settings).await.expect("application builds");
        let port = app.port();
        let setup_code = app.setup_code().to_owned();
        let db = app.db().clone();
        let server = app.handle();
        let metrics_port = app.metrics_port();
        let state = app.state();
        let run = tokio::spawn(app.run());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            setup_code,
            db,
            database_url,
            data_dir,
            metrics_port,
            state,
            server,
            run: std::sync::Mutex::new(Some(run)),
        }
    }

    /// Makes the real binary at `node` (on this app's database) the node the
    /// test talks to. SQLite serves one node, so there this app stops serving
    /// first (its database connection stays for the test's own reads); on
    /// PostgreSQL both serve, a cluster of two.
    pub async fn hand_over_to(&mut self, node: &str) {
        if self.database_url.starts_with("sqlite") {
            self.stop().await;
            self.address = node.to_owned();
        }
    }

    pub fn on_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite")
    }

    /// Stops serving and waits until the application has ended: its last
    /// flush written and, on SQLite, the file free for another node.
    pub async fn stop(&self) {
        self.server.stop(true).await;
        let run = self.run.lock().unwrap().take();
        if let Some(run) = run {
            run.await.expect("the application ends").expect("the server ended cleanly");
        }
    }

    pub fn client(&self) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Client {
            http,
            address: self.address.clone(),
            who: Default::default(),
            workspace: Default::default(),
            state: self.state.clone(),
        }
    }

    /// Runs setup and returns the admin's signed-in client.
    pub async fn with_admin(&self) -> Client {
        let c = self.client();
        let res = c.setup(&self.setup_code, ADMIN_EMAIL, "Ada", ADMIN_PASSWORD, WORKSPACE).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "setup should succeed");
        c
    }

    /// A second signed-in client for the admin made by `set_up` in a browser.
    pub async fn client_for_admin(&self) -> Client {
        let c = self.client();
        assert_eq!(c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER);
        c
    }

    /// The admin invites `email` as a member with `permissions`; the invitee
    /// accepts with `password`. Returns the invitee's signed-in client.
    pub async fn with_member(&self, admin: &Client, email: &str, permissions: &[&str]) -> Client {
        let link = admin.invite(email, "member", permissions).await;
        let c = self.client();
        let res = c.accept_invitation(&link, "Member", "member password 123").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "accepting the invitation should succeed");
        c.signed_in_as(email);
        c
    }

    pub async fn exec(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.expect(sql);
    }

    /// Waits until `check` gives a value, looking again each time background
    /// work reports something (`keyhub::pulse::background`: a sync run saved
    /// progress or ended, the runner or a key watcher looked, old rows were
    /// removed). Never a guessed sleep; fails after two minutes.
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let mut pulse = keyhub::pulse::background().subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            pulse.borrow_and_update();
            if let Some(v) = check().await {
                return v;
            }
            if tokio::time::timeout_at(deadline, pulse.changed()).await.is_err() {
                panic!("{what}: not within 2 minutes");
            }
        }
    }

    /// Wakes the sync runner and waits until it has looked for work twice
    /// since (the first look may have begun before the caller's change), so
    /// that "nothing started" is a fact about the runner, not about time.
    pub async fn runner_looked(&self) {
        let ticks = &self.state.jobs.ticks;
        let mut seen = ticks.subscribe();
        let start = ticks.count();
        self.state.jobs.wake();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while ticks.count() < start + 2 {
            if tokio::time::timeout_at(deadline, seen.changed()).await.is_err() {
                panic!("the sync runner did not look for work");
            }
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        use sea_orm::{FromQueryResult, Statement};
        #[derive(FromQueryResult)]
        struct N {
            n: i64,
        }
        let row = N::find_by_statement(Statement::from_string(self.db.get_database_backend(), sql.to_owned()))
            .one(&self.db)
            .await
            .expect(sql)
            .expect("a row");
        row.n
    }
}

/// The value of `name="csrf_token"` on a page.
pub fn csrf_token(html: &str) -> String {
    attr_after(html, "name=\"csrf_token\" value=\"").expect("page has a csrf_token field")
}

/// The text up to the next quote after `marker`.
pub fn attr_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&#x2f;", "/").replace("&#47;", "/").replace("&amp;", "&").replace("&#38;", "&"))
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.address, path) }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> String {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.text().await.expect("body")
    }

    /// Posts `fields` plus the CSRF token of the page at `form_page`.
    pub async fn post_form(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.get(form_page).await.text().await.expect("body");
        let token = csrf_token(&html);
        self.post_raw(action, &token, fields).await
    }

    /// Posts as a user who confirms destructive actions (`confirmed=yes`, as
    /// the dialog or the confirmation page sends); `post_unconfirmed` does not.
    pub async fn post_raw(&self, action: &str, token: &str, fields: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", token), ("confirmed", "yes")];
        all.extend_from_slice(fields);
        self.send_form(action, &all, fields).await
    }

    async fn send_form(&self, action: &str, all: &[(&str, &str)], fields: &[(&str, &str)]) -> Response {
        let res = self.http.post(self.url(action)).form(all).send().await.expect("POST");
        // Switching or creating a workspace moves the session there (new_key follows).
        if res.status() == StatusCode::SEE_OTHER {
            let chosen = match action {
                "/workspaces/switch" => {
                    fields.iter().find(|(k, _)| *k == "workspace_id").and_then(|(_, v)| v.parse().ok()).map(Chosen::Id)
                }
                "/workspaces" => Some(Chosen::Newest),
                _ => None,
            };
            if chosen.is_some() {
                *self.workspace.lock().expect("workspace") = chosen;
            }
        }
        res
    }

    pub async fn post_unconfirmed(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.get(form_page).await.text().await.expect("body");
        let token = csrf_token(&html);
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        all.extend_from_slice(fields);
        self.send_form(action, &all, fields).await
    }

    /// Remembers whom this client is signed in as.
    pub fn signed_in_as(&self, email: &str) {
        *self.who.lock().expect("who") = Some(email.to_owned());
    }

    pub async fn setup(&self, code: &str, email: &str, name: &str, password: &str, workspace: &str) -> Response {
        self.signed_in_as(email);
        self.post_form(
            "/setup",
            "/setup",
            &[
                ("setup_code", code),
                ("email", email),
                ("display_name", name),
                ("password", password),
                ("workspace", workspace),
            ],
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.signed_in_as(email);
        self.post_form("/login", "/login", &[("email", email), ("password", password)]).await
    }

    pub async fn logout(&self) -> Response {
        self.post_form("/account", "/logout", &[]).await
    }

    /// Creates an invitation and returns its link.
    pub async fn invite(&self, email: &str, role: &str, permissions: &[&str]) -> String {
        let mut fields = vec![("email", email), ("role", role)];
        fields.extend(permissions.iter().map(|p| ("permission", *p)));
        let res = self.post_form("/admin/invitations", "/admin/invitations", &fields).await;
        assert_eq!(res.status(), StatusCode::OK, "invitation created");
        let html = res.text().await.expect("body");
        attr_after(&html, "id=\"invite-link\" type=\"text\" readonly value=\"")
            .expect("the page shows the invitation link")
    }

    pub async fn accept_invitation(&self, link: &str, name: &str, password: &str) -> Response {
        self.post_form(link, link, &[("display_name", name), ("password", password), ("confirm_password", password)])
            .await
    }

    /// The id of the member row showing `email` on the members page.
    pub async fn member_id(&self, email: &str) -> i64 {
        let html = self.get_html("/admin/members").await;
        let at = html.find(email).expect("member listed");
        let row_start = html[..at].rfind("id=\"member-").expect("member row") + "id=\"member-".len();
        let end = html[row_start..].find('"').expect("quote") + row_start;
        html[row_start..end].parse().expect("member id")
    }
}

pub fn location(res: &Response) -> String {
    res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// A JSON API response: status, `error.code` if any, and the body.
pub struct ApiReply {
    pub status: StatusCode,
    pub code: Option<String>,
    pub body: serde_json::Value,
}

impl TestApp {
    /// Calls the JSON API with `Authorization: Bearer <key>`.
    pub async fn api(&self, path: &str, key: &str) -> ApiReply {
        let res = reqwest::Client::new()
            .get(format!("{}{path}", self.address))
            .header("Authorization", format!("Bearer {key}"))
            .send()
            .await
            .expect("API call");
        ApiReply::read(res).await
    }

    pub async fn api_with(&self, req: reqwest::RequestBuilder) -> ApiReply {
        ApiReply::read(req.send().await.expect("API call")).await
    }
}

impl ApiReply {
    pub async fn read(res: Response) -> ApiReply {
        let status = res.status();
        assert!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .starts_with("application/json"),
            "API answers JSON"
        );
        let body: serde_json::Value = res.json().await.expect("JSON body");
        let code = body["error"]["code"].as_str().map(str::to_owned);
        ApiReply { status, code, body }
    }
}

impl Client {
    /// Generates a personal key on the keys tab; returns the response status
    /// and the secret shown once (when generation succeeded).
    pub async fn generate_key(
        &self,
        label: &str,
        permissions: &[&str],
        expires: &str,
    ) -> (StatusCode, Option<String>, String) {
        let mut fields = vec![("label", label), ("expires", expires)];
        fields.extend(permissions.iter().map(|p| ("permission", *p)));
        // A plain post is redirected to the page that shows the secret once.
        let res = self.follow(self.post_form("/account/keys", "/account/keys", &fields).await).await;
        let status = res.status();
        let html = res.text().await.expect("body");
        (status, attr_after(&html, "id=\"new-secret\" type=\"text\" readonly value=\""), html)
    }

    /// Follows a 303 (a plain post's redirect) with a GET; other answers as they are.
    pub async fn follow(&self, res: Response) -> Response {
        if res.status() == StatusCode::SEE_OTHER { self.get(&location(&res)).await } else { res }
    }

    /// A personal key of the signed-in user with `permissions`, made as
    /// `keyhub keys create` makes one (through the library, not by reading
    /// the page that shows it): an API test does not break when a template
    /// changes. The user must belong to exactly one workspace.
    pub async fn new_key(&self, label: &str, permissions: &[&str]) -> String {
        use keyhub::domain::keys::KeyLabel;
        use keyhub::domain::{Email, PermissionSet};
        let email = self.who.lock().expect("who").clone().expect("new_key: sign in through a helper first");
        let db = &self.state.db;
        let email = Email::parse(&email).expect("email");
        let user = keyhub::store::users::find_by_email(db, &email).await.expect("user").expect("the user exists");
        let memberships = keyhub::store::members::active_memberships(db, user.id).await.expect("memberships");
        let chosen = *self.workspace.lock().expect("workspace");
        let m = match (memberships.as_slice(), chosen) {
            ([only], _) => only,
            (all, Some(Chosen::Id(id))) => all.iter().find(|m| m.workspace_id == id).expect("the chosen workspace"),
            (all, Some(Chosen::Newest)) => all.iter().max_by_key(|m| m.workspace_id).expect("a workspace"),
            (_, None) => panic!("new_key: {email} belongs to several workspaces and chose none"),
        };
        let wanted = PermissionSet::parse_names(permissions.iter().copied()).expect("permission names");
        let label = KeyLabel::parse(label).expect("label");
        let by = keyhub::store::audit::Actor {
            workspace_id: m.workspace_id,
            user_id: user.id,
            name: Some(keyhub::store::audit::person(&user)),
            via: None,
            ip: None,
        };
        let (key, secret) =
            keyhub::account::keys::generate(db, &by, &m.permissions, &label, &wanted, None, Default::default())
                .await
                .expect("key generated");
        self.state.keys.key_changed(key.workspace_id, key.id).await.expect("the verifier learns the key");
        secret.expose().to_owned()
    }
}
