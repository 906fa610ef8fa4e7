use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn admin_invites_and_the_invitee_joins() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let link = admin.invite("bob@example.com", "member", &["data.read", "data.write"]).await;
    assert!(link.starts_with(&format!("{}/invite/", app.address)), "{link}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations WHERE accepted_at IS NULL").await, 1);
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) AS n FROM invitations WHERE token_hash = '{token}'")).await,
        0,
        "token stored hashed"
    );

    let bob = app.client();
    let html = bob.get_html(&link).await;
    assert!(html.contains(WORKSPACE) && html.contains("bob@example.com"));
    let res = bob.accept_invitation(&link, "Bob", "bob password 1234").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let home = bob.get_html("/").await;
    assert!(home.contains("data.read") && home.contains("data.write"));
    assert!(
        home.contains("tile deactivated") && home.contains("which you do not hold here"),
        "the Admin tile says why it is off"
    );
    assert!(!home.contains("href=\"/admin/members\""), "members have no admin link");
    assert_eq!(bob.get("/admin/members").await.status(), StatusCode::FORBIDDEN);

    let members = admin.get_html("/admin/members").await;
    assert!(members.contains("bob@example.com"));
    assert!(!members.contains("Pending invitations</h2>\n  <table"), "invitation no longer pending");

    // Bob can sign out and in with his new password.
    bob.logout().await;
    assert_eq!(bob.login("bob@example.com", "bob password 1234").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn invitation_form_errors_keep_the_input() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let res = admin
        .post_form(
            "/admin/members",
            "/admin/invitations",
            &[("email", "bob@"), ("role", "member"), ("permission", "data.read")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("name@example.com"));
    assert!(html.contains("value=\"bob@\""));
    assert!(html.contains("value=\"data.read\" checked"));
    let res = admin
        .post_form(
            "/admin/members",
            "/admin/invitations",
            &[("email", "bob@example.com"), ("role", "member"), ("permission", "root.everything")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations").await, 0);
}

#[tokio::test]
async fn a_used_link_cannot_be_used_again() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let link = admin.invite("bob@example.com", "member", &[]).await;
    assert_eq!(app.client().accept_invitation(&link, "Bob", "bob password 1234").await.status(), StatusCode::SEE_OTHER);
    let again = app.client();
    let res = again.get(&link).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("already been used"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members").await, 2);
}

#[tokio::test]
async fn expired_and_revoked_links_give_a_clear_page() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let expired = admin.invite("old@example.com", "member", &[]).await;
    app.exec("UPDATE invitations SET expires_at = '2020-01-01 00:00:00+00:00' WHERE email = 'old@example.com'").await;
    let res = app.client().get(&expired).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("expired"));
    let res = app
        .client()
        .post_form(
            "/login",
            &expired,
            &[("display_name", "Old"), ("password", "old password 1234"), ("confirm_password", "old password 1234")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1, "no account made from an expired link");

    let revoked = admin.invite("gone@example.com", "member", &[]).await;
    let members = admin.get_html("/admin/invitations").await;
    let marker = "action=\"/admin/invitations/";
    let ids: Vec<String> = members
        .match_indices(marker)
        .map(|(i, _)| members[i + marker.len()..].split('/').next().unwrap().to_owned())
        .collect();
    let id = ids.iter().find(|id| id.parse::<i64>().is_ok()).expect("a revoke form").clone();
    let res = admin.post_form("/admin/members", &format!("/admin/invitations/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let _ = revoked;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations WHERE revoked_at IS NOT NULL").await, 1);

    let res = app.client().get("/invite/thisisnotatokenthisisnotatokenthisisnot").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("not valid"));
}

#[tokio::test]
async fn a_revoked_link_no_longer_works() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let link = admin.invite("gone@example.com", "member", &[]).await;
    let id = app.count("SELECT id AS n FROM invitations WHERE email = 'gone@example.com'").await;
    let res = admin.post_form("/admin/members", &format!("/admin/invitations/{id}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.client().get(&link).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("revoked"));
}

#[tokio::test]
async fn an_existing_user_joins_another_workspace_with_their_password() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let _bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    // Ada starts a second workspace and invites Bob there too.
    let res = admin.post_form("/account", "/workspaces", &[("workspace_name", "Finance")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(admin.get_html("/").await.contains("Finance"));
    let link = admin.invite("bob@example.com", "member", &["data.write"]).await;
    let c = app.client();
    let html = c.get_html(&link).await;
    assert!(html.contains("already have a keyhub account"));
    let res = c.post_form(&link, &link, &[("password", "wrong password here")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = c.post_form(&link, &link, &[("password", "member password 123")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let home = c.get_html("/").await;
    assert!(home.contains("Finance") && home.contains(WORKSPACE), "both workspaces in the switcher");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 2);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_disabled_or_removed() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let me = admin.member_id(ADMIN_EMAIL).await;
    // The role form re-renders with the message beside the permissions.
    let res = admin.post_form("/admin/members", &format!("/admin/members/{me}/role"), &[("role", "member")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at least one active admin"));
    for action in [format!("/admin/members/{me}/disable"), format!("/admin/members/{me}/remove")] {
        let res = admin.post_form("/admin/members", &action, &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{action}");
        let html = admin.get_html(&location(&res)).await;
        assert!(html.contains("at least one active admin"), "{action}: message shown");
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members WHERE role = 'admin' AND disabled = false").await, 1);
}

#[tokio::test]
async fn a_second_admin_makes_demotion_possible() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let link = admin.invite("grace@example.com", "admin", &[]).await;
    app.client().accept_invitation(&link, "Grace", "grace password 12").await;
    let me = admin.member_id(ADMIN_EMAIL).await;
    let res = admin
        .post_form(
            "/admin/members",
            &format!("/admin/members/{me}/role"),
            &[("role", "member"), ("permission", "data.read")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members WHERE role = 'admin'").await, 1);
    assert_eq!(
        admin.get("/admin/members").await.status(),
        StatusCode::FORBIDDEN,
        "a demoted admin loses the page at once"
    );
}

#[tokio::test]
async fn changing_permissions_takes_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    assert_eq!(bob.get("/admin/members").await.status(), StatusCode::FORBIDDEN);
    let id = admin.member_id("bob@example.com").await;
    let res = admin
        .post_form(
            "/admin/members",
            &format!("/admin/members/{id}/role"),
            &[("role", "member"), ("permission", "members.manage")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(bob.get("/admin/members").await.status(), StatusCode::OK);
    // A manager who is not an admin cannot grant what they lack, nor make admins.
    let res = bob
        .post_form(
            "/admin/members",
            "/admin/invitations",
            &[("email", "x@example.com"), ("role", "member"), ("permission", "data.write")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("permissions you hold yourself"));
    let res =
        bob.post_form("/admin/members", "/admin/invitations", &[("email", "x@example.com"), ("role", "admin")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations WHERE email = 'x@example.com'").await, 0);
}

#[tokio::test]
async fn disabling_or_removing_a_member_ends_their_sessions_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
    let id = admin.member_id("bob@example.com").await;
    let res = admin.post_form("/admin/members", &format!("/admin/members/{id}/disable"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&bob.get("/account").await), "/login");
    // Signing in again leads to a page that says what happened, not a dead end.
    bob.login("bob@example.com", "member password 123").await;
    assert_eq!(location(&bob.get("/").await), "/no-workspace");
    let page = bob.get_html("/no-workspace").await;
    assert!(page.contains("disabled your access to") && page.contains(WORKSPACE), "says what happened");
    assert!(page.contains("Sign out") && page.contains("action=\"/workspaces\""), "a way out");
    assert_eq!(bob.get("/account").await.status(), StatusCode::OK, "the account stays manageable");
    assert_eq!(bob.get("/admin/members").await.status(), StatusCode::FORBIDDEN);

    admin.post_form("/admin/members", &format!("/admin/members/{id}/enable"), &[]).await;
    assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
    admin.post_form("/admin/members", &format!("/admin/members/{id}/remove"), &[]).await;
    assert_eq!(location(&bob.get("/account").await), "/login");
    bob.login("bob@example.com", "member password 123").await;
    let page = bob.get_html("/no-workspace").await;
    assert!(page.contains("no longer a member of any workspace"), "removal is said in plain words");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members").await, 1);
}

#[tokio::test]
async fn ids_from_another_workspace_are_not_found() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let bob = app.with_member(&admin, "bob@example.com", &["data.read"]).await;
    let bob_member = admin.member_id("bob@example.com").await;
    let ada_member = admin.member_id(ADMIN_EMAIL).await;

    // Bob starts his own workspace, where he is admin.
    let res = bob.post_form("/account", "/workspaces", &[("workspace_name", "Bob's lab")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        bob.get_html("/admin/members").await.contains("Bob&#x27;s lab")
            || bob.get_html("/admin/members").await.contains("Bob&#39;s lab")
    );
    for action in ["disable", "remove"] {
        let res = bob.post_form("/admin/members", &format!("/admin/members/{ada_member}/{action}"), &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action} on another workspace's member");
    }
    let ada_invitation = {
        admin.invite("carol@example.com", "member", &[]).await;
        app.count("SELECT id AS n FROM invitations WHERE email = 'carol@example.com'").await
    };
    let res = bob.post_form("/admin/members", &format!("/admin/invitations/{ada_invitation}/revoke"), &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM invitations WHERE revoked_at IS NOT NULL").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members WHERE disabled = true").await, 0);
    let _ = bob_member;

    // Switching to a workspace one is not a member of is refused too.
    let bob_ws = app.count("SELECT id AS n FROM workspaces WHERE name = 'Bob''s lab'").await;
    let res = admin.post_form("/", "/workspaces/switch", &[("workspace_id", &bob_ws.to_string())]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_members_list_searches_sorts_and_paginates_on_the_server() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let admin = app.client_for_admin().await;
    let ws = app.count("SELECT id AS n FROM workspaces").await;
    for i in 0..30 {
        app.exec(&format!(
            "INSERT INTO users (email, display_name, password_hash, created_at) VALUES ('p{i:02}@example.com', 'Person {i:02}', 'x', CURRENT_TIMESTAMP)"
        ))
        .await;
        let disabled = if i % 10 == 0 { "true" } else { "false" };
        app.exec(&format!(
            "INSERT INTO members (workspace_id, user_id, role, permissions, disabled, created_at) \
             SELECT {ws}, id, 'member', 'data.read', {disabled}, CURRENT_TIMESTAMP FROM users WHERE email = 'p{i:02}@example.com'"
        ))
        .await;
    }
    let first = admin.get_html("/admin/members").await;
    assert!(first.contains("Page 1 of 2 (31 in all)"), "25 a page");
    assert!(first.contains("p00@example.com") && !first.contains("p29@example.com"));
    let second = admin.get_html("/admin/members?page=2").await;
    assert!(second.contains("p29@example.com") && !second.contains("p00@example.com"));
    let desc = admin.get_html("/admin/members?sort=name&dir=desc").await;
    assert!(desc.contains("p29@example.com") && desc.contains("aria-sort=\"descending\""));
    let by_status = admin.get_html("/admin/members?sort=status&dir=desc").await;
    let first_row = &by_status[by_status.find("<tbody>").unwrap()..];
    assert!(
        first_row[..first_row.find("</tr>").unwrap()].contains("disabled"),
        "disabled members first when sorted so"
    );
    let found = admin.get_html("/admin/members?q=person+07").await;
    assert!(found.contains("p07@example.com") && !found.contains("p08@example.com"));
    let none = admin.get_html("/admin/members?q=nobody").await;
    assert!(none.contains("No member matches"));
}
