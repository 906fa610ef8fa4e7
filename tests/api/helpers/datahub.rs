//! Data Hub helpers: an admin's key, JSON calls, uploads and publishing a
//! dataset at an endpoint.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{ApiReply, TestApp};

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

pub async fn upload(
    app: &TestApp,
    key: &str,
    name: &str,
    primary_key: Option<&str>,
    file_name: &str,
    bytes: Vec<u8>,
) -> ApiReply {
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
    let c = post_json(
        app,
        reqwest::Method::POST,
        "/api/v1/collections",
        key,
        json!({"name": format!("c {path}"), "dataset_id": ds.body["id"]}),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let e = post_json(
        app,
        reqwest::Method::POST,
        "/api/v1/endpoints",
        key,
        json!({"path": path, "collection_id": c.body["id"], "access": access}),
    )
    .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    ds.body["id"].as_i64().expect("id")
}
