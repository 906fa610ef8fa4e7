//! `Admin → Invitations`: invite someone (a one-time link to copy and send) and
//! the pending invitations, which the htmx answer refreshes together with the
//! form so the list is never stale. Requires `members.manage`.
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::domain::{Email, PermissionSet, Role};
use crate::invitations::{self, Acting};
use crate::state::AppState;
use crate::web::confirm::{Confirmation, Confirmed, ask};
use crate::web::views::{PermissionChoice, all_permission_choices, fmt_time};
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, is_htmx, render, see_other, urls};

pub struct InvitationView {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub expires: String,
    pub expired: bool,
}

/// The invite form, the link to copy right after creating one, and the pending list.
pub struct InvitePanel {
    pub email: String,
    pub role: String,
    pub permissions: Vec<PermissionChoice>,
    pub errors: FieldErrors,
    pub link: Option<String>,
    /// The link also went out by email.
    pub emailed: bool,
    pub csrf: String,
    pub pending: Vec<InvitationView>,
}

#[derive(Template)]
#[template(path = "admin/invitations.html")]
struct InvitationsPage {
    layout: Layout,
    panel: InvitePanel,
}

#[derive(Template)]
#[template(path = "admin/invite_panel_partial.html")]
struct InvitePanelFragment {
    panel: InvitePanel,
}

async fn pending(state: &AppState, workspace_id: i64) -> Result<Vec<InvitationView>, AppError> {
    let now = Utc::now();
    Ok(crate::store::invitations::pending(&state.db, workspace_id)
        .await?
        .into_iter()
        .map(|i| InvitationView {
            id: i.id,
            email: i.email,
            role: i.role.to_string(),
            expires: fmt_time(i.expires_at),
            expired: i.expires_at <= now,
        })
        .collect())
}

async fn empty_panel(state: &AppState, user: &CurrentUser) -> Result<InvitePanel, AppError> {
    Ok(InvitePanel {
        email: String::new(),
        role: "member".into(),
        permissions: all_permission_choices(&PermissionSet::default()),
        errors: FieldErrors::default(),
        link: None,
        emailed: false,
        csrf: user.csrf_token(),
        pending: pending(state, user.workspace_id()).await?,
    })
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
) -> Result<HttpResponse, AppError> {
    let mut panel = empty_panel(&state, &user).await?;
    if let Some(r) = crate::web::retry::take(&req, urls::INVITATIONS) {
        panel.email = r.value("email");
        panel.role = r.value("role");
        let checked = PermissionSet::parse_names(r.values("permission").iter().map(String::as_str)).unwrap_or_default();
        panel.permissions = all_permission_choices(&checked);
        panel.errors = r.errors;
    }
    render(StatusCode::OK, &InvitationsPage { layout: Layout::for_user(&user, "Invitations"), panel })
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

/// The panel alone for htmx, the whole page otherwise (the link is shown once
/// either way; it is never stored in a form we can show again).
fn respond(
    req: &HttpRequest,
    user: &CurrentUser,
    panel: InvitePanel,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        render(status, &InvitePanelFragment { panel })
    } else {
        render(status, &InvitationsPage { layout: Layout::for_user(user, "Invitations"), panel })
    }
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&form.email));
    let role = errors.check("role", Role::parse(&form.role).ok_or("Choose a role."));
    let perms = errors.check("permission", PermissionSet::parse_names(form.permission.iter().map(String::as_str)));
    let acting = Acting { role: user.membership.role, permissions: &user.membership.permissions };
    if let (Some(role), Some(perms)) = (role, &perms) {
        errors.check("role", invitations::check(&acting, role, perms).map_err(|e| e.to_string()));
    }
    if let Some(email) = &email
        && invitations::already_member(&state, user.workspace_id(), email).await?
    {
        errors.add("email", "This person is already a member of this workspace.");
    }
    let (Some(email), Some(role), Some(perms), true) = (email, role, perms.clone(), errors.is_empty()) else {
        let mut kept = vec![("email", form.email.as_str()), ("role", &form.role)];
        kept.extend(form.permission.iter().map(|p| ("permission", p.as_str())));
        if let Some(back) = crate::web::retry::back_to(&req, urls::INVITATIONS, &kept, &errors) {
            return Ok(back);
        }
        let mut panel = empty_panel(&state, &user).await?;
        panel.email = form.email.clone();
        panel.role = form.role.clone();
        panel.permissions = all_permission_choices(&perms.unwrap_or_default());
        panel.errors = errors;
        return respond(&req, &user, panel, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let token = invitations::create(&state, &user.actor, &acting, &email, role, &perms).await?;
    let mut panel = empty_panel(&state, &user).await?;
    let base = crate::auth::client_ip::public_base(
        &req,
        state.settings.public_url.as_deref(),
        &state.settings.trusted_proxies,
    );
    let link = format!("{base}{}/{token}", urls::INVITE);
    let ws = &user.membership.workspace_name;
    panel.emailed =
        crate::notify::invitation(&state, user.workspace_id(), ws, &user.user.display_name, email.as_str(), &link)
            .await?;
    panel.link = Some(link);
    panel.email = email.to_string();
    respond(&req, &user, panel, StatusCode::OK)
}

pub async fn revoke(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    path: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let inv = crate::store::invitations::pending(&state.db, user.workspace_id())
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or(AppError::NotFound)?;
    if !form.yes() {
        return ask(
            &user,
            Confirmation {
                title: "Revoke invitation",
                question: "Revoke the invitation for this address? Its link stops working:".into(),
                subject: Some(inv.email.clone()),
                action: urls::invitation_action(id, "revoke"),
                button: "Revoke invitation",
                fields: Vec::new(),
                back: urls::INVITATIONS.into(),
            },
        );
    }
    if invitations::revoke(&state, &user.actor, &inv).await? {
        Flash::push_about(&user.session, "success", "Invitation revoked; its link no longer works:", Some(inv.email));
    }
    Ok(see_other(urls::INVITATIONS))
}
