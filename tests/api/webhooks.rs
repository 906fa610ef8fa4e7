//! Webhooks against a receiver that verifies with the Standard Webhooks
//! reference library: events are delivered signed, with the object as the
//! API shows it and no secret; failures are retried on the specification's
//! schedule for a day, then the webhook is failing; every attempt is logged;
//! private targets are refused.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn app_and_key() -> (TestApp, Client, String) {
    let app = TestApp::spawn_with(|s| s.connectors_allow_private = true).await;
    let admin = app.with_admin().await;
    let key = admin.new_key("ops", &["data.read", "data.write", "hub_keys.manage", "members.manage"]).await;
    (app, admin, key)
}

async fn webhook(app: &TestApp, key: &str, port: u16, events: &[&str]) -> (i64, String) {
    let made = post_json(
        app,
        Method::POST,
        "/api/v1/webhooks",
        key,
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "description": "ops", "events": events}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let secret = made.body["secret"].as_str().expect("the secret, once").to_owned();
    (made.body["id"].as_i64().expect("id"), secret)
}

async fn deliveries(app: &TestApp, key: &str, id: i64) -> Vec<Value> {
    let r = app.api(&format!("/api/v1/webhooks/{id}/deliveries"), key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.as_array().cloned().unwrap_or_default()
}

/// Waits until the newest delivery has `n` attempts recorded: the next one is
/// scheduled from the clock as it was then, so the test moves the clock after.
async fn attempts_logged(app: &TestApp, key: &str, id: i64, n: usize) {
    app.until(&format!("attempt {n} to be logged"), || async {
        let d = deliveries(app, key, id).await;
        (d.first().and_then(|d| d["attempts"].as_array()).is_some_and(|a| a.len() >= n)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn events_arrive_signed_as_the_reference_library_verifies_them() {
    let (app, _admin, key) = app_and_key().await;
    publish(&app, &key, "id,name\n1,a\n", "sales", "keys").await;
    let port = free_port();
    let (id, secret) = webhook(&app, &key, port, &["hub_key.created", "hub_key.changed", "hub_key.deleted"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let shown = app.api(&format!("/api/v1/webhooks/{id}"), &key).await;
    assert!(shown.body.get("secret").is_none(), "never shown again: {}", shown.body);
    let receiver = Receiver::start(port, &secret, 0).await;

    let made =
        post_json(&app, Method::POST, "/api/v1/hub-keys", &key, json!({"name": "Partner", "access_type": "api_key"}))
            .await;
    let hub_secret = made.body["secret"].as_str().expect("secret").to_owned();
    let hub_id = made.body["id"].as_i64().unwrap();
    post_json(&app, Method::PATCH, &format!("/api/v1/hub-keys/{hub_id}"), &key, json!({"status": "inactive"})).await;
    let gone = reqwest::Client::new()
        .delete(format!("{}/api/v1/hub-keys/{hub_id}", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .expect("delete");
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    let got = receiver.until(3).await;
    let types: Vec<&str> = got.iter().map(|r| r["type"].as_str().unwrap_or("")).collect();
    assert_eq!(types, ["hub_key.created", "hub_key.changed", "hub_key.deleted"], "{got:?}");
    for r in &got {
        assert_eq!(r["verified"], true, "the reference library verifies it: {r}");
        assert_eq!(r["answered"], 204);
        assert_eq!(r["payload"]["data"]["name"], "Partner");
        assert!(r["payload"]["timestamp"].is_string());
        assert!(!r["payload"].to_string().contains(&hub_secret), "never the key's secret");
    }
    assert_eq!(got[1]["payload"]["data"]["status"], "inactive");
    // Each delivery has its own id; the log shows one attempt each, 204, with its answer time.
    let ids: std::collections::HashSet<&str> = got.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 3);
    let log = deliveries(&app, &key, id).await;
    assert_eq!(log.len(), 3);
    for d in &log {
        assert_eq!(d["state"], "delivered", "{d}");
        assert_eq!(d["attempts"][0]["status"], 204);
        assert!(d["attempts"][0]["duration_ms"].as_i64().is_some());
    }

    // "Send test event" reaches it too, asked for or not.
    let t = post_json(&app, Method::POST, &format!("/api/v1/webhooks/{id}/test"), &key, json!({})).await;
    assert_eq!(t.status, StatusCode::ACCEPTED, "{}", t.body);
    let got = receiver.until(4).await;
    assert_eq!((got[3]["type"].as_str(), got[3]["verified"].as_bool()), (Some("webhook.test"), Some(true)));

    // A receiver with another secret refuses the signature: the delivery is retried, not delivered.
    let port2 = free_port();
    let (id2, _) = webhook(&app, &key, port2, &["hub_key.created"]).await;
    let wrong = Receiver::start(port2, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0).await;
    post_json(&app, Method::POST, "/api/v1/hub-keys", &key, json!({"name": "Second", "access_type": "api_key"})).await;
    let got = wrong.until(1).await;
    assert_eq!((got[0]["verified"].as_bool(), got[0]["answered"].as_i64()), (Some(false), Some(400)));
    let log = app
        .until("the refused attempt to be logged", || async {
            let d = deliveries(&app, &key, id2).await;
            (d.first().is_some_and(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty()))).then_some(d)
        })
        .await;
    assert_eq!(log[0]["state"], "pending", "{}", log[0]);
    assert_eq!(log[0]["attempts"][0]["error"], "The receiver answered 400.");
}

#[tokio::test]
async fn failed_deliveries_are_retried_for_a_day_then_the_webhook_is_failing() {
    let (app, _admin, key) = app_and_key().await;
    let port = free_port();
    let (id, secret) = webhook(&app, &key, port, &["hub_key.created"]).await;
    // Two 500s, then success: three attempts, on the schedule (5 s, then 5 min).
    let receiver = Receiver::start(port, &secret, 2).await;
    post_json(&app, Method::POST, "/api/v1/hub-keys", &key, json!({"name": "One", "access_type": "api_key"})).await;
    for n in 1..=3 {
        receiver.until(n).await;
        attempts_logged(&app, &key, id, n).await;
        app.state.clock.advance(Duration::from_secs(300));
        keyhub::notify::webhooks::wake();
    }
    let got = receiver.received();
    assert_eq!(got.iter().map(|r| r["answered"].as_i64().unwrap()).collect::<Vec<_>>(), [500, 500, 204]);
    assert!(got.iter().all(|r| r["id"] == got[0]["id"]), "the same webhook-id on every attempt");
    let log = app
        .until("the delivery to be marked delivered", || async {
            let d = deliveries(&app, &key, id).await;
            (d[0]["state"] == "delivered").then_some(d)
        })
        .await;
    let statuses: Vec<i64> =
        log[0]["attempts"].as_array().unwrap().iter().map(|a| a["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 204]);

    // A receiver that never succeeds: ten attempts over a day, then failed, and the webhook is failing.
    drop(receiver);
    let down = Receiver::start(port, &secret, 1_000).await;
    post_json(&app, Method::POST, "/api/v1/hub-keys", &key, json!({"name": "Two", "access_type": "api_key"})).await;
    for n in 1..=10 {
        down.until(n).await;
        attempts_logged(&app, &key, id, n).await;
        app.state.clock.advance(Duration::from_secs(86_400));
        keyhub::notify::webhooks::wake();
    }
    let hook = app
        .until("the webhook to be marked failing", || async {
            let h = app.api(&format!("/api/v1/webhooks/{id}"), &key).await.body;
            (h["status"] == "failing").then_some(h)
        })
        .await;
    assert!(hook["failing_since"].is_string());
    let log = deliveries(&app, &key, id).await;
    assert_eq!(log[0]["state"], "failed");
    assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 10);
    // Saving it enabled resumes it as active.
    let saved = post_json(&app, Method::PATCH, &format!("/api/v1/webhooks/{id}"), &key, json!({"enabled": true})).await;
    assert_eq!(saved.body["status"], "active", "{}", saved.body);
}

#[tokio::test]
async fn webhook_urls_and_events_are_checked_and_private_targets_refused() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("ops", &["members.manage"]).await;
    for (url, events, field) in [
        ("http://127.0.0.1:9000/hook", json!(["key.created"]), "url"),
        ("http://169.254.169.254/latest/meta-data", json!(["key.created"]), "url"),
        ("ftp://example.com/x", json!(["key.created"]), "url"),
        ("https://example.com:22/hook", json!(["key.created"]), "url"),
        ("https://example.com/hook", json!(["key.nope"]), "events"),
        ("https://example.com/hook", json!([]), "events"),
    ] {
        let r = post_json(&app, Method::POST, "/api/v1/webhooks", &key, json!({"url": url, "events": events})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{url}: {}", r.body);
    }
    // Only admins of members manage webhooks.
    let reader = admin.new_key("reader", &["data.read"]).await;
    let r = app.api("/api/v1/webhooks", &reader).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
