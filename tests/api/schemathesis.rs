//! schemathesis, a property-based tester, against a running keyhub: every
//! operation of the OpenAPI document with generated valid and invalid
//! requests, `--checks all` (statuses, bodies and headers as documented,
//! valid data accepted, invalid data refused, no 500, deleted stays deleted).
//! It must find nothing: the document says what the server does.
//!
//! schemathesis is pinned in `scripts/test.sh`, in the venv Datasette uses.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;
use crate::helpers::{LIVE_PERMISSIONS, venv_bin};
use crate::helpers::{post_json, publish};

/// Operations on one seeded resource get its id, so that they reach the
/// code behind the lookup instead of answering 404 to every generated id.
fn seeded(path_regex: &str, params: &[(&str, serde_json::Value)]) -> String {
    let values: Vec<String> = params.iter().map(|(k, v)| format!("\"path.{k}\" = {v}")).collect();
    format!("\n[[operations]]\ninclude-path-regex = '{path_regex}'\nparameters = {{ {} }}\n", values.join(", "))
}

#[tokio::test]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    // Every request here comes from 127.0.0.1, and schemathesis probes each
    // operation with invalid keys: the refused-key budget of one address
    // would soon answer 429 (documented) where its auth check wants 401.
    let app = TestApp::spawn_with(|s| s.key_refusals_per_minute = 1_000_000).await;
    let admin = app.with_admin().await;
    let mut permissions = LIVE_PERMISSIONS.to_vec();
    permissions.push("members.manage");
    let key = admin.new_key("schemathesis", &permissions).await;
    let slug = app.api("/api/v1/me", &key).await.body["workspace"]["slug"].as_str().expect("slug").to_owned();

    // One of everything, for the operations on an existing resource.
    let dataset = publish(&app, &key, "id,customer,total\n1,Ada,10\n2,Grace,20\n", "orders", "members").await;
    let collection = app.api("/api/v1/collections", &key).await.body[0]["id"].as_i64().expect("collection");
    let endpoint = app.api("/api/v1/endpoints", &key).await.body[0]["id"].as_i64().expect("endpoint");
    let hub_key = post_json(
        &app,
        Method::POST,
        "/api/v1/hub-keys",
        &key,
        json!({"name": "Partner", "access_type": "api_key", "endpoint_ids": [endpoint]}),
    )
    .await;
    assert_eq!(hub_key.status, StatusCode::CREATED, "{}", hub_key.body);
    let entity = post_json(&app, Method::POST, "/api/v1/entities", &key, json!({"name": "Customers"})).await;
    assert_eq!(entity.status, StatusCode::CREATED, "{}", entity.body);
    let source = post_json(&app, Method::POST, "/api/v1/sources", &key, json!({"kind": "keyhub", "name": "Partner hub", "config": {"base_url": app.address, "workspace": slug, "api_key": "khd_not_a_real_key"}})).await;
    assert_eq!(source.status, StatusCode::CREATED, "{}", source.body);

    let dir = tempfile::tempdir().unwrap();
    let mut config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis/schemathesis.toml")).unwrap();
    config.push_str(&seeded("^/api/v1/datasets/", &[("id", json!(dataset))]));
    config.push_str(&seeded("^/api/v1/collections/", &[("id", json!(collection))]));
    config.push_str(&seeded("^/api/v1/endpoints/", &[("id", json!(endpoint))]));
    config.push_str(&seeded("^/api/v1/hub-keys/", &[("id", hub_key.body["id"].clone())]));
    config.push_str(&seeded("^/api/v1/entities/", &[("id", entity.body["id"].clone())]));
    config.push_str(&seeded("^/api/v1/sources/", &[("id", source.body["id"].clone())]));
    config.push_str(&seeded("^/hub/", &[("workspace", json!(slug)), ("path", json!("orders"))]));
    let config_path = dir.path().join("schemathesis.toml");
    std::fs::write(&config_path, config).unwrap();

    let mut cmd = std::process::Command::new(venv_bin("schemathesis"));
    cmd.current_dir(dir.path())
        .arg("--config-file")
        .arg(&config_path)
        .args(["run", &format!("{}/api/v1/openapi.json", app.address), "--checks", "all", "--no-color"])
        .args(["-H", &format!("Authorization: Bearer {key}")]);
    // Off the test's runtime: it drives the app (and its PostgreSQL pool).
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("schemathesis runs (scripts/test.sh installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found something:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("Tested: 56"), "every operation was tested:\n{report}");
    println!("{report}");
}
