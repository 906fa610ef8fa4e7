use super::*;
use crate::domain::datahub::Access;

pub struct Breakage {
    pub collection: String,
    /// Path, and whether anyone may call it without a key.
    pub endpoints: Vec<(String, bool)>,
    /// Hub keys that accept one of those endpoints (and lose it).
    pub keys: Vec<String>,
}

/// What deleting the dataset takes with it, named: its rows, each collection
/// with its endpoints, and the hub keys that lose them (dialog and page).
pub(super) fn delete_question(ds: &datasets::Model, breaks: &[Breakage]) -> String {
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
pub(super) struct DatasetPage {
    pub(super) layout: Layout,
    pub(super) ds: datasets::Model,
    pub(super) columns: Vec<Column>,
    pub(super) rv: RowsView,
    pub(super) size: String,
    pub(super) source: String,
    pub(super) created: String,
    pub(super) updated: String,
    pub(super) can_write: bool,
    pub(super) limit: String,
    pub(super) used_by: Vec<Breakage>,
    /// The confirmation dialogs' questions (app.js fills `{file}` in).
    pub(super) replace_question: String,
    pub(super) delete_question: String,
    pub(super) rows: String,
    pub(super) errors: FieldErrors,
}

pub(super) async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<datasets::Model, AppError> {
    crate::store::datahub::dataset(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

/// The collections over a dataset and the endpoints serving each.
pub(super) async fn used_by(state: &AppState, ds: &datasets::Model) -> Result<Vec<Breakage>, AppError> {
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
            endpoints: mine.iter().map(|e| (e.path.clone(), *e.access == Access::Public)).collect(),
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
    let errors = crate::web::retry::take(&req, &urls::dataset(ds.id)).map(|r| r.errors).unwrap_or_default();
    dataset_page(&state, &user, ds, &query, errors, StatusCode::OK).await
}

/// A refused replace or append: back to the dataset page with the message
/// beside the form that failed (plain posts), or that page rendered with it.
pub(super) async fn write_refused(
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
    if let Some(back) = crate::web::retry::back_to(req, &urls::dataset(ds.id), &[], &errors) {
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
                .map(|i| crate::domain::schema::display(r.get(i).unwrap_or(&serde_json::Value::Null)))
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

pub(super) async fn dataset_page(
    state: &AppState,
    user: &CurrentUser,
    ds: datasets::Model,
    query: &ListQuery,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let columns = store::columns(&ds);
    let rv = rows_view(state, &ds, query, &urls::dataset(ds.id), &ds.name).await?;
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
