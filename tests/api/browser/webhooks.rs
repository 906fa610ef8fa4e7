//! Admin → Webhooks in a real browser, with and without JavaScript: a
//! refused form keeps its input with the messages beside the fields, the
//! signing secret is shown once, "Send test event" reaches a receiver that
//! verifies it with the Standard Webhooks reference library, the delivery
//! log shows the attempt, delete is confirmed. axe-core checks every page.
use super::journeys::set_up;
use crate::helpers::*;

async fn webhooks_journey(javascript: bool) {
    let app = TestApp::spawn_with(|s| s.connectors_allow_private = true).await;
    let b = set_up(&app, if javascript { "webhooks_js" } else { "webhooks_nojs" }, javascript).await;
    b.open("/admin/webhooks").await;
    b.expect_text("No webhooks yet.").await;

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    b.fill("URL", &url).await;
    b.click_button("Create webhook").await;
    b.expect_text("Choose at least one event.").await;
    assert_eq!(b.value_of("#f-url").await, url, "the input is kept");
    b.tick("hub_key.created").await;
    b.tick("sync.failed").await;
    b.click_button("Create webhook").await;
    b.expect_text("Signing secret").await;
    let secret = b.value_of("#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let receiver = Receiver::start(port, &secret, 0).await;

    b.click_button("Send test event").await;
    b.expect_text("Test event queued").await;
    b.expect_no_text("Signing secret").await;
    let got = receiver.until(1).await;
    assert_eq!((got[0]["type"].as_str(), got[0]["verified"].as_bool()), (Some("webhook.test"), Some(true)));
    app.until("the delivery to be logged", || async {
        (app.count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = 'delivered'").await == 1).then_some(())
    })
    .await;
    b.open("/admin/webhooks").await;
    b.click_link(&url).await;
    b.expect_text("webhook.test").await;
    b.expect_text("delivered").await;
    b.expect_text("204").await;

    b.click_button("Delete webhook").await;
    if javascript {
        b.confirm_dialog().await;
    } else {
        b.expect_text("Nothing more is delivered to").await;
        b.click_button("Delete webhook").await;
    }
    b.expect_text("Deleted the webhook to").await;
    b.expect_text("No webhooks yet.").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM webhook_deliveries").await, 0);
    b.close().await;
}

#[tokio::test]
async fn browser_webhooks_create_test_and_delete() {
    webhooks_journey(true).await;
}

#[tokio::test]
async fn browser_webhooks_work_without_javascript() {
    webhooks_journey(false).await;
}
