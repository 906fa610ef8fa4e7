//! `/admin/members`: change roles and permissions, disable, remove, invite,
//! revoke pending invitations. Requires `members.manage`.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::state::AppState;
use crate::auth::{CurrentUser, require};
use crate::domain::members::{Actor, MemberChange, check_grant};
use crate::domain::{Email, Permission, PermissionSet, Role, tokens};
use crate::store::members::ChangeError;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, is_htmx, render, see_other, urls};

/// Invitation links stay valid this long.
const INVITATION_DAYS: i64 = 7;

pub struct PermissionChoice {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

fn choices(checked: &PermissionSet) -> Vec<PermissionChoice> {
    Permission::ALL
        .into_iter()
        .map(|p| PermissionChoice { name: p.as_str(), description: p.description(), checked: checked.contains(p) })
        .collect()
}

pub struct MemberView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: &'static str,
    pub disabled: bool,
    pub is_self: bool,
    pub permissions: Vec<PermissionChoice>,
}

pub struct InvitationView {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub expires: String,
    pub expired: bool,
}

/// The invite form and, right after creating one, the link to copy.
pub struct InvitePanel {
    pub email: String,
    pub role: String,
    pub permissions: Vec<PermissionChoice>,
    pub errors: FieldErrors,
    pub link: Option<String>,
    pub csrf: String,
}

impl InvitePanel {
    fn empty(csrf: String) -> InvitePanel {
        InvitePanel {
            email: String::new(),
            role: "member".into(),
            permissions: choices(&PermissionSet::default()),
            errors: FieldErrors::default(),
            link: None,
            csrf,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/members.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    panel: InvitePanel,
    csrf: String,
    keys: Vec<crate::web::account::keys::KeyCard>,
    activity: Vec<crate::web::account::keys::ActivityItem>,
}

#[derive(Template)]
#[template(path = "admin/invite_panel.html")]
struct InvitePanelFragment {
    panel: InvitePanel,
}

async fn members_page(state: &AppState, user: &CurrentUser, panel: InvitePanel) -> Result<MembersPage, AppError> {
    let ws = user.workspace_id();
    let rows = crate::store::members::list(&state.db, ws).await?;
    let now = Utc::now();
    let invitations = crate::store::invitations::pending(&state.db, ws)
        .await?
        .into_iter()
        .map(|i| InvitationView {
            id: i.id,
            email: i.email,
            role: i.role,
            expires: i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            expired: i.expires_at <= now,
        })
        .collect();
    let all_keys = crate::store::keys::for_workspace(&state.db, ws).await?;
    let owners = crate::store::users::names(&state.db, all_keys.iter().map(|k| k.user_id)).await?;
    let keys = all_keys.iter().map(|k| crate::web::account::keys::card(k, now, owners.get(&k.user_id).cloned())).collect();
    let events = crate::store::audit::recent(&state.db, ws, crate::store::audit::Scope::Workspace, 50).await?;
    let activity = crate::web::account::keys::activity(state, events, &all_keys).await?;
    Ok(MembersPage {
        keys,
        activity,
        layout: Layout::for_user(user, "Members"),
        members: rows
            .into_iter()
            .map(|r| MemberView {
                id: r.member.id,
                is_self: r.member.user_id == user.user.id,
                email: r.email,
                display_name: r.display_name,
                role: r.role.as_str(),
                disabled: r.member.disabled,
                permissions: choices(&r.role.effective(&r.granted)),
            })
            .collect(),
        invitations,
        panel,
        csrf: user.csrf_token(),
    })
}

pub async fn show(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, AppError> {
    require(&user, Permission::MembersManage)?;
    let panel = InvitePanel::empty(user.csrf_token());
    render(StatusCode::OK, &members_page(&state, &user, panel).await?)
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub permission: Vec<String>,
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub permission: Vec<String>,
}

fn actor(user: &CurrentUser) -> Actor<'_> {
    Actor { role: user.membership.role, permissions: &user.membership.permissions }
}

fn invite_link(req: &HttpRequest, state: &AppState, token: &str) -> String {
    let base = crate::auth::client_ip::public_base(req, state.settings.public_url.as_deref(), &state.settings.trusted_proxies);
    format!("{base}{}/{token}", urls::INVITE)
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<HttpResponse, AppError> {
    require(&user, Permission::MembersManage)?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&form.email));
    let role = errors.check("role", Role::parse(&form.role).ok_or("Choose a role."));
    let perms = errors.check("permission", PermissionSet::parse_names(form.permission.iter().map(String::as_str)));
    if let (Some(role), Some(perms)) = (role, &perms) {
        errors.check("role", check_grant(&actor(&user), role, perms).map_err(|e| e.to_string()));
    }
    if let Some(email) = &email
        && let Some(existing) = crate::store::users::find_by_email(&state.db, email).await?
        && crate::store::members::find_by_user(&state.db, user.workspace_id(), existing.id).await?.is_some()
    {
        errors.add("email", "This person is already a member of this workspace.");
    }
    let mut panel = InvitePanel {
        email: form.email.clone(),
        role: form.role.clone(),
        permissions: choices(&perms.clone().unwrap_or_default()),
        errors: FieldErrors::default(),
        link: None,
        csrf: user.csrf_token(),
    };
    let (Some(email), Some(role), Some(perms), true) = (email, role, perms, errors.is_empty()) else {
        panel.errors = errors;
        return respond(&req, &state, &user, panel, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let token = tokens::random_token(40);
    crate::store::invitations::create(
        &state.db,
        crate::store::invitations::NewInvitation {
            workspace_id: user.workspace_id(),
            email: &email,
            role,
            permissions: &perms,
            token_hash: tokens::digest(&token),
            invited_by: user.user.id,
            expires_at: Utc::now() + chrono::Duration::days(INVITATION_DAYS),
        },
    )
    .await?;
    tracing::info!(workspace_id = user.workspace_id(), "invitation created");
    let mut panel = InvitePanel::empty(user.csrf_token());
    panel.link = Some(invite_link(&req, &state, &token));
    panel.email = email.to_string();
    respond(&req, &state, &user, panel, StatusCode::OK).await
}

/// The panel alone for htmx, the whole page otherwise (the link is shown once
/// either way; it is never stored in a form we can show again).
async fn respond(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    panel: InvitePanel,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        render(status, &InvitePanelFragment { panel })
    } else {
        render(status, &members_page(state, user, panel).await?)
    }
}

pub async fn revoke_invitation(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    CsrfForm(_): CsrfForm<crate::web::auth::Empty>,
) -> Result<HttpResponse, AppError> {
    require(&user, Permission::MembersManage)?;
    if !crate::store::invitations::revoke(&state.db, user.workspace_id(), path.into_inner()).await? {
        return Err(AppError::NotFound);
    }
    Flash::push(&user.session, "success", "The invitation has been revoked; its link no longer works.");
    Ok(see_other(urls::MEMBERS))
}

async fn change(
    state: &AppState,
    user: &CurrentUser,
    member_id: i64,
    change: MemberChange,
    done: &str,
) -> Result<HttpResponse, AppError> {
    require(user, Permission::MembersManage)?;
    match crate::store::members::apply_change(&state.db, user.workspace_id(), member_id, &actor(user), &change).await {
        Ok(user_id) => {
            if matches!(change, MemberChange::Disable | MemberChange::Remove) {
                // End their sessions at once, not at the next idle timeout.
                crate::store::sessions::delete_for_user(&state.db, user_id).await?;
            }
            if matches!(change, MemberChange::Remove) {
                // Removal is final for their keys here; rejoining later does not revive them.
                let n = crate::store::keys::revoke_all_for(&state.db, user.workspace_id(), user_id).await?;
                if n > 0 {
                    crate::store::audit::record(
                        &state.db,
                        crate::store::audit::Event {
                            workspace_id: user.workspace_id(),
                            actor_user_id: Some(user.user.id),
                            key_id: None,
                            action: "key.revoked",
                            detail: format!("{n} key(s) revoked because their owner was removed from the workspace."),
                            ip: None,
                        },
                    )
                    .await?;
                }
            }
            // Keys follow their owner's rights on the very next request.
            state.keys.changed().await?;
            Flash::push(&user.session, "success", done);
        }
        Err(ChangeError::NotFound) => return Err(AppError::NotFound),
        Err(ChangeError::Rule(rule)) => Flash::push(&user.session, "error", rule.to_string()),
        Err(ChangeError::Db(e)) => return Err(e.into()),
    }
    Ok(see_other(urls::MEMBERS))
}

pub async fn set_role(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let role = Role::parse(&form.role).ok_or(AppError::BadRequest)?;
    let perms = PermissionSet::parse_names(form.permission.iter().map(String::as_str)).map_err(|_| AppError::BadRequest)?;
    change(&state, &user, path.into_inner(), MemberChange::SetRole(role, perms), "The member's role and permissions have been saved.").await
}

/// `POST /admin/members/{id}/{disable|enable|remove}`.
pub async fn status(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, String)>,
    CsrfForm(_): CsrfForm<crate::web::auth::Empty>,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (what, done) = match action.as_str() {
        "disable" => (MemberChange::Disable, "The member has been disabled and signed out."),
        "enable" => (MemberChange::Enable, "The member has been enabled."),
        "remove" => (MemberChange::Remove, "The member has been removed from the workspace."),
        _ => return Err(AppError::NotFound),
    };
    change(&state, &user, id, what, done).await
}

/// An admin revokes any personal key of the workspace (members.manage).
pub async fn revoke_key(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    CsrfForm(_): CsrfForm<crate::web::auth::Empty>,
) -> Result<HttpResponse, AppError> {
    require(&user, Permission::MembersManage)?;
    let key = crate::store::keys::find(&state.db, user.workspace_id(), path.into_inner(), None).await?.ok_or(AppError::NotFound)?;
    // As with roles, only admins act on what admins hold.
    let owner = crate::store::members::find_by_user(&state.db, user.workspace_id(), key.user_id).await?;
    if user.membership.role != Role::Admin && owner.is_some_and(|m| m.role == Role::Admin.as_str()) && key.user_id != user.user.id {
        Flash::push(&user.session, "error", "Only admins can revoke an admin's key.");
        return Ok(see_other(urls::MEMBERS));
    }
    if crate::store::keys::revoke(&state.db, key.id).await? {
        state.keys.changed().await?;
        let event = crate::web::account::keys::audit(&user, &req, &state, key.id, "key.revoked", "Revoked by an admin.".into());
        crate::store::audit::record(&state.db, event).await?;
        Flash::push(&user.session, "success", format!("The key {} ({}) has been revoked.", key.label, key.identifier));
    }
    Ok(see_other(urls::MEMBERS))
}
