//! `Live Data → Connectors` (the catalogue), the four-step wizard and
//! `Live Data → Data Sources`. Every step has its own URL; the source is a
//! draft from step 1 on, so refresh, back and "continue later" work. Plain
//! forms and redirects carry the journey; htmx only swaps the test result.
use crate::web::params::Params;
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::progress::{RunView, run_view};
use crate::auth::{CurrentUser, Member, perm};
use crate::connectors::errors::Report;
use crate::connectors::sources::{self as manage, SourceInput};
use crate::connectors::{ConnectorError, FieldKind, REGISTRY, Spec};
use crate::domain::Permission;
use crate::domain::live_data::SourceStatus;
use crate::entities::sources;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::live_data as store;
use crate::web::views::fmt_time;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, is_htmx, render, see_other, urls};

mod credentials;
pub use credentials::*;
mod test_step;
pub use test_step::*;
mod streams;
pub use streams::*;
mod link;
pub use link::*;
mod source;
pub use source::*;

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<sources::Model, AppError> {
    store::source(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

/// The wizard's steps, for the step indicator.
pub struct Step {
    pub number: u8,
    pub label: &'static str,
    pub href: Option<String>,
    pub current: bool,
    pub done: bool,
}

fn steps(s: Option<&sources::Model>, current: u8) -> Vec<Step> {
    let tested = s.is_some_and(|s| manage::last_test(s).is_some_and(|t| t.ok));
    let chosen = s.is_some_and(|s| !manage::chosen_streams(s).is_empty());
    let id = s.map(|s| s.id);
    [
        (1, "Credentials", "credentials", true),
        (2, "Test connection", "test", id.is_some()),
        (3, "Streams", "streams", tested),
        (4, "Link and activate", "link", tested && chosen),
    ]
    .into_iter()
    .map(|(n, label, path, reachable)| Step {
        number: n,
        label,
        href: id.filter(|_| reachable).map(|id| urls::source_action(id, path)),
        current: n == current,
        done: match n {
            1 => id.is_some(),
            2 => tested,
            3 => chosen,
            _ => s.is_some_and(|s| s.status != manage::DRAFT),
        },
    })
    .collect()
}

// --- catalogue --------------------------------------------------------------

pub struct Card {
    pub kind: &'static str,
    pub name: &'static str,
    pub reads: &'static str,
    pub auth: &'static str,
}

#[derive(Template)]
#[template(path = "live_data/catalogue.html")]
struct CataloguePage {
    layout: Layout,
    cards: Vec<Card>,
}

pub async fn catalogue(user: Member<perm::ConnectorsManage>) -> Result<HttpResponse, AppError> {
    let cards = REGISTRY
        .iter()
        .map(|c| c.spec())
        .map(|s| Card { kind: s.kind, name: s.name, reads: s.reads, auth: s.auth })
        .collect();
    render(StatusCode::OK, &CataloguePage { layout: Layout::for_user(&user, "Connectors"), cards })
}

// --- Data Sources -----------------------------------------------------------

pub struct SourceItem {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub status: SourceStatus,
    pub entity: Option<(i64, String)>,
    pub last_sync: String,
    pub records: i64,
    pub live: Option<RunView>,
    pub schedule: String,
    pub next_sync: Option<String>,
    pub next_step: String,
}

#[derive(Template)]
#[template(path = "live_data/sources.html")]
struct SourcesPage {
    layout: Layout,
    sources: Vec<SourceItem>,
    any_live: bool,
}

fn kind_name(kind: &str) -> &'static str {
    crate::connectors::kind(kind).map(|k| k.spec().name).unwrap_or("unknown kind")
}

/// Where a draft continues.
fn next_step(s: &sources::Model) -> String {
    let url = urls::source(s.id);
    if !manage::last_test(s).is_some_and(|t| t.ok) {
        format!("{url}/test")
    } else if manage::chosen_streams(s).is_empty() {
        format!("{url}/streams")
    } else {
        format!("{url}/link")
    }
}

pub async fn list(state: web::Data<AppState>, user: Member<perm::ConnectorsManage>) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let entities = store::entities(&state.db, ws).await?;
    let mut items = Vec::new();
    for s in store::sources(&state.db, ws).await? {
        let mut records = 0;
        for tab in store::tabs_of_source(&state.db, s.id).await? {
            records +=
                crate::store::datahub::dataset_any(&state.db, ws, tab.dataset_id).await?.map_or(0, |d| d.row_count);
        }
        items.push(SourceItem {
            id: s.id,
            name: s.name.clone(),
            kind: kind_name(&s.kind),
            status: *s.status,
            entity: s.entity_id.and_then(|id| entities.iter().find(|e| e.id == id)).map(|e| (e.id, e.name.clone())),
            last_sync: s.last_sync_at.map(fmt_time).unwrap_or_else(|| "never".into()),
            records,
            live: store::live_run(&state.db, s.id).await?.map(|r| run_view(&s.name, &r)),
            schedule: schedule_words(&s),
            next_sync: next_sync(&s),
            next_step: next_step(&s),
        });
    }
    let any_live = items.iter().any(|i| i.live.is_some());
    render(StatusCode::OK, &SourcesPage { layout: Layout::for_user(&user, "Data Sources"), sources: items, any_live })
}
