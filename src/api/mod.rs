//! The JSON API under `/api/v1`, called with personal API keys. Handlers
//! declare the permission they need through their `Principal<…>` argument.
pub mod docs;
pub mod errors;
pub mod hub;
pub mod me;
pub mod members;
pub mod principal;

use actix_web::web;

pub use errors::ApiError;
pub use principal::{Principal, perm};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            // Resources (not bare routes) so that a wrong method is a 405, not a 404.
            .service(web::resource("/openapi.json").get(docs::openapi_json))
            .service(web::resource("/ping").get(me::ping))
            .service(web::resource("/me").get(me::me))
            .service(web::resource("/members").get(members::list))
            .default_service(web::to(errors::not_found)),
    )
    .route("/api/docs", web::get().to(docs::page))
    .service(web::resource("/hub/{workspace}").get(hub::discover))
    .service(web::resource("/hub/{workspace}/{path:.+}").get(hub::serve));
}
