//! Email against a real SMTP server (aiosmtpd): invitations and reset links
//! are emailed (and still shown to copy), expiry notices go out once each a
//! week and a day ahead, sources that start failing and recover tell the
//! admins, and a notice's unsubscribe link turns notices off. Nothing is
//! sent without `KEYHUB_SMTP_URL`.
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

const FROM: &str = "keyhub <keyhub@example.com>";

async fn app_with_mail(smtp: &Smtp) -> TestApp {
    let url = smtp.url();
    TestApp::spawn_with(move |s| {
        s.smtp_url = Some(keyhub::config::Secret::new(url));
        s.mail_from = Some(FROM.into());
        s.public_url = Some("https://keyhub.example.com".into());
        s.connectors_allow_private = true;
    })
    .await
}

#[tokio::test]
async fn invitations_and_reset_links_are_emailed_and_logged() {
    let smtp = Smtp::start().await;
    let app = app_with_mail(&smtp).await;
    let admin = app.with_admin().await;
    let link = admin.invite("bob@example.com", "member", &["data.read"]).await;
    let got = smtp.until(1).await;
    let m = &got[0];
    assert_eq!(m.to, "bob@example.com");
    assert_eq!(m.from, FROM);
    assert!(m.subject.contains("invites you to Analytics"), "{m:?}");
    assert!(m.text.contains(&link), "the plain part has the link: {}", m.text);
    assert!(m.html.contains(&format!("href=\"{link}\"")), "the HTML part links it: {}", m.html);
    assert!(!m.html.contains("<img"), "no tracking images");
    assert!(m.list_unsubscribe.is_none(), "an invitation is not a notice");

    // Bob joins; a reset link for him is emailed too, and still shown to copy.
    // The link names KEYHUB_PUBLIC_URL; this test's server is at its own address.
    assert!(link.starts_with("https://keyhub.example.com/invite/"), "{link}");
    let bob = app.client();
    let here = link.replace("https://keyhub.example.com", &app.address);
    assert_eq!(bob.accept_invitation(&here, "Bob", "bob's long password").await.status(), StatusCode::SEE_OTHER);
    let member = admin.member_id("bob@example.com").await;
    let page =
        admin.post_form(&format!("/admin/members/{member}"), &format!("/admin/members/{member}/reset-link"), &[]).await;
    let html = page.text().await.expect("body");
    assert!(html.contains("was emailed to"), "{html}");
    let reset = attr_after(&html, "id=\"reset-link\" type=\"text\" readonly value=\"").expect("the link to copy");
    let got = smtp.until(2).await;
    assert!(got[1].text.contains(&reset) && got[1].to == "bob@example.com", "{:?}", got[1]);

    // Admin → Email: both, sent, one attempt each.
    let log = admin.get_html("/admin/email").await;
    assert!(log.contains("bob@example.com") && log.contains("invitation") && log.contains("reset"), "{log}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'sent' AND attempts = 1").await, 2);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_later_and_nothing_is_sent_without_smtp() {
    // Nothing listens on this port: the attempt fails and is queued again with a wait.
    let port = free_port();
    let app = TestApp::spawn_with(move |s| {
        s.smtp_url = Some(keyhub::config::Secret::new(format!("smtp://127.0.0.1:{port}")));
        s.mail_from = Some(FROM.into());
    })
    .await;
    let admin = app.with_admin().await;
    admin.invite("carol@example.com", "member", &[]).await;
    app.until("the failed attempt to be logged", || async {
        (app.count("SELECT COUNT(*) AS n FROM mail_outbox WHERE attempts = 1").await == 1).then_some(())
    })
    .await;
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM mail_outbox WHERE state = 'queued' AND last_error IS NOT NULL").await,
        1
    );
    let wait = app.count("SELECT next_attempt_at AS n FROM mail_outbox").await - chrono::Utc::now().timestamp();
    assert!((10..=31).contains(&wait), "the first retry waits about 30 s: {wait}");

    let plain = TestApp::spawn().await;
    let admin = plain.with_admin().await;
    admin.invite("dave@example.com", "member", &[]).await;
    assert_eq!(plain.count("SELECT COUNT(*) AS n FROM mail_outbox").await, 0, "no SMTP, no queue");
}

#[tokio::test]
async fn expiring_keys_are_noticed_a_week_and_a_day_ahead_once_each_until_unsubscribed() {
    let smtp = Smtp::start().await;
    let app = app_with_mail(&smtp).await;
    let admin = app.with_admin().await;
    let (status, _, _) = admin.generate_key("nightly export", &[], "30").await;
    assert_eq!(status, StatusCode::OK);

    // Not yet within a week: nothing.
    assert_eq!(keyhub::notify::notices::expiring_keys(&app.state).await.expect("scan"), 0);
    app.state.clock.advance(Duration::from_secs(24 * 86_400));
    assert_eq!(keyhub::notify::notices::expiring_keys(&app.state).await.expect("scan"), 1);
    assert_eq!(keyhub::notify::notices::expiring_keys(&app.state).await.expect("scan"), 0, "once");
    let home = admin.get_html("/").await;
    assert!(home.contains("Your API key nightly export expires"), "the dashboard lists it too");
    let got = smtp.until(1).await;
    assert_eq!(got[0].to, ADMIN_EMAIL);
    assert!(got[0].subject.contains("nightly export") && got[0].subject.contains("in 6 days"), "{:?}", got[0]);
    let off = got[0].list_unsubscribe.clone().expect("notices say how to stop them");
    assert!(got[0].text.contains("/notices/off?u="), "{}", got[0].text);

    // A day ahead: the second notice.
    app.state.clock.advance(Duration::from_secs(5 * 86_400 + 12 * 3_600));
    assert_eq!(keyhub::notify::notices::expiring_keys(&app.state).await.expect("scan"), 1);
    let got = smtp.until(2).await;
    assert!(got[1].subject.contains("in 12 hours"), "{:?}", got[1]);

    // The unsubscribe link asks first (a GET changes nothing), then turns notices off.
    let path = off.trim_matches(['<', '>']).trim_start_matches("https://keyhub.example.com").to_owned();
    let visitor = app.client();
    let page = visitor.get_html(&path).await;
    assert!(page.contains("Stop notices?"), "{page}");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE notices_off").await, 0);
    let (u, t) = (
        path.split("u=").nth(1).unwrap().split('&').next().unwrap().to_owned(),
        path.split("t=").nth(1).unwrap().to_owned(),
    );
    let done = visitor.post_form(&path, "/notices/off", &[("u", &u), ("t", &t)]).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Notices stopped"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE notices_off").await, 1);
    // A forged token is not found.
    let forged = visitor.get(&format!("/notices/off?u={u}&t={}", "0".repeat(32))).await;
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);

    // Off: the next key's notice is noted but not sent. The profile turns them on again.
    // (The clock is 29.5 days on: a 30-day key made now expires within a day.)
    admin.generate_key("second", &[], "30").await;
    assert_eq!(keyhub::notify::notices::expiring_keys(&app.state).await.expect("scan"), 1);
    let before = app.count("SELECT COUNT(*) AS n FROM mail_outbox").await;
    assert_eq!(before, 2, "no email to someone who turned notices off");
    let res = admin.post_form("/account", "/account/notices", &[("notices", "on")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE notices_off").await, 0);
}

#[tokio::test]
async fn admins_hear_once_when_a_source_starts_failing_and_once_when_it_recovers() {
    let smtp = Smtp::start().await;
    let ds = Datasette::start(50).await;
    let proxy = FaultProxy::start(&ds.base).await;
    let app = app_with_mail(&smtp).await;
    let admin = app.with_admin().await;
    let key = admin.new_key("live data", &LIVE_PERMISSIONS).await;
    let id = new_source(
        &app,
        &key,
        "datasette",
        "Shop",
        json!({"base_url": proxy.base, "database": "shop", "token": ds.full}),
    )
    .await;
    assert_eq!(test_source(&app, &key, id).await["ok"], true);
    let (run, _) = activate_into_entity(&app, &key, id, &["orders"], "Order").await;
    assert_eq!(run["status"], "succeeded", "{run}");

    proxy.set(Rule { skip: 0, status: 401, times: 100, ..Rule::default() });
    assert_eq!(sync_and_wait(&app, &key, id).await["status"], "failed");
    let got = smtp.until(1).await;
    assert_eq!(got[0].to, ADMIN_EMAIL);
    assert!(got[0].subject.contains("“Shop” is failing"), "{:?}", got[0]);
    assert!(got[0].text.contains("/live-data/sources/"), "{}", got[0].text);
    // Failing again: no second email.
    assert_eq!(sync_and_wait(&app, &key, id).await["status"], "failed");
    assert!(proxy.faults.load(Ordering::SeqCst) >= 2);

    proxy.set(Rule::default());
    assert_eq!(test_source(&app, &key, id).await["ok"], true);
    let got = smtp.until(2).await;
    assert_eq!(got.len(), 2, "one email per change: {got:?}");
    assert!(got[1].subject.contains("“Shop” works again"), "{:?}", got[1]);
}

async fn sync_and_wait(app: &TestApp, key: &str, id: i64) -> serde_json::Value {
    let r = post_json(app, Method::POST, &format!("/api/v1/sources/{id}/syncs"), key, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    wait_for_run(app, key, r.body["run_id"].as_i64().unwrap()).await
}
