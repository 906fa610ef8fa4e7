//! Prometheus metrics (`prometheus-client`, the Prometheus project's own
//! crate) and the request log line.
//!
//! One process-wide set, recorded from wherever the event happens (the frame
//! middleware, the verifiers, the sync runner) and encoded on `GET /metrics`,
//! which is served on `KEYHUB_METRICS_BIND` or, behind `KEYHUB_METRICS_TOKEN`,
//! on the main listener (see `app.rs`). Recording is a few atomic adds and,
//! for a label set seen before, a read lock: cheap enough for every request.
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::DatabaseConnection;

/// Every label value comes from a fixed set the server decides — never from
/// what a client sends — so the number of series (and the memory they hold)
/// cannot be grown from outside: invented HTTP methods are `other`, paths
/// are route patterns, statuses are the ones keyhub answers with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The route pattern (`/hub/{workspace}/{path}`), never the raw path:
    /// one series per route, and no secrets or ids from URLs.
    route: String,
    status: u16,
}

/// The method as a label: one of HTTP's registered methods keyhub may see, else `other`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerifyLabels {
    /// `personal` or `hub`.
    kind: &'static str,
    /// `ok` or the API error code of the refusal.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    /// `read` (SELECT) or `write` (everything else).
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: HistogramFamily<RequestLabels>,
    verifications: Family<VerifyLabels, Counter>,
    snapshot_keys: Family<KindLabels, Gauge>,
    snapshot_loaded: Family<KindLabels, Gauge>,
    sync_rows: Counter,
    sync_runs: HistogramFamily<OutcomeLabels>,
    db_pool: Family<PoolLabels, Gauge>,
    db_queries: HistogramFamily<QueryLabels>,
}

fn latency() -> Histogram {
    // 0.1 ms … ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

fn run_length() -> Histogram {
    // 0.5 s … ~2.3 h.
    Histogram::new(exponential_buckets(0.5, 2.0, 15))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("keyhub");
    let requests = HistogramFamily::<RequestLabels>::new_with_constructor(latency as fn() -> Histogram);
    let verifications = Family::default();
    let snapshot_keys = Family::default();
    let snapshot_loaded = Family::default();
    let sync_rows = Counter::default();
    let sync_runs = HistogramFamily::<OutcomeLabels>::new_with_constructor(run_length as fn() -> Histogram);
    let db_pool = Family::default();
    let db_queries = HistogramFamily::<QueryLabels>::new_with_constructor(latency as fn() -> Histogram);
    registry.register(
        "http_request_duration_seconds",
        "Time to answer a request, by method, route and status",
        requests.clone(),
    );
    registry.register(
        "key_verifications",
        "API keys checked, by kind (personal, hub) and outcome (ok or the refusal code)",
        verifications.clone(),
    );
    registry.register(
        "key_snapshot_keys",
        "Keys in the in-memory verification snapshot, by kind",
        snapshot_keys.clone(),
    );
    registry.register(
        "key_snapshot_loaded_timestamp_seconds",
        "When the snapshot was last loaded or changed (unix seconds), by kind",
        snapshot_loaded.clone(),
    );
    registry.register("sync_rows", "Records written by sync runs", sync_rows.clone());
    registry.register("sync_run_duration_seconds", "Length of finished sync runs, by outcome", sync_runs.clone());
    registry.register(
        "db_pool_connections",
        "Database pool connections, by state (idle, in_use, max)",
        db_pool.clone(),
    );
    registry.register(
        "db_query_duration_seconds",
        "Database statements and their time, by kind (read, write)",
        db_queries.clone(),
    );
    Metrics {
        registry,
        requests,
        verifications,
        snapshot_keys,
        snapshot_loaded,
        sync_rows,
        sync_runs,
        db_pool,
        db_queries,
    }
});

/// One answered request. `route` must be a route pattern (or a fixed word
/// such as `(unmatched)`), never a path a client chose.
pub fn request(method: &str, route: &str, status: u16, took: Duration) {
    let labels = RequestLabels { method: method_label(method), route: route.to_owned(), status };
    METRICS.requests.get_or_create(&labels).observe(took.as_secs_f64());
}

/// A key check's outcome: `ok` or the refusal's stable code.
pub fn verification(kind: &'static str, outcome: &'static str) {
    // Accepted keys are counted on every guarded call: their series are
    // looked up once, and counting is then one atomic add.
    static OK: LazyLock<[Counter; 2]> = LazyLock::new(|| {
        ["hub", "personal"]
            .map(|kind| METRICS.verifications.get_or_create(&VerifyLabels { kind, outcome: "ok" }).clone())
    });
    match (kind, outcome) {
        ("hub", "ok") => OK[0].inc(),
        ("personal", "ok") => OK[1].inc(),
        _ => METRICS.verifications.get_or_create(&VerifyLabels { kind, outcome }).inc(),
    };
}

/// The snapshot of `kind` now holds `keys` keys (loaded or changed just now).
pub fn snapshot(kind: &'static str, keys: usize) {
    let labels = KindLabels { kind };
    METRICS.snapshot_keys.get_or_create(&labels).set(i64::try_from(keys).unwrap_or(i64::MAX));
    METRICS.snapshot_loaded.get_or_create(&labels).set(chrono::Utc::now().timestamp());
}

/// One database statement (from the connection's metric callback).
pub fn db_query(read: bool, took: Duration) {
    let kind = if read { "read" } else { "write" };
    METRICS.db_queries.get_or_create(&QueryLabels { kind }).observe(took.as_secs_f64());
}

pub fn sync_rows(n: u64) {
    METRICS.sync_rows.inc_by(n);
}

pub fn sync_run(outcome: &'static str, took: Duration) {
    METRICS.sync_runs.get_or_create(&OutcomeLabels { outcome }).observe(took.as_secs_f64());
}

/// The text exposition, with the pool's state read now.
pub fn encode(db: &DatabaseConnection) -> String {
    let (size, idle, max) = pool_state(db);
    let set = |state, v: u32| METRICS.db_pool.get_or_create(&PoolLabels { state }).set(i64::from(v));
    set("in_use", size.saturating_sub(idle));
    set("idle", idle);
    set("max", max);
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).is_err() {
        out.clear();
    }
    out
}

/// (open connections, idle ones, the pool's maximum).
fn pool_state(db: &DatabaseConnection) -> (u32, u32, u32) {
    use sea_orm::DatabaseConnectionType as Pool;
    match &db.inner {
        Pool::SqlxSqlitePoolConnection(_) => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(0), p.options().get_max_connections())
        }
        Pool::SqlxPostgresPoolConnection(_) => {
            let p = db.get_postgres_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(0), p.options().get_max_connections())
        }
        _ => (0, 0, 0),
    }
}
