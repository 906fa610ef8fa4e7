//! Serving data collections at `/hub/{workspace}/{path}`: which endpoint a
//! URL names, and the rendered pages. Both are cached in memory so that a
//! repeated request touches no database row:
//!
//! - routes (slug + path → endpoint, collection, dataset) are dropped on any
//!   Data Hub change, here or — through the `hub_version` marker — on another node;
//! - rendered pages are keyed by the dataset's version and the collection's
//!   last change, so a commit simply makes old entries unreachable; the map is
//!   bounded and emptied when full.
pub mod keys;
pub mod manage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use actix_web::web::Bytes;
use sea_orm::{DatabaseConnection, DbErr};

use crate::datasets::store::{self as rows, ReadQuery};
use crate::domain::datahub::{Access, Format, HubQuery, QueryError, parse_order};
use crate::entities::{data_collections, datasets, endpoints};

/// Everything needed to answer a request for one endpoint.
#[derive(Debug)]
pub struct Route {
    pub workspace_id: i64,
    pub endpoint: endpoints::Model,
    pub access: Access,
    pub collection: data_collections::Model,
    pub dataset: datasets::Model,
    /// Exposed field names in order, and each one's dataset column.
    pub fields: Vec<String>,
    pub columns: Vec<usize>,
    /// Web origins that may read it from a browser; `*` for any.
    pub origins: Vec<String>,
    /// The endpoint's path as usage counts it: shared, so that counting a
    /// call copies a pointer, not the text.
    pub usage_label: std::sync::Arc<str>,
}

/// The exposed fields of a collection: (names, dataset column indexes).
pub fn exposed_fields(c: &data_collections::Model, ds: &datasets::Model) -> (Vec<String>, Vec<usize>) {
    let cols = rows::columns(ds);
    let chosen: Option<Vec<String>> = c.fields.as_ref().map(|f| f.0.clone());
    let names: Vec<String> = match chosen {
        Some(list) => list.into_iter().filter(|n| cols.iter().any(|c| c.name == *n)).collect(),
        None => cols.iter().map(|c| c.name.clone()).collect(),
    };
    let idx = names.iter().filter_map(|n| cols.iter().position(|c| c.name == *n)).collect();
    (names, idx)
}

impl Route {
    /// The `Access-Control-Allow-Origin` value for a browser's `Origin`, when
    /// this endpoint lets that site read it.
    pub fn allowed_origin<'a>(&'a self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        if self.origins.iter().any(|o| o == "*") {
            return Some("*");
        }
        self.origins.iter().find(|o| *o == origin).map(String::as_str)
    }

    /// Each filter's value must be one of its column's type: `amount=abc` on
    /// a number column is refused, not read as "no value".
    pub fn check_filters(&self, q: &HubQuery) -> Result<(), QueryError> {
        let cols = rows::columns(&self.dataset);
        for (i, cmp, v) in &q.filters {
            let Some(col) = cols.get(self.columns[*i]) else { continue };
            if let Err(why) = crate::domain::schema::typed(&crate::domain::schema::Raw::Text(v.clone()), col.kind) {
                let parameter = format!("{}{}", self.fields[*i], cmp.suffix());
                return Err(QueryError {
                    message: format!("{why}: {parameter} is a filter on a column of that type."),
                    parameter,
                });
            }
        }
        Ok(())
    }

    /// The exposed field holding the dataset's primary key, if it is exposed:
    /// a client syncing the collection upserts by it.
    pub fn primary_field(&self) -> Option<&str> {
        let pk = self.dataset.primary_key.as_deref()?;
        let cols = rows::columns(&self.dataset);
        let i = self.columns.iter().position(|&c| cols.get(c).is_some_and(|col| col.name == pk))?;
        self.fields.get(i).map(String::as_str)
    }

    /// `attachment; filename="orders.csv"` for the whole collection as CSV.
    pub fn attachment(&self) -> String {
        format!("attachment; filename=\"{}.csv\"", crate::domain::datahub::slugify(&self.collection.name))
    }

    /// The store query for a caller's query (or the collection's default order).
    pub fn read_query(&self, q: &HubQuery) -> ReadQuery {
        let order = match q.order {
            Some((i, desc)) => Some((self.columns[i], desc)),
            None => self.collection.sort_order.as_deref().and_then(|o| {
                let (name, desc) = parse_order(o);
                self.fields.iter().position(|f| f == name).map(|i| (self.columns[i], desc))
            }),
        };
        ReadQuery {
            filters: q.filters.iter().map(|(i, cmp, v)| (self.columns[*i], *cmp, v.clone())).collect(),
            search: None,
            order,
            limit: q.limit,
            offset: q.offset,
        }
    }
}

/// A page ready to send.
pub struct Rendered {
    pub body: Bytes,
    /// Records in the collection (for `${collection.meta.count}`).
    pub count: u64,
    pub etag: String,
    pub content_type: &'static str,
}

const MAX_PAGES: usize = 4_096;
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
struct Pages {
    map: HashMap<String, Arc<Rendered>>,
    bytes: usize,
}

/// Whole-collection CSV answers running at once: each holds a database
/// connection while it streams, so they may take at most half the smallest pool.
const EXPORTS: usize = 4;
/// Bytes rendered before they are handed to the connection.
const EXPORT_CHUNK: usize = 64 * 1024;
/// A client that reads nothing for this long loses its export (and the
/// connection it held).
const EXPORT_STALL: Duration = Duration::from_secs(60);

/// A whole collection as CSV, being streamed.
pub struct Export {
    /// Matching records (`X-Total-Count`).
    pub count: u64,
    pub body: futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>,
}

pub struct Hub {
    db: DatabaseConnection,
    exports: Arc<tokio::sync::Semaphore>,
    routes: RwLock<HashMap<(String, String), Arc<Route>>>,
    pages: Mutex<Pages>,
    marker: Mutex<Option<String>>,
    stale: AtomicBool,
}

impl Hub {
    pub fn new(db: DatabaseConnection) -> Arc<Hub> {
        Arc::new(Hub {
            db,
            exports: Arc::new(tokio::sync::Semaphore::new(EXPORTS)),
            routes: RwLock::default(),
            pages: Mutex::default(),
            marker: Mutex::default(),
            stale: AtomicBool::new(false),
        })
    }

    /// Call after any change to datasets, collections, endpoints or slugs.
    pub async fn changed(&self) {
        self.forget();
        match crate::store::changes::bump_named(&self.db, crate::store::changes::HUB).await {
            // Already applied here: the watcher need not empty the caches again.
            Ok(value) => *self.marker.lock().unwrap_or_else(|p| p.into_inner()) = Some(value),
            Err(e) => tracing::warn!(error = %e, "telling other nodes about a Data Hub change failed"),
        }
    }

    fn forget(&self) {
        self.routes.write().unwrap_or_else(|p| p.into_inner()).clear();
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        *pages = Pages::default();
    }

    /// Notices changes made by other nodes: at once when `signals` says so
    /// (PostgreSQL), and every 2 s in case a notification was missed.
    pub fn spawn_watcher(self: &Arc<Self>, signals: Arc<crate::cluster::Signals>) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = signals.catalogue.notified() => {}
                }
                match crate::store::changes::current_named(&this.db, crate::store::changes::HUB).await {
                    Ok(v) => {
                        let mut seen = this.marker.lock().unwrap_or_else(|p| p.into_inner());
                        if *seen != v {
                            if seen.is_some() {
                                tracing::debug!("Data Hub changed elsewhere: its caches are emptied");
                            }
                            *seen = v;
                            this.stale.store(true, Ordering::SeqCst);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "checking for Data Hub changes failed"),
                }
            }
        });
    }

    /// The endpoint at `slug`/`path`, from memory when it was asked for before.
    pub async fn route(&self, slug: &str, path: &str) -> Result<Option<Arc<Route>>, DbErr> {
        // A plain load first: the request path should not write a shared
        // cache line unless there is something to do.
        if self.stale.load(Ordering::Relaxed) && self.stale.swap(false, Ordering::SeqCst) {
            self.forget();
        }
        let key = (slug.to_owned(), path.to_owned());
        if let Some(r) = self.routes.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(Arc::clone(r)));
        }
        let Some(route) = load_route(&self.db, slug, path).await? else { return Ok(None) };
        let route = Arc::new(route);
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        // Unknown paths are not remembered, so the map only grows with real endpoints.
        if routes.len() > 100_000 {
            routes.clear();
        }
        routes.insert(key, Arc::clone(&route));
        Ok(Some(route))
    }

    /// Every record matching `q` as CSV, streamed in constant memory from one
    /// database statement (`None`: too many exports are running; try later).
    /// A failure after the first bytes breaks the connection, so a client
    /// never takes a cut file for a whole one.
    pub async fn export(&self, route: Arc<Route>, q: HubQuery) -> Result<Option<Export>, DbErr> {
        let permit = match tokio::time::timeout(Duration::from_secs(5), Arc::clone(&self.exports).acquire_owned()).await
        {
            Ok(Ok(p)) => p,
            _ => return Ok(None),
        };
        let read = route.read_query(&q);
        let count = rows::count(&self.db, &route.dataset, &read).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let db = self.db.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = stream_csv(&db, &route, &read, &tx).await {
                tracing::error!(error = %e, endpoint = route.endpoint.id, "streaming a collection as CSV failed");
                let _ = tx.send(Err(std::io::Error::other("the export failed"))).await;
            }
        });
        let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok(Some(Export { count, body: Box::pin(body) }))
    }

    /// The page for `q`, rendered once per dataset version.
    pub async fn page(&self, route: &Route, q: &HubQuery) -> Result<Arc<Rendered>, DbErr> {
        let key = page_key(route, q);
        if let Some(p) = self.pages.lock().unwrap_or_else(|p| p.into_inner()).map.get(&key) {
            return Ok(Arc::clone(p));
        }
        let page = rows::read(&self.db, &route.dataset, &route.read_query(q)).await?;
        let body = match q.format {
            Format::Json => {
                render_json(&route.collection.name, &route.fields, &route.columns, q, &page.rows, page.count)
            }
            Format::Csv => render_csv(&route.fields, &route.columns, &page.rows),
        };
        let content_type = match q.format {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        };
        let rendered =
            Arc::new(Rendered { body: Bytes::from(body), count: page.count, etag: etag(&key), content_type });
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        // The key holds the caller's filter values: it counts like the body.
        let cost = rendered.body.len() + key.len();
        if pages.map.len() >= MAX_PAGES || pages.bytes + cost > MAX_PAGE_BYTES {
            *pages = Pages::default();
        }
        pages.bytes += cost;
        pages.map.insert(key, Arc::clone(&rendered));
        Ok(rendered)
    }
}

/// What a rendered answer depends on: dataset version, collection change,
/// endpoint and the caller's query.
fn page_key(route: &Route, q: &HubQuery) -> String {
    format!(
        "{}/{}/{}/{}/{}/{q:?}",
        route.dataset.id,
        route.dataset.version,
        route.collection.id,
        route.collection.updated_at.timestamp_micros(),
        route.endpoint.id,
    )
}

/// The ETag of the answer to `q` (the same for a page and for the whole CSV),
/// known before anything is read.
pub fn etag_of(route: &Route, q: &HubQuery) -> String {
    etag(&page_key(route, q))
}

fn etag(key: &str) -> String {
    format!("\"{}\"", &crate::domain::tokens::digest(key)[..24])
}

/// The export's task: rows from the store, rendered, handed over a chunk at a
/// time. Returns when done, or when the client went away or stalled.
async fn stream_csv(
    db: &DatabaseConnection,
    route: &Route,
    read: &ReadQuery,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), anyhow::Error> {
    use futures_util::StreamExt;
    let writer = || csv::Writer::from_writer(Vec::with_capacity(EXPORT_CHUNK + 16 * 1024));
    let mut w = writer();
    w.write_record(route.fields.iter().map(|f| crate::domain::spreadsheet::cell(f).into_owned()))?;
    let mut chunks = rows::stream(db, &route.dataset, read);
    loop {
        let next = chunks.next().await.transpose()?;
        let done = next.is_none();
        // One vector of cells for the chunk's rows (they borrow its text).
        let mut cells = Vec::new();
        for line in next.as_deref().unwrap_or_default().split('\n').filter(|l| !l.is_empty()) {
            write_csv_raw_row(&mut w, &route.columns, line, &mut cells)?;
        }
        if done || w.get_ref().len() >= EXPORT_CHUNK {
            let chunk = Bytes::from(std::mem::replace(&mut w, writer()).into_inner().map_err(|e| e.into_error())?);
            if !chunk.is_empty() {
                match tokio::time::timeout(EXPORT_STALL, tx.send(Ok(chunk))).await {
                    Ok(Ok(())) => {}
                    // Gone, or not reading: let the connection go.
                    _ => return Ok(()),
                }
            }
        }
        if done {
            return Ok(());
        }
    }
}

/// One stored row (its JSON array text) as a CSV line, without building
/// values: strings are unescaped (borrowed when they hold no escape) and
/// defused; numbers and booleans are written as stored; null is empty. The
/// same text as `write_csv_row` gives for the parsed row. `cells` is scratch
/// space, reused from row to row.
fn write_csv_raw_row<'a, W: std::io::Write>(
    w: &mut csv::Writer<W>,
    columns: &[usize],
    line: &'a str,
    cells: &mut Vec<&'a str>,
) -> anyhow::Result<()> {
    if split_row(line, cells).is_none() {
        // Not the compact array keyhub stores: let serde read (or refuse) it.
        let parsed: Vec<&serde_json::value::RawValue> = serde_json::from_str(line)?;
        cells.clear();
        cells.extend(parsed.iter().map(|v| v.get()));
    }
    for c in columns {
        match cells.get(*c).copied() {
            None | Some("null") => w.write_field(b"")?,
            Some(raw) if raw.starts_with('"') => {
                let inner = &raw[1..raw.len() - 1];
                let s: std::borrow::Cow<'_, str> =
                    if inner.contains('\\') { serde_json::from_str::<String>(raw)?.into() } else { inner.into() };
                w.write_field(crate::domain::spreadsheet::cell(&s).as_bytes())?;
            }
            Some(raw) => w.write_field(raw.as_bytes())?,
        }
    }
    w.write_record(None::<&[u8]>)?;
    Ok(())
}

/// The top-level values of a stored row — a JSON array as keyhub writes it
/// (compact) — as raw text slices, into `out`: strings are skipped with
/// `memchr` to their closing quote, numbers and literals to the next comma.
/// serde's `RawValue` validated every character and allocated a vector per
/// row, which was most of an export's time. `None` when the text is not
/// such an array (nested values, spaces, anything odd); the caller then
/// parses it properly.
fn split_row<'a>(line: &'a str, out: &mut Vec<&'a str>) -> Option<()> {
    out.clear();
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
                    if b[i] == b'"' {
                        break;
                    }
                    i += 2; // an escape and the character it escapes
                }
                i += 1;
            }
            b'[' | b'{' | b',' | b' ' => return None,
            _ => i = memchr::memchr(b',', &b[i..]).map_or(b.len(), |n| i + n),
        }
        out.push(&inner[start..i]);
        match b.get(i) {
            None => return Some(()),
            Some(b',') if i + 1 < b.len() => i += 1,
            _ => return None,
        }
    }
    Some(())
}

async fn load_route(db: &DatabaseConnection, slug: &str, path: &str) -> Result<Option<Route>, DbErr> {
    let Some(ws) = crate::store::workspaces::find_by_slug(db, slug).await? else { return Ok(None) };
    let Some(endpoint) = crate::store::datahub::endpoint_by_path(db, ws.id, path).await? else { return Ok(None) };
    route_for(db, endpoint).await
}

/// The route of an endpoint already found.
pub async fn route_for(db: &DatabaseConnection, endpoint: endpoints::Model) -> Result<Option<Route>, DbErr> {
    let Some(collection) = crate::store::datahub::collection(db, endpoint.workspace_id, endpoint.collection_id).await?
    else {
        return Ok(None);
    };
    let Some(dataset) = crate::store::datahub::dataset(db, endpoint.workspace_id, collection.dataset_id).await? else {
        return Ok(None);
    };
    let (fields, columns) = exposed_fields(&collection, &dataset);
    Ok(Some(Route {
        usage_label: endpoint.path.as_str().into(),
        origins: endpoint.allowed_origins.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
        workspace_id: endpoint.workspace_id,
        access: *endpoint.access,
        endpoint,
        collection,
        dataset,
        fields,
        columns,
    }))
}

/// `{"meta": {...}, "data": [{field: value, ...}]}` with fields in the
/// collection's order (serde_json's map would sort them).
pub fn render_json(
    name: &str,
    fields: &[String],
    columns: &[usize],
    q: &HubQuery,
    rows: &[Vec<serde_json::Value>],
    count: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + rows.len() * 64);
    // Written by hand to keep the documented order: name, count, limit, offset.
    let name = serde_json::to_string(name).unwrap_or_default();
    let meta =
        format!(r#"{{"meta":{{"name":{name},"count":{count},"limit":{},"offset":{}}},"data":["#, q.limit, q.offset);
    out.extend_from_slice(meta.as_bytes());
    let names: Vec<String> = fields.iter().map(|f| serde_json::to_string(f).unwrap_or_default()).collect();
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(names[i].as_bytes());
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, row.get(*col).unwrap_or(&serde_json::Value::Null));
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// A header row of field names, then one line per row; quoting as RFC 4180,
/// formulas defused (`domain::spreadsheet`).
pub fn render_csv(fields: &[String], columns: &[usize], rows: &[Vec<serde_json::Value>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(fields.iter().map(|f| crate::domain::spreadsheet::cell(f).into_owned()));
    let _ = write_csv_rows(&mut w, columns, rows);
    w.into_inner().unwrap_or_default()
}

/// Rows as CSV lines (the values of `columns`, in that order).
pub fn write_csv_rows<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    columns: &[usize],
    rows: &[Vec<serde_json::Value>],
) -> csv::Result<()> {
    for row in rows {
        write_csv_row(w, columns, row)?;
    }
    Ok(())
}

pub fn write_csv_row<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    columns: &[usize],
    row: &[serde_json::Value],
) -> csv::Result<()> {
    for c in columns {
        w.write_field(crate::domain::schema::csv_cell(row.get(*c).unwrap_or(&serde_json::Value::Null)).as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_split_into_its_top_level_values_or_not_at_all() {
        let mut cells = Vec::new();
        assert_eq!(split_row(r#"[1,"a,b","say \"hi\"",null,-2.5e3,true]"#, &mut cells), Some(()));
        assert_eq!(cells, ["1", r#""a,b""#, r#""say \"hi\"""#, "null", "-2.5e3", "true"]);
        assert_eq!(split_row("[]", &mut cells), Some(()));
        assert!(cells.is_empty());
        // Not the compact flat array: left to serde.
        for other in [r#"[1,"ab]"#, "[1,,2]", "[[1]", "1,2", r#"["a\"]"#, "[1,]", "[1, 2]", "[[2,3]]", r#"[{"k":1}]"#] {
            assert_eq!(split_row(other, &mut cells), None, "{other}");
        }
    }

    #[test]
    fn a_stored_row_is_written_as_csv_the_same_raw_or_parsed() {
        let rows = [
            r#"[1,"Oslo, Norway",12.5,true,null,"=1+1","say \"hi\"\nthere","ünï \u00e9",[1,2],{"a":1}]"#,
            r#"[-3,"",0,false,"@x","+1","-1","tab\there","plain",null]"#,
            r#"[7]"#,
            r#"[]"#,
            r#"["a\\",",","[","]","{\"","x\\\"y"]"#,
            r#"[ 1 , "spaced" ]"#,
        ];
        let columns: Vec<usize> = (0..10).rev().collect();
        for line in rows {
            let mut raw = csv::Writer::from_writer(Vec::new());
            write_csv_raw_row(&mut raw, &columns, line, &mut Vec::new()).unwrap();
            let mut parsed = csv::Writer::from_writer(Vec::new());
            let row: Vec<serde_json::Value> = serde_json::from_str(line).unwrap();
            write_csv_row(&mut parsed, &columns, &row).unwrap();
            assert_eq!(
                String::from_utf8(raw.into_inner().unwrap()).unwrap(),
                String::from_utf8(parsed.into_inner().unwrap()).unwrap(),
                "{line}"
            );
        }
    }
}
