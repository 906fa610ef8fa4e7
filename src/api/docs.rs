//! The OpenAPI 3 document (generated from the handlers) and a readable page.
use actix_web::HttpResponse;
use askama::Template;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::web::{AppError, Layout};

#[derive(OpenApi)]
#[openapi(
    info(title = "keyhub API", description = "Call with a personal API key from Your account → API keys."),
    paths(crate::api::me::ping, crate::api::me::me, crate::api::members::list),
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

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

pub struct EndpointDoc {
    pub method: String,
    pub path: String,
    pub summary: String,
    pub responses: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "api/docs.html")]
struct DocsPage {
    layout: Layout,
    endpoints: Vec<EndpointDoc>,
    codes: Vec<(&'static str, u16, &'static str)>,
}

/// `GET /api/docs`: readable by anyone; in the portal's frame when signed in.
pub async fn page(user: Option<crate::auth::CurrentUser>) -> Result<HttpResponse, AppError> {
    let doc = serde_json::to_value(ApiDoc::openapi()).map_err(|e| anyhow::Error::new(e).context("OpenAPI document"))?;
    let mut endpoints = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, ops) in paths {
            for (method, op) in ops.as_object().into_iter().flatten() {
                let responses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| (status.clone(), r["description"].as_str().unwrap_or("").to_owned()))
                    .collect();
                endpoints.push(EndpointDoc {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: op["summary"].as_str().or(op["description"].as_str()).unwrap_or("").to_owned(),
                    responses,
                });
            }
        }
    }
    let layout = match &user {
        Some(u) => Layout::for_user(u, "API documentation"),
        None => Layout::bare("API documentation"),
    };
    crate::web::page(&DocsPage { layout, endpoints, codes: crate::api::errors::CODES.to_vec() })
}
