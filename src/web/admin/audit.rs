//! `Admin → Audit log`: every security-relevant event of the workspace,
//! filtered by actor, kind and date, paginated, exportable as CSV.
use crate::web::params::Params;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use crate::auth::{Member, perm};
use crate::state::AppState;
use crate::store::audit::{Filter, KINDS};
use crate::web::views::{ActivityItem, Pager, activity, query_base};
use crate::web::{AppError, FieldErrors, Layout, render, urls};

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    page: Option<crate::domain::query::Page>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<ActivityItem>,
    actors: Vec<Choice>,
    kinds: Vec<Choice>,
    from: String,
    until: String,
    errors: FieldErrors,
    pager: Pager,
    csv: String,
}

fn parse_date(s: &str) -> Result<Option<NaiveDate>, &'static str> {
    use chrono::Datelike;
    match s.trim() {
        "" => Ok(None),
        d => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            // Years a database can compare (PostgreSQL's range is narrower than chrono's).
            Ok(day) if (1..=9999).contains(&day.year()) => Ok(Some(day)),
            Ok(_) => Err("Enter a date between the years 1 and 9999."),
            Err(_) => Err("Enter a date as YYYY-MM-DD."),
        },
    }
}

/// The filter the query asks for, or the messages for the fields that are wrong.
fn filter(q: &AuditQuery) -> (Filter, FieldErrors) {
    let mut errors = FieldErrors::default();
    let day_start = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    let from = errors.check("from", parse_date(&q.from)).flatten().map(day_start);
    // "Until" includes the whole day.
    // The last day of the calendar has no next day: then there is no upper bound.
    let until = errors
        .check("until", parse_date(&q.until))
        .flatten()
        .and_then(|d| day_start(d).checked_add_signed(chrono::Duration::days(1)));
    let f = Filter {
        actor_user_id: q.actor.parse().ok(),
        kind: KINDS.iter().find(|(k, _)| *k == q.kind).map(|(k, _)| (*k).to_owned()),
        from,
        until,
        concerning: None,
    };
    (f, errors)
}

fn query_pairs(q: &AuditQuery) -> [(&'static str, &str); 4] {
    [("actor", &q.actor), ("kind", &q.kind), ("from", &q.from), ("until", &q.until)]
}

pub async fn show(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    query: Params<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let (f, errors) = filter(&query);
    let page = query.page.map_or(1, crate::domain::query::Page::get);
    let (mut rows, total) =
        crate::store::audit::page(&state.db, user.workspace_id(), &f, Pager::offset(page), Pager::PER_PAGE).await?;
    let pairs = query_pairs(&query);
    let pager = Pager::new(page, total, &query_base(urls::AUDIT, &pairs));
    if pager.page != page {
        // A page past the end shows the last one.
        rows =
            crate::store::audit::page(&state.db, user.workspace_id(), &f, Pager::offset(pager.page), Pager::PER_PAGE)
                .await?
                .0;
    }
    let mut actors: Vec<Choice> = crate::store::members::list(&state.db, user.workspace_id())
        .await?
        .into_iter()
        .map(|r| Choice {
            selected: f.actor_user_id == Some(r.member.user_id),
            value: r.member.user_id.to_string(),
            label: format!("{} <{}>", r.display_name, r.email),
        })
        .collect();
    actors.insert(0, Choice { value: String::new(), label: "Anyone".into(), selected: f.actor_user_id.is_none() });
    let mut kinds: Vec<Choice> = KINDS
        .iter()
        .map(|(k, label)| Choice {
            value: (*k).into(),
            label: (*label).into(),
            selected: f.kind.as_deref() == Some(*k),
        })
        .collect();
    kinds.insert(0, Choice { value: String::new(), label: "Every kind".into(), selected: f.kind.is_none() });
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render(
        status,
        &AuditPage {
            layout: Layout::for_user(&user, "Audit log"),
            events: activity(rows),
            actors,
            kinds,
            from: query.from.clone(),
            until: query.until.clone(),
            errors,
            pager,
            csv: query_base(urls::AUDIT_CSV, &pairs),
        },
    )
}

/// One CSV field, quoted when it must be, formulas defused like every CSV
/// keyhub writes (`domain::spreadsheet`).
fn csv_field(s: &str) -> String {
    let s = crate::domain::spreadsheet::cell(s);
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.into_owned() }
}

pub async fn csv(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    query: Params<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let (f, errors) = filter(&query);
    if !errors.is_empty() {
        return Err(AppError::BadRequest);
    }
    let rows = crate::store::audit::all(&state.db, user.workspace_id(), &f).await?;
    let mut out = String::from("time,actor,action,target,detail,address\r\n");
    for e in activity(rows) {
        let line = [e.when, e.who, e.action, e.target, e.detail, e.ip]
            .iter()
            .map(|v| csv_field(v))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"audit-log.csv\""))
        .body(out))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
