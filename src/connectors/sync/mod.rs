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
use serde_json::Value;

use super::queue::Control;
use super::runs::{self, CANCELLED, FAILED, LogLine, PARTIAL, PendingRefresh, RUNNING, SUCCEEDED, StreamRun};
use super::sources::{self, Failure};
use super::{Batch, Connector, ConnectorError, Ctx, ErrorClass, StreamInfo};
use crate::datasets::store::{self as dstore, NewDataset, RowIn, Writer};
use crate::domain::schema::{Column, ColumnType, Inference, Raw, key_text, type_of, typed, widen};
use crate::entities::{datasets, sources as source_rows, stream_tabs, sync_runs};
use crate::state::AppState;
use crate::store::live_data as store;
use sea_orm::{DbErr, Set};

mod fit;
use fit::*;
mod run;
pub use run::*;
mod rows;
use rows::*;
mod streams;
use streams::*;

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
        let kept =
            store::save_progress(&self.state.db, self.run_id, &self.state.jobs.node, &self.streams, &self.log).await?;
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
