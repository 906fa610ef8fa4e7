//! A generic REST API described by an OpenAPI 3 document. Streams are the GET
//! operations without required parameters whose 200 answer is an array
//! (directly or under `data`/`items`/`results`/`records`); pages by
//! limit/offset or page/per_page when the operation declares them.
use reqwest::Url;
use serde_json::{Map, Value, json};

use super::{Batch, BoxFuture, Connector, ConnectorError, Ctx, FieldKind, FieldSpec, SAMPLE_SIZE, Spec, StreamInfo};
use crate::domain::schema::{Column, ColumnType};

pub struct OpenApi;

static SPEC: Spec = Spec {
    kind: "openapi",
    name: "REST API (OpenAPI)",
    reads: "Any JSON API that publishes an OpenAPI 3 document: each list operation becomes a stream.",
    auth: "API key",
    fields: &[
        FieldSpec {
            name: "base_url",
            label: "Base URL",
            help: "The API's address, e.g. https://api.example.com",
            kind: FieldKind::Url,
            required: true,
            default: "",
        },
        FieldSpec {
            name: "spec_path",
            label: "OpenAPI document",
            help: "Its path under the base URL",
            kind: FieldKind::Text,
            required: false,
            default: "/openapi.json",
        },
        FieldSpec {
            name: "api_key",
            label: "API key",
            help: "Sent with every request as set below",
            kind: FieldKind::Secret,
            required: true,
            default: "",
        },
        FieldSpec {
            name: "key_in",
            label: "Send the key in",
            help: "A request header or a query parameter",
            kind: FieldKind::Choice(&[("header", "A header"), ("query", "A query parameter")]),
            required: false,
            default: "header",
        },
        FieldSpec {
            name: "key_name",
            label: "Header or parameter name",
            help: "e.g. Authorization, X-API-Key or api_key",
            kind: FieldKind::Text,
            required: false,
            default: "Authorization",
        },
        FieldSpec {
            name: "key_prefix",
            label: "Value prefix",
            help: "Written before the key in a header, e.g. Bearer; leave empty for none",
            kind: FieldKind::Text,
            required: false,
            default: "Bearer",
        },
    ],
};

/// At most this many records per request (APIs cap their page sizes).
const MAX_PAGE: u32 = 100;
const LIST_KEYS: [&str; 4] = ["data", "items", "results", "records"];

/// Headers to send, and the query pair to add, for the key.
type KeyPlacement = (Vec<(String, String)>, Option<(String, String)>);

fn auth(cx: &Ctx) -> KeyPlacement {
    let key = cx.config.get("api_key").to_owned();
    let name = cx.config.get("key_name").to_owned();
    if cx.config.get("key_in") == "query" {
        let name = if name.eq_ignore_ascii_case("authorization") { "api_key".to_owned() } else { name };
        return (Vec::new(), Some((name, key)));
    }
    let prefix = cx.config.get("key_prefix");
    // An explicitly empty prefix field falls back to the default; "none" means none.
    let value = if prefix.is_empty() || prefix.eq_ignore_ascii_case("none") { key } else { format!("{prefix} {key}") };
    (vec![(name, value)], None)
}

async fn get(cx: &Ctx, mut url: Url) -> Result<Value, ConnectorError> {
    let (headers, query) = auth(cx);
    if let Some((k, v)) = query {
        url.query_pairs_mut().append_pair(&k, &v);
    }
    cx.http.get_json(&url, &headers).await
}

/// `base` + `path`, keeping the base's own path as a prefix.
fn join(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    u.set_path(&format!("{}/{}", base.path().trim_end_matches('/'), p.trim_start_matches('/')));
    u.set_query((!q.is_empty()).then_some(q));
    u
}

async fn document(cx: &Ctx) -> Result<Value, ConnectorError> {
    let base = cx.config.base_url()?;
    let doc = get(cx, join(&base, cx.config.get("spec_path"))).await?;
    let v3 = doc["openapi"].as_str().is_some_and(|v| v.starts_with('3'));
    if !v3 || !doc["paths"].is_object() {
        return Err(ConnectorError::shape(
            "The document is not an OpenAPI 3 description (no “openapi: 3…” and “paths”).",
        ));
    }
    Ok(doc)
}

/// Follows a local `$ref` (`#/components/...`), a few levels deep.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..8 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else { return v };
        let Some(pointer) = r.strip_prefix('#') else { return &Value::Null };
        v = doc.pointer(pointer).unwrap_or(&Value::Null);
    }
    v
}

fn column_type(schema: &Value) -> ColumnType {
    let t = match &schema["type"] {
        Value::String(s) => s.as_str(),
        // OpenAPI 3.1: ["integer", "null"]
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or(""),
        _ => "",
    };
    match (t, schema["format"].as_str()) {
        ("integer", _) => ColumnType::Integer,
        ("number", _) => ColumnType::Number,
        ("boolean", _) => ColumnType::Boolean,
        ("string", Some("date-time")) => ColumnType::Datetime,
        ("string", Some("date")) => ColumnType::Date,
        _ => ColumnType::Text,
    }
}

#[derive(Debug, PartialEq)]
struct Operation {
    name: String,
    path: String,
    records_key: Option<String>,
    paging: &'static str,
    columns: Vec<Column>,
}

/// The list operations of a document.
fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else { return out };
    let ids = operation_ids(doc);
    for (path, item) in paths {
        if path.contains('{') {
            continue;
        }
        let Some(op) = item.get("get") else { continue };
        let params: Vec<&Value> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| resolve(doc, p))
            .collect();
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        let paging = if names.contains(&"limit") && names.contains(&"offset") {
            "limit_offset"
        } else if names.contains(&"page") && names.contains(&"per_page") {
            "page"
        } else {
            "single"
        };
        let pagers = ["limit", "offset", "page", "per_page"];
        if params
            .iter()
            .any(|p| p["required"].as_bool() == Some(true) && !pagers.contains(&p["name"].as_str().unwrap_or("")))
        {
            continue;
        }
        let ok = &op["responses"]["200"];
        let schema = resolve(doc, &resolve(doc, ok)["content"]["application/json"]["schema"]);
        let (records_key, items) = if schema["type"] == "array" {
            (None, resolve(doc, &schema["items"]))
        } else {
            let props = &schema["properties"];
            match LIST_KEYS.iter().find(|k| resolve(doc, &props[**k])["type"] == "array") {
                Some(k) => (Some((*k).to_owned()), resolve(doc, &resolve(doc, &props[*k])["items"])),
                None => continue,
            }
        };
        let columns = items["properties"]
            .as_object()
            .map(|props| {
                props
                    .iter()
                    .map(|(name, s)| Column {
                        name: name.clone(),
                        source: name.clone(),
                        kind: column_type(resolve(doc, s)),
                    })
                    .collect()
            })
            .unwrap_or_default();
        // operationId names a stream unless two operations share it (generated
        // documents often call every list operation "list"): then the path.
        let id = op["operationId"].as_str().filter(|id| ids.iter().filter(|o| *o == id).count() == 1);
        let name = id.map(str::to_owned).unwrap_or_else(|| path.trim_start_matches('/').to_owned());
        out.push(Operation { name, path: path.clone(), records_key, paging, columns });
    }
    out
}

fn operation_ids(doc: &Value) -> Vec<&str> {
    doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(|item| item["get"]["operationId"].as_str())
        .collect()
}

async fn fetch(
    cx: &Ctx,
    stream: &StreamInfo,
    position: u64,
    size: u32,
) -> Result<(Vec<Map<String, Value>>, Option<Value>), ConnectorError> {
    let base = cx.config.base_url()?;
    let path = stream.locator["path"].as_str().unwrap_or("/");
    let paging = stream.locator["paging"].as_str().unwrap_or("single");
    let key = stream.locator["records_key"].as_str();
    let size = size.clamp(1, MAX_PAGE);
    let mut url = join(&base, path);
    match paging {
        "limit_offset" => {
            url.query_pairs_mut().append_pair("limit", &size.to_string()).append_pair("offset", &position.to_string());
        }
        "page" => {
            url.query_pairs_mut()
                .append_pair("page", &position.max(1).to_string())
                .append_pair("per_page", &size.to_string());
        }
        _ => {}
    }
    let body = get(cx, url).await?;
    let records = super::records_at(&body, key)?;
    let full = records.len() as u32 >= size;
    let next = match paging {
        "limit_offset" if full => Some(json!({ "position": position + records.len() as u64 })),
        "page" if full => Some(json!({ "position": position.max(1) + 1 })),
        _ => None,
    };
    Ok((records, next))
}

impl Connector for OpenApi {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check<'a>(&'a self, cx: &'a Ctx) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move { document(cx).await.map(|_| ()) })
    }

    fn discover<'a>(&'a self, cx: &'a Ctx) -> BoxFuture<'a, Result<Vec<StreamInfo>, ConnectorError>> {
        Box::pin(async move {
            let doc = document(cx).await?;
            let mut out = Vec::new();
            for op in operations(&doc) {
                let mut stream = StreamInfo {
                    primary_key: op.columns.iter().any(|c| c.name == "id").then(|| "id".to_owned()),
                    name: op.name,
                    columns: op.columns,
                    row_count: None,
                    locator: json!({ "path": op.path, "records_key": op.records_key, "paging": op.paging }),
                };
                // A free-form item schema: learn the columns from a sample.
                if stream.columns.is_empty() {
                    let (sample, _) = fetch(cx, &stream, 0, SAMPLE_SIZE).await?;
                    stream.columns = super::infer_columns(&[], &sample);
                }
                out.push(stream);
            }
            Ok(out)
        })
    }

    fn read<'a>(
        &'a self,
        cx: &'a Ctx,
        stream: &'a StreamInfo,
        state: Option<Value>,
        size: u32,
    ) -> BoxFuture<'a, Result<Batch, ConnectorError>> {
        Box::pin(async move {
            let position = state.as_ref().and_then(|s| s["position"].as_u64()).unwrap_or(0);
            let (records, next) = fetch(cx, stream, position, size).await?;
            Ok(Batch { records, next })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_operations_are_streams() {
        let doc = json!({
            "openapi": "3.0.3",
            "paths": {
                "/things": {"get": {"operationId": "listThings",
                    "parameters": [{"name": "limit", "in": "query"}, {"name": "offset", "in": "query"}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}}},
                "/wrapped": {"get": {"parameters": [{"name": "page", "in": "query"}, {"name": "per_page", "in": "query"}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {"results": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "number"}}}}}}}}}}}},
                "/things/{id}": {"get": {"responses": {"200": {}}}},
                "/needs": {"get": {"parameters": [{"name": "q", "in": "query", "required": true}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "array", "items": {}}}}}}}},
                "/object": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}}},
                "/post-only": {"post": {}}
            },
            "components": {"schemas": {"Thing": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}}}}
        });
        let ops = operations(&doc);
        let got: Vec<(&str, Option<&str>, &str, usize)> =
            ops.iter().map(|o| (o.name.as_str(), o.records_key.as_deref(), o.paging, o.columns.len())).collect();
        assert_eq!(got, vec![("listThings", None, "limit_offset", 3), ("wrapped", Some("results"), "page", 1)]);
        assert_eq!(ops[0].columns[0].kind, ColumnType::Datetime, "at, in key order");
    }

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("http://h/api/").unwrap();
        assert_eq!(join(&base, "/openapi.json").as_str(), "http://h/api/openapi.json");
        assert_eq!(join(&Url::parse("http://h/").unwrap(), "/api/v1/x").as_str(), "http://h/api/v1/x");
    }
}
