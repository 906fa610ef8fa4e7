//! Who hears from keyhub: a workspace's admins, users who have not turned
//! notices off, and the keyed link that turns them off.
use hmac::{Hmac, Mac};
use sea_orm::DbErr;
use sha2::Sha256;

use crate::notify::base_url;
use crate::state::AppState;

/// The token in a user's unsubscribe link: keyed by the instance's secret,
/// so nobody can turn off someone else's notices by guessing.
pub fn unsubscribe_token(state: &AppState, user_id: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(state.csrf_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("keyhub-notices-off:{user_id}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

pub fn token_ok(state: &AppState, user_id: i64, token: &str) -> bool {
    crate::domain::tokens::constant_time_eq(unsubscribe_token(state, user_id).as_bytes(), token.as_bytes())
}

pub fn unsubscribe_url(state: &AppState, user_id: i64) -> String {
    format!("{}{}?u={user_id}&t={}", base_url(state), crate::web::urls::NOTICES_OFF, unsubscribe_token(state, user_id))
}

/// Who gets a notice: (user id, email), without those who turned notices off.
pub async fn readers(state: &AppState, user_ids: &[i64]) -> Result<Vec<(i64, String)>, DbErr> {
    let mut out = Vec::new();
    for id in user_ids {
        if let Some(u) = crate::store::users::find(&state.db, *id).await?
            && !u.notices_off
        {
            out.push((u.id, u.email));
        }
    }
    Ok(out)
}

/// The workspace's active admins.
pub async fn admins(state: &AppState, workspace_id: i64) -> Result<Vec<i64>, DbErr> {
    Ok(crate::store::members::list(&state.db, workspace_id)
        .await?
        .into_iter()
        .filter(|r| r.role == crate::domain::Role::Admin && !r.member.disabled)
        .map(|r| r.member.user_id)
        .collect())
}
