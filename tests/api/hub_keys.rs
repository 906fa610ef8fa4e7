//! Data Hub keys: the JSON management API, and enforcement on every data
//! request (`/hub/{workspace}/{path}`) for each access type.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ApiReply, TestApp};
use crate::helpers::{admin_key, post_json, publish};

const ORDERS: &str = "id,customer,total\n1,Ada,10\n2,Grace,20\n3,Linus,30\n";

/// A key-guarded endpoint `sales` and the keyhub admin's personal key.
async fn guarded(app: &TestApp) -> (crate::helpers::Client, String, String, i64) {
    let (admin, key, slug) = admin_key(app).await;
    publish(app, &key, ORDERS, "sales", "keys").await;
    let endpoints = app.api("/api/v1/endpoints", &key).await;
    let id = endpoints.body[0]["id"].as_i64().expect("endpoint id");
    (admin, key, slug, id)
}

async fn create(app: &TestApp, key: &str, body: Value) -> ApiReply {
    post_json(app, Method::POST, "/api/v1/hub-keys", key, body).await
}

async fn patch(app: &TestApp, key: &str, id: i64, body: Value) -> ApiReply {
    post_json(app, Method::PATCH, &format!("/api/v1/hub-keys/{id}"), key, body).await
}

/// Calls the hub with `secret` as a Bearer key (none when empty) and extra headers.
async fn call(app: &TestApp, path: &str, secret: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.address));
    if !secret.is_empty() {
        req = req.header("Authorization", format!("Bearer {secret}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.expect("hub call")
}

async fn code(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn an_api_key_is_checked_in_order_and_adds_its_headers_to_successful_answers() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let created = create(
        &app,
        &admin,
        json!({
            "name": "Partner ACME", "access_type": "api_key", "endpoint_ids": [endpoint],
            "ip_filters": [{"range": "127.0.0.0", "netmask": "255.0.0.0"}, {"range": "::1/128"}, {"range": "192.0.2.0", "netmask": "24"}],
            "headers": [
                {"name": "X-Total", "value": "${collection.meta.count}"},
                {"name": "X-Window", "value": "${collection.meta.offset}+${collection.meta.limit} of ${collection.meta.name}"},
                {"name": "X-Hidden", "value": "fixed", "exclude": true},
                {"name": "X-Source", "value": "keyhub"}
            ]
        }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["secret"].as_str().expect("secret in the 201").to_owned();
    assert!(secret.starts_with("khd_") && secret.len() == 42);
    assert_eq!(created.body["identifier"], format!("khd_…{}", &secret[38..]));
    assert_eq!(created.body["sync_status"]["state"], "synced", "one node applies at once");
    let id = created.body["id"].as_i64().unwrap();
    let url = format!("/hub/{slug}/sales?limit=2&offset=1");

    let res = call(&app, &url, &secret, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-total"], "3");
    assert_eq!(res.headers()["x-window"], "1+2 of c sales");
    assert_eq!(res.headers()["x-source"], "keyhub");
    assert!(res.headers().get("x-hidden").is_none(), "excluded rows are not sent");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    // The same through X-API-Key, ?apikey= and as CSV; the placeholders follow the query.
    let res = call(&app, &format!("/hub/{slug}/sales?limit=1&format=csv"), "", &[("X-API-Key", &secret)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-window"], "0+1 of c sales");
    assert!(res.text().await.unwrap().starts_with("id,customer,total"));
    let res = call(&app, &format!("/hub/{slug}/sales?apikey={secret}"), "", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Refusals, each with its code; none carries the key's headers.
    let mut damaged = secret.clone().into_bytes();
    damaged[8] = if damaged[8] == b'a' { b'b' } else { b'a' };
    let unknown = keyhub::domain::hub_keys::generate_secret();
    for (presented, status, expected) in [
        ("", StatusCode::UNAUTHORIZED, "missing_key"),
        (std::str::from_utf8(&damaged).unwrap(), StatusCode::UNAUTHORIZED, "malformed_key"),
        (unknown.as_str(), StatusCode::UNAUTHORIZED, "unknown_key"),
        ("not-a-token-of-this-workspace-123456", StatusCode::UNAUTHORIZED, "unknown_key"),
    ] {
        let res = call(&app, &url, presented, &[]).await;
        assert!(res.headers().get("x-total").is_none());
        assert_eq!(code(res).await, (status, expected.to_owned()), "{presented}");
    }

    // Inactive beats a wrong address (status is checked first), at once.
    let r =
        patch(&app, &admin, id, json!({"status": "inactive", "ip_filters": [{"range": "10.0.0.0", "netmask": "8"}]}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(code(call(&app, &url, &secret, &[]).await).await, (StatusCode::FORBIDDEN, "key_inactive".into()));
    patch(&app, &admin, id, json!({"status": "active"})).await;
    assert_eq!(code(call(&app, &url, &secret, &[]).await).await, (StatusCode::FORBIDDEN, "ip_not_allowed".into()));
    patch(&app, &admin, id, json!({"ip_filters": [], "endpoint_ids": []})).await;
    assert_eq!(
        code(call(&app, &url, &secret, &[]).await).await,
        (StatusCode::FORBIDDEN, "endpoint_not_allowed".into())
    );
    // Linked from the endpoint's side: both views show the same truth.
    let e =
        post_json(&app, Method::PATCH, &format!("/api/v1/endpoints/{endpoint}"), &admin, json!({"hub_key_ids": [id]}))
            .await;
    assert_eq!(e.body["hub_key_ids"], json!([id]));
    let k = app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await;
    assert_eq!(k.body["endpoint_ids"], json!([endpoint]));
    assert_eq!(k.body["endpoints"][0]["path"], "sales");
    assert_eq!(call(&app, &url, &secret, &[]).await.status(), StatusCode::OK);

    // Expiry: a key that expires in two seconds is refused after them.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    patch(&app, &admin, id, json!({"expires_at": soon})).await;
    assert_eq!(call(&app, &url, &secret, &[]).await.status(), StatusCode::OK);
    app.state.clock.advance(Duration::from_secs(3));
    assert_eq!(code(call(&app, &url, &secret, &[]).await).await, (StatusCode::UNAUTHORIZED, "expired_key".into()));
    // An expired key can still be edited: its unchanged (past) date is kept.
    let r = patch(&app, &admin, id, json!({"status": "inactive"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Last use is recorded (coalesced, not one write per request).
    let used = app.count(&format!("SELECT COUNT(*) AS n FROM hub_keys WHERE id = {id} AND last_used_at IS NOT NULL AND last_used_ip = '127.0.0.1'")).await;
    assert_eq!(used, 1);
}

#[tokio::test]
async fn the_client_address_comes_from_x_forwarded_for_only_through_a_trusted_proxy() {
    for trusted in [false, true] {
        let app = TestApp::spawn_with(|s| {
            if trusted {
                s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        let (_admin, admin, slug, endpoint) = guarded(&app).await;
        let k = create(&app, &admin, json!({"name": "office", "access_type": "api_key", "endpoint_ids": [endpoint], "ip_filters": [{"range": "203.0.113.0/24"}]})).await;
        let secret = k.body["secret"].as_str().unwrap().to_owned();
        let url = format!("/hub/{slug}/sales");
        let spoofed = call(&app, &url, &secret, &[("X-Forwarded-For", "203.0.113.9")]).await.status();
        let chain = call(&app, &url, &secret, &[("X-Forwarded-For", "203.0.113.9, 127.0.0.1")]).await.status();
        let garbage = call(&app, &url, &secret, &[("X-Forwarded-For", "not-an-address")]).await.status();
        let direct = call(&app, &url, &secret, &[]).await.status();
        if trusted {
            assert_eq!((spoofed, chain), (StatusCode::OK, StatusCode::OK), "the proxy's word is taken");
        } else {
            assert_eq!(
                (spoofed, chain),
                (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
                "an untrusted peer cannot claim an address"
            );
        }
        assert_eq!(garbage, StatusCode::FORBIDDEN, "a malformed entry fails closed");
        assert_eq!(direct, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn generic_tokens_and_portal_tokens_guard_endpoints_too() {
    let app = TestApp::spawn().await;
    let (admin_client, admin, slug, endpoint) = guarded(&app).await;
    let url = format!("/hub/{slug}/sales");

    // Generic: the admin's value; weak values are saved with a warning; values are unique.
    let token = "aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let g = create(
        &app,
        &admin,
        json!({"name": "legacy", "access_type": "generic_token", "token": token, "endpoint_ids": [endpoint]}),
    )
    .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.body);
    assert!(g.body["warnings"][0].as_str().unwrap().contains("different characters"));
    assert!(g.body.get("secret").is_none());
    assert_eq!(call(&app, &url, token, &[]).await.status(), StatusCode::OK);
    let dup = create(&app, &admin, json!({"name": "legacy 2", "access_type": "generic_token", "token": token})).await;
    assert_eq!((dup.status, dup.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("token")));

    // Portal: members call with their own personal key; a team decides, at once.
    let reader = app.with_member(&admin_client, "rita@example.com", &["data.read"]).await;
    let rita_key = reader.new_key("portal", &["data.read"]).await;
    let blind = app.with_member(&admin_client, "bo@example.com", &[]).await;
    let bo_key = blind.new_key("portal", &[]).await;
    assert_eq!(
        code(call(&app, &url, &rita_key, &[]).await).await,
        (StatusCode::FORBIDDEN, "endpoint_not_allowed".into())
    );
    let rita = app.count("SELECT id AS n FROM users WHERE email = 'rita@example.com'").await;
    let bo = app.count("SELECT id AS n FROM users WHERE email = 'bo@example.com'").await;
    let page = admin_client.get_html("/admin/teams").await;
    let res = admin_client
        .post_raw(
            "/admin/teams",
            &crate::helpers::csrf_token(&page),
            &[("name", "Finance"), ("member_ids", &rita.to_string()), ("member_ids", &bo.to_string())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let team = app.count("SELECT id AS n FROM teams WHERE name = 'Finance'").await;
    let p = create(&app, &admin, json!({"name": "finance portal", "access_type": "portal_token", "team_ids": [team], "endpoint_ids": [endpoint], "headers": [{"name": "X-Portal", "value": "yes"}]})).await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let res = call(&app, &url, &rita_key, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-portal"], "yes");
    assert_eq!(
        code(call(&app, &url, &bo_key, &[]).await).await,
        (StatusCode::FORBIDDEN, "insufficient_permission".into())
    );
    // Rita leaves the team: refused on the very next request.
    let page = admin_client.get_html(&format!("/admin/teams/{team}")).await;
    let res = admin_client
        .post_raw(
            &format!("/admin/teams/{team}"),
            &crate::helpers::csrf_token(&page),
            &[("name", "Finance"), ("member_ids", &bo.to_string())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        code(call(&app, &url, &rita_key, &[]).await).await,
        (StatusCode::FORBIDDEN, "endpoint_not_allowed".into())
    );
    // Named directly instead.
    let pid = p.body["id"].as_i64().unwrap();
    patch(&app, &admin, pid, json!({"user_ids": [rita]})).await;
    assert_eq!(call(&app, &url, &rita_key, &[]).await.status(), StatusCode::OK);
    patch(&app, &admin, pid, json!({"status": "inactive"})).await;
    assert_eq!(code(call(&app, &url, &rita_key, &[]).await).await, (StatusCode::FORBIDDEN, "key_inactive".into()));
}

#[tokio::test]
async fn every_field_is_checked_and_the_refusal_names_the_field_and_row() {
    let app = TestApp::spawn().await;
    let (_admin, admin, _slug, endpoint) = guarded(&app).await;
    let ok = create(&app, &admin, json!({"name": "Café", "access_type": "api_key"})).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"name": "", "access_type": "api_key"}), "name", "Give the key a name"),
        (json!({"name": "CAFE\u{0301}", "access_type": "api_key"}), "name", "Another key"),
        (json!({"name": "a\u{202E}b", "access_type": "api_key"}), "name", "invisible"),
        (json!({"name": "x", "access_type": "magic"}), "access_type", "Choose an access type"),
        (json!({"name": "x", "access_type": "api_key", "status": "paused"}), "status", "active or inactive"),
        (
            json!({"name": "x", "access_type": "api_key", "ip_filters": [{"range": "10.0.0.0/8"}, {"range": "010.0.0.1"}]}),
            "ip_filters[1]",
            "leading zero",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "ip_filters": [{"range": "10.0.0.0", "netmask": "33"}]}),
            "ip_filters[0]",
            "outside the address width",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "ip_filters": [{"range": "::", "netmask": "129"}]}),
            "ip_filters[0]",
            "outside the address width",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "ip_filters": [{"range": "10.0.0.0", "netmask": "255.0.255.0"}]}),
            "ip_filters[0]",
            "contiguous",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "ip_filters": [{"range": "fe80::1%eth0", "netmask": "64"}]}),
            "ip_filters[0]",
            "zone id",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "ip_filters": [{"range": "0.0.0.0", "netmask": "0"}]}),
            "ip_filters[0]",
            "allows every address",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "headers": [{"name": "Set-Cookie", "value": "a=b"}]}),
            "headers[0]",
            "set by keyhub",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "headers": [{"name": "X-A", "value": "ok"}, {"name": "X-B", "value": "${collection.meta.owner}"}]}),
            "headers[1]",
            "not a known placeholder",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "headers": [{"name": "X-A", "value": "a\r\nSet-Cookie: x=1"}]}),
            "headers[0]",
            "U+000D",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "headers": [{"name": "X A", "value": "a"}]}),
            "headers[0]",
            "not an HTTP header name",
        ),
        (
            json!({"name": "x", "access_type": "api_key", "headers": [{"name": "X-A", "value": "v".repeat(1025)}]}),
            "headers[0]",
            "1024",
        ),
        (json!({"name": "x", "access_type": "api_key", "expires_at": past}), "expires_at", "in the past"),
        (json!({"name": "x", "access_type": "api_key", "expires_at": "next tuesday"}), "expires_at", "RFC 3339"),
        (json!({"name": "x", "access_type": "generic_token", "token": "too short"}), "token", "spaces"),
        (json!({"name": "x", "access_type": "generic_token", "token": "short"}), "token", "24 to 256"),
        (
            json!({"name": "x", "access_type": "api_key", "endpoint_ids": [endpoint, 999]}),
            "endpoint_ids",
            "no endpoint with id 999",
        ),
        (json!({"name": "x", "access_type": "portal_token"}), "user_ids", "at least one user or team"),
        (json!({"name": "x", "access_type": "portal_token", "team_ids": [42]}), "team_ids", "no team with id 42"),
    ];
    for (body, field, says) in cases {
        let r = create(&app, &admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.code.as_deref(), Some("invalid_field"));
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains(says), "{body}: {}", r.body);
    }
    let many: Vec<Value> = (0..51).map(|i| json!({"name": format!("X-H{i}"), "value": "v"})).collect();
    let r = create(&app, &admin, json!({"name": "x", "access_type": "api_key", "headers": many})).await;
    assert!(r.body["error"]["message"].as_str().unwrap().contains("at most 50"), "{}", r.body);
    // Several wrong fields are all listed.
    let r = create(
        &app,
        &admin,
        json!({"name": "", "access_type": "api_key", "headers": [{"name": "Host", "value": "x"}]}),
    )
    .await;
    let fields: Vec<&str> =
        r.body["error"]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "headers[0]"]);
    // Nothing was saved by the refusals.
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM hub_keys").await, 1);

    // Host bits are cleared with a note; every address needs a confirmation.
    let r = create(&app, &admin, json!({"name": "normalised", "access_type": "api_key", "ip_filters": [{"range": "10.0.0.5", "netmask": "255.255.255.0"}, {"range": "0.0.0.0/0"}], "allow_all_addresses": true})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        r.body["ip_filters"],
        json!([{"range": "10.0.0.0", "netmask": "24"}, {"range": "0.0.0.0", "netmask": "0"}])
    );
    assert!(r.body["notes"][0].as_str().unwrap().contains("Stored as 10.0.0.0/24"));
}

#[tokio::test]
async fn reveal_is_an_audited_post_and_regenerate_leaves_exactly_one_valid_secret() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let url = format!("/hub/{slug}/sales");
    let k =
        create(&app, &admin, json!({"name": "rotating", "access_type": "api_key", "endpoint_ids": [endpoint]})).await;
    let (id, first) = (k.body["id"].as_i64().unwrap(), k.body["secret"].as_str().unwrap().to_owned());
    assert!(app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await.body.get("secret").is_none(), "never in a GET");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM hub_keys WHERE secret_sealed LIKE '%khd_%'").await,
        0,
        "sealed at rest"
    );

    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/hub-keys/{id}/reveal", app.address))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["secret"], first.as_str());
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'hub_key.revealed'").await, 1);
    let get = reqwest::Client::new()
        .get(format!("{}/api/v1/hub-keys/{id}/reveal", app.address))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);

    let regen = |app: &TestApp| {
        let (address, admin) = (app.address.clone(), admin.clone());
        async move {
            let res = reqwest::Client::new()
                .post(format!("{address}/api/v1/hub-keys/{id}/regenerate"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(res.headers()["cache-control"], "no-store");
            res.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned()
        }
    };
    let second = regen(&app).await;
    assert_ne!(second, first);
    assert_eq!(
        code(call(&app, &url, &first, &[]).await).await,
        (StatusCode::UNAUTHORIZED, "unknown_key".into()),
        "old secret refused at once"
    );
    assert_eq!(call(&app, &url, &second, &[]).await.status(), StatusCode::OK);
    let (a, b) = tokio::join!(regen(&app), regen(&app));
    let ok_a = call(&app, &url, &a, &[]).await.status() == StatusCode::OK;
    let ok_b = call(&app, &url, &b, &[]).await.status() == StatusCode::OK;
    assert!(ok_a ^ ok_b, "exactly one of two concurrent regenerations is valid ({ok_a}, {ok_b})");
    assert_eq!(call(&app, &url, &second, &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'hub_key.regenerated'").await, 3);

    // A ciphertext copied to another row does not open there.
    let other =
        create(&app, &admin, json!({"name": "other", "access_type": "api_key"})).await.body["id"].as_i64().unwrap();
    app.exec(&format!(
        "UPDATE hub_keys SET secret_sealed = (SELECT secret_sealed FROM hub_keys WHERE id = {id}) WHERE id = {other}"
    ))
    .await;
    let r = post_json(&app, Method::POST, &format!("/api/v1/hub-keys/{other}/reveal"), &admin, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("cannot be opened"));
}

#[tokio::test]
async fn a_save_over_someone_elses_change_is_refused_and_delete_unlinks() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let k = create(&app, &admin, json!({"name": "shared", "access_type": "api_key", "endpoint_ids": [endpoint]})).await;
    let (id, secret) = (k.body["id"].as_i64().unwrap(), k.body["secret"].as_str().unwrap().to_owned());
    assert_eq!(k.body["version"], 1);
    let first = patch(&app, &admin, id, json!({"version": 1, "name": "shared (Ada)"})).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["version"], 2);
    let second = patch(&app, &admin, id, json!({"version": 1, "name": "shared (Grace)"})).await;
    assert_eq!((second.status, second.code.as_deref()), (StatusCode::CONFLICT, Some("edit_conflict")));
    assert_eq!(app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await.body["name"], "shared (Ada)");

    // The table: search, filter, sort, pages.
    for i in 0..12 {
        create(&app, &admin, json!({"name": format!("bulk {i:02}"), "access_type": "api_key", "status": if i % 2 == 0 { "active" } else { "inactive" }})).await;
    }
    let page = app.api("/api/v1/hub-keys?q=BULK&status=inactive&sort=-name&limit=4", &admin).await;
    assert_eq!(page.body["total"], 6);
    let names: Vec<&str> = page.body["keys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bulk 11", "bulk 09", "bulk 07", "bulk 05"]);
    // A value the table does not know is refused, never ignored (a typo must not list every key).
    for (query, parameter) in [("status=actve", "status"), ("access_type=api", "access_type"), ("sort=-colour", "sort")]
    {
        let r = app.api(&format!("/api/v1/hub-keys?{query}"), &admin).await;
        assert_eq!((r.status, r.code.as_deref()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{query}");
        assert_eq!(r.body["error"]["parameter"], parameter);
    }

    let del = reqwest::Client::new()
        .delete(format!("{}/api/v1/hub-keys/{id}", app.address))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM hub_key_endpoints WHERE hub_key_id = {id}")).await, 0);
    assert_eq!(
        code(call(&app, &format!("/hub/{slug}/sales"), &secret, &[]).await).await,
        (StatusCode::UNAUTHORIZED, "unknown_key".into())
    );
    let audit = app
        .count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'hub_key.deleted' AND detail LIKE '%sales%'")
        .await;
    assert_eq!(audit, 1, "the audit names the endpoints that lost the key");
}

#[tokio::test]
async fn a_change_logged_by_another_node_reaches_this_nodes_snapshot() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, endpoint) = guarded(&app).await;
    let k =
        create(&app, &admin, json!({"name": "elsewhere", "access_type": "api_key", "endpoint_ids": [endpoint]})).await;
    let (id, secret) = (k.body["id"].as_i64().unwrap(), k.body["secret"].as_str().unwrap().to_owned());
    let url = format!("/hub/{slug}/sales");
    assert_eq!(call(&app, &url, &secret, &[]).await.status(), StatusCode::OK);
    // What another node's save leaves behind: the row changed and a change logged.
    app.exec(&format!("UPDATE hub_keys SET status = 'inactive' WHERE id = {id}")).await;
    let ws = app.count(&format!("SELECT workspace_id AS n FROM hub_keys WHERE id = {id}")).await;
    app.exec(&format!("INSERT INTO key_changes (workspace_id, hub_key_id, created_at) SELECT {ws}, {id}, created_at FROM hub_keys WHERE id = {id}")).await;
    app.until("the watcher to apply the logged change", || async {
        (call(&app, &url, &secret, &[]).await.status() == StatusCode::FORBIDDEN).then_some(())
    })
    .await;
    // The node records how far it got after applying (the same pass, a
    // statement later): waited for, not read at the moment the key turned.
    let logged = app.count("SELECT MAX(seq) AS n FROM key_changes").await;
    app.until("the node to record how far it got", || async {
        (app.count("SELECT MAX(applied_seq) AS n FROM cluster_nodes").await == logged).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_editor_pages_save_rows_show_both_views_and_refuse_a_save_over_another() {
    let app = TestApp::spawn().await;
    let (ada, admin, _slug, endpoint) = guarded(&app).await;
    let e = endpoint.to_string();

    // A row button re-renders the editor with one more row and saves nothing.
    let res = ada
        .post_form(
            "/datahub/keys/new",
            "/datahub/keys",
            &[("name", "Web key"), ("access_type", "api_key"), ("add_ip", "1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"ip_range-0\"") && html.contains("value=\"Web key\""));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM hub_keys").await, 0);

    // A bad row: 422, the message on that row, the input kept.
    let bad = [
        ("name", "Web key"),
        ("access_type", "api_key"),
        ("status", "active"),
        ("ip_range", "10.0.0.0"),
        ("ip_netmask", "255.0.255.0"),
        ("header_name", "Set-Cookie"),
        ("header_value", "a=b"),
        ("endpoint_ids", e.as_str()),
    ];
    let res = ada.post_form("/datahub/keys/new", "/datahub/keys", &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("is not a contiguous netmask") && html.contains("set by keyhub"), "{html}");
    assert!(html.contains("id=\"e-ip-0\"") && html.contains("id=\"e-header-0\""));
    assert!(html.contains("value=\"255.0.255.0\""));

    let good = [
        ("name", "Web key"),
        ("access_type", "api_key"),
        ("status", "active"),
        ("ip_range", "127.0.0.0/8"),
        ("ip_netmask", ""),
        ("header_name", "X-Count"),
        ("header_value", "${collection.meta.count}"),
        ("header_name", "X-Off"),
        ("header_value", "1"),
        ("header_exclude", "1"),
        ("expires_at", "2099-01-31T18:00"),
        ("tz_offset", "60"),
        ("endpoint_ids", e.as_str()),
    ];
    let res = ada.post_form("/datahub/keys/new", "/datahub/keys", &good).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = crate::helpers::location(&res);
    let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    let k = app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await;
    assert_eq!(k.body["expires_at"], "2099-01-31T17:00:00Z", "local time with the browser's offset, stored in UTC");
    assert_eq!(
        k.body["headers"],
        json!([{"name": "X-Count", "value": "${collection.meta.count}", "exclude": false}, {"name": "X-Off", "value": "1", "exclude": true}])
    );
    assert_eq!(k.body["ip_filters"], json!([{"range": "127.0.0.0", "netmask": "8"}]));

    // The secret is only shown after a POST (on the page it redirects to, once), never by a plain GET.
    let revealed = ada.post_form(&page, &format!("{page}/reveal"), &[]).await;
    assert_eq!(revealed.status(), StatusCode::SEE_OTHER);
    let revealed = ada.follow(revealed).await;
    assert_eq!(revealed.headers()["cache-control"], "no-store");
    let secret = crate::helpers::attr_after(
        &revealed.text().await.unwrap(),
        "id=\"shown-secret\" type=\"text\" readonly value=\"",
    )
    .expect("secret shown");
    let editor = ada.get_html(&page).await;
    assert!(
        !editor.contains(&secret) && editor.contains("Last record change") && editor.contains("hx-history=\"false\"")
    );
    assert_eq!(ada.get(&format!("{page}/reveal")).await.status(), StatusCode::METHOD_NOT_ALLOWED, "no GET shows it");

    // Both views of the link: the endpoint's page shows the key chosen, and unchoosing it there unlinks it.
    let endpoint_page = ada.get_html(&format!("/datahub/endpoints/{endpoint}")).await;
    assert!(endpoint_page.contains(&format!("name=\"hub_key_ids\" value=\"{id}\" checked")));
    let res = ada
        .post_form(
            &format!("/datahub/endpoints/{endpoint}"),
            &format!("/datahub/endpoints/{endpoint}"),
            &[
                ("path", "sales"),
                ("collection_id", &app.count("SELECT collection_id AS n FROM endpoints").await.to_string()),
                ("access", "keys"),
                ("keys_shown", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await.body["endpoint_ids"], json!([]));
    assert!(ada.get_html(&format!("{page}?tab=endpoints")).await.contains("No endpoint accepts this key yet"));

    // Two admins with the editor open: the second save is refused, both versions shown.
    let grace = app.client_for_admin().await;
    let html_a = ada.get_html(&page).await;
    let html_b = grace.get_html(&page).await;
    let version = crate::helpers::attr_after(&html_a, "name=\"version\" value=\"").unwrap();
    assert_eq!(crate::helpers::attr_after(&html_b, "name=\"version\" value=\"").unwrap(), version);
    let res = ada
        .post_raw(
            &page,
            &crate::helpers::csrf_token(&html_a),
            &[("name", "Renamed by Ada"), ("access_type", "api_key"), ("status", "active"), ("version", &version)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = grace
        .post_raw(
            &page,
            &crate::helpers::csrf_token(&html_b),
            &[("name", "Renamed by Grace"), ("access_type", "api_key"), ("status", "inactive"), ("version", &version)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Changed since you opened it")
            && html.contains("Renamed by Ada")
            && html.contains("value=\"Renamed by Grace\""),
        "{html}"
    );
    let k = app.api(&format!("/api/v1/hub-keys/{id}"), &admin).await;
    assert_eq!(
        (k.body["name"].as_str(), k.body["status"].as_str()),
        (Some("Renamed by Ada"), Some("active")),
        "never a silent mix"
    );
}

#[tokio::test]
async fn discovery_lists_what_a_hub_key_may_call_without_counting_the_rest_as_refusals() {
    let app = TestApp::spawn().await;
    let (_admin, admin, slug, sales) = guarded(&app).await;
    publish(&app, &admin, ORDERS, "returns", "keys").await;
    publish(&app, &admin, ORDERS, "refunds", "members").await;
    publish(&app, &admin, ORDERS, "catalogue", "public").await;
    let k =
        create(&app, &admin, json!({"name": "sales only", "access_type": "api_key", "endpoint_ids": [sales]})).await;
    let secret = k.body["secret"].as_str().unwrap().to_owned();
    // More calls than the per-address refusal budget (120 a minute): the
    // endpoints this key may not call are left out, not refused.
    for _ in 0..70 {
        let res = call(&app, &format!("/hub/{slug}"), &secret, &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        let mut paths: Vec<&str> =
            body["endpoints"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["catalogue", "sales"]);
    }
    // A refused key is still refused, and counted.
    let (status, code) =
        code(call(&app, &format!("/hub/{slug}"), &keyhub::domain::hub_keys::generate_secret(), &[]).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "unknown_key"));
}
