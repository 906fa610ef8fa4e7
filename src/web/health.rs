use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// `GET /healthz`: 200 when the database answers, 503 when it does not.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if crate::store::ping(&state.db).await {
        HttpResponse::Ok().content_type("text/plain").body("ok")
    } else {
        let mut res = HttpResponse::ServiceUnavailable().content_type("text/plain").body("database unreachable");
        res.extensions_mut().insert(crate::web::KeepBody);
        res
    }
}

/// Prometheus' text format version 0.0.4, what scrapers ask for.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` on the main listener: only with `KEYHUB_METRICS_TOKEN`
/// set, and only to `Authorization: Bearer <that token>`. Without the
/// setting the path does not exist here (it may be on `KEYHUB_METRICS_BIND`).
pub async fn metrics(req: actix_web::HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, crate::web::errors::AppError> {
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
