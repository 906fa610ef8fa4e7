//! The notices keyhub emails on its own: a key expiring in 7 days and in 1
//! day (once each, noted on the key), and a source that starts failing or
//! recovers (to the workspace's admins). Each carries a link that turns
//! notices off for its reader (also a setting on the profile).
use chrono::{DateTime, Duration, Utc};
use sea_orm::DbErr;

use crate::domain::usage::KeyRef;
use crate::notify::recipients::{admins, readers, unsubscribe_url};
use crate::notify::{Letter, base_url, send};
use crate::state::AppState;

fn in_words(left: Duration) -> String {
    // Rounded: a key made a moment ago for 30 days expires "in 30 days".
    let hours = ((left.num_minutes() + 30) / 60).max(1);
    if hours < 48 { format!("in {hours} hours") } else { format!("in {} days", (hours + 12) / 24) }
}

/// Which notice is due for a key expiring at `at`: `Some(true)` the 1-day
/// one, `Some(false)` the 7-day one.
fn due(at: DateTime<Utc>, now: DateTime<Utc>, sent_7d: bool, sent_1d: bool) -> Option<bool> {
    if at <= now {
        return None;
    }
    if at - now <= Duration::days(1) {
        return (!sent_1d).then_some(true);
    }
    (at - now <= Duration::days(7) && !sent_7d).then_some(false)
}

/// Sends the expiry notices due now; returns how many keys were noticed.
pub async fn expiring_keys(state: &AppState) -> Result<usize, DbErr> {
    let now = state.clock.now();
    let mut noticed = 0;
    for k in crate::store::keys::expiring(&state.db, now, now + Duration::days(7)).await? {
        let Some(at) = k.expires_at else { continue };
        let Some(one_day) = due(at, now, k.notice_7d_at.is_some(), k.notice_1d_at.is_some()) else { continue };
        for (user_id, email) in readers(state, &[k.user_id]).await? {
            let letter = Letter {
                kind: "key_expiring",
                workspace_id: Some(k.workspace_id),
                subject: format!("Your API key “{}” expires {}", k.label, in_words(at - now)),
                heading: format!("Your API key “{}” expires {}", k.label, in_words(at - now)),
                paragraphs: vec![
                    format!(
                        "The personal API key {} ({}) stops working at {} UTC. Whatever uses it then gets 401 expired_key.",
                        k.label,
                        k.identifier,
                        at.format("%Y-%m-%d %H:%M")
                    ),
                    "Generate a new key and put it where this one is used, then revoke this one.".into(),
                ],
                link: Some(("Your API keys".into(), format!("{}{}", base_url(state), crate::web::urls::ACCOUNT_KEYS))),
                unsubscribe: Some(unsubscribe_url(state, user_id)),
            };
            send(state, &email, letter).await?;
        }
        crate::store::key_notices::noted_expiry(&state.db, KeyRef::Personal(k.id), one_day, now).await?;
        let data = serde_json::json!({"kind": "personal", "key": crate::notify::webhooks::personal_key_data(&k)});
        crate::notify::webhooks::emit(state, k.workspace_id, "key.expiring", data).await;
        noticed += 1;
    }
    for k in crate::store::hub_keys::expiring(&state.db, now, now + Duration::days(7)).await? {
        let Some(at) = k.expires_at else { continue };
        let Some(one_day) = due(at, now, k.notice_7d_at.is_some(), k.notice_1d_at.is_some()) else { continue };
        for (user_id, email) in readers(state, &admins(state, k.workspace_id).await?).await? {
            let letter = Letter {
                kind: "key_expiring",
                workspace_id: Some(k.workspace_id),
                subject: format!("Data Hub key “{}” expires {}", k.name, in_words(at - now)),
                heading: format!("Data Hub key “{}” expires {}", k.name, in_words(at - now)),
                paragraphs: vec![format!(
                    "The key stops working at {} UTC: its callers then get 401 expired_key. Give it a later expire date in the key editor, or tell its callers.",
                    at.format("%Y-%m-%d %H:%M")
                )],
                link: Some(("The key".into(), format!("{}{}", base_url(state), crate::web::urls::hub_key(k.id)))),
                unsubscribe: Some(unsubscribe_url(state, user_id)),
            };
            send(state, &email, letter).await?;
        }
        crate::store::key_notices::noted_expiry(&state.db, KeyRef::Hub(k.id), one_day, now).await?;
        let data = serde_json::json!({"kind": "hub", "key": crate::notify::webhooks::hub_key_data(&k)});
        crate::notify::webhooks::emit(state, k.workspace_id, "key.expiring", data).await;
        noticed += 1;
    }
    expired_keys(state, now).await?;
    Ok(noticed)
}

/// `key.expired` for keys that expired in the last week and were not told of
/// yet (older ones, from before webhooks, are left alone).
async fn expired_keys(state: &AppState, now: DateTime<Utc>) -> Result<(), DbErr> {
    let since = now - Duration::days(7);
    for k in crate::store::keys::newly_expired(&state.db, since, now).await? {
        let data = serde_json::json!({"kind": "personal", "key": crate::notify::webhooks::personal_key_data(&k)});
        crate::notify::webhooks::emit(state, k.workspace_id, "key.expired", data).await;
        crate::store::key_notices::noted_expired(&state.db, KeyRef::Personal(k.id), now).await?;
    }
    for k in crate::store::hub_keys::newly_expired(&state.db, since, now).await? {
        let data = serde_json::json!({"kind": "hub", "key": crate::notify::webhooks::hub_key_data(&k)});
        crate::notify::webhooks::emit(state, k.workspace_id, "key.expired", data).await;
        crate::store::key_notices::noted_expired(&state.db, KeyRef::Hub(k.id), now).await?;
    }
    Ok(())
}

/// A source started failing (`failing`) or recovered: one email to each admin.
pub async fn source_changed(
    state: &AppState,
    source: &crate::entities::sources::Model,
    failing: bool,
    error: Option<&str>,
) -> Result<(), DbErr> {
    let data = serde_json::json!({
        "id": source.id, "name": source.name, "kind": source.kind, "status": if failing { "failing" } else { "active" },
        "error": error,
    });
    let event = if failing { "sync.failed" } else { "sync.recovered" };
    crate::notify::webhooks::emit(state, source.workspace_id, event, data).await;
    for (user_id, email) in readers(state, &admins(state, source.workspace_id).await?).await? {
        let (subject, paragraphs) = if failing {
            (
                format!("Source “{}” is failing", source.name),
                vec![
                    format!(
                        "Syncing “{}” failed and its schedule stopped until a connection test passes.",
                        source.name
                    ),
                    error.map(|e| format!("The error: {e}")).unwrap_or_default(),
                ],
            )
        } else {
            (
                format!("Source “{}” works again", source.name),
                vec![format!("“{}” synced (or passed its test) again; its schedule runs as before.", source.name)],
            )
        };
        let letter = Letter {
            kind: if failing { "source_failing" } else { "source_recovered" },
            workspace_id: Some(source.workspace_id),
            heading: subject.clone(),
            subject,
            paragraphs: paragraphs.into_iter().filter(|p| !p.is_empty()).collect(),
            link: Some(("The source".into(), format!("{}{}", base_url(state), crate::web::urls::source(source.id)))),
            unsubscribe: Some(unsubscribe_url(state, user_id)),
        };
        send(state, &email, letter).await?;
    }
    Ok(())
}

/// Looks for expiring and expired keys every minute (and at start).
pub fn spawn_expiry_watch(state: std::sync::Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = expiring_keys(&state).await {
                tracing::warn!(error = %e, "sending expiry notices failed");
            }
            crate::pulse::background().bump();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_days_then_one_day_then_nothing() {
        let now = Utc::now();
        assert_eq!(due(now + Duration::days(8), now, false, false), None);
        assert_eq!(due(now + Duration::days(6), now, false, false), Some(false));
        assert_eq!(due(now + Duration::days(6), now, true, false), None);
        assert_eq!(due(now + Duration::hours(20), now, true, false), Some(true));
        assert_eq!(due(now + Duration::hours(20), now, true, true), None);
        assert_eq!(due(now - Duration::hours(1), now, false, false), None);
        assert_eq!(in_words(Duration::days(7)), "in 7 days");
        assert_eq!(in_words(Duration::hours(20)), "in 20 hours");
    }
}
