//! The JSON API under `/api/v1`, called with personal API keys. Handlers
//! declare the permission they need through their `Principal<…>` argument.
pub mod cluster;
pub mod collections;
pub mod cors;
pub mod datasets;
pub mod docs;
pub mod errors;
pub mod hub;
pub mod hub_keys;
pub mod me;
pub mod members;
pub mod principal;
pub mod sources;
pub mod usage;
pub mod webhooks;

use actix_web::web;

pub use errors::ApiError;

/// The largest JSON body a management endpoint reads (dataset records have
/// their own, streamed limit: `KEYHUB_UPLOAD_MAX_MB`).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
pub use principal::{Principal, perm};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            // Resources (not bare routes) so that a wrong method is a 405, not a 404.
            .service(web::resource("/openapi.json").get(docs::openapi_json))
            .service(web::resource("/ping").get(me::ping))
            .service(web::resource("/me").get(me::me))
            .service(web::resource("/members").get(members::list))
            .service(web::resource("/cluster").get(cluster::show))
            .service(web::resource("/datasets").get(datasets::list).post(datasets::create))
            .service(web::resource("/datasets/{id}").get(datasets::show).delete(datasets::delete))
            .service(
                web::resource("/datasets/{id}/records")
                    .get(datasets::records)
                    .post(datasets::append)
                    .put(datasets::replace),
            )
            .service(web::resource("/collections").get(collections::list).post(collections::create))
            .service(
                web::resource("/collections/{id}")
                    .get(collections::show)
                    .patch(collections::update)
                    .delete(collections::delete),
            )
            .service(web::resource("/endpoints").get(collections::list_endpoints).post(collections::create_endpoint))
            .service(
                web::resource("/endpoints/{id}")
                    .get(collections::show_endpoint)
                    .patch(collections::update_endpoint)
                    .delete(collections::delete_endpoint),
            )
            .service(web::resource("/hub-keys").get(hub_keys::list).post(hub_keys::create))
            .service(
                web::resource("/hub-keys/{id}").get(hub_keys::show).patch(hub_keys::update).delete(hub_keys::delete),
            )
            .service(web::resource("/hub-keys/{id}/reveal").post(hub_keys::reveal))
            .service(web::resource("/hub-keys/{id}/regenerate").post(hub_keys::regenerate))
            .service(web::resource("/hub-keys/{id}/usage").get(usage::hub_key))
            .service(web::resource("/keys/{id}/usage").get(usage::personal_key))
            .service(web::resource("/usage").get(usage::workspace))
            .service(web::resource("/webhooks").get(webhooks::list).post(webhooks::create))
            .service(
                web::resource("/webhooks/{id}").get(webhooks::show).patch(webhooks::update).delete(webhooks::delete),
            )
            .service(web::resource("/webhooks/{id}/deliveries").get(webhooks::deliveries))
            .service(web::resource("/webhooks/{id}/test").post(webhooks::send_test))
            .service(web::resource("/connector-kinds").get(sources::kinds))
            .service(web::resource("/sources").get(sources::list).post(sources::create))
            .service(web::resource("/sources/{id}").get(sources::show).patch(sources::update).delete(sources::delete))
            .service(web::resource("/sources/{id}/test").post(sources::test))
            .service(web::resource("/sources/{id}/discover").post(sources::discover))
            .service(web::resource("/sources/{id}/activate").post(sources::activate))
            .service(web::resource("/sources/{id}/syncs").get(sources::syncs).post(sources::start_sync))
            .service(web::resource("/sync-runs/{id}").get(sources::run))
            .service(web::resource("/sync-runs/{id}/cancel").post(sources::cancel))
            .service(web::resource("/entities").get(sources::entities).post(sources::create_entity))
            .service(web::resource("/entities/{id}").get(sources::entity))
            .default_service(web::to(errors::not_found)),
    )
    .route("/api/docs", web::get().to(docs::page))
    // HEAD too: HTTP clients and caches check freshness (ETag) that way.
    .service(web::resource("/hub/{workspace}").get(hub::discover).route(web::head().to(hub::discover)))
    .service(
        web::resource("/hub/{workspace}/{path:.+}")
            .get(hub::serve)
            .route(web::head().to(hub::serve))
            .route(web::method(actix_web::http::Method::OPTIONS).to(hub::preflight)),
    );
}
