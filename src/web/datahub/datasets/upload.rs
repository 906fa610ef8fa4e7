use super::*;

/// A refused upload: back to the list with the message (a plain form post),
/// or the list rendered with it (htmx, scripts).
pub(super) async fn upload_refused(
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
pub(super) async fn read_upload(
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
pub(super) fn upload_problem(state: &AppState, e: UploadError) -> Result<(StatusCode, String), AppError> {
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
pub(super) struct PreviewPage {
    pub(super) layout: Layout,
    pub(super) token: String,
    pub(super) file_name: String,
    pub(super) format: String,
    pub(super) rows: u64,
    pub(super) name: String,
    pub(super) columns: Vec<ColumnChoice>,
    pub(super) primary_key: String,
    pub(super) preview: Vec<Vec<String>>,
    pub(super) errors: FieldErrors,
    pub(super) types: [ColumnType; 6],
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

pub(super) fn preview_url(token: &str) -> String {
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
pub(super) fn column_choices(form: &[(String, String)]) -> (Vec<ColumnChoice>, Vec<Column>) {
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

pub(super) fn preview_page(
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

pub(super) async fn analyze(staged: &Staged) -> Result<Analysis, ImportError> {
    let format = parse::detect(&staged.path, &staged.file_name)?;
    import::analyze(staged.path.clone(), format).await
}

/// The user's sentence for an import error; internal ones are not theirs.
pub(super) fn import_message(e: ImportError) -> Result<String, AppError> {
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
                return Ok(see_other(&urls::dataset(ds.id)));
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
