//! Data Hub: datasets (upload, replace, append, delete), collections,
//! endpoints and `/hub/{workspace}/{path}`, through the JSON API and pages.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ApiReply, TestApp};

/// An admin's key with every permission, and the workspace slug.
pub async fn admin_key(app: &TestApp) -> (crate::helpers::Client, String, String) {
    let admin = app.with_admin().await;
    let key = admin.new_key("datahub", &["data.read", "data.write", "hub_keys.manage"]).await;
    let me = app.api("/api/v1/me", &key).await;
    let slug = me.body["workspace"]["slug"].as_str().expect("slug in /me").to_owned();
    (admin, key, slug)
}

pub async fn post_json(app: &TestApp, method: reqwest::Method, path: &str, key: &str, body: Value) -> ApiReply {
    let req = reqwest::Client::new()
        .request(method, format!("{}{path}", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .json(&body);
    app.api_with(req).await
}

pub async fn upload(app: &TestApp, key: &str, name: &str, primary_key: Option<&str>, file_name: &str, bytes: Vec<u8>) -> ApiReply {
    let mut form = reqwest::multipart::Form::new().text("name", name.to_owned());
    if let Some(pk) = primary_key {
        form = form.text("primary_key", pk.to_owned());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()));
    let req = reqwest::Client::new()
        .post(format!("{}/api/v1/datasets", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .multipart(form);
    app.api_with(req).await
}

/// A dataset, a collection over it and an endpoint serving it.
pub async fn publish(app: &TestApp, key: &str, csv: &str, path: &str, access: &str) -> i64 {
    let ds = upload(app, key, &format!("ds {path}"), Some("id"), "data.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(ds.status, StatusCode::CREATED, "{}", ds.body);
    let c = post_json(app, reqwest::Method::POST, "/api/v1/collections", key, json!({"name": format!("c {path}"), "dataset_id": ds.body["id"]})).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let e = post_json(app, reqwest::Method::POST, "/api/v1/endpoints", key, json!({"path": path, "collection_id": c.body["id"], "access": access})).await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    ds.body["id"].as_i64().expect("id")
}

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

    let page2: Value = hub(&app, &format!("/hub/{slug}/geo/cities?limit=2&offset=2"), Some(&key)).await.json().await.unwrap();
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["city"], "Zürich");
    assert_eq!(page2["data"][0]["founded"], Value::Null);

    let ordered: Value = hub(&app, &format!("/hub/{slug}/geo/cities?order=-population"), Some(&key)).await.json().await.unwrap();
    let cities: Vec<&str> = ordered["data"].as_array().unwrap().iter().map(|r| r["city"].as_str().unwrap()).collect();
    assert_eq!(cities, ["Oslo", "Zürich", "Bergen, Vestland"]);

    let filtered: Value = hub(&app, &format!("/hub/{slug}/geo/cities?capital=false"), Some(&key)).await.json().await.unwrap();
    assert_eq!(filtered["meta"]["count"], 2);

    let csv = hub(&app, &format!("/hub/{slug}/geo/cities?format=csv"), Some(&key)).await;
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    assert_eq!(text, "id,city,population,founded,capital\n1,Oslo,709000,1040-01-01,true\n2,\"Bergen, Vestland\",291000,1070-01-01,false\n3,Zürich,421000,,false\n");
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
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("column “population”: “many” is not a whole number"), "{}", bad.body);
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

    let mut records: Vec<Value> = (1..=5000).map(|i| json!({"id": i, "city": format!("c{i}"), "population": i})).collect();
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
    let old: String = std::iter::once("id,city,population\n".to_owned()).chain((1..=20_000).map(|i| format!("{i},old,{i}\n"))).collect();
    publish(&app, &key, &old, "mix", "public").await;
    let id = app.api("/api/v1/datasets", &key).await.body[0]["id"].as_i64().unwrap();

    let new: String = std::iter::once("id,city,population\n".to_owned()).chain((1..=30_000).map(|i| format!("{i},new,{i}\n"))).collect();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(new.into_bytes()).file_name("new.csv"));
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
                let page: Value =
                    hub(&app, &format!("/hub/{slug}/mix?limit=10&offset={offset}&city=old"), None).await.json().await.unwrap();
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
