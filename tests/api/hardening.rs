//! The defects found in the first release, each with the test that failed
//! before its fix (issue 7): roles, managers, forwarded headers, throttles,
//! anonymous sessions, look-alike names, input conformance, file modes,
//! confirmations, the audit log, reset links, the frame.
use reqwest::StatusCode;

use crate::helpers::*;

async fn member_role_form(c: &Client, member: i64) -> String {
    let html = c.get_html(&format!("/admin/members/{member}")).await;
    let start = html.find("action=\"/admin/members/").expect("role form");
    html[start..start + html[start..].find("</form>").unwrap()].to_owned()
}

#[tokio::test]
async fn demoting_an_admin_saves_exactly_the_chosen_permissions_and_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let link = admin.invite("grace@example.com", "admin", &[]).await;
    app.client().accept_invitation(&link, "Grace", "grace password 12").await;
    let grace = admin.member_id("grace@example.com").await;
    let form = member_role_form(&admin, grace).await;
    assert!(!form.contains(" checked"), "no permission is pre-ticked for an admin: {form}");
    let res = admin
        .post_form(
            "/admin/members",
            &format!("/admin/members/{grace}/role"),
            &[("role", "member"), ("permission", "data.read")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM members WHERE role = 'member' AND permissions = 'data.read'").await,
        1
    );
    let audit = admin.get_html("/admin/audit?kind=member").await;
    assert!(audit.contains("member.role_changed") && audit.contains("grace@example.com"), "visible in the audit log");
    assert!(audit.contains("admin (all permissions) → member: data.read"));
}

#[tokio::test]
async fn a_manager_grants_or_takes_only_what_they_hold_and_cannot_disable_someone_who_holds_more() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let manager = app.with_member(&admin, "mia@example.com", &["members.manage", "data.read"]).await;
    let _carol = app.with_member(&admin, "carol@example.com", &["data.read", "data.write"]).await;
    let carol = admin.member_id("carol@example.com").await;
    // Taking away data.write, which the manager lacks: refused beside the field, nothing saved.
    let res = manager
        .post_form(
            "/admin/members",
            &format!("/admin/members/{carol}/role"),
            &[("role", "member"), ("permission", "data.read")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("grant or take away permissions you hold yourself"));
    let stored = app
        .count(&format!(
            "SELECT COUNT(*) AS n FROM members WHERE id = {carol} AND permissions = 'data.read data.write'"
        ))
        .await;
    assert_eq!(stored, 1, "carol keeps data.write");
    // Disabling someone who holds more: refused.
    let res = manager.post_form("/admin/members", &format!("/admin/members/{carol}/disable"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(manager.get_html(&location(&res)).await.contains("holds permissions you do not have"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members WHERE disabled = true").await, 0);
    // Taking away data.read, which the manager holds: allowed.
    let res = manager
        .post_form(
            "/admin/members",
            &format!("/admin/members/{carol}/role"),
            &[("role", "member"), ("permission", "data.write")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forwarded_host_from_an_untrusted_client_is_ignored() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let token = csrf_token(&admin.get_html("/admin/invitations").await);
    let res = admin
        .http
        .post(admin.url("/admin/invitations"))
        .header("Origin", "http://evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .header("Forwarded", "host=evil.example;proto=http")
        .form(&[("csrf_token", token.as_str()), ("email", "x@example.com"), ("role", "member")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a forged origin is refused");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations").await, 0);
    let res = admin
        .http
        .post(admin.url("/admin/invitations"))
        .header("X-Forwarded-Host", "evil.example")
        .form(&[("csrf_token", token.as_str()), ("email", "y@example.com"), ("role", "member")])
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    let link = attr_after(&html, "id=\"invite-link\" type=\"text\" readonly value=\"").unwrap();
    assert!(link.starts_with(&format!("{}/invite/", app.address)), "links are built for our own host: {link}");

    let app = TestApp::spawn_with(|s| s.public_url = Some("https://keyhub.example.com".into())).await;
    let c = app.client();
    let html = c.get("/setup").await.text().await.unwrap();
    assert!(html.contains("csrf_token"));
    drop(c);
    let _ = app;
}

#[tokio::test]
async fn refused_keys_are_rate_limited_per_address_but_valid_keys_are_not() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let good = admin.new_key("good", &[]).await;
    let mut limited = None;
    for i in 0..200 {
        let r = app.api("/api/v1/me", &format!("khp_{i:0>38}")).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r));
            break;
        }
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let (after, r) = limited.expect("bad keys are throttled");
    assert!(after >= 100, "not before the limit ({after})");
    assert_eq!(r.code.as_deref(), Some("rate_limited"));
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/me", app.address))
        .header("X-API-Key", "khp_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("retry-after").unwrap().to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        app.api("/api/v1/me", &good).await.status,
        StatusCode::OK,
        "a valid key from the same address still works"
    );
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_like_sign_ins() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let res = admin
            .post_form(
                "/account",
                "/account/password",
                &[
                    ("current_password", "wrong guess here"),
                    ("new_password", "new password 1234"),
                    ("confirm_password", "new password 1234"),
                ],
            )
            .await;
        statuses.push(res.status());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count(), 10);
    assert_eq!(*statuses.last().unwrap(), StatusCode::TOO_MANY_REQUESTS);
    let res = admin
        .post_form(
            "/account",
            "/account/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "new password 1234"),
                ("confirm_password", "new password 1234"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits out the window");
    assert!(res.text().await.unwrap().contains("Too many wrong passwords"));
}

#[tokio::test]
async fn anonymous_visitors_write_no_session_rows_and_can_still_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let link = admin.invite("bob@example.com", "member", &[]).await;
    let before = app.count("SELECT COUNT(*) AS n FROM sessions").await;
    for _ in 0..30 {
        let plain = reqwest::Client::new();
        assert_eq!(plain.get(format!("{}/login", app.address)).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(plain.get(&link).send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, before, "no row per anonymous visit");
    // The login form's CSRF token still protects it, and signing in works.
    let c = app.client();
    let res = c.post_raw("/login", "forged-token", &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, before + 1);
}

#[tokio::test]
async fn invisible_and_look_alike_names_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let res = admin.post_form("/account", "/account/profile", &[("display_name", "Ada \u{202E}nimda")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("invisible characters or text-direction controls"));
    assert_eq!(
        admin.post_form("/account", "/workspaces", &[("workspace_name", "Acme")]).await.status(),
        StatusCode::SEE_OTHER
    );
    for twin in ["acme", "Acme\u{200B}", "\u{410}cme", "ACME "] {
        let res = admin.post_form("/account", "/workspaces", &[("workspace_name", twin)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{twin:?}");
    }
    admin.post_form("/account", "/workspaces", &[("workspace_name", "Acm\u{e9}")]).await;
    let res = admin.post_form("/account", "/workspaces", &[("workspace_name", "Acme\u{301}")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "NFD twin of an NFC name");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM workspaces").await, 3);
    admin.new_key("Caf\u{e9} export", &[]).await;
    let (status, _, html) = admin.generate_key("cafe\u{301} EXPORT", &[], "never").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("already have a key with this label"));
    // Names inside sentences are isolated.
    let page = admin.get_html("/").await;
    assert!(page.contains("<bdi>"), "user text in messages sits in <bdi>");
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_a_clear_message() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let http = reqwest::Client::new();
    let big = "a".repeat(1024 * 1024);
    let res = http
        .post(format!("{}/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.text().await.unwrap().contains("larger than keyhub accepts"));
    let token = csrf_token(&admin.get_html("/account").await);
    let res = admin
        .http
        .post(admin.url("/account/profile"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&display_name=Ren%E9e"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("not valid UTF-8"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE display_name LIKE 'Ren%'").await, 0, "nothing stored");
    let long = "n".repeat(100_000);
    let res = admin.post_form("/account", "/account/profile", &[("display_name", &long)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at most 100 characters"), "a message on the field");
    let res = http.request(reqwest::Method::TRACE, format!("{}/login", app.address)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    for path in ["/healthz", "/login"] {
        let res = http.head(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "HEAD {path}");
        assert!(res.headers().contains_key("content-security-policy"));
        assert!(res.bytes().await.unwrap().is_empty(), "no body for HEAD");
    }
    let r = app.api("/api/v2/anything", "x").await;
    assert_eq!((r.status, r.code.as_deref()), (StatusCode::NOT_FOUND, Some("not_found")), "every /api answer is JSON");
}

#[cfg(unix)]
#[tokio::test]
async fn data_files_are_private_to_keyhubs_user() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let mode = |p: std::path::PathBuf| {
        std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
    };
    assert_eq!(mode(app.data_dir.path().to_path_buf()), 0o700);
    assert_eq!(mode(app.data_dir.path().join("secret")), 0o600);
    if app.database_url.starts_with("sqlite") {
        for file in ["keyhub.db", "keyhub.db-wal", "keyhub.db-shm"] {
            assert_eq!(mode(app.data_dir.path().join(file)), 0o600, "{file}");
        }
    }
}

#[tokio::test]
async fn destructive_actions_without_javascript_get_a_confirmation_page() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    admin.new_key("nightly", &[]).await;
    let id = app.count("SELECT id AS n FROM personal_keys").await;
    for (action, button) in [("rotate", "Rotate key"), ("revoke", "Revoke key")] {
        let res = admin
            .post_unconfirmed("/account/keys", &format!("/account/keys/{id}/{action}"), &[("grace", "none")])
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{action}");
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!(">{button}</button>")), "{action}: the button is named after the action");
        assert!(html.contains("name=\"confirmed\" value=\"yes\""));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM personal_keys WHERE revoked_at IS NULL AND rotated_at IS NULL").await,
        1,
        "nothing changed yet"
    );
    let bob = app.with_member(&admin, "bob@example.com", &[]).await;
    drop(bob);
    let bob_member = admin.member_id("bob@example.com").await;
    let res = admin.post_unconfirmed("/admin/members", &format!("/admin/members/{bob_member}/remove"), &[]).await;
    assert!(res.text().await.unwrap().contains(">Remove member</button>"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members").await, 2);
}

#[tokio::test]
async fn the_audit_log_records_security_events_with_names_as_they_were() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    assert_eq!(app.client().login(ADMIN_EMAIL, "wrong password!!").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.client().login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER);
    bob.logout().await;
    admin.new_key("nightly", &[]).await;
    let old = app.count("SELECT id AS n FROM personal_keys").await;
    let identifier_before = {
        let html = admin.get_html("/account/keys").await;
        attr_after(&html, "<code class=\"identifier\">").unwrap_or_default()
    };
    admin.post_form("/account/keys", &format!("/account/keys/{old}/rotate"), &[("grace", "none")]).await;
    admin.post_form("/admin/workspace", "/admin/workspace", &[("name", "Analytics Team")]).await;
    let log = admin.get_html("/admin/audit").await;
    for action in [
        "instance.setup",
        "user.signed_in",
        "user.sign_in_failed",
        "user.signed_out",
        "invitation.created",
        "invitation.accepted",
        "key.created",
        "key.rotated",
        "workspace.renamed",
    ] {
        assert!(log.contains(action), "{action} recorded");
    }
    let _ = identifier_before;
    // Filter by kind and download as CSV.
    let keys_only = admin.get_html("/admin/audit?kind=key").await;
    assert!(keys_only.contains("key.rotated") && !keys_only.contains("user.signed_in"));
    let res = admin.get("/admin/audit.csv?kind=user").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with("time,actor,action,target,detail,address")
            && csv.contains("user.sign_in_failed")
            && !csv.contains("key.created")
    );
    let bad = admin.get("/admin/audit?from=yesterday").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("YYYY-MM-DD"));
}

#[tokio::test]
async fn an_admin_makes_a_one_time_password_reset_link() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let _bob = app.with_member(&admin, "bob@example.com", &[]).await;
    let bob_member = admin.member_id("bob@example.com").await;
    let res = admin.post_form("/admin/members", &format!("/admin/members/{bob_member}/reset-link"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let link = attr_after(&res.text().await.unwrap(), "id=\"reset-link\" type=\"text\" readonly value=\"")
        .expect("link shown once");
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM password_resets WHERE token_hash = '{token}'")).await,
        0,
        "stored hashed"
    );
    let c = app.client();
    let res = c.post_form(&link, &link, &[("password", "short"), ("confirm_password", "short")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = c
        .post_form(&link, &link, &[("password", "a brand new password"), ("confirm_password", "a brand new password")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.client().login("bob@example.com", "a brand new password").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.client().get(&link).await.status(), StatusCode::GONE, "the link works once");
    assert!(admin.get_html("/admin/audit").await.contains("user.password_reset"));
}

#[tokio::test]
async fn signed_in_error_pages_keep_the_frame_and_help_names_the_support_contact() {
    let app = TestApp::spawn_with(|s| s.support_contact = Some("help@example.com".into())).await;
    let admin = app.with_admin().await;
    let res = admin.get("/admin/members/999999").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Sign out")
            && html.contains("id=\"current-workspace\"")
            && html.contains("href=\"/admin/members\""),
        "the frame stays"
    );
    let help = admin.get_html("/help").await;
    assert!(help.contains("mailto:help@example.com"));
    let res = app.client().get("/favicon.ico").await;
    assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(app.client().get(&location(&res)).await.status(), StatusCode::OK);
    let login = app.client().post_form("/login", "/login", &[("email", ""), ("password", "")]).await;
    let body = login.text().await.unwrap();
    assert!(
        body.contains("Enter your email address") && !body.contains("incorrect"),
        "an empty sign-in says what is missing"
    );
}

#[tokio::test]
async fn the_openapi_document_declares_every_refusal() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value =
        reqwest::get(format!("{}/api/v1/openapi.json", app.address)).await.unwrap().json().await.unwrap();
    for status in ["401", "404", "405", "429"] {
        assert!(doc["paths"]["/api/v1/me"]["get"]["responses"][status].is_object(), "{status} documented");
    }
    // A guarded operation names the permission refusal, one with a query its 400.
    let list = &doc["paths"]["/api/v1/hub-keys"]["get"];
    assert!(list["responses"]["403"]["description"].as_str().unwrap().contains("insufficient_permission"));
    assert!(list["responses"]["400"]["description"].as_str().unwrap().contains("invalid_query"));
    assert!(doc["paths"]["/api/v1/ping"]["get"]["responses"]["403"].is_null(), "ping needs no permission");
    // The constraints the server checks are in the document.
    let key_in = &doc["components"]["schemas"]["HubKeyIn"]["properties"];
    assert_eq!(key_in["access_type"]["enum"], serde_json::json!(["api_key", "portal_token", "generic_token"]));
    assert!(key_in["name"]["pattern"].as_str().unwrap().contains("{0,98}"));
    assert_eq!(doc["components"]["schemas"]["CollectionIn"]["properties"]["max_limit"]["maximum"], 10_000);
    let keep_tabs = doc["paths"]["/api/v1/sources/{id}"]["delete"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "keep_tabs")
        .cloned()
        .unwrap();
    assert_eq!(keep_tabs["in"], "query");
    let codes = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"].as_array().unwrap();
    assert!(codes.iter().any(|c| c == "rate_limited"));
    assert_eq!(doc["components"]["securitySchemes"]["apikey_scheme"]["name"], "Authorization");
    assert_eq!(doc["components"]["securitySchemes"]["api_key_header"]["name"], "X-API-Key");
    let docs = reqwest::get(format!("{}/api/docs", app.address)).await.unwrap().text().await.unwrap();
    assert!(docs.contains("curl -H") && !docs.contains('`'), "curl examples, no raw backticks");
}

/// A browser's failed form post redirects back to the form (Post/Redirect/Get):
/// the page shows the input and messages once, and a reload does not post again.
#[tokio::test]
async fn a_failed_form_in_a_browser_redirects_so_a_reload_does_not_post_again() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let token = csrf_token(&admin.get_html("/account").await);
    let res = admin
        .http
        .post(admin.url("/account/profile"))
        .header("Sec-Fetch-Mode", "navigate")
        .form(&[("csrf_token", token.as_str()), ("display_name", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    let page = admin.get_html("/account").await;
    assert!(page.contains("Enter a display name."), "the message beside the field");
    assert!(!admin.get_html("/account").await.contains("Enter a display name."), "shown once");

    // Before sign-in too, without a session row.
    let visitor = app.client();
    let token = csrf_token(&visitor.get_html("/login").await);
    let sessions = app.count("SELECT COUNT(*) AS n FROM sessions").await;
    let res = visitor
        .http
        .post(visitor.url("/login"))
        .header("Sec-Fetch-Mode", "navigate")
        .form(&[("csrf_token", token.as_str()), ("email", ADMIN_EMAIL), ("password", "not the password")])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/login".to_owned()));
    let page = visitor.get_html("/login").await;
    assert!(page.contains("Email or password is incorrect.") && page.contains(&format!("value=\"{ADMIN_EMAIL}\"")));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions").await, sessions);

    // A forged retry cookie is ignored.
    let forged = reqwest::Client::new()
        .get(format!("{}/login", app.address))
        .header("cookie", "keyhub_retry=0000.%7B%22path%22%3A%22%2Flogin%22%2C%22values%22%3A%5B%5D%2C%22errors%22%3A%5B%5B%22password%22%2C%22FORGED%22%5D%5D%7D")
        .send()
        .await
        .unwrap();
    assert!(!forged.text().await.unwrap().contains("FORGED"));
}

#[tokio::test]
async fn one_address_refused_keys_do_not_slow_other_clients() {
    // Behind a trusted proxy, clients are told apart by X-Forwarded-For.
    let app = TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let http = reqwest::Client::new();
    let call = |client: &'static str| {
        http.get(format!("{}/api/v1/me", app.address))
            .header("X-Forwarded-For", client)
            .header("X-API-Key", "khp_not_a_key")
    };
    let mut limited = false;
    for _ in 0..200 {
        if call("10.0.0.1").send().await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "the noisy client is throttled");
    let other = app.api_with(call("10.0.0.2")).await;
    assert_eq!(
        (other.status, other.code.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("malformed_key")),
        "another client is not"
    );
}
