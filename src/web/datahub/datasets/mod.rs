//! `Data Hub → Datasets`: the list with an upload form, the preview where the
//! user names the dataset and fixes its columns, the dataset page (rows,
//! search, sort, CSV download), replace, append and delete.
use crate::web::params::Params;
use actix_multipart::Multipart;
use actix_session::SessionExt;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::auth::{CurrentUser, Member, csrf, perm};
use crate::datasets::import::{self, Analysis};
use crate::datasets::parse;
use crate::datasets::service::{self, NewContents};
use crate::datasets::staging::{self, Staged};
use crate::datasets::{Column, ColumnType, ImportError, store};
use crate::domain::Permission;
use crate::entities::datasets;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::multipart::{self as mp, UploadError};
use crate::web::views::{ListQuery, Pager, SortHeader, fmt_time, query_base};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

mod upload;
pub use upload::*;
mod dataset;
pub use dataset::*;
mod write;
pub use write::*;

pub struct DatasetItem {
    pub id: i64,
    pub name: String,
    pub columns: usize,
    pub rows: i64,
    pub size: String,
    pub source: String,
    pub updated: String,
}

pub fn human_size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

fn source_label(ds: &datasets::Model) -> String {
    match ds.source.as_str() {
        "upload" => "Upload".into(),
        "api" => "JSON API".into(),
        other => other.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "datahub/datasets.html")]
struct ListPage {
    layout: Layout,
    datasets: Vec<DatasetItem>,
    can_write: bool,
    limit: String,
    errors: FieldErrors,
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let all = crate::store::datahub::datasets(&state.db, user.workspace_id()).await?;
    let datasets = all
        .iter()
        .map(|d| DatasetItem {
            id: d.id,
            name: d.name.clone(),
            columns: store::columns(d).len(),
            rows: d.row_count,
            size: human_size(d.size_bytes),
            source: source_label(d),
            updated: fmt_time(d.updated_at),
        })
        .collect();
    let page = ListPage {
        layout: Layout::for_user(user, "Datasets"),
        datasets,
        can_write: user.can(Permission::DataWrite),
        limit: state.settings.upload_limit_text(),
        errors,
    };
    render(status, &page)
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
) -> Result<HttpResponse, AppError> {
    let errors = crate::web::retry::take(&req, urls::DATASETS).map(|r| r.errors).unwrap_or_default();
    list_page(&state, &user, errors, StatusCode::OK).await
}
