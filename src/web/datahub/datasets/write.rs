use super::*;

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
pub(super) async fn confirm_replace(
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
            back: urls::dataset(ds.id),
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
        return Ok(see_other(&urls::dataset(ds.id)));
    };
    if !form.yes() {
        return confirm_replace(&req, &state, &user, ds, staged).await;
    }
    write_staged(&req, &state, &user, &user.actor, ds, staged, true).await
}

/// Replaces or appends from a staged file, then removes it.
pub(super) async fn write_staged(
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
            return Ok(see_other(&urls::dataset(new.id)));
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
                action: urls::dataset_action(ds.id, "delete"),
                button: "Delete dataset",
                fields: vec![],
                back: urls::dataset(ds.id),
            },
        );
    }
    service::delete(&state, &user.actor, &ds).await?;
    Flash::push_about(&user.session, "success", "Deleted the dataset", Some(ds.name.clone()));
    Ok(see_other(urls::DATASETS))
}
