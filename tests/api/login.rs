use reqwest::StatusCode;

use crate::helpers::*;

/// The page minus the per-session token, for comparing two responses.
fn without_token(html: &str) -> String {
    let token = csrf_token(html);
    html.replace(&token, "TOKEN")
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_identical() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let c = app.client();
    let wrong = c.login(ADMIN_EMAIL, "not the password at all").await;
    let wrong_status = wrong.status();
    let wrong_html = without_token(&wrong.text().await.unwrap());
    let unknown = c.login("nobody@example.com", "not the password at all").await;
    let unknown_status = unknown.status();
    let unknown_html = without_token(&unknown.text().await.unwrap()).replace("nobody@example.com", ADMIN_EMAIL);
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_status, unknown_status);
    assert!(wrong_html.contains("Email or password is incorrect."));
    assert_eq!(wrong_html, unknown_html, "same page apart from the echoed email");
    assert!(wrong_html.contains(&format!("value=\"{ADMIN_EMAIL}\"")), "email kept in the form");
}

#[tokio::test]
async fn login_logout_round_trip() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let res = admin.logout().await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&admin.get("/account").await), "/login");

    let c = app.client();
    let res = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/");
    let html = c.get_html("/account").await;
    assert!(html.contains(ADMIN_EMAIL));
}

#[tokio::test]
async fn login_issues_a_new_session_id() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let c = app.client();
    let before = c.get("/login").await;
    let cookie_before =
        before.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    let token = csrf_token(&before.text().await.unwrap());
    let res = c.post_raw("/login", &token, &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
    let cookie_after = res.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(cookie_before, cookie_after);
    // Exactly one session carries the user: the pre-login one was replaced.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL").await,
        2,
        "admin from setup + this login"
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_429() {
    let app = TestApp::spawn().await;
    let _admin = app.with_admin().await;
    let c = app.client();
    for i in 0..10 {
        let res = c.login(ADMIN_EMAIL, "wrong password number").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = c.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(res.headers().contains_key("retry-after"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many failed sign-in attempts"));
    assert_eq!(location(&c.get("/account").await), "/login", "not signed in");
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site() {
    let app = TestApp::spawn().await;
    let c = app.client();
    // The session cookie comes with signing in (setup signs the first admin in).
    let res = c.setup(&app.setup_code, ADMIN_EMAIL, "Ada", ADMIN_PASSWORD, WORKSPACE).await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("keyhub_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
}

#[tokio::test]
async fn https_public_url_gives_a_secure_host_cookie() {
    let app = TestApp::spawn_with(|s| s.public_url = Some("https://keyhub.example.com".into())).await;
    let c = app.client();
    let res = c.get("/setup").await;
    let csrf_cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(csrf_cookie.starts_with("__Host-keyhub_csrf=") && csrf_cookie.contains("Secure"), "{csrf_cookie}");
    let token = csrf_token(&res.text().await.unwrap());
    let fields = [
        ("csrf_token", token.as_str()),
        ("setup_code", app.setup_code.as_str()),
        ("email", ADMIN_EMAIL),
        ("display_name", "Ada"),
        ("password", ADMIN_PASSWORD),
        ("workspace", WORKSPACE),
    ];
    // reqwest keeps no Secure cookie over http: send it back by hand.
    let seed = csrf_cookie.split(';').next().unwrap().to_owned();
    let res = c.http.post(c.url("/setup")).header("cookie", seed).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.contains("keyhub_session="))
        .expect("a session cookie");
    assert!(cookie.starts_with("__Host-keyhub_session="), "{cookie}");
    assert!(cookie.contains("Secure"));
}

#[tokio::test]
async fn a_login_flood_beyond_the_hashing_pool_is_refused_with_429_and_the_form_kept() {
    // The per-client throttle would stop the flood before any hash: lifted so
    // the password pool's own bound is what answers.
    let app = TestApp::spawn_with(|s| s.login_failures_per_client = 1_000_000).await;
    app.with_admin().await;
    let n = keyhub::auth::password::capacity() + 30;
    let mut ready = Vec::new();
    for _ in 0..n {
        let c = app.client();
        let token = csrf_token(&c.get_html("/login").await);
        ready.push((c, token));
    }
    let attempts = ready
        .iter()
        .map(|(c, token)| c.post_raw("/login", token, &[("email", ADMIN_EMAIL), ("password", "wrong password 1")]));
    let answers = futures_util::future::join_all(attempts).await;
    let mut refused = 0;
    let mut checked = 0;
    for res in answers {
        match res.status() {
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(res.headers()["retry-after"], "1");
                let html = res.text().await.unwrap();
                assert!(html.contains("Many sign-ins are being checked right now"), "{html}");
                assert!(html.contains(&format!("value=\"{ADMIN_EMAIL}\"")), "the email is kept");
            }
            StatusCode::SEE_OTHER | StatusCode::UNAUTHORIZED => checked += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused >= 1, "{n} simultaneous sign-ins exceed the pool of {}", keyhub::auth::password::capacity());
    assert!(checked >= 1, "the pool still checks passwords during a flood");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.sign_in_failed'").await,
        checked as i64,
        "refused attempts are not checked, so not audited as failed"
    );
    // After the burst the right password works at once.
    assert_eq!(app.client().login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER);
}
