use super::*;

// --- step 2: test connection ------------------------------------------------

#[derive(Template)]
#[template(path = "live_data/test.html")]
pub(super) struct TestPage {
    layout: Layout,
    steps: Vec<Step>,
    s: sources::Model,
    kind_name: &'static str,
    tested: Option<String>,
    ok: Option<usize>,
    error: Option<Report>,
    /// The record the test read: stream, and (field, value) pairs.
    sample: Option<(String, Vec<(String, String)>)>,
    /// The connector guide's common errors, the current one marked.
    guide: Vec<GuideRow>,
    /// Streams listed but not readable, each with its error.
    unavailable: Vec<(String, Report)>,
}

/// The last test's unavailable streams, as the pages show them.
pub(super) fn unavailable_of(last: Option<&crate::domain::live_data::TestResult>) -> Vec<(String, Report)> {
    last.map(|t| t.unavailable.iter().map(|u| (u.stream.clone(), u.error.report())).collect()).unwrap_or_default()
}

/// A row of the connector guide's table of common errors.
pub struct GuideRow {
    pub error: &'static str,
    pub cause: &'static str,
    pub solution: &'static str,
    pub current: bool,
}

/// The connector guide's table (401, 403, timeout), with the row of the
/// test's error marked.
pub(super) fn guide(current: Option<&str>) -> Vec<GuideRow> {
    [
        (
            "unauthorized",
            "401 Unauthorized",
            "Invalid or expired API key",
            "Regenerate the key in the provider's console, then paste it under Credentials.",
        ),
        (
            "forbidden",
            "403 Forbidden",
            "Insufficient scopes or permissions",
            "Check the key's permissions (scopes) at the provider.",
        ),
        ("timeout", "Timeout", "Service temporarily unavailable", "Try again in a few minutes."),
    ]
    .into_iter()
    .map(|(class, error, cause, solution)| GuideRow { error, cause, solution, current: current == Some(class) })
    .collect()
}

pub(super) fn test_page(user: &CurrentUser, s: sources::Model) -> Result<HttpResponse, AppError> {
    let last = manage::last_test(&s);
    let p = TestPage {
        layout: Layout::for_user(user, format!("Test connection: {}", s.name)),
        steps: steps(Some(&s), 2),
        kind_name: kind_name(&s.kind),
        tested: s.last_test_at.map(fmt_time),
        ok: last.as_ref().filter(|t| t.ok).map(|t| t.streams),
        unavailable: unavailable_of(last.as_ref()),
        error: last.as_ref().and_then(|t| t.error.as_ref()).map(ConnectorError::report),
        sample: last.as_ref().and_then(|t| t.sample.as_ref()).map(|smp| {
            let fields = smp.record.iter().map(|(k, v)| (k.clone(), crate::domain::schema::display(v))).collect();
            (smp.stream.clone(), fields)
        }),
        guide: guide(last.as_ref().and_then(|t| t.error.as_ref()).map(|e| e.class.as_str())),
        s,
    };
    render(StatusCode::OK, &p)
}

pub async fn test(
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    test_page(&user, find(&state, &user, *id).await?)
}

pub async fn run_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::ConnectorsManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Back>,
) -> Result<HttpResponse, AppError> {
    let s = find(&state, &user, *id).await?;
    let (s, result) = manage::test(&state, &user.actor, &s).await?;
    if form.back == "diagnostics" {
        match &result.error {
            None => Flash::push_about(&user.session, "success", "The connection test passed", Some(s.name.clone())),
            Some(e) => Flash::push_about(
                &user.session,
                "error",
                format!("The connection test failed: {}", e.class.title()),
                Some(s.name.clone()),
            ),
        }
        return Ok(see_other(urls::DIAGNOSTICS));
    }
    // htmx swaps the result in place; a plain form comes back to the page.
    if is_htmx(&req) { test_page(&user, s) } else { Ok(see_other(&urls::source_action(s.id, "test"))) }
}
