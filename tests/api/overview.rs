//! The dashboard's tiles and the section overview pages: every section has a
//! tile and a page; one the user may not open is switched off, naming the
//! permission it needs and the admins to ask; the 403 page says the same.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{live_app, new_source};

#[tokio::test]
async fn every_section_has_a_tile_and_an_overview_page() {
    let (app, admin, key) = live_app().await;
    let shop = new_source(
        &app,
        &key,
        "datasette",
        "Shop",
        json!({"base_url": "http://127.0.0.1:8999", "database": "shop", "token": "dstok_x"}),
    )
    .await;
    new_source(
        &app,
        &key,
        "datasette",
        "Archive",
        json!({"base_url": "http://127.0.0.1:8999", "database": "old", "token": "dstok_y"}),
    )
    .await;
    app.exec(&format!(
        "UPDATE sources SET status = 'failing', failing_since = '2026-12-01 10:00:00+00:00' WHERE id = {shop}"
    ))
    .await;
    app.exec("UPDATE sources SET last_sync_at = '2026-12-05 09:30:00+00:00' WHERE name = 'Archive'").await;

    let home = admin.get_html("/").await;
    for tile in ["tile-hub", "tile-live", "tile-ontology", "tile-admin"] {
        assert!(home.contains(&format!(r#"id="{tile}""#)), "{tile} in {home}");
    }
    assert!(home.contains(r#"<a href="/datahub/keys">API Keys</a>"#), "the Data Hub tile links its API keys");
    assert!(home.contains("2 sources.") && home.contains("Shop is failing since 2026-12-01 10:00 UTC."), "{home}");
    assert!(
        home.find("Shop is failing").unwrap() < home.find("Last sync: 2026-12-05 09:30 UTC (Archive).").unwrap(),
        "failing first, then the last sync"
    );
    assert!(home.contains("0 entities with 0 spreadsheet tabs and 0 rows."), "{home}");

    for (path, heading, link) in [
        ("/datahub", "Data Hub", "/datahub/keys"),
        ("/live-data", "Live Data", "/live-data/diagnostics"),
        ("/ontology", "Ontology", "/ontology/entities"),
        ("/admin", "Admin", "/admin/audit"),
    ] {
        let res = admin.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")) && html.contains(&format!(r#"href="{link}""#)),
            "{path}: {html}"
        );
    }
    assert!(admin.get_html("/live-data").await.contains("Shop is failing"));

    // A member who may only read data: the other sections are switched off, naming what they need and whom to ask.
    let reader = app.with_member(&admin, "reader@example.com", &["data.read"]).await;
    let home = reader.get_html("/").await;
    assert!(home.contains("Live Data needs the <code>connectors.manage</code> permission"), "{home}");
    assert!(home.contains("Admin needs the <code>members.manage</code> permission"));
    assert!(home.contains("Ask an admin of this workspace: <bdi>Ada &#60;ada@example.com&#62;</bdi>"), "{home}");
    assert!(!home.contains(r#"href="/datahub/keys""#), "no API Keys link without hub_keys.manage");
    assert_eq!(reader.get("/datahub").await.status(), StatusCode::OK);
    let res = reader.get("/live-data").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("This needs the connectors.manage permission")
            && html.contains("Ask an admin of this workspace: Ada &#60;ada@example.com&#62;."),
        "{html}"
    );
    // Any refused page says the same, not only the overviews.
    let html = reader.get("/admin/members").await.text().await.unwrap();
    assert!(
        html.contains("This needs the members.manage permission") && html.contains("Ada &#60;ada@example.com&#62;"),
        "{html}"
    );
}
