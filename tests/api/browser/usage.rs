//! The Usage pages in a real browser, with and without JavaScript: a hub
//! key's Usage tab (chart, table, refusals, last requests), the workspace's
//! Usage page, a personal key's usage, and the limit fields (the editor's,
//! the generate form's and the workspace default, refused beside the field).
//! axe-core checks every page at desktop and phone widths.
use reqwest::StatusCode;
use serde_json::json;

use super::journeys::set_up;
use crate::helpers::*;

async fn usage_journey(javascript: bool) {
    let app = TestApp::spawn().await;
    let b = set_up(&app, if javascript { "usage_js" } else { "usage_nojs" }, javascript).await;
    let admin = app.client_for_admin().await;
    let key = admin.new_key("publisher", &["data.read", "data.write", "hub_keys.manage"]).await;
    publish(&app, &key, "id,customer\n1,Ada\n2,Grace\n", "sales", "keys").await;
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().expect("endpoint");
    let made = post_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/hub-keys",
        &key,
        json!({"name": "Partner ACME", "access_type": "api_key", "endpoint_ids": [endpoint],
               "rate_limit": {"requests": 2, "window_seconds": 86400}}),
    )
    .await;
    let (id, secret) =
        (made.body["id"].as_i64().expect("id"), made.body["secret"].as_str().expect("secret").to_owned());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = reqwest::Client::new()
            .get(format!("{}/hub/analytics/sales", app.address))
            .bearer_auth(&secret)
            .send()
            .await
            .expect("call");
        statuses.push(res.status());
    }
    // A day's window: unless the day ended between the calls, the third is refused.
    assert!(statuses[..2].iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    keyhub::usage::flush_now(&app.state).await;

    // The key's Usage tab: the editor's tabs lead there.
    b.open(&format!("/datahub/keys/{id}")).await;
    b.expect_text("Rate limit and quota").await;
    assert_eq!(b.value_of("#f-rate_limit_requests").await, "2");
    b.open(&format!("/datahub/keys/{id}/usage")).await;
    b.expect_text("Calls, last 24 hours").await;
    b.expect_text("Refusals by reason").await;
    if statuses[2] == StatusCode::TOO_MANY_REQUESTS {
        b.expect_text("rate_limited").await;
    }
    b.expect_text("Last requests").await;
    b.expect_text("sales").await;
    b.click_summary("The chart as a table").await;
    b.expect_text("From (UTC)").await;
    b.click_link("Last 7 days").await;
    b.expect_text("Calls, last 7 days").await;

    // The workspace's Usage page names the key and the personal key behind the set-up calls.
    b.open("/datahub/usage").await;
    b.expect_text("Top keys").await;
    b.expect_text("Partner ACME").await;
    b.click_link("Partner ACME").await;
    b.expect_text("Calls, last 24 hours").await;

    // A personal key with a limit, refused beside its field first.
    b.open("/account/keys").await;
    b.click_summary("+ Generate new key").await;
    b.fill("Label", "nightly export").await;
    b.fill("Requests", "10").await;
    b.click_button("Generate key").await;
    b.expect_text("Give the window in seconds as well.").await;
    assert_eq!(b.value_of("#f-rate_limit_requests").await, "10", "the input is kept");
    b.fill("per seconds", "60").await;
    b.click_button("Generate key").await;
    b.expect_text("Copy it now").await;
    let personal = app.count("SELECT MAX(id) AS n FROM personal_keys").await;
    assert_eq!(
        app.count(&format!("SELECT CAST(rate_limit_window AS BIGINT) AS n FROM personal_keys WHERE id = {personal}"))
            .await,
        60
    );
    b.open(&format!("/account/keys/{personal}/usage")).await;
    b.expect_text("Usage of nightly export").await;
    b.expect_text("No requests yet.").await;

    // The workspace's default limit for new keys.
    b.open("/admin/workspace").await;
    b.expect_text("Default rate limit").await;
    b.fill("Requests", "0").await;
    b.fill("per seconds", "60").await;
    b.click_button("Save default limit").await;
    b.expect_text("Give the requests allowed per window").await;
    b.fill("Requests", "100").await;
    b.click_button("Save default limit").await;
    b.expect_text("new keys start with this limit").await;
    b.open("/datahub/keys/new").await;
    b.expect_text("Rate limit and quota").await;
    assert_eq!(b.value_of("#f-rate_limit_requests").await, "100", "a new key starts with the default");
    b.close().await;
}

#[tokio::test]
async fn browser_usage_pages_and_limit_fields() {
    usage_journey(true).await;
}

#[tokio::test]
async fn browser_usage_pages_work_without_javascript() {
    usage_journey(false).await;
}
