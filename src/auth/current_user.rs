//! The signed-in user of a browser request, with the workspace they are working in.
use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::state::AppState;
use crate::auth::{csrf, keys};
use crate::domain::Permission;
use crate::entities::users;
use crate::store::members::Membership;
use crate::web::errors::AppError;

pub struct CurrentUser {
    pub user: users::Model,
    /// The workspace the user is working in now; every query is scoped to it.
    pub membership: Membership,
    /// All workspaces the user may switch to.
    pub memberships: Vec<Membership>,
    pub session: Session,
}

impl CurrentUser {
    pub fn workspace_id(&self) -> i64 {
        self.membership.workspace_id
    }

    pub fn can(&self, p: Permission) -> bool {
        self.membership.permissions.contains(p)
    }

    pub fn csrf_token(&self) -> String {
        csrf::session_token(&self.session)
    }
}

/// Refuses with 403 unless the user holds `p` in the current workspace.
pub fn require(user: &CurrentUser, p: Permission) -> Result<(), AppError> {
    if user.can(p) { Ok(()) } else { Err(AppError::Forbidden) }
}

async fn load(req: HttpRequest) -> Result<CurrentUser, AppError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or(AppError::internal("app state missing"))?.clone();
    let session = req.get_session();
    let user_id = session.get::<i64>(keys::USER_ID).ok().flatten().ok_or(AppError::LoginRequired)?;
    let user = crate::store::users::find(&state.db, user_id).await?.ok_or(AppError::LoginRequired)?;
    let memberships = crate::store::members::active_memberships(&state.db, user.id).await?;
    let wanted = session.get::<i64>(keys::WORKSPACE_ID).ok().flatten();
    let membership = memberships
        .iter()
        .find(|m| Some(m.workspace_id) == wanted)
        .or_else(|| memberships.first())
        .cloned()
        .ok_or(AppError::NoWorkspace)?;
    if wanted != Some(membership.workspace_id) {
        let _ = session.insert(keys::WORKSPACE_ID, membership.workspace_id);
    }
    Ok(CurrentUser { user, membership, memberships, session })
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(load(req.clone()))
    }
}
