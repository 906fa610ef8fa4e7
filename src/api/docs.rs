//! The OpenAPI 3 document (generated from the handlers) and a readable page.
use actix_web::HttpResponse;
use askama::Template;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::web::{AppError, Layout};

#[derive(OpenApi)]
#[openapi(
    info(title = "keyhub API", description = "Call with a personal API key from Your account → API keys."),
    paths(
        crate::api::me::ping,
        crate::api::me::me,
        crate::api::members::list,
        crate::api::datasets::create,
        crate::api::datasets::list,
        crate::api::datasets::show,
        crate::api::datasets::records,
        crate::api::datasets::append,
        crate::api::datasets::replace,
        crate::api::datasets::delete,
        crate::api::collections::list,
        crate::api::collections::create,
        crate::api::collections::show,
        crate::api::collections::update,
        crate::api::collections::delete,
        crate::api::collections::list_endpoints,
        crate::api::collections::create_endpoint,
        crate::api::collections::show_endpoint,
        crate::api::collections::update_endpoint,
        crate::api::collections::delete_endpoint,
        crate::api::hub_keys::list,
        crate::api::hub_keys::create,
        crate::api::hub_keys::show,
        crate::api::hub_keys::update,
        crate::api::hub_keys::delete,
        crate::api::hub_keys::reveal,
        crate::api::hub_keys::regenerate,
        crate::api::hub::discover,
        crate::api::hub::serve,
        crate::api::sources::kinds,
        crate::api::sources::list,
        crate::api::sources::create,
        crate::api::sources::show,
        crate::api::sources::update,
        crate::api::sources::delete,
        crate::api::sources::test,
        crate::api::sources::discover,
        crate::api::sources::activate,
        crate::api::sources::run,
        crate::api::sources::start_sync,
        crate::api::sources::syncs,
        crate::api::sources::cancel,
        crate::api::sources::entities,
        crate::api::sources::create_entity,
        crate::api::sources::entity,
    ),
    modifiers(&KeySchemes)
)]
pub struct ApiDoc;

struct KeySchemes;

impl Modify for KeySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("khp_…").build()),
        );
        components.add_security_scheme("api_key_header", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
        components.add_security_scheme(
            "api_key_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "apikey",
                "For tools that cannot set headers; less safe, as URLs end up in logs.",
            ))),
        );
    }
}

/// The OpenAPI document as served: the generated one, plus what every
/// operation shares (the refusals any endpoint can give, the error-code enum,
/// the `Authorization: Apikey` scheme).
pub fn document() -> serde_json::Value {
    use serde_json::json;
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    let codes: Vec<&str> = crate::api::errors::CODES.iter().map(|(c, _, _)| *c).collect();
    doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"] = json!(codes);
    doc["components"]["securitySchemes"]["apikey_scheme"] = json!({
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "`Authorization: Apikey <key>`, for clients that cannot send the Bearer scheme."
    });
    doc["security"] = json!([{"bearer": []}, {"apikey_scheme": []}, {"api_key_header": []}, {"api_key_query": []}]);
    let error = |description: &str| {
        json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    };
    let shared = [
        ("401", "The key is missing, malformed, unknown, revoked or expired, or its owner is inactive (see the code)."),
        ("404", "No such endpoint or resource (`not_found`)."),
        ("405", "This endpoint does not accept that method (`method_not_allowed`)."),
        ("429", "Too many refused keys from this address (`rate_limited`); wait Retry-After seconds."),
        ("503", "Busy (`busy`), or this node cannot confirm keys with its database now (`keys_unavailable`); retry after Retry-After seconds."),
    ];
    if let Some(paths) = doc["paths"].as_object_mut() {
        for ops in paths.values_mut() {
            for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                let has_body = op.get("requestBody").is_some();
                if let Some(responses) = op["responses"].as_object_mut() {
                    if has_body {
                        responses.entry("413").or_insert_with(|| error("The body is over the limit (`too_large`); nothing was changed."));
                    }
                    for (status, description) in shared {
                        responses.entry(status).or_insert_with(|| error(description));
                    }
                }
            }
        }
    }
    doc
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// Text with `code` spans, as (is_code, text) pieces for the template.
fn pieces(text: &str) -> Vec<(bool, String)> {
    text.split('`').enumerate().filter(|(_, t)| !t.is_empty()).map(|(i, t)| (i % 2 == 1, t.to_owned())).collect()
}

pub struct EndpointDoc {
    pub method: String,
    pub path: String,
    pub summary: Vec<(bool, String)>,
    pub responses: Vec<(String, Vec<(bool, String)>)>,
    pub curl: String,
}

pub struct CodeDoc {
    pub code: &'static str,
    pub status: u16,
    pub meaning: Vec<(bool, String)>,
}

#[derive(Template)]
#[template(path = "api/docs.html")]
struct DocsPage {
    layout: Layout,
    endpoints: Vec<EndpointDoc>,
    codes: Vec<CodeDoc>,
}

/// `GET /api/docs`: readable by anyone; in the portal's frame when signed in.
pub async fn page(
    req: actix_web::HttpRequest,
    state: actix_web::web::Data<crate::state::AppState>,
    user: Option<crate::auth::CurrentUser>,
) -> Result<HttpResponse, AppError> {
    let doc = document();
    let base = crate::auth::client_ip::public_base(&req, state.settings.public_url.as_deref(), &state.settings.trusted_proxies);
    let mut endpoints = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, ops) in paths {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let responses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| (status.clone(), pieces(r["description"].as_str().unwrap_or(""))))
                    .collect();
                let flag = if method == "get" { String::new() } else { format!(" -X {}", method.to_uppercase()) };
                endpoints.push(EndpointDoc {
                    curl: format!("curl{flag} -H \"Authorization: Bearer $KEYHUB_KEY\" {base}{path}"),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: pieces(op["summary"].as_str().or(op["description"].as_str()).unwrap_or("")),
                    responses,
                });
            }
        }
    }
    let layout = match &user {
        Some(u) => Layout::for_user(u, "API documentation"),
        None => Layout::bare("API documentation"),
    };
    let codes = crate::api::errors::CODES.iter().map(|(code, status, m)| CodeDoc { code, status: *status, meaning: pieces(m) }).collect();
    crate::web::page(&DocsPage { layout, endpoints, codes })
}
