use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn first_visit_leads_to_setup() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = c.get("/").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/setup");
    let res = c.get("/login").await;
    assert_eq!(location(&res), "/setup", "no one can sign in before setup");
}

#[tokio::test]
async fn setup_creates_admin_and_workspace_and_signs_in() {
    let app = TestApp::spawn().await;
    let c = app.with_admin().await;
    let html = c.get_html("/").await;
    assert!(html.contains(WORKSPACE), "dashboard names the workspace");
    assert!(html.contains("admin"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM members WHERE role = 'admin'").await, 1);
    let hash: i64 =
        app.count("SELECT COUNT(*) AS n FROM users WHERE password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'").await;
    assert_eq!(hash, 1, "password stored as argon2id with OWASP parameters");
}

#[tokio::test]
async fn setup_refuses_a_wrong_code_and_keeps_the_input() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = c.setup("WRONG-CODE-00000", "ada@example.com", "Ada", ADMIN_PASSWORD, "Analytics").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("This is not the setup code"));
    assert!(html.contains("value=\"ada@example.com\""), "email kept");
    assert!(html.contains("value=\"Analytics\""), "workspace kept");
    assert!(!html.contains(ADMIN_PASSWORD), "password is never echoed");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
}

#[tokio::test]
async fn setup_validates_each_field() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = c.setup(&app.setup_code, "not-an-email", "", "short", "").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for msg in ["name@example.com", "Enter a display name.", "at least 12 characters", "Enter a workspace name."] {
        assert!(html.contains(msg), "missing message: {msg}");
    }
    assert!(html.contains("aria-describedby=\"e-email\""), "error tied to its field");
}

#[tokio::test]
async fn setup_is_gone_once_a_user_exists() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let other = app.client();
    assert_eq!(other.get("/setup").await.status(), StatusCode::NOT_FOUND);
    let res = other
        .post_form(
            "/login",
            "/setup",
            &[
                ("setup_code", &app.setup_code),
                ("email", "eve@example.com"),
                ("display_name", "Eve"),
                ("password", "eve password 123"),
                ("workspace", "Evil"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
}

#[tokio::test]
async fn two_simultaneous_setups_create_exactly_one_admin() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.client(), app.client());
    let ta = csrf_token(&a.get("/setup").await.text().await.unwrap());
    let tb = csrf_token(&b.get("/setup").await.text().await.unwrap());
    let code = app.setup_code.clone();
    let fields_a = [
        ("setup_code", code.as_str()),
        ("email", "a@example.com"),
        ("display_name", "A"),
        ("password", ADMIN_PASSWORD),
        ("workspace", "One"),
    ];
    let fields_b = [
        ("setup_code", code.as_str()),
        ("email", "b@example.com"),
        ("display_name", "B"),
        ("password", ADMIN_PASSWORD),
        ("workspace", "Two"),
    ];
    let fa = a.post_raw("/setup", &ta, &fields_a);
    let fb = b.post_raw("/setup", &tb, &fields_b);
    let (ra, rb) = tokio::join!(fa, fb);
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 404]);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM workspaces").await, 1);
}
