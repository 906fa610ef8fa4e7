//! Another keyhub's Data Hub: streams are the endpoints the key may call
//! (`GET /hub/{workspace}`), records are read with limit/offset.
use reqwest::Url;
use serde_json::{Value, json};

use super::{
    Batch, BoxFuture, Connector, ConnectorError, Ctx, Discovery, ErrorClass, FieldKind, FieldSpec, SAMPLE_SIZE, Spec,
    StreamInfo, Unavailable,
};

pub struct Keyhub;

static SPEC: Spec = Spec {
    kind: "keyhub",
    name: "keyhub",
    reads: "The Data Hub endpoints of another keyhub instance that a key may call.",
    auth: "API key",
    fields: &[
        FieldSpec {
            name: "base_url",
            label: "Base URL",
            help: "Where the other keyhub is reached, e.g. https://data.example.com",
            kind: FieldKind::Url,
            required: true,
            default: "",
        },
        FieldSpec {
            name: "workspace",
            label: "Workspace short name",
            help: "As in its Data Hub URLs: /hub/{workspace}/…",
            kind: FieldKind::Text,
            required: true,
            default: "",
        },
        FieldSpec {
            name: "api_key",
            label: "API key",
            help: "A Data Hub key (khd_…) or a personal key (khp_…) of that keyhub",
            kind: FieldKind::Secret,
            required: true,
            default: "",
        },
    ],
};

fn auth(cx: &Ctx) -> Vec<(String, String)> {
    vec![("Authorization".into(), format!("Bearer {}", cx.config.get("api_key")))]
}

/// `{base}/hub/{workspace}[/{path}]`.
fn hub_url(cx: &Ctx, path: Option<&str>) -> Result<Url, ConnectorError> {
    let mut url = cx.config.base_url()?;
    {
        let mut seg = url.path_segments_mut().map_err(|_| ConnectorError::config("The base URL cannot have paths."))?;
        seg.pop_if_empty().push("hub").push(cx.config.get("workspace"));
        if let Some(p) = path {
            seg.extend(p.split('/'));
        }
    }
    Ok(url)
}

async fn listing(cx: &Ctx) -> Result<Vec<Value>, ConnectorError> {
    let body = cx.http.get_json(&hub_url(cx, None)?, &auth(cx)).await?;
    match body.get("endpoints") {
        Some(Value::Array(list)) => Ok(list.clone()),
        _ => Err(ConnectorError::shape("The answer is not a keyhub endpoint listing.")),
    }
}

/// One page: `limit` when the endpoint accepts it (a 400 means it is above
/// the endpoint's maximum: ask again with the endpoint's default).
async fn page(
    cx: &Ctx,
    path: &str,
    offset: u64,
    limit: Option<u64>,
    extra: &[(String, String)],
) -> Result<(Vec<serde_json::Map<String, Value>>, u64, u64), ConnectorError> {
    let mut url = hub_url(cx, Some(path))?;
    url.query_pairs_mut().append_pair("offset", &offset.to_string());
    if let Some(l) = limit {
        url.query_pairs_mut().append_pair("limit", &l.to_string());
    }
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    let body = match cx.http.get_json(&url, &auth(cx)).await {
        Err(e) if limit.is_some() && e.status == Some(400) => {
            return Box::pin(page(cx, path, offset, None, extra)).await;
        }
        other => other?,
    };
    let records = super::records_at(&body, Some("data"))?;
    let count = body["meta"]["count"].as_u64().unwrap_or(0);
    let used = body["meta"]["limit"].as_u64().unwrap_or(records.len() as u64);
    Ok((records, count, used))
}

impl Connector for Keyhub {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check<'a>(&'a self, cx: &'a Ctx) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            if cx.config.get("workspace").is_empty() {
                return Err(ConnectorError::config("Enter the workspace's short name."));
            }
            listing(cx).await.map(|_| ())
        })
    }

    fn discover<'a>(
        &'a self,
        cx: &'a Ctx,
        only: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<Discovery, ConnectorError>> {
        Box::pin(async move {
            let mut out = Discovery::default();
            for e in listing(cx).await? {
                let Some(path) = e["path"].as_str() else { continue };
                if only.is_some_and(|o| !o.iter().any(|n| n == path)) {
                    continue;
                }
                let fields: Vec<String> = e["fields"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let (sample, count) = match page(cx, path, 0, Some(u64::from(SAMPLE_SIZE)), &[]).await {
                    Ok((sample, count, _)) => (sample, count),
                    Err(error) => {
                        out.unavailable.push(Unavailable { stream: path.to_owned(), error });
                        continue;
                    }
                };
                out.streams.push(StreamInfo {
                    name: path.to_owned(),
                    columns: super::infer_columns(&fields, &sample),
                    // The key field, when the other keyhub exposes it: incremental syncs upsert by it.
                    primary_key: e["primary_key"].as_str().map(str::to_owned),
                    row_count: Some(count),
                    locator: json!({ "path": path }),
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
        Box::pin(async move { read_page(cx, stream, state.as_ref(), size, &[]).await })
    }

    fn incremental(&self) -> bool {
        true
    }

    /// `{column}__gt={after}&order={column}`, paged by offset: the other
    /// keyhub orders equal values by their stored position, so the pages of
    /// one read neither skip nor repeat records sharing a cursor value.
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
            let mut extra = vec![("order".to_owned(), column.to_owned())];
            if let Some(v) = super::cursor_text(after.as_ref()) {
                extra.push((format!("{column}__gt"), v));
            }
            read_page(cx, stream, position.as_ref(), size, &extra).await
        })
    }
}

/// The page at `state` (`offset`, and the `limit` the endpoint accepted).
async fn read_page(
    cx: &Ctx,
    stream: &StreamInfo,
    state: Option<&Value>,
    size: u32,
    extra: &[(String, String)],
) -> Result<Batch, ConnectorError> {
    let path = stream.locator["path"].as_str().unwrap_or(&stream.name);
    let offset = state.and_then(|s| s["offset"].as_u64()).unwrap_or(0);
    let limit = state.and_then(|s| s["limit"].as_u64()).unwrap_or(u64::from(size));
    let (records, count, used) = page(cx, path, offset, Some(limit), extra).await?;
    let after = offset + records.len() as u64;
    let next = (!records.is_empty() && after < count).then(|| json!({ "offset": after, "limit": used }));
    if records.len() as u64 > limit {
        return Err(ConnectorError::new(
            ErrorClass::UnexpectedShape,
            "The source returned more records than asked for.",
        ));
    }
    Ok(Batch { records, next })
}
