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
