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
        crate::api::cluster::show,
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
        crate::api::usage::hub_key,
        crate::api::usage::personal_key,
        crate::api::usage::workspace,
        crate::api::webhooks::list,
        crate::api::webhooks::create,
        crate::api::webhooks::show,
        crate::api::webhooks::update,
        crate::api::webhooks::delete,
        crate::api::webhooks::deliveries,
        crate::api::webhooks::send_test,
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
        components.add_security_scheme(
            "api_key_header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
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
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    let shared = [
        ("401", "The key is missing, malformed, unknown, revoked or expired, or its owner is inactive (see the code)."),
        ("404", "No such endpoint or resource (`not_found`)."),
        ("405", "This endpoint does not accept that method (`method_not_allowed`)."),
        ("429", "Too many refused keys from this address (`rate_limited`); wait Retry-After seconds."),
        (
            "503",
            "Busy (`busy`), or this node cannot confirm keys with its database now (`keys_unavailable`); retry after Retry-After seconds.",
        ),
    ];
    constrain(&mut doc);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, ops) in paths.iter_mut() {
            for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                let has_body = op.get("requestBody").is_some();
                let has_query = op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
                // Every operation but the two that only name the key needs a permission.
                let guarded = !matches!(path.as_str(), "/api/v1/ping" | "/api/v1/me");
                if let Some(responses) = op["responses"].as_object_mut() {
                    if has_body {
                        responses
                            .entry("413")
                            .or_insert_with(|| error("The body is over the limit (`too_large`); nothing was changed."));
                        responses.entry("422").or_insert_with(|| error("A field of the body is missing or not valid (`invalid_field`, with `field`); nothing was changed."));
                    }
                    if has_query {
                        responses.entry("400").or_insert_with(|| {
                            error("A query parameter is not valid (`invalid_query`, with `parameter`).")
                        });
                    }
                    if guarded {
                        responses.entry("403").or_insert_with(|| error("The key, or its owner now, lacks the permission this operation needs (`insufficient_permission`)."));
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

/// The characters a name may not hold (`domain::text::is_allowed_char`), as
/// a regular-expression class body over the Basic Multilingual Plane.
fn refused_name_chars() -> String {
    let mut class = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |run: Option<(u32, u32)>, class: &mut String| {
        if let Some((a, b)) = run {
            class.push_str(&if a == b { format!("\\u{a:04X}") } else { format!("\\u{a:04X}-\\u{b:04X}") });
        }
    };
    for c in (0u32..=0xFFFF).filter_map(char::from_u32) {
        let cp = c as u32;
        if crate::domain::text::is_allowed_char(c) {
            continue;
        }
        run = match run {
            Some((a, b)) if b + 1 == cp => Some((a, cp)),
            other => {
                flush(other, &mut class);
                Some((cp, cp))
            }
        };
    }
    flush(run, &mut class);
    class
}

/// A name as the server checks it: trimmed, 1 to `max` characters, none of
/// them control, invisible or direction-changing.
fn name_rule(max: usize) -> serde_json::Value {
    let x = refused_name_chars();
    serde_json::json!({
        "pattern": format!("^\\s*[^\\s{x}](?:[^{x}]{{0,{}}}[^\\s{x}])?\\s*$", max - 2),
        "description": format!("1 to {max} characters once trimmed; no control, invisible or direction-changing characters.")
    })
}

/// Free text of at most `max` characters once trimmed.
fn text_rule(max: usize) -> serde_json::Value {
    serde_json::json!({ "pattern": format!("^\\s*(?:\\S(?:[\\s\\S]{{0,{}}}\\S)?)?\\s*$", max - 2), "description": format!("At most {max} characters once trimmed.") })
}

/// The constraints the server checks, written into the generated document
/// where the derive cannot say them. The values come from the domain (the
/// access types, the connector kinds, the limits), so they cannot drift.
fn constrain(doc: &mut serde_json::Value) {
    use crate::domain::datahub::{Access, MAX_PAGE_LIMIT};
    use crate::domain::hub_keys::AccessType;
    use serde_json::json;
    let kinds: Vec<&str> = crate::connectors::REGISTRY.iter().map(|c| c.spec().kind).collect();
    let access_types: Vec<&str> = AccessType::ALL.iter().map(|a| a.as_str()).collect();
    let access: Vec<&str> = Access::ALL.iter().map(|a| a.as_str()).collect();
    let rules: Vec<(&str, &str, serde_json::Value)> = vec![
        ("CollectionIn", "name", name_rule(100)),
        ("CollectionIn", "description", text_rule(1000)),
        ("CollectionIn", "default_limit", json!({"minimum": 1, "maximum": MAX_PAGE_LIMIT})),
        ("CollectionIn", "max_limit", json!({"minimum": 1, "maximum": MAX_PAGE_LIMIT})),
        ("CollectionIn", "fields", json!({"minItems": 1, "uniqueItems": true})),
        ("EndpointIn", "access", json!({"enum": access})),
        (
            "EndpointIn",
            "path",
            json!({"pattern": "^\\s*/*[a-z0-9_-]+(?:/[a-z0-9_-]+)*/*\\s*$", "description": "Lowercase letters, digits, `-`, `_` and `/` (at most 200 characters), e.g. `sales/orders`."}),
        ),
        ("HubKeyIn", "name", name_rule(100)),
        ("HubKeyIn", "access_type", json!({"enum": access_types})),
        ("HubKeyIn", "status", json!({"enum": ["active", "inactive"]})),
        ("HubKeyIn", "token", json!({"pattern": "^(?!kh[pd]_)[!-~]{24,256}$"})),
        ("HubKeyIn", "expires_at", json!({"format": "date-time"})),
        ("SourceIn", "kind", json!({"enum": kinds})),
        ("SourceIn", "name", name_rule(100)),
        (
            "SourceIn",
            "schedule_minutes",
            json!({"minimum": 1, "maximum": crate::connectors::sources::MAX_SCHEDULE_MINUTES}),
        ),
        ("EntityIn", "name", name_rule(100)),
        ("DatasetIn", "name", name_rule(100)),
        ("DatasetUpload", "name", name_rule(100)),
        ("EntityIn", "description", text_rule(1000)),
        ("StreamMode", "mode", json!({"enum": ["full", "incremental"]})),
    ];
    for (schema, property, rule) in rules {
        let target = &mut doc["components"]["schemas"][schema]["properties"][property];
        if let (Some(t), Some(r)) = (target.as_object_mut(), rule.as_object()) {
            for (k, v) in r {
                t.insert(k.clone(), v.clone());
            }
        }
    }
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
    let base = crate::auth::client_ip::public_base(
        &req,
        state.settings.public_url.as_deref(),
        &state.settings.trusted_proxies,
    );
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
    let codes = crate::api::errors::CODES
        .iter()
        .map(|(code, status, m)| CodeDoc { code, status: *status, meaning: pieces(m) })
        .collect();
    crate::web::page(&DocsPage { layout, endpoints, codes })
}
