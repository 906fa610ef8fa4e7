use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn display_name_can_be_changed_and_bad_input_is_explained() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let res = admin.post_form("/account", "/account/profile", &[("display_name", "Ada Lovelace")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = admin.get_html("/account").await;
    assert!(html.contains("display name has been saved"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE display_name = 'Ada Lovelace'").await, 1);

    let res = admin.post_form("/account", "/account/profile", &[("display_name", "   ")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Enter a display name."));
}

#[tokio::test]
async fn password_change_needs_the_current_password() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let new = "a new and long pässwörd ✓";
    let res = admin
        .post_form(
            "/account",
            "/account/password",
            &[("current_password", "wrong one"), ("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("not your current password"));
    let res = admin
        .post_form(
            "/account",
            "/account/password",
            &[("current_password", ADMIN_PASSWORD), ("new_password", new), ("confirm_password", "different")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let other = app.client();
    other.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(other.get("/account").await.status(), StatusCode::OK);

    let res = admin
        .post_form(
            "/account",
            "/account/password",
            &[("current_password", ADMIN_PASSWORD), ("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(admin.get("/account").await.status(), StatusCode::OK, "this session continues");
    assert_eq!(location(&other.get("/account").await), "/login", "other sessions are signed out");
    let c = app.client();
    assert_eq!(c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.login(ADMIN_EMAIL, new).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn workspace_switcher_changes_the_current_workspace() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    admin.post_form("/account", "/workspaces", &[("workspace_name", "Finance")]).await;
    let html = admin.get_html("/").await;
    assert!(html.contains("id=\"current-workspace\">Finance<"));
    let id = app.count(&format!("SELECT id AS n FROM workspaces WHERE name = '{WORKSPACE}'")).await;
    let res = admin.post_form("/", "/workspaces/switch", &[("workspace_id", &id.to_string())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = admin.get_html("/account").await;
    assert!(html.contains(&format!("id=\"current-workspace\">{WORKSPACE}<")));

    let res = admin.post_form("/account", "/workspaces", &[("workspace_name", "Finance")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("already exists"));
}
