use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::*;

fn keyhub(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .args(args)
        .env("KEYHUB_DATABASE_URL", &app.database_url)
        .env("KEYHUB_DATA_DIR", app.data_dir.path())
        .env("KEYHUB_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyhub");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn admin_create_bootstraps_without_a_browser() {
    let app = TestApp::spawn().await;
    let out =
        keyhub(&app, &["admin", "create", "--email", "ops@example.com", "--workspace", "Ops"], "ops password 1234\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = app.client();
    assert_eq!(c.get("/setup").await.status(), StatusCode::NOT_FOUND, "setup is done");
    assert_eq!(c.login("ops@example.com", "ops password 1234").await.status(), StatusCode::SEE_OTHER);
    assert!(c.get_html("/").await.contains("Ops"));
}

#[tokio::test]
async fn admin_create_refuses_a_weak_password_with_a_sentence() {
    let app = TestApp::spawn().await;
    let out = keyhub(&app, &["admin", "create", "--email", "ops@example.com", "--workspace", "Ops"], "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
}

#[test]
fn a_wrong_setting_stops_start_up_with_a_sentence() {
    let out = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .arg("migrate")
        .env("KEYHUB_BIND", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEYHUB_BIND must be an address and port"));
}

#[tokio::test]
async fn a_master_secret_is_generated_once_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let path = app.data_dir.path().join("secret");
    let meta = std::fs::metadata(&path).expect("secret file created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.len() >= 32);
    // A second start with the same data directory keeps it (sessions survive restarts).
    app.stop().await;
    let again = keyhub::Application::build(keyhub::Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: app.data_dir.path().to_path_buf(),
        database_url: Some(app.database_url.clone()),
        ..keyhub::Settings::default()
    })
    .await
    .expect("second start");
    let handle = again.handle();
    tokio::spawn(again.run());
    handle.stop(false).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
}

#[tokio::test]
async fn reset_password_on_the_command_line_prints_a_one_time_link() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let out = keyhub(&app, &["admin", "reset-password", "--email", ADMIN_EMAIL], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let path = &link[link.find("/reset/").expect("a reset link")..];
    let c = app.client();
    let res = c
        .post_form(path, path, &[("password", "reset from the cli"), ("confirm_password", "reset from the cli")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.client().login(ADMIN_EMAIL, "reset from the cli").await.status(), StatusCode::SEE_OTHER);
    let out = keyhub(&app, &["admin", "reset-password", "--email", "nobody@example.com"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no keyhub account"));
}

/// First start: a few plain lines (URL, setup code, where the data lives), no
/// library chatter, and no colour codes when the output is not a terminal.
#[tokio::test]
async fn first_start_says_what_matters_in_plain_lines() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .env_remove("KEYHUB_LOG")
        .env("KEYHUB_DATA_DIR", dir.path())
        .env("KEYHUB_BIND", format!("0.0.0.0:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The setup code is the last thing a first start says (after it listens).
    let said = crate::helpers::until_says(child.stdout.take().unwrap(), "setup code", "keyhub").await;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = said.all();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains(&format!("running at http://0.0.0.0:{port}/")), "{stdout}");
    assert!(stdout.contains("setup code") && stdout.contains("keyhub.db"), "{stdout}");
    assert!(stdout.lines().count() <= 4, "a few lines: {stdout}");
    assert!(!stderr.contains('\u{1b}') && !stdout.contains('\u{1b}'), "no ANSI colour in a pipe: {stderr}");
    assert!(!stderr.contains("Applying migration") && !stderr.contains("starting"), "no chatter: {stderr}");
    assert!(stderr.contains("KEYHUB_PUBLIC_URL is not set"), "a warning when listening beyond loopback: {stderr}");
}

#[tokio::test]
async fn bench_seed_fills_an_empty_instance_that_then_serves_it() {
    let app = TestApp::spawn().await;
    let out = keyhub(&app, &["bench-seed", "--hub-keys", "300", "--personal-keys", "2100", "--rows", "500"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let value = |name: &str| -> String {
        let line = printed
            .lines()
            .find(|l| l.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {printed}"));
        line.split_once('=').unwrap().1.trim_matches('\'').to_owned()
    };
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM hub_keys").await, 300);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys").await, 2100);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members").await, 3, "the admin and two members of 1,000 keys each");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM hub_keys WHERE secret_sealed IS NULL").await,
        1,
        "only the portal token has no secret"
    );
    assert_eq!(app.count("SELECT row_count AS n FROM datasets").await, 500);

    // The running instance follows the seed (its watchers) and serves it.
    let (ws, hub_key, personal) = (value("BENCH_WORKSPACE"), value("BENCH_HUB_KEY"), value("BENCH_PERSONAL_KEY"));
    let guarded = format!("{}/hub/{ws}/guarded", app.address);
    let res = app
        .until("the guarded endpoint answers the seeded key", || async {
            let r = reqwest::Client::new().get(&guarded).header("X-API-Key", &hub_key).send().await.unwrap();
            (r.status() == StatusCode::OK).then_some(r)
        })
        .await;
    assert_eq!(res.headers()["x-collection-count"], "500");
    assert_eq!(res.headers()["x-collection-page"], "Orders from 0");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 20);
    assert_eq!(reqwest::get(&guarded).await.unwrap().status(), StatusCode::UNAUTHORIZED, "no key, no data");
    app.until("the portal token admits the admin's personal key", || async {
        (reqwest::Client::new().get(&guarded).bearer_auth(&personal).send().await.unwrap().status() == StatusCode::OK)
            .then_some(())
    })
    .await;
    assert_eq!(reqwest::get(format!("{}/hub/{ws}/items", app.address)).await.unwrap().status(), StatusCode::OK);

    let again = keyhub(&app, &["bench-seed", "--hub-keys", "10", "--personal-keys", "10", "--rows", "10"], "");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("needs an empty data dir"));
}

/// The real binary on the app's database with `log` as `KEYHUB_LOG` (none:
/// the default), asked for `/api/v1/me` with `key`; what it wrote to stderr.
async fn logged_by_a_node(app: &TestApp, key: &str, log: Option<&str>) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let file = app.data_dir.path().join(format!("node-{port}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhub"));
    cmd.env("KEYHUB_DATABASE_URL", &app.database_url)
        .env("KEYHUB_DATA_DIR", app.data_dir.path())
        .env("KEYHUB_BIND", format!("127.0.0.1:{port}"))
        .env_remove("KEYHUB_LOG")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&file).unwrap());
    if let Some(log) = log {
        cmd.env("KEYHUB_LOG", log);
    }
    let mut child = cmd.spawn().expect("run keyhub");
    let base = format!("http://127.0.0.1:{port}");
    let _said = crate::helpers::until_says(child.stdout.take().unwrap(), "running at", "the keyhub node").await;
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(key)
        .send()
        .await
        .expect("the node answers");
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().ok();
    child.wait().ok();
    std::fs::read_to_string(&file).unwrap()
}

#[tokio::test]
async fn the_request_log_names_route_status_and_key_but_never_the_secret_and_is_off_by_default() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("logged", &["data.read"]).await;
    let identifier = format!("khp_…{}", &key[key.len() - 4..]);
    // SQLite serves one node: the binaries below take the file over.
    if app.on_sqlite() {
        app.stop().await;
    }

    let on = logged_by_a_node(&app, &key, Some("warn,keyhub::request=debug")).await;
    let line =
        on.lines().find(|l| l.contains("/api/v1/me")).unwrap_or_else(|| panic!("a line for the request in:\n{on}"));
    assert!(line.contains("method=GET") && line.contains("status=200") && line.contains("duration_ms="), "{line}");
    assert!(line.contains(&identifier), "the key's identifier: {line}");
    assert!(!on.contains(&key), "never the secret");

    let off = logged_by_a_node(&app, &key, None).await;
    assert!(
        off.contains("keyhub is running") || off.contains("loaded"),
        "the node did log at its default level:\n{off}"
    );
    assert!(!off.contains("/api/v1/me"), "no request lines by default:\n{off}");
}

#[tokio::test]
async fn keys_create_prints_a_personal_key_that_works_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let reader = app.with_member(&admin, "reader@example.com", &["data.read"]).await;
    drop(reader);
    let args =
        ["keys", "create", "--email", "reader@example.com", "--label", "nightly export", "--permission", "data.read"];
    let out = keyhub(&app, &args, "member password 123\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("khp_") && key.len() == 42, "only the key on stdout: {key}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Copy it now"));
    // The running node applies it from the change log the CLI wrote to
    // (here the test applies the log at once rather than wait for the poll).
    app.state.changes.catch_up().await.unwrap();
    let me = app.api("/api/v1/me", &key).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["permissions"], serde_json::json!(["data.read"]));
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.created' AND actor_name LIKE '%command line%'"
        )
        .await,
        1
    );

    // The same rules as the page: what the account holds now, a unique label, the right password.
    let more =
        ["keys", "create", "--email", "reader@example.com", "--label", "too much", "--permission", "members.manage"];
    let out = keyhub(&app, &more, "member password 123\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("may carry only what reader@example.com holds now here: data.read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = keyhub(&app, &args, "member password 123\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already have a key with this label"));
    let out = keyhub(&app, &args, "wrong password 123\n");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("the email or the password"));
    let out = keyhub(
        &app,
        &[
            "keys",
            "create",
            "--email",
            "reader@example.com",
            "--label",
            "x",
            "--permission",
            "data.read",
            "--workspace",
            "nope",
        ],
        "member password 123\n",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no workspace has the slug nope"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys").await, 1, "nothing else was made");
}
