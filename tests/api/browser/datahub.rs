//! Data Hub in a real browser: upload a CSV, fix a column type, choose the
//! key, save, see the rows; publish it through a collection and an endpoint;
//! a program reads it page by page with a personal key. With and without JS.
use reqwest::StatusCode;
use serde_json::Value;

use super::journeys::set_up;
use crate::helpers::*;

const PRODUCTS: &str = "sku,name,price,added\nA-1,Widget,12,2026-01-05\nA-2,\"Gadget, large\",15,2026-02-01\nA-3,Gizmo – ünïcode,9,2026-03-09\n";

async fn upload_publish_and_read(javascript: bool) {
    let app = TestApp::spawn().await;
    let b = set_up(&app, if javascript { "datahub_js" } else { "datahub_nojs" }, javascript).await;
    let file = app.data_dir.path().join("products.csv");
    std::fs::write(&file, PRODUCTS).unwrap();

    b.click_link("Datasets").await;
    b.expect_text("No datasets yet").await;
    b.attach("File", &file).await;
    b.click_button("Upload and preview").await;
    b.expect_text("Check the new dataset").await;
    b.expect_text("3 records, 4 columns").await;
    assert_eq!(b.value_of("#f-type-2").await, "integer", "price is inferred as whole numbers");
    assert_eq!(b.value_of("#f-type-3").await, "date");

    // A wrong type is refused with the row and column beside the field; nothing is saved.
    b.fill("Dataset name", "Products").await;
    b.select("Type of “added”", "integer").await;
    b.select("Primary key", "sku").await;
    b.click_button("Save dataset").await;
    b.expect_text("Row 1, column “added”: “2026-01-05” is not a whole number").await;
    assert_eq!(b.value_of("#f-name").await, "Products", "the form keeps what was typed");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM datasets").await, 0);

    // Fixed: price as number, added as date.
    b.select("Type of “added”", "date").await;
    b.select("Type of “price”", "number").await;
    b.click_button("Save dataset").await;
    b.expect_text("Saved 3 rows in the dataset Products").await;
    b.expect_text("Gadget, large").await;
    b.expect_text("Rows: 3").await;

    if javascript {
        // Search as you type: htmx swaps the rows without leaving the page.
        b.type_into("Search rows", "gadget").await;
        b.expect_text("Rows matching “gadget”: 1").await;
        b.expect_no_text("Widget").await;
        assert!(b.focused().await.contains("#row-search"), "focus stays in the search box");
    } else {
        b.fill("Search rows", "gadget").await;
        b.click_button("Search").await;
        b.expect_text("Rows matching “gadget”: 1").await;
    }

    b.click_link("Create a collection").await;
    b.expect_text("New collection").await;
    b.fill("Name", "Product feed").await;
    b.click_button("Create collection").await;
    b.expect_text("Created the collection Product feed").await;
    b.expect_text("\"name\":\"Widget\"").await;

    b.click_link("Create an endpoint").await;
    // A wrong path: the message beside the field, the input kept.
    b.fill("Path", "Shop/Products").await;
    b.click_button("Create endpoint").await;
    b.expect_text("Use only lowercase letters").await;
    assert_eq!(b.value_of("#f-path").await, "Shop/Products");
    if javascript {
        assert!(b.focused().await.contains("#f-path"), "focus on the field in error");
    }
    b.fill("Path", "shop/products").await;
    b.click_button("Create endpoint").await;
    b.expect_text("Created the endpoint shop/products").await;
    b.expect_text("/hub/analytics/shop/products").await;
    // Examples with the full URL; copy buttons only where they work (JavaScript).
    b.expect_text(&format!(
        "curl -H \"Authorization: Bearer $KEYHUB_KEY\" \"{}/hub/analytics/shop/products?limit=100&offset=0\"",
        app.address
    ))
    .await;
    b.expect_text("Python (pandas): the whole collection").await;
    let copy = b.client.find(fantoccini::Locator::Css("[data-copy='#example-curl']")).await.expect("a copy button");
    assert_eq!(copy.is_displayed().await.unwrap(), javascript, "copy buttons only with JavaScript");

    // A program reads it page by page with a personal key.
    let admin = app.client_for_admin().await;
    let key = admin.new_key("reader", &["data.read"]).await;
    let http = reqwest::Client::new();
    let get = |q: &str| http.get(format!("{}/hub/analytics/shop/products{q}", app.address)).bearer_auth(&key).send();
    let mut names = Vec::new();
    for offset in [0, 2] {
        let page: Value = get(&format!("?limit=2&offset={offset}")).await.unwrap().json().await.unwrap();
        assert_eq!(page["meta"]["count"], 3);
        names.extend(page["data"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()));
    }
    assert_eq!(names, ["Widget", "Gadget, large", "Gizmo – ünïcode"]);
    let first: Value = get("?limit=1").await.unwrap().json().await.unwrap();
    assert_eq!(first["data"][0]["price"], 12, "price stored as a number");
    let csv = get("?format=csv").await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(
        csv.text().await.unwrap(),
        "sku,name,price,added\nA-1,Widget,12,2026-01-05\nA-2,\"Gadget, large\",15,2026-02-01\nA-3,Gizmo – ünïcode,9,2026-03-09\n"
    );
    let anonymous = reqwest::get(format!("{}/hub/analytics/shop/products", app.address)).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "members' endpoints need a key");

    // Replacing every row is confirmed first, naming what goes: a dialog with
    // JavaScript, a page (which has read the file) without.
    let more = app.data_dir.path().join("more.csv");
    std::fs::write(&more, "sku,name,price,added\nB-1,Bolt,1,2026-04-01\n").unwrap();
    b.open("/datahub/datasets").await;
    b.click_link("Products").await;
    b.attach("Replace all rows with a file", &more).await;
    b.click_button("Replace rows").await;
    if javascript {
        b.expect_text("Replace 3 rows of Products with the rows from more.csv?").await;
        b.click_dialog_button("Cancel").await;
        b.expect_text("Rows: 3").await;
        b.click_button("Replace rows").await;
        b.confirm_dialog().await;
    } else {
        b.expect_text("Replace 3 rows of Products with 1 row from more.csv?").await;
        b.click_button("Replace rows").await;
    }
    b.expect_text("Replaced the rows: 1 row now in").await;
    b.expect_text("Bolt").await;
    b.close().await;
}

#[tokio::test]
async fn browser_datahub_upload_publish_and_read() {
    upload_publish_and_read(true).await;
}

#[tokio::test]
async fn browser_datahub_works_without_javascript() {
    upload_publish_and_read(false).await;
}
