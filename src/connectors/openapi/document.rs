//! Reading an OpenAPI 3 document into streams: which operations are record
//! lists, what they are called, their columns, how they page and sort.
//! Pure (no I/O): the corpus test runs it over real public documents.
use serde_json::Value;

use super::filters::{Param, filters, role};
use super::locator::{Fixed, Locator, Paging};
use super::names::{literal_segments, unique_names};
use crate::domain::schema::{Column, ColumnType};

/// The largest page asked for, whatever the document allows.
pub const MAX_PAGE_SIZE: u64 = 1_000;

/// One list operation of a document, as a stream to be probed.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub name: String,
    pub locator: Locator,
    /// From the item schema, in the document's order (empty: free-form,
    /// learnt from a sample).
    pub columns: Vec<Column>,
    pub primary_key: Option<String>,
    pub notes: Vec<String>,
}

/// Literal path segments that name no record list: signing in, health,
/// the document itself. Operations under them are never probed.
const NOT_RECORDS: &[&str] = &[
    "auth",
    "authentication",
    "authorize",
    "login",
    "logout",
    "oauth",
    "oauth2",
    "sso",
    "saml",
    "openid",
    "token",
    "health",
    "healthz",
    "healthcheck",
    "livez",
    "readyz",
    "ping",
    "metrics",
    "openapi",
    "swagger",
    "spec",
    "specs",
    "api-docs",
    "docs",
    "oas",
];

/// Keys a wrapped list is usually under, most likely first.
const LIST_KEYS: &[&str] = &["data", "items", "results", "records", "rows", "entries", "objects", "values", "content"];

/// Query parameters by role (compared lower-case, without `_`, `-` and `$`).
const SIZE_PARAMS: &[&str] = &["limit", "perpage", "pagesize", "size", "maxresults", "top", "pagelimit", "page[size]"];
const OFFSET_PARAMS: &[&str] = &["offset", "skip", "start", "page[offset]"];
const PAGE_PARAMS: &[&str] = &["page", "pagenumber", "pageno", "pagenum", "page[number]"];
const CURSOR_PARAMS: &[&str] = &[
    "cursor",
    "after",
    "startingafter",
    "pagetoken",
    "nexttoken",
    "continuationtoken",
    "marker",
    "startcursor",
    "page[cursor]",
    "page[after]",
    "next",
];
const SORT_PARAMS: &[&str] = &["sort", "orderby", "ordering", "sortby", "order", "sort[]"];
/// Header parameters an API key satisfies (documents often declare them required).
const KEY_HEADERS: &[&str] = &["authorization", "xapikey", "apikey", "xauthtoken", "token", "xapitoken"];

/// Follows a local `$ref` (`#/components/...`), a few levels deep; a
/// reference it cannot follow (remote, missing, a loop) reads as nothing.
pub fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else { return v };
        let Some(pointer) = r.strip_prefix('#') else { return &Value::Null };
        v = doc.pointer(pointer).unwrap_or(&Value::Null);
    }
    &Value::Null
}

/// A schema's properties in the document's order, `allOf` members merged
/// (a paged wrapper is often `allOf: [Page, {properties: {data: …}}]`).
fn properties(doc: &Value, schema: &Value, depth: u8) -> Vec<(String, Value)> {
    let schema = resolve(doc, schema);
    let mut out: Vec<(String, Value)> = Vec::new();
    if depth > 8 {
        return out;
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        for (k, v) in properties(doc, part, depth + 1) {
            if !out.iter().any(|(o, _)| *o == k) {
                out.push((k, v));
            }
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        for (k, v) in props {
            match out.iter_mut().find(|(o, _)| o == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
    }
    out
}

/// The schema's type word (OpenAPI 3.1 `["string", "null"]`, or the non-null
/// member of a `anyOf`/`oneOf` with null).
fn type_of<'a>(doc: &'a Value, schema: &'a Value) -> (&'a str, &'a Value) {
    type_within(doc, schema, 0)
}

fn type_within<'a>(doc: &'a Value, schema: &'a Value, depth: u8) -> (&'a str, &'a Value) {
    let schema = resolve(doc, schema);
    let t = match &schema["type"] {
        Value::String(s) => s.as_str(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or(""),
        _ => "",
    };
    if t.is_empty() {
        for key in ["anyOf", "oneOf", "allOf"] {
            let members: Vec<&Value> = schema[key]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| resolve(doc, m))
                .filter(|m| m["type"] != "null")
                .collect();
            if members.len() == 1 && depth < 8 {
                return type_within(doc, members[0], depth + 1);
            }
        }
        if schema["properties"].is_object() {
            return ("object", schema);
        }
    }
    (t, schema)
}

/// The column type of a property. Decimals stay text: a `number` with a
/// `multipleOf` below one or `format: decimal` would be rounded as a float.
pub fn column_type(doc: &Value, schema: &Value) -> ColumnType {
    let (t, schema) = type_of(doc, schema);
    let format = schema["format"].as_str().unwrap_or("").to_ascii_lowercase();
    let fractional_step = schema["multipleOf"].as_f64().is_some_and(|m| m > 0.0 && m.fract() != 0.0);
    match (t, format.as_str()) {
        ("integer", _) => ColumnType::Integer,
        ("number", "decimal" | "money" | "currency") => ColumnType::Text,
        ("number", _) if fractional_step => ColumnType::Text,
        ("number", _) => ColumnType::Number,
        ("boolean", _) => ColumnType::Boolean,
        ("string", "date-time" | "datetime" | "timestamp" | "date_time") => ColumnType::Datetime,
        ("string", "date") => ColumnType::Date,
        _ => ColumnType::Text,
    }
}

/// The JSON schema of an operation's successful answer, if it has one.
fn answer_schema<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let responses = op["responses"].as_object()?;
    let ok = ["200", "2XX", "2xx", "203", "206"].iter().find_map(|c| responses.get(*c))?;
    let content = resolve(doc, ok)["content"].as_object()?;
    let media = content
        .iter()
        .find(|(k, _)| k.contains("json"))
        .or_else(|| content.iter().find(|(k, _)| k.as_str() == "*/*"))
        .map(|(_, v)| v)?;
    Some(resolve(doc, &media["schema"]))
}

/// Where the records are in an answer of `schema`: the array itself, or
/// the one array of objects (a well-known key first) in a wrapper.
fn records_in(doc: &Value, schema: &Value) -> Option<(Option<String>, Value)> {
    let (t, schema) = type_of(doc, schema);
    if t == "array" {
        return Some((None, resolve(doc, &schema["items"]).clone()));
    }
    let props = properties(doc, schema, 0);
    let arrays: Vec<&(String, Value)> = props.iter().filter(|(_, s)| type_of(doc, s).0 == "array").collect();
    let pick = LIST_KEYS.iter().find_map(|k| arrays.iter().find(|(name, _)| name == k)).or_else(|| {
        // A wrapper with one list of objects (`{"countries": [...], "meta": {...}}`).
        let objects: Vec<&&(String, Value)> = arrays
            .iter()
            .filter(|(_, s)| {
                let items = resolve(doc, &type_of(doc, s).1["items"]);
                matches!(type_of(doc, items).0, "object" | "")
            })
            .collect();
        (objects.len() == 1).then(|| objects[0])
    })?;
    let items = resolve(doc, &type_of(doc, &pick.1).1["items"]).clone();
    Some((Some(pick.0.clone()), items))
}

fn params_of(doc: &Value, item: &Value, op: &Value) -> Vec<Param> {
    let mut out: Vec<Param> = Vec::new();
    // Operation parameters override the path item's of the same name.
    for p in
        op["parameters"].as_array().into_iter().flatten().chain(item["parameters"].as_array().into_iter().flatten())
    {
        let p = resolve(doc, p);
        let Some(name) = p["name"].as_str() else { continue };
        if out.iter().any(|o| o.name == name) {
            continue;
        }
        out.push(Param {
            name: name.to_owned(),
            role: role(name),
            location: p["in"].as_str().unwrap_or("query").to_owned(),
            required: p["required"].as_bool() == Some(true),
            schema: resolve(doc, &p["schema"]).clone(),
            description: p["description"].as_str().unwrap_or("").to_owned(),
            text: p.to_string(),
        });
    }
    out
}

/// The column that names a record: `id`, else `uuid`, `uid`, `sid` or `key`.
pub fn primary_key(columns: &[Column]) -> Option<String> {
    ["id", "uuid", "uid", "sid", "key"].iter().find(|k| columns.iter().any(|c| c.name == **k)).map(|k| (*k).to_owned())
}

/// Whether a parameter of `schema` may take `value` (no enum: anything).
fn accepts(schema: &Value, value: &str) -> bool {
    let values = schema["enum"].as_array().or_else(|| schema["items"]["enum"].as_array());
    values.is_none_or(|v| v.iter().any(|x| x.as_str() == Some(value)))
}

/// The list operations of a document, named and planned.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let Some(paths) = doc["paths"].as_object() else { return Vec::new() };
    let mut found: Vec<(Vec<String>, Option<String>, Operation)> = Vec::new();
    for (path, item) in paths {
        let item = resolve(doc, item);
        if path.contains('{') {
            continue;
        }
        let segments = literal_segments(path);
        if segments.iter().any(|s| NOT_RECORDS.contains(&s.to_ascii_lowercase().as_str())) {
            continue;
        }
        let Some(op) = item.get("get") else { continue };
        let params = params_of(doc, item, op);
        if let Some(plan) = plan(doc, path, op, &params) {
            found.push((segments, op["operationId"].as_str().map(str::to_owned), plan));
        }
    }
    let wanted: Vec<(Vec<String>, Option<String>)> = found.iter().map(|(s, id, _)| (s.clone(), id.clone())).collect();
    let names = unique_names(&wanted);
    found
        .into_iter()
        .zip(names)
        .map(|((_, _, mut op), name)| {
            op.name = name;
            op
        })
        .collect()
}

/// An operation as a stream, or none when it cannot be a record list
/// (a required parameter keyhub cannot fill, an answer that is no list).
fn plan(doc: &Value, path: &str, op: &Value, params: &[Param]) -> Option<Operation> {
    let query: Vec<&Param> = params.iter().filter(|p| p.location == "query").collect();
    let find = |roles: &[&str]| query.iter().find(|p| roles.contains(&p.role.as_str())).map(|p| (*p).clone());
    let (size, offset, page, cursor) = (find(SIZE_PARAMS), find(OFFSET_PARAMS), find(PAGE_PARAMS), find(CURSOR_PARAMS));
    let sort = find(SORT_PARAMS);
    let pagers: Vec<&str> =
        [&size, &offset, &page, &cursor].iter().filter_map(|p| p.as_ref().map(|p| p.name.as_str())).collect();
    // A required parameter with one possible value (a version header such
    // as Box's `box-version: 2025.0`) is sent; any other keeps the
    // operation out, since keyhub cannot know what to put there.
    let mut fixed = Vec::new();
    for p in params.iter().filter(|p| p.required && !pagers.contains(&p.name.as_str()) && p.location != "cookie") {
        if p.location == "header" && KEY_HEADERS.contains(&p.role.as_str()) {
            continue;
        }
        let only = match p.schema["enum"].as_array() {
            Some(values) if values.len() == 1 => Some(&values[0]),
            _ => p.schema.get("default"),
        };
        let text = match only {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => return None,
        };
        if !matches!(p.location.as_str(), "query" | "header") {
            return None;
        }
        fixed.push(Fixed { name: p.name.clone(), value: text, header: p.location == "header" });
    }
    let (records_key, items) = records_in(doc, answer_schema(doc, op)?)?;
    let columns: Vec<Column> = properties(doc, &items, 0)
        .into_iter()
        .map(|(name, s)| Column { source: name.clone(), kind: column_type(doc, &s), name })
        .collect();
    let primary_key = primary_key(&columns);
    let max = size.as_ref().map(|p| {
        let declared = p.schema["maximum"].as_u64().or_else(|| p.schema["maximum"].as_f64().map(|f| f as u64));
        declared.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
    });
    let size_name = size.as_ref().map(|p| p.name.clone());
    let mut notes = Vec::new();
    let paging = if let (Some(s), Some(o)) = (&size, &offset) {
        Paging::Offset { limit: s.name.clone(), offset: o.name.clone() }
    } else if let Some(c) = &cursor {
        Paging::Cursor { param: c.name.clone(), size: size_name }
    } else if let Some(p) = &page {
        let said = p.description.to_ascii_lowercase();
        let zero = p.schema["minimum"].as_u64() == Some(0)
            || p.schema["default"].as_u64() == Some(0)
            || ["zero-based", "0-based", "zero based", "starts at 0", "starting from 0", "starts from 0"]
                .iter()
                .any(|w| said.contains(w));
        Paging::Page { page: p.name.clone(), size: size_name, first: if zero { 0 } else { 1 } }
    } else {
        Paging::Next { size: size_name }
    };
    if matches!(paging, Paging::Next { .. }) {
        notes.push(
            "The document declares no paging parameters: keyhub reads the first answer and follows a next link (Link header or a next URL in the answer) when there is one.".to_owned(),
        );
    }
    let offsetting = matches!(paging, Paging::Offset { .. } | Paging::Page { .. });
    // Offsets and page numbers need a stable order: the key, where the sort
    // parameter takes it (a declared list of values must name it). Links and
    // cursor tokens carry their own place, and a sort they did not ask for
    // can be refused (Box's `sort` takes `name`, `updated_at`…, not `id`).
    let sort_param = sort.filter(|_| offsetting);
    let sort = match (&sort_param, &primary_key) {
        (Some(s), Some(pk)) if accepts(&s.schema, pk) => Some((s.name.clone(), pk.clone())),
        _ => None,
    };
    if offsetting && sort.is_none() {
        notes.push(match primary_key {
            Some(_) => "The document declares no sort parameter that takes the key, so pages follow the API's own order: rows that change during a sync may be missed or read twice.".to_owned(),
            None => "No primary key and no sort: pages follow the API's own order, and rows that change during a sync may be missed or read twice.".to_owned(),
        });
    }
    let filters = filters(&query, &columns);
    // Directus and others count only when asked (`meta=total_count`).
    let count_param = query.iter().find(|p| p.name == "meta").map(|p| (p.name.clone(), "total_count".to_owned()));
    Some(Operation {
        name: String::new(),
        locator: Locator {
            path: path.to_owned(),
            records_key,
            paging,
            max_size: max,
            sort_many: sort.is_some() && sort_param.is_some_and(|p| p.schema["type"] == "array"),
            sort,
            count: count_param,
            filters,
            fixed,
            params: query.iter().map(|p| p.name.clone()).collect(),
        },
        columns,
        primary_key,
        notes,
    })
}

/// The document, checked to be OpenAPI 3 with paths.
pub fn is_openapi3(doc: &Value) -> bool {
    doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')) && doc["paths"].is_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_operations_are_streams_named_by_their_last_segment() {
        let doc = json!({
            "openapi": "3.0.3",
            "paths": {
                "/items/products": {"get": {"operationId": "readItemsProducts",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}},
                                   {"name": "offset", "in": "query"}, {"name": "sort", "in": "query"}, {"name": "meta", "in": "query"},
                                   {"name": "filter[date_updated][_gte]", "in": "query"}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Product"}}}}}}}}}},
                "/v1/Voice/Countries": {"get": {"parameters": [{"name": "PageSize", "in": "query"}, {"name": "Page", "in": "query", "schema": {"minimum": 0}}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                        "countries": {"type": "array", "items": {"type": "object", "properties": {"iso": {"type": "string"}}}},
                        "meta": {"type": "object"}}}}}}}}},
                "/v1/Trunking/Countries": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array", "items": {}}}}}}}},
                "/things/{id}": {"get": {"responses": {"200": {}}}},
                "/auth/login": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array"}}}}}}},
                "/server/health": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array"}}}}}}},
                "/needs": {"get": {"parameters": [{"name": "q", "in": "query", "required": true}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "array", "items": {}}}}}}}},
                "/keyed": {"get": {"parameters": [{"name": "Authorization", "in": "header", "required": true}],
                    "responses": {"200": {"content": {"application/json; charset=utf-8": {"schema": {"type": "array", "items": {}}}}}}}},
                "/object": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}}},
                "/post-only": {"post": {}}
            },
            "components": {"schemas": {"Product": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "price": {"type": "number", "format": "decimal"},
                "weight": {"type": ["number", "null"], "multipleOf": 0.001},
                "ratio": {"type": "number"},
                "date_updated": {"type": "string", "format": "timestamp"},
                "released": {"nullable": true, "allOf": [{"type": "string", "format": "date"}]}}}}}
        });
        let ops = operations(&doc);
        let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["products", "voice_countries", "trunking_countries", "keyed"]);
        let p = &ops[0];
        let got: Vec<(&str, ColumnType)> = p.columns.iter().map(|c| (c.name.as_str(), c.kind)).collect();
        assert_eq!(
            got,
            [
                ("id", ColumnType::Integer),
                ("name", ColumnType::Text),
                ("price", ColumnType::Text),
                ("weight", ColumnType::Text),
                ("ratio", ColumnType::Number),
                ("date_updated", ColumnType::Datetime),
                ("released", ColumnType::Date)
            ],
            "the document's order; decimals kept as text"
        );
        assert_eq!(p.locator.records_key.as_deref(), Some("data"));
        assert_eq!(p.locator.paging, Paging::Offset { limit: "limit".into(), offset: "offset".into() });
        assert_eq!(p.locator.max_size, Some(500));
        assert_eq!(p.locator.sort, Some(("sort".into(), "id".into())));
        assert_eq!(p.locator.filters[0].param, "filter[date_updated][_gte]");
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let c = &ops[1];
        assert_eq!(c.locator.records_key.as_deref(), Some("countries"));
        assert_eq!(c.locator.paging, Paging::Page { page: "Page".into(), size: Some("PageSize".into()), first: 0 });
        assert!(c.notes[0].contains("no primary key") || c.notes[0].contains("No primary key"), "{:?}", c.notes);
    }

    #[test]
    fn reference_loops_read_as_nothing() {
        let doc = json!({"components": {"schemas": {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}}});
        assert_eq!(resolve(&doc, &json!({"$ref": "#/components/schemas/A"})), &Value::Null);
        assert_eq!(resolve(&doc, &json!({"$ref": "https://elsewhere/x.json"})), &Value::Null);
    }
}
