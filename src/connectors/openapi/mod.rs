//! A generic REST API described by an OpenAPI 3 document, read the way real
//! APIs work: streams are the GET operations that return record lists
//! (`document`), each probed on its own so one stale path does not fail the
//! rest; pages follow `Link` headers, next URLs, cursor tokens, offsets or
//! page numbers (`paging`); incremental reads use a filter parameter the
//! document declares (`locator::Filter`).
mod document;
mod filters;
mod locator;
mod names;
mod paging;

#[cfg(test)]
mod corpus;

use futures_util::StreamExt;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::outbound::Answer;
use super::{
    Batch, BoxFuture, Connector, ConnectorError, Ctx, Discovery, ErrorClass, FieldKind, FieldSpec, SAMPLE_SIZE, Spec,
    StreamInfo, Unavailable,
};
pub use document::MAX_PAGE_SIZE;
pub use locator::{Filter, Locator, Paging};
use paging::NextRef;

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
        FieldSpec {
            name: "page_size",
            label: "Page size",
            help: "Records per request; empty for the largest the document allows (at most 1,000)",
            kind: FieldKind::Count { max: MAX_PAGE_SIZE },
            required: false,
            default: "",
        },
    ],
};

/// Streams probed at once during discovery.
const PROBES_AT_ONCE: usize = 4;

/// Headers to send, and the query pair to add, for the key.
type KeyPlacement = (Vec<(String, String)>, Option<(String, String)>);

fn auth(cx: &Ctx) -> KeyPlacement {
    let key = cx.config.get("api_key").to_owned();
    let name = key_param(cx);
    if cx.config.get("key_in") == "query" {
        return (Vec::new(), Some((name, key)));
    }
    let prefix = cx.config.get("key_prefix");
    // An explicitly empty prefix field falls back to the default; "none" means none.
    let value = if prefix.is_empty() || prefix.eq_ignore_ascii_case("none") { key } else { format!("{prefix} {key}") };
    (vec![(name, value)], None)
}

fn key_param(cx: &Ctx) -> String {
    let name = cx.config.get("key_name").to_owned();
    if cx.config.get("key_in") == "query" && name.eq_ignore_ascii_case("authorization") {
        return "api_key".to_owned();
    }
    name
}

/// GETs `url` with the key where the source sends it (and the stream's
/// fixed headers).
async fn call(cx: &Ctx, mut url: Url, loc: Option<&Locator>) -> Result<Answer, ConnectorError> {
    let (mut headers, query) = auth(cx);
    for f in loc.into_iter().flat_map(|l| &l.fixed).filter(|f| f.header) {
        headers.push((f.name.clone(), f.value.clone()));
    }
    if let Some((k, v)) = query {
        url.query_pairs_mut().append_pair(&k, &v);
    }
    cx.http.get(&url, &headers).await
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
    let answer = call(cx, join(&base, cx.config.get("spec_path")), None).await?;
    let doc = answer.json(&cx.http)?;
    if !document::is_openapi3(&doc) {
        return Err(ConnectorError::shape(
            "The document is not an OpenAPI 3 description (no “openapi: 3…” and “paths”).",
        ));
    }
    Ok(doc)
}

/// Where the next read of a stream starts (the sync engine keeps it as the
/// batch's `next`). A next URL never holds the key: it is added per call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// A smaller page size the API asked for (it refused the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    /// A fingerprint of the previous page's first record: an API that
    /// ignores the offset answers the same page again, which ends the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seen: Option<u64>,
}

impl Position {
    fn read(v: Option<&Value>) -> Position {
        v.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
    }
}

/// One page and where the next one starts.
struct Page {
    records: Vec<Map<String, Value>>,
    next: Option<Position>,
    total: Option<u64>,
}

/// Records per request: the source's setting, else the document's maximum,
/// never above what the caller asked for.
fn page_size(cx: &Ctx, loc: &Locator, asked: u32, pos: &Position) -> u64 {
    let max = loc.max_size.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    let setting = cx.config.get("page_size").parse::<u64>().ok().filter(|n| *n > 0);
    pos.size.or(setting).unwrap_or(max).min(max).min(u64::from(asked.max(1)))
}

fn fingerprint(record: &Map<String, Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(record).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// The URL of the page at `pos`: a next URL as the API gave it (kept on the
/// source's origin), else the path with paging, sort and `extra` parameters.
fn page_url(
    cx: &Ctx,
    loc: &Locator,
    pos: &Position,
    size: u64,
    extra: &[(String, String)],
) -> Result<Url, ConnectorError> {
    let base = cx.config.base_url()?;
    if let Some(next) = &pos.url {
        let url = base.join(next).map_err(|_| ConnectorError::shape("The API's next-page link is not a URL."))?;
        if !cx.http.is_source_origin(&url) {
            return Err(ConnectorError::new(
                ErrorClass::Blocked,
                "The API's next-page link leads to another address; keyhub sends the key only to the source's own.",
            ));
        }
        return Ok(url);
    }
    let mut url = join(&base, &loc.path);
    {
        let mut q = url.query_pairs_mut();
        let size_text = size.to_string();
        match &loc.paging {
            Paging::Offset { limit, offset } => {
                q.append_pair(limit, &size_text).append_pair(offset, &pos.offset.unwrap_or(0).to_string());
            }
            Paging::Page { page, size: per, .. } => {
                if let Some(p) = pos.page {
                    q.append_pair(page, &p.to_string());
                }
                if let Some(per) = per {
                    q.append_pair(per, &size_text);
                }
            }
            Paging::Cursor { param, size: per } => {
                if let Some(c) = &pos.cursor {
                    q.append_pair(param, c);
                }
                if let Some(per) = per {
                    q.append_pair(per, &size_text);
                }
            }
            Paging::Next { size: per } => {
                if let Some(per) = per {
                    q.append_pair(per, &size_text);
                }
            }
        }
        for f in loc.fixed.iter().filter(|f| !f.header) {
            q.append_pair(&f.name, &f.value);
        }
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        if let Some((param, value)) = &loc.sort
            && !extra.iter().any(|(k, _)| k == param)
        {
            q.append_pair(param, value);
        }
    }
    Ok(url)
}

/// `url` without the key's query parameter, relative to nothing: what a
/// position may keep.
fn without_key(cx: &Ctx, url: &Url) -> String {
    let mut u = url.clone();
    if cx.config.get("key_in") == "query" {
        let name = key_param(cx);
        let kept: Vec<(String, String)> =
            u.query_pairs().filter(|(k, _)| *k != name).map(|(k, v)| (k.into(), v.into())).collect();
        u.set_query(None);
        if !kept.is_empty() {
            u.query_pairs_mut().extend_pairs(kept);
        }
    }
    u.to_string()
}

/// Reads the page at `pos`.
async fn fetch(
    cx: &Ctx,
    loc: &Locator,
    pos: &Position,
    asked: u32,
    extra: &[(String, String)],
) -> Result<Page, ConnectorError> {
    let mut pos = pos.clone();
    let mut size = page_size(cx, loc, asked, &pos);
    let answer = match call(cx, page_url(cx, loc, &pos, size, extra)?, Some(loc)).await {
        // A first page refused for its size (the document's maximum was
        // wrong or missing): once more at 100, kept for the next pages.
        Err(e)
            if matches!(e.status, Some(400 | 422)) && pos.url.is_none() && loc.size_param().is_some() && size > 100 =>
        {
            size = 100;
            pos.size = Some(size);
            call(cx, page_url(cx, loc, &pos, size, extra)?, Some(loc)).await?
        }
        other => other?,
    };
    let body = answer.json_from(&cx.http, &paging::exact_numbers(&answer.body))?;
    let records = super::records_at(&body, loc.records_key.as_deref())?;
    let total = paging::total(&body, |h| answer.header(h).map(str::to_owned));
    let first = records.first().map(fingerprint);
    if first.is_some() && first == pos.seen {
        return Ok(Page { records: Vec::new(), next: None, total });
    }
    // What the answer says comes next, URLs made absolute and keyless.
    let said = match answer.header("link").and_then(paging::link_next) {
        Some(link) => Some(NextRef::Url(link)),
        None => paging::next_in_body(&body),
    };
    let said = match said {
        Some(NextRef::Url(u)) => {
            let url = answer.url.join(&u).map_err(|_| ConnectorError::shape("The API's next page is not a URL."))?;
            Some(NextRef::Url(without_key(cx, &url)))
        }
        other => other,
    };
    let next = next_position(loc, &pos, records.len(), size, total, said, first);
    Ok(Page { records, next, total })
}

/// Where the page after `pos` starts: the link the answer gave, its token
/// (cursor paging), else the next offset or page number until an empty
/// page or the reported total. `first` fingerprints this page's first record.
fn next_position(
    loc: &Locator,
    pos: &Position,
    read: usize,
    size: u64,
    total: Option<u64>,
    said: Option<NextRef>,
    first: Option<u64>,
) -> Option<Position> {
    if read == 0 {
        return None;
    }
    let keep = |n: Position| Position { size: pos.size, seen: first, ..n };
    match (said, &loc.paging) {
        (Some(NextRef::Url(url)), _) => Some(keep(Position { url: Some(url), ..Position::default() })),
        (Some(NextRef::Token(t)), Paging::Cursor { .. }) => {
            Some(keep(Position { cursor: Some(t), ..Position::default() }))
        }
        // A page reached by a link with no link onwards is the last:
        // counting offsets from here would start over.
        _ if pos.url.is_some() => None,
        (_, Paging::Offset { .. }) => {
            let at = pos.offset.unwrap_or(0) + read as u64;
            total.is_none_or(|t| at < t).then(|| keep(Position { offset: Some(at), ..Position::default() }))
        }
        (_, Paging::Page { first: from, .. }) => {
            let page = pos.page.unwrap_or(*from) + 1;
            let done = (page - from) * size;
            total.is_none_or(|t| done < t).then(|| keep(Position { page: Some(page), ..Position::default() }))
        }
        _ => None,
    }
}

/// Numbers the API sends as text (`"price": "19.99"`, how decimal columns
/// usually travel) stay text: as a float they would be rounded.
fn exact_decimals(
    mut columns: Vec<crate::domain::schema::Column>,
    sample: &[Map<String, Value>],
    notes: &mut Vec<String>,
) -> Vec<crate::domain::schema::Column> {
    use crate::domain::schema::ColumnType;
    for c in columns.iter_mut().filter(|c| c.kind == ColumnType::Number) {
        if sample.iter().any(|r| r.get(&c.source).is_some_and(Value::is_string)) {
            c.kind = ColumnType::Text;
            notes.push(format!(
                "{} is a number the API sends as text (a decimal): it is kept as text, exactly as sent.",
                c.name
            ));
        }
    }
    columns
}

/// Probes one stream: its first page, a few records. Columns the document
/// leaves free-form are learnt from them; the row count is the API's own.
async fn probe(cx: &Ctx, op: document::Operation) -> Result<StreamInfo, Unavailable> {
    let extra: Vec<(String, String)> = op.locator.count.iter().cloned().collect();
    match fetch(cx, &op.locator, &Position::default(), SAMPLE_SIZE, &extra).await {
        Ok(page) => {
            let mut notes = op.notes;
            let columns = if op.columns.is_empty() {
                super::infer_columns(&[], &page.records)
            } else {
                exact_decimals(op.columns, &page.records, &mut notes)
            };
            let primary_key = op.primary_key.clone().or_else(|| document::primary_key(&columns));
            Ok(StreamInfo {
                name: op.name,
                columns,
                primary_key,
                row_count: page.total,
                locator: serde_json::to_value(&op.locator).unwrap_or_default(),
                notes,
            })
        }
        Err(error) => Err(Unavailable { stream: op.name, error }),
    }
}

impl Connector for OpenApi {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn check<'a>(&'a self, cx: &'a Ctx) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move { document(cx).await.map(|_| ()) })
    }

    fn discover<'a>(
        &'a self,
        cx: &'a Ctx,
        only: Option<&'a [String]>,
    ) -> BoxFuture<'a, Result<Discovery, ConnectorError>> {
        Box::pin(async move {
            let doc = document(cx).await?;
            let ops: Vec<document::Operation> = document::operations(&doc)
                .into_iter()
                .filter(|op| only.is_none_or(|names| names.contains(&op.name)))
                .collect();
            let probes: Vec<Result<StreamInfo, Unavailable>> =
                futures_util::stream::iter(ops.into_iter().map(|op| probe(cx, op)))
                    .buffered(PROBES_AT_ONCE)
                    .collect()
                    .await;
            let mut found = Discovery::default();
            for p in probes {
                match p {
                    Ok(s) => found.streams.push(s),
                    Err(u) => found.unavailable.push(u),
                }
            }
            Ok(found)
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
            let loc = Locator::read(&stream.locator);
            let page = fetch(cx, &loc, &Position::read(state.as_ref()), size, &[]).await?;
            Ok(Batch { records: page.records, next: page.next.and_then(|n| serde_json::to_value(n).ok()) })
        })
    }

    fn incremental(&self) -> bool {
        true
    }

    fn cursor_columns(&self, stream: &StreamInfo) -> Option<Vec<String>> {
        let loc = Locator::read(&stream.locator);
        let mut out: Vec<String> = Vec::new();
        for f in &loc.filters {
            if !out.contains(&f.column) {
                out.push(f.column.clone());
            }
        }
        Some(out)
    }

    fn filter_choice(&self) -> bool {
        true
    }

    fn choose_filter(&self, stream: &StreamInfo, column: &str, param: &str) -> Result<StreamInfo, String> {
        let loc = Locator::read(&stream.locator).choose(column, param)?;
        Ok(StreamInfo { locator: serde_json::to_value(&loc).unwrap_or_default(), ..stream.clone() })
    }

    /// The stream's filter parameter for `column` (`>= after` when the
    /// document offers it: rows at the cursor are read again and upserted by
    /// key, so one written in the same second after a sync is not lost),
    /// sorted by the cursor then the key when a sort parameter exists; the
    /// pages of that one query carry ties across page boundaries.
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
            let mut loc = Locator::read(&stream.locator);
            let Some(filter) = loc.filter_for(column).cloned() else {
                return Err(ConnectorError::config(format!(
                    "The API declares no filter on “{column}”, so it cannot be read incrementally by it; choose another cursor column or full refresh."
                )));
            };
            // By the cursor, then the key where the parameter takes a list
            // (a single field leaves ties to the API's own tie-break).
            if let Some((param, _)) = loc.sort.clone() {
                let order = match &stream.primary_key {
                    Some(pk) if pk != column && loc.sort_many => format!("{column},{pk}"),
                    _ => column.to_owned(),
                };
                loc.sort = Some((param, order));
            }
            let extra: Vec<(String, String)> = super::cursor_text(after.as_ref())
                .map(|v| (filter.param.clone(), format!("{}{v}", filter.value_prefix)))
                .into_iter()
                .collect();
            let page = fetch(cx, &loc, &Position::read(position.as_ref()), size, &extra).await?;
            Ok(Batch { records: page.records, next: page.next.and_then(|n| serde_json::to_value(n).ok()) })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(paging: Paging) -> Locator {
        Locator { path: "/x".into(), paging, ..Locator::default() }
    }

    #[test]
    fn each_paging_kind_finds_the_next_page_and_stops() {
        let offset = loc(Paging::Offset { limit: "limit".into(), offset: "offset".into() });
        let start = Position::default();
        let next = next_position(&offset, &start, 100, 100, None, None, Some(1)).unwrap();
        assert_eq!((next.offset, next.seen), (Some(100), Some(1)));
        assert_eq!(next_position(&offset, &next, 40, 100, Some(140), None, Some(2)), None, "the total is reached");
        assert_eq!(next_position(&offset, &next, 0, 100, None, None, None), None, "an empty page ends");
        // A capped page (fewer than asked) is not taken for the last one.
        assert_eq!(next_position(&offset, &start, 20, 100, None, None, Some(1)).unwrap().offset, Some(20));

        let page = loc(Paging::Page { page: "page".into(), size: Some("per_page".into()), first: 0 });
        let p1 = next_position(&page, &start, 50, 50, Some(120), None, None).unwrap();
        assert_eq!(p1.page, Some(1), "zero-based: the second page is 1");
        let p2 = next_position(&page, &p1, 50, 50, Some(120), None, None).unwrap();
        assert_eq!(next_position(&page, &p2, 20, 50, Some(120), None, None), None);

        let cursor = loc(Paging::Cursor { param: "after".into(), size: None });
        let c = next_position(&cursor, &start, 10, 10, None, Some(NextRef::Token("abc".into())), None).unwrap();
        assert_eq!(c.cursor.as_deref(), Some("abc"));
        assert_eq!(next_position(&cursor, &c, 10, 10, None, None, None), None, "no token, no more");
        assert_eq!(
            next_position(&offset, &start, 10, 10, None, Some(NextRef::Token("t".into())), None).unwrap().offset,
            Some(10),
            "a token without a cursor parameter is no use"
        );

        // A link wins, and a page reached by a link with none onwards is the last.
        let linked =
            next_position(&offset, &start, 10, 10, None, Some(NextRef::Url("http://h/x?o=10".into())), None).unwrap();
        assert_eq!(linked.url.as_deref(), Some("http://h/x?o=10"));
        assert_eq!(next_position(&offset, &linked, 10, 10, None, None, None), None);
        // A smaller size the API asked for stays.
        let small = Position { size: Some(100), ..Position::default() };
        assert_eq!(next_position(&offset, &small, 100, 100, None, None, None).unwrap().size, Some(100));
    }

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("http://h/api/").unwrap();
        assert_eq!(join(&base, "/openapi.json").as_str(), "http://h/api/openapi.json");
        assert_eq!(join(&Url::parse("http://h/").unwrap(), "/api/v1/x").as_str(), "http://h/api/v1/x");
    }
}
