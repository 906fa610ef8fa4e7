use super::*;

// --- step 3: streams --------------------------------------------------------

pub struct StreamChoice {
    pub name: String,
    pub columns: String,
    pub primary_key: Option<String>,
    pub rows: Option<u64>,
    pub checked: bool,
    pub notes: Vec<String>,
}

#[derive(Template)]
#[template(path = "live_data/streams.html")]
pub(super) struct StreamsPage {
    layout: Layout,
    steps: Vec<Step>,
    s: sources::Model,
    streams: Vec<StreamChoice>,
    /// Streams listed but not readable at the last test, with their errors.
    unavailable: Vec<(String, Report)>,
    errors: FieldErrors,
}

pub(super) fn streams_page(
    user: &CurrentUser,
    s: sources::Model,
    chosen: &[String],
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let streams = manage::catalog(&s)
        .into_iter()
        .map(|st| StreamChoice {
            columns: st
                .columns
                .iter()
                .map(|c| format!("{} ({})", c.name, c.kind.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            checked: chosen.contains(&st.name),
            name: st.name,
            primary_key: st.primary_key,
            rows: st.row_count,
            notes: st.notes,
        })
        .collect();
    let p = StreamsPage {
        layout: Layout::for_user(user, format!("Choose streams: {}", s.name)),
        steps: steps(Some(&s), 3),
        unavailable: super::test_step::unavailable_of(manage::last_test(&s).as_ref()),
        s,
        streams,
        errors,
    };
    render(status, &p)
}

pub async fn streams(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    if !manage::last_test(&s).is_some_and(|t| t.ok) {
        Flash::push(
            &user.session,
            "info",
            "Test the connection first: the streams are listed after a successful test.",
        );
        return Ok(see_other(&urls::source_action(s.id, "test")));
    }
    let chosen = manage::chosen_streams(&s);
    streams_page(&user, s, &chosen, FieldErrors::default(), StatusCode::OK)
}

#[derive(Deserialize)]
pub struct StreamsForm {
    #[serde(default)]
    streams: Vec<String>,
}

pub async fn save_streams(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<StreamsForm>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    match manage::choose_streams(&state, &user.actor, &s, &form.streams).await {
        Ok(s) => Ok(see_other(&urls::source_action(s.id, "link"))),
        Err(Refusal::Fields(errs)) => {
            let errors = FieldErrors::from(errs);
            streams_page(&user, s, &form.streams, errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(Refusal::NotReady(m)) => {
            Flash::push(&user.session, "error", m);
            Ok(see_other(&urls::source_action(s.id, "test")))
        }
        Err(e) => Err(e.into()),
    }
}
