//! Webhooks: a workspace's URLs that get its events, signed by the Standard
//! Webhooks specification (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, made
//! by the specification's own library). Each event is queued per webhook in
//! the database and delivered by a worker through the same SSRF-guarded
//! client as connectors; a failed attempt is retried on the specification's
//! schedule for a day, then the delivery has failed, the webhook is marked
//! failing and the admins are emailed. Every attempt is logged with the
//! receiver's status and answer time.
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DbErr;
use serde_json::{Value, json};

use crate::domain::webhooks::{TEST_EVENT, check_events, message_id, new_secret, retry_gap};
use crate::entities::{webhook_deliveries, webhooks};
use crate::notify::recipients;
use crate::refusal::{FieldError, Refusal};
use crate::state::AppState;
use crate::store::audit::{Actor, Target};
use crate::store::webhooks::Attempted;

/// What an admin sends to create or change a webhook.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    /// `active` or `disabled` (a failing webhook is set active again by a save).
    pub enabled: bool,
}

const SEAL_CONTEXT: &str = "webhook-secret";
/// A claimed delivery is this node's for so long.
const CLAIM: i64 = 120;
const LOOK_EVERY: Duration = Duration::from_secs(2);

static WAKE: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// Deliveries may be due (one was queued, or a test moved the clock on): the worker looks now.
pub fn wake() {
    WAKE.notify_waiters();
}

fn target(h: &webhooks::Model) -> Target {
    Target { kind: "webhook", id: h.id, name: h.url.clone() }
}

fn checked(state: &AppState, input: &WebhookInput) -> Result<(String, Vec<String>), Refusal> {
    let mut errors = Vec::new();
    let url = match crate::connectors::outbound::parse_url(&input.url)
        .and_then(|u| crate::connectors::outbound::check_destination(&state.outbound_policy, &u).map(|()| u))
    {
        Ok(u) => Some(u.to_string()),
        Err(e) => {
            errors.push(FieldError::new("url", e.message));
            None
        }
    };
    if input.description.chars().count() > 200 {
        errors.push(FieldError::new("description", "Keep the description under 200 characters."));
    }
    let events = check_events(&input.events).map_err(|m| errors.push(FieldError::new("events", m))).ok();
    match (url, events) {
        (Some(u), Some(e)) if errors.is_empty() => Ok((u, e)),
        _ => Err(Refusal::Fields(errors)),
    }
}

/// Creates a webhook; its signing secret is returned this once.
pub async fn create(state: &AppState, by: &Actor, input: &WebhookInput) -> Result<(webhooks::Model, String), Refusal> {
    let (url, events) = checked(state, input)?;
    let secret = new_secret();
    let new = crate::store::webhooks::NewWebhook {
        workspace_id: by.workspace_id,
        url,
        description: input.description.trim().to_owned(),
        events,
        secret_sealed: state.sealer.seal(SEAL_CONTEXT, &secret),
        created_by: Some(by.user_id),
    };
    let hook = crate::store::webhooks::create(&state.db, new).await?;
    let detail = format!("Delivers {} to {}.", hook.events.0.join(", "), hook.url);
    crate::store::audit::record(&state.db, by.event("webhook.created", target(&hook), detail)).await?;
    Ok((hook, secret))
}

pub async fn update(
    state: &AppState,
    by: &Actor,
    hook: &webhooks::Model,
    input: &WebhookInput,
) -> Result<webhooks::Model, Refusal> {
    let (url, events) = checked(state, input)?;
    let mut m = hook.clone();
    m.url = url;
    m.description = input.description.trim().to_owned();
    m.events = crate::entities::json::Json(events);
    m.status = if input.enabled { "active".into() } else { "disabled".into() };
    if input.enabled {
        m.failing_since = None;
    }
    let saved = crate::store::webhooks::update(&state.db, &m).await?;
    let detail = format!("Delivers {} to {} ({}).", saved.events.0.join(", "), saved.url, saved.status);
    crate::store::audit::record(&state.db, by.event("webhook.changed", target(&saved), detail)).await?;
    Ok(saved)
}

pub async fn delete(state: &AppState, by: &Actor, hook: &webhooks::Model) -> Result<(), Refusal> {
    crate::store::webhooks::delete(&state.db, hook.id).await?;
    crate::store::audit::record(&state.db, by.event("webhook.deleted", target(hook), String::new())).await?;
    Ok(())
}

fn envelope(event_type: &str, data: Value) -> String {
    json!({"type": event_type, "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "data": data})
        .to_string()
}

/// Queues a `webhook.test` event for this webhook alone.
pub async fn send_test(state: &AppState, hook: &webhooks::Model) -> Result<webhook_deliveries::Model, Refusal> {
    let data = json!({"webhook_id": hook.id, "message": "A test event sent from keyhub."});
    let d = crate::store::webhooks::enqueue(
        &state.db,
        hook,
        message_id(),
        TEST_EVENT,
        envelope(TEST_EVENT, data),
        state.clock.now().timestamp(),
    )
    .await?;
    WAKE.notify_waiters();
    Ok(d)
}

/// Queues `event_type` with `data` (the object as the API shows it, never a
/// secret) for every enabled webhook of the workspace that asked for it.
/// Never fails the change that caused it: a database error is logged.
pub async fn emit(state: &AppState, workspace_id: i64, event_type: &'static str, data: Value) {
    if let Err(e) = try_emit(state, workspace_id, event_type, data).await {
        tracing::warn!(error = %e, event = event_type, "queueing a webhook event failed");
    }
}

async fn try_emit(state: &AppState, workspace_id: i64, event_type: &str, data: Value) -> Result<(), DbErr> {
    let hooks = crate::store::webhooks::list(&state.db, workspace_id).await?;
    let wanted: Vec<&webhooks::Model> =
        hooks.iter().filter(|h| h.status != "disabled" && h.events.0.iter().any(|e| e == event_type)).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let payload = envelope(event_type, data);
    let now = state.clock.now().timestamp();
    for h in wanted {
        crate::store::webhooks::enqueue(&state.db, h, message_id(), event_type, payload.clone(), now).await?;
    }
    WAKE.notify_waiters();
    Ok(())
}

/// One attempt of one delivery.
async fn attempt(state: &AppState, d: &webhook_deliveries::Model) -> Result<(), DbErr> {
    let Some(hook) = crate::store::webhooks::find(&state.db, d.workspace_id, d.webhook_id).await? else {
        return crate::store::webhooks::attempted(
            &state.db,
            d,
            None,
            0,
            Some("The webhook was deleted.".into()),
            Attempted::Failed,
        )
        .await;
    };
    let started = Instant::now();
    let result = deliver(state, &hook, d).await;
    let ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, error) = match result {
        Ok(s) if (200..300).contains(&s) => (Some(s), None),
        Ok(s) => (Some(s), Some(format!("The receiver answered {s}."))),
        Err(e) => (None, Some(e)),
    };
    let n = d.attempts + 1;
    let outcome = if error.is_none() {
        Attempted::Delivered
    } else {
        match retry_gap(n) {
            Some(gap) => Attempted::Retry(state.clock.now().timestamp() + gap),
            None => Attempted::Failed,
        }
    };
    crate::store::webhooks::attempted(&state.db, d, status, ms, error.clone(), outcome).await?;
    match outcome {
        Attempted::Delivered if hook.status == "failing" => {
            crate::store::webhooks::set_status(&state.db, hook.id, "active", None).await?;
        }
        Attempted::Failed if hook.status == "active" => {
            crate::store::webhooks::set_status(&state.db, hook.id, "failing", Some(Utc::now())).await?;
            failing_notice(state, &hook, error.as_deref().unwrap_or_default()).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The webhook's signing secret, unsealed (shown once after creating; signs every delivery).
pub fn secret_of(state: &AppState, hook: &webhooks::Model) -> Option<String> {
    state.sealer.open(SEAL_CONTEXT, &hook.secret_sealed)
}

/// POSTs the delivery, signed: the receiver's status, or why nothing answered.
async fn deliver(state: &AppState, hook: &webhooks::Model, d: &webhook_deliveries::Model) -> Result<u16, String> {
    let secret = secret_of(state, hook).ok_or("The signing secret cannot be opened.")?;
    let signer = standardwebhooks::Webhook::new(&secret).map_err(|e| e.to_string())?;
    // The signature's time is the real one: receivers compare it with theirs.
    let ts = Utc::now().timestamp();
    let signature = signer.sign(&d.message_id, ts, d.payload.as_bytes()).map_err(|e| e.to_string())?;
    let url = crate::connectors::outbound::parse_url(&hook.url).map_err(|e| e.message)?;
    let client = crate::connectors::outbound::Outbound::new(Arc::clone(&state.outbound_policy), &url, Vec::new())
        .map_err(|e| e.message)?;
    let headers = vec![
        ("webhook-id".to_owned(), d.message_id.clone()),
        ("webhook-timestamp".to_owned(), ts.to_string()),
        ("webhook-signature".to_owned(), signature),
    ];
    crate::connectors::outbound::check_destination(&state.outbound_policy, &url).map_err(|e| e.message)?;
    client.post(&url, &headers, d.payload.clone().into_bytes()).await.map(|a| a.status).map_err(|e| e.message)
}

/// A webhook gave up on a delivery after a day of retries: its admins hear once.
async fn failing_notice(state: &AppState, hook: &webhooks::Model, error: &str) -> Result<(), DbErr> {
    let admins = recipients::admins(state, hook.workspace_id).await?;
    for (user_id, email) in recipients::readers(state, &admins).await? {
        let letter = crate::notify::Letter {
            kind: "webhook_failing",
            workspace_id: Some(hook.workspace_id),
            subject: format!("Webhook to {} is failing", hook.url),
            heading: format!("Webhook to {} is failing", hook.url),
            paragraphs: vec![
                "keyhub retried a delivery for a day and gave up. New events are still queued and tried.".into(),
                format!("The last error: {error}"),
            ],
            link: Some((
                "The webhook".into(),
                format!("{}{}", crate::notify::base_url(state), crate::web::urls::webhook(hook.id)),
            )),
            unsubscribe: Some(recipients::unsubscribe_url(state, user_id)),
        };
        crate::notify::send(state, &email, letter).await?;
    }
    Ok(())
}

/// Delivers what is due; returns how many attempts were made.
pub async fn deliver_due(state: &AppState) -> usize {
    let now = state.clock.now().timestamp();
    let due = match crate::store::webhooks::due(&state.db, now, 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading due webhook deliveries failed");
            return 0;
        }
    };
    let mut made = 0;
    for d in due {
        match crate::store::webhooks::claim(&state.db, &d, now + CLAIM).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a webhook delivery failed");
                continue;
            }
        }
        if let Err(e) = attempt(state, &d).await {
            tracing::warn!(error = %e, delivery = d.id, "recording a webhook attempt failed");
        }
        made += 1;
    }
    made
}

/// The worker: every 2 s, and at once when an event is queued.
pub fn spawn_deliverer(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            let woken = WAKE.notified();
            deliver_due(&state).await;
            crate::pulse::background().bump();
            let _ = tokio::time::timeout(LOOK_EVERY, woken).await;
        }
    });
}

/// A Data Hub key as events carry it: what the API shows, never a secret.
pub fn hub_key_data(k: &crate::entities::hub_keys::Model) -> Value {
    let limits =
        crate::domain::limits::Limits::from_stored(k.rate_limit_requests, k.rate_limit_window, k.monthly_quota);
    json!({
        "id": k.id,
        "name": k.name,
        "access_type": k.access_type.as_str(),
        "status": k.status.as_str(),
        "identifier": k.secret_suffix.as_deref().map(|s| crate::domain::hub_keys::identifier(*k.access_type, s)),
        "expires_at": k.expires_at,
        "rate_limit": limits.rate,
        "monthly_quota": limits.monthly_quota,
        "version": k.version,
        "created_at": k.created_at,
        "updated_at": k.updated_at,
    })
}

/// A personal key as events carry it (its identifier, never the secret).
pub fn personal_key_data(k: &crate::entities::personal_keys::Model) -> Value {
    json!({
        "id": k.id,
        "label": k.label,
        "identifier": k.identifier,
        "owner_id": k.user_id,
        "permissions": k.permissions.split_whitespace().collect::<Vec<_>>(),
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
        "created_at": k.created_at,
    })
}
