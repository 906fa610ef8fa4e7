//! The defects a hostile black-box tester found in the full product (issue
//! 20), each with a test that failed before its fix: memory a client could
//! grow, numbers that panicked a worker, a locked database, stale key
//! snapshots, forwarded headers, connector targets and credentials, IPv6
//! spellings, runaway syncs, CSV and JSON input, formula injection,
//! look-alike names, and the small leaks.
use reqwest::{Method, StatusCode};

use crate::helpers::*;

const METRICS_TOKEN: &str = "metrics-token-0123456789";

async fn scrape(app: &TestApp) -> String {
    let res = reqwest::Client::new().get(format!("{}/metrics", app.address)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

/// The request series of the metrics text: their label sets, without the counts.
fn request_series(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| l.starts_with("keyhub_http_request_duration_seconds_count{"))
        .filter_map(|l| l.rsplit_once(' ').map(|(labels, _)| labels.to_owned()))
        .collect()
}

#[tokio::test]
async fn invented_http_methods_never_become_metric_labels() {
    let app = TestApp::spawn_with(|s| s.metrics_token = Some(keyhub::config::Secret::new(METRICS_TOKEN))).await;
    let http = reqwest::Client::new();
    // Warm up the label sets a stranger's odd method can reach (page, API, hub, static).
    let paths = ["/login", "/api/v1/me", "/hub/nope/x", "/static/nope", "/no-such-page"];
    let odd = |i: usize| Method::from_bytes(format!("X{i:05}Q").as_bytes()).unwrap();
    for p in paths {
        let _ = http.request(odd(0), format!("{}{p}", app.address)).send().await.unwrap();
    }
    let before = request_series(&scrape(&app).await);
    for i in 1..=3_000 {
        let p = paths[i % paths.len()];
        let res = http.request(odd(i), format!("{}{p}", app.address)).send().await.unwrap();
        assert!(res.status().is_client_error(), "{p}: {}", res.status());
    }
    let body = scrape(&app).await;
    let after = request_series(&body);
    assert!(!body.contains("X00001Q") && !body.contains("X03000Q"), "no invented method is a label");
    let grown: Vec<&String> = after.iter().filter(|l| !before.contains(l) && l.contains("method=\"other\"")).collect();
    assert!(grown.is_empty(), "3,000 invented methods added no series: {grown:?}");
    assert!(after.iter().filter(|l| l.contains("method=\"other\"")).count() <= paths.len() * 2, "odd methods share one label: {after:?}");
}

#[tokio::test]
async fn huge_page_and_offset_numbers_are_refused_by_name_not_a_closed_connection() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("paging", &["hub_keys.manage", "data.read"]).await;
    for (path, parameter) in [
        ("/api/v1/hub-keys?offset=9223372036854775808", "offset"),
        ("/api/v1/hub-keys?offset=18446744073709551616", "offset"),
        ("/api/v1/hub-keys?limit=0", "limit"),
        ("/api/v1/hub-keys?limit=abc", "limit"),
        ("/api/v1/datasets/1/records?offset=-1", "offset"),
    ] {
        let r = app.api(path, &key).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(r.code.as_deref(), Some("invalid_query"), "{path}");
        assert_eq!(r.body["error"]["parameter"], parameter, "{path}: {}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().starts_with(&format!("{parameter} must be a whole number from")), "{}", r.body);
    }
    let page = "18446744073709551615";
    for list in ["/datahub/keys", "/admin/audit", "/account/keys", "/admin/members", "/account"] {
        let res = admin.get(&format!("{list}?page={page}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{list}");
        let html = res.text().await.unwrap();
        assert!(html.contains("page must be a whole number from 1 to 1,000,000,000"), "{list}: {html}");
        assert!(html.contains("request id"), "the generic frame");
    }
    // The largest page that is allowed shows the last page.
    let res = admin.get("/admin/audit?page=1000000000").await;
    assert_eq!(res.status(), StatusCode::OK);
    // The server is still there and answers everyone.
    assert_eq!(app.api("/api/v1/hub-keys?offset=0&limit=500", &key).await.status, StatusCode::OK);
}

/// Another process holding the database's write lock: SQLite's `BEGIN
/// IMMEDIATE` on a connection of its own; on PostgreSQL, an exclusive lock
/// on the tables a page and a form write (reads still pass, as with SQLite).
pub struct WriteLock(sea_orm::DatabaseConnection);

impl WriteLock {
    pub async fn take(app: &TestApp) -> WriteLock {
        use sea_orm::ConnectionTrait;
        let mut opts = sea_orm::ConnectOptions::new(app.database_url.clone());
        opts.max_connections(1).min_connections(1).sqlx_logging(false);
        let db = sea_orm::Database::connect(opts).await.unwrap();
        if app.database_url.starts_with("sqlite:") {
            db.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
        } else {
            db.execute_unprepared("BEGIN").await.unwrap();
            db.execute_unprepared("LOCK TABLE sessions, teams, audit_events IN EXCLUSIVE MODE").await.unwrap();
        }
        WriteLock(db)
    }

    pub async fn release(self) {
        use sea_orm::ConnectionTrait;
        self.0.execute_unprepared("ROLLBACK").await.unwrap();
        self.0.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_write_locked_database_leaves_signed_in_pages_readable_and_refuses_writes_with_503() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("busy", &["data.read"]).await;
    admin.get_html("/admin/teams").await;
    // The session's idle expiry is due to be extended on the next request.
    {
        use sea_orm::{EntityTrait, sea_query::Expr};
        let soon = chrono::Utc::now() + chrono::Duration::minutes(5);
        keyhub::entities::sessions::Entity::update_many()
            .col_expr(keyhub::entities::sessions::Column::ExpiresAt, Expr::value(soon))
            .exec(&app.db)
            .await
            .unwrap();
    }
    let lock = WriteLock::take(&app).await;

    for page in ["/admin/teams", "/account", "/datahub/keys"] {
        let res = admin.get(page).await;
        assert_eq!(res.status(), StatusCode::OK, "{page} is read while another process writes");
    }
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);

    let html = admin.get_html("/admin/teams").await;
    let res = admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", "Night shift")]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "a write that must happen waits, then says busy");
    assert_eq!(res.headers()["retry-after"], "2");
    assert!(res.text().await.unwrap().contains("keyhub is busy right now"));

    lock.release().await;
    let res = admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", "Night shift")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the same form goes through once the lock is gone");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM teams WHERE name = 'Night shift'").await, 1);
}

#[tokio::test]
async fn a_node_that_cannot_confirm_its_key_snapshots_stops_verifying_keys_and_says_so() {
    let app = TestApp::spawn_with(|s| s.keys_max_stale = std::time::Duration::from_secs(1)).await;
    let (_admin, key, slug) = crate::datahub::admin_key(&app).await;
    crate::datahub::publish(&app, &key, "id,x\n1,a\n", "guarded", "members").await;
    let guarded = format!("/hub/{slug}/guarded");
    let hub_call = || reqwest::Client::new().get(format!("{}{guarded}", app.address)).bearer_auth(&key);
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);
    assert_eq!(hub_call().send().await.unwrap().status(), StatusCode::OK);

    // The database goes away: the watchers can no longer confirm anything.
    app.db.clone().close().await.unwrap();
    let mut waited = 0;
    let body = loop {
        let res = app.client().get("/readyz").await;
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            let body: serde_json::Value = res.json().await.unwrap();
            if body["key_snapshots"]["personal"]["fresh"] == false && body["key_snapshots"]["hub"]["fresh"] == false {
                break body;
            }
        }
        waited += 1;
        assert!(waited < 150, "the snapshots were never reported stale");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("personal key snapshot") && reasons.contains("hub key snapshot"), "{body}");

    // Fail closed: no key is vouched for, with a code and a time to retry.
    let me = app.api("/api/v1/me", &key).await;
    assert_eq!((me.status, me.code.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("keys_unavailable")), "{}", me.body);
    let res = hub_call().send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"]["code"], "keys_unavailable");
    assert_eq!(app.client().get("/healthz").await.status(), StatusCode::OK, "alive, just not vouching for keys");
}

#[tokio::test]
async fn every_forwarded_header_line_counts_through_a_trusted_proxy() {
    let app = TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let (_admin, key, slug) = crate::datahub::admin_key(&app).await;
    crate::datahub::publish(&app, &key, "id,x\n1,a\n", "office", "keys").await;
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    let k = crate::datahub::post_json(&app, Method::POST, "/api/v1/hub-keys", &key, serde_json::json!({
        "name": "office", "access_type": "api_key", "endpoint_ids": [endpoint], "ip_filters": [{"range": "203.0.113.0/24"}]
    }))
    .await;
    let secret = k.body["secret"].as_str().unwrap().to_owned();
    let call = |lines: &[(&'static str, &'static str)]| {
        let mut req = reqwest::Client::new().get(format!("{}/hub/{slug}/office", app.address)).bearer_auth(&secret);
        for (name, value) in lines {
            req = req.header(*name, *value);
        }
        async move { req.send().await.unwrap().status() }
    };
    let xff = "X-Forwarded-For";
    assert_eq!(call(&[(xff, "203.0.113.9")]).await, StatusCode::OK, "inside the range, through the proxy");
    assert_eq!(call(&[(xff, "203.0.113.9, 198.51.100.7")]).await, StatusCode::FORBIDDEN, "one line: the proxy's last word is 198.51.100.7");
    assert_eq!(call(&[(xff, "203.0.113.9"), (xff, "198.51.100.7")]).await, StatusCode::FORBIDDEN, "two lines are the same list");
    assert_eq!(call(&[("Forwarded", "for=203.0.113.9"), ("Forwarded", "for=198.51.100.7")]).await, StatusCode::FORBIDDEN);
    assert_eq!(call(&[("Forwarded", "for=203.0.113.9")]).await, StatusCode::OK);
    assert_eq!(call(&[(xff, "198.51.100.7"), ("Forwarded", "for=203.0.113.9")]).await, StatusCode::FORBIDDEN, "the two headers disagree: no address");
}
