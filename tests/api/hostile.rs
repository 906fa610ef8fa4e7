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
