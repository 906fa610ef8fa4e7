//! A sync run, as the job runner executes it (see `jobs`). Each chosen stream
//! succeeds or fails on its own:
//!
//! - **Full refresh** reads the stream batch by batch into a new generation of
//!   its tab's dataset and commits when the stream ends: readers see the old
//!   rows until then; a failed or cancelled stream leaves them. After every
//!   batch the tab records the generation, the source position and the rows
//!   written, so a run taken up again after a crash resumes there.
//! - **Incremental** asks for records after the saved cursor (in the cursor
//!   column's order) and upserts them by primary key (appends without one);
//!   each batch commits with its cursor in one transaction, so the cursor
//!   never covers rows that were not written. The first sync of such a stream
//!   is a full refresh that notes the largest cursor value.
//!
//! Transient failures (timeouts, resets, 429, 5xx) are retried with
//! exponential backoff and jitter; a configuration failure (401, 403, 404,
//! policy) is not, and marks the source failing.
//!
//! Every run has limits, because a source can misbehave: at most
//! `KEYHUB_SYNC_MAX_ROWS` records per stream and `KEYHUB_SYNC_MAX_SECONDS`
//! per run, and a source that hands back the same position or the same page
//! twice is stopped. Reaching one fails the stream (`limit_reached`) and keeps
//! its old rows. A cancel interrupts a read or a wait in progress.
//!
//! Records are not trusted to match the columns found at discovery: a value
//! that does not fit its column widens the column (integer → number → text;
//! rows already written are turned to text with it), a key never seen adds a
//! column, and both are recorded as schema changes of the run.
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::queue::Control;
use super::runs::{self, CANCELLED, FAILED, LogLine, PARTIAL, RUNNING, SUCCEEDED, StreamRun, stream_runs};
use super::sources::{self, Failure};
use super::{Batch, Connector, ConnectorError, Ctx, ErrorClass, StreamInfo};
use crate::datasets::schema::{Column, ColumnType, Inference, Raw, key_text, type_of, typed, widen};
use crate::datasets::store::{self as dstore, NewDataset, RowIn, Writer};
use crate::entities::{datasets, sources as source_rows, stream_tabs, sync_runs};
use crate::state::AppState;
use crate::store::live_data as store;
use sea_orm::{DbErr, Set};

/// Records asked for per batch.
pub const BATCH: u32 = 1_000;
/// Retries of a transient failure before the stream fails.
pub const MAX_RETRIES: u32 = 4;
/// First backoff; doubled each retry, plus up to half again of jitter.
const BACKOFF: Duration = Duration::from_millis(500);
/// A `Retry-After` longer than this is not waited for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// How a stream's work ended.
enum Outcome {
    Done,
    Failed(ConnectorError),
    Cancelled,
    /// Another node holds the run now: stop, write nothing more.
    Lost,
}

/// A run being worked on: its streams and log, saved together.
struct Job<'a> {
    state: &'a AppState,
    run_id: i64,
    control: &'a Control,
    streams: Vec<StreamRun>,
    log: Vec<LogLine>,
    /// When the run began (kept across a resume), for `KEYHUB_SYNC_MAX_SECONDS`.
    began: DateTime<Utc>,
}

impl Job<'_> {
    fn note(&mut self, level: &str, message: impl Into<String>) {
        self.log.push(runs::line(level, message));
    }

    /// Saves progress; false when the lease was lost meanwhile.
    async fn save(&self) -> Result<bool, DbErr> {
        let streams = serde_json::to_string(&self.streams).unwrap_or_default();
        let kept = store::save_progress(
            &self.state.db,
            self.run_id,
            &self.state.jobs.node,
            &streams,
            &runs::log_json(&self.log),
        )
        .await?;
        if !kept {
            self.control.mark_lost();
        }
        crate::pulse::background().bump();
        Ok(kept)
    }

    /// Time left before `KEYHUB_SYNC_MAX_SECONDS` ends the run.
    fn time_left(&self) -> Duration {
        let spent = (Utc::now() - self.began).to_std().unwrap_or_default();
        self.state.settings.sync_max_time.saturating_sub(spent)
    }

    fn over_time(&self) -> Outcome {
        let limit = self.state.settings.sync_max_time.as_secs();
        Outcome::Failed(ConnectorError::new(
            ErrorClass::LimitReached,
            format!(
                "The run took longer than {} (KEYHUB_SYNC_MAX_SECONDS = {limit}), so it was stopped; the stream's old rows are kept.",
                human_seconds(limit)
            ),
        ))
    }

    /// Refuses a batch that would take the stream past `KEYHUB_SYNC_MAX_ROWS`.
    fn within_rows(&self, i: usize, more: usize) -> Result<(), Outcome> {
        let max = self.state.settings.sync_max_rows;
        if self.streams[i].records_read.saturating_add(more as u64) > max {
            return Err(Outcome::Failed(ConnectorError::new(
                ErrorClass::LimitReached,
                format!(
                    "The stream offered more than {} records, the most one sync may read (KEYHUB_SYNC_MAX_ROWS); the stream's old rows are kept.",
                    crate::domain::query::thousands(max)
                ),
            )));
        }
        Ok(())
    }

    fn interrupted(&self) -> Option<Outcome> {
        if self.control.lost() {
            Some(Outcome::Lost)
        } else if self.control.cancelled() {
            Some(Outcome::Cancelled)
        } else {
            None
        }
    }

    /// Calls the source, retrying transient failures with backoff and jitter
    /// (a `Retry-After` is honoured); each retry is counted and logged.
    /// `i` is the stream the call reads for (its retries are counted); none
    /// for discovery.
    async fn call<T, F, Fut>(&mut self, i: Option<usize>, mut f: F) -> Result<T, Outcome>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        let mut attempt = 0;
        loop {
            if let Some(o) = self.interrupted() {
                return Err(o);
            }
            let left = self.time_left();
            if left.is_zero() {
                return Err(self.over_time());
            }
            // The source's answer, unless a cancel (or the time limit) comes first.
            let answer = tokio::select! {
                r = f() => r,
                _ = self.control.stopped() => {
                    let what = i.and_then(|i| self.streams.get(i)).map(|s| s.stream.clone()).unwrap_or_else(|| "listing the streams".into());
                    self.note("warning", format!("{what}: stopped while waiting for the source's answer."));
                    return Err(self.interrupted().unwrap_or(Outcome::Cancelled));
                }
                _ = tokio::time::sleep(left) => return Err(self.over_time()),
            };
            match answer {
                Ok(v) => return Ok(v),
                Err(e) if e.class.transient() && attempt < MAX_RETRIES => {
                    attempt += 1;
                    let wait = backoff(attempt, e.retry_after.map(Duration::from_secs));
                    let stream = match i.and_then(|i| self.streams.get_mut(i)) {
                        Some(s) => {
                            s.retries += 1;
                            s.stream.clone()
                        }
                        None => "listing the streams".to_owned(),
                    };
                    self.note(
                        "warning",
                        format!("{stream}: {e}. Retry {attempt} of {MAX_RETRIES} in {:.1} s.", wait.as_secs_f64()),
                    );
                    if let Some(p) = &e.provider_message {
                        self.note("warning", format!("{stream}: the source said: {p}"));
                    }
                    let _ = self.save().await;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.control.stopped() => {}
                    }
                }
                Err(e) => return Err(Outcome::Failed(e)),
            }
        }
    }
}

/// "6 hours", "90 seconds", "2 minutes".
fn human_seconds(secs: u64) -> String {
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

/// Stops a source whose paging does not move on: the same position handed
/// back, or the same page of records twice in a row.
#[derive(Default)]
struct Paging {
    last_page: Option<u64>,
}

impl Paging {
    /// Checks a batch read at `at` that says to continue at `next`.
    /// `rows` are the batch as it will be stored: comparing their (already
    /// serialised) values costs one hash pass, no second serialisation.
    fn check(&mut self, at: Option<&Value>, next: Option<&Value>, rows: &[RowIn]) -> Result<(), Outcome> {
        let fail = |m: String| Err(Outcome::Failed(ConnectorError::new(ErrorClass::LimitReached, m)));
        if !rows.is_empty() {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            for r in rows {
                r.data.hash(&mut h);
            }
            let page = h.finish();
            if self.last_page == Some(page) {
                return fail(format!(
                    "The source answered the same page of {} records twice in a row: its paging does not move on, so the stream was stopped and its old rows are kept.",
                    rows.len()
                ));
            }
            self.last_page = Some(page);
        }
        if let (Some(at), Some(next)) = (at, next)
            && at == next
            && !rows.is_empty()
        {
            return fail("The source handed back the position it was asked for as the next page: it would be read again and again, so the stream was stopped and its old rows are kept.".into());
        }
        Ok(())
    }
}

/// What one batch changed in the columns, for the run's record.
struct Fitted {
    changes: Vec<String>,
    /// Columns that became text and held numbers or booleans before.
    restring: Vec<usize>,
}

/// Widens columns a batch's values do not fit and adds columns for keys not
/// seen before (inferring their type from the batch). `first` numbers the
/// batch's first record from 1.
fn fit_columns(cols: &mut Vec<Column>, records: &[serde_json::Map<String, Value>], first: u64) -> Fitted {
    let mut out = Fitted { changes: Vec::new(), restring: Vec::new() };
    let raw = |v: &Value| match v {
        Value::Array(_) | Value::Object(_) => Raw::Text(v.to_string()),
        other => Raw::Json(other.clone()),
    };
    for (n, r) in records.iter().enumerate() {
        for (i, c) in cols.iter_mut().enumerate() {
            let Some(v) = r.get(&c.source) else { continue };
            let value = raw(v);
            if typed(&value, c.kind).is_ok() {
                continue;
            }
            let wider = widen(c.kind, type_of(&value));
            if wider == c.kind {
                continue;
            }
            out.changes.push(format!(
                "column “{}” changed from {} to {} at record {}",
                c.name,
                c.kind.as_str(),
                wider.as_str(),
                crate::domain::query::thousands(first + n as u64)
            ));
            if wider == ColumnType::Text
                && matches!(c.kind, ColumnType::Integer | ColumnType::Number | ColumnType::Boolean)
            {
                out.restring.push(i);
            }
            c.kind = wider;
        }
        for key in r.keys() {
            if cols.iter().any(|c| c.source == *key) {
                continue;
            }
            let mut inf = Inference::default();
            for v in records.iter().filter_map(|r| r.get(key)) {
                inf.observe(&raw(v));
            }
            let mut name = key.clone();
            while cols.iter().any(|c| c.name == name) {
                name.push('_');
            }
            let kind = inf.best();
            out.changes.push(format!(
                "new column “{name}” ({}) at record {}",
                kind.as_str(),
                crate::domain::query::thousands(first + n as u64)
            ));
            cols.push(Column { name, source: key.clone(), kind });
        }
    }
    out
}

/// The columns a stream syncs with: those discovered, but never narrower
/// than what is stored (a column widened by an earlier run stays wide, or
/// every run would count it as a schema change).
fn effective_columns(stored: &[Column], discovered: &[Column]) -> Vec<Column> {
    discovered
        .iter()
        .map(|c| match stored.iter().find(|s| s.source == c.source) {
            Some(s) if s.kind != c.kind && widen(s.kind, c.kind) == s.kind => Column { kind: s.kind, ..c.clone() },
            _ => c.clone(),
        })
        .collect()
}

/// Exponential backoff with jitter, or the source's `Retry-After` (capped).
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(r) = retry_after {
        return r.min(MAX_WAIT);
    }
    let base = BACKOFF * 2u32.pow(attempt.saturating_sub(1).min(6));
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 2);
    base + Duration::from_millis(jitter)
}

/// Works on a claimed run until every stream has ended (or the run was
/// cancelled, or the lease lost). Streams that ended before a restart are
/// not run again.
pub async fn execute(state: &AppState, run: sync_runs::Model, control: &Control) -> Result<(), DbErr> {
    let streams = stream_runs(&run);
    let began = streams.iter().filter_map(|s| s.started_at).min().unwrap_or_else(Utc::now);
    let mut job = Job { state, run_id: run.id, control, streams, log: runs::log_of(&run), began };
    if run.attempts > 1 {
        job.note(
            "warning",
            format!(
                "Taken up again after keyhub stopped during the run (attempt {}); finished streams are kept.",
                run.attempts
            ),
        );
    } else {
        job.note("info", format!("Started on {}.", state.jobs.node));
    }
    let Some(src) = store::source_by_id(&state.db, run.source_id).await? else {
        job.note("error", "The source was deleted.");
        return finish(&job, None).await;
    };
    let ready = sources::ctx(state, &src).and_then(|cx| {
        super::kind(&src.kind)
            .map(|k| (cx, k))
            .ok_or_else(|| ConnectorError::config("keyhub no longer knows this kind of source."))
    });
    let (cx, kind) = match ready {
        Ok(pair) => pair,
        Err(e) => {
            fail_all(&mut job, &e);
            finish(&job, Some(&src)).await?;
            return finish_source(state, &src, run.id, Some((None, &e))).await;
        }
    };
    // The stream's columns now, to apply schema changes; the saved catalog
    // serves when discovery fails for a passing reason.
    let catalog = match job.call(None, || kind.discover(&cx)).await {
        Ok(c) => c,
        Err(Outcome::Failed(e)) if sources::is_config_failure(e.class) => {
            fail_all(&mut job, &e);
            finish(&job, Some(&src)).await?;
            return finish_source(state, &src, run.id, Some((None, &e))).await;
        }
        Err(Outcome::Lost) => return Ok(()),
        Err(_) => {
            job.note("warning", "Could not list the streams again; using the columns found at the last test.");
            sources::catalog(&src)
        }
    };
    let modes = sources::stream_modes(&src);
    let mut config_failure: Option<(String, ConnectorError)> = None;
    for i in 0..job.streams.len() {
        if job.streams[i].done() {
            continue;
        }
        if control.lost() {
            return Ok(());
        }
        if control.cancelled() {
            break;
        }
        let name = job.streams[i].stream.clone();
        job.streams[i].status = RUNNING.into();
        job.streams[i].started_at = job.streams[i].started_at.or(Some(Utc::now()));
        job.save().await?;
        let outcome = match catalog.iter().find(|s| s.name == name) {
            None => Outcome::Failed(ConnectorError::config(
                "The stream is no longer offered by the source; test the connection again and choose streams.",
            )),
            Some(stream) => sync_stream(&mut job, i, kind, &cx, &src, stream, modes.get(&name)).await?,
        };
        let s = &mut job.streams[i];
        s.finished_at = Some(Utc::now());
        match outcome {
            Outcome::Done => {
                s.status = SUCCEEDED.into();
                let (read, written, secs) = (s.records_read, s.records_written, s.elapsed().unwrap_or(0.0));
                job.note("info", format!("{name}: {read} records read, {written} written in {secs:.1} s."));
            }
            Outcome::Failed(e) => {
                s.status = FAILED.into();
                s.error = Some(e.clone());
                job.note("error", format!("{name}: {e}"));
                if let Some(p) = &e.provider_message {
                    job.note("error", format!("{name}: the source said: {p}"));
                }
                if sources::is_config_failure(e.class) {
                    config_failure = Some((name.clone(), e));
                }
            }
            Outcome::Cancelled => {
                s.status = CANCELLED.into();
                job.note("warning", format!("{name}: cancelled; its rows are as before the run."));
            }
            Outcome::Lost => return Ok(()),
        }
        job.save().await?;
    }
    for s in job.streams.iter_mut().filter(|s| !s.done()) {
        s.status = CANCELLED.into();
    }
    finish(&job, Some(&src)).await?;
    let failure = config_failure.as_ref().map(|(stream, e)| (Some(stream.clone()), e));
    let transient = job.streams.iter().find_map(|s| s.error.as_ref().map(|e| (Some(s.stream.clone()), e)));
    finish_source(state, &src, run.id, failure.or(transient)).await
}

fn fail_all(job: &mut Job<'_>, e: &ConnectorError) {
    for s in job.streams.iter_mut().filter(|s| !s.done()) {
        s.status = FAILED.into();
        s.error = Some(e.clone());
    }
    job.note("error", e.to_string());
}

/// The run's outcome from its streams: all succeeded, all failed, some of
/// each (`partial`), or cancelled.
async fn finish(job: &Job<'_>, src: Option<&source_rows::Model>) -> Result<(), DbErr> {
    let n = job.streams.len();
    let failed = job.streams.iter().filter(|s| s.status == FAILED).count();
    let cancelled = job.streams.iter().filter(|s| s.status == CANCELLED).count();
    let status = if src.is_none() || (n > 0 && failed == n) {
        FAILED
    } else if cancelled > 0 && job.control.cancelled() {
        CANCELLED
    } else if failed > 0 {
        PARTIAL
    } else {
        SUCCEEDED
    };
    let error = match status {
        CANCELLED => Some("Cancelled.".to_owned()),
        _ if src.is_none() => Some("The source was deleted.".to_owned()),
        _ => job.streams.iter().find_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.stream))),
    };
    let mut log = job.log.clone();
    log.push(runs::line(if status == SUCCEEDED { "info" } else { "warning" }, format!("Finished: {status}.")));
    // From the first stream's start (kept across a resume) to now.
    if let Some(began) = job.streams.iter().filter_map(|s| s.started_at).min() {
        crate::metrics::sync_run(status, (Utc::now() - began).to_std().unwrap_or_default());
    }
    store::finish_run(
        &job.state.db,
        job.run_id,
        status,
        &serde_json::to_string(&job.streams).unwrap_or_default(),
        &runs::log_json(&log),
        error,
    )
    .await
}

/// Last sync time; a failure is recorded for Diagnostics, and a configuration
/// failure marks the source failing (its schedule stops until a test passes).
async fn finish_source(
    state: &AppState,
    src: &source_rows::Model,
    run_id: i64,
    failure: Option<(Option<String>, &ConnectorError)>,
) -> Result<(), DbErr> {
    let Some(fresh) = store::source_by_id(&state.db, src.id).await? else { return Ok(()) };
    let mut m = source_rows::ActiveModel::from(fresh.clone());
    m.last_sync_at = Set(Some(Utc::now()));
    match failure {
        Some((stream, e)) => {
            sources::note_failure(
                &mut m,
                &fresh,
                &Failure { at: Utc::now(), during: "sync".into(), run_id: Some(run_id), stream, error: e.clone() },
            );
            if sources::is_config_failure(e.class) {
                m.status = Set(sources::FAILING.into());
            }
        }
        None => {
            sources::note_success(&mut m);
            if fresh.status == sources::FAILING {
                m.status = Set(sources::ACTIVE.into());
                m.next_sync_at = Set(sources::next_from_now(&fresh));
            }
        }
    }
    store::save_source(&state.db, m).await?;
    Ok(())
}

/// The tab (and dataset) a stream fills, made on its first sync.
async fn tab_for(
    state: &AppState,
    src: &source_rows::Model,
    stream: &StreamInfo,
) -> Result<(stream_tabs::Model, datasets::Model), DbErr> {
    let existing = store::tabs_of_source(&state.db, src.id).await?.into_iter().find(|t| t.stream == stream.name);
    if let Some(tab) = &existing
        && let Some(ds) = <datasets::Entity as sea_orm::EntityTrait>::find_by_id(tab.dataset_id).one(&state.db).await?
    {
        return Ok((tab.clone(), ds));
    }
    // Dataset names are unique per workspace: "source · stream", numbered if taken.
    let base: String = format!("{} · {}", src.name, stream.name).chars().take(150).collect();
    let mut n = 1;
    let ds = loop {
        let name = if n == 1 { base.clone() } else { format!("{base} ({n})") };
        let new = NewDataset {
            workspace_id: src.workspace_id,
            name: &name,
            columns: &stream.columns,
            primary_key: stream.primary_key.as_deref(),
            source: &format!("connector:{}", src.kind),
            created_by: src.created_by,
        };
        if let Some(ds) = dstore::create(&state.db, new).await? {
            break ds;
        }
        n += 1;
    };
    let tab = match existing {
        // Its dataset was deleted in Data Hub: the tab gets a fresh one.
        Some(tab) => {
            let mut m = stream_tabs::ActiveModel::from(tab);
            m.dataset_id = Set(ds.id);
            m.pending_generation = Set(None);
            m.cursor = Set(None);
            sea_orm::ActiveModelTrait::update(m, &state.db).await?
        }
        None => store::add_tab(&state.db, src, &stream.name, ds.id).await?,
    };
    Ok((tab, ds))
}

/// Columns added, removed or retyped between the stored and the found ones.
fn schema_changes(old: &[Column], new: &[Column]) -> Vec<String> {
    let mut out = Vec::new();
    for c in new {
        match old.iter().find(|o| o.name == c.name) {
            None => out.push(format!("new column “{}” ({})", c.name, c.kind.as_str())),
            Some(o) if o.kind != c.kind => {
                out.push(format!("column “{}” changed from {} to {}", c.name, o.kind.as_str(), c.kind.as_str()))
            }
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|c| c.name == o.name)) {
        out.push(format!("column “{}” removed", o.name));
    }
    out
}

/// One record as a stored row: values in column order, typed; a value that
/// does not fit its column's type is kept as text rather than dropped.
fn row_of(columns: &[Column], pk: Option<usize>, n: u64, record: &serde_json::Map<String, Value>) -> RowIn {
    let values: Vec<Value> = columns
        .iter()
        .map(|c| {
            let raw = match record.get(&c.source) {
                Some(Value::Array(_) | Value::Object(_)) => Raw::Text(record[&c.source].to_string()),
                Some(v) => Raw::Json(v.clone()),
                None => Raw::Json(Value::Null),
            };
            typed(&raw, c.kind).unwrap_or_else(|_| match raw {
                Raw::Json(v) => Value::String(crate::datasets::schema::display(&v)),
                Raw::Text(t) => Value::String(t),
            })
        })
        .collect();
    let pk = pk.and_then(|i| key_text(&values[i]));
    RowIn { row: n, pk, data: serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()) }
}

/// A batch's records as rows, numbered on from `n`.
fn rows_of(
    columns: &[Column],
    pk: Option<usize>,
    n: &mut u64,
    records: &[serde_json::Map<String, Value>],
) -> Vec<RowIn> {
    records
        .iter()
        .map(|r| {
            *n += 1;
            row_of(columns, pk, *n, r)
        })
        .collect()
}

/// Applies a batch's column changes: recorded on the run, and rows of
/// `generation` already written turned to text where a column became text.
async fn apply_fit(
    job: &mut Job<'_>,
    i: usize,
    db: &impl sea_orm::ConnectionTrait,
    dataset_id: i64,
    generation: i64,
    fitted: Fitted,
) -> Result<(), DbErr> {
    if fitted.changes.is_empty() {
        return Ok(());
    }
    for index in fitted.restring {
        dstore::restring_column(db, dataset_id, generation, index).await?;
    }
    let stream = job.streams[i].stream.clone();
    job.note("warning", format!("{stream}: schema changed during the run: {}.", fitted.changes.join("; ")));
    job.streams[i].schema_changes.extend(fitted.changes);
    Ok(())
}

/// Whether cursor value `a` comes after `b` (numbers as numbers, the rest as text).
fn after_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x > y,
        _ => {
            a.as_str().map(str::to_owned).unwrap_or_else(|| a.to_string())
                > b.as_str().map(str::to_owned).unwrap_or_else(|| b.to_string())
        }
    }
}

/// Where a full refresh stands, saved on the tab after every batch.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending {
    /// The source's position for the next batch.
    position: Option<Value>,
    /// Every batch is written; only the commit is left.
    done: bool,
    /// The largest cursor value seen (incremental streams' first sync).
    max_cursor: Option<Value>,
    /// The columns as widened or added during this refresh (none: as discovered).
    #[serde(default)]
    columns: Option<Vec<Column>>,
}

#[allow(clippy::too_many_arguments)]
async fn sync_stream(
    job: &mut Job<'_>,
    i: usize,
    kind: &dyn Connector,
    cx: &Ctx,
    src: &source_rows::Model,
    stream: &StreamInfo,
    mode: Option<&sources::StreamMode>,
) -> Result<Outcome, DbErr> {
    let state = job.state;
    let (tab, ds) = tab_for(state, src, stream).await?;
    let stored = dstore::columns(&ds);
    let stream = &StreamInfo { columns: effective_columns(&stored, &stream.columns), ..stream.clone() };
    let changes = if ds.state == "ready" { schema_changes(&stored, &stream.columns) } else { Vec::new() };
    if !changes.is_empty() {
        job.note("warning", format!("{}: schema changed: {}.", stream.name, changes.join("; ")));
        job.streams[i].schema_changes = changes.clone();
    }
    let cursor_column = mode.filter(|m| m.mode == sources::INCREMENTAL).and_then(|m| m.cursor.clone());
    let Some(column) = cursor_column else { return full_refresh(job, i, kind, cx, stream, &tab, &ds, None).await };
    let cursor: Option<Value> = tab.cursor.as_deref().and_then(|c| serde_json::from_str(c).ok());
    match cursor {
        Some(c) if ds.state == "ready" && changes.is_empty() && tab.pending_generation.is_none() => {
            incremental(job, i, kind, cx, stream, &tab, &ds, &column, c).await
        }
        _ => {
            if !changes.is_empty() {
                job.note(
                    "info",
                    format!(
                        "{}: a full refresh applies the new columns; later syncs are incremental again.",
                        stream.name
                    ),
                );
            }
            full_refresh(job, i, kind, cx, stream, &tab, &ds, Some(&column)).await
        }
    }
}

/// Reads the whole stream into a new generation (resuming one a stopped
/// process began), then commits it with the stream's columns.
#[allow(clippy::too_many_arguments)]
async fn full_refresh(
    job: &mut Job<'_>,
    i: usize,
    kind: &dyn Connector,
    cx: &Ctx,
    stream: &StreamInfo,
    tab: &stream_tabs::Model,
    ds: &datasets::Model,
    cursor_column: Option<&str>,
) -> Result<Outcome, DbErr> {
    let db = &job.state.db;
    let pk = stream.primary_key.as_ref().and_then(|p| stream.columns.iter().position(|c| c.name == *p));
    let mut pending: Pending =
        tab.pending_state.as_deref().and_then(|p| serde_json::from_str(p).ok()).unwrap_or_default();
    let mut writer: Writer = match tab.pending_generation {
        // Committed just before a stop: only the bookkeeping was left.
        Some(g) if g == ds.generation && ds.state == "ready" => {
            store::clear_pending(db, tab.id).await?;
            job.streams[i].records_read = tab.pending_rows as u64;
            job.streams[i].records_written = tab.pending_rows as u64;
            return Ok(Outcome::Done);
        }
        Some(g) => {
            job.note("info", format!("{}: resuming the full refresh after record {}.", stream.name, tab.pending_rows));
            job.streams[i].records_read = tab.pending_rows as u64;
            dstore::resume_replace(db, ds, g, tab.pending_rows, tab.pending_size).await?
        }
        None => {
            pending = Pending::default();
            let w = dstore::open_replace(db, ds).await?;
            let (g, _, _) = w.progress();
            store::set_pending(db, tab.id, g, &serde_json::to_string(&pending).unwrap_or_default(), 0, 0).await?;
            w
        }
    };
    job.streams[i].records_written = writer.written();
    let mut n = writer.written();
    let mut columns = pending.columns.clone().unwrap_or_else(|| stream.columns.clone());
    let mut paging = Paging::default();
    while !pending.done {
        if let Some(o) = job.interrupted() {
            return Ok(give_up(job, tab, writer, o).await);
        }
        let position = pending.position.clone();
        let batch: Batch = match job.call(Some(i), || kind.read(cx, stream, position.clone(), BATCH)).await {
            Ok(b) => b,
            Err(o) => return Ok(give_up(job, tab, writer, o).await),
        };
        if let Err(o) = job.within_rows(i, batch.records.len()) {
            return Ok(give_up(job, tab, writer, o).await);
        }
        let fitted = fit_columns(&mut columns, &batch.records, n + 1);
        let rows = rows_of(&columns, pk, &mut n, &batch.records);
        if let Err(o) = paging.check(position.as_ref(), batch.next.as_ref(), &rows) {
            return Ok(give_up(job, tab, writer, o).await);
        }
        let (generation, _, _) = writer.progress();
        apply_fit(job, i, db, ds.id, generation, fitted).await?;
        pending.columns = (columns != stream.columns).then(|| columns.clone());
        if let Some(c) = cursor_column {
            for r in &batch.records {
                if let Some(v) = r.get(c).filter(|v| !v.is_null())
                    && pending.max_cursor.as_ref().is_none_or(|m| after_value(v, m))
                {
                    pending.max_cursor = Some(v.clone());
                }
            }
        }
        job.streams[i].records_read += rows.len() as u64;
        let count = rows.len() as u64;
        if !rows.is_empty()
            && let Err(e) = writer.write(db, rows).await
        {
            let e = ConnectorError::shape(format!("A record could not be stored: {e}"));
            return Ok(give_up(job, tab, writer, Outcome::Failed(e)).await);
        }
        crate::metrics::sync_rows(count);
        match batch.next {
            Some(next) if !batch.records.is_empty() => pending.position = Some(next),
            _ => pending.done = true,
        }
        let (g, rows_so_far, size) = writer.progress();
        store::set_pending(db, tab.id, g, &serde_json::to_string(&pending).unwrap_or_default(), rows_so_far, size)
            .await?;
        job.streams[i].records_written = writer.written();
        job.save().await?;
    }
    if job.control.lost() {
        return Ok(Outcome::Lost);
    }
    writer.commit(db, Some(&columns)).await?;
    // A stop between these two statements is caught by the generation check above.
    store::clear_pending(db, tab.id).await?;
    if cursor_column.is_some() {
        store::set_cursor(db, tab.id, pending.max_cursor.as_ref()).await?;
    }
    store::tab_synced(db, tab.id).await?;
    job.state.hub.changed().await;
    Ok(Outcome::Done)
}

/// Ends a full refresh that will not commit. Cancelled or failed: its rows go,
/// the old ones stay. Lost: the node that holds the run now carries on.
async fn give_up(job: &Job<'_>, tab: &stream_tabs::Model, writer: Writer, outcome: Outcome) -> Outcome {
    if matches!(outcome, Outcome::Lost) {
        return outcome;
    }
    writer.abort(&job.state.db).await;
    if let Err(e) = store::clear_pending(&job.state.db, tab.id).await {
        tracing::warn!(error = %e, tab = tab.id, "clearing a stopped refresh failed");
    }
    outcome
}

/// Reads records after the saved cursor; each batch commits with its cursor.
#[allow(clippy::too_many_arguments)]
async fn incremental(
    job: &mut Job<'_>,
    i: usize,
    kind: &dyn Connector,
    cx: &Ctx,
    stream: &StreamInfo,
    tab: &stream_tabs::Model,
    ds: &datasets::Model,
    column: &str,
    mut cursor: Value,
) -> Result<Outcome, DbErr> {
    let db = &job.state.db;
    let pk = stream.primary_key.as_ref().and_then(|p| stream.columns.iter().position(|c| c.name == *p));
    job.note("info", format!("{}: reading records after {column} = {cursor}.", stream.name));
    let mut n = 0u64;
    // The lower bound stays for the whole read; the source's own paging
    // (`position`) walks through it, ties included.
    let after = cursor.clone();
    let mut position: Option<Value> = None;
    let mut columns = stream.columns.clone();
    let mut paging = Paging::default();
    loop {
        if let Some(o) = job.interrupted() {
            return Ok(o);
        }
        let (from, at) = (after.clone(), position.clone());
        let batch: Batch = match job
            .call(Some(i), || kind.read_after(cx, stream, column, Some(from.clone()), at.clone(), BATCH))
            .await
        {
            Ok(b) => b,
            Err(o) => return Ok(o),
        };
        if batch.records.is_empty() {
            break;
        }
        if let Err(o) = job.within_rows(i, batch.records.len()) {
            return Ok(o);
        }
        let before = columns.clone();
        let fitted = fit_columns(&mut columns, &batch.records, n + 1);
        let rows = rows_of(&columns, pk, &mut n, &batch.records);
        if let Err(o) = paging.check(position.as_ref(), batch.next.as_ref(), &rows) {
            return Ok(o);
        }
        let last = batch
            .records
            .iter()
            .filter_map(|r| r.get(column))
            .filter(|v| !v.is_null())
            .fold(cursor.clone(), |m, v| if after_value(v, &m) { v.clone() } else { m });
        job.streams[i].records_read += rows.len() as u64;
        let count = rows.len() as u64;
        let mut writer = dstore::open_incremental(db, ds).await?;
        // Widened columns' older rows are rewritten in the batch's transaction.
        if let Some(txn) = writer.transaction() {
            apply_fit(job, i, txn, ds.id, ds.generation, fitted).await?;
        }
        if let Err(e) = writer.write(db, rows).await {
            writer.abort(db).await;
            return Ok(Outcome::Failed(ConnectorError::shape(format!("A record could not be stored: {e}"))));
        }
        // The cursor commits with the rows it covers: a stop after this
        // batch resumes above it, a stop before leaves both unwritten.
        if let Some(txn) = writer.transaction() {
            store::set_cursor(txn, tab.id, Some(&last)).await?;
        }
        writer.commit(db, (columns != before).then_some(columns.as_slice())).await?;
        crate::metrics::sync_rows(count);
        job.streams[i].records_written += count;
        job.save().await?;
        cursor = last;
        match batch.next {
            Some(next) => position = Some(next),
            None => break,
        }
    }
    store::tab_synced(db, tab.id).await?;
    job.state.hub.changed().await;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(json: &str) -> Vec<serde_json::Map<String, Value>> {
        serde_json::from_str(json).unwrap()
    }

    fn col(name: &str, kind: ColumnType) -> Column {
        Column { name: name.into(), source: name.into(), kind }
    }

    #[test]
    fn values_that_do_not_fit_widen_their_column_and_new_keys_add_columns() {
        let mut cols =
            vec![col("id", ColumnType::Integer), col("n", ColumnType::Integer), col("ok", ColumnType::Boolean)];
        let f = fit_columns(
            &mut cols,
            &records(r#"[{"id": 1, "n": 2, "ok": true}, {"id": 2, "n": 2.5, "ok": true}]"#),
            2001,
        );
        assert_eq!(cols[1].kind, ColumnType::Number);
        assert_eq!(f.changes, vec!["column “n” changed from integer to number at record 2,002"]);
        assert!(f.restring.is_empty(), "numbers stay numbers");
        let f = fit_columns(
            &mut cols,
            &records(r#"[{"id": 3, "n": "soon", "ok": "maybe", "note": "x"}, {"id": 4, "note": null}]"#),
            3001,
        );
        assert_eq!((cols[1].kind, cols[2].kind), (ColumnType::Text, ColumnType::Text));
        assert_eq!(f.restring, vec![1, 2]);
        assert_eq!(cols[3], col("note", ColumnType::Text));
        assert_eq!(f.changes.len(), 3, "{:?}", f.changes);
        assert!(f.changes[2].starts_with("new column “note” (text)"));
        let again = fit_columns(&mut cols, &records(r#"[{"id": 5, "n": "later", "note": "y"}]"#), 4001);
        assert!(again.changes.is_empty(), "nothing new: {:?}", again.changes);
    }

    #[test]
    fn a_widened_column_is_not_narrowed_by_the_next_discovery() {
        let stored = vec![col("id", ColumnType::Integer), col("n", ColumnType::Text)];
        let found = vec![col("id", ColumnType::Integer), col("n", ColumnType::Integer), col("m", ColumnType::Date)];
        let eff = effective_columns(&stored, &found);
        assert_eq!(eff, vec![col("id", ColumnType::Integer), col("n", ColumnType::Text), col("m", ColumnType::Date)]);
        assert!(schema_changes(&stored, &eff).iter().all(|c| !c.contains("“n”")));
    }

    #[test]
    fn paging_that_does_not_move_on_is_stopped() {
        let cols = vec![col("id", ColumnType::Integer)];
        let rows = |json: &str| rows_of(&cols, None, &mut 0, &records(json));
        let page = rows(r#"[{"id": 1}, {"id": 2}]"#);
        let mut p = Paging::default();
        assert!(p.check(None, Some(&Value::from("a")), &page).is_ok());
        assert!(
            matches!(p.check(Some(&Value::from("a")), Some(&Value::from("b")), &page), Err(Outcome::Failed(e)) if e.class == ErrorClass::LimitReached),
            "the same page twice"
        );
        let mut p = Paging::default();
        assert!(
            matches!(p.check(Some(&Value::from("a")), Some(&Value::from("a")), &page), Err(Outcome::Failed(_))),
            "the same position handed back"
        );
        let mut p = Paging::default();
        assert!(p.check(Some(&Value::from("a")), Some(&Value::from("b")), &page).is_ok());
        assert!(p.check(Some(&Value::from("b")), None, &rows(r#"[{"id": 3}]"#)).is_ok());
        assert_eq!(human_seconds(21_600), "6 hours");
        assert_eq!(human_seconds(1), "1 second");
    }
}
