//! Probes for the operator: `/healthz` (is the process alive), `/readyz`
//! (should the load balancer send requests here), `/metrics`.
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::auth::freshness::Freshness;
use crate::state::AppState;

/// `GET /healthz`: liveness. The process answers requests; nothing more is
/// claimed (a restart would not fix a database that is away).
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

fn snapshot(f: &Freshness) -> serde_json::Value {
    json!({"fresh": f.fresh(), "age_seconds": f.age().as_secs(), "max_stale_seconds": f.max_stale().as_secs()})
}

/// `GET /readyz`: readiness. 200 when the database answers and both key
/// snapshots were confirmed within `KEYHUB_KEYS_MAX_STALE_SECONDS`; else 503
/// with the reasons, so a balancer stops sending key-guarded traffic here.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = crate::store::ping(&state.db).await;
    let mut reasons = Vec::new();
    if state.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
        reasons.push("This node is shutting down: send requests to another one.".to_owned());
    }
    if !database {
        reasons.push("The database does not answer.".to_owned());
    }
    for (name, f) in [("personal", &state.keys.freshness), ("hub", &state.hub_keys.freshness)] {
        if !f.fresh() {
            reasons.push(format!(
                "The {name} key snapshot was last confirmed {} s ago (more than {} s): keys are not verified.",
                f.age().as_secs(),
                f.max_stale().as_secs()
            ));
        }
    }
    let body = json!({
        "status": if reasons.is_empty() { "ready" } else { "unready" },
        "database": if database { "ok" } else { "unreachable" },
        "key_snapshots": {"personal": snapshot(&state.keys.freshness), "hub": snapshot(&state.hub_keys.freshness)},
        "reasons": reasons,
    });
    let mut res = if reasons.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().insert_header((actix_web::http::header::RETRY_AFTER, "5")).json(body)
    };
    res.extensions_mut().insert(crate::web::KeepBody);
    res
}

/// Prometheus' text format version 0.0.4, what scrapers ask for.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` on the main listener: only with `KEYHUB_METRICS_TOKEN`
/// set, and only to `Authorization: Bearer <that token>`. Without the
/// setting the path does not exist here (it may be on `KEYHUB_METRICS_BIND`).
pub async fn metrics(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, crate::web::errors::AppError> {
    let Some(token) = &state.settings.metrics_token else {
        return Err(crate::web::errors::AppError::NotFound);
    };
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !crate::domain::tokens::constant_time_eq(presented.trim().as_bytes(), token.expose().as_bytes()) {
        let mut res = HttpResponse::Unauthorized()
            .insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .content_type("text/plain")
            .body("Send the metrics token (KEYHUB_METRICS_TOKEN) as Authorization: Bearer <token>.");
        res.extensions_mut().insert(crate::web::KeepBody);
        return Ok(res);
    }
    Ok(metrics_body(&state))
}

/// `GET /metrics` on the metrics listener (`KEYHUB_METRICS_BIND`): whoever
/// reaches that address is the operator's scraper.
pub async fn metrics_open(state: web::Data<AppState>) -> HttpResponse {
    metrics_body(&state)
}

fn metrics_body(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(METRICS_TYPE)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(crate::metrics::encode(&state.db))
}
