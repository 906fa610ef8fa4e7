//! Personal API keys: the tab, the key format, and what a key may do.
use reqwest::StatusCode;

use crate::helpers::*;

async fn key_id(app: &TestApp, label: &str) -> i64 {
    app.count(&format!("SELECT id AS n FROM personal_keys WHERE label = '{label}'")).await
}

#[tokio::test]
async fn the_form_offers_exactly_the_users_permissions_none_checked() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read", "ontology.edit"]).await;
    let html = bob.get_html("/account/keys").await;
    assert!(html.contains("value=\"data.read\">") && html.contains("value=\"ontology.edit\">"));
    for absent in ["data.write", "members.manage", "hub_keys.manage", "connectors.manage"] {
        assert!(!html.contains(&format!("value=\"{absent}\"")), "{absent} must not be offered");
    }
    assert!(!html.contains("checked"), "least privilege: nothing pre-checked");
    assert!(html.contains("can never do more than you can"));
}

#[tokio::test]
async fn a_forged_form_cannot_grant_more_than_the_user_holds() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    let (status, secret, html) = bob.generate_key("sneaky", &["data.read", "members.manage"], "never").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(secret.is_none());
    assert!(html.contains("only carry permissions you hold"));
    assert!(html.contains("value=\"sneaky\""), "label kept");
    let (status, _, _) = bob.generate_key("bogus", &["root.all"], "never").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys").await, 0);
}

#[tokio::test]
async fn generated_key_is_shown_once_and_stored_only_as_a_digest() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let res = admin
        .post_form(
            "/account/keys",
            "/account/keys",
            &[("label", "export"), ("expires", "90"), ("permission", "data.read")],
        )
        .await;
    // A plain post redirects: reloading the page that shows the secret never posts again.
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM sessions WHERE state LIKE '%personal_key_show_once%' AND state NOT LIKE '%khp%'"
        )
        .await,
        1,
        "waiting sealed, never in the clear"
    );
    let res = admin.follow(res).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("you will not see this secret again"));
    let secret = attr_after(&html, "id=\"new-secret\" type=\"text\" readonly value=\"").unwrap();
    let reloaded = admin.get_html("/account/keys").await;
    assert!(!reloaded.contains(&secret) && !reloaded.contains("new-secret"), "shown once: a reload shows it no more");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys").await, 1, "and made one key");
    assert!(secret.starts_with("khp_") && secret.len() == 42, "{secret}");
    assert!(html.contains("hx-history=\"false\""), "never kept in htmx history");

    let later = admin.get_html("/account/keys").await;
    assert!(!later.contains(&secret), "never in a page's initial HTML after creation");
    let identifier = format!("khp_…{}", &secret[secret.len() - 4..]);
    assert!(later.contains(&identifier), "the identifier is shown instead");

    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM personal_keys WHERE secret_hash = '{secret}'")).await, 0);
    let digest = keyhub::domain::keys::KeySecret::parse(&secret).unwrap().digest();
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM personal_keys WHERE secret_hash = '{digest}'")).await, 1);
}

#[tokio::test]
async fn label_is_required_and_unique_per_user_and_workspace() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let (status, _, html) = admin.generate_key("  ", &[], "never").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Give the key a label"));
    admin.new_key("ci", &[]).await;
    let (status, _, html) = admin.generate_key("ci", &["data.read"], "never").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("already have a key with this label"));
    assert!(html.contains("value=\"data.read\" checked"), "choices kept");
    let (status, _, html) = admin.generate_key("dated", &[], "date").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Choose the date"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys").await, 1);
}

#[tokio::test]
async fn every_way_of_sending_the_key_is_accepted() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("script", &["data.read", "members.manage"]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/me", app.address);
    for (how, req) in [
        ("bearer", http.get(&url).header("Authorization", format!("Bearer {key}"))),
        ("apikey scheme", http.get(&url).header("Authorization", format!("Apikey {key}"))),
        ("x-api-key", http.get(&url).header("X-API-Key", key.as_str())),
        ("query", http.get(format!("{url}?apikey={key}"))),
    ] {
        let r = app.api_with(req).await;
        assert_eq!(r.status, StatusCode::OK, "{how}");
        assert_eq!(r.body["workspace"]["name"], WORKSPACE, "{how}");
        assert_eq!(r.body["owner"]["email"], ADMIN_EMAIL);
        assert_eq!(r.body["permissions"], serde_json::json!(["data.read", "members.manage"]));
        assert!(r.body["key"]["identifier"].as_str().unwrap().starts_with("khp_…"));
    }
    let ping = app.api("/api/v1/ping", &key).await;
    assert_eq!((ping.status, ping.body["ok"].as_bool()), (StatusCode::OK, Some(true)));
}

#[tokio::test]
async fn bad_keys_get_a_clean_401_with_a_stable_code() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("script", &[]).await;
    let mut broken = key.clone().into_bytes();
    broken[8] = if broken[8] == b'A' { b'B' } else { b'A' };
    let broken = String::from_utf8(broken).unwrap();
    let unknown = keyhub::domain::keys::KeySecret::generate();
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/me", app.address);
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        ("no key", http.get(&url), "missing_key"),
        ("empty bearer", http.get(&url).header("Authorization", "Bearer "), "missing_key"),
        ("truncated", http.get(&url).header("Authorization", format!("Bearer {}", &key[..30])), "malformed_key"),
        ("checksum broken", http.get(&url).header("Authorization", format!("Bearer {broken}")), "malformed_key"),
        ("oversized", http.get(&url).header("X-API-Key", "k".repeat(8000)), "malformed_key"),
        (
            "non-ASCII",
            http.get(&url).header("X-API-Key", reqwest::header::HeaderValue::from_bytes("khp_ÿÿÿ".as_bytes()).unwrap()),
            "malformed_key",
        ),
        ("basic auth", http.get(&url).header("Authorization", "Basic YTpi"), "malformed_key"),
        (
            "unknown but well-formed",
            http.get(&url).header("Authorization", format!("Bearer {}", unknown.expose())),
            "unknown_key",
        ),
    ];
    for (what, req, code) in cases {
        let r = app.api_with(req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(r.code.as_deref(), Some(code), "{what}");
        assert!(r.body["error"]["message"].as_str().unwrap().len() > 10, "{what}: a human sentence");
    }
}

#[tokio::test]
async fn rights_follow_the_owner_demote_restore_disable_remove() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read", "members.manage"]).await;
    let key = bob.new_key("bob-script", &["data.read", "members.manage"]).await;
    let bob_member = admin.member_id("bob@example.com").await;
    assert_eq!(app.api("/api/v1/members", &key).await.status, StatusCode::OK);

    // Demote: the key loses members.manage on the very next request.
    admin
        .post_form(
            "/admin/members",
            &format!("/admin/members/{bob_member}/role"),
            &[("role", "member"), ("permission", "data.read")],
        )
        .await;
    let r = app.api("/api/v1/members", &key).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::FORBIDDEN, Some("insufficient_permission")));
    assert_eq!(app.api("/api/v1/me", &key).await.body["permissions"], serde_json::json!(["data.read"]));

    // Restore: it regains them.
    admin
        .post_form(
            "/admin/members",
            &format!("/admin/members/{bob_member}/role"),
            &[("role", "member"), ("permission", "data.read"), ("permission", "members.manage")],
        )
        .await;
    assert_eq!(app.api("/api/v1/members", &key).await.status, StatusCode::OK);

    // Disable: refused; enable: back.
    admin.post_form("/admin/members", &format!("/admin/members/{bob_member}/disable"), &[]).await;
    let r = app.api("/api/v1/me", &key).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNAUTHORIZED, Some("owner_inactive")));
    admin.post_form("/admin/members", &format!("/admin/members/{bob_member}/enable"), &[]).await;
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);

    // Remove: refused, and the key is revoked for good.
    admin.post_form("/admin/members", &format!("/admin/members/{bob_member}/remove"), &[]).await;
    let r = app.api("/api/v1/me", &key).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(matches!(r.code.as_deref(), Some("owner_inactive") | Some("revoked_key")), "{:?}", r.code);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys WHERE revoked_at IS NOT NULL").await, 1);
}

#[tokio::test]
async fn a_key_works_only_in_its_own_workspace() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let _bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    let key_a = admin.new_key("analytics", &["members.manage"]).await;
    admin.post_form("/account", "/workspaces", &[("workspace_name", "Finance")]).await;
    let key_b = admin.new_key("finance", &["members.manage"]).await;

    let a = app.api("/api/v1/members", &key_a).await;
    let emails: Vec<&str> = a.body.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec![ADMIN_EMAIL, "bob@example.com"]);
    let b = app.api("/api/v1/members", &key_b).await;
    let emails: Vec<&str> = b.body.as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, vec![ADMIN_EMAIL], "Finance has only Ada");
    assert_eq!(app.api("/api/v1/me", &key_b).await.body["workspace"]["name"], "Finance");

    // Keys of one workspace are not listed, rotated or revoked from another.
    let id_a = key_id(&app, "analytics").await;
    let res = admin.post_form("/account/keys", &format!("/account/keys/{id_a}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "current workspace is Finance");
    assert!(!admin.get_html("/account/keys").await.contains("analytics"));
    assert_eq!(app.api("/api/v1/me", &key_a).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_key_is_refused_on_the_next_request_and_audited() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("doomed", &["data.read"]).await;
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);
    let id = key_id(&app, "doomed").await;
    let res = admin.post_form("/account/keys", &format!("/account/keys/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "a plain post ends in a redirect");
    let r = app.api("/api/v1/me", &key).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNAUTHORIZED, Some("revoked_key")));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.revoked'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.refused_revoked'").await, 1);

    // Still listed, as revoked, and then it can be deleted.
    let card = format!("id=\"key-{id}\"");
    let html = admin.get_html("/account/keys?status=revoked").await;
    assert!(html.contains(&card) && html.contains("badge-revoked"));
    assert!(html.contains("Revoked 20") && html.contains("by <bdi>Ada &#60;"), "when and by whom");
    assert!(!admin.get_html("/account/keys?status=active").await.contains(&card));
    let res = admin.post_form("/account/keys", &format!("/account/keys/{id}/delete"), &[("status", "revoked")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account/keys?status=revoked", "the filter stays after deleting");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys").await, 0);
    assert_eq!(app.api("/api/v1/me", &key).await.code.as_deref(), Some("unknown_key"));
}

/// A bulk change written elsewhere (here: SQL plus a new value of the
/// personal-keys marker, as `keyhub bench-seed` leaves them): this node's
/// follower notices the marker (pushed on PostgreSQL, else at its next poll)
/// and reloads in the background, after which
/// `key` is refused with `code`. Requests meanwhile are served from the old
/// snapshot, never made to wait for the reload.
async fn changed_elsewhere(app: &TestApp, key: &str, code: &str) {
    let marker = keyhub::domain::tokens::random_token(16);
    app.exec(&format!(
        "INSERT INTO instance_facts (name, value, created_at) VALUES ('keys_version', '{marker}', '2026-01-01 00:00:00+00:00') \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value"
    ))
    .await;
    app.until("the change made elsewhere to be picked up", || async move {
        (app.api("/api/v1/me", key).await.code.as_deref() == Some(code)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let old = admin.new_key("rotating", &["data.read"]).await;
    let id = key_id(&app, "rotating").await;
    let res = admin
        .follow(admin.post_form("/account/keys", &format!("/account/keys/{id}/rotate"), &[("grace", "1h")]).await)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let new = attr_after(&html, "id=\"new-secret\" type=\"text\" readonly value=\"").expect("new secret shown once");
    assert_ne!(old, new);
    assert!(html.contains("old secret keeps working until"));
    assert_eq!(app.api("/api/v1/me", &new).await.status, StatusCode::OK);
    assert_eq!(app.api("/api/v1/me", &old).await.status, StatusCode::OK, "within the grace period");
    assert_eq!(app.api("/api/v1/me", &old).await.body["key"]["id"], id, "same key settings");

    // The grace period ends: the old secret is refused, the new one works.
    app.exec("UPDATE personal_keys SET previous_valid_until = '2020-01-01 00:00:00+00:00'").await;
    changed_elsewhere(&app, &old, "unknown_key").await;
    assert_eq!(app.api("/api/v1/me", &old).await.code.as_deref(), Some("unknown_key"));
    assert_eq!(app.api("/api/v1/me", &new).await.status, StatusCode::OK);

    // Without grace the old secret stops at once.
    let res = admin
        .follow(admin.post_form("/account/keys", &format!("/account/keys/{id}/rotate"), &[("grace", "none")]).await)
        .await;
    let newer = attr_after(&res.text().await.unwrap(), "id=\"new-secret\" type=\"text\" readonly value=\"").unwrap();
    assert_eq!(app.api("/api/v1/me", &new).await.code.as_deref(), Some("unknown_key"));
    assert_eq!(app.api("/api/v1/me", &newer).await.status, StatusCode::OK);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.rotated'").await, 2);
}

#[tokio::test]
async fn expired_keys_are_refused_and_near_expiry_is_flagged() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let soon = (chrono::Utc::now() + chrono::Duration::days(5)).format("%Y-%m-%d").to_string();
    let res = admin
        .follow(
            admin
                .post_form(
                    "/account/keys",
                    "/account/keys",
                    &[("label", "short-lived"), ("expires", "date"), ("expires_on", &soon)],
                )
                .await,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let key = attr_after(&res.text().await.unwrap(), "id=\"new-secret\" type=\"text\" readonly value=\"").unwrap();
    let html = admin.get_html("/account/keys?status=expiring").await;
    assert!(html.contains("short-lived") && html.contains("badge-expiring"));
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);

    app.exec("UPDATE personal_keys SET expires_at = '2020-01-01 00:00:00+00:00' WHERE label = 'short-lived'").await;
    changed_elsewhere(&app, &key, "expired_key").await;
    let r = app.api("/api/v1/me", &key).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::UNAUTHORIZED, Some("expired_key")));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'key.refused_expired'").await, 1);
    assert!(admin.get_html("/account/keys?status=expired").await.contains("short-lived"));
}

#[tokio::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let key = admin.new_key("used", &[]).await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM personal_keys WHERE last_used_at IS NULL").await, 1);
    app.api("/api/v1/me", &key).await;
    app.until("last use and IP to be recorded", || async {
        (app.count("SELECT COUNT(*) AS n FROM personal_keys WHERE last_used_ip = '127.0.0.1'").await == 1).then_some(())
    })
    .await;
    app.exec("UPDATE personal_keys SET last_used_ip = 'marker'").await;
    // Whether a use is written is decided within the request: none of these
    // five starts a write (the count of started writes stays), so none can land later.
    let started = app.state.keys.uses_written();
    for _ in 0..5 {
        app.api("/api/v1/me", &key).await;
    }
    assert_eq!(app.state.keys.uses_written(), started, "no write started within the minute");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM personal_keys WHERE last_used_ip = 'marker'").await,
        1,
        "no write within the minute"
    );
    assert!(admin.get_html("/account/keys").await.contains("from marker"), "the card shows last use and IP");
}

#[tokio::test]
async fn admins_see_and_revoke_every_key_of_the_workspace() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    let key = bob.new_key("bob-laptop", &["data.read"]).await;
    let bob_member = admin.member_id("bob@example.com").await;
    let members = admin.get_html(&format!("/admin/members/{bob_member}")).await;
    assert!(members.contains("bob-laptop") && members.contains("bob@example.com"));
    assert!(!members.contains(&key));
    let id = key_id(&app, "bob-laptop").await;
    let res = admin.post_form("/admin/members", &format!("/admin/keys/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.api("/api/v1/me", &key).await.code.as_deref(), Some("revoked_key"));
    assert!(admin.get_html("/admin/audit").await.contains("key.created"), "audit log shows the workspace's events");
    // A member without members.manage cannot.
    assert_eq!(
        bob.post_form("/account/keys", &format!("/admin/keys/{id}/revoke"), &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    // Bob sees his own activity on his account page, including the admin's revocation of his key.
    let tab = bob.get_html("/account").await;
    assert!(tab.contains("key.created"));
    assert!(tab.contains("key.revoked"), "the admin's revocation is on the owner's tab");
    assert!(tab.contains(&format!("Ada &#60;{ADMIN_EMAIL}&#62;")), "with who did it");
}

#[tokio::test]
async fn the_api_is_described_by_openapi_and_a_docs_page() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(format!("{}/api/v1/openapi.json", app.address)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/me"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/members"]["get"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let html = reqwest::get(format!("{}/api/docs", app.address)).await.unwrap().text().await.unwrap();
    for needle in ["/api/v1/me", "insufficient_permission", "owner_inactive", "X-API-Key"] {
        assert!(html.contains(needle), "docs mention {needle}");
    }
    let r = app.api("/api/v1/nothing-here", "x").await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn api_refusals_outside_handlers_are_json_too() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new().post(format!("{}/api/v1/me", app.address)).send().await.unwrap();
    let r = ApiReply::read(res).await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
}

#[tokio::test]
async fn a_manager_who_is_not_admin_cannot_revoke_an_admins_key() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let manager = app.with_member(&admin, "mia@example.com", &["members.manage"]).await;
    let key = admin.new_key("admin-key", &[]).await;
    let id = key_id(&app, "admin-key").await;
    let admin_member = manager.member_id(ADMIN_EMAIL).await;
    let res = manager.post_form("/admin/members", &format!("/admin/keys/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        manager.get_html(&format!("/admin/members/{admin_member}")).await.contains("Only admins can revoke an admin")
    );
    assert_eq!(app.api("/api/v1/me", &key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_keys_tab_pages_on_the_server_and_keeps_the_filter() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    for i in 0..27 {
        admin.new_key(&format!("paged {i:02}"), &["data.read"]).await;
    }
    let first = admin.get_html("/account/keys").await;
    assert!(first.contains("Page 1 of 2 (27 keys)"), "{first}");
    assert_eq!(first.matches("<tr id=\"key-").count(), 25, "one page of 25");
    assert!(first.contains("paged 26") && !first.contains("paged 01"), "newest first");
    assert!(first.contains("href=\"/account/keys?page=2\""));
    let second = admin.get_html("/account/keys?page=2").await;
    assert_eq!(second.matches("<tr id=\"key-").count(), 2);
    assert!(second.contains("paged 00") && second.contains("paged 01") && second.contains("rel=\"prev\""));
    let past = admin.get_html("/account/keys?page=9").await;
    assert!(past.contains("Page 2 of 2") && past.contains("paged 00"), "a page past the end shows the last one");

    // Filtered in the database: the count and the links keep the status.
    let id = app.count("SELECT id AS n FROM personal_keys WHERE label = 'paged 00'").await;
    admin.post_form("/account/keys", &format!("/account/keys/{id}/revoke"), &[]).await;
    let revoked = admin.get_html("/account/keys?status=revoked").await;
    assert_eq!(revoked.matches("<tr id=\"key-").count(), 1);
    assert!(revoked.contains("paged 00") && !revoked.contains("Page 1 of"));
    let active = admin.get_html("/account/keys?status=active").await;
    assert!(
        active.contains("Page 1 of 2 (26 keys)") && active.contains("href=\"/account/keys?status=active&#38;page=2\""),
        "{active}"
    );
}
