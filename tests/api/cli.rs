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
    let out = keyhub(&app, &["admin", "create", "--email", "ops@example.com", "--workspace", "Ops"], "ops password 1234\n");
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
