//! The defects a hostile black-box tester found in the full product (issue
//! 20), each with a test that failed before its fix: memory a client could
//! grow, numbers that panicked a worker, a locked database, stale key
//! snapshots, forwarded headers, connector targets and credentials, IPv6
//! spellings, runaway syncs, CSV and JSON input, formula injection,
//! look-alike names, and the small leaks.
use reqwest::{Method, StatusCode};

use crate::helpers::live_app_with;
use crate::helpers::*;

const METRICS_TOKEN: &str = "metrics-token-0123456789";

async fn scrape(app: &TestApp) -> String {
    let res =
        reqwest::Client::new().get(format!("{}/metrics", app.address)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
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
    assert!(
        after.iter().filter(|l| l.contains("method=\"other\"")).count() <= paths.len() * 2,
        "odd methods share one label: {after:?}"
    );
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
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{parameter} must be a whole number from")),
            "{}",
            r.body
        );
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
    // Dates at the edge of the calendar are dates, not an overflow.
    for until in ["262142-12-31", "+262142-12-31", "-262143-01-01", "9999-12-31"] {
        let res = admin.get(&format!("/admin/audit?until={until}")).await;
        assert!(
            res.status() == StatusCode::OK || res.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{until}: {}",
            res.status()
        );
    }
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
    let app = TestApp::spawn_with(|s| s.keys_max_stale = std::time::Duration::from_secs(30)).await;
    let (_admin, key, slug) = crate::helpers::admin_key(&app).await;
    crate::helpers::publish(&app, &key, "id,x\n1,a\n", "guarded", "members").await;
    let guarded = format!("/hub/{slug}/guarded");
    let hub_call = || reqwest::Client::new().get(format!("{}{guarded}", app.address)).bearer_auth(&key);
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);
    assert_eq!(hub_call().send().await.unwrap().status(), StatusCode::OK);

    // The database goes away: the watchers can no longer confirm anything,
    // and (on the snapshots' injected clocks) more than the limit passes.
    app.db.clone().close().await.unwrap();
    app.state.keys.freshness.advance(std::time::Duration::from_secs(31));
    app.state.hub_keys.freshness.advance(std::time::Duration::from_secs(31));
    let res = app.client().get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (body["key_snapshots"]["personal"]["fresh"].as_bool(), body["key_snapshots"]["hub"]["fresh"].as_bool()),
        (Some(false), Some(false)),
        "{body}"
    );
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("personal key snapshot") && reasons.contains("hub key snapshot"), "{body}");

    // Fail closed: no key is vouched for, with a code and a time to retry.
    let me = app.api("/api/v1/me", &key).await;
    assert_eq!(
        (me.status, me.code.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("keys_unavailable")),
        "{}",
        me.body
    );
    let res = hub_call().send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"]["code"], "keys_unavailable");
    assert_eq!(app.client().get("/healthz").await.status(), StatusCode::OK, "alive, just not vouching for keys");
}

#[tokio::test]
async fn every_forwarded_header_line_counts_through_a_trusted_proxy() {
    let app = TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let (_admin, key, slug) = crate::helpers::admin_key(&app).await;
    crate::helpers::publish(&app, &key, "id,x\n1,a\n", "office", "keys").await;
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    let k = crate::helpers::post_json(&app, Method::POST, "/api/v1/hub-keys", &key, serde_json::json!({
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
    assert_eq!(
        call(&[(xff, "203.0.113.9, 198.51.100.7")]).await,
        StatusCode::FORBIDDEN,
        "one line: the proxy's last word is 198.51.100.7"
    );
    assert_eq!(
        call(&[(xff, "203.0.113.9"), (xff, "198.51.100.7")]).await,
        StatusCode::FORBIDDEN,
        "two lines are the same list"
    );
    assert_eq!(
        call(&[("Forwarded", "for=203.0.113.9"), ("Forwarded", "for=198.51.100.7")]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(&[("Forwarded", "for=203.0.113.9")]).await, StatusCode::OK);
    assert_eq!(
        call(&[(xff, "198.51.100.7"), ("Forwarded", "for=203.0.113.9")]).await,
        StatusCode::FORBIDDEN,
        "the two headers disagree: no address"
    );
}

/// A server of someone else's on 127.0.0.1: it records the head of every
/// request it is sent (and answers an empty JSON list).
pub struct Capture {
    pub base: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Capture {
    pub async fn start() -> Capture {
        Capture::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    pub async fn on(listener: tokio::net::TcpListener) -> Capture {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = c.read(&mut buf).await.unwrap_or(0);
                    log.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]").await;
                });
            }
        });
        Capture { base, seen }
    }

    /// Every request head received so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: serde_json::Value,
) -> impl std::future::Future<Output = ApiReply> {
    crate::helpers::post_json(app, method, path, key, body)
}

#[tokio::test]
async fn connectors_never_call_a_port_of_another_protocol_even_where_private_targets_are_allowed() {
    let (app, _admin, key) = crate::helpers::live_app().await;
    // A listener on a "bad" port (Fetch's list): it must never see a request.
    let mut listener = None;
    for port in [10080u16, 6566, 6679, 4190, 1719, 6669] {
        if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            listener = Some((port, l));
            break;
        }
    }
    let (port, listener) = listener.expect("a free bad port");
    let trap = Capture::on(listener).await;
    let r = api(&app, Method::POST, "/api/v1/sources", &key, serde_json::json!({
        "kind": "datasette", "name": "Trap", "config": {"base_url": trap.base, "database": "shop", "token": "dstok_secret_value_1234"}
    }))
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["error"]["field"], "config.base_url");
    assert!(r.body["error"]["message"].as_str().unwrap().starts_with(&format!("Port {port} is for")), "{}", r.body);
    for redis in ["http://127.0.0.1:6379", "http://127.0.0.1:22", "https://127.0.0.1:25"] {
        let r = api(&app, Method::POST, "/api/v1/sources", &key, serde_json::json!({"kind": "datasette", "name": "Redis", "config": {"base_url": redis, "database": "x", "token": "dstok_x_1234"}})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{redis}: {}", r.body);
    }
    // A source saved before the rule (its row points at the bad port): the test is refused before any byte.
    let free = Capture::start().await;
    let id = crate::helpers::new_source(
        &app,
        &key,
        "datasette",
        "Old",
        serde_json::json!({"base_url": free.base, "database": "shop", "token": "dstok_secret_value_1234"}),
    )
    .await;
    app.exec(&format!(
        "UPDATE sources SET config = '{{\"base_url\":\"{}/\",\"database\":\"shop\"}}' WHERE id = {id}",
        trap.base
    ))
    .await;
    let t = crate::helpers::test_source(&app, &key, id).await;
    assert_eq!(t["ok"], false);
    assert_eq!(t["error"]["class"], "blocked_by_policy", "{t}");
    assert!(trap.requests().is_empty(), "nothing reached the other protocol's port: {:?}", trap.requests());
}

#[tokio::test]
async fn a_saved_key_never_follows_a_changed_address_and_a_mask_is_not_a_key() {
    let ds = crate::helpers::Datasette::start(5).await;
    let (app, admin, key) = crate::helpers::live_app().await;
    let id = crate::helpers::new_source(
        &app,
        &key,
        "datasette",
        "Shop",
        serde_json::json!({"base_url": ds.base, "database": "shop", "token": ds.full}),
    )
    .await;
    assert_eq!(crate::helpers::test_source(&app, &key, id).await["ok"], true);

    // The mask GET returned, sent back as it was: the saved token stays.
    let got = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    let shown = got["config"]["token"].as_str().unwrap().to_owned();
    assert!(shown.starts_with("••••") && ds.full.ends_with(&shown["••••".len()..]), "{got}");
    let r =
        api(&app, Method::PATCH, &format!("/api/v1/sources/{id}"), &key, serde_json::json!({"config": got["config"]}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["credentials_missing"], serde_json::json!([]));
    assert_eq!(
        crate::helpers::test_source(&app, &key, id).await["ok"],
        true,
        "the real token is still sent, not the mask"
    );
    let r = api(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        serde_json::json!({"config": {"token": "••••zzzz"}}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("config.token")),
        "{}",
        r.body
    );

    // Someone who may edit sources points it at their own server: the key stays home.
    let theirs = Capture::start().await;
    let r = api(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        serde_json::json!({"config": {"base_url": theirs.base}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["credentials_missing"], serde_json::json!(["token"]), "{}", r.body);
    assert!(r.body["notes"][0].as_str().unwrap().contains("was cleared"), "{}", r.body);
    assert!(!r.body["config"].as_object().unwrap().contains_key("token"));
    let t = crate::helpers::test_source(&app, &key, id).await;
    assert_eq!((t["ok"].as_bool(), t["error"]["class"].as_str()), (Some(false), Some("invalid_config")), "{t}");
    assert!(
        theirs.requests().is_empty(),
        "no request, let alone the key, went to the new address: {:?}",
        theirs.requests()
    );
    let audit = admin.get_html("/admin/audit").await;
    assert!(audit.contains("source.credentials_cleared"), "audited");

    // The same through the credentials page: back to the form, which says why.
    let form = format!("/live-data/sources/{id}/credentials");
    let res = admin
        .post_form(
            &form,
            &form,
            &[
                ("kind", "datasette"),
                ("name", "Shop"),
                ("cfg.base_url", &ds.base),
                ("cfg.database", "shop"),
                ("cfg.token", &ds.full),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the key entered with the address: kept");
    let elsewhere = Capture::start().await;
    let res = admin
        .post_form(
            &form,
            &form,
            &[
                ("kind", "datasette"),
                ("name", "Shop"),
                ("cfg.base_url", &elsewhere.base),
                ("cfg.database", "shop"),
                ("cfg.token", ""),
            ],
        )
        .await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, form.clone()), "back to the credentials step");
    let page = admin.get_html(&form).await;
    assert!(page.contains("address changed, so its saved token was cleared"), "{page}");
    assert!(elsewhere.requests().is_empty());

    // Back home with the key entered again in the same change: kept, and it works.
    let r = api(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        serde_json::json!({"config": {"base_url": ds.base, "token": ds.full}}),
    )
    .await;
    assert_eq!(r.body["credentials_missing"], serde_json::json!([]), "{}", r.body);
    assert!(r.body.get("notes").is_none(), "nothing was cleared: {}", r.body);
    assert_eq!(crate::helpers::test_source(&app, &key, id).await["ok"], true);

    // Credentials that cannot be opened (a sealed value copied from another row)
    // fail with their own class; nothing is sent, least of all an empty key.
    let other = crate::helpers::new_source(
        &app,
        &key,
        "datasette",
        "Other",
        serde_json::json!({"base_url": theirs.base, "database": "shop", "token": "dstok_other_value_1234"}),
    )
    .await;
    app.exec(&format!(
        "UPDATE sources SET secrets_sealed = (SELECT secrets_sealed FROM sources WHERE id = {id}) WHERE id = {other}"
    ))
    .await;
    let t = crate::helpers::test_source(&app, &key, other).await;
    assert_eq!(t["error"]["class"], "credentials_unreadable", "{t}");
    assert!(theirs.requests().is_empty(), "{:?}", theirs.requests());
}

#[tokio::test]
async fn every_embedded_ipv4_spelling_of_a_private_address_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("ssrf", &crate::helpers::LIVE_PERMISSIONS).await;
    let target = Capture::start().await;
    let port = target.base.rsplit(':').next().unwrap().to_owned();
    for host in ["[::127.0.0.1]", "[::ffff:0:127.0.0.1]", "[64:ff9b::7f00:1]", "[::ffff:127.0.0.1]", "2130706433"] {
        let id = crate::helpers::new_source(&app, &key, "datasette", &format!("Via {host}"), serde_json::json!({"base_url": format!("http://{host}:{port}/"), "database": "shop", "token": "dstok_value_1234"})).await;
        let t = crate::helpers::test_source(&app, &key, id).await;
        assert_eq!(t["error"]["class"], "blocked_by_policy", "{host}: {t}");
    }
    assert!(target.requests().is_empty(), "{:?}", target.requests());
}

#[tokio::test]
async fn an_ipv4_mapped_ip_filter_row_is_stored_as_ipv4_and_matches() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = crate::helpers::admin_key(&app).await;
    crate::helpers::publish(&app, &key, "id,x\n1,a\n", "mapped", "keys").await;
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    let k = api(&app, Method::POST, "/api/v1/hub-keys", &key, serde_json::json!({
        "name": "loopback", "access_type": "api_key", "endpoint_ids": [endpoint], "ip_filters": [{"range": "::ffff:127.0.0.1/128"}]
    }))
    .await;
    assert_eq!(k.status, StatusCode::CREATED, "{}", k.body);
    assert_eq!(k.body["ip_filters"][0]["range"], "127.0.0.1", "{}", k.body);
    assert_eq!(k.body["ip_filters"][0]["netmask"], "32");
    assert!(k.body["notes"].to_string().contains("IPv4-mapped"), "{}", k.body);
    let res = reqwest::Client::new()
        .get(format!("{}/hub/{slug}/mapped", app.address))
        .bearer_auth(k.body["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the IPv4 client 127.0.0.1 matches");
}

async fn sync_now(app: &TestApp, key: &str, source: i64) -> i64 {
    let r = api(app, Method::POST, &format!("/api/v1/sources/{source}/syncs"), key, serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    r.body["run_id"].as_i64().unwrap()
}

async fn tab_rows(app: &TestApp, key: &str, dataset: i64) -> i64 {
    app.api(&format!("/api/v1/datasets/{dataset}/records?limit=1"), key).await.body["meta"]["count"].as_i64().unwrap()
}

fn run_log(run: &serde_json::Value) -> String {
    run["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_runaway_source_is_stopped_by_the_row_limit_a_repeated_page_and_a_prompt_cancel() {
    use crate::helpers::{FaultProxy, Rule};
    let ds = crate::helpers::Datasette::start(2_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, _admin, key) = live_app_with(|s| s.sync_max_rows = 2_500).await;
    let id = crate::helpers::new_source(
        &app,
        &key,
        "datasette",
        "Runaway",
        serde_json::json!({"base_url": proxy.base, "database": "shop", "token": ds.full}),
    )
    .await;
    assert_eq!(crate::helpers::test_source(&app, &key, id).await["ok"], true);
    let (run, entity) = crate::helpers::activate_into_entity(&app, &key, id, &["orders"], "Runaway orders").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();

    // More records than one sync may read: the stream fails, the old rows stay.
    ds.change(
        "c.executemany('insert into orders values (?,?,?,?)', [(i, 'late %d' % i, 1.0, i) for i in range(2001, 5001)])",
    );
    let run = crate::helpers::wait_for_run(&app, &key, sync_now(&app, &key, id).await).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["streams"][0]["error"]["class"], "limit_reached", "{run}");
    assert!(run["streams"][0]["error"]["message"].as_str().unwrap().contains("more than 2,500 records"), "{run}");
    assert_eq!(tab_rows(&app, &key, dataset).await, 2_000);

    // A source that ignores the paging and answers its first page forever.
    ds.change("c.execute('delete from orders where id > 2000')");
    proxy.set(Rule { strip_next: true, ..Rule::default() });
    let run = crate::helpers::wait_for_run(&app, &key, sync_now(&app, &key, id).await).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["streams"][0]["error"]["class"], "limit_reached", "{run}");
    assert!(
        run["streams"][0]["error"]["message"].as_str().unwrap().contains("same page of 1000 records twice"),
        "{run}"
    );
    assert_eq!(proxy.batches.load(std::sync::atomic::Ordering::SeqCst), 2, "stopped at the first repetition");
    assert_eq!(tab_rows(&app, &key, dataset).await, 2_000);

    // A cancel while the source has not answered yet stops the run then, not after the answer.
    proxy.set(Rule { hold_from: Some(0), ..Rule::default() });
    let run_id = sync_now(&app, &key, id).await;
    proxy.reached(1).await;
    let c = api(&app, Method::POST, &format!("/api/v1/sync-runs/{run_id}/cancel"), &key, serde_json::json!({})).await;
    assert_eq!(c.status, StatusCode::ACCEPTED, "{}", c.body);
    let run = crate::helpers::wait_for_run(&app, &key, run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(run_log(&run).contains("orders: stopped while waiting for the source's answer"), "{run}");
    assert_eq!(
        proxy.batches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the held read was never answered, and nothing more was asked"
    );
    assert_eq!(tab_rows(&app, &key, dataset).await, 2_000);
    proxy.release(10);
}

#[tokio::test]
async fn a_run_that_takes_longer_than_allowed_is_stopped_and_keeps_the_old_rows() {
    use crate::helpers::{FaultProxy, Rule};
    let ds = crate::helpers::Datasette::start(3_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, _admin, key) = live_app_with(|s| s.sync_max_time = std::time::Duration::from_secs(1)).await;
    let id = crate::helpers::new_source(
        &app,
        &key,
        "datasette",
        "Slow",
        serde_json::json!({"base_url": proxy.base, "database": "shop", "token": ds.full}),
    )
    .await;
    assert_eq!(crate::helpers::test_source(&app, &key, id).await["ok"], true);
    // The second batch is held until the test lets it go: the run cannot finish in time.
    proxy.set(Rule { hold_from: Some(1), ..Rule::default() });
    let (run, _) = crate::helpers::activate_into_entity(&app, &key, id, &["orders"], "Slow orders").await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["streams"][0]["error"]["class"], "limit_reached", "{run}");
    assert!(
        run["streams"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("took longer than 1 second (KEYHUB_SYNC_MAX_SECONDS = 1)"),
        "{run}"
    );
    assert_eq!(run["streams"][0]["records_written"], 1_000, "{run}");
    proxy.release(10);
}

#[tokio::test]
async fn columns_that_change_during_a_run_are_widened_added_and_recorded() {
    use crate::helpers::{FaultProxy, Rule};
    let ds = crate::helpers::Datasette::start(5_000).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let (app, _admin, key) = live_app_with(|_| {}).await;
    let id = crate::helpers::new_source(
        &app,
        &key,
        "datasette",
        "Drifting",
        serde_json::json!({"base_url": proxy.base, "database": "shop", "token": ds.full}),
    )
    .await;
    assert_eq!(crate::helpers::test_source(&app, &key, id).await["ok"], true);
    // Pages 1–2 as discovered; before page 3 the source changes under the run:
    // `updated` (integer) holds text from record 2,001 on, and a column is added.
    proxy.set(Rule { hold_from: Some(2), ..Rule::default() });
    let entity =
        api(&app, Method::POST, "/api/v1/entities", &key, serde_json::json!({"name": "Drift", "description": "x"}))
            .await
            .body["id"]
            .as_i64()
            .unwrap();
    let p = api(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        serde_json::json!({"streams": ["orders"], "entity_id": entity}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let a = api(&app, Method::POST, &format!("/api/v1/sources/{id}/activate"), &key, serde_json::json!({})).await;
    proxy.reached(3).await;
    ds.change("c.execute('alter table orders add column note text')\nc.execute(\"update orders set updated = 'soon', note = 'late ' || id where id > 2000\")");
    proxy.release(100);
    let run = crate::helpers::wait_for_run(&app, &key, a.body["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let changes = run["streams"][0]["schema_changes"].to_string();
    assert!(changes.contains("column “updated” changed from integer to text at record 2,001"), "{run}");
    assert!(changes.contains("new column “note” (text) at record 2,001"), "{run}");
    assert!(run_log(&run).contains("schema changed during the run"), "{run}");

    let e = app.api(&format!("/api/v1/entities/{entity}"), &key).await.body;
    let dataset = e["tabs"][0]["dataset_id"].as_i64().unwrap();
    let shown = app.api(&format!("/api/v1/datasets/{dataset}"), &key).await.body;
    assert!(
        shown["columns"].as_array().unwrap().iter().any(|c| c["name"] == "updated" && c["type"] == "text"),
        "{shown}"
    );
    assert!(shown["columns"].as_array().unwrap().iter().any(|c| c["name"] == "note" && c["type"] == "text"), "{shown}");
    let first = app.api(&format!("/api/v1/datasets/{dataset}/records?limit=1"), &key).await.body;
    assert_eq!(first["data"][0]["updated"], "1", "rows written before the change are text too: {first}");
    assert!(first["data"][0]["note"].is_null(), "{first}");
    let later = app.api(&format!("/api/v1/datasets/{dataset}/records?limit=1&offset=4999"), &key).await.body;
    assert_eq!(
        (later["data"][0]["updated"].as_str(), later["data"][0]["note"].as_str()),
        (Some("soon"), Some("late 5000")),
        "{later}"
    );
    assert_eq!(later["meta"]["count"], 5_000);
}

#[tokio::test]
async fn an_unclosed_quote_and_a_repeated_json_key_are_refused_naming_where() {
    let app = TestApp::spawn().await;
    let (_admin, key, _slug) = crate::helpers::admin_key(&app).await;
    let r = crate::helpers::upload(&app, &key, "Quotes", None, "q.csv", b"id,name\n1,\"x\n2,y\n3,z\n".to_vec()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.code.as_deref(), Some("invalid_records"));
    assert!(
        r.body["error"]["message"].as_str().unwrap().starts_with("Line 2: a quoted value starts here"),
        "{}",
        r.body
    );
    let r = crate::helpers::upload(
        &app,
        &key,
        "Dupes",
        None,
        "d.json",
        br#"[{"id": 1, "a": 1}, {"id": 2, "a": 1, "a": 2}]"#.to_vec(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["error"]["index"], 1, "the second record: {}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("the key “a” appears twice"), "{}", r.body);
    let r = api(&app, Method::POST, "/api/v1/datasets", &key, serde_json::json!({"name": "Body"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let raw = r#"{"name": "Body", "records": [{"id": 1, "b": 1, "b": 2}]}"#;
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/datasets", app.address))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let r = ApiReply::read(res).await;
    assert_eq!(
        (r.status, r.body["error"]["index"].as_i64()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(0)),
        "{}",
        r.body
    );
    assert!(r.body["error"]["message"].as_str().unwrap().contains("the key “b” appears twice"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM datasets WHERE state = 'ready'").await, 0, "nothing stored");
}

#[tokio::test]
async fn every_csv_keyhub_writes_defuses_formulas_and_keeps_numbers() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = crate::helpers::admin_key(&app).await;
    let csv = "id,cell,amount\n1,=cmd|' /C calc'!A0,-5\n2,@SUM(1+1),+1.5\n3,+1+1,2\n4,-2+3,3\n5,plain,4\n";
    let dataset = crate::helpers::publish(&app, &key, csv, "cells", "public").await;
    let expect = |body: &str| {
        for cell in ["'=cmd|' /C calc'!A0", "'@SUM(1+1)", "'+1+1", "'-2+3", "plain"] {
            assert!(body.contains(cell), "{cell} in {body}");
        }
        assert!(body.contains(",-5\n") && body.contains(",+1.5\n"), "numbers stay as written: {body}");
        assert!(!body.contains(",=cmd") && !body.contains(",@SUM"), "{body}");
    };
    let download = admin.get(&format!("/datahub/datasets/{dataset}/download.csv")).await;
    assert_eq!(download.status(), StatusCode::OK);
    expect(&download.text().await.unwrap());
    let hub = reqwest::get(format!("{}/hub/{slug}/cells?format=csv", app.address)).await.unwrap();
    assert_eq!(hub.status(), StatusCode::OK);
    expect(&hub.text().await.unwrap());
    // A text column holding "-5" and "+1.5" keeps them as written too.
    let csv = "id,code\n1,-5\n2,+1.5\n3,x\n";
    crate::helpers::publish(&app, &key, csv, "codes", "public").await;
    let body =
        reqwest::get(format!("{}/hub/{slug}/codes?format=csv", app.address)).await.unwrap().text().await.unwrap();
    assert!(body.contains("1,-5") && body.contains("2,+1.5"), "{body}");
}

#[tokio::test]
async fn look_alike_names_are_refused_for_everything_a_workspace_names() {
    let app = TestApp::spawn().await;
    let (admin, key, _slug) = crate::helpers::admin_key(&app).await;
    let live = admin.new_key("live", &crate::helpers::LIVE_PERMISSIONS).await;
    let (latin, cyrillic) = ("Caf\u{e9}", "C\u{430}f\u{e9}");
    // Datasets (through an upload), collections, hub keys, entities, sources.
    let ds = crate::helpers::upload(&app, &key, latin, None, "a.csv", b"id\n1\n".to_vec()).await;
    assert_eq!(ds.status, StatusCode::CREATED, "{}", ds.body);
    let again = crate::helpers::upload(&app, &key, cyrillic, None, "a.csv", b"id\n1\n".to_vec()).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "dataset: {}", again.body);
    let dataset = ds.body["id"].as_i64().unwrap();
    let capture = Capture::start().await;
    for (path, body, secret) in [
        ("/api/v1/collections", serde_json::json!({"name": latin, "dataset_id": dataset}), &key),
        ("/api/v1/hub-keys", serde_json::json!({"name": latin, "access_type": "api_key"}), &key),
        ("/api/v1/entities", serde_json::json!({"name": latin, "description": ""}), &live),
        (
            "/api/v1/sources",
            serde_json::json!({"kind": "datasette", "name": latin, "config": {"base_url": capture.base, "database": "d", "token": "dstok_a_1234"}}),
            &live,
        ),
    ] {
        let first = api(&app, Method::POST, path, secret, body.clone()).await;
        assert_eq!(first.status, StatusCode::CREATED, "{path}: {}", first.body);
        let mut look_alike = body.clone();
        look_alike["name"] = serde_json::json!(cyrillic);
        let second = api(&app, Method::POST, path, secret, look_alike).await;
        assert!(
            second.status == StatusCode::UNPROCESSABLE_ENTITY || second.status == StatusCode::CONFLICT,
            "{path}: {} {}",
            second.status,
            second.body
        );
        assert_eq!(second.body["error"]["field"], "name", "{path}: {}", second.body);
    }
    // Teams, through the page.
    let html = admin.get_html("/admin/teams").await;
    assert_eq!(
        admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", latin)]).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = admin.get_html("/admin/teams").await;
    let res = admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", cyrillic)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM teams").await, 1);
}

#[tokio::test]
async fn names_saved_before_look_keys_get_one_at_start_and_old_look_alikes_both_stay() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    for name in ["Night shift", "Day shift"] {
        let html = admin.get_html("/admin/teams").await;
        assert_eq!(
            admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", name)]).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    // As an older keyhub stored them: no look key, and a look-alike pair (Cyrillic а).
    app.exec("INSERT INTO teams (workspace_id, name, name_key, created_at, updated_at) SELECT workspace_id, 'D\u{430}y shift', 'd\u{430}y shift', created_at, updated_at FROM teams WHERE name = 'Night shift'").await;
    app.exec("UPDATE teams SET look_key = NULL").await;
    keyhub::store::names::backfill_look_keys(&app.db).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM teams WHERE look_key IS NULL").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM teams WHERE look_key = 'day shift'").await,
        1,
        "one of the pair has the plain key"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM teams WHERE look_key LIKE 'day shift#%'").await,
        1,
        "the other keeps its name, with a distinct key"
    );
    let html = admin.get_html("/admin/teams").await;
    let res = admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", "DAY SHIFT")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "a third look-alike is refused");
    let res = admin.post_raw("/admin/teams", &csrf_token(&html), &[("name", "Ni\u{261}ht shift")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "a look-alike of a backfilled name too");
}

#[tokio::test]
async fn an_oversized_json_body_is_413_and_a_wrong_method_on_a_page_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let (admin, key, _slug) = crate::helpers::admin_key(&app).await;
    let huge = serde_json::json!({"name": "x".repeat(2 * 1024 * 1024), "access_type": "api_key"});
    let r = api(&app, Method::POST, "/api/v1/hub-keys", &key, huge).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("larger than 1024 KB"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM hub_keys").await, 0);
    for (method, path, allow) in [
        (Method::GET, "/logout", "POST"),
        (Method::HEAD, "/logout", "POST"),
        (Method::GET, "/admin/teams/1/delete", "POST"),
        (Method::GET, "/account/keys/1/rotate", "POST"),
        (Method::POST, "/admin/audit", "GET"),
    ] {
        let html = admin.get_html("/account").await;
        let mut req = admin.http.request(method.clone(), admin.url(path));
        if method == Method::POST {
            req = req.form(&[("csrf_token", csrf_token(&html))]);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            res.headers()["allow"].to_str().unwrap().contains(allow),
            "{method} {path}: {:?}",
            res.headers().get("allow")
        );
    }
    assert_eq!(admin.get("/no-such-page").await.status(), StatusCode::NOT_FOUND, "a path nobody serves is still 404");
}

#[tokio::test]
async fn without_a_key_unknown_paths_and_workspaces_answer_like_guarded_ones() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = crate::helpers::admin_key(&app).await;
    crate::helpers::publish(&app, &key, "id,x\n1,a\n", "guarded", "keys").await;
    let hub = |path: String, bearer: Option<String>| {
        let mut req = reqwest::Client::new().get(format!("{}{path}", app.address));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let auth = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            (status, auth, res.text().await.unwrap())
        }
    };
    let guarded = hub(format!("/hub/{slug}/guarded"), None).await;
    assert_eq!(guarded.0, StatusCode::UNAUTHORIZED);
    for probe in [
        format!("/hub/{slug}/nope"),
        format!("/hub/{slug}/deep/nope/path"),
        "/hub/no-such-workspace/guarded".into(),
        "/hub/no-such-workspace/x".into(),
    ] {
        assert_eq!(hub(probe.clone(), None).await, guarded, "{probe} answers exactly like a guarded endpoint");
    }
    // Listing: an unknown workspace looks like one with nothing public.
    let known = reqwest::get(format!("{}/hub/{slug}", app.address)).await.unwrap();
    let unknown = reqwest::get(format!("{}/hub/no-such-workspace", app.address)).await.unwrap();
    assert_eq!((known.status(), unknown.status()), (StatusCode::OK, StatusCode::OK));
    let (known, unknown): (serde_json::Value, serde_json::Value) =
        (known.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(
        (known["endpoints"].clone(), unknown["endpoints"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    // A key of another workspace learns nothing either; a key of this one learns the path is unknown.
    let stranger =
        hub("/hub/no-such-workspace/x".into(), Some("khd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000".into())).await;
    let at_known = hub(format!("/hub/{slug}/nope"), Some("khd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000".into())).await;
    assert_eq!(stranger.0, at_known.0, "{stranger:?} / {at_known:?}");
    assert_eq!(
        hub(format!("/hub/{slug}/nope"), Some(key.clone())).await.0,
        StatusCode::NOT_FOUND,
        "a member of the workspace is told"
    );
}

#[tokio::test]
async fn two_rotations_of_one_key_from_the_same_page_give_one_secret_and_one_409() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let old = admin.new_key("twice", &["data.read"]).await;
    let id = app.count("SELECT id AS n FROM personal_keys").await;
    let html = admin.get_html("/account/keys").await;
    let identifier =
        attr_after(&html, "name=\"identifier\" value=\"").expect("the rotate form names the secret it rotates");
    let token = csrf_token(&html);
    let action = format!("/account/keys/{id}/rotate");
    let fields = [("grace", "none"), ("identifier", identifier.as_str())];
    let (a, b) = tokio::join!(admin.post_raw(&action, &token, &fields), admin.post_raw(&action, &token, &fields));
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    let (winner, loser) = if a.status() == StatusCode::SEE_OTHER { (a, b) } else { (b, a) };
    let winner = admin.follow(winner).await;
    let shown = attr_after(&winner.text().await.unwrap(), "id=\"new-secret\" type=\"text\" readonly value=\"")
        .expect("the new secret");
    assert!(loser.text().await.unwrap().contains("was rotated by another request"));
    assert_eq!(app.api("/api/v1/me", &shown).await.status, StatusCode::OK, "the one secret handed out works");
    assert_eq!(app.api("/api/v1/me", &old).await.status, StatusCode::UNAUTHORIZED);
}

#[cfg(unix)]
#[tokio::test]
async fn staged_uploads_and_their_side_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let html = admin.get_html("/datahub/datasets").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", csrf_token(&html))
        .part("file", reqwest::multipart::Part::bytes(b"id,name\n1,a\n".to_vec()).file_name("a.csv"));
    let res = admin.http.post(admin.url("/datahub/datasets/upload")).multipart(form).send().await.unwrap();
    assert!(res.status().is_redirection() || res.status().is_success(), "{}", res.status());
    let dir = app.data_dir.path().join("uploads");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "the file and its owner record: {files:?}");
    for f in files {
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
    }
}

#[tokio::test]
async fn repeated_header_lines_are_read_as_one_list_everywhere() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = crate::helpers::admin_key(&app).await;
    crate::helpers::publish(&app, &key, "id,x\n1,a\n", "open", "public").await;
    let url = format!("{}/hub/{slug}/open", app.address);
    let etag = reqwest::get(&url).await.unwrap().headers()["etag"].to_str().unwrap().to_owned();
    // If-None-Match and Accept over two lines.
    let res = reqwest::Client::new()
        .get(&url)
        .header("If-None-Match", "\"other\"")
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = reqwest::Client::new()
        .get(&url)
        .header("Accept", "application/json")
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    // Two credentials in one request: neither is taken.
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .header("Authorization", "Bearer khp_other")
        .send()
        .await
        .unwrap();
    let r = ApiReply::read(res).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNAUTHORIZED, Some("malformed_key")), "{}", r.body);
}

#[tokio::test]
async fn a_write_transaction_holds_the_write_lock_from_its_start() {
    // SQLite: a deferred transaction that reads, then writes after another
    // connection committed, is refused at once ("database is locked"), busy
    // timeout or not. That is how a dataset delete racing the background
    // removal of its rows became a 503. A write transaction now takes the lock
    // at BEGIN, so nobody can commit between its read and its write.
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    if !app.database_url.starts_with("sqlite:") {
        return; // PostgreSQL has no such upgrade: its writers lock rows, not the file.
    }
    app.with_admin().await;
    let txn = keyhub::store::begin_write(&app.db).await.unwrap();
    txn.execute_unprepared("SELECT COUNT(*) FROM workspaces").await.unwrap();
    let mut opts = sea_orm::ConnectOptions::new(app.database_url.clone());
    opts.max_connections(1).sqlx_logging(false).map_sqlx_sqlite_opts(|o| o.busy_timeout(std::time::Duration::ZERO));
    let other = sea_orm::Database::connect(opts).await.unwrap();
    let err = other
        .execute_unprepared("BEGIN IMMEDIATE")
        .await
        .expect_err("another writer cannot start while the transaction may still write");
    assert!(err.to_string().contains("locked") || err.to_string().contains("busy"), "{err}");
    txn.execute_unprepared("UPDATE users SET display_name = display_name")
        .await
        .expect("the write after the read goes through");
    txn.commit().await.unwrap();
    other.execute_unprepared("BEGIN IMMEDIATE").await.expect("and after the commit, it can");
    other.execute_unprepared("ROLLBACK").await.unwrap();
}
