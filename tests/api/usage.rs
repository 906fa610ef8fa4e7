//! Usage counters, rate limits and quotas: calls are counted per key by
//! outcome and endpoint without a database write per request, reported by
//! `/api/v1/…/usage`, rolled up with age; limited keys get the IETF
//! RateLimit fields and 429 past their limit.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, admin_key, post_json, publish};

const ROWS: &str = "id,name\n1,a\n2,b\n";

/// An endpoint `sales` guarded by keys, and the admin's personal key.
async fn guarded(app: &TestApp) -> (crate::helpers::Client, String, String, i64) {
    let (admin, key, slug) = admin_key(app).await;
    publish(app, &key, ROWS, "sales", "keys").await;
    let endpoints = app.api("/api/v1/endpoints", &key).await;
    (admin, key, slug, endpoints.body[0]["id"].as_i64().expect("endpoint id"))
}

async fn hub_key(app: &TestApp, admin: &str, body: Value) -> (i64, String) {
    let made = post_json(app, Method::POST, "/api/v1/hub-keys", admin, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    (made.body["id"].as_i64().expect("id"), made.body["secret"].as_str().unwrap_or_default().to_owned())
}

async fn call(app: &TestApp, path: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .header("Authorization", format!("Bearer {secret}"))
        .send()
        .await
        .expect("hub call")
}

/// A query for the days around the app's clock (which a test may have moved on).
fn days_around(app: &TestApp) -> String {
    let now = app.state.clock.now();
    let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    format!("bucket=day&from={}&to={}", at(now - chrono::Duration::days(7)), at(now + chrono::Duration::days(1)))
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Moves the app's clock past the current window when less than `margin`
/// seconds of it are left, so a test's calls all fall in one window.
fn clear_of_window_end(app: &TestApp, window: i64, margin: i64) {
    let now = app.state.clock.now().timestamp();
    let left = window - now.rem_euclid(window);
    if left < margin {
        app.state.clock.advance(Duration::from_secs((left + 1) as u64));
    }
}

#[tokio::test]
async fn calls_are_counted_by_key_outcome_and_endpoint_and_written_only_by_a_flush() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let (id, secret) =
        hub_key(&app, &admin, json!({"name": "counted", "access_type": "api_key", "endpoint_ids": [endpoint]})).await;
    let (off_id, off_secret) = hub_key(
        &app,
        &admin,
        json!({"name": "switched off", "access_type": "api_key", "status": "inactive", "endpoint_ids": [endpoint]}),
    )
    .await;
    let path = format!("/hub/{slug}/sales");
    for _ in 0..5 {
        assert_eq!(call(&app, &path, &secret).await.status(), StatusCode::OK);
    }
    assert_eq!(call(&app, &format!("{path}?limit=nope"), &secret).await.status(), StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        assert_eq!(call(&app, &path, &off_secret).await.status(), StatusCode::FORBIDDEN);
    }
    let unknown = format!("khd_{}", "A".repeat(38));
    assert_eq!(call(&app, &path, &unknown).await.status(), StatusCode::UNAUTHORIZED);

    // Nothing is written per request: the counters are in memory until a flush.
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM usage_counts").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM usage_requests").await, 0);
    keyhub::usage::flush_now(&app.state).await;
    assert!(app.count("SELECT COUNT(*) AS n FROM usage_counts").await > 0);

    let usage = app.api(&format!("/api/v1/hub-keys/{id}/usage"), &admin).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(usage.body["totals"]["ok"], 5, "{}", usage.body);
    assert_eq!(usage.body["totals"]["refused"]["invalid_query"], 1, "{}", usage.body);
    assert_eq!(usage.body["bucket"], "hour");
    let buckets = usage.body["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 24, "a day of hours, empty ones included");
    assert_eq!(buckets.iter().map(|b| b["ok"].as_u64().unwrap_or(0)).sum::<u64>(), 5);
    assert_eq!(usage.body["endpoints"][0]["endpoint"], "sales");
    assert_eq!(usage.body["endpoints"][0]["ok"], 5);

    let off =
        app.api(&format!("/api/v1/hub-keys/{off_id}/usage?bucket=minute&from=2020-01-01T00:00:00Z"), &admin).await;
    assert_eq!(off.status, StatusCode::BAD_REQUEST, "years of minutes are refused: {}", off.body);
    assert_eq!(off.body["error"]["parameter"], "bucket");
    let off = app.api(&format!("/api/v1/hub-keys/{off_id}/usage?bucket=minute"), &admin).await;
    assert_eq!(off.body["totals"]["refused"]["key_inactive"], 2, "{}", off.body);
    assert_eq!(off.body["totals"]["ok"], 0);

    let ws = app.api("/api/v1/usage", &admin).await;
    assert_eq!(ws.status, StatusCode::OK, "{}", ws.body);
    let keys = ws.body["keys"].as_array().expect("keys");
    let sum: u64 = keys.iter().map(|k| k["ok"].as_u64().unwrap_or(0)).sum();
    assert_eq!(ws.body["totals"]["ok"].as_u64(), Some(sum), "the workspace is the sum of its keys: {}", ws.body);
    assert!(
        keys.iter().any(|k| k["kind"] == "personal" && k["ok"].as_u64() > Some(0)),
        "the admin's API calls count too"
    );
    let named = |name: &str| keys.iter().find(|k| k["name"] == name).cloned().unwrap_or(Value::Null);
    assert_eq!(named("counted")["ok"], 5);
    assert_eq!(named("switched off")["refused"]["key_inactive"], 2);
    assert_eq!(named("unknown or malformed keys")["refused"]["malformed_key"], 1, "{}", ws.body);

    // Each key's last requests: time, client, endpoint, status, duration; no query string.
    let rows =
        keyhub::store::usage::recent(&app.db, keyhub::domain::usage::KeyRef::Hub(id), 100).await.expect("recent");
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0].status, 400, "newest first");
    assert!(rows.iter().all(|r| r.endpoint == "sales" && r.client == "127.0.0.1" && !r.endpoint.contains('?')));
}

/// Each server thread counts into its own buffer; a flush adds them up, so
/// that one statement never upserts a cell twice (PostgreSQL refuses that,
/// and the counts would then wait in memory) and each key keeps its newest
/// requests over all threads.
#[tokio::test]
async fn calls_counted_on_several_server_threads_add_up_in_one_flush() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let (id, secret) =
        hub_key(&app, &admin, json!({"name": "busy", "access_type": "api_key", "endpoint_ids": [endpoint]})).await;
    let path = format!("/hub/{slug}/sales");
    // Many connections at once: the server hands them to all its threads.
    let calls = (0..150).map(|_| call(&app, &path, &secret));
    let answers = futures_util::future::join_all(calls).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    keyhub::usage::flush_now(&app.state).await;

    let usage = app.api(&format!("/api/v1/hub-keys/{id}/usage?bucket=minute"), &admin).await;
    assert_eq!(usage.body["totals"]["ok"], 150, "{}", usage.body["totals"]);
    let rows =
        keyhub::store::usage::recent(&app.db, keyhub::domain::usage::KeyRef::Hub(id), 1000).await.expect("recent");
    assert_eq!(rows.len(), keyhub::usage::RECENT_PER_KEY, "the newest hundred over all threads");
    // Nothing was left behind for a later flush.
    keyhub::usage::flush_now(&app.state).await;
    let again = app.api(&format!("/api/v1/hub-keys/{id}/usage?bucket=minute"), &admin).await;
    assert_eq!(again.body["totals"]["ok"], 150, "{}", again.body["totals"]);
}

#[tokio::test]
async fn a_rate_limited_key_is_told_where_it_stands_and_refused_past_its_limit() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let (id, secret) = hub_key(
        &app,
        &admin,
        json!({"name": "limited", "access_type": "api_key", "endpoint_ids": [endpoint],
               "rate_limit": {"requests": 3, "window_seconds": 3600}}),
    )
    .await;
    let shown = app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await;
    assert_eq!(shown.body["rate_limit"], json!({"requests": 3, "window_seconds": 3600}));
    clear_of_window_end(&app, 3600, 120);
    let path = format!("/hub/{slug}/sales");
    for left in [2, 1, 0] {
        let res = call(&app, &path, &secret).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "ratelimit-policy"), "\"key\";q=3;w=3600");
        let standing = header(&res, "ratelimit");
        assert!(standing.starts_with(&format!("\"key\";r={left};t=")), "{standing}");
    }
    let res = call(&app, &path, &secret).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&res, "retry-after").parse().expect("Retry-After in seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(header(&res, "ratelimit").starts_with("\"key\";r=0;t="));
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");

    // The next window admits it again (the clock is moved, nothing waits).
    app.state.clock.advance(Duration::from_secs(retry));
    assert_eq!(call(&app, &path, &secret).await.status(), StatusCode::OK);
    keyhub::usage::flush_now(&app.state).await;
    let usage = app.api(&format!("/api/v1/hub-keys/{id}/usage?{}", days_around(&app)), &admin).await;
    assert_eq!(usage.body["totals"]["refused"]["rate_limited"], 1, "{}", usage.body);
    assert_eq!(usage.body["totals"]["ok"], 4);

    // A key without a limit carries no RateLimit fields; limits are checked like the editor's fields.
    let (_, free) =
        hub_key(&app, &admin, json!({"name": "free", "access_type": "api_key", "endpoint_ids": [endpoint]})).await;
    let res = call(&app, &path, &free).await;
    assert!(res.headers().get("ratelimit").is_none() && res.headers().get("ratelimit-policy").is_none());
    let bad = post_json(
        &app,
        Method::PATCH,
        &format!("/api/v1/hub-keys/{id}"),
        &admin,
        json!({"rate_limit": {"requests": 0, "window_seconds": 60}}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "rate_limit.requests");
    let bad = post_json(
        &app,
        Method::PATCH,
        &format!("/api/v1/hub-keys/{id}"),
        &admin,
        json!({"rate_limit": {"requests": 5, "window_seconds": 86401}}),
    )
    .await;
    assert_eq!(bad.body["error"]["field"], "rate_limit.window_seconds", "{}", bad.body);
    let cleared =
        post_json(&app, Method::PATCH, &format!("/api/v1/hub-keys/{id}"), &admin, json!({"rate_limit": null})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["rate_limit"], Value::Null);
    for _ in 0..5 {
        assert_eq!(call(&app, &path, &secret).await.status(), StatusCode::OK, "no limit any more");
    }
}

#[tokio::test]
async fn a_monthly_quota_counts_accepted_calls_across_flushes() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let (id, secret) = hub_key(
        &app,
        &admin,
        json!({"name": "quota", "access_type": "api_key", "endpoint_ids": [endpoint], "monthly_quota": 3}),
    )
    .await;
    let path = format!("/hub/{slug}/sales");
    // A refused call (a bad query) is not an accepted one.
    assert_eq!(call(&app, &format!("{path}?limit=x"), &secret).await.status(), StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        assert_eq!(call(&app, &path, &secret).await.status(), StatusCode::OK);
    }
    // The month's count survives a flush: what is written is read back, not counted twice.
    keyhub::usage::flush_now(&app.state).await;
    let res = call(&app, &path, &secret).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "ratelimit").starts_with("\"month\";r=0;t="), "{}", header(&res, "ratelimit"));
    let res = call(&app, &path, &secret).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "quota_exceeded");
    keyhub::usage::flush_now(&app.state).await;
    assert_eq!(call(&app, &path, &secret).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let usage = app.api(&format!("/api/v1/hub-keys/{id}/usage"), &admin).await;
    assert_eq!(usage.body["totals"]["ok"], 3, "{}", usage.body);
    assert_eq!(usage.body["totals"]["refused"]["quota_exceeded"], 1, "{}", usage.body);
}

#[tokio::test]
async fn personal_keys_have_limits_and_their_owner_reads_their_usage() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let (status, secret, _) = {
        let fields = [
            ("label", "limited script"),
            ("expires", "30"),
            ("rate_limit_requests", "2"),
            ("rate_limit_window", "3600"),
            ("monthly_quota", ""),
        ];
        let res = admin.follow(admin.post_form("/account/keys", "/account/keys", &fields).await).await;
        let status = res.status();
        let html = res.text().await.expect("body");
        (status, crate::helpers::attr_after(&html, "id=\"new-secret\" type=\"text\" readonly value=\""), html)
    };
    assert_eq!(status, StatusCode::OK);
    let secret = secret.expect("the new secret is shown");
    clear_of_window_end(&app, 3600, 120);
    let me = app.api("/api/v1/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK);
    let key_id = me.body["key"]["id"].as_i64().expect("key id");
    assert_eq!(app.api("/api/v1/me", &secret).await.status, StatusCode::OK);
    let third = app.api("/api/v1/me", &secret).await;
    assert_eq!((third.status, third.code.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));

    // A bad limit is refused beside its field, with the input kept.
    let res = admin
        .post_form(
            "/account/keys",
            "/account/keys",
            &[("label", "bad"), ("expires", "30"), ("rate_limit_requests", "5"), ("rate_limit_window", "")],
        )
        .await;
    let html = admin.follow(res).await.text().await.expect("body");
    assert!(html.contains("id=\"e-rate_limit_window\""), "the window's own error");
    assert!(html.contains("value=\"5\""), "the typed value is kept");

    let other = admin.new_key("reader", &[]).await;
    app.state.clock.advance(Duration::from_secs(3600));
    keyhub::usage::flush_now(&app.state).await;
    let usage = app.api(&format!("/api/v1/keys/{key_id}/usage?{}", days_around(&app)), &other).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(usage.body["totals"]["ok"], 2);
    assert_eq!(usage.body["totals"]["refused"]["rate_limited"], 1);
    assert_eq!(usage.body["endpoints"][0]["endpoint"], "/api/v1/me");
    // Someone else's key is not found, not shown.
    let member = app.with_member(&admin, "m@example.com", &[]).await;
    let theirs = member.new_key("mine", &[]).await;
    let refused = app.api(&format!("/api/v1/keys/{key_id}/usage"), &theirs).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn old_minutes_roll_up_into_hours_and_old_hours_into_days() {
    use keyhub::domain::usage::KeyRef;
    use keyhub::store::usage::CountRow;
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now().timestamp();
    let day = 86_400;
    let hour_start = now - 8 * day - (now - 8 * day).rem_euclid(3600);
    let row = |start: i64, count: u64| CountRow {
        workspace_id: 1,
        key: Some(KeyRef::Hub(7)),
        endpoint: "sales".into(),
        outcome: "ok",
        start,
        count,
    };
    // Three minutes of one hour 8 days ago, one minute of today, and minutes 100 days ago.
    let old_day = now - 100 * day - (now - 100 * day).rem_euclid(day);
    let rows = [
        row(hour_start, 2),
        row(hour_start + 60, 3),
        row(hour_start + 120, 4),
        row(now - now % 60, 1),
        row(old_day + 3600, 5),
        row(old_day + 7200, 6),
    ];
    keyhub::store::usage::add_counts(&app.db, &rows).await.expect("counts");
    keyhub::usage::roll_up(&app.db, now).await.expect("roll up");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM usage_counts WHERE span = 60").await, 1, "today's minute stays");
    assert_eq!(
        app.count(&format!("SELECT count AS n FROM usage_counts WHERE span = 3600 AND start = {hour_start}")).await,
        9
    );
    assert_eq!(
        app.count(&format!("SELECT count AS n FROM usage_counts WHERE span = 86400 AND start = {old_day}")).await,
        11
    );
    // Rolling up again changes nothing, and reports still add up across spans.
    keyhub::usage::roll_up(&app.db, now).await.expect("roll up");
    assert_eq!(app.count("SELECT CAST(SUM(count) AS BIGINT) AS n FROM usage_counts").await, 21);
}
