//! How sync runs read on pages: live progress (per stream: records read and
//! written, rate, elapsed) for the Data Sources, source and entity pages, and
//! the run history with its log.
use chrono::Utc;

use crate::connectors::runs::{LogLine, StreamRun};
use crate::domain::live_data::RunStatus;
use crate::entities::sync_runs;
use crate::web::views::fmt_time;

/// One stream of a run, ready to print.
pub struct StreamLine {
    pub stream: String,
    pub status: String,
    pub mode: String,
    pub read: u64,
    pub written: u64,
    /// "1,234 records/s", empty before it means anything.
    pub rate: String,
    /// "1:05".
    pub elapsed: String,
    pub retries: u32,
    pub schema_changes: Vec<String>,
    pub error: Option<String>,
}

/// A run as pages show it.
pub struct RunView {
    pub id: i64,
    pub source: String,
    pub status: RunStatus,
    pub trigger: String,
    pub started: String,
    pub finished: String,
    pub duration: String,
    pub attempts: i32,
    pub cancel_requested: bool,
    pub streams: Vec<StreamLine>,
    pub error: Option<String>,
    pub log: Vec<LogView>,
}

pub struct LogView {
    pub at: String,
    pub level: String,
    pub message: String,
}

impl RunView {
    pub fn live(&self) -> bool {
        self.status.is_live()
    }
}

/// "0:07", "12:30", "1:02:03".
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn line(s: &StreamRun) -> StreamLine {
    StreamLine {
        stream: s.stream.clone(),
        status: s.status.clone(),
        mode: if s.mode.is_empty() { "full".into() } else { s.mode.clone() },
        read: s.records_read,
        written: s.records_written,
        rate: s
            .rate()
            .map(|r| format!("{} records/s", crate::domain::query::thousands(r.round() as u64)))
            .unwrap_or_default(),
        elapsed: s.elapsed().map(clock).unwrap_or_default(),
        retries: s.retries,
        schema_changes: s.schema_changes.clone(),
        error: s.error.as_ref().map(|e| e.to_string()),
    }
}

fn log_view(l: &LogLine) -> LogView {
    LogView { at: l.at.format("%H:%M:%S").to_string(), level: l.level.clone(), message: l.message.clone() }
}

pub fn run_view(source: &str, r: &sync_runs::Model) -> RunView {
    let end = r.finished_at.unwrap_or_else(Utc::now);
    RunView {
        id: r.id,
        source: source.to_owned(),
        status: *r.status,
        trigger: r.trigger.clone(),
        started: fmt_time(r.started_at),
        finished: r.finished_at.map(fmt_time).unwrap_or_default(),
        duration: clock((end - r.started_at).num_milliseconds() as f64 / 1000.0),
        attempts: r.attempts,
        cancel_requested: r.cancel_requested,
        streams: r.streams.iter().map(line).collect(),
        error: r.error.clone(),
        log: r.log.iter().map(log_view).collect(),
    }
}
