//! `Admin → Email`: the delivery log of the workspace's emails (invitations,
//! reset links, notices): to whom, what, and how each attempt went.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::{Member, perm};
use crate::state::AppState;
use crate::web::views::fmt_time;
use crate::web::{AppError, Layout, render};

pub struct MailRow {
    pub to: String,
    pub subject: String,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub created: String,
    pub sent: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin/email.html")]
struct EmailPage {
    layout: Layout,
    enabled: bool,
    rows: Vec<MailRow>,
}

pub async fn show(state: web::Data<AppState>, user: Member<perm::MembersManage>) -> Result<HttpResponse, AppError> {
    let rows = crate::store::mail::log(&state.db, user.workspace_id(), 200)
        .await?
        .into_iter()
        .map(|m| MailRow {
            to: m.to_addr,
            subject: m.subject,
            kind: m.kind,
            state: m.state,
            attempts: m.attempts,
            created: fmt_time(m.created_at),
            sent: m.sent_at.map(fmt_time).unwrap_or_default(),
            error: m.last_error.unwrap_or_default(),
        })
        .collect();
    let page = EmailPage { layout: Layout::for_user(&user, "Email"), enabled: crate::notify::enabled(&state), rows };
    render(StatusCode::OK, &page)
}
