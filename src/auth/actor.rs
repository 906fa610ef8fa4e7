//! `Actor`, as an extractor: who acts, for the audit log, whichever front end
//! the request came through. The extractor that identified the caller — a
//! page's `Member`/`CurrentUser`, the API's `Principal` — leaves an `Identified`
//! in the request; `Actor` adds the client's address. So a handler names
//! `by: Actor` after its caller argument and hands it to the service.
use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::state::AppState;
use crate::store::audit::Actor;

/// Who the request is from, as the identifying extractor found them.
#[derive(Clone)]
pub struct Identified {
    pub workspace_id: i64,
    pub user_id: i64,
    /// `Ada <ada@example.com>` for a person at a page.
    pub name: Option<String>,
    /// `with API key khp_…abcd` for an API call.
    pub via: Option<String>,
}

impl Identified {
    pub fn remember(self, req: &HttpRequest) {
        req.extensions_mut().insert(self);
    }
}

impl FromRequest for Actor {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let known = req.extensions().get::<Identified>().cloned();
        let state = req.app_data::<web::Data<AppState>>();
        ready(match (known, state) {
            (Some(who), Some(state)) => Ok(Actor {
                workspace_id: who.workspace_id,
                user_id: who.user_id,
                name: who.name,
                via: who.via,
                ip: state.client_ip(req),
            }),
            // A handler that names `Actor` before its caller: a bug, found by any test of it.
            _ => Err(actix_web::error::ErrorInternalServerError("the caller is not known yet")),
        })
    }
}
