//! Datasette 1.0: streams are a database's tables (columns, primary keys and
//! counts from `/{db}.json`; types inferred from a sample), records follow
//! its `next` token. Tokens (`dstok_…`) go in `Authorization: Bearer`.
use reqwest::Url;
use serde_json::{Value, json};

use super::{
    Batch, BoxFuture, Connector, ConnectorError, Ctx, Discovery, FieldKind, FieldSpec, SAMPLE_SIZE, Spec, StreamInfo,
    Unavailable,
};

pub struct Datasette;

static SPEC: Spec = Spec {
    kind: "datasette",
    name: "Datasette",
    reads: "The tables of a Datasette database, through its JSON API (Datasette 1.0).",
    auth: "API key",
    fields: &[
        FieldSpec {
            name: "base_url",
            label: "Base URL",
            help: "Where Datasette is served, e.g. https://datasette.example.com",
            kind: FieldKind::Url,
            required: true,
            default: "",
        },
        FieldSpec {
            name: "database",
            label: "Database",
            help: "The database name as in its URL (/{database})",
            kind: FieldKind::Text,
            required: true,
            default: "",
        },
        FieldSpec {
            name: "token",
            label: "API token",
            help: "A token made with datasette create-token (dstok_…)",
            kind: FieldKind::Secret,
            required: true,
            default: "",
        },
    ],
};

/// Datasette serves at most 1,000 rows per page.
const MAX_PAGE: u32 = 1_000;

fn auth(cx: &Ctx) -> Vec<(String, String)> {
    vec![("Authorization".into(), format!("Bearer {}", cx.config.get("token")))]
}

fn url(cx: &Ctx, table: Option<&str>) -> Result<Url, ConnectorError> {
    let mut url = cx.config.base_url()?;
    let db = cx.config.get("database");
    if db.is_empty() {
        return Err(ConnectorError::config("Enter the database name."));
    }
    {
        let mut seg = url.path_segments_mut().map_err(|_| ConnectorError::config("The base URL cannot have paths."))?;
        seg.pop_if_empty();
        match table {
            None => {
                seg.push(&format!("{db}.json"));
            }
            Some(t) => {
                seg.push(db).push(&format!("{t}.json"));
            }
        }
    }
    Ok(url)
}

async fn tables(cx: &Ctx) -> Result<Vec<Value>, ConnectorError> {
    let body = cx.http.get_json(&url(cx, None)?, &auth(cx)).await?;
    match body.get("tables") {
        Some(Value::Array(t)) => Ok(t.clone()),
        _ => Err(ConnectorError::shape("The answer is not a Datasette database (no “tables”).")),
    }
}

type Query<'a> = &'a [(String, String)];

async fn rows(
    cx: &Ctx,
    table: &str,
    next: Option<&str>,
    size: u32,
    extra: Query<'_>,
) -> Result<(Vec<serde_json::Map<String, Value>>, Option<String>), ConnectorError> {
    let mut u = url(cx, Some(table))?;
    u.query_pairs_mut().append_pair("_size", &size.clamp(1, MAX_PAGE).to_string()).append_pair("_shape", "objects");
    for (k, v) in extra {
        u.query_pairs_mut().append_pair(k, v);
    }
    if let Some(n) = next {
        u.query_pairs_mut().append_pair("_next", n);
    }
    let body = cx.http.get_json(&u, &auth(cx)).await?;
    let records = super::records_at(&body, Some("rows"))?;
    let next = match &body["next"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Ok((records, next))
}

impl Connector for Datasette {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check<'a>(&'a self, cx: &'a Ctx) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move { tables(cx).await.map(|_| ()) })
    }

    fn discover<'a>(
        &'a self,
        cx: &'a Ctx,
        only: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<Discovery, ConnectorError>> {
        Box::pin(async move {
            let mut out = Discovery::default();
            for t in tables(cx).await? {
                let Some(name) = t["name"].as_str() else { continue };
                if t["hidden"].as_bool() == Some(true) || only.is_some_and(|o| !o.iter().any(|n| n == name)) {
                    continue;
                }
                let names: Vec<String> = t["columns"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let pks: Vec<&str> = t["primary_keys"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let sample = match rows(cx, name, None, SAMPLE_SIZE, &[]).await {
                    Ok((sample, _)) => sample,
                    Err(error) => {
                        out.unavailable.push(Unavailable { stream: name.to_owned(), error });
                        continue;
                    }
                };
                let mut columns = super::infer_columns(&names, &sample);
                // Rowid tables come back with a `rowid` column: keep the declared ones.
                if !names.is_empty() {
                    columns.retain(|c| names.contains(&c.name));
                }
                out.streams.push(StreamInfo {
                    name: name.to_owned(),
                    columns,
                    // A composite key has no single column to upsert on.
                    primary_key: (pks.len() == 1).then(|| pks[0].to_owned()),
                    // Datasette stops counting at 10,000 (`count_truncated`): unknown, not 10,001.
                    row_count: if t["count_truncated"].as_bool() == Some(true) { None } else { t["count"].as_u64() },
                    locator: json!({ "table": name }),
                    notes: Vec::new(),
                });
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
            let table = stream.locator["table"].as_str().unwrap_or(&stream.name);
            let token = state.as_ref().and_then(|s| s["next"].as_str().map(str::to_owned));
            let (records, next) = rows(cx, table, token.as_deref(), size, &[]).await?;
            Ok(Batch { records, next: next.map(|n| json!({ "next": n })) })
        })
    }

    fn incremental(&self) -> bool {
        true
    }

    /// `_sort={column}&{column}__gt={after}`, then Datasette's own `_next`
    /// (sort value + primary key): exactly the records not seen yet.
    fn read_after<'a>(
        &'a self,
        cx: &'a Ctx,
        stream: &'a StreamInfo,
        column: &'a str,
        after: Option<Value>,
        position: Option<Value>,
        size: u32,
    ) -> BoxFuture<'a, Result<Batch, ConnectorError>> {
        Box::pin(async move {
            let table = stream.locator["table"].as_str().unwrap_or(&stream.name);
            let mut query = vec![("_sort".to_owned(), column.to_owned())];
            if let Some(v) = super::cursor_text(after.as_ref()) {
                query.push((format!("{column}__gt"), v));
            }
            let token = position.as_ref().and_then(|p| p["next"].as_str().map(str::to_owned));
            let (records, next) = rows(cx, table, token.as_deref(), size, &query).await?;
            Ok(Batch { records, next: next.map(|n| json!({ "next": n })) })
        })
    }
}
