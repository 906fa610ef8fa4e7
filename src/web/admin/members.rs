//! `Admin → Members`: the list (search, pagination) and each member's own page:
//! role and permissions, disable / enable / remove, a password-reset link,
//! their personal keys. Requires `members.manage`.
use crate::web::params::Params;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::domain::members::MemberChange;
use crate::domain::{PermissionSet, Role};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::members::MemberRow;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::views::{
    KeyRow, ListQuery, Pager, PermissionChoice, SortHeader, all_permission_choices, key_row, query_base,
};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

pub struct MemberListItem {
    pub id: i64,
    pub display_name: String,
    pub email: String,
    pub role: &'static str,
    pub disabled: bool,
    pub is_self: bool,
    pub permissions: String,
}

#[derive(Template)]
#[template(path = "admin/members.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<MemberListItem>,
    q: String,
    pager: Pager,
    headers: Vec<SortHeader>,
}

const SORTS: [(&str, &str); 4] =
    [("name", "Member"), ("role", "Role"), ("permissions", "Permissions"), ("status", "Status")];

fn sort_rows(rows: &mut [MemberRow], sort: &str, descending: bool) {
    match sort {
        "role" => rows.sort_by(|a, b| a.role.as_str().cmp(b.role.as_str()).then(a.display_name.cmp(&b.display_name))),
        "permissions" => {
            rows.sort_by_key(|r| (r.role.effective(&r.granted).iter().count(), r.display_name.to_lowercase()))
        }
        "status" => rows.sort_by_key(|r| (r.member.disabled, r.display_name.to_lowercase())),
        _ => rows.sort_by_key(|r| (r.display_name.to_lowercase(), r.email.clone())),
    }
    if descending {
        rows.reverse();
    }
}

fn matches(r: &MemberRow, q: &str) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty() || r.display_name.to_lowercase().contains(&q) || r.email.contains(&q)
}

pub async fn list(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    query: Params<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let mut rows: Vec<MemberRow> = crate::store::members::list(&state.db, user.workspace_id())
        .await?
        .into_iter()
        .filter(|r| matches(r, &query.q))
        .collect();
    let sort = SORTS.iter().find(|(k, _)| *k == query.sort).map(|(k, _)| *k).unwrap_or("name");
    let descending = query.dir == "desc";
    sort_rows(&mut rows, sort, descending);
    let headers = SORTS
        .iter()
        .map(|(key, label)| SortHeader::new(urls::MEMBERS, &[("q", &query.q)], key, label, *key == sort, descending))
        .collect();
    let dir = if descending { "desc" } else { "asc" };
    let pager = Pager::new(
        query.page(),
        rows.len() as u64,
        &query_base(urls::MEMBERS, &[("q", &query.q), ("sort", sort), ("dir", dir)]),
    );
    let members = rows
        .into_iter()
        .skip(Pager::offset(pager.page) as usize)
        .take(Pager::PER_PAGE as usize)
        .map(|r| MemberListItem {
            id: r.member.id,
            is_self: r.member.user_id == user.user.id,
            permissions: if r.role == Role::Admin { "all".into() } else { r.granted.to_stored() },
            display_name: r.display_name,
            email: r.email,
            role: r.role.as_str(),
            disabled: r.member.disabled,
        })
        .collect();
    render(
        StatusCode::OK,
        &MembersPage { layout: Layout::for_user(&user, "Members"), members, q: query.q.clone(), pager, headers },
    )
}

#[derive(Template)]
#[template(path = "admin/member.html")]
struct MemberPage {
    layout: Layout,
    m: MemberListItem,
    role: String,
    permissions: Vec<PermissionChoice>,
    errors: FieldErrors,
    keys: Vec<KeyRow>,
    reset_link: Option<String>,
    /// The reset link also went out by email.
    reset_emailed: bool,
}

async fn member_row(state: &AppState, user: &CurrentUser, id: i64) -> Result<MemberRow, AppError> {
    crate::store::members::list(&state.db, user.workspace_id())
        .await?
        .into_iter()
        .find(|r| r.member.id == id)
        .ok_or(AppError::NotFound)
}

/// The member page. The permission boxes show what is *granted*; for an admin
/// (who may do everything by role) none are ticked, so demoting an admin to
/// member saves exactly the permissions chosen then.
async fn member_page(
    state: &AppState,
    user: &CurrentUser,
    r: MemberRow,
    form: Option<(String, PermissionSet, FieldErrors)>,
    reset_link: Option<String>,
) -> Result<MemberPage, AppError> {
    let now = Utc::now();
    let keys = crate::store::keys::for_owner(&state.db, user.workspace_id(), r.member.user_id)
        .await?
        .iter()
        .map(|k| key_row(k, now, None))
        .collect();
    let shown = if r.role == Role::Admin { PermissionSet::default() } else { r.granted.clone() };
    let (role, checked, errors) = form.unwrap_or_else(|| (r.role.as_str().to_owned(), shown, FieldErrors::default()));
    Ok(MemberPage {
        layout: Layout::for_user(user, format!("Member {}", r.display_name)),
        m: MemberListItem {
            id: r.member.id,
            is_self: r.member.user_id == user.user.id,
            permissions: if r.role == Role::Admin { "all".into() } else { r.granted.to_stored() },
            display_name: r.display_name,
            email: r.email,
            role: r.role.as_str(),
            disabled: r.member.disabled,
        },
        role,
        permissions: all_permission_choices(&checked),
        errors,
        keys,
        reset_link,
        reset_emailed: false,
    })
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let r = member_row(&state, &user, path.into_inner()).await?;
    let form = crate::web::retry::take(&req, req.path()).map(|retry| {
        let checked =
            PermissionSet::parse_names(retry.values("permission").iter().map(String::as_str)).unwrap_or_default();
        (retry.value("role"), checked, retry.errors)
    });
    render(StatusCode::OK, &member_page(&state, &user, r, form, None).await?)
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub permission: Vec<String>,
}

/// The acting member's own rights, which bound what they may do to others.
fn acting(user: &CurrentUser) -> crate::members::Acting<'_> {
    crate::members::Acting { role: user.membership.role, permissions: &user.membership.permissions }
}

pub async fn set_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let r = member_row(&state, &user, path.into_inner()).await?;
    let mut errors = FieldErrors::default();
    let role = errors.check("role", Role::parse(&form.role).ok_or("Choose a role."));
    let perms = errors.check("permission", PermissionSet::parse_names(form.permission.iter().map(String::as_str)));
    if let (Some(role), Some(perms)) = (role, perms.clone()) {
        match crate::members::change(&state, &user.actor, &acting(&user), &r, MemberChange::SetRole(role, perms)).await
        {
            Ok(()) => {
                Flash::push_about(
                    &user.session,
                    "success",
                    "Role and permissions saved for",
                    Some(r.display_name.clone()),
                );
                return Ok(see_other(&urls::member(r.member.id)));
            }
            Err(Refusal::NotAllowed(rule)) => errors.add("permission", rule),
            Err(other) => return Err(other.into()),
        }
    }
    let mut kept = vec![("role", form.role.as_str())];
    kept.extend(form.permission.iter().map(|p| ("permission", p.as_str())));
    if let Some(back) = crate::web::retry::back_to(&req, &urls::member(r.member.id), &kept, &errors) {
        return Ok(back);
    }
    let form = Some((form.role.clone(), perms.unwrap_or_default(), errors));
    render(StatusCode::UNPROCESSABLE_ENTITY, &member_page(&state, &user, r, form, None).await?)
}

/// `POST /admin/members/{id}/{disable|enable|remove}`; disable and remove are confirmed first.
pub async fn status(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    path: web::Path<(i64, String)>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (change, done, confirm) = match action.as_str() {
        "disable" => (
            MemberChange::Disable,
            "Disabled and signed out:",
            Some((
                "Disable member",
                "Disable this member? They are signed out at once and their keys stop working until you enable them again:",
            )),
        ),
        "enable" => (MemberChange::Enable, "Enabled:", None),
        "remove" => (
            MemberChange::Remove,
            "Removed from the workspace:",
            Some((
                "Remove member",
                "Remove this member from the workspace? Their sessions end and their personal keys here are revoked:",
            )),
        ),
        _ => return Err(AppError::NotFound),
    };
    let r = member_row(&state, &user, id).await?;
    if let Some((button, question)) = confirm
        && !form.yes()
    {
        return ask(
            &user,
            Confirmation {
                title: button,
                question: question.into(),
                subject: Some(format!("{} <{}>", r.display_name, r.email)),
                action: urls::member_action(id, &action),
                button,
                fields: Vec::new(),
                back: urls::member(id),
            },
        );
    }
    match crate::members::change(&state, &user.actor, &acting(&user), &r, change).await {
        Ok(()) => Flash::push_about(&user.session, "success", done, Some(r.display_name.clone())),
        Err(Refusal::NotAllowed(rule)) => Flash::push(&user.session, "error", rule),
        Err(other) => return Err(other.into()),
    }
    let back = if action == "remove" { urls::MEMBERS.to_owned() } else { urls::member(id) };
    Ok(see_other(&back))
}

/// An admin revokes any personal key of the workspace (members.manage).
pub async fn revoke_key(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let key = crate::store::keys::find(&state.db, user.workspace_id(), path.into_inner(), None)
        .await?
        .ok_or(AppError::NotFound)?;
    let owner = crate::store::members::find_by_user(&state.db, user.workspace_id(), key.user_id).await?;
    let back = owner.as_ref().map(|m| urls::member(m.id)).unwrap_or_else(|| urls::MEMBERS.to_owned());
    // Refused before the question is asked, not after.
    if let Err(refused) = crate::members::check_revoke_key(&state, &user.actor, &acting(&user), &key).await {
        return match refused {
            Refusal::NotAllowed(rule) => {
                Flash::push(&user.session, "error", rule);
                Ok(see_other(&back))
            }
            other => Err(other.into()),
        };
    }
    if !form.yes() {
        return ask(
            &user,
            Confirmation {
                title: "Revoke key",
                question: "Revoke this key? Anything using it stops working at once:".into(),
                subject: Some(format!("{} ({})", key.label, key.identifier)),
                action: urls::admin_key_action(key.id, "revoke"),
                button: "Revoke key",
                fields: Vec::new(),
                back,
            },
        );
    }
    if crate::members::revoke_key(&state, &user.actor, &acting(&user), &key).await? {
        Flash::push_about(
            &user.session,
            "success",
            "Key revoked:",
            Some(format!("{} ({})", key.label, key.identifier)),
        );
    }
    Ok(see_other(&back))
}

/// `POST /admin/members/{id}/reset-link`: a one-time link for a member who
/// forgot their password, shown once on the member page.
pub async fn reset_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    path: web::Path<i64>,
    CsrfForm(_): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let r = member_row(&state, &user, path.into_inner()).await?;
    let token = match crate::members::reset_link(&state, &user.actor, &acting(&user), &r).await {
        Ok(token) => token,
        Err(Refusal::NotAllowed(rule)) => {
            Flash::push(&user.session, "error", rule);
            return Ok(see_other(&urls::member(r.member.id)));
        }
        Err(other) => return Err(other.into()),
    };
    let base = crate::auth::client_ip::public_base(
        &req,
        state.settings.public_url.as_deref(),
        &state.settings.trusted_proxies,
    );
    let link = format!("{base}{}/{token}", urls::RESET);
    let emailed = crate::notify::reset_link(&state, user.workspace_id(), &r.email, &link).await?;
    let mut page = member_page(&state, &user, r, None, Some(link)).await?;
    page.reset_emailed = emailed;
    render(StatusCode::OK, &page)
}
