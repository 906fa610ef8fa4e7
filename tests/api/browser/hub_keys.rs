//! The key editor in a real browser, with and without JavaScript: open it,
//! add two IP rows and a templated header, save, show/hide, copy,
//! regenerate, see the Endpoints tab, call the endpoint over HTTP,
//! deactivate, call again and see the refusal. axe-core checks every page.
use reqwest::StatusCode;
use serde_json::Value;

use super::journeys::set_up;
use crate::helpers::*;

async fn call(app: &TestApp, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/hub/analytics/sales?limit=2", app.address))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
}

async fn editor_journey(javascript: bool) {
    let app = TestApp::spawn().await;
    let b = set_up(&app, if javascript { "hub_keys_js" } else { "hub_keys_nojs" }, javascript).await;
    let admin = app.client_for_admin().await;
    let key = admin.new_key("publisher", &["data.read", "data.write", "hub_keys.manage"]).await;
    crate::helpers::publish(&app, &key, "id,customer,total\n1,Ada,10\n2,Grace,20\n3,Linus,30\n", "sales", "keys").await;

    b.open("/datahub/keys").await;
    b.expect_text("0 keys").await;
    b.click_link("+ New key").await;
    b.expect_text("Access type").await;
    b.fill("Name", "Partner ACME").await;
    b.click_button("Add IP row").await;
    if javascript {
        b.expect_text("IP range 1").await;
        assert!(b.focused().await.contains("#ip_range-0"), "focus lands in the new row: {}", b.focused().await);
    }
    b.fill("IP range 1", "127.0.0.5/8").await;
    b.click_button("Add IP row").await;
    b.fill("IP range 2", "010.0.0.1").await;
    b.click_button("Add header row").await;
    b.fill("Header name 1", "X-Total").await;
    b.fill("Value 1", "${collection.meta.count}").await;
    b.tick("/hub/analytics/sales").await;
    b.click_button("Create key").await;
    // Refused on that row, with the input kept; nothing saved.
    b.expect_text("has a leading zero").await;
    if javascript {
        // The script split the pasted range into range and netmask.
        assert_eq!(
            (b.value_of("#ip_range-0").await, b.value_of("#ip_netmask-0").await),
            ("127.0.0.5".into(), "8".into())
        );
    } else {
        assert_eq!(b.value_of("#ip_range-0").await, "127.0.0.5/8");
    }
    assert_eq!(b.value_of("#header_value-0").await, "${collection.meta.count}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM hub_keys").await, 0);
    b.fill("IP range 2", "::1").await;
    b.fill("Netmask 2", "128").await;
    b.click_button("Create key").await;
    b.expect_text("Created the key Partner ACME").await;
    // The new secret is shown at once, with the focus on it.
    let secret = b.value_of("#shown-secret").await;
    assert!(secret.starts_with("khd_"), "{secret}");
    b.expect_focused("#shown-secret").await;
    b.expect_text("Stored as 127.0.0.0/8").await;
    b.expect_text("Last record change").await;
    b.expect_text("synced").await;
    let id = app.count("SELECT id AS n FROM hub_keys WHERE name = 'Partner ACME'").await;
    // Reloading that page neither posts again nor shows the secret again.
    b.client.refresh().await.expect("reload");
    b.expect_text("(hidden)").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM hub_keys").await, 1);
    let page_html = b.execute("return document.documentElement.outerHTML;").await;
    assert!(!page_html.as_str().unwrap_or_default().contains(&secret), "the secret is not in a plain view of the page");

    // Show: a POST; the same secret, focused.
    b.click_button("Show").await;
    b.expect_text("Hide").await;
    assert_eq!(b.value_of("#shown-secret").await, secret);
    b.expect_focused("#shown-secret").await;
    if javascript {
        b.click_button("Copy").await;
        b.expect_text("Copied").await;
        // Hide: the secret goes, focus returns to Show.
        b.click_link("Hide").await;
        b.expect_no_text(&secret).await;
        b.expect_focused("#show-secret").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'hub_key.revealed'").await, 1);

    // The endpoint answers as configured.
    let res = call(&app, &secret).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-total"], "3");

    // Regenerate: asks first; the old secret stops at once.
    b.open(&format!("/datahub/keys/{id}")).await;
    b.click_button("Regenerate").await;
    if javascript {
        b.click_dialog_button("Regenerate secret").await;
    } else {
        b.expect_text("Make a new secret for this key?").await;
        b.click_button("Regenerate secret").await;
    }
    b.expect_text("Hide").await;
    let fresh = b.value_of("#shown-secret").await;
    assert!(fresh.starts_with("khd_") && fresh != secret);
    assert_eq!(call(&app, &secret).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, &fresh).await.status(), StatusCode::OK);

    // The Endpoints tab names what breaks.
    b.open(&format!("/datahub/keys/{id}")).await;
    b.click_link("Endpoints (1)").await;
    b.expect_text("Deactivating or deleting the key breaks calls to these endpoints").await;
    b.expect_text("/hub/analytics/sales").await;

    // Deactivate: refused on the next call.
    b.click_link("Settings").await;
    b.tick("Inactive").await;
    b.click_button("Save key").await;
    b.expect_text("Saved the key Partner ACME").await;
    let res = call(&app, &fresh).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "key_inactive");

    // The table lists it with its facts.
    b.click_link("API Keys").await;
    b.expect_text("1 key").await;
    b.expect_text("inactive").await;

    // A team, and a portal token that names it (its fields show once the type is chosen).
    b.open("/admin/teams").await;
    b.expect_text("No teams yet").await;
    b.fill("Team name", "Finance").await;
    b.tick("Ada").await;
    b.click_button("Create team").await;
    b.expect_text("Created the team Finance").await;
    b.open("/datahub/keys/new").await;
    b.tick("Portal token").await;
    b.expect_text("Who may call with their own personal key").await;
    b.fill("Name", "Finance portal").await;
    b.tick("Finance").await;
    b.tick("/hub/analytics/sales").await;
    b.click_button("Create key").await;
    b.expect_text("Created the key Finance portal").await;
    let res = call(&app, &key).await;
    assert_eq!(res.status(), StatusCode::OK, "Ada's personal key passes through the team");

    // A weak generic token is named while it is typed (with the script),
    // without taking the cursor away; without it, after saving.
    b.open("/datahub/keys/new").await;
    b.tick("Generic token").await;
    b.fill("Name", "Legacy partner").await;
    b.type_into("Token value", "MyCompanyPassword2026!!xyz").await;
    if javascript {
        b.expect_text("contains the common word “password”").await;
        b.expect_focused("#f-token").await;
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM hub_keys WHERE name = 'Legacy partner'").await,
            0,
            "nothing saved while typing"
        );
    }
    b.tick("/hub/analytics/sales").await;
    b.click_button("Create key").await;
    b.expect_text("Created the key Legacy partner").await;
    b.expect_text("contains the common word “password”").await;
    b.close().await;
}

#[tokio::test]
async fn browser_hub_key_editor_journey() {
    editor_journey(true).await;
}

#[tokio::test]
async fn browser_hub_key_editor_works_without_javascript() {
    editor_journey(false).await;
}
