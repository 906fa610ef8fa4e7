//! Live Data and Ontology pages over HTTP: forms re-render with the input and
//! a message beside the field; linking, unlinking (keeping or removing the
//! tabs), publishing a tab, renaming and deleting an entity have their
//! effect in the database; permissions hold.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::post_json;
use crate::helpers::*;
use crate::helpers::{Datasette, activate_into_entity, live_app, new_source, test_source};

#[tokio::test]
async fn entity_pages_link_unlink_publish_rename_and_delete() {
    let ds = Datasette::start(30).await;
    let (app, admin, key) = live_app().await;
    let source =
        new_source(&app, &key, "datasette", "Shop", json!({"base_url": ds.base, "database": "shop", "token": ds.full}))
            .await;
    assert_eq!(test_source(&app, &key, source).await["ok"], true);
    let (run, entity) = activate_into_entity(&app, &key, source, &["orders", "notes"], "Customer").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let entity_id = entity["id"].as_i64().unwrap();
    let base = format!("/ontology/entities/{entity_id}");

    // The spreadsheet: a tab per stream, rows, CSV export, publish.
    let html = admin.get_html(&base).await;
    assert!(html.contains(">orders</bdi></a>") && html.contains(">notes</bdi></a>"), "a tab per stream");
    assert!(html.contains("Rows: 30") && html.contains("customer 25"), "the first tab's rows");
    let notes_tab =
        entity["tabs"].as_array().unwrap().iter().find(|t| t["stream"] == "notes").unwrap()["id"].as_i64().unwrap();
    assert!(admin.get_html(&format!("{base}/tabs/{notes_tab}")).await.contains("hello"));
    let orders_tab = entity["tabs"][0]["id"].as_i64().unwrap();
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();
    let csv = admin.get(&format!("/datahub/datasets/{dataset}/download.csv")).await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 31, "header and 30 rows");
    let res = admin.post_form(&base, &format!("{base}/tabs/{orders_tab}/publish"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/datahub/collections/"));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM data_collections WHERE dataset_id = {dataset} AND name = 'Customer orders'"
        ))
        .await,
        1
    );

    // Settings: a taken name is refused beside the field, the input kept.
    let other = post_json(&app, Method::POST, "/api/v1/entities", &key, json!({"name": "Order"})).await;
    assert_eq!(other.status, StatusCode::CREATED);
    let res = admin
        .post_form(
            &format!("{base}/settings"),
            &format!("{base}/settings"),
            &[("name", "order"), ("description", "kept text")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Another entity in this workspace has this name") && html.contains("kept text"));
    let res = admin
        .post_form(
            &format!("{base}/settings"),
            &format!("{base}/settings"),
            &[("name", "Client"), ("description", "Who buys")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM entities WHERE id = {entity_id} AND name = 'Client'")).await,
        1
    );

    // Unlink keeping the tabs: they stay, no longer tied to the source.
    let sources_page = format!("{base}/sources");
    let res = admin.post_form(&sources_page, &format!("{base}/sources/{source}/unlink"), &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "the choice is required");
    assert!(res.text().await.unwrap().contains("Choose whether its tabs stay or go."));
    // Removing the tabs deletes rows: without JavaScript a page asks first, naming them.
    let res =
        admin.post_unconfirmed(&sources_page, &format!("{base}/sources/{source}/unlink"), &[("tabs", "remove")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Unlink Shop and remove its 2 tabs with their rows: orders (30 rows), notes ("), "{html}");
    assert!(
        html.contains(r#"name="tabs" value="remove""#) && html.contains("Unlink and remove tabs"),
        "the page posts the choice again"
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM stream_tabs WHERE source_id = {source}")).await,
        2,
        "nothing removed before the confirmation"
    );
    // The dialog's question is on the form (app.js asks only when "remove" is chosen).
    let html = admin.get_html(&sources_page).await;
    assert!(html.contains(r#"data-confirm-if="tabs=remove""#) && html.contains("orders (30 rows)"), "{html}");
    let res = admin.post_form(&sources_page, &format!("{base}/sources/{source}/unlink"), &[("tabs", "keep")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM stream_tabs WHERE entity_id = {entity_id} AND source_id IS NULL"
        ))
        .await,
        2
    );
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM sources WHERE id = {source} AND entity_id IS NULL")).await,
        1
    );

    // Link it again from the Sources tab; its next sync makes fresh tabs.
    let res = admin.post_form(&sources_page, &sources_page, &[("source_id", &source.to_string())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(admin.get_html(&sources_page).await.contains("Shop</bdi></a>"));
    let res = admin.post_form(&sources_page, &format!("{base}/sources/{source}/unlink"), &[("tabs", "remove")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM stream_tabs WHERE source_id = {source}")).await, 0);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'source.unlinked' AND target_id = {source}"
        ))
        .await,
        2,
        "unlinking is logged as such"
    );

    // Delete: asks first, then the tabs and their datasets go.
    let res = admin.post_unconfirmed(&format!("{base}/settings"), &format!("{base}/delete"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("with its 2 spreadsheet tabs"));
    let res = admin.post_form(&format!("{base}/settings"), &format!("{base}/delete"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM entities WHERE id = {entity_id}")).await, 0);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM datasets WHERE id = {dataset}")).await, 0);
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM sources WHERE id = {source}")).await,
        1,
        "the source stays"
    );
}

#[tokio::test]
async fn wizard_forms_keep_the_input_and_never_render_a_key_back() {
    let (app, admin, _key) = live_app().await;
    let res = admin
        .post_form(
            "/live-data/sources/new?kind=datasette",
            "/live-data/sources",
            &[
                ("kind", "datasette"),
                ("name", "Shop"),
                ("cfg.base_url", "javascript:alert(1)"),
                ("cfg.database", "shop"),
                ("cfg.token", "dstok_secret_value_4321"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Only http:// and https:// URLs are allowed") && html.contains("value=\"shop\""),
        "message beside the field, input kept"
    );
    assert!(!html.contains("dstok_secret_value_4321"), "the key is not rendered back");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sources").await, 0, "nothing saved");

    let closed = format!("http://127.0.0.1:{}", crate::helpers::free_port());
    let res = admin
        .post_form(
            "/live-data/sources/new?kind=datasette",
            "/live-data/sources",
            &[
                ("kind", "datasette"),
                ("name", "Shop"),
                ("cfg.base_url", &closed),
                ("cfg.database", "shop"),
                ("cfg.token", "dstok_secret_value_4321"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let test_page = location(&res);
    assert!(test_page.ends_with("/test"));
    let id = app.count("SELECT id AS n FROM sources").await;
    // A draft is listed with where it continues; no page carries the key.
    let list = admin.get_html("/live-data/sources").await;
    assert!(list.contains("draft") && list.contains(&format!("/live-data/sources/{id}/test")));
    for page in [
        test_page.clone(),
        format!("/live-data/sources/{id}"),
        format!("/live-data/sources/{id}/credentials"),
        "/live-data/sources".into(),
    ] {
        let html = admin.get_html(&page).await;
        assert!(!html.contains("secret_value"), "{page} shows no key");
    }
    assert!(
        admin.get_html(&format!("/live-data/sources/{id}/credentials")).await.contains("Saved, ending in ••••4321")
    );
    // Without a passed test, streams send the user back to the test.
    let res = admin.get(&format!("/live-data/sources/{id}/streams")).await;
    assert_eq!(location(&res), test_page);
    // A plain test (no JS): 303 back to the page, which shows the panel.
    let res = admin.post_form(&test_page, &test_page, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = admin.get_html(&test_page).await;
    assert!(html.contains("Connection refused") && html.contains("Check the port in the base URL"), "the error panel");
    // Without CSRF nothing changes.
    let res = admin.http.post(admin.url(&test_page)).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A reader cannot reach Live Data; data.read still sees entities.
    let reader = app.with_member(&admin, "reader@example.com", &["data.read"]).await;
    assert_eq!(reader.get("/live-data/sources").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(reader.get("/ontology/entities").await.status(), StatusCode::OK);
    let res = reader.post_form("/ontology/entities", "/ontology/entities", &[("name", "X")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_wizard_explains_errors_shows_the_record_read_and_sets_the_schedule_before_activating() {
    let ds = Datasette::start(30).await;
    let (app, admin, key) = live_app().await;
    // A wrong token: the guide's table marks the 401 row; the failure is the source's last_failure.
    let source = new_source(
        &app,
        &key,
        "datasette",
        "Shop",
        json!({"base_url": ds.base, "database": "shop", "token": "dstok_not-a-real-token"}),
    )
    .await;
    let test_page = format!("/live-data/sources/{source}/test");
    assert_eq!(admin.post_form(&test_page, &test_page, &[]).await.status(), StatusCode::SEE_OTHER);
    let html = admin.get_html(&test_page).await;
    assert!(
        html.contains(
            r#"<tr class="current"><th scope="row">401 Unauthorized <span class="badge badge-failing">this test</span>"#
        ),
        "{html}"
    );
    assert!(
        html.contains("Regenerate the key in the provider")
            && html.contains("403 Forbidden")
            && html.contains("Try again in a few minutes")
    );
    assert!(app.api(&format!("/api/v1/sources/{source}"), &key).await.body["last_failure"].is_object());

    // The right token: the record read is shown (secrets masked), in the page and in the API; the old failure is gone.
    let p = post_json(
        &app,
        Method::PATCH,
        &format!("/api/v1/sources/{source}"),
        &key,
        json!({"config": {"base_url": ds.base, "database": "shop", "token": ds.full}}),
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let t = test_source(&app, &key, source).await;
    assert_eq!(t["ok"], true, "{t}");
    assert!(t["sample"]["record"].is_object() && t["sample"]["stream"].is_string(), "{t}");
    assert!(!t.to_string().contains(&ds.full), "no secret in the answer");
    let html = admin.get_html(&test_page).await;
    assert!(html.contains("The record read from") && !html.contains(r#"class="current""#), "{html}");
    assert!(
        app.api(&format!("/api/v1/sources/{source}"), &key).await.body["last_failure"].is_null(),
        "a passed test clears the old failure"
    );

    // Step 4: the schedule and the stream's mode are chosen before activating; a wrong one makes nothing.
    let p = post_json(&app, Method::PATCH, &format!("/api/v1/sources/{source}"), &key, json!({"streams": ["orders"]}))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let link = format!("/live-data/sources/{source}/link");
    let html = admin.get_html(&link).await;
    assert!(
        html.contains("When and how it syncs")
            && html.contains(r#"name="mode.0""#)
            && html.contains(r#"name="cursor.0""#),
        "{html}"
    );
    let bad = [("target", "new"), ("new_entity", "Order"), ("every", "0"), ("unit", "hours"), ("mode.0", "full")];
    let res = admin.post_form(&link, &link, &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Enter a whole number of at least 1"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM entities").await, 0, "no entity made for a refused step");
    let no_cursor = [
        ("target", "new"),
        ("new_entity", "Order"),
        ("every", "2"),
        ("unit", "hours"),
        ("mode.0", "incremental"),
        ("cursor.0", ""),
    ];
    let res = admin.post_form(&link, &link, &no_cursor).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Choose the cursor column"));
    let good = [
        ("target", "new"),
        ("new_entity", "Order"),
        ("every", "2"),
        ("unit", "hours"),
        ("mode.0", "incremental"),
        ("cursor.0", "updated"),
    ];
    let res = admin.post_form(&link, &link, &good).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sources WHERE id = {source} AND schedule_minutes = 120 AND status = 'active' AND stream_modes LIKE '%incremental%updated%'")).await, 1);
}
