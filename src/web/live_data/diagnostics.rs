//! `Live Data → Diagnostics`: the workspace's sources whose tests or syncs
//! failed — classification, likely cause, solution, the provider's words,
//! since when and how often — with "Test again" and "Sync now" at hand.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::{Member, perm};
use crate::connectors::errors::Report;
use crate::connectors::sources as manage;
use crate::domain::live_data::SourceStatus;
use crate::state::AppState;
use crate::store::live_data as store;
use crate::web::views::fmt_time;
use crate::web::{AppError, Layout, render};

pub struct Problem {
    pub id: i64,
    pub name: String,
    pub status: SourceStatus,
    /// Still failing (else: recovered since).
    pub failing: bool,
    pub since: String,
    pub count: i32,
    /// "sync (run #12, stream cities)" or "connection test".
    pub during: String,
    pub at: String,
    pub report: Report,
    pub can_sync: bool,
}

#[derive(Template)]
#[template(path = "live_data/diagnostics.html")]
struct DiagnosticsPage {
    layout: Layout,
    problems: Vec<Problem>,
    recovered: Vec<Problem>,
}

pub async fn page(state: web::Data<AppState>, user: Member<perm::ConnectorsManage>) -> Result<HttpResponse, AppError> {
    let mut problems = Vec::new();
    let mut recovered = Vec::new();
    for s in store::failed_sources(&state.db, user.workspace_id()).await? {
        let Some(f) = manage::last_failure(&s) else { continue };
        let during = match (f.during.as_str(), f.run_id, &f.stream) {
            ("sync", Some(run), Some(stream)) => format!("sync (run #{run}, stream {stream})"),
            ("sync", Some(run), None) => format!("sync (run #{run})"),
            ("sync", _, _) => "sync".to_owned(),
            _ => "connection test".to_owned(),
        };
        let p = Problem {
            id: s.id,
            name: s.name.clone(),
            status: *s.status,
            failing: s.failing_since.is_some(),
            since: s.failing_since.map(fmt_time).unwrap_or_default(),
            count: s.failure_count,
            during,
            at: fmt_time(f.at),
            report: f.error.report(),
            can_sync: s.status != manage::DRAFT,
        };
        if p.failing { problems.push(p) } else { recovered.push(p) }
    }
    render(StatusCode::OK, &DiagnosticsPage { layout: Layout::for_user(&user, "Diagnostics"), problems, recovered })
}
