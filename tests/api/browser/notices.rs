//! Admin → Email and the notices link in a real browser, with and without
//! JavaScript: the delivery log empty and then with a sent message, the
//! unsubscribe page asking first and stopping notices on its button, and the
//! account page turning them on again. axe-core checks every page.
use super::journeys::set_up;
use crate::helpers::*;

async fn notices_journey(javascript: bool) {
    let smtp = Smtp::start().await;
    let url = smtp.url();
    let app = TestApp::spawn_with(move |s| {
        s.smtp_url = Some(keyhub::config::Secret::new(url));
        s.mail_from = Some("keyhub <keyhub@example.com>".into());
        s.public_url = Some("https://keyhub.example.com".into());
    })
    .await;
    let b = set_up(&app, if javascript { "notices_js" } else { "notices_nojs" }, javascript).await;
    b.open("/admin/email").await;
    b.expect_text("No email yet.").await;

    let admin_id = app.count(&format!("SELECT id AS n FROM users WHERE email = '{ADMIN_EMAIL}'")).await;
    let workspace_id = app.count("SELECT MIN(id) AS n FROM workspaces").await;
    let off = keyhub::notify::recipients::unsubscribe_url(&app.state, admin_id);
    let letter = keyhub::notify::Letter {
        kind: "key_expiring",
        workspace_id: Some(workspace_id),
        subject: "A key expires in 6 days".into(),
        heading: "A key expires in 6 days".into(),
        paragraphs: vec!["Generate a new key.".into()],
        link: None,
        unsubscribe: Some(off.clone()),
    };
    assert!(keyhub::notify::send(&app.state, ADMIN_EMAIL, letter).await.expect("queued"));
    smtp.until(1).await;
    app.until("the delivery to be logged", || async {
        (app.count("SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'sent'").await == 1).then_some(())
    })
    .await;
    b.open("/admin/email").await;
    b.expect_text("A key expires in 6 days").await;
    b.expect_text("sent").await;

    // The link asks first; its button stops notices.
    b.open(off.trim_start_matches("https://keyhub.example.com")).await;
    b.expect_text("Stop notices?").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE notices_off").await, 0, "a visit changes nothing");
    b.click_button("Stop notices").await;
    b.expect_text("Notices stopped").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE notices_off").await, 1);

    b.open("/account").await;
    b.tick("Email me notices").await;
    b.click_button("Save notices").await;
    b.expect_text("Notice emails are on.").await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE notices_off").await, 0);
    b.close().await;
}

#[tokio::test]
async fn browser_email_log_and_notices_link() {
    notices_journey(true).await;
}

#[tokio::test]
async fn browser_email_log_and_notices_link_work_without_javascript() {
    notices_journey(false).await;
}
