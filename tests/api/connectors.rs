//! Live Data connectors against real services on 127.0.0.1: a real Datasette
//! (from the venv `scripts/test.sh` makes), a second keyhub, keyhub's own
//! OpenAPI document, and for the HTTP error classes a tiny server of the
//! test's own. Never a stub that echoes what the test wants.
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::helpers::{post_json, publish};

#[tokio::test]
async fn a_datasette_table_is_discovered_and_every_row_lands_in_the_entity_tab() {
    let ds = Datasette::start(10_000).await;
    let (app, _admin, key) = live_app().await;
    let kinds = app.api("/api/v1/connector-kinds", &key).await;
    let datasette =
        kinds.body.as_array().unwrap().iter().find(|k| k["kind"] == "datasette").expect("datasette kind").clone();
    assert!(datasette["fields"].as_array().unwrap().iter().any(|f| f["name"] == "token" && f["secret"] == true));

    let id =
        new_source(&app, &key, "datasette", "Shop", json!({"base_url": ds.base, "database": "shop", "token": ds.full}))
            .await;
    let d = call(&app, Method::POST, &format!("/api/v1/sources/{id}/discover"), &key, json!({})).await;
    assert_eq!(d.body["ok"], true, "{}", d.body);
    let streams = d.body["streams"].as_array().unwrap();
    let orders = streams.iter().find(|s| s["name"] == "orders").expect("orders discovered");
    assert_eq!(orders["row_count"], 10_000);
    assert_eq!(orders["primary_key"], "id");
    let types: Vec<(String, String)> = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["type"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        types,
        [("id", "integer"), ("customer", "text"), ("total", "number"), ("updated", "integer")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .to_vec()
    );
    assert!(streams.iter().any(|s| s["name"] == "notes"));

    let (run, entity) = activate_into_entity(&app, &key, id, &["orders"], "Customer").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 10_000);
    let tab = &entity["tabs"][0];
    assert_eq!(tab["stream"], "orders");
    assert_eq!(tab["row_count"], 10_000);
    let dataset = tab["dataset_id"].as_i64().unwrap();
    let stored = app.count(&format!("SELECT COUNT(*) AS n FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id AND d.generation = r.generation WHERE d.id = {dataset}")).await;
    assert_eq!(stored, 10_000, "every row once");
    let last = app.api(&format!("/api/v1/datasets/{dataset}/records?offset=9999&limit=1"), &key).await;
    assert_eq!(last.body["data"][0]["customer"], "customer 10000", "{}", last.body);

    // The token: write-only in the API, sealed in the database.
    let s = app.api(&format!("/api/v1/sources/{id}"), &key).await;
    assert_eq!(s.body["config"]["token"], format!("••••{}", &ds.full[ds.full.len() - 4..]));
    assert_eq!(s.body["status"], "active");
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sources WHERE config LIKE '%{0}%' OR secrets_sealed LIKE '%{0}%' OR secret_hints LIKE '%{0}%'", &ds.full[6..20])).await, 0);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM audit_events WHERE detail LIKE '%{}%'", &ds.full[6..20])).await,
        0
    );

    // A second sync replaces the rows (still each once).
    let again = call(&app, Method::POST, &format!("/api/v1/sources/{id}/activate"), &key, json!({})).await;
    let run = wait_for_run(&app, &key, again.body["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(app.api(&format!("/api/v1/entities/{}", entity["id"]), &key).await.body["tabs"][0]["row_count"], 10_000);
}

#[tokio::test]
async fn datasette_refusals_read_as_their_class_with_the_providers_words() {
    let ds = Datasette::start(5).await;
    let (app, _admin, key) = live_app().await;
    let config = |token: &str| json!({"base_url": ds.base, "database": "shop", "token": token});

    let e = failing_test(&app, &key, "datasette", config("dstok_made-up-token")).await;
    assert_eq!((e["class"].as_str(), e["status"].as_u64()), (Some("unauthorized"), Some(401)), "{e}");
    assert_eq!(e["solution"], "Regenerate the key in the provider's console and paste the new one here.");
    assert_eq!(e["provider_message"], "Invalid token signature");

    let e = failing_test(&app, &key, "datasette", config(&ds.expiring)).await;
    assert_eq!(e["class"], "unauthorized", "{e}");
    assert_eq!(e["provider_message"], "Token has expired");

    // Restricted to `orders`: the database listing (and `notes`) are refused.
    let e = failing_test(&app, &key, "datasette", config(&ds.restricted)).await;
    assert_eq!((e["class"].as_str(), e["status"].as_u64()), (Some("forbidden"), Some(403)), "{e}");
    assert!(e["provider_message"].as_str().unwrap().contains("You do not have permission"), "{e}");

    let e =
        failing_test(&app, &key, "datasette", json!({"base_url": ds.base, "database": "nope", "token": ds.full})).await;
    assert_eq!(e["class"], "not_found", "{e}");

    // Paused: the connection opens, no answer comes (ever, so a short
    // timeout is certain to pass: this app's is 2 s).
    let (short, _, short_key) = live_app_with(|s| s.connectors_timeout = Duration::from_secs(2)).await;
    let stop = Command::new("kill").args(["-STOP", &ds.pid().to_string()]).status().unwrap();
    assert!(stop.success());
    let e = failing_test(&short, &short_key, "datasette", config(&ds.full)).await;
    Command::new("kill").args(["-CONT", &ds.pid().to_string()]).status().unwrap();
    assert_eq!(e["class"], "timeout", "{e}");
    assert_eq!(e["solution"], "Try again in a few minutes; if it persists, check the service's status.");

    // Resumed, the same settings pass.
    let id = new_source(&app, &key, "datasette", "Back", config(&ds.full)).await;
    assert_eq!(test_source(&app, &key, id).await["ok"], true);
}

/// A tiny HTTP server of the test's own: each path answers a fixed response.
async fn tiny_server(redirect_to: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let redirect_to = redirect_to.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, headers, body) = if path.starts_with("/busy") {
                    (
                        "429 Too Many Requests",
                        "Retry-After: 42\r\nContent-Type: application/json\r\n".to_owned(),
                        r#"{"message": "slow down"}"#.to_owned(),
                    )
                } else if path.starts_with("/broken") {
                    (
                        "503 Service Unavailable",
                        "Content-Type: text/plain\r\n".to_owned(),
                        "upstream is down".to_owned(),
                    )
                } else if path.starts_with("/shape") {
                    ("200 OK", "Content-Type: application/json\r\n".to_owned(), r#"{"hello": "world"}"#.to_owned())
                } else if path.starts_with("/html") {
                    (
                        "200 OK",
                        "Content-Type: text/html\r\n".to_owned(),
                        "<!doctype html><title>Welcome</title>".to_owned(),
                    )
                } else if path.starts_with("/loop") {
                    ("302 Found", format!("Location: http://127.0.0.1:{port}{path}x\r\n"), String::new())
                } else if path.starts_with("/away") {
                    ("302 Found", format!("Location: {redirect_to}\r\n"), String::new())
                } else {
                    (
                        "404 Not Found",
                        "Content-Type: application/json\r\n".to_owned(),
                        r#"{"error": "no such thing"}"#.to_owned(),
                    )
                };
                let res = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(res.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn every_error_class_comes_from_a_real_cause() {
    let (app, _admin, key) = live_app().await;
    let tiny = tiny_server(format!("http://127.0.0.1:{}/api/v1/me", app.port)).await;
    let openapi =
        |base: &str, path: &str| json!({"base_url": base, "spec_path": path, "api_key": "sk_test_secret_value_1234"});
    let cases = [
        (openapi(&format!("http://127.0.0.1:{}", free_port()), "/openapi.json"), "connection_refused"),
        (openapi("http://no-such-host.invalid", "/openapi.json"), "dns_failure"),
        (openapi(&format!("https://127.0.0.1:{}", app.port), "/api/v1/openapi.json"), "tls_failure"),
        (openapi(&tiny, "/missing.json"), "not_found"),
        (openapi(&tiny, "/busy"), "rate_limited"),
        (openapi(&tiny, "/broken"), "server_error"),
        (openapi(&tiny, "/html"), "not_json"),
        (openapi(&tiny, "/shape"), "unexpected_shape"),
        (openapi(&tiny, "/loop"), "blocked_by_policy"),
        (openapi(&tiny, "/away"), "blocked_by_policy"),
    ];
    for (config, class) in cases {
        let e = failing_test(&app, &key, "openapi", config.clone()).await;
        assert_eq!(e["class"], class, "{config}: {e}");
        assert!(!e["cause"].as_str().unwrap().is_empty() && !e["solution"].as_str().unwrap().is_empty());
        assert!(!e.to_string().contains("sk_test_secret_value_1234"), "no credentials in the error: {e}");
        if class == "rate_limited" {
            assert_eq!(e["retry_after"], 42);
            assert!(e["cause"].as_str().unwrap().contains("42 seconds"), "{e}");
            assert_eq!(e["provider_message"], "slow down");
        }
        if class == "server_error" {
            assert_eq!((e["status"].as_u64(), e["provider_message"].as_str()), (Some(503), Some("upstream is down")));
        }
    }
    // JSON that is not a Datasette database, for the Datasette kind too.
    let e =
        failing_test(&app, &key, "datasette", json!({"base_url": tiny, "database": "shape", "token": "dstok_x"})).await;
    assert_eq!(e["class"], "unexpected_shape", "{e}");
}

#[tokio::test]
async fn private_targets_are_refused_without_the_operators_override() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("live", &LIVE_PERMISSIONS).await;
    let ds = Datasette::start(1).await;
    let port = ds.base.rsplit(':').next().unwrap().to_owned();
    for base in [
        ds.base.clone(),
        format!("http://localhost:{port}"),
        format!("http://2130706433:{port}"),
        format!("http://0x7f.0.0.1:{port}"),
        format!("http://0177.0.0.1:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        "http://169.254.169.254".to_owned(),
        "http://10.0.0.1".to_owned(),
    ] {
        let e = failing_test(&app, &key, "datasette", json!({"base_url": base, "database": "shop", "token": ds.full}))
            .await;
        assert_eq!(e["class"], "blocked_by_policy", "{base}: {e}");
    }
    // Schemes and user@host are refused when saved.
    for (base, needle) in [
        ("javascript:alert(1)", "http"),
        ("data:text/html,x", "http"),
        ("file:///etc/passwd", "http"),
        ("http://me@example.com", "user@host"),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/api/v1/sources",
            &key,
            json!({"kind": "datasette", "name": "x", "config": {"base_url": base, "database": "d", "token": "t"}}),
        )
        .await;
        assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{base}");
        assert_eq!(r.body["error"]["field"], "config.base_url");
        assert!(r.body["error"]["message"].as_str().unwrap().contains(needle), "{}", r.body);
    }
}

#[tokio::test]
async fn keyhub_reads_another_keyhubs_endpoints_through_a_hub_key() {
    // The source: a second, real keyhub with a key-guarded endpoint.
    let other = TestApp::spawn().await;
    let (_o_admin, o_key, slug) = crate::helpers::admin_key(&other).await;
    let rows: String = (1..=2500).map(|i| format!("{i},city {i},{}\n", i * 10)).collect();
    publish(&other, &o_key, &format!("id,city,population\n{rows}"), "cities", "keys").await;
    publish(&other, &o_key, "id,x\n1,a\n", "hidden", "keys").await;
    let endpoints = other.api("/api/v1/endpoints", &o_key).await;
    let cities =
        endpoints.body.as_array().unwrap().iter().find(|e| e["path"] == "cities").unwrap()["id"].as_i64().unwrap();
    let hk = post_json(
        &other,
        Method::POST,
        "/api/v1/hub-keys",
        &o_key,
        json!({"name": "for keyhub", "access_type": "api_key", "endpoint_ids": [cities]}),
    )
    .await;
    assert_eq!(hk.status, StatusCode::CREATED, "{}", hk.body);
    let hub_key = hk.body["secret"].as_str().unwrap().to_owned();

    let (app, _admin, key) = live_app().await;
    let id = new_source(
        &app,
        &key,
        "keyhub",
        "Partner hub",
        json!({"base_url": other.address, "workspace": slug, "api_key": hub_key}),
    )
    .await;
    let d = call(&app, Method::POST, &format!("/api/v1/sources/{id}/discover"), &key, json!({})).await;
    assert_eq!(d.body["ok"], true, "{}", d.body);
    let names: Vec<&str> = d.body["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cities"], "only what the key may call");
    assert_eq!(d.body["streams"][0]["row_count"], 2500);
    let (run, entity) = activate_into_entity(&app, &key, id, &["cities"], "City").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(entity["tabs"][0]["row_count"], 2500);

    // A wrong key reads as 401 with the other keyhub's own words.
    let e = failing_test(
        &app,
        &key,
        "keyhub",
        json!({"base_url": other.address, "workspace": slug, "api_key": "khd_wrong"}),
    )
    .await;
    assert_eq!(e["class"], "unauthorized", "{e}");
    assert!(e["provider_message"].as_str().is_some_and(|m| !m.contains("khd_wrong")), "{e}");
}

#[tokio::test]
async fn the_openapi_connector_reads_keyhubs_own_api() {
    let (app, _admin, key) = live_app().await;
    publish(&app, &key, "id,name\n1,a\n2,b\n", "letters", "public").await;
    let id = new_source(
        &app,
        &key,
        "openapi",
        "Own API",
        json!({"base_url": app.address, "spec_path": "/api/v1/openapi.json", "api_key": key}),
    )
    .await;
    let d = call(&app, Method::POST, &format!("/api/v1/sources/{id}/discover"), &key, json!({})).await;
    assert_eq!(d.body["ok"], true, "{}", d.body);
    let streams = d.body["streams"].as_array().unwrap();
    let collections = streams.iter().find(|s| s["name"] == "collections").unwrap_or_else(|| panic!("{streams:?}"));
    assert!(streams.iter().any(|s| s["name"] == "entities"), "the path's last segment names its stream");
    assert!(!streams.iter().any(|s| s["name"].as_str().unwrap().contains('{')), "no operation with a path parameter");
    assert!(
        collections["columns"].as_array().unwrap().iter().any(|c| c["name"] == "max_limit" && c["type"] == "integer"),
        "{collections}"
    );
    assert_eq!(collections["primary_key"], "id");
    let name = collections["name"].as_str().unwrap().to_owned();
    let (run, entity) = activate_into_entity(&app, &key, id, &[&name], "Catalogue").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(entity["tabs"][0]["row_count"], 1, "one collection: {entity}");

    // A source saved when streams were named by their whole path (as keyhub
    // named them before): a new test finds the same path under its new
    // name, which stays chosen, keeps its mode and keeps writing into its tab.
    let old = "api/v1/collections";
    app.exec(&format!("UPDATE sources SET streams = '[\"{old}\"]', catalog = replace(catalog, '\"name\":\"collections\"', '\"name\":\"{old}\"'), stream_modes = '{{\"{old}\": {{\"mode\": \"incremental\", \"cursor\": \"id\"}}}}' WHERE id = {id}")).await;
    app.exec(&format!("UPDATE stream_tabs SET stream = '{old}' WHERE source_id = {id}")).await;
    assert_eq!(test_source(&app, &key, id).await["ok"], true);
    let source = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    assert_eq!(source["streams"], json!(["collections"]), "{source}");
    assert_eq!(source["stream_modes"]["collections"]["cursor"], "id", "{source}");
    let r = call(&app, Method::POST, &format!("/api/v1/sources/{id}/syncs"), &key, json!({})).await;
    let run = wait_for_run(&app, &key, r.body["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM stream_tabs WHERE source_id = {id} AND stream = 'collections'"))
            .await,
        1
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM stream_tabs WHERE source_id = {id}")).await,
        1,
        "the same tab"
    );

    // The key sent as a query parameter works too.
    let q = new_source(&app, &key, "openapi", "Own API by query", json!({"base_url": app.address, "spec_path": "/api/v1/openapi.json", "api_key": key, "key_in": "query", "key_name": "apikey"})).await;
    assert_eq!(test_source(&app, &key, q).await["ok"], true);
}

#[tokio::test]
async fn sources_need_connectors_manage_and_steps_in_order() {
    let (app, admin, key) = live_app().await;
    let reader = admin.new_key("reader", &["data.read"]).await;
    let r = app.api("/api/v1/sources", &reader).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::FORBIDDEN, Some("insufficient_permission")));
    assert_eq!(app.api("/api/v1/entities", &reader).await.status, StatusCode::OK, "data.read views entities");
    let r = call(&app, Method::POST, "/api/v1/entities", &reader, json!({"name": "X"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = call(
        &app,
        Method::POST,
        "/api/v1/sources",
        &key,
        json!({"kind": "datasette", "name": "", "config": {"database": "x"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> =
        r.body["error"]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "config.base_url", "config.token"]);
    let r = call(&app, Method::POST, "/api/v1/sources", &key, json!({"kind": "ftp", "name": "x"})).await;
    assert_eq!(r.body["error"]["field"], "kind");

    // Nothing listens there (a free port; port 9, discard, is a port keyhub never calls).
    let closed = format!("http://127.0.0.1:{}", free_port());
    let id = new_source(
        &app,
        &key,
        "datasette",
        "Untested",
        json!({"base_url": closed, "database": "d", "token": "dstok_x1234"}),
    )
    .await;
    let a = call(&app, Method::POST, &format!("/api/v1/sources/{id}/activate"), &key, json!({})).await;
    assert_eq!((a.status, a.code.as_deref()), (StatusCode::CONFLICT, Some("not_ready")));
    let p = call(&app, Method::PATCH, &format!("/api/v1/sources/{id}"), &key, json!({"streams": ["orders"]})).await;
    assert_eq!(p.code.as_deref(), Some("not_ready"), "streams come after a passed test");
    // A blank secret keeps the saved one.
    let p = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{id}"),
        &key,
        json!({"config": {"token": ""}, "name": "Renamed"}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["config"]["token"], "••••1234");
    let d = reqwest::Client::new()
        .delete(format!("{}/api/v1/sources/{id}", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sources WHERE id = {id}")).await, 0);
}

/// The real binary on the same database (a second node on PostgreSQL, the
/// only one on SQLite), logging at debug:
/// saving, testing (right and wrong keys, a key in the query string) and
/// syncing leave no credential in its output.
#[tokio::test]
async fn credentials_never_reach_the_log() {
    let ds = Datasette::start(20).await;
    let (mut app, _admin, key) = live_app().await;
    let port = free_port();
    app.hand_over_to(&format!("http://127.0.0.1:{port}")).await;
    let mut node = Command::new(env!("CARGO_BIN_EXE_keyhub"))
        .env("KEYHUB_DATABASE_URL", &app.database_url)
        .env("KEYHUB_DATA_DIR", app.data_dir.path())
        .env("KEYHUB_BIND", format!("127.0.0.1:{port}"))
        .env("KEYHUB_CONNECTORS_ALLOW_PRIVATE", "true")
        .env("KEYHUB_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyhub");
    let node_url = format!("http://127.0.0.1:{port}");
    let said = crate::helpers::until_says(node.stdout.take().unwrap(), "running at", "the second node").await;
    let on_node = |method: Method, path: &str, body: Value| {
        reqwest::Client::new().request(method, format!("{node_url}{path}")).bearer_auth(&key).json(&body).send()
    };
    let wrong = "dstok_wrong-token-in-a-log-test";
    let query_key = "qk_secret_query_key_5678";
    let mut ids = Vec::new();
    for (kind, config) in [
        ("datasette", json!({"base_url": ds.base, "database": "shop", "token": ds.full})),
        ("datasette", json!({"base_url": ds.base, "database": "shop", "token": wrong})),
        (
            "openapi",
            json!({"base_url": ds.base, "spec_path": "/missing.json", "api_key": query_key, "key_in": "query", "key_name": "api_key"}),
        ),
    ] {
        let r: Value = on_node(
            Method::POST,
            "/api/v1/sources",
            json!({"kind": kind, "name": format!("log {}", ids.len()), "config": config}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = r["id"].as_i64().unwrap_or_else(|| panic!("{r}"));
        let t: Value = on_node(Method::POST, &format!("/api/v1/sources/{id}/test"), json!({}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push((id, t["ok"].as_bool().unwrap()));
    }
    assert_eq!(ids.iter().map(|(_, ok)| *ok).collect::<Vec<_>>(), [true, false, false]);
    let p =
        on_node(Method::PATCH, &format!("/api/v1/sources/{}", ids[0].0), json!({"streams": ["orders"]})).await.unwrap();
    assert_eq!(p.status(), StatusCode::OK);
    let a: Value = on_node(Method::POST, &format!("/api/v1/sources/{}/activate", ids[0].0), json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = wait_for_run(&app, &key, a["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let _ = node.kill();
    let out = node.wait_with_output().unwrap();
    let log = format!("{}{}", said.all(), String::from_utf8_lossy(&out.stderr));
    assert!(log.lines().count() > 20, "debug logging was on: {log}");
    for secret in [ds.full.as_str(), &ds.full[6..30], wrong, query_key, key.as_str()] {
        assert!(!log.contains(secret), "a credential reached the log: {secret}");
    }
}

/// keyhub → keyhub incrementally: the other keyhub filters by the cursor
/// field (`updated__gt`) and orders by it, so a sync reads only what
/// changed, upserts it by the listed key, and 1,500 records sharing one
/// cursor value across a page boundary all arrive.
#[tokio::test]
async fn keyhub_reads_another_keyhub_incrementally_by_a_cursor_field() {
    let other = TestApp::spawn().await;
    let (_o_admin, o_key, slug) = crate::helpers::admin_key(&other).await;
    let rows: String = (1..=2500).map(|i| format!("{i},item {i},{i}\n")).collect();
    let dataset = publish(&other, &o_key, &format!("id,name,updated\n{rows}"), "items", "keys").await;
    let endpoint = other.api("/api/v1/endpoints", &o_key).await.body[0]["id"].as_i64().unwrap();
    let hk = post_json(
        &other,
        Method::POST,
        "/api/v1/hub-keys",
        &o_key,
        json!({"name": "sync", "access_type": "api_key", "endpoint_ids": [endpoint]}),
    )
    .await;
    let hub_key = hk.body["secret"].as_str().unwrap().to_owned();
    let bad = other.api(&format!("/hub/{slug}/items?updated__gt=soon"), &hub_key).await;
    assert_eq!((bad.status, bad.code.as_deref()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{}", bad.body);
    assert_eq!(bad.body["error"]["parameter"], "updated__gt", "{}", bad.body);
    let listing = other.api(&format!("/hub/{slug}"), &hub_key).await;
    assert_eq!(listing.body["endpoints"][0]["primary_key"], "id", "{}", listing.body);

    let (app, _admin, key) = live_app().await;
    let id = new_source(
        &app,
        &key,
        "keyhub",
        "Partner items",
        json!({"base_url": other.address, "workspace": slug, "api_key": hub_key}),
    )
    .await;
    assert_eq!(test_source(&app, &key, id).await["ok"], true);
    let p = set_incremental(&app, &key, id, "items", "updated", None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let (run, entity) = activate_into_entity(&app, &key, id, &["items"], "Item").await;
    assert_eq!(run["streams"][0]["records_written"], 2500, "{run}");
    let tab = entity["tabs"][0]["dataset_id"].as_i64().unwrap();

    let records_path = format!("/api/v1/datasets/{dataset}/records");
    let write = |records: Value| post_json(&other, Method::POST, &records_path, &o_key, records);
    let changed: Vec<Value> =
        (1..=10).map(|i| json!({"id": i * 100, "name": format!("changed {i}"), "updated": 3000 + i})).collect();
    let added: Vec<Value> =
        (2501..=2505).map(|i| json!({"id": i, "name": format!("new {i}"), "updated": 4000})).collect();
    assert_eq!(write(json!([changed, added].concat())).await.status, StatusCode::OK);
    let syncs = format!("/api/v1/sources/{id}/syncs");
    let sync = || call(&app, Method::POST, &syncs, &key, json!({}));
    let run = wait_for_run(&app, &key, sync().await.body["run_id"].as_i64().unwrap()).await;
    assert_eq!(
        (run["status"].as_str(), run["streams"][0]["records_read"].as_u64()),
        (Some("succeeded"), Some(15)),
        "{run}"
    );
    let stored = app.api(&format!("/api/v1/datasets/{tab}"), &key).await;
    assert_eq!(stored.body["count"], 2505, "upserted by the listed key: {}", stored.body);
    let hundred = app.api(&format!("/api/v1/datasets/{tab}/records?offset=99&limit=1"), &key).await;
    assert_eq!(hundred.body["data"][0]["name"], "changed 1", "{}", hundred.body);

    let ties: Vec<Value> =
        (2506..=4005).map(|i| json!({"id": i, "name": format!("tie {i}"), "updated": 5000})).collect();
    assert_eq!(write(json!(ties)).await.status, StatusCode::OK);
    let run = wait_for_run(&app, &key, sync().await.body["run_id"].as_i64().unwrap()).await;
    assert_eq!(run["streams"][0]["records_read"], 1500, "{run}");
    let stored = app.api(&format!("/api/v1/datasets/{tab}"), &key).await;
    assert_eq!(stored.body["count"], 4005, "{}", stored.body);
}
