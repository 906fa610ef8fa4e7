use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{ApiError, Principal, perm};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct MemberOut {
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    /// `admin` or `member`.
    pub role: String,
    /// Granted permissions (an admin may do everything regardless).
    pub permissions: Vec<String>,
    pub disabled: bool,
}

/// The members of the key's workspace. Needs `members.manage`.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "members",
    responses(
        (status = 200, description = "Members of the key's workspace", body = Vec<MemberOut>),
        (status = 401, description = "The key was refused", body = crate::api::errors::ErrorBody),
        (status = 403, description = "insufficient_permission: needs members.manage", body = crate::api::errors::ErrorBody),
    ),
    security(("bearer" = []), ("api_key_header" = []), ("api_key_query" = []))
)]
pub async fn list(state: web::Data<AppState>, p: Principal<perm::MembersManage>) -> Result<HttpResponse, ApiError> {
    let rows = crate::store::members::list(&state.db, p.key.workspace_id).await?;
    let out: Vec<MemberOut> = rows
        .into_iter()
        .map(|r| MemberOut {
            id: r.member.id,
            user_id: r.member.user_id,
            email: r.email,
            display_name: r.display_name,
            role: r.role.as_str().to_owned(),
            permissions: r.granted.iter().map(|x| x.as_str().to_owned()).collect(),
            disabled: r.member.disabled,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
