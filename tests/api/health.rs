use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn healthz_is_ok_while_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn healthz_says_alive_and_readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let ready = app.client().get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!((body["status"].as_str(), body["database"].as_str()), (Some("ready"), Some("ok")), "{body}");
    // Closing the shared pool leaves the app without a database.
    app.db.clone().close().await.unwrap();
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK, "the process itself is alive");
    let res = app.client().get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "but not ready for traffic");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["database"], "unreachable");
    assert!(body["reasons"][0].as_str().unwrap().contains("The database does not answer"), "{body}");
    // Pages fail with a generic page, not SQL.
    let res = app.client().get("/").await;
    assert!(res.status().is_server_error());
    let html = res.text().await.unwrap();
    assert!(html.contains("request id") && !html.to_lowercase().contains("pool"), "{html}");
}

/// The sum of the samples of `metric` whose labels include every `labels` pair.
fn sample(body: &str, metric: &str, labels: &[&str]) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with('{') && labels.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_on_the_main_listener_need_the_token_and_count_requests_keys_and_queries() {
    let app =
        TestApp::spawn_with(|s| s.metrics_token = Some(keyhub::config::Secret::new("metrics-token-0123456789"))).await;
    let scrape = |token: &'static str| {
        let url = format!("{}/metrics", app.address);
        async move { reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap() }
    };
    let res = app.client().get("/metrics").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    assert_eq!(scrape("metrics-token-0123456780").await.status(), StatusCode::UNAUTHORIZED, "a wrong token");

    let admin = app.with_admin().await;
    let key = admin.new_key("metrics", &["data.read"]).await;
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);
    let wrong = format!("{}{}", &key[..key.len() - 4], if key.ends_with("AAAA") { "BBBB" } else { "AAAA" });
    assert!(app.api("/api/v1/me", &wrong).await.status.is_client_error());

    let res = scrape("metrics-token-0123456789").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let body = res.text().await.unwrap();
    let me_ok = sample(
        &body,
        "keyhub_http_request_duration_seconds_count",
        &[r#"route="/api/v1/me""#, r#"status="200""#, r#"method="GET""#],
    );
    assert!(me_ok >= 1.0, "the /me call is counted by route and status:\n{body}");
    assert!(sample(&body, "keyhub_key_verifications_total", &[r#"kind="personal""#, r#"outcome="ok""#]) >= 1.0);
    let refused =
        sample(&body, "keyhub_key_verifications_total", &[r#"kind="personal""#, r#"outcome="malformed_key""#])
            + sample(&body, "keyhub_key_verifications_total", &[r#"kind="personal""#, r#"outcome="unknown_key""#]);
    assert!(refused >= 1.0, "the refused key is counted by its code");
    // A gauge: other apps of this test process set it too, so only its presence is certain here.
    assert!(body.contains("keyhub_key_snapshot_keys{kind=\"personal\"}"), "snapshot size");
    assert!(body.contains("keyhub_key_snapshot_loaded_timestamp_seconds{kind=\"hub\"}"), "hub snapshot's last load");
    assert!(sample(&body, "keyhub_db_query_duration_seconds_count", &[r#"kind="read""#]) >= 1.0);
    assert!(sample(&body, "keyhub_db_query_duration_seconds_count", &[r#"kind="write""#]) >= 1.0);
    assert!(sample(&body, "keyhub_db_pool_connections", &[r#"state="max""#]) >= 1.0, "pool size");
    assert!(body.contains("keyhub_sync_rows_total"), "sync rows are exported (zero until a sync runs)");
    assert!(!body.contains(&key) && !body.contains("metrics-token"), "no secret in the metrics");
    // Requests carry the server's own time.
    let res = admin.get("/account/keys").await;
    let timing = res.headers()["server-timing"].to_str().unwrap().to_owned();
    assert!(timing.starts_with("app;dur=") && timing[8..].parse::<f64>().is_ok(), "{timing}");
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own_and_are_absent_otherwise() {
    let app = TestApp::spawn_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    assert_eq!(app.client().get("/metrics").await.status(), StatusCode::NOT_FOUND, "not on the public listener");
    let port = app.metrics_port.expect("the metrics listener's port");
    assert_eq!(app.client().get("/healthz").await.status(), StatusCode::OK);
    let res = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(
        sample(&body, "keyhub_http_request_duration_seconds_count", &[r#"route="/healthz""#, r#"status="200""#]) >= 1.0,
        "{body}"
    );
    let other = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "the metrics listener serves nothing else");
}
