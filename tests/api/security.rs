use reqwest::StatusCode;

use crate::helpers::*;

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP")).to_str().unwrap();
    for directive in
        ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]
    {
        assert!(csp.contains(directive), "{what}: CSP lacks {directive}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: CSP must stay strict");
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{what}");
    assert!(h.contains_key("referrer-policy"), "{what}: referrer-policy");
    assert!(h.contains_key("x-request-id"), "{what}: request id");
}

#[tokio::test]
async fn every_kind_of_response_carries_security_headers() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let page = admin.get("/account").await;
    assert_security_headers(&page, "page");
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");

    let html = admin.get_html("/").await;
    let css = attr_after(&html, "rel=\"stylesheet\" href=\"").unwrap();
    let asset = admin.get(&css).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert_security_headers(&asset, "static");
    assert!(asset.headers().get("cache-control").unwrap().to_str().unwrap().contains("immutable"));
    assert!(asset.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/css"));

    let missing = admin.get("/no/such/page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&missing, "404");

    let token = csrf_token(&admin.get_html("/admin/members").await);
    let fragment = admin
        .http
        .post(admin.url("/admin/invitations"))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &token)
        .form(&[("email", "frag@example.com"), ("role", "member")])
        .send()
        .await
        .unwrap();
    assert_eq!(fragment.status(), StatusCode::OK);
    assert_security_headers(&fragment, "htmx fragment");
    let body = fragment.text().await.unwrap();
    assert!(body.trim_start().starts_with("<div id=\"invite-panel\">"), "fragment only, not a page");
    assert!(!body.contains("<html"));
}

#[tokio::test]
async fn html_loads_scripts_only_from_files() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    for path in ["/", "/account", "/admin/members"] {
        let html = admin.get_html(path).await;
        assert!(
            !html.contains("<script>")
                && !html.contains(" style=")
                && !html.contains("<style")
                && !html.contains("hx-on"),
            "{path} has inline script or style"
        );
    }
    let html = admin.get_html("/").await;
    let htmx = attr_after(&html, "<script src=\"").unwrap();
    assert!(htmx.contains("htmx-2.0.11/htmx.min.js"));
    let res = admin.get(&htmx).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("htmx"));
}

#[tokio::test]
async fn error_pages_show_a_request_id_and_no_internals() {
    let app = TestApp::spawn().await;
    let c = app.client();
    let res = c.get("/invite/not-a-real-token/extra").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let id = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let html = res.text().await.unwrap();
    assert!(html.contains(&id), "page shows the request id");
    assert!(html.contains("<nav") || html.contains("class=\"topbar\""), "rendered in the layout");

    // A malformed path parameter must not leak the parser's message.
    let admin = app.with_admin().await;
    let token = csrf_token(&admin.get_html("/admin/members").await);
    let res = admin.post_raw("/admin/members/not-a-number/disable", &token, &[]).await;
    assert!(res.status().is_client_error());
    let html = res.text().await.unwrap();
    assert!(!html.contains("ParseIntError") && !html.contains("invalid digit"), "{html}");
}

#[tokio::test]
async fn state_changing_requests_without_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let res = admin.post_raw("/account/profile", "forged-token", &[("display_name", "Mallory")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Form expired"));
    let res = admin.http.post(admin.url("/account/profile")).form(&[("display_name", "Mallory")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE display_name = 'Mallory'").await, 0);

    // Logout without a token does not end the session.
    let res = admin.http.post(admin.url("/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(admin.get("/account").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn cross_site_requests_are_refused_even_with_a_token() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    let token = csrf_token(&admin.get_html("/account").await);
    let res = admin
        .http
        .post(admin.url("/account/profile"))
        .header("Origin", "https://evil.example")
        .form(&[("csrf_token", token.as_str()), ("display_name", "Mallory")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .http
        .post(admin.url("/account/profile"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("csrf_token", token.as_str()), ("display_name", "Mallory")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE display_name = 'Mallory'").await, 0);

    // The same request from our own origin works.
    let res = admin
        .http
        .post(admin.url("/account/profile"))
        .header("Origin", app.address.as_str())
        .form(&[("csrf_token", token.as_str()), ("display_name", "Ada L.")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE display_name = 'Ada L.'").await, 1);
}

#[tokio::test]
async fn get_never_changes_state() {
    let app = TestApp::spawn().await;
    let admin = app.with_admin().await;
    assert_eq!(admin.get("/logout").await.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(admin.get("/account").await.status(), StatusCode::OK, "still signed in");
}
