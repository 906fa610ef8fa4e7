//! Who is signed in: `SignedIn` (any signed-in user, even one whose access to
//! every workspace was disabled or removed) and `CurrentUser` (a signed-in
//! member working in a workspace; every query is scoped to it).
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::auth::perm::{self, Requirement};
use crate::auth::{csrf, keys};
use crate::domain::Permission;
use crate::entities::users;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::members::Membership;
use crate::web::errors::AppError;

pub struct SignedIn {
    pub user: users::Model,
    /// The workspace the user is working in, if they are an active member of any.
    pub membership: Option<Membership>,
    /// All workspaces the user may switch to.
    pub memberships: Vec<Membership>,
    pub session: Session,
    /// The path of the request, so the frame can mark the current page.
    pub path: String,
    /// `KEYHUB_SUPPORT_CONTACT`, for the help link in the frame.
    pub support_contact: Option<String>,
    /// Failing sources of the current workspace (the navigation's badge), for
    /// members who manage connectors.
    pub failing_sources: u64,
    /// The client's address, for the audit log.
    pub ip: Option<String>,
}

pub struct CurrentUser {
    pub user: users::Model,
    pub membership: Membership,
    pub memberships: Vec<Membership>,
    pub session: Session,
    pub path: String,
    pub support_contact: Option<String>,
    pub failing_sources: u64,
    /// Who acts, for the audit log: this member, in this workspace, from the
    /// request's address. Built once here, handed to every service it calls.
    pub actor: Actor,
}

impl SignedIn {
    pub fn csrf_token(&self) -> String {
        csrf::session_token(&self.session)
    }

    /// The same user as a member of their current workspace, if they have one.
    pub fn current(self) -> Result<CurrentUser, Box<SignedIn>> {
        match self.membership {
            Some(membership) => Ok(CurrentUser {
                actor: Actor {
                    workspace_id: membership.workspace_id,
                    user_id: self.user.id,
                    name: Some(crate::store::audit::person(&self.user)),
                    via: None,
                    ip: self.ip,
                },
                user: self.user,
                membership,
                memberships: self.memberships,
                session: self.session,
                path: self.path,
                support_contact: self.support_contact,
                failing_sources: self.failing_sources,
            }),
            None => Err(Box::new(self)),
        }
    }
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

/// A signed-in member who holds what `R` requires in their current workspace
/// (`Member<perm::DataWrite>`): the pages' twin of the API's `Principal<R>`.
/// The check runs before the handler, so it precedes every lookup. Derefs to
/// the `CurrentUser`.
pub struct Member<R: Requirement = perm::Authenticated> {
    user: CurrentUser,
    _requirement: PhantomData<R>,
}

impl<R: Requirement> Member<R> {
    pub fn into_inner(self) -> CurrentUser {
        self.user
    }
}

impl<R: Requirement> std::ops::Deref for Member<R> {
    type Target = CurrentUser;

    fn deref(&self) -> &CurrentUser {
        &self.user
    }
}

impl<R: Requirement + 'static> FromRequest for Member<R> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            R::check(&user.membership.permissions).map_err(AppError::Needs)?;
            Ok(Member { user, _requirement: PhantomData })
        })
    }
}

pub async fn load(req: &HttpRequest) -> Result<SignedIn, AppError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or(AppError::internal("app state missing"))?.clone();
    let session = req.get_session();
    let user_id = session.get::<i64>(keys::USER_ID).ok().flatten().ok_or(AppError::LoginRequired)?;
    let user = crate::store::users::find(&state.db, user_id).await?.ok_or(AppError::LoginRequired)?;
    let memberships = crate::store::members::active_memberships(&state.db, user.id).await?;
    let wanted = session.get::<i64>(keys::WORKSPACE_ID).ok().flatten();
    let membership =
        memberships.iter().find(|m| Some(m.workspace_id) == wanted).or_else(|| memberships.first()).cloned();
    if let Some(m) = &membership
        && wanted != Some(m.workspace_id)
    {
        let _ = session.insert(keys::WORKSPACE_ID, m.workspace_id);
    }
    // One indexed count per page, only for those who can act on it.
    let failing_sources = match &membership {
        Some(m) if m.permissions.contains(Permission::ConnectorsManage) => {
            crate::store::live_data::failing_count(&state.db, m.workspace_id).await?
        }
        _ => 0,
    };
    Ok(SignedIn {
        failing_sources,
        user,
        membership,
        memberships,
        session,
        path: req.path().to_owned(),
        support_contact: state.settings.support_contact.clone(),
        ip: state.client_ip(req),
    })
}

impl FromRequest for SignedIn {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load(&req).await })
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { load(&req).await?.current().map_err(|_| AppError::NoWorkspace) })
    }
}
