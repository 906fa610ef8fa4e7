//! The workspace switcher in the navigation.
use actix_web::HttpResponse;
use serde::Deserialize;

use crate::auth::{CurrentUser, keys};
use crate::web::{AppError, CsrfForm, see_other, urls};

#[derive(Deserialize)]
pub struct SwitchForm {
    pub workspace_id: i64,
}

pub async fn switch(user: CurrentUser, CsrfForm(form): CsrfForm<SwitchForm>) -> Result<HttpResponse, AppError> {
    // Only workspaces the user is an active member of can be chosen.
    if !user.memberships.iter().any(|m| m.workspace_id == form.workspace_id) {
        return Err(AppError::NotFound);
    }
    user.session.insert(keys::WORKSPACE_ID, form.workspace_id).map_err(|e| anyhow::anyhow!("session: {e}"))?;
    Ok(see_other(urls::HOME))
}
