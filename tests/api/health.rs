use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn healthz_is_ok_while_the_database_answers() {
    let app = TestApp::spawn().await;
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn healthz_is_503_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    // Closing the shared pool leaves the app without a database.
    app.db.clone().close().await.unwrap();
    let res = app.client().get("/healthz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Pages fail with a generic page, not SQL.
    let res = app.client().get("/").await;
    assert!(res.status().is_server_error());
    let html = res.text().await.unwrap();
    assert!(html.contains("request id") && !html.to_lowercase().contains("pool"), "{html}");
}
