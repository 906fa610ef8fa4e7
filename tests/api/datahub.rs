//! Data Hub: datasets (upload, replace, append, delete), collections,
//! endpoints and `/hub/{workspace}/{path}`, through the JSON API and pages.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn hub(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.address));
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    req.send().await.expect("hub call")
}

async fn rows(app: &TestApp, dataset: i64) -> i64 {
    app.count(&format!("SELECT COUNT(*) AS n FROM dataset_rows WHERE dataset_id = {dataset}")).await
}

const CITIES: &str = "id,city,population,founded,capital\n1,Oslo,709000,1040-01-01,true\n2,\"Bergen, Vestland\",291000,1070-01-01,false\n3,Zürich,421000,,false\n";

#[tokio::test]
async fn a_csv_uploaded_through_the_api_is_typed_and_served_page_by_page() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "geo/cities", "members").await;

    let ds = app.api(&format!("/api/v1/datasets/{id}"), &key).await;
    assert_eq!(ds.body["count"], 3);
    let types: Vec<&str> = ds.body["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["integer", "text", "integer", "date", "boolean"]);

    let res = hub(&app, &format!("/hub/{slug}/geo/cities?limit=2"), Some(&key)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "private, no-cache");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["meta"], json!({"name": "c geo/cities", "count": 3, "limit": 2, "offset": 0}));
    assert_eq!(body["data"][1]["city"], "Bergen, Vestland");
    assert_eq!(body["data"][0]["population"], 709000);
    assert_eq!(body["data"][0]["capital"], true);

    let page2: Value =
        hub(&app, &format!("/hub/{slug}/geo/cities?limit=2&offset=2"), Some(&key)).await.json().await.unwrap();
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["city"], "Zürich");
    assert_eq!(page2["data"][0]["founded"], Value::Null);

    let ordered: Value =
        hub(&app, &format!("/hub/{slug}/geo/cities?order=-population"), Some(&key)).await.json().await.unwrap();
    let cities: Vec<&str> = ordered["data"].as_array().unwrap().iter().map(|r| r["city"].as_str().unwrap()).collect();
    assert_eq!(cities, ["Oslo", "Zürich", "Bergen, Vestland"]);

    let filtered: Value =
        hub(&app, &format!("/hub/{slug}/geo/cities?capital=false"), Some(&key)).await.json().await.unwrap();
    assert_eq!(filtered["meta"]["count"], 2);

    let csv = hub(&app, &format!("/hub/{slug}/geo/cities?format=csv"), Some(&key)).await;
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    assert_eq!(
        text,
        "id,city,population,founded,capital\n1,Oslo,709000,1040-01-01,true\n2,\"Bergen, Vestland\",291000,1070-01-01,false\n3,Zürich,421000,,false\n"
    );
}

#[tokio::test]
async fn a_bad_file_names_the_row_and_column_and_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let (_admin, key, _slug) = admin_key(&app).await;
    let cases: &[(&str, &[u8], &str)] = &[
        ("ragged.csv", b"id,name\n1,a\n2,b,c\n", "Row 2: line 3 has 3 fields but the header has 2"),
        ("dup.csv", b"id,name\n1,a\n2,b\n1,c\n", "Row 3: the primary key “1” is already used by row 1"),
        ("empty-key.csv", b"id,name\n1,a\n,b\n", "Row 2, column “id”: the primary key is empty"),
        ("utf8.csv", b"id,name\n1,a\n2,\xff\xfe\n", "Row 2, column “name”: the text is not valid UTF-8"),
        ("empty.csv", b"", "The file is empty"),
        ("header-only.csv", b"id,name\n", "The file has no records"),
        ("bad.json", b"[{\"id\": 1}, 5]", "Row 2: is not a JSON object"),
    ];
    for (file, bytes, expected) in cases {
        let r = upload(&app, &key, file, Some("id"), file, bytes.to_vec()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{file}: {}", r.body);
        assert_eq!(r.code.as_deref(), Some("invalid_records"), "{file}");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{file}: {message}");
    }
    // A duplicate far from the first use, in another write batch (found by the unique index).
    let mut far = String::from("id,name\n");
    for i in 1..=6000 {
        far.push_str(&format!("{},n{i}\n", if i == 4500 { 17 } else { i }));
    }
    let r = upload(&app, &key, "far", Some("id"), "far.csv", far.into_bytes()).await;
    assert_eq!(r.code.as_deref(), Some("invalid_records"));
    assert_eq!(r.body["error"]["index"], 4499);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Row 4500: the primary key “17” is already used by row 17"), "{message}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM dataset_rows").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM datasets").await, 0);
    let listed = app.api("/api/v1/datasets", &key).await;
    assert_eq!(listed.body, json!([]));
}

#[tokio::test]
async fn a_value_that_does_not_fit_its_type_is_refused_with_the_record_index() {
    let app = TestApp::spawn().await;
    let (_admin, key, _slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "members").await;
    let bad = post_json(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/datasets/{id}/records"),
        &key,
        json!([{"id": 4, "city": "Rome", "population": 2800000}, {"id": 5, "city": "Paris", "population": "many"}]),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.body["error"]["index"], 1);
    assert!(
        bad.body["error"]["message"].as_str().unwrap().contains("column “population”: “many” is not a whole number"),
        "{}",
        bad.body
    );
    assert_eq!(rows(&app, id).await, 3, "the good first record was not kept either");

    // Upsert by primary key: 1 changes in place, 4 is added.
    let ok = post_json(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/datasets/{id}/records"),
        &key,
        json!({"records": [{"id": 1, "city": "Oslo", "population": 710000}, {"id": 4, "city": "Rome", "population": 2800000}]}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["count"], 4);
    let page = app.api(&format!("/api/v1/datasets/{id}/records?limit=10"), &key).await;
    assert_eq!(page.body["data"][0]["population"], 710000);
    assert_eq!(page.body["data"][0]["capital"], Value::Null, "an upsert replaces the whole record");
    assert_eq!(page.body["data"][3]["city"], "Rome");
}

#[tokio::test]
async fn a_failed_replacement_keeps_the_old_rows_and_a_good_one_swaps_them() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "public").await;
    let records_path = format!("/api/v1/datasets/{id}/records");
    let put = |body: Value| post_json(&app, reqwest::Method::PUT, &records_path, &key, body);

    let mut records: Vec<Value> =
        (1..=5000).map(|i| json!({"id": i, "city": format!("c{i}"), "population": i})).collect();
    records.push(json!({"id": 5001, "city": "x", "population": "lots"}));
    let bad = put(Value::Array(records)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["error"]["index"], 5000);
    let page: Value = hub(&app, &format!("/hub/{slug}/cities"), None).await.json().await.unwrap();
    assert_eq!(page["meta"]["count"], 3);
    assert_eq!(page["data"][0]["city"], "Oslo");
    assert_eq!(rows(&app, id).await, 3, "the half-written generation is gone");

    let good = put(json!([{"id": 9, "city": "Lima", "population": 1}])).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.body);
    let page: Value = hub(&app, &format!("/hub/{slug}/cities"), None).await.json().await.unwrap();
    assert_eq!(page["meta"]["count"], 1);
    assert_eq!(page["data"][0]["city"], "Lima");
}

#[tokio::test]
async fn readers_see_the_old_rows_or_the_new_never_a_mix_during_a_replacement() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    let old: String = std::iter::once("id,city,population\n".to_owned())
        .chain((1..=20_000).map(|i| format!("{i},old,{i}\n")))
        .collect();
    publish(&app, &key, &old, "mix", "public").await;
    let id = app.api("/api/v1/datasets", &key).await.body[0]["id"].as_i64().unwrap();

    let new: String = std::iter::once("id,city,population\n".to_owned())
        .chain((1..=30_000).map(|i| format!("{i},new,{i}\n")))
        .collect();
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(new.into_bytes()).file_name("new.csv"));
    let writer = reqwest::Client::new()
        .put(format!("{}/api/v1/datasets/{id}/records", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .multipart(form)
        .send();
    let reader = async {
        let mut seen = std::collections::BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            // Offsets spread over the table: a mix would show in some page.
            for offset in [0, 9_990, 19_990] {
                let page: Value = hub(&app, &format!("/hub/{slug}/mix?limit=10&offset={offset}&city=old"), None)
                    .await
                    .json()
                    .await
                    .unwrap();
                let all: Value = hub(&app, &format!("/hub/{slug}/mix?limit=1"), None).await.json().await.unwrap();
                let count = all["meta"]["count"].as_u64().unwrap();
                let city = all["data"][0]["city"].as_str().unwrap().to_owned();
                assert!(
                    (count == 20_000 && city == "old") || (count == 30_000 && city == "new"),
                    "a reader saw {count} rows starting with {city}"
                );
                let old_rows = page["meta"]["count"].as_u64().unwrap();
                assert!(old_rows == 20_000 || old_rows == 0, "a reader saw {old_rows} old rows");
                seen.insert(city);
            }
            if seen.contains("new") || tokio::time::Instant::now() > deadline {
                return seen;
            }
        }
    };
    let (res, seen) = tokio::join!(writer, reader);
    assert_eq!(res.unwrap().status(), StatusCode::OK);
    assert!(seen.contains("new"), "the reader saw the replacement land: {seen:?}");
}

#[tokio::test]
async fn etags_answer_304_and_change_when_the_data_changes() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "public").await;
    let url = format!("/hub/{slug}/cities?limit=2");
    let first = hub(&app, &url, None).await;
    assert_eq!(first.headers()["cache-control"], "public, max-age=0, must-revalidate");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = reqwest::Client::new()
        .get(format!("{}{url}", app.address))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.text().await.unwrap().is_empty());
    let head = reqwest::Client::new().head(format!("{}{url}", app.address)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    // Another query is another page, with its own tag.
    let other = hub(&app, &format!("/hub/{slug}/cities?limit=1"), None).await;
    assert_ne!(other.headers()["etag"].to_str().unwrap(), etag);
    // New rows: the old tag no longer matches.
    post_json(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/datasets/{id}/records"),
        &key,
        json!([{"id": 1, "city": "Oslo!"}]),
    )
    .await;
    let changed = reqwest::Client::new()
        .get(format!("{}{url}", app.address))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["data"][0]["city"], "Oslo!");
}

#[tokio::test]
async fn bad_queries_are_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    publish(&app, &key, CITIES, "cities", "public").await;
    let c = app.api("/api/v1/collections", &key).await.body[0]["id"].as_i64().unwrap();
    let patched = post_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/collections/{c}"),
        &key,
        json!({"max_limit": 50, "fields": ["city", "id"]}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    for (query, parameter) in [
        ("limit=51", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
        ("order=population", "order"),
        ("population=5", "population"),
        ("format=xml", "format"),
    ] {
        let res = hub(&app, &format!("/hub/{slug}/cities?{query}"), None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_query", "{query}");
        assert_eq!(body["error"]["parameter"], parameter, "{query}");
    }
    // Only the chosen fields, in the chosen order; edges of the pages.
    let raw = hub(&app, &format!("/hub/{slug}/cities?limit=1"), None).await.text().await.unwrap();
    assert!(raw.contains(r#""data":[{"city":"Oslo","id":1}]"#), "{raw}");
    let past_end: Value = hub(&app, &format!("/hub/{slug}/cities?limit=50&offset=3"), None).await.json().await.unwrap();
    assert_eq!(past_end["data"], json!([]));
    assert_eq!(past_end["meta"]["count"], 3);
    let last: Value = hub(&app, &format!("/hub/{slug}/cities?limit=2&offset=2"), None).await.json().await.unwrap();
    assert_eq!(last["data"], json!([{"city": "Zürich", "id": 3}]));
    let max: Value = hub(&app, &format!("/hub/{slug}/cities?limit=50"), None).await.json().await.unwrap();
    assert_eq!(max["meta"]["limit"], 50);
}

#[tokio::test]
async fn csv_output_quotes_commas_quotes_newlines_and_keeps_unicode() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    let records = json!({"name": "notes", "primary_key": "id", "records": [
        {"id": 1, "text": "plain"},
        {"id": 2, "text": "comma, inside"},
        {"id": 3, "text": "say \"hi\""},
        {"id": 4, "text": "two\nlines"},
        {"id": 5, "text": "日本語 – ünïcode 🚀"},
    ]});
    let ds = post_json(&app, reqwest::Method::POST, "/api/v1/datasets", &key, records).await;
    assert_eq!(ds.status, StatusCode::CREATED, "{}", ds.body);
    let c = post_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/collections",
        &key,
        json!({"name": "notes", "dataset_id": ds.body["id"]}),
    )
    .await;
    post_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/endpoints",
        &key,
        json!({"path": "notes", "collection_id": c.body["id"], "access": "public"}),
    )
    .await;
    let res = reqwest::Client::new()
        .get(format!("{}/hub/{slug}/notes", app.address))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert_eq!(
        res.text().await.unwrap(),
        "id,text\n1,plain\n2,\"comma, inside\"\n3,\"say \"\"hi\"\"\"\n4,\"two\nlines\"\n5,日本語 – ünïcode 🚀\n"
    );
}

#[tokio::test]
async fn public_members_and_keys_endpoints_admit_whom_they_should() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    publish(&app, &key, CITIES, "open", "public").await;
    publish(&app, &key, CITIES, "team", "members").await;
    publish(&app, &key, CITIES, "partners", "keys").await;
    let member = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    let reader = member.new_key("reader", &["data.read"]).await;
    let no_read = admin.new_key("writer only", &["data.write"]).await;

    let status = |r: reqwest::Response| r.status();
    assert_eq!(status(hub(&app, &format!("/hub/{slug}/open"), None).await), StatusCode::OK);
    assert_eq!(
        status(hub(&app, &format!("/hub/{slug}/open"), Some("khp_garbage")).await),
        StatusCode::OK,
        "a public endpoint ignores keys"
    );
    assert_eq!(status(hub(&app, &format!("/hub/{slug}/team"), Some(&reader)).await), StatusCode::OK);

    let code = |r: reqwest::Response| async move {
        r.json::<Value>().await.unwrap()["error"]["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(code(hub(&app, &format!("/hub/{slug}/team"), None).await).await, "missing_key");
    assert_eq!(code(hub(&app, &format!("/hub/{slug}/team"), Some("khp_garbage")).await).await, "malformed_key");
    assert_eq!(code(hub(&app, &format!("/hub/{slug}/team"), Some(&no_read)).await).await, "insufficient_permission");
    assert_eq!(code(hub(&app, &format!("/hub/{slug}/partners"), Some(&reader)).await).await, "endpoint_not_allowed");
    assert_eq!(code(hub(&app, &format!("/hub/{slug}/nothing-here"), Some(&reader)).await).await, "not_found");
    assert_eq!(code(hub(&app, "/hub/no-such-workspace/team", Some(&reader)).await).await, "not_found");

    // The owner losing data.read takes effect at once.
    let bob = admin.member_id("bob@example.com").await;
    let res = admin
        .post_form(&format!("/admin/members/{bob}"), &format!("/admin/members/{bob}/role"), &[("role", "member")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(code(hub(&app, &format!("/hub/{slug}/team"), Some(&reader)).await).await, "insufficient_permission");

    // Discovery lists what the caller may read.
    let open: Value = hub(&app, &format!("/hub/{slug}"), None).await.json().await.unwrap();
    let paths = |v: &Value| {
        v["endpoints"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(paths(&open), ["open"]);
    let with_key: Value = hub(&app, &format!("/hub/{slug}"), Some(&key)).await.json().await.unwrap();
    assert_eq!(paths(&with_key), ["open", "team"]);
    assert_eq!(with_key["endpoints"][1]["count"], 3);
    assert_eq!(with_key["endpoints"][1]["fields"], json!(["id", "city", "population", "founded", "capital"]));
    assert_eq!(with_key["endpoints"][1]["url"], format!("/hub/{slug}/team"));
}

#[tokio::test]
async fn another_workspaces_data_is_not_found() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "members").await;
    let collection = app.api("/api/v1/collections", &key).await.body[0]["id"].as_i64().unwrap();
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    // A second workspace of the same admin, with its own key.
    let res = admin.post_form("/account", "/workspaces", &[("workspace_name", "Finance")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let other = admin.new_key("finance", &["data.read", "data.write", "hub_keys.manage"]).await;
    assert_eq!(app.api("/api/v1/me", &other).await.body["workspace"]["name"], "Finance");
    for path in [
        format!("/api/v1/datasets/{id}"),
        format!("/api/v1/datasets/{id}/records"),
        format!("/api/v1/collections/{collection}"),
        format!("/api/v1/endpoints/{endpoint}"),
        format!("/hub/{slug}/cities"),
        format!("/hub/{slug}"),
    ] {
        let r = app.api(&path, &other).await;
        assert_eq!((r.status, r.code.as_deref()), (StatusCode::NOT_FOUND, Some("not_found")), "{path}");
    }
    let del = post_json(&app, reqwest::Method::DELETE, &format!("/api/v1/datasets/{id}"), &other, json!({})).await;
    assert_eq!(del.status, StatusCode::NOT_FOUND);
    assert_eq!(rows(&app, id).await, 3);
    // Pages too.
    let page = admin.get(&format!("/datahub/datasets/{id}")).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND, "the admin now works in Finance");
}

#[tokio::test]
async fn permissions_decide_who_reads_writes_and_publishes() {
    let app = TestApp::spawn().await;
    let (admin, key, _slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "members").await;
    let member = app.with_member(&admin, "reader@example.com", &["data.read"]).await;
    let read_key = member.new_key("r", &["data.read"]).await;
    assert_eq!(app.api("/api/v1/datasets", &read_key).await.status, StatusCode::OK);
    let refused = post_json(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/datasets/{id}/records"),
        &read_key,
        json!([{"id": 7}]),
    )
    .await;
    assert_eq!((refused.status, refused.code.as_deref()), (StatusCode::FORBIDDEN, Some("insufficient_permission")));
    let refused = post_json(
        &app,
        reqwest::Method::POST,
        "/api/v1/collections",
        &read_key,
        json!({"name": "x", "dataset_id": id}),
    )
    .await;
    assert_eq!(refused.code.as_deref(), Some("insufficient_permission"));
    // Pages: the reader sees the rows but no upload or delete forms, and posting is refused.
    let html = member.get_html(&format!("/datahub/datasets/{id}")).await;
    assert!(html.contains("Bergen, Vestland"));
    assert!(!html.contains("Delete dataset"));
    let res =
        member.post_form(&format!("/datahub/datasets/{id}"), &format!("/datahub/datasets/{id}/delete"), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rows(&app, id).await, 3);
    // Someone without data.read does not see Data Hub at all.
    let none = app.with_member(&admin, "none@example.com", &[]).await;
    assert_eq!(none.get("/datahub/datasets").await.status(), StatusCode::FORBIDDEN);
    let home = none.get_html("/").await;
    assert!(
        home.contains("Data Hub needs the <code>data.read</code> permission")
            && !home.contains(r#"href="/datahub/datasets""#),
        "a tile switched off: {home}"
    );
    assert_eq!(none.get("/datahub").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn collections_and_endpoints_refuse_bad_input_with_the_field() {
    let app = TestApp::spawn().await;
    let (_admin, key, _slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "members").await;
    let post = |path: &'static str, body: Value| post_json(&app, reqwest::Method::POST, path, &key, body);
    for (body, field) in [
        (json!({"name": "", "dataset_id": id}), "name"),
        (json!({"name": "c cities", "dataset_id": id}), "name"),
        (json!({"name": "n", "dataset_id": 999}), "dataset_id"),
        (json!({"name": "n", "dataset_id": id, "fields": ["nope"]}), "fields"),
        (json!({"name": "n", "dataset_id": id, "fields": ["city"], "order": "-id"}), "order"),
        (json!({"name": "n", "dataset_id": id, "max_limit": 20000}), "max_limit"),
        (json!({"name": "n", "dataset_id": id, "default_limit": 0}), "default_limit"),
        (json!({"name": "Bad\u{202E}name", "dataset_id": id}), "name"),
    ] {
        let r = post("/api/v1/collections", body.clone()).await;
        assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{body}");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let c = app.api("/api/v1/collections", &key).await.body[0]["id"].as_i64().unwrap();
    for (body, field) in [
        (json!({"path": "Has Caps", "collection_id": c, "access": "public"}), "path"),
        (json!({"path": "a//b", "collection_id": c, "access": "public"}), "path"),
        (json!({"path": "cities", "collection_id": c, "access": "public"}), "path"),
        (json!({"path": "x", "collection_id": 999, "access": "public"}), "collection_id"),
        (json!({"path": "x", "collection_id": c, "access": "everyone"}), "access"),
        (json!({"path": "x", "collection_id": c, "access": "keys", "hub_key_ids": [5]}), "hub_key_ids"),
    ] {
        let r = post("/api/v1/endpoints", body.clone()).await;
        assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field")), "{body}");
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    // Every change is in the audit log with who and from where.
    let n = app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action IN ('dataset.created', 'collection.created', 'endpoint.created') AND ip IS NOT NULL AND actor_user_id IS NOT NULL").await;
    assert_eq!(n, 3);
}

#[tokio::test]
async fn deleting_a_dataset_lists_what_breaks_and_takes_it_along() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "geo/cities", "public").await;
    // Without JavaScript the delete button leads to a confirmation naming what goes.
    let res = admin
        .post_unconfirmed(&format!("/datahub/datasets/{id}"), &format!("/datahub/datasets/{id}/delete"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("“c geo/cities” (served at geo/cities)")
            && html.contains("Delete the dataset “ds geo/cities” and its 3 rows?"),
        "{html}"
    );
    assert_eq!(rows(&app, id).await, 3, "nothing deleted before the confirmation");
    let res = admin.post_form(&format!("/datahub/datasets/{id}"), &format!("/datahub/datasets/{id}/delete"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM data_collections").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM endpoints").await, 0);
    // Gone: without a key it answers like any guarded path (nothing to enumerate); a member's key learns it is gone.
    assert_eq!(hub(&app, &format!("/hub/{slug}/geo/cities"), None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(hub(&app, &format!("/hub/{slug}/geo/cities"), Some(key.as_str())).await.status(), StatusCode::NOT_FOUND);
    let audit = app
        .count(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'dataset.deleted' AND detail LIKE '%c geo/cities%'",
        )
        .await;
    assert_eq!(audit, 1);
    // The rows go in the background.
    app.until("the deleted dataset's rows to be removed", || async { (rows(&app, id).await == 0).then_some(()) }).await;
}

#[tokio::test]
async fn the_workspace_slug_can_change_and_old_urls_stop_working() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    assert_eq!(slug, "analytics");
    publish(&app, &key, CITIES, "cities", "public").await;
    assert_eq!(hub(&app, "/hub/analytics/cities", None).await.status(), StatusCode::OK);
    let bad = admin.post_form("/admin/workspace", "/admin/workspace/slug", &[("slug", "Not OK")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("Use only lowercase letters"));
    let ok = admin.post_form("/admin/workspace", "/admin/workspace/slug", &[("slug", "sales-eu")]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        hub(&app, "/hub/analytics/cities", None).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old URL serves nothing"
    );
    assert_eq!(hub(&app, "/hub/sales-eu/cities", None).await.status(), StatusCode::OK);
    assert_eq!(app.api("/api/v1/me", &key).await.body["workspace"]["slug"], "sales-eu");
}

#[tokio::test]
async fn page_uploads_check_csrf_size_and_show_the_preview() {
    let app = TestApp::spawn_with(|s| s.upload_max_bytes = 64 * 1024).await;
    let admin = app.with_admin().await;
    let html = admin.get_html("/datahub/datasets").await;
    assert!(html.contains("up to 64 KB"), "the limit is stated on the form");
    let token = crate::helpers::csrf_token(&html);
    let send = |token: String, bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", token)
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("people.csv"));
        admin
            .http
            .post(format!("{}/datahub/datasets/upload", app.address))
            .header("Origin", &app.address)
            .multipart(form)
            .send()
    };
    let forged = send(
        "wrong".into(),
        b"id
1
"
        .to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let big = send(token.clone(), vec![b'a'; 70 * 1024]).await.unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big.text().await.unwrap().contains("larger than the limit of 64 KB"));
    let staged = std::fs::read_dir(app.data_dir.path().join("uploads")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(staged, 0, "refused uploads are not kept");
    // The JSON API has the same limit, with its own code.
    let key = admin.new_key("limit", &["data.write"]).await;
    let big = upload(&app, &key, "big", None, "big.csv", vec![b'a'; 70 * 1024]).await;
    assert_eq!((big.status, big.code.as_deref()), (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")));
    assert!(big.body["error"]["message"].as_str().unwrap().contains("upload limit of 64 KB"), "{}", big.body);
    let records: Vec<Value> = (0..3000).map(|i| json!({"id": i, "text": "x".repeat(20)})).collect();
    let big =
        post_json(&app, reqwest::Method::POST, "/api/v1/datasets", &key, json!({"name": "big", "records": records}))
            .await;
    assert_eq!(big.code.as_deref(), Some("too_large"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM datasets").await, 0);

    let csv = "id;name;zip\n1;Ada;0150\n2;Grace;2000\n".as_bytes().to_vec();
    let uploaded = send(token.clone(), csv).await.unwrap();
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER, "the preview has its own address");
    let preview_url = crate::helpers::location(&uploaded);
    assert!(preview_url.starts_with("/datahub/datasets/new/"), "{preview_url}");
    let html = admin.get_html(&preview_url).await;
    assert!(html.contains("CSV (semicolon-separated), 2 records, 3 columns"), "{html}");
    assert!(html.contains(r#"<option value="text" selected>text</option>"#), "zip codes with a leading zero stay text");
    let upload = crate::helpers::attr_after(&html, r#"name="upload" value=""#).unwrap();
    // The name is taken by nobody; the key is chosen by column index; a dropped column is not stored.
    let fields = [
        ("upload", upload.as_str()),
        ("name", "People"),
        ("source-0", "id"),
        ("name-0", "id"),
        ("type-0", "integer"),
        ("keep-0", "yes"),
        ("source-1", "name"),
        ("name-1", "full name"),
        ("type-1", "text"),
        ("keep-1", "yes"),
        ("source-2", "zip"),
        ("name-2", "zip"),
        ("type-2", "text"),
        ("primary_key", "0"),
    ];
    let res = admin.post_raw("/datahub/datasets", &token, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let ds = app.count("SELECT COUNT(*) AS n FROM datasets WHERE name = 'People' AND primary_key = 'id' AND columns LIKE '%full name%' AND columns NOT LIKE '%zip%'").await;
    assert_eq!(ds, 1);
    let staged = std::fs::read_dir(app.data_dir.path().join("uploads")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(staged, 0, "the staged file is removed after the import");
}

#[tokio::test]
async fn pages_replace_append_download_sort_and_change_settings() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "members").await;
    let page = format!("/datahub/datasets/{id}");
    let token = crate::helpers::csrf_token(&admin.get_html(&page).await);
    let send = |action: &str, bytes: &[u8]| {
        // As the dialog sends it (the page without JavaScript: below).
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", token.clone())
            .text("confirmed", "yes")
            .part("file", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("more.csv"));
        admin.http.post(format!("{}{page}/{action}", app.address)).header("Origin", &app.address).multipart(form).send()
    };

    // A bad replacement: the message beside the form, nothing changed.
    let bad = send("replace", b"id,city,population,founded,capital\n1,Rome,many,,\n").await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains(r#"id="e-replace""#)
            && html.contains("“many” is not a whole number")
            && html.contains("Nothing was changed"),
        "{html}"
    );
    assert_eq!(rows(&app, id).await, 3);
    // A header without one of the dataset's columns is refused by name.
    let bad = send("append", b"id,city\n9,Rome\n").await.unwrap();
    assert!(bad.text().await.unwrap().contains("The file has no column “population”"));

    // Append upserts by key; replace swaps everything.
    let ok = send("append", b"city,id,population,founded,capital\nOslo,1,1,,\nRome,4,2,,\n").await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.api(&format!("/api/v1/datasets/{id}"), &key).await.body["count"], 4);
    let ok = send("replace", b"id,city,population,founded,capital\n7,Lima,5,,true\n8,Quito,9,,false\n").await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert!(admin.get_html(&page).await.contains("Replaced the rows: 2 rows now in"));

    // Sorting by a column header, and the whole dataset as CSV.
    let sorted = admin.get_html(&format!("{page}?sort=population&dir=desc")).await;
    assert!(sorted.contains(r#"aria-sort="descending""#));
    assert!(sorted.find("Quito").unwrap() < sorted.find("Lima").unwrap());
    let csv = admin.get(&format!("{page}/download.csv")).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("ds-cities.csv"));
    assert_eq!(csv.text().await.unwrap(), "id,city,population,founded,capital\n7,Lima,5,,true\n8,Quito,9,,false\n");

    // Collection settings on its page: two fields in a chosen order, an order, page sizes.
    let c = app.api("/api/v1/collections", &key).await.body[0]["id"].as_i64().unwrap();
    let settings = format!("/datahub/collections/{c}");
    let base = [
        ("name", "c cities"),
        ("description", "Two fields"),
        ("expose-1", "yes"),
        ("position-1", "1"),
        ("expose-0", "yes"),
        ("position-0", "2"),
        ("order", "-id"),
    ];
    let mut refused = base.to_vec();
    refused.extend([("default_limit", "9"), ("max_limit", "5")]);
    let res = admin.post_form(&settings, &settings, &refused).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="e-default_limit""#) && html.contains("from 1 to the maximum (5)"), "{html}");
    let mut good = base.to_vec();
    good.extend([("default_limit", "1"), ("max_limit", "5")]);
    assert_eq!(admin.post_form(&settings, &settings, &good).await.status(), StatusCode::SEE_OTHER);
    let body = hub(&app, &format!("/hub/{slug}/cities"), Some(&key)).await.text().await.unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"meta":{{"name":"c cities","count":2,"limit":1,"offset":0}},"data":[{{"city":"Quito","id":8}}]}}"#
        )
    );
    let too_many: Value = hub(&app, &format!("/hub/{slug}/cities?limit=6"), Some(&key)).await.json().await.unwrap();
    assert_eq!(too_many["error"]["parameter"], "limit");

    // Endpoint settings on its page: opening it to the public.
    let e = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    let endpoint = format!("/datahub/endpoints/{e}");
    assert_eq!(hub(&app, &format!("/hub/{slug}/cities"), None).await.status(), StatusCode::UNAUTHORIZED);
    let fields = [("path", "cities"), ("collection_id", &c.to_string()), ("access", "public")];
    assert_eq!(admin.post_form(&endpoint, &endpoint, &fields).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(hub(&app, &format!("/hub/{slug}/cities"), None).await.status(), StatusCode::OK);
    assert!(admin.get_html(&endpoint).await.contains("Public: anyone who knows this URL"));
}

#[tokio::test]
async fn replacing_rows_is_confirmed_naming_what_goes_and_what_comes() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    let id = publish(&app, &key, CITIES, "cities", "public").await;
    let page = format!("/datahub/datasets/{id}");
    let html = admin.get_html(&page).await;
    // The dialog's question (app.js puts the chosen file's name in).
    assert!(html.contains("Replace 3 rows of ds cities with the rows from {file}?"), "{html}");
    let token = crate::helpers::csrf_token(&html);
    let form = reqwest::multipart::Form::new().text("csrf_token", token.clone()).text("confirmed", "").part(
        "file",
        reqwest::multipart::Part::bytes(b"id,city,population,founded,capital\n7,Lima,5,,true\n".to_vec())
            .file_name("orders.csv"),
    );
    let res = admin
        .http
        .post(format!("{}{page}/replace", app.address))
        .header("Origin", &app.address)
        .multipart(form)
        .send()
        .await
        .unwrap();
    // Without JavaScript: a page asks, naming both counts; nothing changed yet.
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Replace 3 rows of ds cities with 1 row from orders.csv?"), "{html}");
    assert_eq!(rows(&app, id).await, 3);
    let served: Value = hub(&app, &format!("/hub/{slug}/cities"), None).await.json().await.unwrap();
    assert_eq!(served["meta"]["count"], 3, "the public endpoint still serves the old rows");
    let action = format!(
        "{page}/replace/{}",
        crate::helpers::attr_after(&html, &format!(r#"action="{page}/replace/"#)).expect("the confirmation's form")
    );
    // Cancel is a link back; the confirmation's button replaces.
    let res = admin.post_raw(&action, &token, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.api(&format!("/api/v1/datasets/{id}"), &key).await.body["count"], 1);
    let served: Value = hub(&app, &format!("/hub/{slug}/cities"), None).await.json().await.unwrap();
    assert_eq!(served["data"][0]["city"], "Lima");
    assert!(admin.get_html(&page).await.contains("Replaced the rows: 1 row now in"));
    // The staged file went with it: the same confirmation cannot replay.
    let res = admin.post_raw(&action, &token, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(admin.get_html(&page).await.contains("That upload is no longer here"));
}

#[tokio::test]
async fn csv_without_a_limit_is_the_whole_collection_and_pages_say_how_many() {
    let app = TestApp::spawn().await;
    let (_admin, key, slug) = admin_key(&app).await;
    let mut csv = String::from("id,city,amount\n");
    for i in 0..137 {
        csv.push_str(&format!("{i},c{},{}\n", i % 7, i * 10));
    }
    publish(&app, &key, &csv, "sales/orders", "public").await;
    let base = format!("/hub/{slug}/sales/orders");

    // CSV without a limit: every row (not the default page of 20), as an attachment.
    let res = hub(&app, &format!("{base}?format=csv"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-total-count"], "137");
    assert_eq!(res.headers()["content-disposition"], r#"attachment; filename="c-sales-orders.csv""#);
    let etag = res.headers()["etag"].clone();
    let text = res.text().await.unwrap();
    assert_eq!(text.lines().count(), 138, "header and 137 rows");
    assert_eq!(text.lines().last(), Some("136,c3,1360"));
    // Filters and order hold for the whole file too.
    let res = hub(&app, &format!("{base}?format=csv&city=c3&order=-amount"), None).await;
    assert_eq!(res.headers()["x-total-count"], "20");
    let text = res.text().await.unwrap();
    assert_eq!(text.lines().count(), 21);
    assert_eq!(text.lines().nth(1), Some("136,c3,1360"));
    // Unchanged: 304 without a body.
    let res = reqwest::Client::new()
        .get(format!("{}{base}?format=csv", app.address))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    // JSON and paged CSV: X-Total-Count and RFC 8288 links with absolute URLs, on a public endpoint.
    let res = hub(&app, &format!("{base}?offset=20&city=c3"), None).await;
    assert_eq!(res.headers()["x-total-count"], "20");
    let res = hub(&app, &format!("{base}?limit=20&offset=20"), None).await;
    assert_eq!(res.headers()["x-total-count"], "137");
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    let url = format!("{}{base}", app.address);
    assert_eq!(
        link,
        format!(
            r#"<{url}?limit=20&offset=0>; rel="first", <{url}?limit=20&offset=0>; rel="prev", <{url}?limit=20&offset=40>; rel="next", <{url}?limit=20&offset=120>; rel="last""#
        )
    );
    let res = hub(&app, &format!("{base}?format=csv&limit=50&order=id"), None).await;
    assert_eq!(res.headers()["x-total-count"], "137");
    assert!(
        res.headers()["link"]
            .to_str()
            .unwrap()
            .contains(&format!(r#"<{url}?format=csv&order=id&limit=50&offset=50>; rel="next""#))
    );
    assert_eq!(res.text().await.unwrap().lines().count(), 51);

    // A filter value that is not of its column's type is refused, not read as "empty".
    let res = hub(&app, &format!("{base}?amount=abc"), None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["parameter"].as_str()),
        (Some("invalid_query"), Some("amount"))
    );
}

#[tokio::test]
async fn endpoints_let_the_sites_they_list_read_them_from_a_browser() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    publish(&app, &key, CITIES, "cities", "public").await;
    publish(&app, &key, CITIES, "guarded", "members").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/hub/{slug}/{p}", app.address);
    let site = "https://app.example.com";
    let preflight = |p: &str, origin: &str, method: &str, headers: &str| {
        http.request(reqwest::Method::OPTIONS, url(p))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .send()
    };

    // None by default: a preflight is answered, without permission.
    let res = preflight("cities", site, "GET", "authorization").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = http.get(url("cities")).header("Origin", site).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // Any site only on a public endpoint; a malformed origin is refused by field.
    let endpoints = app.api("/api/v1/endpoints", &key).await.body;
    let id_of =
        |path: &str| endpoints.as_array().unwrap().iter().find(|e| e["path"] == path).unwrap()["id"].as_i64().unwrap();
    let (public, guarded) = (id_of("cities"), id_of("guarded"));
    let res = post_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/endpoints/{guarded}"),
        &key,
        json!({"allowed_origins": ["*"]}),
    )
    .await;
    assert_eq!(
        (res.status, res.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("allowed_origins"))
    );
    let res = post_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/endpoints/{guarded}"),
        &key,
        json!({"allowed_origins": ["app.example.com/x"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = post_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/endpoints/{guarded}"),
        &key,
        json!({"allowed_origins": ["HTTPS://App.Example.com:443/"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["allowed_origins"], json!([site]), "kept as browsers send it");

    // The listed site's preflight is allowed for GET with the key header; not for POST, nor for another site.
    let res = preflight("guarded", site, "GET", "authorization, x-api-key").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["access-control-allow-origin"], site);
    assert_eq!(res.headers()["access-control-allow-methods"], "GET, HEAD");
    assert!(res.headers().get("access-control-allow-credentials").is_none(), "never credentials");
    assert!(
        preflight("guarded", site, "POST", "").await.unwrap().headers().get("access-control-allow-origin").is_none()
    );
    assert!(
        preflight("guarded", site, "GET", "cookie")
            .await
            .unwrap()
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        preflight("guarded", "https://evil.example", "GET", "")
            .await
            .unwrap()
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let res = preflight("nothing-here", site, "GET", "").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "an unknown path answers like a guarded one");

    // The answer, and a refusal, are readable by the listed site, with the paging headers exposed.
    let res = http.get(url("guarded")).header("Origin", site).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["access-control-allow-origin"], site);
    let exposed = res.headers()["access-control-expose-headers"].to_str().unwrap().to_owned();
    assert!(exposed.contains("x-total-count") && exposed.contains("link") && exposed.contains("etag"), "{exposed}");
    assert!(res.headers()["vary"].to_str().unwrap().contains("Origin"));
    assert!(res.headers().get("access-control-allow-credentials").is_none());
    let refused = http.get(url("guarded")).header("Origin", site).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["access-control-allow-origin"], site, "the site can tell its user what is wrong");
    let other =
        http.get(url("guarded")).header("Origin", "https://evil.example").bearer_auth(&key).send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // A public endpoint open to every site: `*`.
    let res = post_json(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/endpoints/{public}"),
        &key,
        json!({"allowed_origins": ["*"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = http.get(url("cities")).header("Origin", "https://anyone.example").send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");

    // The endpoint's page: the setting with its message beside the field, the input kept.
    let page = format!("/datahub/endpoints/{guarded}");
    let c = app.api("/api/v1/collections", &key).await.body[1]["id"].as_i64().unwrap();
    let fields = [
        ("path", "guarded"),
        ("collection_id", &c.to_string()),
        ("access", "members"),
        ("allowed_origins", "https://ok.example\nnot an origin"),
    ];
    let res = admin.post_form(&page, &page, &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="e-allowed_origins""#) && html.contains("https://ok.example\nnot an origin"), "{html}");
    let fields = [
        ("path", "guarded"),
        ("collection_id", &c.to_string()),
        ("access", "members"),
        ("allowed_origins", "https://ok.example\nhttp://localhost:3000"),
    ];
    assert_eq!(admin.post_form(&page, &page, &fields).await.status(), StatusCode::SEE_OTHER);
    assert!(admin.get_html(&page).await.contains("https://ok.example\nhttp://localhost:3000"));
}

#[tokio::test]
async fn the_endpoint_page_shows_the_full_url_and_examples_that_run() {
    let app = TestApp::spawn().await;
    let (admin, key, slug) = admin_key(&app).await;
    publish(&app, &key, CITIES, "geo/cities", "members").await;
    let e = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().unwrap();
    let html = admin.get_html(&format!("/datahub/endpoints/{e}")).await;
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x2f;", "/")
            .replace("&#47;", "/")
    };
    let html = unescape(&html);
    let full = format!("{}/hub/{slug}/geo/cities", app.address);
    assert!(html.contains(&format!(r#"value="{full}""#)), "the URL with its host: {html}");
    for needle in [
        "Python (requests)",
        "r.links.get(\"next\"",
        "pd.read_csv(",
        &format!("{full}?format=csv"),
        "await fetch(",
        "os.environ['KEYHUB_KEY']",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    assert!(html.contains(r##"data-copy="#example-curl" hidden"##), "copy buttons wait for JavaScript");
    // The curl example, as shown, runs and reads the data.
    let start = html.find(r#"id="example-curl""#).unwrap();
    let code = &html[html[start..].find('>').unwrap() + start + 1..];
    let code = &code[..code.find("</pre>").unwrap()];
    assert!(code.starts_with("curl -H \"Authorization: Bearer $KEYHUB_KEY\" \"http://"), "{code}");
    // Off the test's runtime: the app's database connections are driven by it.
    let (script, k) = (format!("{code} --silent"), key.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").arg("-c").arg(script).env("KEYHUB_KEY", k).output()
    })
    .await
    .unwrap()
    .expect("curl runs");
    let body: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(body["meta"]["count"], 3, "{body}");
    assert_eq!(body["data"][0]["city"], "Oslo");
}
