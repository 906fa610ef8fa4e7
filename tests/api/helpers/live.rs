//! Live Data helpers: a real Datasette on 127.0.0.1 (from the venv
//! `scripts/test.sh` makes), an app that may call loopback, and the API calls
//! that make, test and activate a source.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiReply, TestApp, post_json};

pub const LIVE_PERMISSIONS: [&str; 5] =
    ["data.read", "data.write", "connectors.manage", "ontology.edit", "hub_keys.manage"];

pub fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var("KEYHUB_TEST_DATASETTE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/datasette-venv"));
    dir.join("bin").join(name)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real Datasette on a free port, with a database of its own (`shop`:
/// `orders` with `rows` rows, `notes`), anonymous access denied, and tokens.
pub struct Datasette {
    pub base: String,
    pub full: String,
    pub restricted: String,
    pub expiring: String,
    pub db_path: PathBuf,
    pub child: Child,
    pub _dir: tempfile::TempDir,
}

impl Drop for Datasette {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token Datasette signed an hour ago to last a minute: expired, as a
/// real one is once its time has passed, without a test waiting for that.
pub fn expired_token(secret: &str) -> String {
    let script = format!(
        "import time\nfrom datasette.app import Datasette\n\
         ds = Datasette(secret={secret:?})\n\
         print('dstok_' + ds.sign({{'a': 'root', 't': int(time.time()) - 3600, 'd': 60}}, namespace='token'))\n"
    );
    let out = Command::new(venv_bin("python")).args(["-c", &script]).output().expect("the Datasette venv");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Datasette {
    pub async fn start(rows: usize) -> Datasette {
        Datasette::serving(rows, &[]).await
    }

    /// Started with extra `datasette serve` arguments (`--static …`).
    pub async fn serving(rows: usize, extra: &[&str]) -> Datasette {
        keyhub::connectors::init_tls();
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("shop.db");
        let script = format!(
            "import sqlite3\nc = sqlite3.connect({path:?})\n\
             c.execute('create table orders (id integer primary key, customer text, total real, updated integer)')\n\
             c.executemany('insert into orders values (?,?,?,?)', [(i, 'customer %d' % i, i * 1.5, i) for i in range(1, {rows} + 1)])\n\
             c.execute('create table notes (body text)')\n\
             c.execute(\"insert into notes values ('hello')\")\n\
             c.commit()\n",
            path = db_path.display().to_string()
        );
        let ok = Command::new(venv_bin("python"))
            .args(["-c", &script])
            .status()
            .expect("the Datasette venv (scripts/test.sh makes it)");
        assert!(ok.success(), "creating the test database");
        std::fs::write(dir.path().join("datasette.yaml"), "allow:\n  id: \"*\"\n").unwrap();
        let port = free_port();
        let secret = "test-secret-for-tokens";
        let mut child = Command::new(venv_bin("datasette"))
            .args(["serve", db_path.to_str().unwrap(), "-c", dir.path().join("datasette.yaml").to_str().unwrap()])
            .args(["--port", &port.to_string(), "--secret", secret])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start datasette");
        let _said = crate::helpers::until_says(child.stderr.take().unwrap(), "Uvicorn running on", "datasette").await;
        let token = |extra: &[&str]| -> String {
            let out = Command::new(venv_bin("datasette"))
                .args(["create-token", "root", "--secret", secret])
                .args(extra)
                .output()
                .expect("create-token");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let ds = Datasette {
            base: format!("http://127.0.0.1:{port}"),
            full: token(&[]),
            restricted: token(&["-r", "shop", "orders", "view-table"]),
            expiring: expired_token(secret),
            db_path: db_path.clone(),
            child,
            _dir: dir,
        };
        assert!(ds.full.starts_with("dstok_"), "a token: {}", ds.full);
        ds
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs Python against the served database with `c`, a sqlite3
    /// connection (committed after), as another writer of the source would.
    pub fn change(&self, python: &str) {
        let script = format!(
            "import sqlite3\nc = sqlite3.connect({:?})\n{python}\nc.commit()\n",
            self.db_path.display().to_string()
        );
        let ok = Command::new(venv_bin("python")).args(["-c", &script]).status().expect("python");
        assert!(ok.success(), "changing the source database");
    }
}

/// An app that may call 127.0.0.1 (where the test services are), its
/// admin, and a personal key for the live-data API. Connector requests keep
/// the default 30 s timeout: a real service slowed by a busy machine must
/// not read as one that does not answer.
pub async fn live_app() -> (TestApp, crate::helpers::Client, String) {
    live_app_with(|_| {}).await
}

pub async fn live_app_with(configure: impl FnOnce(&mut keyhub::Settings)) -> (TestApp, crate::helpers::Client, String) {
    let app = TestApp::spawn_with(|s| {
        s.connectors_allow_private = true;
        configure(s);
    })
    .await;
    let admin = app.with_admin().await;
    let key = admin.new_key("live data", &LIVE_PERMISSIONS).await;
    (app, admin, key)
}

pub async fn call(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> ApiReply {
    post_json(app, method, path, key, body).await
}

pub async fn new_source(app: &TestApp, key: &str, kind: &str, name: &str, config: Value) -> i64 {
    let r =
        call(app, Method::POST, "/api/v1/sources", key, json!({"kind": kind, "name": name, "config": config})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "draft");
    r.body["id"].as_i64().unwrap()
}

pub async fn test_source(app: &TestApp, key: &str, id: i64) -> Value {
    let r = call(app, Method::POST, &format!("/api/v1/sources/{id}/test"), key, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// The error class a test of `config` ends in (and the whole error).
pub async fn failing_test(app: &TestApp, key: &str, kind: &str, config: Value) -> Value {
    let name = format!("probe {}", keyhub::domain::tokens::random_token(6));
    let id = new_source(app, key, kind, &name, config).await;
    let t = test_source(app, key, id).await;
    assert_eq!(t["ok"], false, "{t}");
    t["error"].clone()
}

pub async fn wait_for_run(app: &TestApp, key: &str, run: i64) -> Value {
    app.until(&format!("sync run {run} to end"), || async move {
        let r = app.api(&format!("/api/v1/sync-runs/{run}"), key).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        (r.body["status"] != "running" && r.body["status"] != "queued").then_some(r.body)
    })
    .await
}

/// Sets `stream`'s sync mode: incremental by `cursor` (through `filter`
/// when given), as `PATCH /api/v1/sources/{id}` takes it.
pub async fn set_incremental(
    app: &TestApp,
    key: &str,
    source: i64,
    stream: &str,
    cursor: &str,
    filter: Option<&str>,
) -> ApiReply {
    let mut mode = json!({"mode": "incremental", "cursor": cursor});
    if let Some(f) = filter {
        mode["filter"] = json!(f);
    }
    call(app, Method::PATCH, &format!("/api/v1/sources/{source}"), key, json!({"stream_modes": {stream: mode}})).await
}

/// Creates an entity, chooses `streams`, links and activates; waits for the
/// first run and returns it with the entity.
pub async fn activate_into_entity(
    app: &TestApp,
    key: &str,
    source: i64,
    streams: &[&str],
    entity: &str,
) -> (Value, Value) {
    let e =
        call(app, Method::POST, "/api/v1/entities", key, json!({"name": entity, "description": "from a test"})).await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    let entity_id = e.body["id"].as_i64().unwrap();
    let p = call(
        app,
        Method::PATCH,
        &format!("/api/v1/sources/{source}"),
        key,
        json!({"streams": streams, "entity_id": entity_id}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let a = call(app, Method::POST, &format!("/api/v1/sources/{source}/activate"), key, json!({})).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let run = wait_for_run(app, key, a.body["run_id"].as_i64().unwrap()).await;
    let entity = app.api(&format!("/api/v1/entities/{entity_id}"), key).await.body;
    (run, entity)
}
