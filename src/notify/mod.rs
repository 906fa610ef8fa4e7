//! What keyhub tells people who are not looking at a page: email through a
//! queue in the database (`mail`), and the notices it sends (`notices`:
//! keys about to expire, sources that start failing or recover).
//!
//! Every email has a plain-text and an HTML part with the same words, no
//! tracking (no images, no rewritten links), and notices carry an
//! unsubscribe link. Without `KEYHUB_SMTP_URL` and `KEYHUB_MAIL_FROM` nothing
//! is queued: links are shown to copy, as before.
pub mod mail;
pub mod notices;
pub mod recipients;
pub mod webhooks;

use askama::Template;

use crate::state::AppState;
use crate::store::mail::NewMail;

/// One email's words: a heading, paragraphs, an optional link, and for
/// notices the address that turns them off.
pub struct Letter {
    pub kind: &'static str,
    pub workspace_id: Option<i64>,
    pub subject: String,
    pub heading: String,
    pub paragraphs: Vec<String>,
    /// (label, absolute URL)
    pub link: Option<(String, String)>,
    pub unsubscribe: Option<String>,
}

#[derive(Template)]
#[template(path = "mail/letter.html")]
struct LetterHtml<'a> {
    subject: &'a str,
    heading: &'a str,
    paragraphs: &'a [String],
    link: &'a Option<(String, String)>,
    unsubscribe: &'a Option<String>,
}

impl Letter {
    pub fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.heading);
        for p in &self.paragraphs {
            out.push_str(p);
            out.push_str("\n\n");
        }
        if let Some((label, url)) = &self.link {
            out.push_str(&format!("{label}: {url}\n\n"));
        }
        out.push_str("-- \nSent by keyhub.");
        if let Some(u) = &self.unsubscribe {
            out.push_str(&format!(" To stop these notices: {u}"));
        }
        out.push('\n');
        out
    }

    pub fn html(&self) -> String {
        LetterHtml {
            subject: &self.subject,
            heading: &self.heading,
            paragraphs: &self.paragraphs,
            link: &self.link,
            unsubscribe: &self.unsubscribe,
        }
        .render()
        .unwrap_or_else(|_| format!("<pre>{}</pre>", self.text().replace('&', "&amp;").replace('<', "&lt;")))
    }
}

/// Whether this keyhub sends email at all.
pub fn enabled(state: &AppState) -> bool {
    state.settings.smtp_url.is_some() && state.settings.mail_from.is_some()
}

/// Queues `letter` to `to`; `false` (and nothing queued) when email is off.
pub async fn send(state: &AppState, to: &str, letter: Letter) -> Result<bool, sea_orm::DbErr> {
    if !enabled(state) {
        return Ok(false);
    }
    let mail = NewMail {
        workspace_id: letter.workspace_id,
        to: to.to_owned(),
        subject: letter.subject.clone(),
        text: letter.text(),
        html: letter.html(),
        kind: letter.kind,
    };
    crate::store::mail::enqueue(&state.db, mail).await?;
    mail::wake();
    Ok(true)
}

/// The address links in emails start with: `KEYHUB_PUBLIC_URL`, else the listener's.
pub fn base_url(state: &AppState) -> String {
    match &state.settings.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => format!("http://{}", state.settings.bind),
    }
}

/// Emails an invitation's link (also shown to the admin to copy).
pub async fn invitation(
    state: &AppState,
    workspace_id: i64,
    workspace: &str,
    inviter: &str,
    to: &str,
    link: &str,
) -> Result<bool, sea_orm::DbErr> {
    let letter = Letter {
        kind: "invitation",
        workspace_id: Some(workspace_id),
        subject: format!("{inviter} invites you to {workspace} on keyhub"),
        heading: format!("You are invited to {workspace}"),
        paragraphs: vec![format!(
            "{inviter} invites you to the keyhub workspace {workspace}. The link works once, for 7 days. If you did not expect this, ignore this email."
        )],
        link: Some(("Accept the invitation".into(), link.to_owned())),
        unsubscribe: None,
    };
    send(state, to, letter).await
}

/// Emails a password reset link an admin made (also shown to copy).
pub async fn reset_link(state: &AppState, workspace_id: i64, to: &str, link: &str) -> Result<bool, sea_orm::DbErr> {
    let letter = Letter {
        kind: "reset",
        workspace_id: Some(workspace_id),
        subject: "Choose a new keyhub password".into(),
        heading: "Choose a new password".into(),
        paragraphs: vec![
            "An admin of your keyhub workspace made this link for you to choose a new password. It works once, for 24 hours. If you did not ask for it, tell your admin.".into(),
        ],
        link: Some(("Choose a new password".into(), link.to_owned())),
        unsubscribe: None,
    };
    send(state, to, letter).await
}
