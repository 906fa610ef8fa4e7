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

/// A refused upload: back to the list with the message (a plain form post),
/// or the list rendered with it (htmx, scripts).
async fn upload_refused(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    message: String,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    errors.add("file", message);
    if let Some(back) = crate::web::retry::back_to(req, urls::DATASETS, &[], &errors) {
        return Ok(back);
    }
    list_page(state, user, errors, status).await
}

/// Reads a page's multipart form: CSRF and origin checked before the file is stored.
async fn read_upload(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    body: Multipart,
) -> Result<mp::Upload, UploadError> {
    if !csrf::same_origin(req, state.settings.public_url.as_deref(), &state.settings.trusted_proxies) {
        return Err(UploadError::Refused);
    }
    let session = req.get_session();
    let dir = staging::dir(&state.settings.data_dir);
    let owner = (user.workspace_id(), user.user.id);
    mp::read(body, &dir, owner, state.settings.upload_max_bytes, |fields| {
        csrf::token_matches(req, &session, &state.csrf_key, fields.get("csrf_token").map(String::as_str))
    })
    .await
}

/// The message for an upload that could not be stored, or the CSRF refusal.
fn upload_problem(state: &AppState, e: UploadError) -> Result<(StatusCode, String), AppError> {
    match e {
        UploadError::TooLarge => Ok((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The file is larger than the limit of {}. Split it, or ask the operator to raise KEYHUB_UPLOAD_MAX_MB.",
                state.settings.upload_limit_text()
            ),
        )),
        UploadError::Malformed => {
            Ok((StatusCode::BAD_REQUEST, "The upload broke off or could not be read. Try again.".into()))
        }
        UploadError::Refused => Err(AppError::Csrf),
        UploadError::Io(e) => Err(AppError::Internal(anyhow::Error::new(e).context("storing an upload"))),
    }
}

#[derive(Template)]
#[template(path = "datahub/preview.html")]
struct PreviewPage {
    layout: Layout,
    token: String,
    file_name: String,
    format: String,
    rows: u64,
    name: String,
    columns: Vec<ColumnChoice>,
    primary_key: String,
    preview: Vec<Vec<String>>,
    errors: FieldErrors,
    types: [ColumnType; 6],
}

/// One column on the preview form, as inferred or as the user left it.
pub struct ColumnChoice {
    pub index: usize,
    pub source: String,
    pub name: String,
    pub kind: ColumnType,
    pub keep: bool,
}

/// Step 1: the file is stored and checked; its preview has its own URL, so a
/// refresh or "back" shows it again.
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataWrite>,
    body: Multipart,
) -> Result<HttpResponse, AppError> {
    let upload = match read_upload(&req, &state, &user, body).await {
        Ok(u) => u,
        Err(e) => {
            let (status, message) = upload_problem(&state, e)?;
            return upload_refused(&req, &state, &user, message, status).await;
        }
    };
    let Some(staged) = upload.file else {
        let message = "Choose a CSV, JSON or NDJSON file to upload.".to_owned();
        return upload_refused(&req, &state, &user, message, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if let Err(e) = parse::detect(&staged.path, &staged.file_name) {
        staging::remove(&staging::dir(&state.settings.data_dir), &staged).await;
        return upload_refused(&req, &state, &user, import_message(e)?, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    Ok(see_other(&preview_url(&staged.token)))
}

fn preview_url(token: &str) -> String {
    format!("{}/new/{token}", urls::DATASETS)
}

/// Step 2's page: the file read once, its columns with inferred types (or as
/// the user left them after a refused save), and its first rows.
pub async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataWrite>,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let dir = staging::dir(&state.settings.data_dir);
    let Some(staged) = staging::find(&dir, &token, (user.workspace_id(), user.user.id)).await else {
        Flash::push(
            &user.session,
            "error",
            "That upload is no longer here (uploads are kept for a day). Upload the file again.",
        );
        return Ok(see_other(urls::DATASETS));
    };
    let analysis = match analyze(&staged).await {
        Ok(a) => a,
        Err(e) => {
            staging::remove(&dir, &staged).await;
            return upload_refused(&req, &state, &user, import_message(e)?, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let page = match crate::web::retry::take(&req, &preview_url(&staged.token)) {
        Some(r) => {
            let form = r.pairs().to_vec();
            let (choices, _) = column_choices(&form);
            let get = |k: &str| r.value(k);
            preview_page(&user, &staged, &analysis, get("name"), choices, get("primary_key"), r.errors)
        }
        None => {
            let suggested =
                staged.file_name.rsplit_once('.').map_or(staged.file_name.as_str(), |(stem, _)| stem).to_owned();
            let columns = analysis
                .columns
                .iter()
                .enumerate()
                .map(|(index, c)| ColumnChoice {
                    index,
                    source: c.source.clone(),
                    name: c.name.clone(),
                    kind: c.kind,
                    keep: true,
                })
                .collect();
            preview_page(&user, &staged, &analysis, suggested, columns, String::new(), FieldErrors::default())
        }
    };
    render(StatusCode::OK, &page)
}

/// The columns as posted by the preview form, and the dataset columns they make.
fn column_choices(form: &[(String, String)]) -> (Vec<ColumnChoice>, Vec<Column>) {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut choices = Vec::new();
    for index in 0.. {
        let Some(source) = form.iter().find(|(n, _)| *n == format!("source-{index}")).map(|(_, v)| v.clone()) else {
            break;
        };
        choices.push(ColumnChoice {
            index,
            name: get(&format!("name-{index}")),
            kind: ColumnType::parse(&get(&format!("type-{index}"))).unwrap_or(ColumnType::Text),
            keep: get(&format!("keep-{index}")) == "yes",
            source,
        });
    }
    let columns = choices
        .iter()
        .filter(|c| c.keep)
        .map(|c| Column { name: c.name.trim().to_owned(), source: c.source.clone(), kind: c.kind })
        .collect();
    (choices, columns)
}

fn preview_page(
    user: &CurrentUser,
    staged: &Staged,
    analysis: &Analysis,
    name: String,
    columns: Vec<ColumnChoice>,
    primary_key: String,
    errors: FieldErrors,
) -> PreviewPage {
    PreviewPage {
        layout: Layout::for_user(user, "Check the new dataset"),
        token: staged.token.clone(),
        file_name: staged.file_name.clone(),
        format: analysis.format.label().into(),
        rows: analysis.rows,
        name,
        columns,
        primary_key,
        preview: analysis.preview.clone(),
        errors,
        types: ColumnType::ALL,
    }
}

async fn analyze(staged: &Staged) -> Result<Analysis, ImportError> {
    let format = parse::detect(&staged.path, &staged.file_name)?;
    import::analyze(staged.path.clone(), format).await
}

/// The user's sentence for an import error; internal ones are not theirs.
fn import_message(e: ImportError) -> Result<String, AppError> {
    match e {
        ImportError::Db(db) => Err(db.into()),
        ImportError::Internal(m) => Err(AppError::Internal(anyhow::anyhow!(m))),
        invalid => Ok(invalid.to_string()),
    }
}

/// Step 2: name, columns and key chosen; the file is imported all or nothing.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataWrite>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let dir = staging::dir(&state.settings.data_dir);
    let Some(staged) = staging::find(&dir, &get("upload"), (user.workspace_id(), user.user.id)).await else {
        Flash::push(
            &user.session,
            "error",
            "That upload is no longer here (uploads are kept for a day). Upload the file again.",
        );
        return Ok(see_other(urls::DATASETS));
    };
    let (choices, columns) = column_choices(&form);
    let kept: Vec<&ColumnChoice> = choices.iter().filter(|c| c.keep).collect();
    let pk_index: Option<usize> = get("primary_key").parse().ok();
    let mut errors = FieldErrors::default();
    let primary_key = match pk_index.and_then(|i| choices.get(i)) {
        Some(c) if !c.keep => {
            errors.add("primary_key", "The key column is not kept. Keep it, or choose another key.");
            None
        }
        Some(c) => Some(c.name.trim().to_owned()),
        None => None,
    };
    let format = parse::detect(&staged.path, &staged.file_name);
    if errors.is_empty()
        && let Ok(format) = format
    {
        let new = NewContents { name: &get("name"), columns, primary_key: primary_key.as_deref(), source: "upload" };
        match service::create(&state, &user.actor, new, &staged.path, format).await {
            Ok(ds) => {
                staging::remove(&dir, &staged).await;
                Flash::push_about(
                    &user.session,
                    "success",
                    format!("Saved {} rows in the dataset", ds.row_count),
                    Some(ds.name.clone()),
                );
                return Ok(see_other(&format!("{}/{}", urls::DATASETS, ds.id)));
            }
            Err(Refusal::Fields(refused)) => {
                for e in refused {
                    // The service counts kept columns; the form numbers every column of the file.
                    let field = match e.field.strip_prefix("column-").and_then(|i| i.parse::<usize>().ok()) {
                        Some(i) => format!("name-{}", kept.get(i).map_or(0, |c| c.index)),
                        None => e.field,
                    };
                    errors.add(&field, e.message);
                }
            }
            Err(refused @ Refusal::Records { .. }) => {
                let column = match &refused {
                    Refusal::Records { column: Some(c), .. } => {
                        choices.iter().find(|x| x.keep && x.name.trim() == c).map(|x| x.index)
                    }
                    _ => None,
                };
                let message = refused.to_string();
                if let Some(i) = column {
                    errors.add(&format!("type-{i}"), message.clone());
                }
                errors.add("file", message);
            }
            Err(other) => return Err(other.into()),
        }
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(back) = crate::web::retry::back_to(&req, &preview_url(&staged.token), &pairs, &errors) {
        return Ok(back);
    }
    let analysis = match analyze(&staged).await {
        Ok(a) => a,
        Err(e) => {
            Flash::push(&user.session, "error", import_message(e)?);
            return Ok(see_other(urls::DATASETS));
        }
    };
    let pk = pk_index.map(|i| i.to_string()).unwrap_or_default();
    render(StatusCode::UNPROCESSABLE_ENTITY, &preview_page(&user, &staged, &analysis, get("name"), choices, pk, errors))
}

pub struct Breakage {
    pub collection: String,
    /// Path, and whether anyone may call it without a key.
    pub endpoints: Vec<(String, bool)>,
    /// Hub keys that accept one of those endpoints (and lose it).
    pub keys: Vec<String>,
}

/// What deleting the dataset takes with it, named: its rows, each collection
/// with its endpoints, and the hub keys that lose them (dialog and page).
fn delete_question(ds: &datasets::Model, breaks: &[Breakage]) -> String {
    let rows = crate::domain::query::count(ds.row_count.max(0) as u64, "row", "rows");
    if breaks.is_empty() {
        return format!("Delete the dataset “{}” and its {rows}? No collection uses it.", ds.name);
    }
    let list: Vec<String> = breaks
        .iter()
        .map(|b| {
            let paths: Vec<&str> = b.endpoints.iter().map(|(p, _)| p.as_str()).collect();
            if paths.is_empty() {
                format!("“{}”", b.collection)
            } else {
                format!("“{}” (served at {})", b.collection, paths.join(", "))
            }
        })
        .collect();
    let mut keys: Vec<&str> = breaks.iter().flat_map(|b| b.keys.iter().map(String::as_str)).collect();
    keys.sort_unstable();
    keys.dedup();
    let keys = if keys.is_empty() {
        String::new()
    } else {
        format!(" Hub keys that lose these endpoints: {}.", keys.join(", "))
    };
    format!(
        "Delete the dataset “{}” and its {rows}? These collections and their endpoints go with it: {}.{keys}",
        ds.name,
        list.join("; ")
    )
}

#[derive(Template)]
#[template(path = "datahub/dataset.html")]
struct DatasetPage {
    layout: Layout,
    ds: datasets::Model,
    columns: Vec<Column>,
    rv: RowsView,
    size: String,
    source: String,
    created: String,
    updated: String,
    can_write: bool,
    limit: String,
    used_by: Vec<Breakage>,
    /// The confirmation dialogs' questions (app.js fills `{file}` in).
    replace_question: String,
    delete_question: String,
    rows: String,
    errors: FieldErrors,
}

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<datasets::Model, AppError> {
    crate::store::datahub::dataset(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

/// The collections over a dataset and the endpoints serving each.
async fn used_by(state: &AppState, ds: &datasets::Model) -> Result<Vec<Breakage>, AppError> {
    let collections = crate::store::datahub::collections_of(&state.db, ds.id).await?;
    let endpoints = crate::store::datahub::endpoints_of(&state.db, collections.iter().map(|c| c.id).collect()).await?;
    let mut out = Vec::with_capacity(collections.len());
    for c in &collections {
        let mine: Vec<_> = endpoints.iter().filter(|e| e.collection_id == c.id).collect();
        let mut keys = Vec::new();
        for e in &mine {
            keys.extend(crate::store::hub_keys::keys_of_endpoint(&state.db, e.id).await?.into_iter().map(|k| k.name));
        }
        keys.sort_unstable();
        keys.dedup();
        out.push(Breakage {
            collection: c.name.clone(),
            endpoints: mine.iter().map(|e| (e.path.clone(), e.access == "public")).collect(),
            keys,
        });
    }
    Ok(out)
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
    query: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let ds = find(&state, &user, *id).await?;
    let errors =
        crate::web::retry::take(&req, &format!("{}/{}", urls::DATASETS, ds.id)).map(|r| r.errors).unwrap_or_default();
    dataset_page(&state, &user, ds, &query, errors, StatusCode::OK).await
}

/// A refused replace or append: back to the dataset page with the message
/// beside the form that failed (plain posts), or that page rendered with it.
async fn write_refused(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    ds: datasets::Model,
    field: &str,
    message: String,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    errors.add(field, message);
    if let Some(back) = crate::web::retry::back_to(req, &format!("{}/{}", urls::DATASETS, ds.id), &[], &errors) {
        return Ok(back);
    }
    let query = ListQuery::default();
    dataset_page(state, user, ds, &query, errors, status).await
}

/// A page of a dataset's rows as a sortable, searchable table (the dataset
/// page and an entity's spreadsheet tab): `base` is the page's own URL.
pub struct RowsView {
    pub base: String,
    pub caption: String,
    pub headers: Vec<SortHeader>,
    pub rows: Vec<Vec<String>>,
    pub q: String,
    pub sort: String,
    pub dir: String,
    pub pager: Pager,
    pub matching: u64,
}

pub async fn rows_view(
    state: &AppState,
    ds: &datasets::Model,
    query: &ListQuery,
    base: &str,
    name: &str,
) -> Result<RowsView, AppError> {
    let columns = store::columns(ds);
    let sort_index = columns.iter().position(|c| c.name == query.sort);
    let descending = query.dir == "desc";
    let headers = columns
        .iter()
        .map(|c| {
            let current = sort_index.is_some_and(|i| columns[i].name == c.name);
            SortHeader::new(base, &[("q", &query.q)], &c.name, &c.name, current, descending)
        })
        .collect();
    let page_no = query.page();
    let q = store::ReadQuery {
        search: Some(query.q.trim().to_owned()).filter(|s| !s.is_empty()),
        order: sort_index.map(|i| (i, descending)),
        limit: Pager::PER_PAGE,
        offset: Pager::offset(page_no),
        ..Default::default()
    };
    let page = store::read(&state.db, ds, &q).await?;
    let sort = sort_index.map(|i| columns[i].name.clone()).unwrap_or_default();
    let dir = if descending { "desc" } else { "asc" };
    let pager = Pager::new(page_no, page.count, &query_base(base, &[("q", &query.q), ("sort", &sort), ("dir", dir)]));
    let rows = page
        .rows
        .iter()
        .map(|r| {
            (0..columns.len())
                .map(|i| crate::datasets::schema::display(r.get(i).unwrap_or(&serde_json::Value::Null)))
                .collect()
        })
        .collect();
    Ok(RowsView {
        base: base.to_owned(),
        caption: format!("Rows of {name}; column headers sort"),
        headers,
        rows,
        q: query.q.clone(),
        sort,
        dir: dir.into(),
        pager,
        matching: page.count,
    })
}

async fn dataset_page(
    state: &AppState,
    user: &CurrentUser,
    ds: datasets::Model,
    query: &ListQuery,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let columns = store::columns(&ds);
    let rv = rows_view(state, &ds, query, &format!("{}/{}", urls::DATASETS, ds.id), &ds.name).await?;
    let used_by = used_by(state, &ds).await?;
    let p = DatasetPage {
        layout: Layout::for_user(user, &ds.name),
        size: human_size(ds.size_bytes),
        source: source_label(&ds),
        created: fmt_time(ds.created_at),
        updated: fmt_time(ds.updated_at),
        columns,
        rv,
        can_write: user.can(Permission::DataWrite),
        limit: state.settings.upload_limit_text(),
        replace_question: replace_question(&ds, None, "{file}"),
        delete_question: delete_question(&ds, &used_by),
        rows: crate::domain::query::thousands(ds.row_count.max(0) as u64),
        used_by,
        errors,
        ds,
    };
    render(status, &p)
}

/// The whole dataset as CSV, streamed a thousand rows at a time.
pub async fn download(
    state: web::Data<AppState>,
    user: Member<perm::DataRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let ds = find(&state, &user, *id).await?;
    let columns = store::columns(&ds);
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let all: Vec<usize> = (0..columns.len()).collect();
    let header = crate::hub::render_csv(&names, &all, &[]);
    let file = format!("{}.csv", crate::domain::datahub::slugify(&ds.name));
    let db = state.db.clone();
    const CHUNK: i64 = 1_000;
    let body = futures_util::stream::unfold(Some(0i64), move |from| {
        let db = db.clone();
        let ds = ds.clone();
        let all = all.clone();
        async move {
            let from = from?;
            match store::rows_from(&db, &ds, from, CHUNK).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let mut w = csv::Writer::from_writer(Vec::new());
                    let _ = crate::hub::write_csv_rows(&mut w, &all, &rows);
                    let next = (rows.len() as i64 == CHUNK).then_some(from + CHUNK);
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(w.into_inner().unwrap_or_default())), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "streaming a dataset failed");
                    Some((Err(actix_web::error::ErrorInternalServerError("read failed")), None))
                }
            }
        }
    });
    let first = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(web::Bytes::from(header)) });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .streaming(futures_util::StreamExt::chain(first, body)))
}

/// Replace (`replace`) or append to (`append`) a dataset from an uploaded file.
/// Replacing drops every current row — served at once on its endpoints — so
/// it is confirmed: app.js asks in a dialog and posts `confirmed=yes`; without
/// it the file is staged and a page names both counts before anything changes.
pub async fn write(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataWrite>,
    path: web::Path<(i64, String)>,
    body: Multipart,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let replace = match action.as_str() {
        "replace" => true,
        "append" => false,
        _ => return Err(AppError::NotFound),
    };
    let ds = find(&state, &user, id).await?;
    let field = if replace { "replace" } else { "append" };
    let upload = match read_upload(&req, &state, &user, body).await {
        Ok(u) => u,
        Err(e) => {
            let (status, message) = upload_problem(&state, e)?;
            return write_refused(&req, &state, &user, ds, field, message, status).await;
        }
    };
    let confirmed = upload.field("confirmed") == "yes";
    let Some(staged) = upload.file else {
        return write_refused(
            &req,
            &state,
            &user,
            ds,
            field,
            "Choose a file to upload.".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    if replace && !confirmed {
        return confirm_replace(&req, &state, &user, ds, staged).await;
    }
    write_staged(&req, &state, &user, &user.actor, ds, staged, replace).await
}

/// The confirmation page of a replace without JavaScript: the staged file's
/// rows are counted, so that the question names what goes and what comes.
async fn confirm_replace(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    ds: datasets::Model,
    staged: Staged,
) -> Result<HttpResponse, AppError> {
    let rows = match analyze(&staged).await {
        Ok(a) => a.rows,
        Err(e) => {
            staging::remove(&staging::dir(&state.settings.data_dir), &staged).await;
            let message = format!("{} Nothing was changed.", import_message(e)?);
            return write_refused(req, state, user, ds, "replace", message, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    ask(
        user,
        Confirmation {
            title: "Replace rows",
            question: replace_question(&ds, Some(rows), &staged.file_name),
            subject: None,
            action: format!("{}/{}/replace/{}", urls::DATASETS, ds.id, staged.token),
            button: "Replace rows",
            fields: vec![],
            back: format!("{}/{}", urls::DATASETS, ds.id),
        },
    )
}

/// "Replace 137 rows of Orders with 19 rows from orders.csv?" — the new count
/// when the file was read (the dialog, before upload, cannot know it).
pub fn replace_question(ds: &datasets::Model, new_rows: Option<u64>, file: &str) -> String {
    let now = crate::domain::query::count(ds.row_count.max(0) as u64, "row", "rows");
    let with = match new_rows {
        Some(n) => format!("{} from {file}", crate::domain::query::count(n, "row", "rows")),
        None => format!("the rows from {file}"),
    };
    format!("Replace {now} of {} with {with}? The current rows are served no more.", ds.name)
}

/// `POST /datahub/datasets/{id}/replace/{upload}`: the confirmation page's
/// button; the file staged by `write` replaces the rows.
pub async fn replace_staged(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::DataWrite>,
    path: web::Path<(i64, String)>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let (id, token) = path.into_inner();
    let ds = find(&state, &user, id).await?;
    let dir = staging::dir(&state.settings.data_dir);
    let Some(staged) = staging::find(&dir, &token, (user.workspace_id(), user.user.id)).await else {
        Flash::push(
            &user.session,
            "error",
            "That upload is no longer here (uploads are kept for a day). Upload the file again.",
        );
        return Ok(see_other(&format!("{}/{}", urls::DATASETS, ds.id)));
    };
    if !form.yes() {
        return confirm_replace(&req, &state, &user, ds, staged).await;
    }
    write_staged(&req, &state, &user, &user.actor, ds, staged, true).await
}

/// Replaces or appends from a staged file, then removes it.
async fn write_staged(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    by: &Actor,
    ds: datasets::Model,
    staged: Staged,
    replace: bool,
) -> Result<HttpResponse, AppError> {
    let field = if replace { "replace" } else { "append" };
    let dir = staging::dir(&state.settings.data_dir);
    let result = match parse::detect(&staged.path, &staged.file_name) {
        Ok(format) => {
            if replace {
                service::replace(state, by, &ds, &staged.path, format).await
            } else {
                service::append(state, by, &ds, &staged.path, format).await
            }
        }
        Err(e) => Err(e.into()),
    };
    staging::remove(&dir, &staged).await;
    let message = match result {
        Ok(new) => {
            let rows = crate::domain::query::count(new.row_count.max(0) as u64, "row", "rows");
            let what = if replace {
                format!("Replaced the rows: {rows} now in")
            } else {
                format!("Added rows: {rows} now in")
            };
            Flash::push_about(&user.session, "success", what, Some(new.name.clone()));
            return Ok(see_other(&format!("{}/{}", urls::DATASETS, new.id)));
        }
        Err(refused @ Refusal::Fields(_)) => refused.to_string(),
        Err(refused @ Refusal::Records { .. }) => format!("{refused} Nothing was changed."),
        Err(other) => return Err(other.into()),
    };
    write_refused(req, state, user, ds, field, message, StatusCode::UNPROCESSABLE_ENTITY).await
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::DataWrite>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let ds = find(&state, &user, *id).await?;
    if !form.yes() {
        let question = delete_question(&ds, &used_by(&state, &ds).await?);
        return ask(
            &user,
            Confirmation {
                title: "Delete dataset",
                question,
                subject: None,
                action: format!("{}/{}/delete", urls::DATASETS, ds.id),
                button: "Delete dataset",
                fields: vec![],
                back: format!("{}/{}", urls::DATASETS, ds.id),
            },
        );
    }
    service::delete(&state, &user.actor, &ds).await?;
    Flash::push_about(&user.session, "success", "Deleted the dataset", Some(ds.name.clone()));
    Ok(see_other(urls::DATASETS))
}
