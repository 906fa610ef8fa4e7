//! `Admin → Webhooks`: the workspace's webhooks — URL, events, the signing
//! secret shown once, a delivery log with each attempt's status and answer
//! time, "Send test event", and delete (confirmed).
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::{CurrentUser, Member, perm};
use crate::domain::webhooks::EVENTS;
use crate::entities::webhooks;
use crate::notify::webhooks::{self as service, WebhookInput};
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::web::confirm::Confirmed;
use crate::web::views::fmt_time;
use crate::web::{AppError, CsrfForm, FieldErrors, Flash, Layout, render, see_other, urls};

#[derive(Deserialize, Default, Clone)]
pub struct WebhookForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    events: Vec<String>,
    /// `on` when ticked (the edit form).
    #[serde(default)]
    enabled: String,
}

impl WebhookForm {
    fn input(&self, creating: bool) -> WebhookInput {
        WebhookInput {
            url: self.url.clone(),
            description: self.description.clone(),
            events: self.events.clone(),
            enabled: creating || self.enabled == "on",
        }
    }

    fn of(h: &webhooks::Model) -> WebhookForm {
        WebhookForm {
            url: h.url.clone(),
            description: h.description.clone(),
            events: h.events.0.clone(),
            enabled: if h.status == "disabled" { String::new() } else { "on".into() },
        }
    }
}

pub struct EventChoice {
    pub value: &'static str,
    pub about: &'static str,
    pub checked: bool,
}

pub struct HookRow {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: String,
    pub status: String,
}

pub struct AttemptRow {
    pub at: String,
    pub status: String,
    pub ms: i64,
    pub error: String,
}

pub struct DeliveryRow {
    pub event_type: String,
    pub message_id: String,
    pub state: String,
    pub created: String,
    pub attempts: Vec<AttemptRow>,
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    /// The webhook being edited (its page), or none (the list and the new form).
    editing: Option<HookRow>,
    hooks: Vec<HookRow>,
    form: WebhookForm,
    events: Vec<EventChoice>,
    errors: FieldErrors,
    /// Right after creating: the signing secret, this once.
    secret: Option<String>,
    deliveries: Vec<DeliveryRow>,
}

/// The session's note that the next view of webhook `id` shows its secret (once).
const SHOW_ONCE: &str = "webhook_show_once";

fn row(h: &webhooks::Model) -> HookRow {
    HookRow {
        id: h.id,
        url: h.url.clone(),
        description: h.description.clone(),
        events: h.events.0.join(", "),
        status: match (h.status.as_str(), h.failing_since) {
            ("failing", Some(t)) => format!("failing since {}", fmt_time(t)),
            (s, _) => s.to_owned(),
        },
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    editing: Option<&webhooks::Model>,
    form: WebhookForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let ws = user.workspace_id();
    let hooks = crate::store::webhooks::list(&state.db, ws).await?.iter().map(row).collect();
    let events = EVENTS
        .iter()
        .map(|(value, about)| EventChoice { value, about, checked: form.events.iter().any(|e| e == value) })
        .collect();
    let mut secret = None;
    let mut deliveries = Vec::new();
    if let Some(h) = editing {
        if matches!(user.session.remove_as::<i64>(SHOW_ONCE), Some(Ok(once)) if once == h.id) {
            secret = service::secret_of(state, h);
        }
        deliveries = crate::store::webhooks::log(&state.db, h.id, 50)
            .await?
            .into_iter()
            .map(|(d, attempts)| DeliveryRow {
                event_type: d.event_type,
                message_id: d.message_id,
                state: d.state,
                created: fmt_time(d.created_at),
                attempts: attempts
                    .into_iter()
                    .map(|a| AttemptRow {
                        at: fmt_time(a.at),
                        status: a.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
                        ms: a.duration_ms,
                        error: a.error.unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
    }
    let title = if editing.is_some() { "Webhook" } else { "Webhooks" };
    let p = WebhooksPage {
        layout: Layout::for_user(user, title),
        editing: editing.map(row),
        hooks,
        form,
        events,
        errors,
        secret,
        deliveries,
    };
    render(status, &p)
}

pub async fn list(state: web::Data<AppState>, user: Member<perm::MembersManage>) -> Result<HttpResponse, AppError> {
    page(&state, &user, None, WebhookForm::default(), FieldErrors::default(), StatusCode::OK).await
}

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<webhooks::Model, AppError> {
    crate::store::webhooks::find(&state.db, user.workspace_id(), id).await?.ok_or(AppError::NotFound)
}

pub async fn show(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let h = find(&state, &user, *id).await?;
    page(&state, &user, Some(&h), WebhookForm::of(&h), FieldErrors::default(), StatusCode::OK).await
}

pub async fn create(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    CsrfForm(form): CsrfForm<WebhookForm>,
) -> Result<HttpResponse, AppError> {
    match service::create(&state, &user.actor, &form.input(true)).await {
        Ok((h, _secret)) => {
            user.session.insert(SHOW_ONCE, h.id).map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
            Flash::push(
                &user.session,
                "success",
                "Webhook created. Copy its signing secret now: it is shown only once.",
            );
            Ok(see_other(&urls::webhook(h.id)))
        }
        Err(Refusal::Fields(errs)) => {
            page(&state, &user, None, form, errs.into(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn update(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<WebhookForm>,
) -> Result<HttpResponse, AppError> {
    let h = find(&state, &user, *id).await?;
    match service::update(&state, &user.actor, &h, &form.input(false)).await {
        Ok(_) => {
            Flash::push(&user.session, "success", "Webhook saved.");
            Ok(see_other(&urls::webhook(h.id)))
        }
        Err(Refusal::Fields(errs)) => {
            page(&state, &user, Some(&h), form, errs.into(), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

/// "Send test event": a `webhook.test` delivery, shown in the log.
pub async fn send_test(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    id: web::Path<i64>,
    CsrfForm(_): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let h = find(&state, &user, *id).await?;
    service::send_test(&state, &h).await?;
    Flash::push(&user.session, "success", "Test event queued; its delivery shows below within seconds.");
    Ok(see_other(&urls::webhook(h.id)))
}

pub async fn delete(
    state: web::Data<AppState>,
    user: Member<perm::MembersManage>,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<Confirmed>,
) -> Result<HttpResponse, AppError> {
    let h = find(&state, &user, *id).await?;
    if !form.yes() {
        return crate::web::confirm::ask(
            &user,
            crate::web::confirm::Confirmation {
                title: "Delete webhook",
                question: "Delete this webhook and its delivery log? Nothing more is delivered to:".into(),
                subject: Some(h.url.clone()),
                action: urls::webhook_action(h.id, "delete"),
                button: "Delete webhook",
                fields: vec![],
                back: urls::webhook(h.id),
            },
        );
    }
    service::delete(&state, &user.actor, &h).await?;
    Flash::push_about(&user.session, "success", "Deleted the webhook to", Some(h.url));
    Ok(see_other(urls::WEBHOOKS))
}
