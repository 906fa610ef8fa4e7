use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let c = app.client();
    let res = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Keep a copy of the cookie, as someone who stole it would.
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let thief = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let stolen = || thief.get(format!("{}/account", app.address)).header("Cookie", cookie.clone()).send();
    assert_eq!(stolen().await.unwrap().status(), StatusCode::OK, "the copied cookie works while signed in");

    assert_eq!(c.logout().await.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&c.get("/account").await), "/login");
    let res = stolen().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login", "the copied cookie died with the logout");
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    assert_eq!(admin.get("/account").await.status(), StatusCode::OK);
    app.exec("UPDATE sessions SET expires_at = '2020-01-01 00:00:00+00:00'").await;
    assert_eq!(location(&admin.get("/account").await), "/login");
}

#[tokio::test]
async fn sessions_end_after_their_absolute_lifetime_even_when_active() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    assert_eq!(admin.get("/account").await.status(), StatusCode::OK);
    app.exec("UPDATE sessions SET created_at = '2020-01-01 00:00:00+00:00'").await;
    assert_eq!(location(&admin.get("/account").await), "/login");
}

#[tokio::test]
async fn the_table_keeps_only_a_digest_of_the_session_key() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = c.setup(&app.setup_code, ADMIN_EMAIL, "Ada", ADMIN_PASSWORD, WORKSPACE).await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("keyhub_session="))
        .expect("a session cookie");
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE LENGTH(id) = 64").await, 1);
    assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE state LIKE '%{}%'", &value[..8])).await, 0);
}
