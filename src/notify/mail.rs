//! Sends the queued emails (lettre over SMTP, STARTTLS or TLS): a worker
//! takes due messages, one claim each (so two nodes never send one twice),
//! and retries a failed attempt with exponential backoff — 30 s, 1 min,
//! 2 min … up to an hour, eight attempts — before marking it failed. The
//! queue is the delivery log admins read (Admin → Email).
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::entities::mail_outbox;
use crate::state::AppState;

const ATTEMPTS: i32 = 8;
/// How long a claimed message is this node's before another may take it.
const CLAIM: i64 = 120;
/// How often the worker looks, when nothing wakes it sooner.
const LOOK_EVERY: Duration = Duration::from_secs(5);

static WAKE: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// A message was queued: the worker looks now.
pub fn wake() {
    WAKE.notify_waiters();
}

/// The wait before attempt `n + 1`, after `n` failed.
pub fn backoff(n: i32) -> i64 {
    (30_i64 << (n - 1).clamp(0, 7)).min(3_600)
}

fn transport(state: &AppState) -> Option<AsyncSmtpTransport<Tokio1Executor>> {
    let url = state.settings.smtp_url.as_ref()?;
    match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose()) {
        Ok(b) => Some(b.timeout(Some(Duration::from_secs(30))).build()),
        Err(e) => {
            tracing::error!(error = %e, "KEYHUB_SMTP_URL cannot be used; no email is sent");
            None
        }
    }
}

fn message(from: &Mailbox, m: &mail_outbox::Model) -> Result<Message, String> {
    let to: Mailbox = m.to_addr.parse().map_err(|e| format!("the address {} is not valid: {e}", m.to_addr))?;
    let mut b = Message::builder().from(from.clone()).to(to).subject(m.subject.clone());
    // Notices say how to stop them in the header too (RFC 2369), for mail programs' buttons.
    if let Some(url) =
        m.body_text.rsplit("To stop these notices: ").next().filter(|_| m.body_text.contains("To stop these notices: "))
    {
        let value = format!("<{}>", url.trim());
        b = b.raw_header(lettre::message::header::HeaderValue::new(
            lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe"),
            value,
        ));
    }
    b.multipart(MultiPart::alternative_plain_html(m.body_text.clone(), m.body_html.clone())).map_err(|e| e.to_string())
}

/// Sends what is due; returns how many were sent.
pub async fn send_due(state: &AppState, smtp: &AsyncSmtpTransport<Tokio1Executor>, from: &Mailbox) -> usize {
    let now = chrono::Utc::now().timestamp();
    let due = match crate::store::mail::due(&state.db, now, 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading the email queue failed");
            return 0;
        }
    };
    let mut sent = 0;
    for m in due {
        match crate::store::mail::claim(&state.db, &m, now + CLAIM).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "claiming an email failed");
                continue;
            }
        }
        let attempts = m.attempts + 1;
        let outcome = match message(from, &m) {
            Ok(msg) => smtp.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let saved = match outcome {
            Ok(()) => {
                sent += 1;
                crate::store::mail::sent(&state.db, m.id, attempts).await
            }
            Err(error) => {
                let retry = (attempts < ATTEMPTS).then(|| chrono::Utc::now().timestamp() + backoff(attempts));
                tracing::warn!(mail = m.id, attempts, error = %error, "sending an email failed");
                crate::store::mail::attempt_failed(&state.db, m.id, attempts, &error, retry).await
            }
        };
        if let Err(e) = saved {
            tracing::warn!(error = %e, "recording an email's delivery failed");
        }
    }
    sent
}

/// The worker: looks every few seconds and whenever a message is queued.
pub fn spawn_mailer(state: Arc<AppState>) {
    let Some(smtp) = transport(&state) else { return };
    let Some(from) = state.settings.mail_from.as_deref().and_then(|f| f.parse::<Mailbox>().ok()) else { return };
    tokio::spawn(async move {
        loop {
            let woken = WAKE.notified();
            send_due(&state, &smtp, &from).await;
            crate::pulse::background().bump();
            let _ = tokio::time::timeout(LOOK_EVERY, woken).await;
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (1..=8).map(super::backoff).collect();
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 960, 1920, 3600]);
    }
}
