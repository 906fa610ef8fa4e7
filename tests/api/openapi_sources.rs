//! The OpenAPI kind against software nobody here wrote: a real Directus
//! (its own OpenAPI document, its paging, its static tokens, its errors),
//! and keyhub's own API read with a key that may call only part of it.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Datasette, Directus, TestApp, activate_into_entity, call, live_app, new_source, set_incremental, test_source,
    wait_for_run,
};

async fn sync_and_wait(app: &TestApp, key: &str, source: i64) -> Value {
    let r = call(app, Method::POST, &format!("/api/v1/sources/{source}/syncs"), key, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    wait_for_run(app, key, r.body["run_id"].as_i64().unwrap()).await
}

/// Every record of a keyhub dataset, in stored order.
async fn stored_records(app: &TestApp, key: &str, dataset: i64) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = app.api(&format!("/api/v1/datasets/{dataset}/records?limit=1000&offset={}", out.len()), key).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let rows = page.body["data"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            return out;
        }
        out.extend(rows);
    }
}

/// Directus's products and keyhub's tab hold the same values, row by row:
/// prices exactly as written, times the same instants.
fn same_rows(directus: &[Value], keyhub: &[Value]) {
    assert_eq!(directus.len(), keyhub.len(), "as many rows");
    let mut by_id: Vec<&Value> = keyhub.iter().collect();
    by_id.sort_by_key(|r| r["id"].as_i64());
    let instant = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default()).ok();
    let mut mismatches = Vec::new();
    for (d, k) in directus.iter().zip(by_id) {
        let same = d["id"] == k["id"]
            && d["name"] == k["name"]
            && d["price"] == k["price"]
            && instant(&d["date_updated"]).is_some()
            && instant(&d["date_updated"]) == instant(&k["date_updated"]);
        if !same {
            mismatches.push(format!("{d} ≠ {k}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(3)]
    );
}

#[tokio::test]
async fn a_directus_collection_syncs_in_full_then_incrementally_and_a_lost_permission_reads_as_forbidden() {
    let dx = Directus::start().await;
    dx.products(2_000).await;
    let (reader, permission) = dx.reader().await;
    let (app, _admin, key) = live_app().await;

    // A wrong token: Directus's own sentence, as text.
    let wrong = new_source(
        &app,
        &key,
        "openapi",
        "Directus, wrong token",
        json!({"base_url": dx.base, "spec_path": "/server/specs/oas", "api_key": "not-a-directus-token"}),
    )
    .await;
    let t = test_source(&app, &key, wrong).await;
    assert_eq!((t["ok"].as_bool(), t["error"]["class"].as_str()), (Some(false), Some("unauthorized")), "{t}");
    assert_eq!(t["error"]["provider_message"], "Invalid user credentials.", "{t}");

    let id = new_source(
        &app,
        &key,
        "openapi",
        "Directus shop",
        json!({"base_url": dx.base, "spec_path": "/server/specs/oas", "api_key": reader}),
    )
    .await;
    let d = call(&app, Method::POST, &format!("/api/v1/sources/{id}/discover"), &key, json!({})).await;
    assert_eq!(d.body["ok"], true, "{}", d.body);
    let names: Vec<&str> = d.body["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["products"], "the collection, named by its path; auth routes never probed");
    let products = &d.body["streams"][0];
    let columns: Vec<(&str, &str)> = products["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [("id", "integer"), ("name", "text"), ("price", "text"), ("date_updated", "datetime")],
        "the document's order; a timestamp is a datetime; a decimal stays text"
    );
    assert_eq!(products["primary_key"], "id");
    assert_eq!(products["row_count"], 2_000, "Directus's own count");
    assert_eq!(products["cursor_columns"], json!(["id", "date_updated"]), "{products}");

    let p = set_incremental(&app, &key, id, "products", "date_updated", None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let (run, entity) = activate_into_entity(&app, &key, id, &["products"], "Product").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 2_000, "{run}");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();
    same_rows(&dx.all_products().await, &stored_records(&app, &key, dataset).await);

    // Ten products change at Directus (its date_updated moves on).
    let keys: Vec<i64> = (1..=10).map(|i| i * 150).collect();
    dx.call(
        Method::PATCH,
        "/items/products",
        "",
        json!({"keys": keys, "data": {"name": "changed", "price": "1234.50"}}),
    )
    .await;
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let read = run["streams"][0]["records_read"].as_u64().unwrap();
    assert!((10..=12).contains(&read), "the ten changed rows (and those at the cursor's own instant): {read}");
    let after = stored_records(&app, &key, dataset).await;
    same_rows(&dx.all_products().await, &after);
    assert_eq!(after.iter().filter(|r| r["price"] == "1234.50").count(), 10);

    // The filter named by hand: a parameter the operation does not declare
    // is refused with the ones it does; a strict bound reads exactly the
    // five rows changed next.
    let p = set_incremental(&app, &key, id, "products", "date_updated", Some("changed_after")).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it declares: fields, limit, meta, offset, sort, filter, search"),
        "{}",
        p.body
    );
    let p = set_incremental(&app, &key, id, "products", "date_updated", Some("filter[date_updated][_gt]")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["stream_modes"]["products"]["filter"], "filter[date_updated][_gt]");
    let keys: Vec<i64> = (1..=5).map(|i| i * 7).collect();
    dx.call(Method::PATCH, "/items/products", "", json!({"keys": keys, "data": {"name": "changed again"}})).await;
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["streams"][0]["records_read"], 5, "{run}");
    same_rows(&dx.all_products().await, &stored_records(&app, &key, dataset).await);

    // The provider takes the permission away: the stream fails as
    // forbidden, in words that say what happened.
    dx.call(Method::DELETE, &format!("/permissions/{permission}"), "", Value::Null).await;
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = &run["streams"][0]["error"];
    assert_eq!(error["class"], "forbidden", "{run}");
    assert!(error["message"].as_str().unwrap().starts_with("The key lost access to products."), "{error}");
    assert!(error["provider_message"].as_str().unwrap().contains("permission to access collection"), "{error}");
    assert_eq!(stored_records(&app, &key, dataset).await.len(), 2_000, "the old rows stay whole");
    dx.stop().await;
}

/// keyhub's own API through a key that may read data but not manage
/// connectors: those operations fail their probe on their own, the rest
/// are streams, and the test passes.
#[tokio::test]
async fn streams_a_key_cannot_read_are_listed_as_unavailable_and_the_rest_work() {
    let (app, admin, key) = live_app().await;
    crate::helpers::publish(&app, &key, "id,name\n1,a\n2,b\n", "letters", "public").await;
    let reader = admin.new_key("reader", &["data.read"]).await;
    let id = new_source(
        &app,
        &key,
        "openapi",
        "Own API, read only",
        json!({"base_url": app.address, "spec_path": "/api/v1/openapi.json", "api_key": reader}),
    )
    .await;
    let t = test_source(&app, &key, id).await;
    assert_eq!(t["ok"], true, "{t}");
    let unavailable: Vec<(&str, &str)> = t["unavailable"]
        .as_array()
        .unwrap_or_else(|| panic!("{t}"))
        .iter()
        .map(|u| (u["stream"].as_str().unwrap(), u["error"]["class"].as_str().unwrap()))
        .collect();
    assert!(unavailable.contains(&("sources", "forbidden")), "{unavailable:?}");
    assert!(unavailable.iter().all(|(_, class)| *class == "forbidden"), "{unavailable:?}");
    assert!(t["streams"].as_u64().unwrap() >= 2, "{t}");
    let (run, entity) = activate_into_entity(&app, &key, id, &["collections"], "Collection").await;
    assert_eq!(run["status"], "succeeded", "an unchosen path never fails a sync: {run}");
    assert_eq!(entity["tabs"][0]["row_count"], 1);

    // The step pages show both lists.
    let html = admin.get_html(&format!("/live-data/sources/{id}/streams")).await;
    assert!(html.contains("could not be read"), "{html}");
    assert!(html.contains("403 Forbidden"), "{html}");

    // The filter parameter named on the source page: one the operation does
    // not declare is refused beside the field, the input kept; a declared
    // one is saved on the stream's mode.
    let page = format!("/live-data/sources/{id}");
    let action = format!("{page}/sync-settings");
    let form = |filter: &'static str| {
        [("every", ""), ("unit", "hours"), ("mode.0", "incremental"), ("cursor.0", "id"), ("filter.0", filter)]
    };
    let html = admin.get_html(&page).await;
    assert!(html.contains(r#"name="filter.0""#), "OpenAPI sources offer the field: {html}");
    let r = admin.post_form(&page, &action, &form("id_above")).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("“id_above” is not a parameter this operation declares"), "{html}");
    assert!(html.contains(r#"value="id_above""#) && html.contains(r#"e-mode-0" aria-invalid="true""#), "{html}");
    assert!(html.contains("(it declares: none)"), "{html}");
    let src = app.api(&format!("/api/v1/sources/{id}"), &key).await.body;
    assert!(src["stream_modes"]["collections"].is_null(), "nothing saved on a refusal: {src}");
}

/// Datasette's table API described by an OpenAPI document it serves itself
/// (`tests/fixtures/datasette-static/openapi.json`): the stream pages by the
/// absolute `next_url` Datasette gives, sends the required `_shape` the
/// document fixes, sorts by the key, reads incrementally through the
/// declared `updated__gt`; a stale path in the document is unavailable.
#[tokio::test]
async fn datasette_pages_by_its_own_next_links_under_the_openapi_kind() {
    let assets = format!("assets:{}/tests/fixtures/datasette-static", env!("CARGO_MANIFEST_DIR"));
    let ds = Datasette::serving(2_500, &["--static", &assets]).await;
    let (app, _admin, key) = live_app().await;
    // The page size is a number the document's limits allow, checked where it is entered.
    let r = call(&app, Method::POST, "/api/v1/sources", &key, json!({"kind": "openapi", "name": "too big", "config": {"base_url": ds.base, "api_key": "k", "page_size": "5000"}})).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("config.page_size")),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["message"], "Page size must be a whole number from 1 to 1,000.", "{}", r.body);
    let id = new_source(
        &app,
        &key,
        "openapi",
        "Datasette by its document",
        json!({"base_url": ds.base, "spec_path": "/assets/openapi.json", "api_key": ds.full, "page_size": "700"}),
    )
    .await;
    let t = test_source(&app, &key, id).await;
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["streams"], 1, "{t}");
    assert_eq!(t["unavailable"][0]["stream"], "missing_table", "{t}");
    assert_eq!(t["unavailable"][0]["error"]["class"], "not_found", "{t}");
    let p = set_incremental(&app, &key, id, "orders", "updated", None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let (run, entity) = activate_into_entity(&app, &key, id, &["orders"], "Order").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], 2_500, "four pages of 700 by next_url: {run}");
    let dataset = entity["tabs"][0]["dataset_id"].as_i64().unwrap();
    let stored = stored_records(&app, &key, dataset).await;
    let ids: Vec<i64> = stored.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (1..=2_500).collect::<Vec<_>>(), "every row once, in key order");

    ds.change("c.executemany('insert into orders values (?,?,?,?)', [(i, 'new %d' % i, 1.0, 9000) for i in range(2501, 3501)])\nc.execute(\"update orders set customer = 'changed', updated = 9000 where id = 3\")");
    let run = sync_and_wait(&app, &key, id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["streams"][0]["records_read"], 1_001,
        "the new and the changed rows, 1,001 sharing one cursor value: {run}"
    );
    let stored = stored_records(&app, &key, dataset).await;
    assert_eq!(stored.len(), 3_500);
    assert_eq!(stored.iter().find(|r| r["id"] == 3).unwrap()["customer"], "changed");
}
