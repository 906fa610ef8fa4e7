//! The connector wizard in a real browser, with and without JavaScript: from
//! the catalogue through a wrong key (the error panel), the right key, the
//! streams and a new entity, to rows of a real Datasette in the entity's
//! spreadsheet tab. axe-core checks every page on the way.

use super::journeys::set_up;
use crate::helpers::Datasette;
use crate::helpers::*;

async fn wizard_journey(javascript: bool) {
    let ds = Datasette::start(1_500).await;
    let app = TestApp::spawn_with(|s| s.connectors_allow_private = true).await;
    let b = set_up(&app, if javascript { "live_data_js" } else { "live_data_nojs" }, javascript).await;

    b.open("/live-data/connectors").await;
    b.expect_text("Authentication: API key").await;
    b.click_link("Connect Datasette").await;
    b.expect_text("Never share your API key in source code or shared documents").await;
    b.fill("Source name", "Shop").await;
    b.fill("Base URL", &ds.base).await;
    b.fill("Database", "shop").await;
    let wrong = "dstok_this-one-is-made-up-9876";
    b.fill("API token", wrong).await;
    if javascript {
        b.click_button("Show API token").await;
        assert_eq!(
            b.execute("return document.getElementById('f-token').type;").await,
            "text",
            "the reveal toggle shows the key"
        );
    }
    b.click_button("Save and continue").await;
    b.expect_text("2. Test connection").await;
    b.click_button("Test connection").await;
    b.expect_text("401 Unauthorized").await;
    b.expect_text("Regenerate the key in the provider's console").await;
    b.expect_text("Invalid token signature").await;
    if javascript {
        assert!(b.focused().await.contains("test-result"), "focus moves to the result: {}", b.focused().await);
    }
    let html = b.execute("return document.documentElement.outerHTML;").await.to_string();
    assert!(!html.contains(wrong), "the key is never rendered back");

    b.click_link("Change the credentials").await;
    b.expect_text("Saved, ending in ••••9876").await;
    let html = b.execute("return document.documentElement.outerHTML;").await.to_string();
    assert!(!html.contains(wrong), "nor on the credentials form");
    b.fill("API token", &ds.full).await;
    b.click_button("Save and continue").await;
    b.click_button("Test connection").await;
    b.expect_text("Connection works: 2 streams found").await;
    b.click_link("Continue: choose streams").await;
    b.expect_text("Start with one or two streams; each stream becomes a tab of the spreadsheet").await;
    b.click_button("Save and continue").await;
    b.expect_text("Choose at least one stream.").await;
    b.tick("orders (1,500 rows)").await;
    b.click_button("Save and continue").await;
    b.expect_text("4. Link to an entity").await;
    b.tick("A new entity").await;
    b.fill("New entity's name", "Customer").await;
    b.click_button("Activate").await;
    b.expect_text("Sync started").await;
    let entity = app.count("SELECT id AS n FROM entities WHERE name = 'Customer'").await;
    b.expect_path(&format!("/ontology/entities/{entity}")).await;
    // Rows appear: htmx polls while the sync runs; without it, a refresh.
    syncs_finished(&app).await;
    if !javascript {
        b.open(&format!("/ontology/entities/{entity}")).await;
    }
    b.expect_text("Rows: 1,500").await;
    b.expect_text("customer 1").await;
    b.click_link("customer").await;
    b.click_link("customer ▲").await;
    b.expect_text("customer 999").await;
    b.fill("Search rows", "customer 1234").await;
    if !javascript {
        b.click_button("Search").await;
    }
    b.expect_text("Rows matching “customer 1234”: 1").await;

    // The source page lists the run; the entity's Sources tab the link.
    b.open("/live-data/sources").await;
    b.expect_text("active").await;
    b.click_link("Shop").await;
    b.expect_text("succeeded").await;
    b.expect_text("1,500 written").await;
    b.open(&format!("/ontology/entities/{entity}/sources")).await;
    b.expect_text("Linked sources").await;
    // Unlinking with the tabs removed deletes rows: asked first, naming them.
    let question = "Unlink Shop and remove its 1 tab with their rows: orders (1,500 rows)?";
    b.tick("Remove them with their rows").await;
    b.click_button("Unlink Shop").await;
    b.expect_text(question).await;
    if javascript {
        b.click_dialog_button("Cancel").await;
    } else {
        b.click_link("Cancel").await;
    }
    b.expect_text("Linked sources").await;
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM stream_tabs WHERE source_id IS NOT NULL").await,
        1,
        "cancelled: the tab stays"
    );
    b.open("/ontology/entities").await;
    b.expect_text("1 tab, 1 source").await;
    b.click_link("Customer").await;
    b.click_link("Settings").await;
    b.expect_text("Deleting the entity deletes its 1 spreadsheet tab").await;
    b.close().await;
}

#[tokio::test]
async fn browser_connector_wizard_journey() {
    wizard_journey(true).await;
}

#[tokio::test]
async fn browser_connector_wizard_works_without_javascript() {
    wizard_journey(false).await;
}

/// The other two kinds through the same wizard: another keyhub's endpoint
/// through a hub key, and keyhub's own API through its OpenAPI document.
#[tokio::test]
async fn browser_wizard_reads_a_keyhub_and_an_openapi_source() {
    use reqwest::Method;
    use serde_json::json;
    let other = TestApp::spawn().await;
    let (_o_admin, o_key, slug) = crate::helpers::admin_key(&other).await;
    crate::helpers::publish(&other, &o_key, "id,city\n1,Oslo\n2,Bergen\n3,Tromsø\n", "cities", "keys").await;
    let endpoint = other.api("/api/v1/endpoints", &o_key).await.body[0]["id"].as_i64().unwrap();
    let hk = crate::helpers::post_json(
        &other,
        Method::POST,
        "/api/v1/hub-keys",
        &o_key,
        json!({"name": "partner", "access_type": "api_key", "endpoint_ids": [endpoint]}),
    )
    .await;
    let hub_key = hk.body["secret"].as_str().unwrap().to_owned();

    let app = TestApp::spawn_with(|s| s.connectors_allow_private = true).await;
    let b = set_up(&app, "live_data_kinds", true).await;
    let admin = app.client_for_admin().await;
    let own_key = admin.new_key("openapi", &["data.read", "hub_keys.manage"]).await;

    // keyhub → keyhub
    b.open("/live-data/connectors").await;
    b.click_link("Connect keyhub").await;
    b.fill("Source name", "Partner hub").await;
    b.fill("Base URL", &other.address).await;
    b.fill("Workspace short name", &slug).await;
    b.fill("API key", &hub_key).await;
    b.click_button("Save and continue").await;
    b.click_button("Test connection").await;
    b.expect_text("Connection works: 1 stream found").await;
    b.click_link("Continue: choose streams").await;
    b.tick("cities (3 rows)").await;
    b.click_button("Save and continue").await;
    b.tick("A new entity").await;
    b.fill("New entity's name", "City").await;
    b.click_button("Activate").await;
    b.expect_text("Tromsø").await;
    b.expect_text("Rows: 3").await;

    // REST API (OpenAPI): keyhub's own API, the key as a Bearer header.
    b.open("/live-data/connectors").await;
    b.click_link("Connect REST API (OpenAPI)").await;
    b.fill("Source name", "Own API").await;
    b.fill("Base URL", &app.address).await;
    b.fill("OpenAPI document (optional)", "/api/v1/openapi.json").await;
    b.fill("API key", &own_key).await;
    b.click_button("Save and continue").await;
    b.click_button("Test connection").await;
    b.expect_text("Connection works").await;
    // The key may not manage connectors: those operations are listed apart.
    b.expect_text("could not be read").await;
    b.click_link("Continue: choose streams").await;
    b.expect_text("403 Forbidden").await;
    b.tick("datasets").await;
    b.click_button("Save and continue").await;
    b.tick("An existing entity").await;
    b.select("Entity", "City").await;
    b.click_button("Activate").await;
    b.expect_text("datasets").await;
    syncs_finished(&app).await;
    b.click_link("datasets").await;
    b.expect_text("Rows: 1").await;
    b.close().await;
}

/// Watching a larger sync move, a key that breaks, Diagnostics, the fix,
/// "Test again", and a sync that succeeds — axe-core on every page.
#[tokio::test]
async fn browser_a_sync_shows_progress_and_a_failing_source_is_fixed_from_diagnostics() {
    use crate::helpers::{FaultProxy, Rule};
    let ds = Datasette::start(9_000).await;
    // The real Datasette, slowed down so the progress can be watched.
    let proxy = FaultProxy::start(&ds.base).await;
    proxy.set(Rule { delay_ms: 500, ..Rule::default() });
    let app = TestApp::spawn_with(|s| s.connectors_allow_private = true).await;
    let b = set_up(&app, "sync_diagnostics", true).await;
    b.open("/live-data/connectors").await;
    b.click_link("Connect Datasette").await;
    b.fill("Source name", "Shop").await;
    b.fill("Base URL", &proxy.base).await;
    b.fill("Database", "shop").await;
    b.fill("API token", &ds.full).await;
    b.click_button("Save and continue").await;
    b.click_button("Test connection").await;
    b.expect_text("Connection works: 2 streams found").await;
    b.click_link("Continue: choose streams").await;
    b.tick("orders (9,000 rows)").await;
    b.click_button("Save and continue").await;
    b.tick("A new entity").await;
    b.fill("New entity's name", "Order").await;
    b.click_button("Activate").await;
    b.expect_text("Sync started").await;
    // The entity page shows the stream's progress moving (htmx polls it), and
    // says the first sync is running rather than offering to link a source.
    b.expect_text("records read").await;
    b.expect_text("records/s").await;
    b.expect_no_text("No tabs yet").await;
    b.open("/live-data/sources").await;
    b.expect_text("Syncing").await;
    syncs_finished(&app).await;
    let source = app.count("SELECT id AS n FROM sources WHERE name = 'Shop'").await;
    b.open(&format!("/live-data/sources/{source}")).await;
    b.expect_text("9,000 read, 9,000 written").await;

    // A second sync while the user searches the rows: only the progress region
    // updates; the search box keeps its text and the focus; the rows refresh
    // once, with the search, when the sync ends.
    proxy.set(Rule { delay_ms: 3000, ..Rule::default() });
    let entity = app.count("SELECT id AS n FROM entities WHERE name = 'Order'").await;
    b.click_button("Sync now").await;
    // The post's own page first: opening another one while it loads could be
    // overtaken by its redirect.
    b.expect_text("Sync started").await;
    b.open(&format!("/ontology/entities/{entity}")).await;
    b.expect_text("records read").await;
    b.type_into("Search rows", "customer 12").await;
    b.expect_swaps("sync-progress", 1).await;
    assert_eq!(b.value_of("#row-search").await, "customer 12", "the typed search is kept");
    b.expect_focused("#row-search").await;
    proxy.set(Rule::default());
    b.expect_text("The sync has finished").await;
    assert_eq!(b.value_of("#row-search").await, "customer 12");
    b.expect_text("Rows matching “customer 12”").await;
    b.expect_focused("#row-search").await;
    b.open(&format!("/live-data/sources/{source}")).await;

    // Someone pastes a wrong key; the next sync is refused and the source fails.
    b.click_link("Edit credentials").await;
    b.fill("API token", "dstok_pasted-the-wrong-one-4321").await;
    b.click_button("Save and continue").await;
    b.expect_text("Saved the credentials; test the connection again").await;
    b.open(&format!("/live-data/sources/{source}")).await;
    b.click_button("Sync now").await;
    b.expect_text("Sync started").await;
    app.until("the source to fail", || async {
        (app.count("SELECT COUNT(*) AS n FROM sources WHERE status = 'failing'").await > 0).then_some(())
    })
    .await;
    b.open("/").await;
    b.expect_text("1 failing").await;
    b.click_link("Live Data 1 failing").await;
    b.click_link("Diagnostics 1 failing").await;
    b.expect_text("401 Unauthorized").await;
    b.expect_text("Failing since").await;
    b.expect_text("Invalid token signature").await;

    // The fix: the right key (from the source's page), Test again, Sync now.
    b.click_link("Shop").await;
    b.click_link("Edit credentials").await;
    b.fill("API token", &ds.full).await;
    b.click_button("Save and continue").await;
    b.expect_text("Saved the credentials; test the connection again").await;
    b.open("/live-data/diagnostics").await;
    b.click_button("Test again Shop").await;
    b.expect_text("The connection test passed").await;
    b.expect_text("No source is failing").await;
    b.open(&format!("/live-data/sources/{source}")).await;
    b.click_button("Sync now").await;
    b.expect_text("Sync started").await;
    syncs_finished(&app).await;
    b.open(&format!("/live-data/sources/{source}")).await;
    b.expect_text("succeeded").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sync_runs WHERE status = 'succeeded'").await, 3);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sources WHERE status = 'active'").await, 1);
}

/// Waits until no sync run is queued or running.
async fn syncs_finished(app: &TestApp) {
    app.until("the sync to finish", || async {
        (app.count("SELECT COUNT(*) AS n FROM sync_runs WHERE status IN ('queued', 'running')").await == 0)
            .then_some(())
    })
    .await;
}
