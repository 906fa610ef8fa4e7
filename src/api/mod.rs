//! The JSON API under `/api/v1`, called with personal API keys. Handlers
//! declare the permission they need through their `Principal<…>` argument.
pub mod docs;
pub mod errors;
pub mod me;
pub mod members;
pub mod principal;

use actix_web::web;

pub use errors::ApiError;
pub use principal::{Principal, perm};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .route("/openapi.json", web::get().to(docs::openapi_json))
            .route("/me", web::get().to(me::me))
            .route("/members", web::get().to(members::list))
            .default_service(web::to(errors::not_found)),
    )
    .route("/api/docs", web::get().to(docs::page));
}
